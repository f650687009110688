// Stage 'figure-ed': essential-dynamics figures of one run.
//
// Inputs:
//   ed:     string  essential-dynamics node directory (ed.json)
//   stages: string  optional: stage-boundaries node directory of the same run (colours by stage)
// Params:
//   label        run label for titles
//   circleEvery  draw every n-th osculating circle (0 = about 12 per panel)
//   xLimits, style  as in figure-lr
// Outputs: essential-dynamics.svg (PC pairs with evolute and cusps, explained variance),
//          ed-pcs-over-time.svg (PC1–3 against step), figure-ed.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { essentialDynamicsFigure, pcsOverTime, type EdData } from '../../lib/plots/ed-figures.ts';
import type { EdJson } from '../essential-dynamics.ts';
import { figureOptions, figureStyleSchema, readJson, writeFigures, xLimitsSchema, type StagesJson } from './common.ts';

const STAGE = 'figure-ed';
const SECTION = 'Linear regression: essential dynamics';

export const figureEdParams = z.strictObject({
  label: z.string().default('run'),
  circleEvery: z.number().int().nonnegative().default(0),
  xLimits: xLimitsSchema,
  style: figureStyleSchema.default(figureStyleSchema.parse({})),
});

export const figureEdStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figureEdParams,
  inputs: { ed: 'dir', stages: 'dir?' },
  async run(ctx) {
    const { label, circleEvery, xLimits, style } = ctx.params;
    const ed = await readJson<EdJson>(STAGE, path.join(ctx.inputs.ed, 'ed.json'));
    const stagesDir = ctx.inputs.stages;
    const stages = stagesDir ? (await readJson<StagesJson>(STAGE, path.join(stagesDir, 'stages.json'))).stages : undefined;
    const data: EdData = { ...ed, stages };
    const every = circleEvery || Math.max(1, Math.round(ed.steps.length / 12));
    const cusps = ed.pairs.map((p) => `PC${p.i + 1}–PC${p.j + 1}: ${p.cuspSteps.join(', ') || 'none'}`).join('; ');
    await writeFigures(STAGE, ctx.outDir, [
      {
        section: SECTION,
        file: 'essential-dynamics.svg',
        title: `Essential dynamics (${label})`,
        caption: `PCA of the model's outputs on a fixed probe set at every checkpoint. Grey: each checkpoint; line: smoothed trajectory coloured by stage; small dots: osculating-circle centres (the evolute), every ${every}-th circle drawn; stars: evolute cusps, at steps ${cusps}.`,
        svg: essentialDynamicsFigure(data, { ...figureOptions('ed', style, xLimits), circleEvery: every }),
      },
      {
        section: SECTION,
        file: 'ed-pcs-over-time.svg',
        title: `Principal components over training (${label})`,
        caption: 'PC1–PC3 against training step; dashed: evolute cusps of the PC1–PC2 trajectory.',
        svg: pcsOverTime(data, figureOptions('ed-pcs', style, xLimits)),
      },
    ]);
  },
});
