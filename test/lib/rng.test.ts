import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rngStream } from '../../lib/rng.ts';

test('same (seed, stream, path) gives the same draws; any difference gives different ones', () => {
  const draw = (r: ReturnType<typeof rngStream>) => Array.from({ length: 5 }, () => r.next());
  assert.equal(draw(rngStream(3, 'train-data', 7)), draw(rngStream(3, 'train-data', 7)));
  const base = draw(rngStream(3, 'train-data', 7));
  for (const other of [rngStream(4, 'train-data', 7), rngStream(3, 'eval', 7), rngStream(3, 'train-data', 8), rngStream(3, 'train-data'), rngStream(3, 'train-data', 7, 0)]) {
    assert.not.equal(draw(other), base);
  }
});

test('uniforms lie in [0, 1) with mean ½ and variance 1/12', () => {
  const r = rngStream(0, 'test');
  const n = 200_000;
  let s = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    s += u; s2 += u * u;
  }
  // 5σ bounds: sd(mean) = √(1/12/n) ≈ 6.5e-4
  assert.ok(Math.abs(s / n - 0.5) < 3.3e-3);
  assert.ok(Math.abs(s2 / n - (s / n) ** 2 - 1 / 12) < 2e-3);
});

test('normals have mean 0, variance std², and Gaussian fourth moment 3', () => {
  const out = rngStream(1, 'test').fillNormal(new Float32Array(400_000), 2);
  let m1 = 0, m2 = 0, m4 = 0;
  for (const z of out) { m1 += z; m2 += z * z; m4 += z ** 4; }
  m1 /= out.length; m2 /= out.length; m4 /= out.length;
  assert.ok(Math.abs(m1) < 0.02, `mean ${m1}`); // sd 2/√n ≈ 0.003
  assert.ok(Math.abs(m2 - 4) < 0.05, `var ${m2}`);
  assert.ok(Math.abs(m4 / (m2 * m2) - 3) < 0.05, `kurtosis ${m4 / (m2 * m2)}`);
});

test('int(n) is uniform on 0..n−1', () => {
  const r = rngStream(2, 'test');
  const counts = new Array(7).fill(0);
  for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `count ${c}`); // sd ≈ 93
  assert.throws(() => r.int(0), /positive integer/);
});

test('bad seeds and paths are refused', () => {
  assert.throws(() => rngStream(1.5, 'x'), /seed must be a safe integer/);
  assert.throws(() => rngStream(1, 'x', NaN), /path\[0\]/);
});

test.run();
