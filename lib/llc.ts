// The local learning coefficient estimator λ̂(w*) = nβ·(E_p[L_n(w)] − L_n(w*)) (docs/llc.md),
// from SGLD draws: per chain, pooled over healthy chains, per position k and for the
// position-averaged loss (the paper's `llc/mean/mean`). Failed chains are listed, never averaged in.
import type { ChainRun } from './sgld.ts';

export interface ChainEstimate {
  /** nβ·(mean over draws of the position-averaged loss − L0); null for a failed chain. */
  llc: number | null;
  llcPerPos: number[] | null;
  failed: boolean;
  reason?: string;
  /** Minibatch loss per step (mean over positions), burn-in included; NaN/Inf as null. */
  trace: (number | null)[];
}

export interface LlcEstimate {
  L0: number;
  L0PerPos: number[];
  /** Mean over healthy chains of their λ̂ (= the pooled estimate: all chains have equal length). */
  llcMean: number;
  /** Sample standard deviation (n − 1) of per-chain λ̂ across healthy chains; 0 with one chain. */
  llcStd: number;
  llcPerPos: number[];
  /** Mean over healthy chains' draws of the loss per position: E[L_k]. */
  lossMeanPerPos: number[];
  healthyChains: number;
  chains: ChainEstimate[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function sampleStd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Per-step loss averaged over positions; non-finite values become null (JSON-safe, docs/artifacts.md). */
export function chainTrace(run: ChainRun): (number | null)[] {
  const out: (number | null)[] = new Array(run.steps);
  for (let t = 0; t < run.steps; t++) {
    let s = 0;
    for (let k = 0; k < run.K; k++) s += run.losses[t * run.K + k];
    s /= run.K;
    out[t] = Number.isFinite(s) ? s : null;
  }
  return out;
}

/** E[L_k] over the chain's draws (steps ≥ burnin). */
function drawMeans(run: ChainRun): number[] {
  const sums = new Array<number>(run.K).fill(0);
  const n = run.steps - run.burnin;
  for (let t = run.burnin; t < run.steps; t++) {
    for (let k = 0; k < run.K; k++) sums[k] += run.losses[t * run.K + k];
  }
  return sums.map((s) => s / n);
}

/**
 * Estimate λ̂ from chains that all ran with the same nβ and burn-in.
 * `L0PerPos` is L_n(w*) per position over the whole reference dataset.
 * Throws when every chain failed: there is nothing honest to report.
 */
export function estimateLlc(runs: ChainRun[], L0PerPos: ArrayLike<number>, nbeta: number): LlcEstimate {
  if (runs.length === 0) throw new Error('llc: no chains to estimate from');
  const K = L0PerPos.length;
  const L0s = Array.from(L0PerPos);
  if (!L0s.every(Number.isFinite)) throw new Error(`llc: L0PerPos must be finite, got [${L0s}]`);
  const chains: ChainEstimate[] = [];
  const healthyPerPos: number[][] = [];
  const healthyLossMeans: number[][] = [];
  runs.forEach((run, c) => {
    const trace = chainTrace(run);
    if (run.failed || run.steps <= run.burnin) {
      const reason = run.reason ?? `chain ${c} recorded no draws (${run.steps} steps, burn-in ${run.burnin})`;
      chains.push({ llc: null, llcPerPos: null, failed: true, reason, trace });
      return;
    }
    if (run.K !== K) throw new Error(`llc: chain ${c} has ${run.K} positions but L0PerPos has ${K}`);
    const lossMeans = drawMeans(run);
    const llcPerPos = lossMeans.map((l, k) => nbeta * (l - L0s[k]));
    healthyPerPos.push(llcPerPos);
    healthyLossMeans.push(lossMeans);
    chains.push({ llc: mean(llcPerPos), llcPerPos, failed: false, trace });
  });
  if (healthyPerPos.length === 0) {
    const reasons = chains.map((ch, c) => `chain ${c}: ${ch.reason}`).join('; ');
    throw new Error(`llc: all ${runs.length} chains failed (${reasons})`);
  }
  const perChainLlc = healthyPerPos.map(mean);
  const llcPerPos = L0s.map((_, k) => mean(healthyPerPos.map((p) => p[k])));
  return {
    L0: mean(L0s),
    L0PerPos: L0s,
    llcMean: mean(perChainLlc),
    llcStd: sampleStd(perChainLlc),
    llcPerPos,
    lossMeanPerPos: L0s.map((_, k) => mean(healthyLossMeans.map((p) => p[k]))),
    healthyChains: healthyPerPos.length,
    chains,
  };
}

/**
 * Running λ̂ of one chain's trace: after draw j, nβ·(mean of draws 0..j − L0). A healthy chain's
 * running estimate flattens (docs/llc.md). Values before `burnin` are not draws and are skipped.
 */
export function runningLlc(trace: ArrayLike<number | null>, L0: number, nbeta: number, burnin: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let t = burnin; t < trace.length; t++) {
    const l = trace[t];
    if (l === null || !Number.isFinite(l)) break;
    sum += l;
    out.push(nbeta * (sum / (t - burnin + 1) - L0));
  }
  return out;
}
