// Stage-related evaluations of the language model (docs/language-model.md, "Evaluations"): pure
// functions of logits, attention patterns, weights and token streams. The model itself is not
// imported here; callers pass its outputs, so every score can be tested on hand-built inputs.
//
// Conventions: a batch of token rows is row-major [B, T]; logits are [B, T, V]; position t's
// logits predict token t + 1, so a row gives T − 1 losses, indexed by the predicting position.
// Attention patterns are per layer [B, H, T, T] (query, key), rows summing to 1 over keys ≤ query.
import type { Rng } from '../rng.ts';

/** log Σ exp over one logit vector, stable. */
function logSumExp(logits: Float32Array, offset: number, V: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[offset + v] - max);
  return max + Math.log(s);
}

/**
 * Next-token cross-entropy per predicting position 0 … T−2, averaged over the B rows (float64
 * sums). The mean of the result is the test loss (all positions weigh the same).
 */
export function perPositionLoss(logits: Float32Array, tokens: ArrayLike<number>, B: number, T: number, V: number): Float64Array {
  if (logits.length !== B * T * V) throw new Error(`perPositionLoss: logits have ${logits.length} values, expected B·T·V = ${B * T * V}`);
  if (tokens.length !== B * T) throw new Error(`perPositionLoss: ${tokens.length} tokens, expected B·T = ${B * T}`);
  const out = new Float64Array(T - 1);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const off = (b * T + t) * V;
      out[t] += logSumExp(logits, off, V) - logits[off + tokens[b * T + t + 1]];
    }
  }
  for (let t = 0; t < T - 1; t++) out[t] /= B;
  return out;
}

export const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
};

// ---------------------------------------------------------------------------------------------
// Bigrams

/**
 * Empirical next-token distributions P(next | prev), stored sparsely (CSR by prev token), from the
 * consecutive pairs inside each row of a token stream. Pairs never cross rows: a row starts a new
 * document window (and, with BOS, token 0 is never a "next").
 */
export interface BigramTable {
  V: number;
  /** next[rowStart[p] … rowStart[p+1]) are the observed successors of p, with probabilities prob[…]. */
  rowStart: Int32Array;
  next: Int32Array;
  prob: Float64Array;
  /** Number of pairs with prev = p. */
  count: Float64Array;
  /** Entropy (nats) of P(· | p); 0 for an unseen p. */
  entropy: Float64Array;
}

export function bigramTable(rows: ArrayLike<number>, B: number, T: number, V: number): BigramTable {
  if (rows.length !== B * T) throw new Error(`bigramTable: ${rows.length} tokens, expected B·T = ${B * T}`);
  const pairs = new Map<number, Map<number, number>>();
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const p = rows[b * T + t];
      const n = rows[b * T + t + 1];
      if (!(p >= 0 && p < V && n >= 0 && n < V)) throw new Error(`bigramTable: token id out of range [0, ${V}) at row ${b}, position ${t}`);
      let m = pairs.get(p);
      if (!m) pairs.set(p, (m = new Map()));
      m.set(n, (m.get(n) ?? 0) + 1);
    }
  }
  const rowStart = new Int32Array(V + 1);
  let nnz = 0;
  for (let p = 0; p < V; p++) {
    rowStart[p] = nnz;
    nnz += pairs.get(p)?.size ?? 0;
  }
  rowStart[V] = nnz;
  const next = new Int32Array(nnz);
  const prob = new Float64Array(nnz);
  const count = new Float64Array(V);
  const entropy = new Float64Array(V);
  for (let p = 0; p < V; p++) {
    const m = pairs.get(p);
    if (!m) continue;
    const entries = [...m.entries()].sort((a, b) => a[0] - b[0]);
    const total = entries.reduce((s, [, c]) => s + c, 0);
    count[p] = total;
    let h = 0;
    entries.forEach(([n, c], i) => {
      next[rowStart[p] + i] = n;
      prob[rowStart[p] + i] = c / total;
      h -= (c / total) * Math.log(c / total);
    });
    entropy[p] = h;
  }
  return { V, rowStart, next, prob, count, entropy };
}

