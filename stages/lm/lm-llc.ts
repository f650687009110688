// Stage 'lm-llc': λ̂ of one language-model checkpoint by SGLD on the next-token cross-entropy
// (docs/language-model.md, "LLC"). The dataset is `datasetSize` training rows chosen by the seed
// (the same rows for every checkpoint); L₀ is the loss at w* over exactly those rows. Chain c
// draws its noise from rngStream(seed, 'sgld', c) and its minibatch order from
// (seed, 'sgld-batches', c); chains run in parallel worker threads, and each finished chain is
// saved in the work dir, so a killed node resumes with the chains it has. The work is in lm-llc-run.ts.
//
// l0: 'correct' (L₀ = L_n(w*)) or 'paper-biased' (the original LM notebook's running mean of the
// chains' first losses, see lib/lm/llc.ts): the biased variant only reproduces published numbers.
//
// Inputs: checkpoint, model, data (lm-data directory: the train rows). Output: llc.json (the regression llc stage's
// fields: step, llcMean, llcStd, L0, chains with traces, …, plus l0).
import os from 'node:os';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { sgldEffortFields } from '../schemas.ts';


export const lmSamplerSchema = z
  .strictObject({
    eps: z.number().positive(),
    nbeta: z.number().positive(),
    gamma: z.number().nonnegative(),
    ...sgldEffortFields,
    l0: z.enum(['correct', 'paper-biased']).default('correct'),
  })
  .refine((s) => s.batchSize <= s.datasetSize, { message: 'batchSize must be <= datasetSize', path: ['batchSize'] });

export const lmLlcParams = z.strictObject({ sampler: lmSamplerSchema });
export type LmLlcParams = z.output<typeof lmLlcParams>;

export const lmLlcStage = defineStage({
  name: 'lm-llc',
  module: import.meta.url,
  params: lmLlcParams,
  resources: (p) => ({ cpu: Math.max(1, Math.min(p.sampler.chains, os.availableParallelism())) }),
  inputs: { checkpoint: 'file', model: 'file', data: 'dir' },
  run: new URL('./lm-llc-run.ts', import.meta.url),
});
