// Stage 'evaluate': one checkpoint on the fixed evaluation sets (the figure-time metrics of
// docs/training.md that need no extra data) plus the raw outputs on the probe set, the behavioural
// fingerprint that essential dynamics runs PCA on.
//
// The computation lives in evaluate-run.ts, named by URL and imported only where the node runs.
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';

export interface EvalResult {
  step: number;
  loss: number;
  lossPerPos: number[];
  lossTrue: number;
  lossTruePerPos: number[];
  /** E ŷ_k² on eval-pretrain: the distance from the zero prediction. */
  predNormPerPos: number[];
  deltaRidge: number;
  deltaRidgePerPos: number[];
  weightNorm: number;
  /** mean_b Σ_k ŷ_k² (summed over positions, as Figure 20). */
  fromZero: number;
  /** mean_b Σ_k (ŷ_k − t̄·x_k)². */
  fromTaskMean: number;
}

export const evaluateStage = defineStage({
  name: 'evaluate',
  module: import.meta.url,
  params: z.strictObject({}),
  inputs: { checkpoint: 'file', model: 'file', tasks: 'dir' },
  run: new URL('./evaluate-run.ts', import.meta.url),
});
