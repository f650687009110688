// LLC of the language model (docs/language-model.md, "LLC"): SGLD on the next-token cross-entropy
// over a fixed set of token rows, with the shared sampler (lib/sgld.ts) and estimator (lib/llc.ts).
// The model enters only as a loss-and-gradient function of (parameters, token rows), so the same
// code path is tested on models with a known learning coefficient.
import type { Rng } from '../rng.ts';
import { sgldChainArrays, ShuffledBatches, type ChainRun, type SgldChainOptions } from '../sgld.ts';

/** Mean next-token loss of `B` rows of `tokens` ([B, T]) at the current parameters, and its gradient per parameter. */
export type RowsLossAndGrad = (tokens: Int32Array, B: number) => { loss: number; grads: Float32Array[] };
export type RowsLoss = (tokens: Int32Array, B: number) => number;

export interface TokenRows {
  /** [n, T] token ids. */
  rows: Int32Array;
  n: number;
  T: number;
}

/** L_n(w*): the mean loss over all n rows, evaluated in chunks (float64 accumulation, weighted by chunk size). */
export function datasetLoss(loss: RowsLoss, data: TokenRows, chunk: number): number {
  const { rows, n, T } = data;
  let s = 0;
  for (let start = 0; start < n; start += chunk) {
    const B = Math.min(chunk, n - start);
    s += loss(rows.subarray(start * T, (start + B) * T), B) * B;
  }
  return s / n;
}

/**
 * One SGLD chain on the rows: minibatch b is `batchSize` rows in the order of a fresh shuffle per
 * epoch (`batchRng`), the recorded loss is the minibatch mean at the pre-update weights (K = 1).
 */
export async function lmSgldChain(
  params: Float32Array[],
  lossAndGrad: RowsLossAndGrad,
  data: TokenRows,
  batchSize: number,
  batchRng: Rng,
  opts: SgldChainOptions,
): Promise<ChainRun> {
  const { rows, n, T } = data;
  const batches = new ShuffledBatches(n, batchSize, batchRng);
  const buf = new Int32Array(batchSize * T);
  return sgldChainArrays(
    {
      params,
      lossAndGrads(b) {
        batches.batch(b).forEach((r, i) => buf.set(rows.subarray(r * T, (r + 1) * T), i * T));
        const { loss, grads } = lossAndGrad(buf, batchSize);
        return { perPosition: Float32Array.of(loss), grads };
      },
    },
    opts,
  );
}

/**
 * The L₀ the original LM notebook effectively used, kept only to reproduce its published numbers:
 * it averaged the draw-0 losses over all C chains while later chains had not run yet (counting as
 * 0), so chain c used (Σ_{c' ≤ c} L_{c',0}) / C instead of L(w*). That inflates λ̂ by about
 * nβ·L·(1 − (c+1)/C) per chain and makes the across-chain spread proportional to the loss.
 * Runs are in chain order; returns one L₀ per chain.
 */
export function paperBiasedL0s(runs: ChainRun[]): number[] {
  const C = runs.length;
  let cumulative = 0;
  return runs.map((run) => {
    let first = 0;
    for (let k = 0; k < run.K; k++) first += run.losses[k];
    cumulative += run.steps > 0 ? first / run.K : 0;
    return cumulative / C;
  });
}
