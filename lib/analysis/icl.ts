// In-context-learning scores (docs/figures.md "ICL scores").
//
//   I_{1:K/2} = ℓ_{K/2} − ℓ_1 and I_{K/2:K} = ℓ_K − ℓ_{K/2} from the per-position test loss ℓ_k
//   (K = 8: the paper's I₁:₄ and I₄:₈). Negative = later positions are predicted better.
//   Scaled-input score S_g = (ℓ_K − ℓ_1)/g on sequences whose inputs are multiplied by g, labels
//   recomputed with the same task and the same noise: y' = w·(g x) + ε.
import type { Batch } from '../tasks.ts';

export interface IclScores {
  /** ℓ_{K/2} − ℓ_1. */
  early: number;
  /** ℓ_K − ℓ_{K/2}. */
  late: number;
  /** The positions (1-based) the scores span: [1, K/2, K]. */
  positions: [number, number, number];
}

export function iclScores(lossPerPos: ArrayLike<number>): IclScores {
  const K = lossPerPos.length;
  if (K < 2) throw new Error(`iclScores: need at least 2 positions, got ${K}`);
  const mid = Math.max(1, Math.floor(K / 2));
  return { early: lossPerPos[mid - 1] - lossPerPos[0], late: lossPerPos[K - 1] - lossPerPos[mid - 1], positions: [1, mid, K] };
}

/** The first `size` sequences of `batch` with x ← g·x and y ← w·(g x) + ε (same ε = y − w·x). */
export function scaledInputs(batch: Batch, g: number, size = batch.B): { xs: Float32Array; ys: Float32Array; B: number } {
  const { K, D } = batch;
  const B = Math.min(size, batch.B);
  if (batch.ws.length < B * D) throw new Error('scaledInputs: the batch carries no task vectors (ws)');
  const xs = new Float32Array(B * K * D);
  const ys = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      let clean = 0;
      for (let d = 0; d < D; d++) {
        const x = batch.xs[(b * K + k) * D + d];
        clean += batch.ws[b * D + d] * x;
        xs[(b * K + k) * D + d] = g * x;
      }
      const noise = batch.ys[b * K + k] - clean;
      ys[b * K + k] = g * clean + noise;
    }
  }
  return { xs, ys, B };
}

/** S_g = (ℓ_K − ℓ_1)/g. */
export function scaledIclScore(lossPerPos: ArrayLike<number>, g: number): number {
  return (lossPerPos[lossPerPos.length - 1] - lossPerPos[0]) / g;
}
