// The language-model experiment's configuration (configs/lm*.yaml): a description and the `lm`
// section, whose parts are the LM stages' param schemas (stages/lm/declare.ts).
import { z } from 'zod';
import { lmSectionSchema } from '../stages/lm/declare.ts';
import { lmAnalysisSchema } from '../stages/lm/declare-analysis.ts';
import { figureStyleSchema } from '../stages/figures/common.ts';

export const lmConfigSchema = z.strictObject({
  description: z.string().optional(),
  lm: lmSectionSchema,
  /** Evaluations, LLC, stages and figures on the checkpoints (stages/lm/declare-analysis.ts); omit to stop after training. */
  analysis: lmAnalysisSchema.optional(),
  figures: figureStyleSchema.default(figureStyleSchema.parse({})),
});
export type LmExperimentConfig = z.output<typeof lmConfigSchema>;