/** −Σ_v P(v | prev)·log softmax(logits)_v: the model's cross-entropy against the bigram distribution. */
export function bigramCrossEntropy(table: BigramTable, prev: number, logits: Float32Array, offset = 0): number {
  const { rowStart, next, prob, V } = table;
  if (rowStart[prev + 1] === rowStart[prev]) throw new Error(`bigram score: token ${prev} never occurs as a predecessor in the bigram table`);
  const lse = logSumExp(logits, offset, V);
  let s = 0;
  for (let i = rowStart[prev]; i < rowStart[prev + 1]; i++) s += prob[i] * (lse - logits[offset + next[i]]);
  return s;
}

/**
 * Sampled positions for the bigram score (and the per-token logits of essential dynamics): one
 * position per row, uniform in [lo, hi], from a fixed stream so every checkpoint uses the same ones.
 */
export function samplePositions(rng: Rng, rows: number, lo: number, hi: number): Int32Array {
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi)) throw new Error(`samplePositions: need integers lo <= hi, got ${lo}, ${hi}`);
  return Int32Array.from({ length: rows }, () => lo + rng.int(hi - lo + 1));
}

/**
 * Bigram score over rows: the mean over rows b of the bigram cross-entropy at position pos[b]
 * (prev = tokens[b, pos[b]]). Rows whose prev token never occurs in the table are skipped (they
 * have no bigram distribution); `used` says how many counted.
 */
export function bigramScore(table: BigramTable, logits: Float32Array, tokens: ArrayLike<number>, B: number, T: number, positions: ArrayLike<number>): { score: number; used: number } {
  const V = table.V;
  let s = 0;
  let used = 0;
  for (let b = 0; b < B; b++) {
    const t = positions[b];
    const prev = tokens[b * T + t];
    if (table.count[prev] === 0) continue;
    s += bigramCrossEntropy(table, prev, logits, (b * T + t) * V);
    used++;
  }
  if (used === 0) throw new Error('bigram score: no sampled position has a token seen in the bigram table');
  return { score: s / used, used };
}

/** The baseline the bigram score approaches: the mean entropy of P(· | prev) over the same kind of sampled positions. */
export function bigramEntropy(table: BigramTable, tokens: ArrayLike<number>, T: number, positions: ArrayLike<number>): number {
  let s = 0;
  let used = 0;
  for (let b = 0; b < positions.length; b++) {
    const prev = tokens[b * T + positions[b]];
    if (table.count[prev] === 0) continue;
    s += table.entropy[prev];
    used++;
  }
  if (used === 0) throw new Error('bigram entropy: no sampled position has a token seen in the bigram table');
  return s / used;
}

// ---------------------------------------------------------------------------------------------
// n-grams and in-context learning

/**
 * Loss of completing each n-token string: input [BOS, t1 … tn], cross-entropy of t_n given the
 * prefix (the logits at position n − 1). `logits` are for the batch of these inputs, [B, n+1, V].
 */
export function ngramLoss(logits: Float32Array, inputs: ArrayLike<number>, B: number, n: number, V: number): number {
  const T = n + 1;
  if (logits.length !== B * T * V) throw new Error(`ngramLoss: logits have ${logits.length} values, expected ${B * T * V}`);
  let s = 0;
  for (let b = 0; b < B; b++) {
    const off = (b * T + n - 1) * V;
    s += logSumExp(logits, off, V) - logits[off + inputs[b * T + n]];
  }
  return s / B;
}

/**
 * Candidate n-gram strings: frequent words of the corpus that the tokenizer splits into exactly n
 * tokens, most frequent first (`words` is already ordered by frequency), at most `limit` per n.
 */
export function ngramStrings(words: string[], encode: (s: string) => number[], ns: number[], limit: number): Map<number, { text: string; ids: number[] }[]> {
  const out = new Map<number, { text: string; ids: number[] }[]>(ns.map((n) => [n, []]));
  for (const text of words) {
    const ids = encode(text);
    const list = out.get(ids.length);
    if (list && list.length < limit) list.push({ text, ids });
  }
  return out;
}

/**
 * The paper's positions of the ICL score, the loss of the 500th token minus that of the 50th in a
 * 1,024-token context, scaled to nCtx. The n-th token (1-based) is predicted at loss index n − 2,
 * so at 1,024 these are indices 498 and 48.
 */
