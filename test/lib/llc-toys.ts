// Toy SGLD targets with known learning coefficients (docs/llc.md, "Known answers"), built on tfjs variables so the
// known-answer tests exercise the same sgldChain as the transformer. Full-batch MSE losses are
// computed from sufficient statistics (mean x², mean xy, …): algebraically the same loss and
// gradient as summing over the n samples, at a fraction of the per-step cost.
import * as tf from '@tensorflow/tfjs';
import { Matrix, SingularValueDecomposition, EigenvalueDecomposition, solve } from 'ml-matrix';
import type { SgldTarget } from '../../lib/sgld.ts';
import type { Rng } from '../../lib/rng.ts';

/** A target whose loss is one scalar (K = 1), differentiated by tfjs. */
export function scalarTarget(variables: tf.Variable[], loss: (batchIndex: number) => tf.Scalar): SgldTarget {
  return {
    variables,
    lossAndGrads(b) {
      const { value, grads } = tf.variableGrads(() => loss(b), variables);
      const perPosition = Float32Array.from(value.dataSync());
      value.dispose();
      return { perPosition, grads: variables.map((v) => grads[v.name]) };
    },
  };
}

/** L(w) = L0 + ½ Σ h_i (w_i − w*_i)², starting at w*. */
export function quadraticTarget(h: number[], wStar: number[], L0: number): SgldTarget {
  const w = tf.variable(tf.tensor1d(wStar));
  const hT = tf.keep(tf.tensor1d(h));
  const star = tf.keep(tf.tensor1d(wStar));
  return scalarTarget([w], () => tf.tidy(() => w.sub(star).square().mul(hT).sum().mul(0.5).add(L0) as tf.Scalar));
}

/**
 * λ̂_∞ of SGLD on the quadratic, exact including discretisation (docs/llc.md, "Known answers"): per coordinate the
 * chain is z ← (1 − εa/2)z + √ε ξ with a = nβh + γ, stationary variance 1/(a(1 − εa/4)).
 */
export function quadraticExactLlc(h: number[], eps: number, nbeta: number, gamma: number): number {
  return h.reduce((s, hi) => {
    const a = nbeta * hi + gamma;
    return s + (0.5 * nbeta * hi) / (a * (1 - (eps * a) / 4));
  }, 0);
}

function normals(rng: Rng, n: number, std = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

/** A regression dataset: X [n, d] ~ N(0, I), y = X·wTrue + σ·noise. */
export function linearData(rng: Rng, n: number, d: number, sigma: number) {
  const wTrue = normals(rng, d);
  const X = normals(rng, n * d);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += X[i * d + j] * wTrue[j];
    y[i] = s + sigma * rng.normal();
  }
  return { X, y, n, d };
}

/** Ordinary least squares: the exact minimiser of the empirical MSE. */
export function olsSolution({ X, y, n, d }: ReturnType<typeof linearData>): number[] {
  const Xm = new Matrix(n, d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) Xm.set(i, j, X[i * d + j]);
  const Xt = Xm.transpose();
  const sol = solve(Xt.mmul(Xm), Xt.mmul(Matrix.columnVector(Array.from(y))));
  return sol.to1DArray();
}

/** Mean-squared error of y ≈ X·w over the whole dataset: L_n(w). */
export function linearRegressionLoss(data: ReturnType<typeof linearData>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < data.n; i++) {
    let p = 0;
    for (let j = 0; j < data.d; j++) p += data.X[i * data.d + j] * w[j];
    s += (p - data.y[i]) ** 2;
  }
  return s / data.n;
}

/** Linear regression y ≈ X·w, minibatches of the dataset chosen by `batchRows(b)`. */
export function linearRegressionTarget(
  data: ReturnType<typeof linearData>,
  wStar: number[],
  batchRows: (b: number) => Uint32Array,
): SgldTarget {
  const w = tf.variable(tf.tensor2d(wStar, [data.d, 1]));
  const X = tf.keep(tf.tensor2d(Float32Array.from(data.X), [data.n, data.d]));
  const y = tf.keep(tf.tensor2d(Float32Array.from(data.y), [data.n, 1]));
  return scalarTarget([w], (b) =>
    tf.tidy(() => {
      const rows = tf.tensor1d(Int32Array.from(batchRows(b)), 'int32');
      return tf.gather(X, rows).matMul(w).sub(tf.gather(y, rows)).square().mean() as tf.Scalar;
    }),
  );
}

/**
 * Normal crossing (docs/llc.md, "Known answers"): f(x) = x·Π_j w_j^{k_j} at w = 0, pure-noise labels.
 * MSE = p²·E[x²] − 2p·E[xy] + E[y²] with p = Π w_j^{k_j}; true LC = 1/(2·max k).
 */
