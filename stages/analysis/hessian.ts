// Stage 'hessian': curvature of the test loss at one checkpoint — the top eigenvalues of the
// Hessian of the mean MSE (Lanczos) and its trace (Hutchinson), on the first `size` sequences of
// the fixed pretraining evaluation set. Hessian-vector products are exact, by double
// backpropagation (lib/analysis/hvp.ts); each costs about three gradients on the tfjs graph, so the
// pipeline runs this stage on a coarse grid of checkpoints.
//
// Inputs: checkpoint (file), model (file: model.json), tasks (dir). Output: hessian.json.
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';

const positiveInt = z.number().int().positive();

export const hessianParams = z.strictObject({
  size: positiveInt.default(256),
  /** Eigenvalues reported, largest first. */
  top: positiveInt.default(3),
  lanczosSteps: positiveInt.default(16),
  /** Rademacher probes of the trace estimate. */
  probes: positiveInt.default(8),
  seed: z.number().int().nonnegative().default(0),
});

export interface HessianJson {
  step: number;
  loss: number;
  top: number[];
  trace: number;
  traceStdErr: number;
  size: number;
  hvps: number;
}

export const hessianStage = defineStage({
  name: 'hessian',
  module: import.meta.url,
  params: hessianParams,
  inputs: { checkpoint: 'file', model: 'file', tasks: 'dir' },
  run: new URL('./hessian-run.ts', import.meta.url),
});
