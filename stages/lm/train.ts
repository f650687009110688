// Stage 'lm-train': the language model trained on the token rows of lm-data with AdamW (constant
// learning rate, decoupled weight decay on every parameter, as torch.optim.AdamW over all of
// model.parameters() in the original), next-token cross-entropy over positions 0 … n_ctx−2.
// Checkpoint s holds the weights after s updates (0 = the initialisation); the grid is
// {0, steps} ∪ a log grid ∪ a linear grid over [0, steps].
//
// Resumable: at every checkpoint the full state (weights, AdamW moments and count, metrics) is
// written atomically to workDir, and step s's batch depends only on (seed, s), so a killed run
// resumes to byte-identical checkpoints. The loop lives in train-run.ts (loaded where it runs).
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { intLinspace, intLogspace } from '../../lib/optim.ts';

const positiveInt = z.number().int().positive();

export const lmModelParams = z.strictObject({
  layers: positiveInt,
  dModel: positiveInt,
  heads: positiveInt,
  dHead: positiveInt,
  /** Context length; must equal lm-data's nCtx. */
  nCtx: z.number().int().min(2),
  /** Vocabulary size; must equal the tokenizer's. */
  vocab: z.number().int().min(2),
});

export const plantedRepeatsParams = z.strictObject({
  /** Fraction of training rows in each batch given a copied span (0 = plain corpus). */
  fraction: z.number().min(0).max(1),
  minSpan: positiveInt,
  maxSpan: positiveInt,
  /** false: one span copied once per chosen row; true: the row's first L tokens repeat with period L to its end. */
  periodic: z.boolean().default(false),
  /** Periodic only: the repeated tokens are uniform random ids (never BOS) instead of the row's text. */
  randomTokens: z.boolean().default(false),
});

export const lmTrainParams = z.strictObject({
  model: lmModelParams,
  steps: positiveInt,
  batchSize: positiveInt,
  /** Constant AdamW learning rate. */
  lr: z.number().positive(),
  weightDecay: z.number().nonnegative(),
  seed: z.number().int().nonnegative(),
  checkpoints: z.strictObject({ logSpace: z.number().int().nonnegative(), linearSpace: z.number().int().nonnegative() }),
  /** Optional training-data augmentation (docs/language-model.md): spans copied later within a row. */
  plantedRepeats: plantedRepeatsParams.optional(),
  /**
   * Rows per forward/backward pass; a batch is accumulated over ceil(batchSize / microBatch) passes
   * (same update, bounded memory: the paper's batch of 100 × 1,024 tokens needs ≈ 9 GB in one pass).
   * Omit for one pass per batch.
   */
  microBatch: positiveInt.optional(),
  /** Log the mean training loss every this many steps (metrics.jsonl). */
  logEvery: positiveInt.default(50),
});
export type LmTrainParams = z.output<typeof lmTrainParams>;

/** Checkpoint steps: 0, the end, and the log ∪ linear grids over [0, steps]. */
export function lmCheckpointSteps(steps: number, logSpace: number, linearSpace: number): number[] {
  const all = new Set([0, steps, ...intLogspace(steps, logSpace), ...intLinspace(steps, linearSpace)]);
  return [...all].filter((s) => s >= 0 && s <= steps).sort((a, b) => a - b);
}

export const lmTrainStage = defineStage({
  name: 'lm-train',
  module: import.meta.url,
  params: lmTrainParams,
  heavy: true,
  resources: { cpu: 1 },
  inputs: { data: 'dir' },
  run: new URL('./train-run.ts', import.meta.url),
});
