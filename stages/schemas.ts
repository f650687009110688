// Param schemas shared by several stages. A module of its own (no heavy imports), so that a stage's
// code digest does not pull in another stage: editing train.ts must not invalidate the llc nodes.
import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** The task distribution (regression-task.md): D, K, σ², M (a count, or "inf" for the Gaussian prior). */
export const taskConfigSchema = z.object({
  D: positiveInt,
  K: positiveInt,
  noiseVariance: z.number().positive(),
  M: z.union([positiveInt, z.literal('inf')]),
});

/** The transformer (model.md §1); D and K fix the token width and context. */
export const modelConfigSchema = z.object({
  D: positiveInt,
  K: positiveInt,
  layers: positiveInt,
  heads: positiveInt,
  dModel: positiveInt,
  dMlp: positiveInt,
  layerNorm: z.boolean(),
  includeOutput: z.boolean(),
});
