// Gaussian smoothing of essential-dynamics trajectories (docs/essential-dynamics.md).
// Semantics follow scipy.ndimage.gaussian_filter1d: kernel radius int(4σ + 0.5), normalised,
// boundary mode 'reflect' (… x1 x0 | x0 x1 … — the edge sample repeats).
// The variable-width filter gives sample i the value a σ_i-filter would give there: later
// checkpoints sit further apart in developmental time, so they get wider smoothing.

/** The scipy kernel radius for a given σ (truncate = 4). */
export function kernelRadius(sigma: number): number {
  return Math.floor(4 * sigma + 0.5);
}

/**
 * Sampled Gaussian kernel of derivative `order` on the integers −radius … radius
 * (scipy's _gaussian_kernel1d): order 0 is normalised to sum 1; higher orders multiply it by
 * the polynomial q with d^n/dx^n exp(−x²/2σ²) = q(x)·exp(−x²/2σ²).
 */
export function gaussianKernel1d(sigma: number, order: number, radius: number): number[] {
  if (!Number.isInteger(order) || order < 0) {
    throw new Error(`gaussianKernel1d: order must be a non-negative integer, got ${order}`);
  }
  if (!(sigma > 0)) throw new Error(`gaussianKernel1d: sigma must be > 0, got ${sigma}`);
  if (!Number.isInteger(radius) || radius < 0) {
    throw new Error(`gaussianKernel1d: radius must be a non-negative integer, got ${radius}`);
  }
  const xs = Array.from({ length: 2 * radius + 1 }, (_, i) => i - radius);
  const phi = xs.map((x) => Math.exp((-0.5 * x * x) / (sigma * sigma)));
  const total = phi.reduce((a, b) => a + b, 0);
  const weights = phi.map((p) => p / total);
  if (order === 0) return weights;
  // q' = (d/dx + p'(x)) q with p(x) = −x²/2σ²: coefficients of q in powers of x.
  let q = [1];
  for (let n = 0; n < order; n++) {
    const next = new Array(q.length + 1).fill(0);
    for (let k = 0; k < q.length; k++) {
      if (k > 0) next[k - 1] += k * q[k];
      next[k + 1] += -q[k] / (sigma * sigma);
    }
    q = next;
  }
  return xs.map((x, i) => q.reduce((s, c, k) => s + c * x ** k, 0) * weights[i]);
}

/** scipy 'reflect' index: period 2n, mirror including the edge sample. */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let m = ((i % period) + period) % period;
  if (m >= n) m = period - 1 - m;
  return m;
}

/** Gaussian filter of one sequence with a per-sample σ (σ_i = 0 leaves sample i unchanged). */
export function smoothVariable(values: ArrayLike<number>, sigmas: ArrayLike<number>): number[] {
  const n = values.length;
  if (sigmas.length !== n) {
    throw new Error(`smoothVariable: sigmas has length ${sigmas.length}, expected one per sample (${n})`);
  }
  const out = new Array<number>(n);
  const cache = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const sigma = sigmas[i];
    if (!(sigma >= 0) || !Number.isFinite(sigma)) {
      throw new Error(`smoothVariable: sigma[${i}] must be a finite number ≥ 0, got ${sigma}`);
    }
    if (sigma === 0) {
      out[i] = values[i];
      continue;
    }
    let kernel = cache.get(sigma);
    if (!kernel) {
      kernel = gaussianKernel1d(sigma, 0, kernelRadius(sigma));
      cache.set(sigma, kernel);
    }
    const radius = (kernel.length - 1) / 2;
    let acc = 0;
    for (let k = -radius; k <= radius; k++) acc += kernel[k + radius] * values[reflectIndex(i + k, n)];
    out[i] = acc;
  }
  return out;
}

/**
 * Variable-width filter of a row-major array of the given shape along `axis` (negative counts
 * from the end): every 1-D line along that axis is filtered with the same per-position σ.
 */
export function gaussianFilterVariable(
  data: ArrayLike<number>,
  shape: number[],
  axis: number,
  sigmas: ArrayLike<number>,
): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw new Error(`gaussianFilterVariable: shape [${shape}] needs ${size} values, got ${data.length}`);
  }
  const ax = axis < 0 ? shape.length + axis : axis;
  if (!(ax >= 0 && ax < shape.length)) {
    throw new Error(`gaussianFilterVariable: axis ${axis} out of range for shape [${shape}]`);
  }
  const n = shape[ax];
  if (sigmas.length !== n) {
    throw new Error(`gaussianFilterVariable: sigmas has length ${sigmas.length}, expected shape[${ax}] = ${n}`);
  }
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = size / (n * inner);
  const out = new Float64Array(size);
  const line = new Array<number>(n);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const base = o * n * inner + r;
      for (let i = 0; i < n; i++) line[i] = data[base + i * inner];
      const smoothed = smoothVariable(line, sigmas);
      for (let i = 0; i < n; i++) out[base + i * inner] = smoothed[i];
    }
  }
  return out;
}

/** σ_i linear in the checkpoint index from `start` to `end` (the spec's LR/LM schedules). */
export function linearSigmaSchedule(count: number, start: number, end: number): number[] {
  if (count === 1) return [start];
  return Array.from({ length: count }, (_, i) => start + ((end - start) * i) / (count - 1));
}
