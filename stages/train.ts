// Stage 'train': one training run (docs/training.md). MSE over all K predictions, PyTorch Adam,
// OneCycle over N = steps, fresh data every step from rngStream(seed, 'train-data', step),
// checkpoints and metrics at the log ∪ linear grid (docs/training.md). The checkpoint labelled s
// holds the weights after s + 1 updates, as the paper's.
//
// The loop lives in train-run.ts, named by URL and imported only where the node runs (a worker
// thread), so that planning never loads TensorFlow.js.
//
// Resumable: at every checkpoint step the full state (weights, Adam moments and count, metrics so
// far) is written atomically to workDir; a killed run continues from there. Since every step's data
// comes from its own stream, the resumed run is byte-identical to an uninterrupted one.
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';
import { deviceResources } from '../lib/device.ts';
import { checkpointGridSchema, modelConfigSchema, taskConfigSchema } from './schemas.ts';

const positiveInt = z.number().int().positive();

export const trainParams = z.strictObject({
  model: modelConfigSchema,
  task: taskConfigSchema,
  steps: z.number().int().min(4),
  batchSize: positiveInt,
  /** Peak learning rate η of the OneCycle schedule. */
  lr: z.number().positive().finite(),
  seed: z.number().int().nonnegative(),
  /** Where checkpoints and metrics are saved. */
  checkpoints: checkpointGridSchema,
});

export interface PredictorMse {
  mse: number;
  msePerPos: number[];
}

export interface SetMetrics extends PredictorMse {
  deltaRidge: number;
  deltaDmmse: number;
}

export interface MetricsLine {
  step: number;
  lr: number;
  batchLoss: number;
  pretrain: SetMetrics;
  true: SetMetrics;
}

export const checkpointName = (step: number) => `step-${String(step).padStart(8, '0')}.swt`;
/** Adam's moments at a checkpoint, next to it (m-ED / v-ED inputs). */
export const momentsName = (step: number) => `step-${String(step).padStart(8, '0')}.adam.swt`;

export const trainStage = defineStage({
  name: 'train',
  module: import.meta.url,
  params: trainParams,
  heavy: true,
  resources: () => deviceResources(1),
  inputs: { tasks: 'dir' },
  run: new URL('./train-run.ts', import.meta.url),
});
