// Attention-pattern metrics (docs/figures.md "Attention metrics"). Input: the post-softmax
// attention of one head on B sequences, a [B, T, T] array (query i, key j, causal: a_ij = 0 for
// j > i). Every metric is a per-query-position curve, averaged over the batch:
//
//   normalised entropy  H_i / log₂(i + 1) with H_i = −Σ_j a_ij log₂ a_ij (0 log 0 = 0); 0 at i = 0
//                       (one key, nothing to spread over)
//   variability         mean_b Σ_j |a_ij − ā_ij| / (2 Σ_j ā_ij), ā the batch-mean pattern: 0 when
//                       every sequence attends alike, 1 when patterns are disjoint
//   distance            Σ_j j·a_ij / (i + 1): the mean attended key position, relative to the query's
//   self                a_ii
//   previous token      a_{i,i−1} (0 at i = 0)
//   x-token attention   Σ_{j even} a_ij: the mass on x tokens (tokens 0, 2, … are x_k, 1, 3, … y_k)

export const ATTENTION_METRICS = ['entropy', 'variability', 'distance', 'self', 'prevToken', 'xTokens'] as const;
export type AttentionMetric = (typeof ATTENTION_METRICS)[number];

export const METRIC_TITLES: Record<AttentionMetric, string> = {
  entropy: 'normalised entropy',
  variability: 'variability',
  distance: 'attention distance',
  self: 'self-attention',
  prevToken: 'previous-token attention',
  xTokens: 'x-token attention',
};

/** Per-query-position metrics [T] of one head's attention a [B, T, T]. */
export function attentionMetrics(a: ArrayLike<number>, B: number, T: number): Record<AttentionMetric, number[]> {
  if (a.length !== B * T * T) throw new Error(`attentionMetrics: expected B·T·T = ${B * T * T} values, got ${a.length}`);
  const out = Object.fromEntries(ATTENTION_METRICS.map((m) => [m, new Array<number>(T).fill(0)])) as Record<AttentionMetric, number[]>;
  const meanPattern = new Float64Array(T * T);
  for (let b = 0; b < B; b++) for (let k = 0; k < T * T; k++) meanPattern[k] += a[b * T * T + k] / B;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      const row = b * T * T + i * T;
      let entropy = 0;
      let distance = 0;
      let x = 0;
      let deviation = 0;
      let meanMass = 0;
      for (let j = 0; j < T; j++) {
        const v = a[row + j];
        if (v > 0) entropy -= v * Math.log2(v);
        distance += j * v;
        if (j % 2 === 0) x += v;
        deviation += Math.abs(v - meanPattern[i * T + j]);
        meanMass += meanPattern[i * T + j];
      }
      out.entropy[i] += (i === 0 ? 0 : entropy / Math.log2(i + 1)) / B;
      out.variability[i] += (meanMass > 0 ? deviation / (2 * meanMass) : 0) / B;
      out.distance[i] += distance / (i + 1) / B;
      out.self[i] += a[row + i] / B;
      out.prevToken[i] += (i === 0 ? 0 : a[row + i - 1]) / B;
      out.xTokens[i] += x / B;
    }
  }
  return out;
}

/**
 * The leading T' × T' block of each [T, T] matrix in a [N, T, T] array (the paper drops the last
 * token, whose prediction is never scored): [N, T', T'].
 */
export function leadingBlock(a: ArrayLike<number>, N: number, T: number, size: number): Float64Array {
  if (size > T) throw new Error(`leadingBlock: size ${size} exceeds T = ${T}`);
  const out = new Float64Array(N * size * size);
  for (let n = 0; n < N; n++) for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) out[(n * size + i) * size + j] = a[(n * T + i) * T + j];
  return out;
}

/** Positions of one token type among T query positions: x tokens are even, y tokens odd. */
export function positionsOfType(type: 'x' | 'y', T: number): number[] {
  return Array.from({ length: T }, (_, i) => i).filter((i) => (type === 'x' ? i % 2 === 0 : i % 2 === 1));
}
