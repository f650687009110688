// The language-model evaluations on hand-built inputs with known answers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bigramCrossEntropy,
  bigramEntropy,
  bigramScore,
  bigramTable,
  headScores,
  iclPositions,
  iclScore,
  kComposition,
  kCompositionGrid,
  ngramLoss,
  ngramStrings,
  perPositionLoss,
  prefixMatchingProbes,
  previousTokenProbes,
  samplePositions,
  frequentWords,
  type HeadWeights,
} from '../../../lib/lm/evals.ts';
import { rngStream } from '../../../lib/rng.ts';

const close = (a: number, b: number, tol = 1e-9, what = '') => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what} ${a} vs ${b}`);

test('perPositionLoss: uniform logits give ln V everywhere; a confident correct prediction gives ≈ 0', () => {
  const B = 2, T = 4, V = 5;
  const tokens = Int32Array.from([0, 1, 2, 3, 0, 4, 4, 1]);
  const flat = perPositionLoss(new Float32Array(B * T * V), tokens, B, T, V);
  assert.is(flat.length, T - 1);
  flat.forEach((l) => close(l, Math.log(V), 1e-7));
  // Logit 20 on the true next token: loss = log(1 + 4e^-20) ≈ 4e^-20·… ≈ 8e-9.
  const logits = new Float32Array(B * T * V);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) logits[(b * T + t) * V + tokens[b * T + t + 1]] = 20;
  perPositionLoss(logits, tokens, B, T, V).forEach((l) => close(l, Math.log(1 + 4 * Math.exp(-20)), 1e-6));
  // Position 1 right, position 0 uniform in one row only: averages over rows.
  const mixed = new Float32Array(B * T * V);
  mixed[(0 * T + 1) * V + tokens[2]] = 1000;
  const pp = perPositionLoss(mixed, tokens, B, T, V);
  close(pp[1], Math.log(V) / 2, 1e-6);
  assert.throws(() => perPositionLoss(new Float32Array(3), tokens, B, T, V), /expected B·T·V/);
});

test('bigram table and entropy on a toy corpus, counted by hand', () => {
  // Rows (no pair crosses a row): 0 1 2 1 | 0 1 1 2. Pairs: 0→1 ×2, 1→2 ×2, 2→1, 1→1.
  const rows = Int32Array.from([0, 1, 2, 1, 0, 1, 1, 2]);
  const t = bigramTable(rows, 2, 4, 3);
  assert.equal(Array.from(t.count), [2, 3, 1]);
  // P(·|1) = {1: 1/3, 2: 2/3}; P(·|0) = {1: 1}; P(·|2) = {1: 1}.
  assert.equal(Array.from(t.next.subarray(t.rowStart[1], t.rowStart[2])), [1, 2]);
  close(t.prob[t.rowStart[1]], 1 / 3);
  close(t.prob[t.rowStart[1] + 1], 2 / 3);
  close(t.entropy[0], 0);
  close(t.entropy[1], -(1 / 3) * Math.log(1 / 3) - (2 / 3) * Math.log(2 / 3));
  // The row boundary 1 | 0 is not a pair: 1 → 0 never appears.
  assert.not.ok(Array.from(t.next.subarray(t.rowStart[1], t.rowStart[2])).includes(0));
  // Entropy baseline over positions [1, 2] of the two rows: prev tokens 1 and 1.
  close(bigramEntropy(t, rows, 4, [1, 2]), t.entropy[1]);
  assert.throws(() => bigramTable(Int32Array.from([0, 5]), 1, 2, 3), /out of range/);
});

test('bigram score closed form: −Σ p log q = H(p) + KL(p‖q); logits = log p give exactly the entropy', () => {
  const rows = Int32Array.from([0, 1, 2, 1, 0, 1, 1, 2]);
  const t = bigramTable(rows, 2, 4, 3);
  const p = [0, 1 / 3, 2 / 3]; // P(·|1)
  const exact = Float32Array.from(p.map((x) => (x > 0 ? Math.log(x) : -30)));
  close(bigramCrossEntropy(t, 1, exact), t.entropy[1], 1e-6);
  // Uniform model: −Σ p log(1/3) = ln 3.
  close(bigramCrossEntropy(t, 1, new Float32Array(3)), Math.log(3), 1e-7);
  // q = (0.2, 0.3, 0.5): −(1/3) ln 0.3 − (2/3) ln 0.5.
  const q = Float32Array.from([0.2, 0.3, 0.5].map(Math.log));
  close(bigramCrossEntropy(t, 1, q), -(1 / 3) * Math.log(0.3) - (2 / 3) * Math.log(0.5), 1e-6);
  // Over a batch: rows' sampled positions read the logits at that position.
  const B = 2, T = 4, V = 3;
  const logits = new Float32Array(B * T * V);
  logits.set(q, (0 * T + 1) * V); // row 0, position 1 (prev token 1): the q model
  const { score, used } = bigramScore(t, logits, rows, B, T, [1, 3]); // row 1, pos 3 = token 2: uniform
  assert.is(used, 2);
  close(score, (-(1 / 3) * Math.log(0.3) - (2 / 3) * Math.log(0.5) + Math.log(3)) / 2, 1e-6);
  assert.throws(() => bigramCrossEntropy(bigramTable(Int32Array.from([0, 0]), 1, 2, 3), 2, q), /never occurs/);
});

test('ngramLoss reads the logits at position n − 1 against token n; uniform → ln V', () => {
  const V = 4, n = 3, B = 2, T = n + 1;
  const inputs = Int32Array.from([3, 0, 1, 2, 3, 2, 2, 1]);
  close(ngramLoss(new Float32Array(B * T * V), inputs, B, n, V), Math.log(V), 1e-7);
  const logits = new Float32Array(B * T * V);
  logits[(0 * T + 2) * V + 2] = 1000; // row 0 certain of its last token; row 1 uniform
  logits[(1 * T + 1) * V + 0] = 1000; // a confident prediction elsewhere changes nothing
  close(ngramLoss(logits, inputs, B, n, V), Math.log(V) / 2, 1e-6);
});

test('ngramStrings keeps frequent words by token count, in frequency order, up to the limit', () => {
  const encode = (s: string) => [...s].map((c) => c.charCodeAt(0) - 97); // one token per letter
  const got = ngramStrings(['at', 'the', 'a', 'and', 'of', 'that', 'to'], encode, [2, 3, 4], 2);
  assert.equal(got.get(2)!.map((g) => g.text), ['at', 'of']);
  assert.equal(got.get(3)!.map((g) => g.text), ['the', 'and']);
  assert.equal(got.get(4)!.map((g) => g.text), ['that']);
  assert.equal(got.get(3)![0].ids, [19, 7, 4]);
});

test('ICL score: paper positions at n_ctx 1,024 are loss indices 48 and 498 (tokens 50 and 500); constructed losses give late − early', () => {
  assert.equal(iclPositions(1024), { early: 48, late: 498 });
  assert.equal(iclPositions(128), { early: 4, late: 61 });
  const losses = Array.from({ length: 127 }, (_, t) => 5 - Math.log(t + 1) * 0.1);
  close(iclScore(losses, iclPositions(128)), -0.1 * (Math.log(62) - Math.log(5)));
  assert.throws(() => iclPositions(4), /too short/);
});

test('probe sequences: previous-token lengths in range; prefix probes have s exactly at first and second', () => {
  const V = 50, bos = 49;
  const prev = previousTokenProbes(rngStream(0, 'probe'), 200, 8, 16, V, bos);
  assert.is(prev.T, 16);
  for (let b = 0; b < prev.B; b++) {
    assert.is(prev.tokens[b * 16], bos);
    assert.ok(prev.query[b] >= 7 && prev.query[b] <= 15 && prev.key[b] === prev.query[b] - 1);
    for (let t = 1; t < 16; t++) assert.ok(prev.tokens[b * 16 + t] !== bos && prev.tokens[b * 16 + t] < V);
  }
  const T = 32;
  const pre = prefixMatchingProbes(rngStream(0, 'probe'), 200, T, V, bos);
  for (let b = 0; b < pre.B; b++) {
    const row = pre.tokens.subarray(b * T, (b + 1) * T);
    const second = pre.query[b];
    const first = pre.key[b] - 1;
    assert.ok(first >= 1 && first <= T / 2 - 1 && second >= T / 2 + 1 && second <= T - 1);
    const s = row[first];
    assert.is(row[second], s);
    assert.is(row.filter((x) => x === s).length, 2);
    assert.is(row[0], bos);
  }
});

test('head scores: a pure previous-token head scores 1, a uniform head 1/(q+1) on average, an induction pattern 1', () => {
  const V = 30, bos = 29, H = 3;
  const probes = previousTokenProbes(rngStream(1, 'probe'), 50, 6, 12, V, bos);
  const { B, T } = probes;
  const pattern = new Float32Array(B * H * T * T);
  let uniformExpected = 0;
  for (let b = 0; b < B; b++) {
    for (let q = 0; q < T; q++) {
      const row = (h: number) => ((b * H + h) * T + q) * T;
      pattern[row(0) + Math.max(0, q - 1)] = 1; // head 0: previous token
      for (let k = 0; k <= q; k++) pattern[row(1) + k] = 1 / (q + 1); // head 1: uniform
      pattern[row(2) + q] = 1; // head 2: self
    }
    uniformExpected += 1 / (probes.query[b] + 1);
  }
  const s = headScores(pattern, H, probes);
  close(s[0], 1, 1e-12);
  close(s[1], uniformExpected / B, 1e-6);
  close(s[2], 0, 1e-12);

  // Prefix matching: a head that attends to (the position after) the previous occurrence of the current token.
  const pre = prefixMatchingProbes(rngStream(2, 'probe'), 40, 16, V, bos);
  const P = pre.T;
  const ind = new Float32Array(pre.B * 1 * P * P);
  for (let b = 0; b < pre.B; b++) {
    const row = pre.tokens.subarray(b * P, (b + 1) * P);
    for (let q = 0; q < P; q++) {
      const earlier = row.subarray(0, q).lastIndexOf(row[q]);
      ind[(b * P + q) * P + (earlier >= 0 ? earlier + 1 : 0)] = 1;
    }
  }
  close(headScores(ind, 1, pre)[0], 1, 1e-12);
  assert.throws(() => headScores(new Float32Array(5), 1, pre), /expected B·H·T·T/);
});

/** The dense definition, straight from the formula, as an oracle for the factored computation. */
function kCompositionDense(w: HeadWeights, r: HeadWeights): number {
  const { d, dh } = w;
  const mm = (A: ArrayLike<number>, B: ArrayLike<number>, p: number, k: number, q: number, tB = false) => {
    const out = new Float64Array(p * q);
    for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) for (let s = 0; s < k; s++) out[i * q + j] += A[i * k + s] * (tB ? B[j * k + s] : B[s * q + j]);
    return out;
  };
  const OV = mm(w.WV, w.WO, d, dh, d);
  const QK = mm(r.WQ, r.WK, d, dh, d, true); // W_Q W_Kᵀ
  const prod = mm(OV, QK, d, d, d, true); // OV · QKᵀ
  const fro = (m: Float64Array) => Math.sqrt(m.reduce((s, x) => s + x * x, 0));
  return fro(prod) / (fro(OV) * fro(QK));
}

test('K-composition: aligned circuits score 1, orthogonal 0, random weights match the dense formula', () => {
  const d = 4, dh = 1;
  const e = (i: number) => Float32Array.from({ length: d }, (_, j) => (j === i ? 1 : 0));
  // Writer: reads e0, writes e1 (W_OV = e0 e1ᵀ). Reader keys read e1 → composes fully.
  const writer: HeadWeights = { d, dh, WV: e(0), WO: e(1), WQ: e(0), WK: e(0) };
  close(kComposition(writer, { d, dh, WQ: e(2), WK: e(1), WV: e(0), WO: e(0) }), 1, 1e-12);
  close(kComposition(writer, { d, dh, WQ: e(2), WK: e(3), WV: e(0), WO: e(0) }), 0, 1e-12);
  // Reader key reads (e1 + e3)/√2: half of its key direction is written → cos = 1/√2.
  const mixed = Float32Array.from([0, Math.SQRT1_2, 0, Math.SQRT1_2]);
  close(kComposition(writer, { d, dh, WQ: e(2), WK: mixed, WV: e(0), WO: e(0) }), Math.SQRT1_2, 1e-6);

  const rng = rngStream(5, 'kcomp');
  const rand = (n: number) => rng.fillNormal(new Float32Array(n));
  for (const [D, Dh] of [[8, 2], [12, 3], [6, 6]]) {
    const a: HeadWeights = { d: D, dh: Dh, WQ: rand(D * Dh), WK: rand(D * Dh), WV: rand(D * Dh), WO: rand(Dh * D) };
    const b: HeadWeights = { d: D, dh: Dh, WQ: rand(D * Dh), WK: rand(D * Dh), WV: rand(D * Dh), WO: rand(Dh * D) };
    close(kComposition(a, b), kCompositionDense(a, b), 1e-9, `d=${D}, dh=${Dh}`);
    assert.ok(kComposition(a, b) > 0 && kComposition(a, b) < 1);
  }
});

test('kCompositionGrid slices TransformerLens [H, d, dh] tensors per head', () => {
  const H = 2, d = 4, dh = 1;
  const w: Record<string, Float32Array> = {};
  // Layer 0: head 0 writes e1, head 1 writes e2. Layer 1: head 0 keys read e1, head 1 keys read e3.
  const stack = (...vs: number[][]) => Float32Array.from(vs.flat());
  w['blocks.0.attn.W_V'] = stack([1, 0, 0, 0], [1, 0, 0, 0]);
  w['blocks.0.attn.W_O'] = stack([0, 1, 0, 0], [0, 0, 1, 0]);
  w['blocks.0.attn.W_Q'] = w['blocks.0.attn.W_K'] = stack([1, 0, 0, 0], [1, 0, 0, 0]);
  w['blocks.1.attn.W_Q'] = stack([1, 0, 0, 0], [1, 0, 0, 0]);
  w['blocks.1.attn.W_K'] = stack([0, 1, 0, 0], [0, 0, 0, 1]);
  w['blocks.1.attn.W_V'] = w['blocks.1.attn.W_O'] = stack([1, 0, 0, 0], [1, 0, 0, 0]);
  const grid = kCompositionGrid(w, H, d, dh, 0, 1);
  grid.flat().forEach((v, i) => close(v, [1, 0, 0, 0][i], 1e-12));
  assert.throws(() => kCompositionGrid(w, H, d, dh, 0, 2), /no blocks.2.attn.W_Q/);
});

test('samplePositions is reproducible and in range', () => {
  const a = samplePositions(rngStream(0, 'positions'), 1000, 1, 6);
  const b = samplePositions(rngStream(0, 'positions'), 1000, 1, 6);
  assert.equal(Array.from(a), Array.from(b));
  assert.ok(a.every((p) => p >= 1 && p <= 6));
  assert.equal([...new Set(a)].sort(), [1, 2, 3, 4, 5, 6]);
});

test('frequentWords: whole alphabetic words from the token stream, with their split, by count', () => {
  // 0 BOS, 1 'Ġthe', 2 'Ġcat', 3 'Ġca', 4 't', 5 's', 6 '.', 7 'Ġdog'
  const vocab = ['<bos>', 'Ġthe', 'Ġcat', 'Ġca', 't', 's', '.', 'Ġdog'];
  // "the cat. the cats the dog" | "dog the cat the cat the cat cat": a word cut by the row end is not counted
  const rows = [0, 1, 2, 6, 1, 3, 4, 5, 1, 7, 0, 7, 1, 3, 4, 1, 2, 1, 2, 2];
  const words = frequentWords(rows, 2, 10, vocab, 4);
  const byText = Object.fromEntries(words.map((w) => [w.text + '/' + w.ids.length, w.count]));
  assert.equal(byText, { 'the/1': 6, 'cat/1': 3, 'cats/3': 1, 'cat/2': 1, 'dog/1': 1 });
  assert.equal(words[0].ids, [1]);
  assert.equal(words.find((w) => w.ids.length === 3)!.ids, [3, 4, 5]);
  assert.throws(() => frequentWords(rows, 2, 10, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 4), /no word-boundary marker/);
});

test.run();
