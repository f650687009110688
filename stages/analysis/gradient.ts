// Stage 'gradient': the gradient of the mean test MSE at one checkpoint on the first `size`
// sequences of the fixed pretraining evaluation set — the fingerprint of g-ED (essential dynamics
// of the gradient; docs/figures.md "ED variants"). One vector of the model's parameter count.
//
// Inputs: checkpoint (file), model (file: model.json), tasks (dir). Output: gradient.swt.
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';

export const gradientParams = z.strictObject({ size: z.number().int().positive().default(1024) });

export const gradientStage = defineStage({
  name: 'gradient',
  module: import.meta.url,
  params: gradientParams,
  inputs: { checkpoint: 'file', model: 'file', tasks: 'dir' },
  run: new URL('./gradient-run.ts', import.meta.url),
});
