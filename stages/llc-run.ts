// The computation of stage 'llc' (declared in llc.ts): loaded where the node runs. The L0 job and
// each SGLD chain run in their own worker thread (llc-worker.ts); finished chains are kept in the
// work dir so a killed node resumes with them.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { StageRun } from '../engine/index.ts';
import { grantedDevice } from '../lib/device.ts';
import { estimateLlc } from '../lib/llc.ts';
import type { ChainRun } from '../lib/sgld.ts';
import { toScale } from '../lib/sgld-params.ts';
import { decodeTensors } from '../lib/tensorfile.ts';
import type { LlcJob, LlcJobResult, LlcJobSpec, ChainProgress } from './llc-chain.ts';
import { loadSavedChain, saveChain } from './saved-chains.ts';
import type { llcStage } from './llc.ts';

/** Runs one L0 or chain job in the engine's worker threads (ctx.threads). */
const LLC_WORKER = new URL('./llc-worker.ts', import.meta.url);


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
  const spec: LlcJobSpec = { checkpointFile, taskSetFile, model, task, ...sampler, device: grantedDevice(ctx.resources) };
  const job = (j: LlcJob, onMessage?: (data: unknown) => void) => ctx.threads.run<LlcJobResult>(LLC_WORKER, j, { onMessage });
  const total = sampler.chains * (sampler.burnin + sampler.draws);
  const doneByChain = new Array<number>(sampler.chains).fill(0);
  const report = () => ctx.progress.update(doneByChain.reduce((a, b) => a + b, 0), total, 'steps');
  const chainsDir = path.join(ctx.workDir, 'chains');
  await mkdir(chainsDir, { recursive: true });

  // At most resources.cpu jobs run at once; an abort stops them with the node.
  if (ctx.signal.aborted) throw new Error('llc: aborted before start');
  const L0Job = job({ kind: 'L0', spec });
  const chainJobs = Array.from({ length: sampler.chains }, async (_, c): Promise<ChainRun> => {
    const file = path.join(chainsDir, `chain-${c}.swt`);
    const saved = await loadSavedChain(file, (m) => ctx.log.warn(m));
    if (saved) {
      ctx.log.info(`llc: chain ${c} resumed from the work dir`);
      doneByChain[c] = sampler.burnin + sampler.draws;
      report();
      return saved;
    }
    const result = await job({ kind: 'chain', spec, chain: c }, (p) => {
      doneByChain[c] = (p as ChainProgress).done;
      report();
    });
    if (result.kind !== 'chain') throw new Error('llc: worker answered a chain job with an L0 result');
    await saveChain(file, result.run);
    if (result.run.failed) ctx.log.warn(`llc: chain ${c} failed: ${result.run.reason}`);
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
  // One point of the λ̂-over-training curve, charted by the dashboard (meta.series) as llc nodes finish.
  const series = [{ chart: 'λ̂ (local learning coefficient)', x: 'step', y: 'λ̂', logX: true, points: [[meta.step, est.llcMean] as [number, number]] }];
  return { healthyChains: est.healthyChains, backend: L0Result.backend, series };
};
