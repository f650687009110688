// Stage 'weight-stats': layer-norm weights and biases, the unembedding's effective read-out, the
// embedding spectra and the LN-collapse fraction of one checkpoint (lib/analysis/weights.ts).
// Pure arithmetic on the weights: no model run, no data.
//
// Inputs: checkpoint (file), model (file: model.json). Output: weights.json (WeightStats).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { weightStats } from '../../lib/analysis/weights.ts';
import { loadCheckpoint } from './load.ts';

export const weightStatsStage = defineStage({
  name: 'weight-stats',
  module: import.meta.url,
  params: z.strictObject({}),
  inputs: { checkpoint: 'file', model: 'file' },
  async run(ctx) {
    const ck = await loadCheckpoint('weight-stats', ctx.inputs);
    await writeFile(path.join(ctx.outDir, 'weights.json'), JSON.stringify(weightStats(ck.config, ck.tensors, ck.step)) + '\n');
  },
});