export function iclPositions(nCtx: number): { early: number; late: number } {
  const early = Math.max(0, Math.round((50 / 1024) * nCtx) - 2);
  const late = Math.round((500 / 1024) * nCtx) - 2;
  if (!(late > early && late <= nCtx - 2)) throw new Error(`iclPositions: context ${nCtx} is too short for an ICL score`);
  return { early, late };
}

/** ICL score: per-position loss at the late position minus at the early one (negative = later tokens are easier). */
export function iclScore(perPosition: ArrayLike<number>, positions: { early: number; late: number }): number {
  const { early, late } = positions;
  if (late >= perPosition.length) throw new Error(`iclScore: position ${late} beyond the ${perPosition.length} per-position losses`);
  return perPosition[late] - perPosition[early];
}

// ---------------------------------------------------------------------------------------------
// Attention-head scores on synthetic sequences

export interface ProbeBatch {
  /** [B, T] token ids (shorter sequences padded at the end: causal attention never sees the padding). */
  tokens: Int32Array;
  B: number;
  T: number;
  /** Per sequence: the query position and the key position whose attention is the score. */
  query: Int32Array;
  key: Int32Array;
}

/**
 * Previous-token probes: [BOS] + (L − 1) uniform tokens (excluding BOS), L ~ U{lenMin … lenMax};
 * the score reads the attention from the last position to the one before it.
 */
export function previousTokenProbes(rng: Rng, count: number, lenMin: number, lenMax: number, vocab: number, bos: number): ProbeBatch {
  if (!(lenMin >= 3 && lenMax >= lenMin)) throw new Error(`previousTokenProbes: need 3 <= lenMin <= lenMax, got ${lenMin}, ${lenMax}`);
  const T = lenMax;
  const tokens = new Int32Array(count * T);
  const query = new Int32Array(count);
  const key = new Int32Array(count);
  for (let b = 0; b < count; b++) {
    const L = lenMin + rng.int(lenMax - lenMin + 1);
    tokens[b * T] = bos;
    for (let t = 1; t < T; t++) tokens[b * T + t] = randomTokenExcept(rng, vocab, bos, -1);
    query[b] = L - 1;
    key[b] = L - 2;
  }
  return { tokens, B: count, T, query, key };
}

/**
 * Prefix-matching (induction) probes of length T: BOS at 0, a token s at `first` ∈ [1, T/2 − 1]
 * and again at `second` ∈ [T/2 + 1, T − 1], every other token uniform and ≠ s (and ≠ BOS). An
 * induction head at `second` attends to first + 1, the token that followed s last time.
 */
export function prefixMatchingProbes(rng: Rng, count: number, T: number, vocab: number, bos: number): ProbeBatch {
  if (!(T >= 6 && T % 2 === 0)) throw new Error(`prefixMatchingProbes: need an even length >= 6, got ${T}`);
  const half = T / 2;
  const tokens = new Int32Array(count * T);
  const query = new Int32Array(count);
  const key = new Int32Array(count);
  for (let b = 0; b < count; b++) {
    const s = randomTokenExcept(rng, vocab, bos, -1);
    const first = 1 + rng.int(half - 1);
    const second = half + 1 + rng.int(half - 1);
    tokens[b * T] = bos;
    for (let t = 1; t < T; t++) tokens[b * T + t] = t === first || t === second ? s : randomTokenExcept(rng, vocab, bos, s);
    query[b] = second;
    key[b] = first + 1;
  }
  return { tokens, B: count, T, query, key };
}

function randomTokenExcept(rng: Rng, vocab: number, a: number, b: number): number {
  for (;;) {
    const v = rng.int(vocab);
    if (v !== a && v !== b) return v;
  }
}

/**
 * Per head: the mean over sequences of attention[b, h, query_b, key_b]. `pattern` is one layer's
 * [B, H, T, T] attention for `probes.tokens`. Returns H scores.
 */
