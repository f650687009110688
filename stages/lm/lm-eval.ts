// Stage 'lm-eval': one language-model checkpoint on the held-out rows (docs/language-model.md,
// "Evaluations"), everything that needs the model's logits on text:
//   * test loss and loss per position; the same with the positional embedding ablated (set to 0);
//   * bigram score (model vs P(next | prev) at one sampled position per row) and the bigram entropy;
//   * n-gram losses of the frequent multi-token words and the score (test loss at that position) / (n-gram loss);
//   * ICL score: loss at the late position minus the early one (the paper's tokens 500 and 50 of 1,024, scaled);
//   * the weight norm; and the essential-dynamics fingerprint: the logit of the true next token at one
//     fixed sampled position per row (outputs.swt, tensor 'outputs').
// Attention-head scores are a separate stage (lm-heads), so a change to one recomputes only its nodes.
//
// Inputs: checkpoint (.swt), model (model.json), data (lm-data directory: the test rows), bigrams (lm-bigrams directory).
// Params: rows (held-out rows used), batch, seed (sampled positions).
// Outputs: eval.json (LmEvalResult), outputs.swt.
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';

export const lmEvalParams = z.strictObject({
  /** Held-out rows evaluated (the first `rows`; all if fewer). */
  rows: z.number().int().positive().default(64),
  /** Rows per forward pass. */
  batch: z.number().int().positive().default(16),
  /** Seed of the sampled positions (bigram score, ED fingerprint): the same at every checkpoint. */
  seed: z.number().int().nonnegative().default(0),
});
export type LmEvalParams = z.output<typeof lmEvalParams>;

export interface LmEvalResult {
  step: number;
  /** Mean next-token loss over all positions and rows (the test loss). */
  loss: number;
  /** Per predicting position 0 … T−2. */
  lossPerPos: number[];
  lossAblated: number;
  lossAblatedPerPos: number[];
  bigramScore: number;
  bigramEntropy: number;
  /** Per n: mean loss of the last token of the n-token words, and (test loss at that position) / (that loss). */
  ngrams: { n: number; words: number; loss: number; score: number }[];
  icl: { score: number; early: number; late: number };
  weightNorm: number;
  rows: number;
}

export const lmEvalStage = defineStage({
  name: 'lm-eval',
  module: import.meta.url,
  params: lmEvalParams,
  inputs: { checkpoint: 'file', model: 'file', data: 'dir', bigrams: 'dir' },
  run: new URL('./lm-eval-run.ts', import.meta.url),
});
