import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constantWeights, dmmseWeights, mean, mseByPosition, predictWithWeights, ridgeWeights } from '../../lib/baselines.ts';
import { rngStream } from '../../lib/rng.ts';
import { sampleBatch, sampleTaskSet, taskMean } from '../../lib/tasks.ts';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('dMMSE: the first prediction is the task mean for every sequence', () => {
  const tasks = sampleTaskSet(16, 4, rngStream(0, 'task-set'));
  const s = sampleBatch({ D: 4, K: 1, noiseVariance: 0.25, M: 16 }, 256, rngStream(0, 'b'), tasks);
  const w = dmmseWeights(s, tasks, 0.25);
  const tbar = taskMean(tasks, 4);
  for (let b = 0; b < 256; b++) assert.ok(maxAbsDiff(w.subarray(b * 4, b * 4 + 4), tbar) < 1e-6);
});

test('dMMSE equals an explicit double loop of Σ exp(−L_i/2σ²) t_i / Σ exp(−L_l/2σ²)', () => {
  const [B, K, D, M, s2] = [256, 2, 4, 8, 0.25];
  const tasks = sampleTaskSet(M, D, rngStream(1, 'task-set'));
  const s = sampleBatch({ D, K, noiseVariance: s2, M }, B, rngStream(1, 'b'), tasks);
  const w = dmmseWeights(s, tasks, s2);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const numer = new Array(D).fill(0);
      let denom = 0;
      for (let i = 0; i < M; i++) {
        let L = 0;
        for (let j = 0; j < k; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += tasks[i * D + d] * s.xs[(b * K + j) * D + d];
          L += (s.ys[b * K + j] - dot) ** 2;
        }
        const e = Math.exp(-L / (2 * s2));
        denom += e;
        for (let d = 0; d < D; d++) numer[d] += e * tasks[i * D + d];
      }
      for (let d = 0; d < D; d++) assert.ok(Math.abs(w[(b * K + k) * D + d] - numer[d] / denom) < 1e-5);
    }
  }
});

test('dMMSE with M = 1 returns the single task at every k', () => {
  const tasks = sampleTaskSet(1, 4, rngStream(2, 'task-set'));
  const s = sampleBatch({ D: 4, K: 8, noiseVariance: 0.125, M: 1 }, 32, rngStream(2, 'b'), tasks);
  const w = dmmseWeights(s, tasks, 0.125);
  for (let bk = 0; bk < 32 * 8; bk++) for (let d = 0; d < 4; d++) assert.ok(Math.abs(w[bk * 4 + d] - tasks[d]) < 1e-12);
});

test('dMMSE concentrates on the generating task as the context grows', () => {
  const tasks = sampleTaskSet(64, 4, rngStream(3, 'task-set'));
  const s = sampleBatch({ D: 4, K: 16, noiseVariance: 0.125, M: 64 }, 64, rngStream(3, 'b'), tasks);
  const w = dmmseWeights(s, tasks, 0.125);
  const errAt = (k: number) => {
    let err = 0;
    for (let b = 0; b < 64; b++) err += maxAbsDiff(w.subarray((b * 16 + k) * 4, (b * 16 + k + 1) * 4), s.ws.subarray(b * 4, b * 4 + 4));
    return err / 64;
  };
  assert.ok(errAt(15) < errAt(0) / 20, `mean error ${errAt(0)} at k = 0, ${errAt(15)} at k = 15`);
});

test('ridge: ŵ_0 = 0; ŵ_1 = (x xᵀ + σ²I)⁻¹ x y (Sherman–Morrison: x y/(|x|² + σ²))', () => {
  const s = sampleBatch({ D: 4, K: 2, noiseVariance: 0.25, M: 'inf' }, 64, rngStream(4, 'b'));
  const w = ridgeWeights(s, 0.25);
  for (let b = 0; b < 64; b++) {
    for (let d = 0; d < 4; d++) assert.is(w[(b * 2) * 4 + d], 0);
    const x = s.xs.subarray(b * 8, b * 8 + 4);
    const y = s.ys[b * 2];
    const nx2 = x.reduce((a, v) => a + v * v, 0);
    for (let d = 0; d < 4; d++) assert.ok(Math.abs(w[(b * 2 + 1) * 4 + d] - (x[d] * y) / (nx2 + 0.25)) < 1e-5);
  }
});

test('ridge satisfies the normal equations (XᵀX + σ²I) ŵ = Xᵀy at every prefix', () => {
  const [B, K, D, s2] = [16, 8, 4, 0.125];
  const s = sampleBatch({ D, K, noiseVariance: s2, M: 'inf' }, B, rngStream(5, 'b'));
  const w = ridgeWeights(s, s2);
  for (let b = 0; b < B; b++) {
    for (let k = 1; k < K; k++) {
      const wk = w.subarray((b * K + k) * D, (b * K + k + 1) * D);
      for (let i = 0; i < D; i++) {
        let lhs = s2 * wk[i], rhs = 0;
        for (let j = 0; j < k; j++) {
          const x = s.xs.subarray((b * K + j) * D, (b * K + j + 1) * D);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += x[d] * wk[d];
          lhs += x[i] * dot;
          rhs += x[i] * s.ys[b * K + j];
        }
        assert.ok(Math.abs(lhs - rhs) < 1e-9 * (1 + Math.abs(rhs)));
      }
    }
  }
});

test('ridge MSE per position matches the Bayes-risk table (Monte Carlo, D = 4, σ² = 0.125)', () => {
  const table = [4.125, 3.178, 2.28, 1.487, 0.895, 0.574, 0.41, 0.322];
  const B = 40_000;
  const s = sampleBatch({ D: 4, K: 8, noiseVariance: 0.125, M: 'inf' }, B, rngStream(6, 'b'));
  const mse = mseByPosition(predictWithWeights(s, ridgeWeights(s, 0.125)), s.ys, B, 8);
  // sd of each estimate ≤ ≈ 1.5·value/√B; tolerance ≈ 4σ at k = 1
  mse.forEach((m, k) => assert.ok(Math.abs(m - table[k]) < 0.035 * table[k] + 0.004, `k=${k}: ${m} vs ${table[k]}`));
  assert.ok(Math.abs(mean(mse) - 1.659) < 0.03);
});

test('task-average predictor and bad inputs', () => {
  const s = sampleBatch({ D: 2, K: 3, noiseVariance: 0.1, M: 'inf' }, 4, rngStream(7, 'b'));
  const p = predictWithWeights(s, constantWeights(s, [1, -1]));
  for (let n = 0; n < 12; n++) assert.ok(Math.abs(p[n] - (s.xs[n * 2] - s.xs[n * 2 + 1])) < 1e-6);
  assert.throws(() => dmmseWeights(s, new Float32Array(3), 0.1), /tasks must have shape \[M, 2\]/);
  assert.throws(() => ridgeWeights(s, 0), /noiseVariance must be > 0/);
});

test.run();
