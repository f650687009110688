// Stage 'icl': per-position test loss on inputs scaled by g (x ← g·x, labels recomputed with the
// same task and noise) for each g in `scales`, and the scaled-input ICL score (ℓ_K − ℓ_1)/g
// (lib/analysis/icl.ts), on the first `size` sequences of the fixed pretraining evaluation set.
//
// Inputs: checkpoint (file), model (file: model.json), tasks (dir). Output: icl.json.
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';

export const iclParams = z.strictObject({
  size: z.number().int().positive().default(512),
  scales: z.array(z.number().positive()).min(1).default([1, 3, 5, 10]),
});

export interface IclJson {
  step: number;
  scales: number[];
  /** [scale][position]. */
  lossPerPos: number[][];
  /** (ℓ_K − ℓ_1)/g per scale. */
  scaledScore: number[];
  /** ℓ_{K/2} − ℓ_1 and ℓ_K − ℓ_{K/2} at g = 1 (when 1 is among the scales, else null). */
  early: number | null;
  late: number | null;
}

export const iclStage = defineStage({
  name: 'icl',
  module: import.meta.url,
  params: iclParams,
  inputs: { checkpoint: 'file', model: 'file', tasks: 'dir' },
  run: new URL('./icl-run.ts', import.meta.url),
});
