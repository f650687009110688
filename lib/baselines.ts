// Baseline predictors per prefix (docs/task.md, "Baselines"). For sequence b and position k (0-based) each
// returns a weight estimate ŵ_{b,k} built from the first k examples only (indices < k), and the
// prediction ŷ_{b,k} = ŵ_{b,k}·x_{b,k}: exactly what a causal transformer is compared against.
// Float64 throughout; inputs are float32 batches.
import type { Batch } from './tasks.ts';

/** A batch of sequences without the task vectors (baselines see only xs and ys). */
export type Sequences = Pick<Batch, 'B' | 'K' | 'D' | 'xs' | 'ys'>;

function checkSequences(where: string, s: Sequences): void {
  if (s.xs.length !== s.B * s.K * s.D) throw new Error(`${where}: xs must have B·K·D = ${s.B * s.K * s.D} values, got ${s.xs.length}`);
  if (s.ys.length !== s.B * s.K) throw new Error(`${where}: ys must have B·K = ${s.B * s.K} values, got ${s.ys.length}`);
}

function checkTasks(where: string, tasks: Float32Array, D: number): number {
  if (tasks.length === 0 || tasks.length % D !== 0) throw new Error(`${where}: tasks must have shape [M, ${D}], got ${tasks.length} values`);
  return tasks.length / D;
}

/** ŷ_{b,k} = ŵ_{b,k}·x_{b,k}; weights [B, K, D] → predictions [B, K]. */
export function predictWithWeights(s: Sequences, weights: Float64Array): Float64Array {
  checkSequences('predictWithWeights', s);
  const { B, K, D } = s;
  if (weights.length !== B * K * D) throw new Error(`predictWithWeights: weights must have B·K·D = ${B * K * D} values, got ${weights.length}`);
  const out = new Float64Array(B * K);
  for (let bk = 0; bk < B * K; bk++) {
    let dot = 0;
    for (let i = 0; i < D; i++) dot += weights[bk * D + i] * s.xs[bk * D + i];
    out[bk] = dot;
  }
  return out;
}

/** The same weight vector (e.g. t̄) at every (b, k): the task-average predictor. [B, K, D] */
export function constantWeights(s: Sequences, w: ArrayLike<number>): Float64Array {
  if (w.length !== s.D) throw new Error(`constantWeights: w must have D = ${s.D} values, got ${w.length}`);
  const out = new Float64Array(s.B * s.K * s.D);
  for (let bk = 0; bk < s.B * s.K; bk++) for (let i = 0; i < s.D; i++) out[bk * s.D + i] = w[i];
  return out;
}

/** Solves A w = r in place (w returned in r) for SPD A [D, D] by Cholesky; A is overwritten. */
function choleskySolve(A: Float64Array, r: Float64Array, D: number): void {
  for (let j = 0; j < D; j++) {
    let diag = A[j * D + j];
    for (let k = 0; k < j; k++) diag -= A[j * D + k] * A[j * D + k];
    if (!(diag > 0)) throw new Error('ridge: X_kᵀX_k + σ²I is not positive definite (σ² must be > 0)');
    const Ljj = Math.sqrt(diag);
    A[j * D + j] = Ljj;
    for (let i = j + 1; i < D; i++) {
      let s = A[i * D + j];
      for (let k = 0; k < j; k++) s -= A[i * D + k] * A[j * D + k];
      A[i * D + j] = s / Ljj;
    }
  }
  for (let i = 0; i < D; i++) {
    let s = r[i];
    for (let k = 0; k < i; k++) s -= A[i * D + k] * r[k];
    r[i] = s / A[i * D + i];
  }
  for (let i = D - 1; i >= 0; i--) {
    let s = r[i];
    for (let k = i + 1; k < D; k++) s -= A[k * D + i] * r[k];
    r[i] = s / A[i * D + i];
  }
}

/**
 * Ridge = posterior mean under w ~ N(0, I_D): ŵ_k = (X_kᵀX_k + σ²I)⁻¹ X_kᵀ y_k, ŵ_0 = 0.
 * The regulariser is exactly σ² (no scaling by k). [B, K, D]
 */
