// Attention metrics on hand-built attention matrices with known values, and the model's attention
// probabilities against the float64 PyTorch oracle (tools/oracle/hessian_oracle.py).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { attentionMetrics, leadingBlock, positionsOfType } from '../../../lib/analysis/attention.ts';
import { Transformer } from '../../../lib/model.ts';
import { fixture, oracleParams, oracleXs, oracleYs } from '../oracle-fixture.ts';
import { initBackend } from '../../../lib/backend.ts';

test.before(async () => {
  await initBackend();
});

const close = (a: number, b: number, tol = 1e-12) => Math.abs(a - b) <= tol;

/** [B, T, T] from one [T][T] pattern per sequence. */
const stack = (patterns: number[][][]) => Float64Array.from(patterns.flat(2));

test('uniform causal attention: entropy 1, distance i/2·… , no variability', () => {
  const T = 4;
  const uniform = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (j <= i ? 1 / (i + 1) : 0)));
  const m = attentionMetrics(stack([uniform, uniform]), 2, T);
  for (let i = 0; i < T; i++) {
    assert.ok(close(m.entropy[i], i === 0 ? 0 : 1), `entropy ${i}: ${m.entropy[i]}`);
    assert.ok(close(m.variability[i], 0));
    // Σ_j j/(i+1) over j ≤ i, divided by i + 1: i/(2(i+1)).
    assert.ok(close(m.distance[i], i / (2 * (i + 1))), `distance ${i}`);
    assert.ok(close(m.self[i], 1 / (i + 1)));
    assert.ok(close(m.prevToken[i], i === 0 ? 0 : 1 / (i + 1)));
    // Even keys among 0..i: ⌊i/2⌋ + 1 of i + 1.
    assert.ok(close(m.xTokens[i], (Math.floor(i / 2) + 1) / (i + 1)));
  }
});

test('one-hot patterns: self, previous-token and x-token attention; entropy 0', () => {
  const T = 5;
  const selfPattern = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (j === i ? 1 : 0)));
  const prevPattern = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (j === Math.max(0, i - 1) ? 1 : 0)));
  const s = attentionMetrics(stack([selfPattern]), 1, T);
  const p = attentionMetrics(stack([prevPattern]), 1, T);
  for (let i = 0; i < T; i++) {
    assert.ok(close(s.entropy[i], 0) && close(p.entropy[i], 0));
    assert.ok(close(s.self[i], 1));
    assert.ok(close(p.prevToken[i], i === 0 ? 0 : 1));
    assert.ok(close(s.xTokens[i], i % 2 === 0 ? 1 : 0));
    assert.ok(close(s.distance[i], i / (i + 1)));
  }
});

test('variability: disjoint patterns across the batch give 1, a two-key split gives its half-L1 distance', () => {
  const T = 2;
  // Query 1: sequence A attends key 0, sequence B key 1 → mean pattern (½, ½); Σ|a − ā| = 1 per sequence → 1/(2·1) = ½.
  const a = [[1, 0], [1, 0]];
  const b = [[1, 0], [0, 1]];
  const m = attentionMetrics(stack([a, b]), 2, T);
  assert.ok(close(m.variability[1], 0.5), `${m.variability[1]}`);
  // Entropy of a 30/70 split over 2 keys, normalised by log₂ 2 = 1.
  const c = [[1, 0], [0.3, 0.7]];
  const e = attentionMetrics(stack([c]), 1, T);
  assert.ok(close(e.entropy[1], -(0.3 * Math.log2(0.3) + 0.7 * Math.log2(0.7))));
});

test('leadingBlock drops the last row and column; positionsOfType splits x and y tokens', () => {
  const a = Float64Array.from({ length: 2 * 9 }, (_, i) => i);
  assert.equal(Array.from(leadingBlock(a, 2, 3, 2)), [0, 1, 3, 4, 9, 10, 12, 13]);
  assert.equal(positionsOfType('x', 5), [0, 2, 4]);
  assert.equal(positionsOfType('y', 5), [1, 3]);
  assert.throws(() => attentionMetrics(new Float64Array(5), 1, 2), /B·T·T = 4/);
});


test('Transformer.attentionProbs matches the float64 PyTorch oracle', () => {
  const oracle = JSON.parse(readFileSync(new URL('../../fixtures/analysis-oracle.json', import.meta.url), 'utf8')) as { attention: number[][][][][] };
  const model = new Transformer(fixture.config, oracleParams);
  try {
    const probs = model.attentionProbs(oracleXs, oracleYs, fixture.batch.B);
    assert.is(probs.length, fixture.config.layers);
    const expected = oracle.attention.map((layer) => layer.flat(3));
    let worst = 0;
    probs.forEach((p, l) => {
      assert.is(p.length, expected[l].length);
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - expected[l][i]));
    });
    assert.ok(worst < 2e-5, `max |Δ| = ${worst}`);
  } finally {
    model.dispose();
  }
});

test.run();
