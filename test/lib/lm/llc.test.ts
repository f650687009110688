// The LM LLC path (lib/lm/llc.ts → sgldChainArrays → estimateLlc) on models with known learning
// coefficients, and the array sampler against the tfjs one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { datasetLoss, lmSgldChain, paperBiasedL0s, type RowsLossAndGrad, type TokenRows } from '../../../lib/lm/llc.ts';
import { estimateLlc } from '../../../lib/llc.ts';
import { rngStream } from '../../../lib/rng.ts';
import { sgldChain, sgldChainArrays, type ChainRun } from '../../../lib/sgld.ts';
import { quadraticExactLlc, quadraticTarget } from '../llc-toys.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

test('sgldChainArrays takes the same steps as the tfjs sampler (same noise stream, same update)', async () => {
  const h = [2, 0.5, 3];
  const c = [1, -2, 0.5];
  const wStar = [0.3, 0.1, -0.4];
  const o = { eps: 0.01, nbeta: 5, gamma: 7, burnin: 2, draws: 30 };
  const tfTarget = quadraticTarget(h, c, 0.25);
  tfTarget.variables[0].assign(tf.tensor1d(wStar));
  const viaTf = await sgldChain(tfTarget, { ...o, noise: rngStream(3, 'sgld', 0) });
  const w = Float32Array.from(wStar);
  const viaArrays = await sgldChainArrays(
    {
      params: [w],
      lossAndGrads: () => ({
        perPosition: Float32Array.of(0.25 + 0.5 * h.reduce((s, hi, i) => s + hi * (w[i] - c[i]) ** 2, 0)),
        grads: [Float32Array.from(h.map((hi, i) => hi * (w[i] - c[i])))],
      }),
    },
    { ...o, noise: rngStream(3, 'sgld', 0) },
  );
  assert.is(viaArrays.steps, 32);
  viaArrays.losses.forEach((l, t) => assert.ok(Math.abs(l - viaTf.losses[t]) < 1e-5 * Math.abs(l), `step ${t}: ${l} vs ${viaTf.losses[t]}`));
  // w* is restored in place.
  assert.equal(Array.from(w), Array.from(Float32Array.from(wStar)));
});

test('a diverging array chain is marked failed, not thrown', async () => {
  const w = Float32Array.of(1);
  const run = await sgldChainArrays(
    { params: [w], lossAndGrads: () => ({ perPosition: Float32Array.of(0.5 * w[0] * w[0]), grads: [Float32Array.of(w[0])] }) },
    { eps: 1, nbeta: 10, gamma: 0, burnin: 0, draws: 2000, noise: rngStream(0, 'sgld', 0) },
  );
  assert.ok(run.failed);
  assert.match(run.reason!, /non-finite minibatch loss at step \d+ \(draw \d+\)/);
  assert.is(w[0], 1);
});

test('LM chain on a quadratic "model" (tokens ignored): exact discretised λ̂ within 3%', async () => {
  const h = Array.from({ length: 40 }, (_, i) => 2 ** (i % 5));
  const c = h.map((_, i) => Math.sin(i));
  const params = [Float32Array.from(c)];
  const w = params[0];
  const loss = () => 1 + 0.5 * h.reduce((s, hi, i) => s + hi * (w[i] - c[i]) ** 2, 0);
  const lossAndGrad: RowsLossAndGrad = () => ({ loss: loss(), grads: [Float32Array.from(h.map((hi, i) => hi * (w[i] - c[i])))] });
  const data: TokenRows = { rows: new Int32Array(64 * 4), n: 64, T: 4 };
  const sampler = { eps: 2e-3, nbeta: 20, gamma: 5, burnin: 200, draws: 2000 };
  // Chains share the parameter arrays (each restores w* when done): run them one after another.
  const runs: ChainRun[] = [];
  for (const ch of [0, 1, 2]) runs.push(await lmSgldChain(params, lossAndGrad, data, 16, rngStream(0, 'batches', ch), { ...sampler, noise: rngStream(0, 'sgld', ch) }));
  const L0 = datasetLoss(() => loss(), data, 16);
  assert.ok(Math.abs(L0 - 1) < 1e-9);
  const est = estimateLlc(runs, [L0], sampler.nbeta);
  const exact = quadraticExactLlc(h, sampler.eps, sampler.nbeta, sampler.gamma);
  assert.ok(Math.abs(est.llcMean - exact) < 0.03 * exact, `λ̂ ${est.llcMean} vs exact ${exact}`);
});

