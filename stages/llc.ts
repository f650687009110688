// Stage 'llc': λ̂ at one checkpoint (one node per checkpoint and sampler setting; docs/llc.md).
// The dataset of n sequences comes from rngStream(seed, 'llc-data'), identical for every
// checkpoint; chain c uses rngStream(seed, 'sgld', c) for ξ and (seed, 'sgld-batches', c) for its
// minibatch order. Chains run in parallel worker threads (llc-run.ts); each finished chain is saved
// in the work dir, so a killed node resumes with the chains it already has.
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';
import { fromScale } from '../lib/sgld-params.ts';
import { deviceResources, requestedDevice } from '../lib/device.ts';
import { modelConfigSchema, sgldEffortFields, taskConfigSchema } from './schemas.ts';


const finite = z.number().finite();

/**
 * The sampler's fields: either (eps, nbeta, gamma) or the sweeps' scale form (gradientScale g,
 * localizationScale ℓ, noiseScale s) — docs/llc.md, "Two parameterisations". Exported unrefined so
 * the config's calibration section can take a partial override of it (configs/schema.ts).
 */
export const samplerFields = z.strictObject({
  /** ε, SGLD step size. */
  eps: finite.positive().optional(),
  /** nβ: inverse temperature × n. */
  nbeta: finite.positive().optional(),
  /** γ: localisation strength. */
  gamma: finite.nonnegative().optional(),
  gradientScale: finite.positive().optional(),
  localizationScale: finite.nonnegative().optional(),
  noiseScale: finite.positive().optional(),
  ...sgldEffortFields,
});

/** The sampler as the llc stage takes it: one parameterisation, m ≤ n; output always (eps, nbeta, gamma). */
export const samplerSchema = samplerFields
  .superRefine((s, ctx) => {
    const direct = [s.eps, s.nbeta, s.gamma].filter((v) => v !== undefined).length;
    const scale = [s.gradientScale, s.localizationScale, s.noiseScale].filter((v) => v !== undefined).length;
    if (!((direct === 3 && scale === 0) || (direct === 0 && scale === 3))) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either all of { eps, nbeta, gamma } or all of { gradientScale, localizationScale, noiseScale }, not a mix',
      });
    }
    if (s.batchSize > s.datasetSize) {
      ctx.addIssue({ code: 'custom', path: ['batchSize'], message: `batchSize (${s.batchSize}) must be <= datasetSize (${s.datasetSize})` });
    }
  })
  .transform((s) => {
    const { eps, nbeta, gamma } =
      s.eps !== undefined ? { eps: s.eps, nbeta: s.nbeta!, gamma: s.gamma! } : fromScale({ gradientScale: s.gradientScale!, localizationScale: s.localizationScale!, noiseScale: s.noiseScale! });
    return { eps, nbeta, gamma, chains: s.chains, burnin: s.burnin, draws: s.draws, batchSize: s.batchSize, datasetSize: s.datasetSize, seed: s.seed };
  });
export type SamplerInput = z.input<typeof samplerFields>;

export const llcParams = z.strictObject({ sampler: samplerSchema, task: taskConfigSchema, model: modelConfigSchema });
export type LlcParams = z.output<typeof llcParams>;

export const llcStage = defineStage({
  name: 'llc',
  module: import.meta.url,
  params: llcParams,
  // CPU: one core per node, its chains one after another — a run has many llc nodes, so the cores
  // stay busy with nodes side by side, and a node can start on the core a training segment leaves
  // free (a multi-core request would wait for training to end). GPU: the chains take turns on the
  // one device (a worker thread of their own, so the node's thread stays responsive).
  resources: () => (requestedDevice() === 'gpu' ? deviceResources(1) : { cpu: 1 }),
  // Scheduling weight, in train's units: sequence-positions of all SGLD steps / 1e5.
  cost: (p) => (p.sampler.chains * (p.sampler.burnin + p.sampler.draws) * p.sampler.batchSize * p.task.K) / 1e5,
  // tasks: read only for a finite M (its task set); with M = 'inf' the data come from the prior.
  inputs: { checkpoint: 'file', tasks: 'dir?' },
  run: new URL('./llc-run.ts', import.meta.url),
});
