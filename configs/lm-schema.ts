// The language-model experiment's configuration (configs/lm*.yaml): a description and the `lm`
// section, whose parts are the LM stages' param schemas (stages/lm/declare.ts).
import { z } from 'zod';
import { lmSectionSchema } from '../stages/lm/declare.ts';

export const lmConfigSchema = z.strictObject({
  /** Optional in the file: a config with an `lm:` section is this experiment (configs/schema.ts). */
  experiment: z.literal('language-model'),
  description: z.string().optional(),
  lm: lmSectionSchema,
});
export type LmExperimentConfig = z.output<typeof lmConfigSchema>;
