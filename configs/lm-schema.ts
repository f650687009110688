// The language-model experiment's configuration (configs/lm*.yaml): a description and the `lm`
// section, whose parts are the LM stages' param schemas (stages/lm/declare.ts).
import { z } from 'zod';
import { lmSectionSchema } from '../stages/lm/declare.ts';

export const lmConfigSchema = z.strictObject({
  description: z.string().optional(),
  lm: lmSectionSchema,
});
export type LmExperimentConfig = z.output<typeof lmConfigSchema>;
