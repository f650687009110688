import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { sgldChain, ShuffledBatches, type SgldTarget } from '../../lib/sgld.ts';
import { fromScale, toScale } from '../../lib/sgld-params.ts';
import { rngStream } from '../../lib/rng.ts';
import { rejects } from '../support/rejects.ts';
import { quadraticTarget, scalarTarget } from './llc-toys.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

test('fromScale/toScale: the paper config g=0.01, ℓ=0.001, s=3e-4 is ε=3e-4, nβ=66.67, γ=6.667', () => {
  const h = fromScale({ gradientScale: 0.01, localizationScale: 0.001, noiseScale: 3e-4 });
  assert.ok(Math.abs(h.eps - 3e-4) < 1e-15);
  assert.ok(Math.abs(h.nbeta - 200 / 3) < 1e-9);
  assert.ok(Math.abs(h.gamma - 20 / 3) < 1e-9);
  const back = toScale(h);
  assert.ok(Math.abs(back.gradientScale - 0.01) < 1e-15 && Math.abs(back.localizationScale - 0.001) < 1e-15);
  assert.throws(() => fromScale({ gradientScale: 1, localizationScale: 1, noiseScale: 0 }), /noiseScale/);
});

test('one chain follows w ← w − (ε/2)[nβ∇L + γ(w − w*)] + √ε ξ exactly, with ξ from the noise stream', async () => {
  // Quadratic centred at c, chain started at w* ≠ c, so both the gradient and the localisation act.
  const h = [2, 0.5, 3];
  const c = [1, -2, 0.5];
  const wStar = [0.3, 0.1, -0.4];
  const target = quadraticTarget(h, c, 0.25);
  target.variables[0].assign(tf.tensor1d(wStar));
  const o = { eps: 0.01, nbeta: 5, gamma: 7, burnin: 1, draws: 3 };
  const run = await sgldChain(target, { ...o, noise: rngStream(3, 'sgld', 0) });
  const noise = rngStream(3, 'sgld', 0);
  let w = [...wStar];
  for (let t = 0; t < 4; t++) {
    const expected = 0.25 + 0.5 * h.reduce((s, hi, i) => s + hi * (w[i] - c[i]) ** 2, 0);
    assert.ok(Math.abs(run.losses[t] - expected) < 1e-5 * expected, `step ${t}: ${run.losses[t]} vs ${expected}`);
    const xi = noise.fillNormal(new Float32Array(3), Math.sqrt(o.eps));
    w = w.map((wi, i) => wi - (o.eps / 2) * (o.nbeta * h[i] * (wi - c[i]) + o.gamma * (wi - wStar[i])) + xi[i]);
  }
  assert.is(run.steps, 4);
  assert.is(run.K, 1);
  assert.is(run.failed, false);
  // w* is restored so the next chain starts from the checkpoint again.
  const restored = Array.from(target.variables[0].dataSync());
  restored.forEach((v, i) => assert.ok(Math.abs(v - wStar[i]) < 1e-7));
});

test('same noise stream → identical chain; different stream → different chain', async () => {
  const target = quadraticTarget([1, 1], [0, 0], 0);
  const o = { eps: 0.05, nbeta: 10, gamma: 1, burnin: 0, draws: 20 };
  const a = await sgldChain(target, { ...o, noise: rngStream(1, 'sgld', 0) });
  const b = await sgldChain(target, { ...o, noise: rngStream(1, 'sgld', 0) });
  const c = await sgldChain(target, { ...o, noise: rngStream(1, 'sgld', 1) });
  assert.equal(Array.from(a.losses), Array.from(b.losses));
  assert.not.equal(Array.from(a.losses), Array.from(c.losses));
});

test('a diverging chain is marked failed with the step and draw index, not thrown', async () => {
  // εa/2 > 2 makes the linear recursion unstable: |1 − εa/2| > 1, so the loss grows to Inf.
  const target = quadraticTarget([1], [0], 0);
  const run = await sgldChain(target, { eps: 1, nbeta: 10, gamma: 0, burnin: 5, draws: 2000, noise: rngStream(0, 'sgld', 0) });
  assert.is(run.failed, true);
  assert.match(run.reason!, /non-finite minibatch loss at step \d+ \(draw \d+\)/);
  assert.ok(run.steps < 2005);
  assert.ok(!Number.isFinite(run.losses[run.steps - 1]));
  assert.is(target.variables[0].dataSync()[0], 0); // still restored
});

test('per-position losses are kept as a [steps, K] matrix', async () => {
  const w = tf.variable(tf.scalar(0));
  const target: SgldTarget = {
    variables: [w],
    lossAndGrads: (b) => ({ perPosition: Float32Array.of(b, 2 * b, 3 * b), grads: [tf.scalar(0)] }),
  };
  const run = await sgldChain(target, { eps: 1e-3, nbeta: 1, gamma: 0, burnin: 2, draws: 3, noise: rngStream(0, 'sgld', 0) });
  assert.is(run.K, 3);
  assert.equal(Array.from(run.losses), [0, 0, 0, 1, 2, 3, 2, 4, 6, 3, 6, 9, 4, 8, 12]);
});

test('abort signal stops the chain with its reason and restores w*', async () => {
  const controller = new AbortController();
  const w = tf.variable(tf.scalar(1));
  const target = scalarTarget([w], (b) => {
    if (b === 10) controller.abort(new Error('user cancelled'));
    return w.square() as tf.Scalar;
  });
  await rejects(
    () => sgldChain(target, { eps: 1e-3, nbeta: 1, gamma: 0, burnin: 0, draws: 100, noise: rngStream(0, 'x'), signal: controller.signal }),
    /user cancelled/,
  );
  assert.is(w.dataSync()[0], 1);
});

test('bad hyperparameters are refused naming the key', async () => {
  const target = quadraticTarget([1], [0], 0);
  const base = { eps: 1e-3, nbeta: 1, gamma: 0, burnin: 0, draws: 1, noise: rngStream(0, 'x') };
  await rejects(() => sgldChain(target, { ...base, eps: 0 }), /eps must be/);
  await rejects(() => sgldChain(target, { ...base, gamma: -1 }), /gamma must be/);
  await rejects(() => sgldChain(target, { ...base, draws: 0 }), /draws must be/);
  await rejects(() => sgldChain(target, { ...base, burnin: 1.5 }), /burnin must be/);
});

test('ShuffledBatches: each epoch is a permutation cut into ⌊n/m⌋ full batches; batch 0 restarts', () => {
  const batches = new ShuffledBatches(10, 3, rngStream(0, 'shuffle'));
  assert.is(batches.perEpoch, 3);
  for (let epoch = 0; epoch < 3; epoch++) {
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) for (const j of batches.batch(epoch * 3 + i)) seen.add(j);
    assert.is(seen.size, 9); // distinct within an epoch; one item left out
    assert.ok([...seen].every((j) => j >= 0 && j < 10));
  }
  assert.throws(() => batches.batch(20), /out of order/);
  assert.is(batches.batch(0).length, 3);
  assert.throws(() => new ShuffledBatches(2, 3, rngStream(0, 'x')), /batchSize \(3\) <= datasetSize \(2\)/);
});

test.run();
