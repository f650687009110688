// Stage 'llc': λ̂ at one checkpoint (one node per checkpoint and sampler setting; llc.md §3–4).
// The dataset of n sequences comes from rngStream(seed, 'llc-data'), identical for every
// checkpoint; chain c uses rngStream(seed, 'sgld', c) for ξ and (seed, 'sgld-batches', c) for its
// minibatch order. Chains run in parallel worker threads; each finished chain is saved in the work
// dir, so a killed node resumes with the chains it already has.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';
import { estimateLlc } from '../lib/llc.ts';
import type { ChainRun } from '../lib/sgld.ts';
import { fromScale, toScale } from '../lib/sgld-params.ts';
import { decodeTensors, encodeTensors } from '../lib/tensorfile.ts';
import type { LlcJob, LlcJobResult, LlcJobSpec, ChainProgress } from './llc-chain.ts';
import { inputPath } from './inputs.ts';
import { modelConfigSchema, taskConfigSchema } from './schemas.ts';
import { WorkerPool } from './worker-pool.ts';

const positiveInt = z.number().int().positive();
const positive = z.number().positive();

/** Either (eps, nbeta, gamma) or the sweeps' scale form (gradientScale g, localizationScale ℓ, noiseScale s). */
export const samplerSchema = z
  .object({
    eps: positive.optional(),
    nbeta: positive.optional(),
    gamma: z.number().nonnegative().optional(),
    gradientScale: positive.optional(),
    localizationScale: z.number().nonnegative().optional(),
    noiseScale: positive.optional(),
    chains: positiveInt,
    burnin: z.number().int().nonnegative(),
    draws: positiveInt,
    batchSize: positiveInt,
    datasetSize: positiveInt,
    seed: z.number().int().nonnegative(),
  })
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

export const llcParams = z.object({ sampler: samplerSchema, task: taskConfigSchema, model: modelConfigSchema });
export type LlcParams = z.output<typeof llcParams>;

const pool = new WorkerPool<LlcJob, LlcJobResult>(new URL('./llc-worker.ts', import.meta.url).href);

async function loadSavedChain(file: string): Promise<ChainRun | null> {
  if (!existsSync(file)) return null;
  const { tensors, meta } = decodeTensors(await readFile(file));
  return { ...(meta as Omit<ChainRun, 'losses'>), losses: tensors.losses.data };
}

export const llcStage = defineStage({
  name: 'llc',
  module: import.meta.url,
  params: llcParams,
  resources: (p) => ({ cpu: Math.max(1, Math.min(p.sampler.chains, os.availableParallelism())) }),
  async run(ctx) {
    const { sampler, task, model } = ctx.params;
    const checkpointFile = inputPath('llc', ctx.inputs, 'checkpoint');
    const { meta } = decodeTensors(await readFile(checkpointFile));
    if (typeof meta.step !== 'number') throw new Error(`${checkpointFile}: meta.step missing (expected a train checkpoint)`);
    if (model.D !== task.D || model.K !== task.K) throw new Error(`llc: model has D=${model.D}, K=${model.K} but task has D=${task.D}, K=${task.K}`);
    let taskSetFile: string | undefined;
    if (task.M !== 'inf') {
      taskSetFile = path.join(inputPath('llc', ctx.inputs, 'tasks'), 'task-set.swt');
      if (!existsSync(taskSetFile)) throw new Error(`llc: task.M = ${task.M} but ${taskSetFile} is missing`);
    }
    const spec: LlcJobSpec = { checkpointFile, taskSetFile, model, task, ...sampler };
    const workers = ctx.resources.cpu;
    const total = sampler.chains * (sampler.burnin + sampler.draws);
    const doneByChain = new Array<number>(sampler.chains).fill(0);
    const report = () => ctx.progress.update(doneByChain.reduce((a, b) => a + b, 0), total, 'steps');
    const chainsDir = path.join(ctx.workDir, 'chains');
    await mkdir(chainsDir, { recursive: true });

    const onAbort = () => void pool.terminate(ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('llc: aborted'));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (ctx.signal.aborted) throw new Error('llc: aborted before start');
      const L0Job = pool.run({ kind: 'L0', spec }, workers);
      const chainJobs = Array.from({ length: sampler.chains }, async (_, c): Promise<ChainRun> => {
        const file = path.join(chainsDir, `chain-${c}.swt`);
        const saved = await loadSavedChain(file);
        if (saved) {
          ctx.log.info(`llc: chain ${c} resumed from the work dir`);
          doneByChain[c] = sampler.burnin + sampler.draws;
          report();
          return saved;
        }
        const result = await pool.run({ kind: 'chain', spec, chain: c }, workers, (p) => {
          doneByChain[c] = (p as ChainProgress).done;
          report();
        });
        if (result.kind !== 'chain') throw new Error('llc: worker answered a chain job with an L0 result');
        const { losses, ...rest } = result.run;
        await writeFile(file, encodeTensors({ losses: { shape: [losses.length], data: losses } }, rest));
        if (rest.failed) ctx.log.warn(`llc: chain ${c} failed: ${rest.reason}`);
        return result.run;
      });
      const [L0Result, ...runs] = await Promise.all([L0Job, ...chainJobs]);
      if (L0Result.kind !== 'L0') throw new Error('llc: worker answered the L0 job with a chain result');
      const est = estimateLlc(runs, L0Result.L0PerPos, sampler.nbeta);
      const { chains: _chains, seed, ...samplerOut } = sampler;
      const result = {
        step: meta.step,
        sampler: { ...samplerOut, chains: sampler.chains, seed, ...toScale(sampler) },
        L0: est.L0,
        L0PerPos: est.L0PerPos,
        llcMean: est.llcMean,
        llcStd: est.llcStd,
        llcPerPos: est.llcPerPos,
        lossMeanPerPos: est.lossMeanPerPos,
        healthyChains: est.healthyChains,
        chains: est.chains.map((ch) => ({ llc: ch.llc, llcPerPos: ch.llcPerPos, failed: ch.failed, ...(ch.reason ? { reason: ch.reason } : {}), trace: ch.trace })),
      };
      await writeFile(path.join(ctx.outDir, 'llc.json'), JSON.stringify(result));
      ctx.log.info(`llc: step ${meta.step}: λ̂ = ${est.llcMean.toFixed(3)} ± ${est.llcStd.toFixed(3)} (${est.healthyChains}/${sampler.chains} chains)`);
      return { healthyChains: est.healthyChains };
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  },
});
