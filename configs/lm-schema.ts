// The language-model experiment's configuration (configs/lm*.yaml): a description, the `lm`
// section (the LM stages' param schemas, stages/lm/declare.ts), the `analysis` section (the
// analysis stages' param schemas, stages/lm/declare-analysis.ts) and the figure style.
import { z } from 'zod';
import { lmSectionSchema } from '../stages/lm/declare.ts';
import { lmAnalysisSchema } from '../stages/lm/declare-analysis.ts';
import { figureStyleSchema } from '../stages/figures/common.ts';

export const lmConfigSchema = z.strictObject({
  /** Optional in the file: a config with an `lm:` section is this experiment (configs/schema.ts). */
  experiment: z.literal('language-model'),
  description: z.string().optional(),
  lm: lmSectionSchema,
  /** Evaluations, LLC, stages and figures on the checkpoints (stages/lm/declare-analysis.ts); omit to stop after training. */
  analysis: lmAnalysisSchema.optional(),
  figures: figureStyleSchema.default(figureStyleSchema.parse({})),
});
export type LmExperimentConfig = z.output<typeof lmConfigSchema>;
