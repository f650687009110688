import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rngStream } from '../../lib/rng.ts';
import { decodeTokens, encodeTokens, sampleBatch, sampleTaskSet, taskMean } from '../../lib/tasks.ts';

const gaussian = { D: 4, K: 8, noiseVariance: 0.125, M: 'inf' as const };

test('shapes: xs [B, K, D], ys [B, K], ws [B, D]', () => {
  const b = sampleBatch(gaussian, 3, rngStream(0, 't'));
  assert.is(b.xs.length, 3 * 8 * 4);
  assert.is(b.ys.length, 3 * 8);
  assert.is(b.ws.length, 3 * 4);
});

test('singleton task with w = 0, σ² = 0 gives ys exactly 0', () => {
  const b = sampleBatch({ ...gaussian, noiseVariance: 0 }, 16, rngStream(0, 't'), new Float32Array(4));
  assert.ok(b.ys.every((y) => y === 0));
  assert.ok(b.ws.every((w) => w === 0));
});

test('w = 1 and σ² = 0: y = Σ_i x_i; w = (0, 1, …, D−1): y = w·x', () => {
  for (const w of [[1, 1, 1, 1], [0, 1, 2, 3]]) {
    const b = sampleBatch({ ...gaussian, noiseVariance: 0 }, 32, rngStream(1, 't'), Float32Array.from(w));
    for (let n = 0; n < 32 * 8; n++) {
      const expect = w.reduce((s, wi, i) => s + wi * b.xs[n * 4 + i], 0);
      assert.ok(Math.abs(b.ys[n] - expect) < 1e-4);
    }
  }
});

test('w = 0, σ² = 4: noise has mean 0 and variance 4 (±0.01 over 1024·4096 samples)', () => {
  const b = sampleBatch({ D: 1, K: 4096, noiseVariance: 4, M: 'inf' }, 1024, rngStream(2, 't'), new Float32Array(1));
  let m = 0, v = 0;
  for (const y of b.ys) m += y;
  m /= b.ys.length;
  for (const y of b.ys) v += (y - m) ** 2;
  v /= b.ys.length;
  assert.ok(Math.abs(m) < 0.01, `mean ${m}`);
  assert.ok(Math.abs(v - 4) < 0.01, `variance ${v}`);
});

test('discrete prior: every task is one of the stored tasks, all get used', () => {
  const tasks = sampleTaskSet(5, 4, rngStream(0, 'task-set'));
  const b = sampleBatch({ ...gaussian, M: 5 }, 500, rngStream(0, 't'), tasks);
  const used = new Set<number>();
  for (let n = 0; n < 500; n++) {
    const m = [0, 1, 2, 3, 4].find((m) => [0, 1, 2, 3].every((i) => b.ws[n * 4 + i] === tasks[m * 4 + i]));
    assert.ok(m !== undefined);
    used.add(m!);
  }
  assert.is(used.size, 5);
});

test('Gaussian prior: E[y²] = D + σ² = 4.125 (the zero predictor\'s MSE)', () => {
  const b = sampleBatch(gaussian, 20_000, rngStream(3, 't'));
  let s = 0;
  for (const y of b.ys) s += y * y;
  // sd of the mean of y² ≈ √2·4.125/√160000 ≈ 0.015 (ignoring within-sequence correlation; 5σ band)
  assert.ok(Math.abs(s / b.ys.length - 4.125) < 0.12, `E[y²] ${s / b.ys.length}`);
});

test('token encoding: D = 3, x = (1,2,3), y = 1 gives [0,1,2,3] and [1,0,0,0]; decode inverts it', () => {
  const tokens = encodeTokens(Float32Array.from([1, 2, 3]), Float32Array.from([1]), 1, 1, 3);
  assert.equal(Array.from(tokens), [0, 1, 2, 3, 1, 0, 0, 0]);
  const b = sampleBatch(gaussian, 5, rngStream(4, 't'));
  const back = decodeTokens(encodeTokens(b.xs, b.ys, 5, 8, 4), 5, 8, 4);
  assert.equal(back.xs, b.xs);
  assert.equal(back.ys, b.ys);
});

test('task mean and bad inputs', () => {
  assert.equal(Array.from(taskMean(Float32Array.from([1, 2, 3, 6]), 2)), [2, 4]);
  assert.throws(() => sampleBatch(gaussian, 2, rngStream(0, 't'), new Float32Array(3)), /taskSet must have shape \[M, 4\]/);
  assert.throws(() => sampleBatch(gaussian, 0, rngStream(0, 't')), /B must be a positive integer/);
});

test.run();
