// The computation of stage 'llc' (declared in llc.ts): loaded where the node runs. The L0 job and
// each SGLD chain run in their own worker thread (llc-worker.ts); finished chains are kept in the
// work dir so a killed node resumes with them.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { StageRun } from '../engine/index.ts';
import { estimateLlc } from '../lib/llc.ts';
import type { ChainRun } from '../lib/sgld.ts';
import { toScale } from '../lib/sgld-params.ts';
import { decodeTensors, encodeTensors } from '../lib/tensorfile.ts';
import type { LlcJob, LlcJobResult, LlcJobSpec, ChainProgress } from './llc-chain.ts';
import type { llcStage } from './llc.ts';
import { WorkerPool } from './worker-pool.ts';

const pool = new WorkerPool<LlcJob, LlcJobResult>(new URL('./llc-worker.ts', import.meta.url).href);

async function loadSavedChain(file: string): Promise<ChainRun | null> {
  if (!existsSync(file)) return null;
  const { tensors, meta } = decodeTensors(await readFile(file));
  return { ...(meta as Omit<ChainRun, 'losses'>), losses: tensors.losses.data };
}

export const run: StageRun<typeof llcStage> = async (ctx) => {
  const { sampler, task, model } = ctx.params;
  const checkpointFile = ctx.inputs.checkpoint;
  const { meta } = decodeTensors(await readFile(checkpointFile));
  if (typeof meta.step !== 'number') throw new Error(`${checkpointFile}: meta.step missing (expected a train checkpoint)`);
  if (model.D !== task.D || model.K !== task.K) throw new Error(`llc: model has D=${model.D}, K=${model.K} but task has D=${task.D}, K=${task.K}`);
  let taskSetFile: string | undefined;
  if (task.M !== 'inf') {
    if (!ctx.inputs.tasks) throw new Error(`llc: task.M = ${task.M} needs input 'tasks' (the tasks node holding task-set.swt)`);
    taskSetFile = path.join(ctx.inputs.tasks, 'task-set.swt');
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
};
