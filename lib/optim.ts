// Adam, the OneCycle learning-rate schedule and the checkpoint grid, exactly as docs/training.md.

/** PyTorch Adam (β = 0.9/0.999, eps 1e-8, no weight decay, no AMSGrad) on float32 parameter arrays. */
export class Adam {
  static readonly beta1 = 0.9;
  static readonly beta2 = 0.999;
  static readonly eps = 1e-8;
  /** Updates taken so far (PyTorch's `state['step']`). */
  t = 0;
  readonly m: Float32Array[];
  readonly v: Float32Array[];

  constructor(sizes: number[]) {
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
  }

  /**
   * One update in place: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
   * w ← w − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + eps), in PyTorch's order of operations.
   */
  step(params: Float32Array[], grads: ArrayLike<number>[], lr: number): void {
    if (params.length !== this.m.length || grads.length !== this.m.length) {
      throw new Error(`Adam.step: expected ${this.m.length} parameter and gradient arrays, got ${params.length} and ${grads.length}`);
    }
    this.t += 1;
    const { beta1, beta2, eps } = Adam;
    const stepSize = lr / (1 - beta1 ** this.t);
    const bias2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    for (let p = 0; p < params.length; p++) {
      const w = params[p];
      const g = grads[p];
      const m = this.m[p];
      const v = this.v[p];
      if (w.length !== m.length || g.length !== m.length) throw new Error(`Adam.step: array ${p} has ${w.length} params / ${g.length} grads, expected ${m.length}`);
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        w[i] = w[i] - (stepSize * m[i]) / (Math.sqrt(v[i]) / bias2Sqrt + eps);
      }
    }
  }
}

/**
 * OneCycleLR with linear annealing, pct_start 0.5, div = final_div = N/2 − 1 (docs/training.md):
 * a linear ramp from η/δ to η over steps 0 … N/2 − 1, then a linear decay to η/δ².
 * Step s (0-based) is trained with oneCycleLr(s, N, η).
 */
export function oneCycleLr(step: number, totalSteps: number, maxLr: number): number {
  if (!Number.isInteger(totalSteps) || totalSteps < 4) throw new Error(`oneCycleLr: totalSteps must be an integer ≥ 4, got ${totalSteps}`);
  if (!Number.isInteger(step) || step < 0 || step >= totalSteps) throw new Error(`oneCycleLr: step must be an integer in [0, ${totalSteps}), got ${step}`);
  const div = totalSteps / 2 - 1; // δ
  const initialLr = maxLr / div; // a
  const finalLr = initialLr / div; // b
  const end1 = 0.5 * totalSteps - 1; // e₁
  const end2 = totalSteps - 1; // e₂
  // torch's _annealing_linear: (end − start)·pct + start
  if (step <= end1) return (maxLr - initialLr) * (step / end1) + initialLr;
  return (finalLr - maxLr) * ((step - end1) / (end2 - end1)) + maxLr;
}

/** NumPy linspace's points i·step (last point exactly `stop`), the original's int_* helpers' basis. */
function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/** int_logspace(1, N, A): 10^(A exponents equally spaced in [0, log10 N]), truncated, as a set. */
export function intLogspace(totalSteps: number, num: number): number[] {
  if (num <= 0) return [];
  return [...new Set(linspace(0, Math.log10(totalSteps), num).map((y) => Math.trunc(Math.pow(10, y))))];
}

/** int_linspace(0, N, B): B equally spaced points in [0, N], truncated, as a set. */
export function intLinspace(totalSteps: number, num: number): number[] {
  if (num <= 0) return [];
  return [...new Set(linspace(0, totalSteps, num).map((y) => Math.trunc(y)))];
}

/**
 * The checkpoint/logging steps of `{ log_space: A, linear_space: B }` (docs/training.md): the union of
 * both grids, sorted, restricted to the steps training visits (s < N). Paper: N = 500k, 100/100 → 190.
 */
export function checkpointSteps(totalSteps: number, logSpace: number, linearSpace: number): number[] {
  for (const [key, v] of [['totalSteps', totalSteps], ['logSpace', logSpace], ['linearSpace', linearSpace]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`checkpointSteps: ${key} must be a non-negative integer, got ${v}`);
  }
  const all = new Set([...intLogspace(totalSteps, logSpace), ...intLinspace(totalSteps, linearSpace)]);
  return [...all].filter((s) => s < totalSteps).sort((a, b) => a - b);
}