export function normalCrossingTarget(powers: number[], rng: Rng, n = 1000) {
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const x = 2 * rng.normal();
    const y = 0.25 * rng.normal();
    sxx += x * x;
    sxy += x * y;
    syy += y * y;
  }
  [sxx, sxy, syy] = [sxx / n, sxy / n, syy / n];
  const w = tf.variable(tf.zeros([powers.length]));
  const k = tf.keep(tf.tensor1d(powers));
  const target = scalarTarget([w], () =>
    tf.tidy(() => {
      const p = tf.prod(tf.pow(w, k));
      return p.square().mul(sxx).sub(p.mul(2 * sxy)).add(syy) as tf.Scalar;
    }),
  );
  return { target, L0: syy, truth: 1 / (2 * Math.max(...powers)) };
}

/**
 * Aoyagi & Watanabe (2005): λ of reduced-rank regression y = BAx with input dim M, inner width H,
 * output dim N and true rank r (docs/llc.md, "Known answers").
 */
export function rrrTruth(M: number, H: number, N: number, r = 0): number {
  if (N + r <= M + H && M + r <= N + H && H + r <= M + N) {
    const base = (2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2) / 8;
    return (M + H + N + r) % 2 === 1 ? base + 1 / 8 : base;
  }
  if (M + H < N + r) return (H * M - H * r + N * r) / 2;
  if (N + H < M + r) return (H * N - H * r + M * r) / 2;
  return (M * N) / 2;
}

/**
 * Reduced-rank regression on x ~ N(0, I_M), y ~ N(0, I_N) independent (true map 0), n samples.
 * Loss = MSE averaged over samples and output coordinates (torch MSELoss). w* is the exact
 * empirical minimiser over rank ≤ H maps (whitened SVD truncation) factored as balanced B·A.
 */
export function rrrTarget(M: number, H: number, N: number, rng: Rng, n = 1000) {
  const X = new Matrix(n, M);
  const Y = new Matrix(n, N);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < M; j++) X.set(i, j, rng.normal());
    for (let j = 0; j < N; j++) Y.set(i, j, rng.normal());
  }
  const Sxx = X.transpose().mmul(X).div(n); // M×M
  const Syx = Y.transpose().mmul(X).div(n); // N×M
  const Syy = Y.transpose().mmul(Y).div(n);
  // Minimise ‖(W − Syx Sxx⁻¹) Sxx^{1/2}‖²: truncate the SVD of C = Syx Sxx^{-1/2} to rank H.
  const eig = new EigenvalueDecomposition(Sxx);
  const V = eig.eigenvectorMatrix;
  const sqrtInv = V.mmul(Matrix.diag(eig.realEigenvalues.map((e) => 1 / Math.sqrt(e)))).mmul(V.transpose());
  const C = Syx.mmul(sqrtInv);
  const svdC = new SingularValueDecomposition(C, { autoTranspose: true });
  const rank = Math.min(H, svdC.diagonal.length);
  const Ck = svdC.leftSingularVectors
    .subMatrix(0, N - 1, 0, rank - 1)
    .mmul(Matrix.diag(svdC.diagonal.slice(0, rank)))
    .mmul(svdC.rightSingularVectors.subMatrix(0, M - 1, 0, rank - 1).transpose());
  const Wstar = Ck.mmul(sqrtInv);
  const svdW = new SingularValueDecomposition(Wstar, { autoTranspose: true });
  const Bstar = Matrix.zeros(N, H);
  const Astar = Matrix.zeros(H, M);
  for (let h = 0; h < rank; h++) {
    const s = Math.sqrt(svdW.diagonal[h]);
    for (let i = 0; i < N; i++) Bstar.set(i, h, svdW.leftSingularVectors.get(i, h) * s);
    for (let j = 0; j < M; j++) Astar.set(h, j, svdW.rightSingularVectors.get(j, h) * s);
  }
  const A = tf.variable(tf.tensor2d(Astar.to2DArray()));
  const B = tf.variable(tf.tensor2d(Bstar.to2DArray()));
  const sxx = tf.keep(tf.tensor2d(Sxx.to2DArray()));
  const syx = tf.keep(tf.tensor2d(Syx.to2DArray()));
  const trYY = Syy.trace();
  // MSE = (1/N)[tr(W Sxx Wᵀ) − 2 tr(W Syxᵀ) + tr Syy]
  const lossOf = (Wm: tf.Tensor2D) =>
    Wm.matMul(sxx).mul(Wm).sum().sub(Wm.mul(syx).sum().mul(2)).add(trYY).div(N) as tf.Scalar;
  const target = scalarTarget([A, B], () => tf.tidy(() => lossOf(B.matMul(A) as tf.Tensor2D)));
  const L0 = tf.tidy(() => lossOf(B.matMul(A) as tf.Tensor2D).dataSync()[0]);
  return { target, L0, truth: rrrTruth(M, H, N) };
}
