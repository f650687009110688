// Weight statistics against direct computation, embedding spectra against matrices with known
// singular values, ICL scores and scaled inputs, and the stage-summary helpers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iclScores, scaledIclScore, scaledInputs } from '../../../lib/analysis/icl.ts';
import { attentionMovers, changeOver, valueAt } from '../../../lib/analysis/stage-summary.ts';
import { COLLAPSE_THRESHOLD, normalisedSpectrum, weightStats } from '../../../lib/analysis/weights.ts';
import { initParams, paramCount, PAPER_MODEL, type ModelConfig } from '../../../lib/model.ts';
import { rngStream } from '../../../lib/rng.ts';
import { sampleBatch } from '../../../lib/tasks.ts';

const PREFIX = 'token_sequence_transformer.';
const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('normalisedSpectrum: a matrix with known singular values', () => {
  // [[3, 0], [0, 4], [0, 0]]: σ = 4, 3 → σ²/Σσ² = 16/25, 9/25.
  const s = normalisedSpectrum([3, 0, 0, 4, 0, 0], 3, 2);
  assert.ok(close(s[0], 16 / 25) && close(s[1], 9 / 25), `${s}`);
  // Rank one: all the mass in one value.
  const r = normalisedSpectrum([1, 2, 2, 4, 3, 6], 3, 2);
  assert.ok(close(r[0], 1) && Math.abs(r[1]) < 1e-12);
});

test('weightStats: LN entries, collapse fractions and the effective unembedding, by direct computation', () => {
  const cfg: ModelConfig = PAPER_MODEL;
  const params = initParams(cfg, rngStream(0, 'init'));
  // Unembedding LN: γ_i = (i − 32)/100 (so |γ| < 0.1 for i in 23..41: 19 of 64), β_i = 0.01·i.
  const gamma = params[PREFIX + 'unembedding.0.weight'].data;
  const beta = params[PREFIX + 'unembedding.0.bias'].data;
  for (let i = 0; i < 64; i++) (gamma[i] = (i - 32) / 100), (beta[i] = 0.01 * i);
  const s = weightStats(cfg, params, 7);
  assert.is(s.step, 7);
  assert.equal(s.layerNorms.map((l) => l.name), ['block 1 pre-attention', 'block 1 pre-MLP', 'block 2 pre-attention', 'block 2 pre-MLP', 'unembedding']);
  const un = s.layerNorms[4];
  assert.equal(un.weight, Array.from(gamma));
  const expected = Array.from(gamma).filter((g) => Math.abs(g) < COLLAPSE_THRESHOLD).length / 64;
  assert.ok(close(un.weightCollapsed, expected));
  assert.ok(close(un.weightCollapsed, 19 / 64));
  // Every other LN is at its init (γ = 1): the overall fraction is 19 of 5·64.
  assert.ok(close(s.lnWeightCollapsed, 19 / 320));
  const W = params[PREFIX + 'unembedding.1.weight'].data;
  const b = params[PREFIX + 'unembedding.1.bias'].data;
  for (let i = 0; i < 64; i++) assert.ok(close(s.unembed.effectiveWeight[i], W[i] * gamma[i], 1e-6));
  let eb = b[0];
  for (let i = 0; i < 64; i++) eb += W[i] * beta[i];
  assert.ok(close(s.unembed.effectiveBias, eb, 1e-6));
  assert.is(s.tokenSpectrum.length, 5);
  assert.is(s.positionSpectrum.length, 16);
  assert.ok(close(s.tokenSpectrum.reduce((a, x) => a + x, 0), 1) && close(s.positionSpectrum.reduce((a, x) => a + x, 0), 1));
  let sq = 0;
  for (const t of Object.values(params)) for (const v of t.data) sq += v * v;
  assert.ok(close(s.weightNorm, Math.sqrt(sq)));
  assert.is(paramCount(cfg), 51717);
});

test('iclScores: the paper positions for K = 8 and the half/whole split otherwise', () => {
  const loss = [5, 4, 3, 2, 1.5, 1.2, 1.1, 1.0];
  const s = iclScores(loss);
  assert.equal(s.positions, [1, 4, 8]);
  assert.ok(close(s.early, 2 - 5) && close(s.late, 1.0 - 2));
  assert.ok(close(iclScores([3, 2, 1.5, 1]).late, 1 - 2));
  assert.ok(close(scaledIclScore(loss, 5), (1.0 - 5) / 5));
  assert.throws(() => iclScores([1]), /at least 2/);
});

test('scaledInputs: x ← g·x and y ← w·(g x) + the same noise', () => {
  const batch = sampleBatch({ D: 3, K: 4, noiseVariance: 0.25, M: 'inf' }, 6, rngStream(1, 'eval', 0));
  const s = scaledInputs(batch, 3, 4);
  assert.is(s.B, 4);
  for (let b = 0; b < 4; b++) {
    for (let k = 0; k < 4; k++) {
      let clean = 0;
      for (let d = 0; d < 3; d++) {
        assert.ok(close(s.xs[(b * 4 + k) * 3 + d], 3 * batch.xs[(b * 4 + k) * 3 + d], 1e-6));
        clean += batch.ws[b * 3 + d] * batch.xs[(b * 4 + k) * 3 + d];
      }
      const noise = batch.ys[b * 4 + k] - clean;
      assert.ok(close(s.ys[b * 4 + k], 3 * clean + noise, 1e-5));
    }
  }
  // g = 1 reproduces the batch.
  const same = scaledInputs(batch, 1);
  assert.ok(same.ys.every((y, i) => close(y, batch.ys[i], 1e-6)));
});

test('stage summary: nearest checkpoint in log time, changes over a stage, the attention mover', () => {
  const series = { steps: [0, 10, 100, 1000], values: [1, 2, 3, 4] };
  assert.is(valueAt(series, 120), 3);
  assert.is(valueAt(series, 700), 4);
  assert.equal(changeOver(series, { label: 'A', start: 10, end: 1000 }), { from: 2, to: 4, delta: 2 });
  // Two checkpoints, one layer, two heads, T = 3: head 1's x-token self-attention jumps 0.1 → 0.9.
  const zeros = () => [[[0, 0, 0], [0, 0, 0]]];
  const metric = (h1x: number) => [[[0, 0.2, 0.2], [0, 0.1, h1x]]];
  const values = { entropy: [zeros(), zeros()], variability: [zeros(), zeros()], distance: [zeros(), zeros()], self: [metric(0.1), metric(0.9)], prevToken: [zeros(), zeros()], xTokens: [zeros(), zeros()] };
  const [m] = attentionMovers([10, 100], values, [{ label: 'LR1', start: 10, end: 100 }]);
  assert.equal({ metric: m.metric, layer: m.layer, head: m.head, type: m.type }, { metric: 'self', layer: 0, head: 1, type: 'x' });
  assert.ok(close(m.delta, 0.8));
});

test.run();
