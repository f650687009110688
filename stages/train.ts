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
//
// Segments: the same resume makes a run splittable into a chain of nodes. A node with `segmentEnd`
// trains up to that step and publishes its checkpoints and its end state (state.swt); the next
// segment takes that directory as input `resume` and continues. The weights are identical to one
// long node's, but the checkpoints of early segments are published while later ones train, so
// their evaluations and LLC estimates can use the other core. Every segment publishes model.json;
// the last one (no segmentEnd) also publishes metrics.jsonl, baselines.json and train.json.
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
  /** This node trains steps [start of `resume`, segmentEnd) only (see Segments above); absent: to the end. */
  segmentEnd: z.number().int().positive().optional(),
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
  // Scheduling weight ≈ sequence-positions trained / 1e5 (an evaluate node counts 1). A segment counts
  // up to its end step (its start is in its input): an overestimate that only orders training first.
  cost: (p) => (p.batchSize * p.task.K * (p.segmentEnd ?? p.steps)) / 1e5,
  inputs: { tasks: 'dir', resume: 'dir?' },
  run: new URL('./train-run.ts', import.meta.url),
});
