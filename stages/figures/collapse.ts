// Stage 'figure-collapse': layer-norm, unembedding and embedding collapse of one run
// (docs/figures.md "Layer-norm and embedding collapse").
//
// Inputs: weights: dir[]  weight-stats node directories (weights.json), any order
//         stages:  dir    the run's stage-boundaries directory (stages.json)
// Params: label, xLimits, style as the other figure stages.
// Outputs: LN-collapse.svg, LN-collapse-detail.svg, unembed-collapse.svg, embed-collapse.svg, figure-collapse.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import type { WeightStats } from '../../lib/analysis/weights.ts';
import { embedCollapseFigure, lnCollapseDetailFigure, lnCollapseFigure, unembedCollapseFigure, type LayerNormSeries } from '../../lib/plots/collapse-figures.ts';
import { MECHANISMS_SECTION, figureOptions, figureStyleSchema, readJson, readStepJsons, writeFigures, xLimitsSchema, type StagesJson } from './common.ts';

const STAGE = 'figure-collapse';
const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
const f3 = (v: number) => v.toFixed(3);

export const figureCollapseStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: z.strictObject({ label: z.string().default('run'), xLimits: xLimitsSchema, style: figureStyleSchema.default(figureStyleSchema.parse({})) }),
  inputs: { weights: 'dir[]', stages: 'dir' },
  async run(ctx) {
    const { label, xLimits, style } = ctx.params;
    const w = await readStepJsons<WeightStats>(STAGE, ctx.inputs.weights, 'weights.json');
    if (w.length < 2) throw new Error(`${STAGE}: need at least 2 weight-stats inputs, got ${w.length}`);
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    const steps = w.map((x) => x.step);
    const first = w[0];
    const last = w.at(-1)!;
    const names = first.layerNorms.map((ln) => ln.name);
    const ln: LayerNormSeries = {
      steps,
      names,
      weight: names.map((_, i) => w.map((x) => x.layerNorms[i].weight)),
      bias: names.map((_, i) => w.map((x) => x.layerNorms[i].bias)),
      weightCollapsed: names.map((_, i) => w.map((x) => x.layerNorms[i].weightCollapsed)),
      biasCollapsed: names.map((_, i) => w.map((x) => x.layerNorms[i].biasCollapsed)),
    };
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    // Where the collapse happens: the stage in which the overall collapsed fraction rises most.
    const collapsedAt = (step: number) => w.reduce((best, x) => (Math.abs(Math.log1p(x.step) - Math.log1p(step)) < Math.abs(Math.log1p(best.step) - Math.log1p(step)) ? x : best)).lnWeightCollapsed;
    const rises = st.stages.map((s) => ({ label: s.label, rise: collapsedAt(s.end) - collapsedAt(s.start) }));
    const topRise = rises.reduce((a, b) => (b.rise > a.rise ? b : a), rises[0] ?? { label: '–', rise: 0 });
    const unembedIdx = names.indexOf('unembedding');
    const perLn = names.map((n, i) => `${n} ${f3(mean(first.layerNorms[i].weight))}→${f3(mean(last.layerNorms[i].weight))}`).join('; ');
    const unembed = {
      steps,
      lnWeight: w.map((x) => x.layerNorms[unembedIdx]?.weight ?? []),
      lnBias: w.map((x) => x.layerNorms[unembedIdx]?.bias ?? []),
      weight: w.map((x) => x.unembed.weight),
      bias: w.map((x) => x.unembed.bias),
      effectiveWeight: w.map((x) => x.unembed.effectiveWeight),
      effectiveBias: w.map((x) => x.unembed.effectiveBias),
    };
    const absMean = (v: number[]) => mean(v.map(Math.abs));
    const figures = [
      {
        file: 'LN-collapse.svg',
        title: `Layer-norm collapse (${label})`,
        caption: `Mean ± std over entries of each layer norm's weight γ (a) and bias β (b). Mean γ from step ${steps[0]} to ${steps.at(-1)}: ${perLn}. Fraction of all LN weights with |γ| < 0.1: ${pct(first.lnWeightCollapsed)} → ${pct(last.lnWeightCollapsed)}${topRise && topRise.rise > 0 ? `, rising most in ${topRise.label} (+${pct(topRise.rise)})` : ', no rise in any stage'}.`,
        svg: lnCollapseFigure(ln, st.stages, figureOptions('ln-collapse', style, xLimits)),
      },
      {
        file: 'LN-collapse-detail.svg',
        title: `Layer-norm collapse, every entry (${label})`,
        caption: `Every weight (top) and bias (bottom) of each layer norm over training, mean ± std in red; the note gives the fraction of entries with |value| < 0.1 at the first and last checkpoint. Unembedding LN: |γ| < 0.1 for ${pct(ln.weightCollapsed[unembedIdx]?.[0] ?? 0)} → ${pct(ln.weightCollapsed[unembedIdx]?.at(-1) ?? 0)} of its entries.`,
        svg: lnCollapseDetailFigure(ln, st.stages, figureOptions('ln-detail', style, xLimits)),
      },
      {
        file: 'unembed-collapse.svg',
        title: `Unembedding collapse (${label})`,
        caption: `The read-out of the prediction ŷ (output channel 0): the unembedding LN's γ and β, the row W_un[0, :] and bias b_un[0], and the effective map γ ⊙ W_un[0, :] with bias W_un[0, :]·β + b_un[0]. Mean |γ ⊙ W_un[0, :]| goes ${f3(absMean(first.unembed.effectiveWeight))} → ${f3(absMean(last.unembed.effectiveWeight))}; effective bias ${f3(first.unembed.effectiveBias)} → ${f3(last.unembed.effectiveBias)}.`,
        svg: unembedCollapseFigure(unembed, st.stages, figureOptions('unembed', style, xLimits)),
      },
      {
        file: 'embed-collapse.svg',
        title: `Embedding spectra (${label})`,
        caption: `Normalised squared singular values σᵢ²/Σσ² of the token embedding (${first.tokenSpectrum.length} values) and the positional embedding (${first.positionSpectrum.length}). Share of the largest: token ${pct(first.tokenSpectrum[0])} → ${pct(last.tokenSpectrum[0])}, positional ${pct(first.positionSpectrum[0])} → ${pct(last.positionSpectrum[0])}; smallest positional value ${last.positionSpectrum.at(-1)!.toExponential(1)} at the end (a collapse of dimensions shows as values falling by decades).`,
        svg: embedCollapseFigure(steps, w.map((x) => x.tokenSpectrum), w.map((x) => x.positionSpectrum), st.stages, figureOptions('embed', style, xLimits)),
      },
    ];
    await writeFigures(STAGE, ctx.outDir, figures.map((f) => ({ ...f, section: MECHANISMS_SECTION })));
  },
});
