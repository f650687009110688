// Hessian statistics from Hessian-vector products (docs/figures.md "Hessian"): the top eigenvalues
// by Lanczos iteration and the trace by Hutchinson's estimator. Both see the Hessian only through
// an operator v ↦ Hv, so they are tested on matrices with a known spectrum and then applied to the
// model, where Hv comes from central differences of exact gradients (hvpFromGradients).
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { Rng } from '../rng.ts';

export type Hvp = (v: Float64Array) => Float64Array;

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function gaussianVector(n: number, rng: Rng): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}

/**
 * The `count` largest (algebraic) eigenvalues of a symmetric operator of dimension n, by `steps`
 * Lanczos iterations with full re-orthogonalisation (so no ghost copies of converged eigenvalues).
 * The Ritz values of the steps × steps tridiagonal matrix, largest first.
 */
export function lanczosTopEigenvalues(hvp: Hvp, n: number, count: number, steps: number, rng: Rng): number[] {
  const m = Math.min(steps, n);
  if (count > m) throw new Error(`lanczosTopEigenvalues: ${count} eigenvalues need at least ${count} steps (got ${m})`);
  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = [];
  let q = gaussianVector(n, rng);
  const q0 = Math.sqrt(dot(q, q));
  for (let i = 0; i < n; i++) q[i] /= q0;
  for (let k = 0; k < m; k++) {
    basis.push(q);
    const w = hvp(q);
    const a = dot(w, q);
    alpha.push(a);
    // Full re-orthogonalisation against every earlier Lanczos vector (twice is enough).
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        const c = dot(w, b);
        for (let i = 0; i < n; i++) w[i] -= c * b[i];
      }
    }
    const norm = Math.sqrt(dot(w, w));
    if (k === m - 1 || norm < 1e-12 * Math.max(1, Math.abs(a))) break; // invariant subspace found
    beta.push(norm);
    q = w.map((x) => x / norm);
  }
  const size = alpha.length;
  const t = Matrix.zeros(size, size);
  for (let i = 0; i < size; i++) {
    t.set(i, i, alpha[i]);
    if (i + 1 < size) {
      t.set(i, i + 1, beta[i]);
      t.set(i + 1, i, beta[i]);
    }
  }
  const ritz = new EigenvalueDecomposition(t, { assumeSymmetric: true }).realEigenvalues.slice().sort((x, y) => y - x);
  return ritz.slice(0, count);
}

/** Hutchinson's estimate of tr H: the mean of zᵀHz over Rademacher probes z, with its standard error. */
export function hutchinsonTrace(hvp: Hvp, n: number, probes: number, rng: Rng): { trace: number; stdErr: number; samples: number[] } {
  if (probes < 1) throw new Error(`hutchinsonTrace: probes must be ≥ 1, got ${probes}`);
  const samples: number[] = [];
  for (let p = 0; p < probes; p++) {
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) z[i] = rng.next() < 0.5 ? -1 : 1;
    samples.push(dot(z, hvp(z)));
  }
  const trace = samples.reduce((a, b) => a + b, 0) / probes;
  const variance = probes > 1 ? samples.reduce((a, s) => a + (s - trace) ** 2, 0) / (probes - 1) : NaN;
  return { trace, stdErr: Math.sqrt(variance / probes), samples };
}

/**
 * Hv ≈ (∇L(w + h·v̂) − ∇L(w − h·v̂)) / (2h) · ‖v‖ with v̂ = v/‖v‖: central differences of exact
 * gradients along the unit direction, so the step is `h` in parameter space whatever v's norm
 * (Rademacher probes have norm √n). The truncation error is O(h²); the gradient's own rounding is
 * divided by 2h, so h trades the two (hessianStage picks it; the tests bound the error).
 */
export function hvpFromGradients(grad: (w: Float64Array) => ArrayLike<number>, w: ArrayLike<number>, h: number): Hvp {
  const n = w.length;
  return (v) => {
    const norm = Math.sqrt(dot(v, v));
    if (norm === 0) return new Float64Array(n);
    const plus = new Float64Array(n);
    const minus = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = (h * v[i]) / norm;
      plus[i] = w[i] + d;
      minus[i] = w[i] - d;
    }
    const gp = grad(plus);
    const gm = grad(minus);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = ((gp[i] - gm[i]) / (2 * h)) * norm;
    return out;
  };
}
