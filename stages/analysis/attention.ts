// Stage 'attention': the attention patterns of every layer and head at one checkpoint, on the first
// `size` sequences of the fixed pretraining evaluation set, reduced to the six per-position metrics
// of lib/analysis/attention.ts. The last token is dropped (its prediction is never scored), so the
// metrics cover query positions 0 … 2K − 2.
//
// Inputs: checkpoint (file), model (file: model.json), tasks (dir). Output: attention.json.
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';

export const attentionParams = z.strictObject({
  /** Validation sequences the patterns are averaged over. */
  size: z.number().int().positive().default(256),
});

export interface AttentionJson {
  step: number;
  layers: number;
  heads: number;
  /** Query positions kept (2K − 1). */
  T: number;
  /** metric → [layer][head][query position]. */
  metrics: Record<string, number[][][]>;
}

export const attentionStage = defineStage({
  name: 'attention',
  module: import.meta.url,
  params: attentionParams,
  inputs: { checkpoint: 'file', model: 'file', tasks: 'dir' },
  run: new URL('./attention-run.ts', import.meta.url),
});