export function headScores(pattern: Float32Array, H: number, probes: ProbeBatch): Float64Array {
  const { B, T, query, key } = probes;
  if (pattern.length !== B * H * T * T) throw new Error(`headScores: pattern has ${pattern.length} values, expected B·H·T·T = ${B * H * T * T}`);
  const out = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) out[h] += pattern[((b * H + h) * T + query[b]) * T + key[b]];
  }
  for (let h = 0; h < H; h++) out[h] /= B;
  return out;
}

// ---------------------------------------------------------------------------------------------
// K-composition

/** One head's weights in the row-vector convention: q = x·W_Q [d, dh], likewise W_K, W_V; out = z·W_O [dh, d]. */
export interface HeadWeights {
  d: number;
  dh: number;
  WQ: Float32Array;
  WK: Float32Array;
  WV: Float32Array;
  WO: Float32Array;
}

/** Head h's slice of a TransformerLens-layout [H, d, dh] (or [H, dh, d]) tensor. */
export function headSlice(w: Float32Array, H: number, h: number): Float32Array {
  const size = w.length / H;
  return w.subarray(h * size, (h + 1) * size);
}

/** Aᵀ·B for A [r, p], B [r, q] (row-major) → [p, q], float64. */
function gram(A: Float32Array | Float64Array, B: Float32Array | Float64Array, r: number, p: number, q: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let k = 0; k < r; k++) {
    for (let i = 0; i < p; i++) {
      const a = A[k * p + i];
      if (a === 0) continue;
      for (let j = 0; j < q; j++) out[i * q + j] += a * B[k * q + j];
    }
  }
  return out;
}

/** A·B for A [p, r], B [r, q] → [p, q], float64. */
function matmul(A: Float32Array | Float64Array, B: Float32Array | Float64Array, p: number, r: number, q: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let i = 0; i < p; i++) {
    for (let k = 0; k < r; k++) {
      const a = A[i * r + k];
      if (a === 0) continue;
      for (let j = 0; j < q; j++) out[i * q + j] += a * B[k * q + j];
    }
  }
  return out;
}

/** tr(X·Y) for square n×n X, Y. */
function traceProduct(X: Float64Array, Y: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) s += X[i * n + k] * Y[k * n + i];
  return s;
}

/**
 * K-composition of an earlier head (writer) into a later head's keys: with the d×d circuits
 * W_OV = W_V·W_O (writer) and W_QK = W_Q·W_Kᵀ (reader),
 *   score = ‖W_OV·W_QKᵀ‖_F / (‖W_OV‖_F·‖W_QK‖_F),
 * in [0, 1]. Computed through dh×dh Gram matrices (‖A·B‖²_F = tr(AᵀA·BBᵀ)), never forming a d×d matrix:
 * W_OV·W_QKᵀ = W_V·(W_O·W_K)·W_Qᵀ.
 */
export function kComposition(writer: HeadWeights, reader: HeadWeights): number {
  const { d, dh } = writer;
  if (reader.d !== d || reader.dh !== dh) throw new Error('kComposition: the two heads have different shapes');
  const GV = gram(writer.WV, writer.WV, d, dh, dh); // W_Vᵀ W_V
  const OOt = matmul(writer.WO, transpose(writer.WO, dh, d), dh, d, dh); // W_O W_Oᵀ
  const GQ = gram(reader.WQ, reader.WQ, d, dh, dh); // W_Qᵀ W_Q
  const GK = gram(reader.WK, reader.WK, d, dh, dh); // W_Kᵀ W_K
  const C = matmul(writer.WO, reader.WK, dh, d, dh); // W_O W_K
  // ‖W_V C W_Qᵀ‖² = tr(Cᵀ G_V C G_Q)
  const product = traceProduct(matmul(matmul(transpose(C, dh, dh), GV, dh, dh, dh), C, dh, dh, dh), GQ, dh);
  const ov = traceProduct(GV, OOt, dh); // ‖W_V W_O‖² = tr(W_Vᵀ W_V W_O W_Oᵀ)
  const qk = traceProduct(GQ, GK, dh); // ‖W_Q W_Kᵀ‖² = tr(W_Qᵀ W_Q W_Kᵀ W_K)
  if (!(ov > 0 && qk > 0)) return 0;
  return Math.sqrt(Math.max(0, product) / (ov * qk));
}

