// Stage 'figure-ed-variants': essential dynamics of five fingerprints (outputs, weights, gradient,
// Adam's moments) of one run, one row each (docs/figures.md "ED variants").
//
// Inputs: ed: dir (ed-variants node: ed-variants.json); stages: dir (stage-boundaries).
// Params: label, style. Outputs: ED-variants.svg, figure-ed-variants.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { edVariantsFigure } from '../../lib/plots/ed-variants-figure.ts';
import type { EdVariantsJson } from '../analysis/ed-variants.ts';
import { MECHANISMS_SECTION, figureOptions, figureStyleSchema, readJson, writeFigures, type StagesJson } from './common.ts';

const STAGE = 'figure-ed-variants';
const TITLES = { f: '(a) f-ED: outputs', w: '(b) w-ED: weights', g: '(c) g-ED: gradient', m: '(d) m-ED: Adam m', v: '(e) v-ED: Adam v' };

export const figureEdVariantsStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: z.strictObject({ label: z.string().default('run'), style: figureStyleSchema.default(figureStyleSchema.parse({})) }),
  inputs: { ed: 'dir', stages: 'dir' },
  async run(ctx) {
    const { label, style } = ctx.params;
    const ed = await readJson<EdVariantsJson>(STAGE, path.join(ctx.inputs.ed, 'ed-variants.json'));
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    const rows = ed.variants.map((v) => ({ title: TITLES[v.name], projections: v.projections, explained: v.explainedVarianceRatio }));
    const summary = ed.variants.map((v) => `${v.name} (${v.features.toLocaleString('en')} features) PC1 ${v.explainedVarianceRatio[0].toFixed(2)}, PC1–3 ${v.explainedVarianceRatio.slice(0, 3).reduce((a, b) => a + b, 0).toFixed(2)}`).join('; ');
    await writeFigures(STAGE, ctx.outDir, [
      {
        file: 'ED-variants.svg',
        title: `Essential dynamics of five fingerprints (${label})`,
        caption: `PCA over ${ed.steps.length} checkpoints of each fingerprint, unsmoothed: raw outputs on the probe set (f), weights (w), the validation gradient (g), Adam's first (m) and second (v) moments. Grey: checkpoints; line: trajectory coloured by stage; bars: explained-variance ratio. Explained variance: ${summary}.`,
        svg: edVariantsFigure(ed.steps, rows, st.stages, figureOptions('ed-variants', style)),
        section: MECHANISMS_SECTION,
      },
    ]);
  },
});
