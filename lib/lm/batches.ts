// Which rows train step s sees, and the optional planted repeats. Every draw comes from a stream
// named by (seed, purpose, step or epoch), so a resumed run sees exactly the batches of an
// uninterrupted one.
import { rngStream } from '../rng.ts';

/** Rows are visited in epochs; each epoch is a fresh seeded permutation of all rows. */
export class RowSchedule {
  private cache = new Map<number, Uint32Array>();
  constructor(readonly rows: number, readonly seed: number) {
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`RowSchedule: need at least one row, got ${rows}`);
  }

  private permutation(epoch: number): Uint32Array {
    let p = this.cache.get(epoch);
    if (!p) {
      p = Uint32Array.from({ length: this.rows }, (_, i) => i);
      const r = rngStream(this.seed, 'lm-epoch', epoch);
      for (let i = this.rows - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [p[i], p[j]] = [p[j], p[i]];
      }
      if (this.cache.size > 2) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(epoch, p);
    }
    return p;
  }

  /** Row indices of the batch of step `step` (0-based) with `batchSize` rows. */
  batch(step: number, batchSize: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < batchSize; i++) {
      const g = step * batchSize + i;
      out.push(this.permutation(Math.floor(g / this.rows))[g % this.rows]);
    }
    return out;
  }
}

export interface PlantedRepeats {
  /** Fraction of rows in each batch that get a copied span. */
  fraction: number;
  minSpan: number;
  maxSpan: number;
  /**
   * false (default): one span copied once to a random later position. true: the row's first L
   * tokens after BOS repeat with period L to the end of the row (many predictable tokens per row;
   * the period varies per row, so position alone cannot predict them).
   */
  periodic?: boolean;
  /**
   * Periodic rows only: draw the repeated L tokens uniformly from the vocabulary (ids < `vocab`,
   * never `bos`) instead of reusing the row's text, so bigram statistics cannot predict the repeats.
   */
  random?: { vocab: number; bos: number };
}

/**
 * In place, for a random `fraction` of the rows [B × T]: copy a span of length L ∈ [minSpan, maxSpan]
 * starting at a ≥ 1 (after BOS) to a later position b ≥ a + L, so its second occurrence can be
 * predicted only by looking back at the first (the in-context copying an induction head does).
 */
export function plantRepeats(tokens: Int32Array, B: number, T: number, spec: PlantedRepeats, seed: number, step: number): number {
  const r = rngStream(seed, 'lm-repeats', step);
  let planted = 0;
  for (let b = 0; b < B; b++) {
    if (r.next() >= spec.fraction) continue;
    const maxSpan = Math.min(spec.maxSpan, Math.floor((T - 1) / 2));
    if (maxSpan < spec.minSpan) continue;
    const L = spec.minSpan + r.int(maxSpan - spec.minSpan + 1);
    if (spec.periodic) {
      const row = b * T;
      if (spec.random) {
        for (let t = 1; t <= L; t++) {
          let v = r.int(spec.random.vocab - 1);
          if (v >= spec.random.bos) v++;
          tokens[row + t] = v;
        }
      }
      for (let t = 1 + L; t < T; t++) tokens[row + t] = tokens[row + t - L];
      planted++;
      continue;
    }
    const a = 1 + r.int(T - 2 * L); // a ∈ [1, T − 2L]
    const bStart = a + L + r.int(T - L - (a + L) + 1); // b ∈ [a + L, T − L]
    const row = b * T;
    tokens.copyWithin(row + bStart, row + a, row + a + L);
    planted++;
  }
  return planted;
}