/**
 * A bigram language model: logits of the next token = W[prev] (V×V parameters). The softmax is
 * unchanged by adding a constant to a row, so each row has V − 1 identifiable directions: with every
 * bigram observed the model is regular in those, and λ = V(V − 1)/2.
 */
function bigramModel(V: number, W: Float32Array): RowsLossAndGrad {
  return (tokens, B) => {
    const T = tokens.length / B;
    const g = new Float32Array(V * V);
    const p = new Float64Array(V);
    let loss = 0;
    const N = B * (T - 1);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + 1 < T; t++) {
        const prev = tokens[b * T + t];
        const next = tokens[b * T + t + 1];
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, W[prev * V + v]);
        let z = 0;
        for (let v = 0; v < V; v++) z += (p[v] = Math.exp(W[prev * V + v] - max));
        loss += Math.log(z) + max - W[prev * V + next];
        for (let v = 0; v < V; v++) g[prev * V + v] += (p[v] / z - (v === next ? 1 : 0)) / N;
      }
    }
    return { loss: loss / N, grads: [g] };
  };
}

test('LM chain on a regular token model (bigram softmax, V = 3): λ̂ ≈ V(V − 1)/2 = 3 within 10%', async () => {
  const V = 3, n = 50, T = 41;
  // Tokens from a full-support Markov chain; w* = log of the empirical conditional frequencies (the MLE).
  const P = [[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]];
  const rng = rngStream(7, 'toy');
  const rows = new Int32Array(n * T);
  for (let b = 0; b < n; b++) {
    rows[b * T] = rng.int(V);
    for (let t = 1; t < T; t++) {
      const u = rng.next();
      const row = P[rows[b * T + t - 1]];
      rows[b * T + t] = u < row[0] ? 0 : u < row[0] + row[1] ? 1 : 2;
    }
  }
  const counts = new Float64Array(V * V);
  for (let b = 0; b < n; b++) for (let t = 0; t + 1 < T; t++) counts[rows[b * T + t] * V + rows[b * T + t + 1]]++;
  const W = Float32Array.from(counts, (c, i) => Math.log(c / counts.slice(Math.floor(i / V) * V, Math.floor(i / V) * V + V).reduce((a, x) => a + x, 0)));
  const model = bigramModel(V, W);
  const data: TokenRows = { rows, n, T };
  // At the MLE the full-batch gradient vanishes.
  assert.ok(model(rows, n).grads[0].every((g) => Math.abs(g) < 1e-6));
  const L0 = datasetLoss((tok, B) => model(tok, B).loss, data, 10);
  const sampler = { eps: 2e-3, nbeta: 300, gamma: 0.1, burnin: 300, draws: 3000 };
  const runs: ChainRun[] = [];
  for (const ch of [0, 1, 2, 3]) runs.push(await lmSgldChain([W], model, data, n, rngStream(1, 'batches', ch), { ...sampler, noise: rngStream(1, 'sgld', ch) }));
  const est = estimateLlc(runs, [L0], sampler.nbeta);
  assert.is(est.healthyChains, 4);
  assert.ok(Math.abs(est.llcMean - 3) < 0.3, `λ̂ ${est.llcMean} ± ${est.llcStd} vs 3`);
  console.log(`  bigram-softmax model: λ̂ = ${est.llcMean.toFixed(3)} ± ${est.llcStd.toFixed(3)} (truth 3)`);
  // Without the tempering factor the same draws give ≈ 3/nβ: the check resolves a missing nβ.
  assert.ok(Math.abs(estimateLlc(runs, [L0], 1).llcMean - 3) > 0.3);
});

test('paperBiasedL0s: chain c uses (Σ_{c′≤c} first losses)/C — the original notebook\'s running mean', () => {
  const run = (first: number) => ({ losses: Float32Array.of(first, 9, 9), K: 1, steps: 3, burnin: 0, failed: false });
  const got = paperBiasedL0s([run(4), run(4), run(4), run(4)]);
  assert.equal(got, [1, 2, 3, 4]);
  // With L(w*) = 4 the bias is nβ·(4 − L0_c): mean over chains nβ·4·(1 − (C+1)/(2C)) = nβ·1.5 here.
  const bias = got.reduce((s, l0) => s + (4 - l0), 0) / 4;
  assert.is(bias, 1.5);
});

test.run();
