// Param schemas shared by several stages, and the config sections built from them. A module of its
// own (no heavy imports), so that a stage's code digest does not pull in another stage: editing
// train.ts must not invalidate the llc nodes. Every object is strict: a misspelt key is an error.
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/**
 * The effort of an LLC estimate, the same for the regression and the language model (docs/llc.md):
 * `chains` SGLD chains of `burnin` + `draws` steps, each step on a minibatch of m = batchSize drawn
 * from the n = datasetSize sequences (rows) of the LLC dataset, seeded by `seed`.
 */
export const sgldEffortFields = {
  chains: positiveInt,
  burnin: nonNegativeInt,
  draws: positiveInt,
  /** m: minibatch size of each SGLD step. */
  batchSize: positiveInt,
  /** n: sequences (rows) in the LLC dataset; L₀ is the loss over all of them. */
  datasetSize: positiveInt,
  seed: nonNegativeInt,
};

/** M: the number of distinct pretraining tasks, or "inf" for the Gaussian task prior (docs/task.md). */
export const taskCountSchema = z.union([positiveInt, z.literal('inf')]);

/** The task distribution (docs/task.md): dimension D, K examples per sequence, noise variance σ² > 0, M. */
export const taskConfigSchema = z.strictObject({
  D: positiveInt,
  K: positiveInt,
  /** σ²: must be positive — ridge and dMMSE baselines and the likelihood divide by it. */
  noiseVariance: z.number().positive().finite(),
  M: taskCountSchema,
});

/** The transformer (docs/model.md); D and K fix the token width and context. */
export const modelConfigSchema = z.strictObject({
  D: positiveInt,
  K: positiveInt,
  layers: positiveInt,
  heads: positiveInt,
  dModel: positiveInt,
  dMlp: positiveInt,
  layerNorm: z.boolean(),
  includeOutput: z.boolean(),
});

/** Checkpoint grid over [0, N]: the union of logSpace log-spaced and linearSpace evenly spaced steps (docs/training.md). */
export const checkpointGridSchema = z.strictObject({
  logSpace: nonNegativeInt,
  linearSpace: nonNegativeInt,
});