export function ridgeWeights(s: Sequences, noiseVariance: number): Float64Array {
  checkSequences('ridgeWeights', s);
  if (!(noiseVariance > 0)) throw new Error(`ridgeWeights: noiseVariance must be > 0, got ${noiseVariance}`);
  const { B, K, D } = s;
  const out = new Float64Array(B * K * D);
  const xtx = new Float64Array(D * D);
  const xty = new Float64Array(D);
  const A = new Float64Array(D * D);
  const r = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    xtx.fill(0);
    xty.fill(0);
    for (let k = 0; k < K; k++) {
      if (k > 0) {
        for (let i = 0; i < D * D; i++) A[i] = xtx[i];
        for (let i = 0; i < D; i++) A[i * D + i] += noiseVariance;
        r.set(xty);
        choleskySolve(A, r, D);
        out.set(r, (b * K + k) * D);
      }
      // Absorb example k into the prefix statistics used from position k + 1 on.
      const x = s.xs.subarray((b * K + k) * D, (b * K + k + 1) * D);
      const y = s.ys[b * K + k];
      for (let i = 0; i < D; i++) {
        xty[i] += x[i] * y;
        for (let j = 0; j < D; j++) xtx[i * D + j] += x[i] * x[j];
      }
    }
  }
  return out;
}

/**
 * dMMSE = posterior mean under the uniform prior over tasks t_1 … t_M ([M, D]):
 * L_m = Σ_{j<k} (y_j − t_m·x_j)², p_m ∝ exp(−L_m/(2σ²)), ŵ_k = Σ_m p_m t_m. [B, K, D]
 * Streams over sequences with O(M) memory (M reaches 2²⁰ in the task-prior sweep).
 */
export function dmmseWeights(s: Sequences, tasks: Float32Array, noiseVariance: number): Float64Array {
  checkSequences('dmmseWeights', s);
  const M = checkTasks('dmmseWeights', tasks, s.D);
  if (!(noiseVariance > 0)) throw new Error(`dmmseWeights: noiseVariance must be > 0, got ${noiseVariance}`);
  const { B, K, D } = s;
  const out = new Float64Array(B * K * D);
  const sse = new Float64Array(M); // L_m for the current prefix
  const w = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    sse.fill(0);
    for (let k = 0; k < K; k++) {
      // Softmax of −L/(2σ²) in log space: subtract the max (= the smallest L).
      let minL = Infinity;
      for (let m = 0; m < M; m++) if (sse[m] < minL) minL = sse[m];
      w.fill(0);
      let Z = 0;
      for (let m = 0; m < M; m++) {
        const p = Math.exp(-(sse[m] - minL) / (2 * noiseVariance));
        Z += p;
        for (let i = 0; i < D; i++) w[i] += p * tasks[m * D + i];
      }
      for (let i = 0; i < D; i++) out[(b * K + k) * D + i] = w[i] / Z;
      const x = s.xs.subarray((b * K + k) * D, (b * K + k + 1) * D);
      const y = s.ys[b * K + k];
      for (let m = 0; m < M; m++) {
        let dot = 0;
        for (let i = 0; i < D; i++) dot += tasks[m * D + i] * x[i];
        sse[m] += (y - dot) * (y - dot);
      }
    }
  }
  return out;
}

/** Per-position mean over the batch of (a − b)², a and b [B, K]. */
export function mseByPosition(a: ArrayLike<number>, b: ArrayLike<number>, B: number, K: number): number[] {
  if (a.length !== B * K || b.length !== B * K) throw new Error(`mseByPosition: both inputs must have B·K = ${B * K} values, got ${a.length} and ${b.length}`);
  const out = new Array<number>(K).fill(0);
  for (let n = 0; n < B; n++) for (let k = 0; k < K; k++) out[k] += (a[n * K + k] - b[n * K + k]) ** 2 / B;
  return out;
}

export const mean = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
};
