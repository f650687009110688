// In-context linear regression (docs/task.md): task priors, sequences, token encoding.
// A sequence: w ~ prior, x_k ~ N(0, I_D), y_k = w·x_k + ε_k with ε_k ~ N(0, σ²), k = 1 … K.
import type { Rng } from './rng.ts';

export interface TaskConfig {
  D: number;
  K: number;
  /** σ² (a variance: the noise std is √σ²). */
  noiseVariance: number;
  /** Number of distinct tasks; 'inf' = Gaussian prior w ~ N(0, I_D). */
  M: number | 'inf';
}

export interface Batch {
  B: number;
  K: number;
  D: number;
  xs: Float32Array; // [B, K, D]
  ys: Float32Array; // [B, K]
  ws: Float32Array; // [B, D]
}

function checkPositiveInt(where: string, key: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: ${key} must be a positive integer, got ${v}`);
}

/** The M fixed tasks t_1 … t_M ~ N(0, I_D) of a finite-M prior, drawn once per run. [M, D] */
export function sampleTaskSet(M: number, D: number, rng: Rng): Float32Array {
  checkPositiveInt('sampleTaskSet', 'M', M);
  checkPositiveInt('sampleTaskSet', 'D', D);
  return rng.fillNormal(new Float32Array(M * D));
}

/**
 * B sequences. With `taskSet` ([M, D]) each task is a uniform pick (with replacement) from it;
 * without, w ~ N(0, I_D) (the Gaussian prior; also the "true" distribution for finite M).
 * Draw order, as the original: the B tasks, then B·K·D inputs, then B·K noises.
 */
export function sampleBatch(cfg: TaskConfig, B: number, rng: Rng, taskSet?: Float32Array): Batch {
  const { D, K, noiseVariance } = cfg;
  checkPositiveInt('sampleBatch', 'B', B);
  checkPositiveInt('sampleBatch', 'D', D);
  checkPositiveInt('sampleBatch', 'K', K);
  if (!(noiseVariance >= 0)) throw new Error(`sampleBatch: noiseVariance must be ≥ 0, got ${noiseVariance}`);
  const ws = new Float32Array(B * D);
  if (taskSet) {
    if (taskSet.length === 0 || taskSet.length % D !== 0) {
      throw new Error(`sampleBatch: taskSet must have shape [M, ${D}], got ${taskSet.length} values`);
    }
    const M = taskSet.length / D;
    for (let b = 0; b < B; b++) {
      const m = rng.int(M);
      ws.set(taskSet.subarray(m * D, (m + 1) * D), b * D);
    }
  } else {
    rng.fillNormal(ws);
  }
  const xs = rng.fillNormal(new Float32Array(B * K * D));
  const ys = rng.fillNormal(new Float32Array(B * K), Math.sqrt(noiseVariance));
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      let dot = 0;
      for (let i = 0; i < D; i++) dot += ws[b * D + i] * xs[(b * K + k) * D + i];
      ys[b * K + k] += dot;
    }
  }
  return { B, K, D, xs, ys, ws };
}

/**
 * Tokens [B, 2K, D+1] (spec §3): token 2k = [0, x_k], token 2k+1 = [y_k, 0 … 0].
 * The prediction for y_k is read from output channel 0 at token 2k.
 */
export function encodeTokens(xs: Float32Array, ys: Float32Array, B: number, K: number, D: number): Float32Array {
  if (xs.length !== B * K * D) throw new Error(`encodeTokens: xs must have B·K·D = ${B * K * D} values, got ${xs.length}`);
  if (ys.length !== B * K) throw new Error(`encodeTokens: ys must have B·K = ${B * K} values, got ${ys.length}`);
  const V = D + 1;
  const tokens = new Float32Array(B * 2 * K * V);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const xTok = (b * 2 * K + 2 * k) * V;
      tokens.set(xs.subarray((b * K + k) * D, (b * K + k + 1) * D), xTok + 1);
      tokens[xTok + V] = ys[b * K + k];
    }
  }
  return tokens;
}

/** Inverse of encodeTokens (tests only): xs = tokens[:, 0::2, 1:], ys = tokens[:, 1::2, 0]. */
export function decodeTokens(tokens: Float32Array, B: number, K: number, D: number): { xs: Float32Array; ys: Float32Array } {
  const V = D + 1;
  if (tokens.length !== B * 2 * K * V) throw new Error(`decodeTokens: expected ${B * 2 * K * V} values, got ${tokens.length}`);
  const xs = new Float32Array(B * K * D);
  const ys = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const xTok = (b * 2 * K + 2 * k) * V;
      xs.set(tokens.subarray(xTok + 1, xTok + V), (b * K + k) * D);
      ys[b * K + k] = tokens[xTok + V];
    }
  }
  return { xs, ys };
}

/** Task mean t̄ = (1/M) Σ_m t_m of a task set [M, D]. */
export function taskMean(taskSet: Float32Array, D: number): Float64Array {
  const M = taskSet.length / D;
  const mean = new Float64Array(D);
  for (let m = 0; m < M; m++) for (let i = 0; i < D; i++) mean[i] += taskSet[m * D + i] / M;
  return mean;
}
