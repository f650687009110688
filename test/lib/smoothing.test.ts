import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  gaussianFilterVariable,
  gaussianKernel1d,
  kernelRadius,
  linearSigmaSchedule,
  smoothVariable,
} from '../../lib/smoothing.ts';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};

// Independent oracle: constant-σ filter by explicit reflect padding and convolution.
function constantFilter(x: number[], sigma: number): number[] {
  const r = kernelRadius(sigma);
  const k: number[] = [];
  for (let j = -r; j <= r; j++) k.push(Math.exp(-(j * j) / (2 * sigma * sigma)));
  const s = k.reduce((a, b) => a + b, 0);
  // Outward from x the blocks alternate mirrored, original, mirrored, … on both sides.
  const mirrored = [...x].reverse();
  let padded = [...x];
  for (let b = 0; padded.length < x.length + 2 * r; b++) {
    const block = b % 2 === 0 ? mirrored : x;
    padded = [...block, ...padded, ...block];
  }
  const offset = (padded.length - x.length) / 2;
  return x.map((_, i) => k.reduce((acc, kj, jj) => acc + (kj / s) * padded[offset + i + jj - r], 0));
}

test('order-0 kernel sums to 1 and is symmetric', () => {
  for (const sigma of [0.3, 1, 2.5, 7]) {
    const k = gaussianKernel1d(sigma, 0, kernelRadius(sigma));
    assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    for (let i = 0; i < k.length; i++) assert.ok(Math.abs(k[i] - k[k.length - 1 - i]) < 1e-15);
  }
});

test('order-1 kernel is antisymmetric and has first moment −1 (derivative of a ramp is 1)', () => {
  const sigma = 2;
  const k = gaussianKernel1d(sigma, 1, kernelRadius(sigma));
  const r = (k.length - 1) / 2;
  for (let i = 0; i < k.length; i++) assert.ok(Math.abs(k[i] + k[k.length - 1 - i]) < 1e-15);
  // correlation of the ramp x with k gives Σ k_j·j, which must be the slope −(−1)·… = −1 for scipy's kernel
  const moment = k.reduce((acc, kj, i) => acc + kj * (i - r), 0);
  assert.ok(Math.abs(moment + 1) < 1e-3, `first moment ${moment}`);
});

test('negative or fractional order is an error naming the order', () => {
  assert.throws(() => gaussianKernel1d(1, -1, 4), /order must be a non-negative integer, got -1/);
  assert.throws(() => gaussianKernel1d(1, 0.5, 4), /order/);
});

test('sigma array whose length does not match the axis is an error', () => {
  assert.throws(() => smoothVariable([1, 2, 3], [1, 1]), /sigmas has length 2, expected one per sample \(3\)/);
  assert.throws(() => gaussianFilterVariable(new Float64Array(20), [2, 10], -1, [1, 1]), /expected shape\[1\] = 10/);
  assert.throws(() => gaussianFilterVariable(new Float64Array(20), [2, 10], 0, [1, 1, 1]), /expected shape\[0\] = 2/);
});

test('matches scipy.ndimage.gaussian_filter1d known values (reflect mode)', () => {
  // Values from scipy's documentation of gaussian_filter1d.
  close(smoothVariable([1, 2, 3, 4, 5], [1, 1, 1, 1, 1]), [1.42704095, 2.06782203, 3, 3.93217797, 4.57295905], 1e-8, 'σ=1');
  close(smoothVariable([1, 2, 3, 4, 5], [4, 4, 4, 4, 4]), [2.91948343, 2.95023502, 3, 3.04976498, 3.08051657], 1e-8, 'σ=4');
});

test('constant σ equals the constant-σ filter (independent oracle), including kernels wider than the data', () => {
  const x = Array.from({ length: 23 }, (_, i) => Math.sin(i * 0.7) + 0.1 * i * i);
  for (const sigma of [0.5, 1.7, 4, 9]) {
    close(smoothVariable(x, new Array(x.length).fill(sigma)), constantFilter(x, sigma), 1e-12, `σ=${sigma}`);
  }
});

test('variable σ takes each sample from the filter with its own σ; σ=0 is identity', () => {
  const x = Array.from({ length: 30 }, (_, i) => Math.cos(i / 3) * (1 + i));
  const sigmas = linearSigmaSchedule(30, 0, 5);
  const out = smoothVariable(x, sigmas);
  assert.is(out[0], x[0]);
  for (const i of [5, 17, 29]) {
    assert.ok(Math.abs(out[i] - constantFilter(x, sigmas[i])[i]) < 1e-12, `sample ${i}`);
  }
});

test('along axis −1 of a (2, 10) array each row is filtered (the original notebook quirk does not apply)', () => {
  const rows = [Array.from({ length: 10 }, (_, i) => i * i), Array.from({ length: 10 }, (_, i) => (i % 3) - 1)];
  const out = gaussianFilterVariable(rows.flat(), [2, 10], -1, new Array(10).fill(0.5));
  close(out.subarray(0, 10), constantFilter(rows[0], 0.5), 1e-12, 'row 0');
  close(out.subarray(10, 20), constantFilter(rows[1], 0.5), 1e-12, 'row 1');
});

test('along axis 0 of a (T, c) trajectory each column is filtered', () => {
  const T = 12;
  const col0 = Array.from({ length: T }, (_, i) => Math.sqrt(i));
  const col1 = Array.from({ length: T }, (_, i) => -i);
  const flat = col0.flatMap((v, i) => [v, col1[i]]);
  const out = gaussianFilterVariable(flat, [T, 2], 0, new Array(T).fill(2));
  close(Array.from({ length: T }, (_, i) => out[2 * i]), constantFilter(col0, 2), 1e-12, 'col 0');
  close(Array.from({ length: T }, (_, i) => out[2 * i + 1]), constantFilter(col1, 2), 1e-12, 'col 1');
});

test('linear σ schedule hits both endpoints', () => {
  assert.equal(linearSigmaSchedule(5, 1, 3), [1, 1.5, 2, 2.5, 3]);
  assert.equal(linearSigmaSchedule(1, 2, 9), [2]);
});

test.run();