function transpose(A: Float32Array | Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = A[i * cols + j];
  return out;
}

/**
 * K-composition between every head of layer `from` and every head of layer `to` (TransformerLens
 * names: blocks.{l}.attn.W_Q [H, d, dh], W_O [H, dh, d], …). Returns [H_from][H_to].
 */
export function kCompositionGrid(w: Record<string, Float32Array>, H: number, d: number, dh: number, from: number, to: number): number[][] {
  const head = (l: number, h: number): HeadWeights => {
    const get = (name: string) => {
      const t = w[`blocks.${l}.attn.${name}`];
      if (!t) throw new Error(`kComposition: weights have no blocks.${l}.attn.${name}`);
      if (t.length !== H * d * dh) throw new Error(`kComposition: blocks.${l}.attn.${name} has ${t.length} values, expected ${H}·${d}·${dh}`);
      return headSlice(t, H, h);
    };
    return { d, dh, WQ: get('W_Q'), WK: get('W_K'), WV: get('W_V'), WO: get('W_O') };
  };
  return Array.from({ length: H }, (_, i) => Array.from({ length: H }, (_, j) => kComposition(head(from, i), head(to, j))));
}

/** √Σ‖p‖² over every tensor. */
export function weightNorm(w: Record<string, Float32Array>): number {
  let s = 0;
  for (const t of Object.values(w)) for (let i = 0; i < t.length; i++) s += t[i] * t[i];
  return Math.sqrt(s);
}

// ---------------------------------------------------------------------------------------------
// Frequent words of the corpus, as the tokenizer split them

/**
 * How a vocabulary marks word boundaries: byte-level BPE and SentencePiece prefix a word's first
 * token with 'Ġ' or '▁'; WordPiece prefixes continuation tokens with '##'.
 */
export function wordBoundaryRule(tokens: string[]): { isStart: (s: string) => boolean; letters: (s: string) => string } {
  for (const marker of ['Ġ', '▁']) {
    if (tokens.some((s) => s.startsWith(marker))) {
      return { isStart: (s) => s.startsWith(marker), letters: (s) => (s.startsWith(marker) ? s.slice(marker.length) : s) };
    }
  }
  if (tokens.some((s) => s.startsWith('##'))) return { isStart: (s) => !s.startsWith('##'), letters: (s) => (s.startsWith('##') ? s.slice(2) : s) };
  throw new Error('frequent words: the vocabulary has no word-boundary marker (Ġ, ▁ or ##)');
}

export interface CorpusWord {
  ids: number[];
  text: string;
  count: number;
}

/**
 * Whole alphabetic words as they occur in the token rows: a word-start token followed by
 * continuation tokens, all letters, ended by the next word start or a non-letter token. Counted over
 * occurrences and ordered by count (ties by text); words longer than `maxTokens` are skipped.
 */
export function frequentWords(rows: ArrayLike<number>, B: number, T: number, tokens: string[], maxTokens: number): CorpusWord[] {
  const rule = wordBoundaryRule(tokens);
  const alpha = tokens.map((s) => /^[A-Za-z]+$/.test(rule.letters(s)));
  const start = tokens.map((s) => rule.isStart(s));
  const counts = new Map<string, CorpusWord>();
  for (let b = 0; b < B; b++) {
    let t = 0;
    while (t < T) {
      const id = rows[b * T + t];
      if (!(start[id] && alpha[id])) {
        t++;
        continue;
      }
      let e = t + 1;
      while (e < T && !start[rows[b * T + e]] && alpha[rows[b * T + e]]) e++;
      // A word cut by the end of the row may continue in the next one: not counted.
      const complete = e < T && (start[rows[b * T + e]] || !alpha[rows[b * T + e]]);
      if (complete && e - t <= maxTokens) {
        const ids = Array.from({ length: e - t }, (_, k) => rows[b * T + t + k]);
        const key = ids.join(',');
        const w = counts.get(key);
        if (w) w.count++;
        else counts.set(key, { ids, text: ids.map((i) => rule.letters(tokens[i])).join(''), count: 1 });
      }
      t = e;
    }
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || (a.text < b.text ? -1 : 1));
}
