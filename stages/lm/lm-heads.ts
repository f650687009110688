// Stage 'lm-heads': attention-head scores of one language-model checkpoint (docs/language-model.md,
// "Head scores"), on synthetic sequences drawn from a fixed seed (the same at every checkpoint):
//   * previous-token score of every head: attention from the last position to the one before, on
//     [BOS] + random tokens of random length;
//   * prefix-matching (induction) score of every head: attention from the second occurrence of a
//     token to the position after its first occurrence, on [BOS] + random tokens with one token repeated;
//   * K-composition between every head of layer 1 and every head of layer 2 (weights only).
// Probe lengths are the paper's fractions of its 1,024-token context (previous-token 16–64,
// prefix matching 128) scaled to the model's context n, with floors so that a short context still
// leaves room between the repeated tokens: previous-token L ~ U{max(8, n/64) … max(32, n/16)},
// prefix matching of length max(32, n/8), both at most n.
//
// Inputs: checkpoint, model, data (optional: an lm-data directory whose data.json names BOS). Params: probes (count per kind), seed.
// Output: heads.json (LmHeadsResult).
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';

export const lmHeadsParams = z.strictObject({
  /** Synthetic sequences per score (the paper: 10,000). */
  probes: z.number().int().positive().default(128),
  batch: z.number().int().positive().default(32),
  seed: z.number().int().nonnegative().default(0),
});
export type LmHeadsParams = z.output<typeof lmHeadsParams>;

export interface LmHeadsResult {
  step: number;
  /** [layer][head] */
  previousToken: number[][];
  prefixMatching: number[][];
  /** [head of layer 1][head of layer 2]; empty for a one-layer model. */
  kComposition: number[][];
  probes: { previousToken: { count: number; lenMin: number; lenMax: number }; prefixMatching: { count: number; length: number } };
}

/** The probe lengths for a context of nCtx tokens (see the header). */
export function probeLengths(nCtx: number): { lenMin: number; lenMax: number; prefixLength: number } {
  const even = (x: number) => 2 * Math.floor(x / 2);
  const lenMax = Math.min(nCtx, Math.max(32, Math.round(nCtx / 16)));
  const lenMin = Math.min(lenMax, Math.max(8, Math.round(nCtx / 64)));
  const prefixLength = even(Math.min(nCtx, Math.max(32, Math.round(nCtx / 8))));
  return { lenMin, lenMax, prefixLength };
}

export const lmHeadsStage = defineStage({
  name: 'lm-heads',
  module: import.meta.url,
  params: lmHeadsParams,
  inputs: { checkpoint: 'file', model: 'file', data: 'dir?' },
  run: new URL('./lm-heads-run.ts', import.meta.url),
});
