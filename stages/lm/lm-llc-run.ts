// The computation of stage 'lm-llc' (declared in lm-llc.ts): loaded where the node runs.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../../engine/index.ts';
import { estimateLlc } from '../../lib/llc.ts';
import { paperBiasedL0s } from '../../lib/lm/llc.ts';
import type { ChainRun } from '../../lib/sgld.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';
import type { LmChainProgress, LmLlcJob, LmLlcJobResult, LmLlcSpec } from './lm-llc-chain.ts';
import type { lmLlcStage } from './lm-llc.ts';
import { loadSavedChain, saveChain } from '../saved-chains.ts';

/** Runs one L0 or chain job in the engine's worker threads (ctx.threads). */
const LM_LLC_WORKER = new URL('./lm-llc-worker.ts', import.meta.url);


export const run: StageRun<typeof lmLlcStage> = async (ctx) => {
  const { sampler } = ctx.params;
  const spec: LmLlcSpec = {
    checkpointFile: ctx.inputs.checkpoint,
    modelFile: ctx.inputs.model,
    dataDir: ctx.inputs.data,
    ...sampler,
  };
  const { meta } = decodeTensors(await readFile(spec.checkpointFile));
  if (typeof meta.step !== 'number') throw new Error(`lm-llc: ${spec.checkpointFile}: meta.step missing (expected an lm-train checkpoint)`);
  const total = sampler.chains * (sampler.burnin + sampler.draws);
  const doneByChain = new Array<number>(sampler.chains).fill(0);
  const report = () => ctx.progress.update(doneByChain.reduce((a, b) => a + b, 0), total, 'steps');
  const chainsDir = path.join(ctx.workDir, 'chains');
  await mkdir(chainsDir, { recursive: true });
  const job = (j: LmLlcJob, onMessage?: (data: unknown) => void) => ctx.threads.run<LmLlcJobResult>(LM_LLC_WORKER, j, { onMessage });
  // At most resources.cpu jobs run at once; an abort stops them with the node.
  if (ctx.signal.aborted) throw new Error('lm-llc: aborted before start');
  const L0Job = job({ kind: 'L0', spec });
  const chainJobs = Array.from({ length: sampler.chains }, async (_, c): Promise<ChainRun> => {
    const file = path.join(chainsDir, `chain-${c}.swt`);
    const saved = await loadSavedChain(file, (m) => ctx.log.warn(m));
    if (saved) {
      ctx.log.info(`lm-llc: chain ${c} resumed from the work dir`);
      doneByChain[c] = sampler.burnin + sampler.draws;
      report();
      return saved;
    }
    const result = await job({ kind: 'chain', spec, chain: c }, (p) => {
      doneByChain[c] = (p as LmChainProgress).done;
      report();
    });
    if (result.kind !== 'chain') throw new Error('lm-llc: worker answered a chain job with an L0 result');
    await saveChain(file, result.run);
    if (result.run.failed) ctx.log.warn(`lm-llc: chain ${c} failed: ${result.run.reason}`);
    return result.run;
  });
  const [L0Result, ...runs] = await Promise.all([L0Job, ...chainJobs]);
  if (L0Result.kind !== 'L0') throw new Error('lm-llc: worker answered the L0 job with a chain result');
  const est = estimateLlc(runs, [L0Result.L0], sampler.nbeta);
  let { llcMean, llcStd } = est;
  let chains = est.chains.map((ch) => ch.llc);
  if (sampler.l0 === 'paper-biased') {
    // λ̂_c with L₀_c instead of L₀: shift each healthy chain by nβ(L₀ − L₀_c).
    const biased = paperBiasedL0s(runs);
    chains = chains.map((v, c) => (v === null ? null : v + sampler.nbeta * (L0Result.L0 - biased[c])));
    const ok = chains.filter((v): v is number => v !== null);
    llcMean = ok.reduce((a, b) => a + b, 0) / ok.length;
    llcStd = ok.length > 1 ? Math.sqrt(ok.reduce((a, v) => a + (v - llcMean) ** 2, 0) / (ok.length - 1)) : 0;
  }
  const result = {
    step: meta.step,
    sampler,
    l0: sampler.l0,
    L0: L0Result.L0,
    L0PerPos: [L0Result.L0],
    llcMean,
    llcStd,
    healthyChains: est.healthyChains,
    chains: est.chains.map((ch, c) => ({ llc: chains[c], failed: ch.failed, ...(ch.reason ? { reason: ch.reason } : {}), trace: ch.trace })),
  };
  await writeFile(path.join(ctx.outDir, 'llc.json'), JSON.stringify(result));
  ctx.log.info(`lm-llc: step ${meta.step}: λ̂ = ${llcMean.toFixed(2)} ± ${llcStd.toFixed(2)} (${est.healthyChains}/${sampler.chains} chains, L₀ ${L0Result.L0.toFixed(3)}${sampler.l0 === 'paper-biased' ? ', paper-biased L₀' : ''})`);
  // One point of the LM's λ̂-over-training curve for the dashboard (meta.series).
  const series = [{ chart: 'LM λ̂ (local learning coefficient)', x: 'step', y: 'λ̂', logX: true, points: [[meta.step, llcMean] as [number, number]] }];
  return { healthyChains: est.healthyChains, series };
};
