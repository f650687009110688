// Stage 'figure-geometry': curvature and per-position LLC of one run, the ICL scores and λ̂ against
// loss (docs/figures.md "Hessian", "ICL scores").
//
// Inputs: hessians: dir[]  hessian node directories (hessian.json), any order
//         llcs:     dir[]  llc node directories (llc.json: llcPerPos)
//         weights:  dir[]  weight-stats directories (unembedding LN weights)
//         evals:    dir[]  evaluate directories (eval.json: lossPerPos)
//         stages:   dir    stage-boundaries directory
// Params: label, zoom (ICL-score zoom window in steps; default the second decade of the run), xLimits, style.
// Outputs: geometric.svg, hessian.svg, LN-collapse-and-hessian.svg, icl-scores.svg, llc-vs-loss.svg, figure-geometry.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { iclScores } from '../../lib/analysis/icl.ts';
import { changeOver, valueAt } from '../../lib/analysis/stage-summary.ts';
import type { WeightStats } from '../../lib/analysis/weights.ts';
import { geometricFigure, hessianFigure, iclScoresFigure, lnCollapseAndHessianFigure, llcVsLossFigure } from '../../lib/plots/geometry-figures.ts';
import type { HessianSeries } from '../../lib/plots/mechanism-panels.ts';
import type { HessianJson } from '../analysis/hessian.ts';
import { MECHANISMS_SECTION, figureOptions, figureStyleSchema, readEvals, readJson, readStepJsons, sig3, writeFigures, xLimitsSchema, type StagesJson } from './common.ts';

const STAGE = 'figure-geometry';

export const figureGeometryStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: z.strictObject({
    label: z.string().default('run'),
    zoom: z.tuple([z.number().positive(), z.number().positive()]).optional(),
    xLimits: xLimitsSchema,
    style: figureStyleSchema.default(figureStyleSchema.parse({})),
  }),
  inputs: { hessians: 'dir[]', llcs: 'dir[]', weights: 'dir[]', evals: 'dir[]', stages: 'dir' },
  async run(ctx) {
    const { label, xLimits, style } = ctx.params;
    const hess = await readStepJsons<HessianJson>(STAGE, ctx.inputs.hessians, 'hessian.json');
    const llcs = await readStepJsons<{ step: number; llcMean: number | null; llcPerPos: number[] | null }>(STAGE, ctx.inputs.llcs, 'llc.json');
    const weights = await readStepJsons<WeightStats>(STAGE, ctx.inputs.weights, 'weights.json');
    const evals = await readEvals(STAGE, ctx.inputs.evals);
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    if (hess.length === 0 || evals.length < 2) throw new Error(`${STAGE}: need hessian inputs and at least 2 evaluate inputs`);
    const h: HessianSeries = { steps: hess.map((x) => x.step), top: hess.map((x) => x.top), trace: hess.map((x) => x.trace) };
    const topSeries = { steps: h.steps, values: h.top.map((t) => t[0]) };
    const traceSeries = { steps: h.steps, values: h.trace };
    const hessStages = st.stages
      .map((s) => {
        const top = changeOver(topSeries, s);
        const tr = changeOver(traceSeries, s);
        return `${s.label} λ₁ ${sig3(top.from)}→${sig3(top.to)}, tr ${sig3(tr.from)}→${sig3(tr.to)}`;
      })
      .join('; ');
    const hessCaption = `Top-${h.top[0].length} eigenvalues (magma) and trace (blue, Hutchinson, ${hess[0].hvps} Hessian-vector products in all) of the Hessian of the test MSE on ${hess[0].size} validation sequences, at ${hess.length} checkpoints. Per stage: ${hessStages}.`;
    const okLlc = llcs.filter((l) => l.llcPerPos);
    const perPos = { steps: okLlc.map((l) => l.step), llcPerPos: okLlc.map((l) => l.llcPerPos!) };
    const K = perPos.llcPerPos[0]?.length ?? 0;
    const lastPerPos = perPos.llcPerPos.at(-1) ?? [];
    const unembedIdx = weights[0]?.layerNorms.findIndex((l) => l.name === 'unembedding') ?? -1;
    const unembedW = weights.map((x) => x.layerNorms[unembedIdx]?.weight ?? []);
    const ws = weights.map((x) => x.step);
    const meanAbs = (v: number[]) => v.reduce((a, b) => a + Math.abs(b), 0) / Math.max(1, v.length);
    const steps = evals.map((e) => e.step);
    const scores = evals.map((e) => iclScores(e.lossPerPos));
    const positive = steps.filter((s) => s > 0);
    const lo = positive[0] ?? 1;
    const hi = steps.at(-1)!;
    // Default zoom: the decade where I_{K/2:K} falls fastest (the ICL onset), else the middle decade.
    const late = scores.map((s) => s.late);
    let zoom = ctx.params.zoom;
    if (!zoom) {
      let best = 1;
      for (let i = 1; i < steps.length; i++) if (steps[i] > 0 && late[i] - late[i - 1] < late[best] - late[best - 1]) best = i;
      const c = steps[best] || Math.sqrt(lo * hi);
      zoom = [Math.max(lo, c / Math.sqrt(10)), Math.min(hi, c * Math.sqrt(10))];
    }
    const earlySeries = { steps, values: scores.map((s) => s.early) };
    const lateSeries = { steps, values: late };
    const minLate = Math.min(...late);
    const [p1, pm, pK] = scores[0].positions;
    const iclStages = st.stages.map((s) => `${s.label} I${p1}:${pm} ${sig3(changeOver(earlySeries, s).delta)}, I${pm}:${pK} ${sig3(changeOver(lateSeries, s).delta)}`).join('; ');
    const lossAt = new Map(evals.map((e) => [e.step, e.loss]));
    const llcLoss = st.steps.map((s, i) => ({ s, llc: st.llc[i], loss: lossAt.get(s) })).filter((p) => p.loss !== undefined);
    const figures = [
      {
        file: 'geometric.svg',
        title: `Per-position LLC and Hessian (${label})`,
        caption: `(a) λ̂ₖ, the LLC of the loss at context position k alone (viridis, k = 1 … ${K}; mean in red). At the last checkpoint λ̂₁ = ${sig3(lastPerPos[0] ?? null)} and λ̂${K} = ${sig3(lastPerPos[K - 1] ?? null)}. (b) ${hessCaption}`,
        svg: geometricFigure(perPos, h, st.stages, figureOptions('geometric', style, xLimits)),
      },
      {
        file: 'hessian.svg',
        title: `Hessian statistics (${label})`,
        caption: hessCaption,
        svg: hessianFigure(h, st.stages, figureOptions('hessian', style, xLimits)),
      },
      {
        file: 'LN-collapse-and-hessian.svg',
        title: `Unembedding layer norm and Hessian (${label})`,
        caption: `(a) The ${unembedW[0]?.length ?? 0} unembedding-LN weights γᵢ; mean |γ| ${sig3(meanAbs(unembedW[0] ?? []))} at step ${ws[0]} → ${sig3(meanAbs(unembedW.at(-1) ?? []))} at step ${ws.at(-1)}, top Hessian eigenvalue ${sig3(valueAt(topSeries, ws[0]))} → ${sig3(valueAt(topSeries, ws.at(-1)!))} over the same span. (b) As the Hessian figure.`,
        svg: lnCollapseAndHessianFigure(ws, unembedW, h, st.stages, figureOptions('ln-hessian', style, xLimits)),
      },
      {
        file: 'icl-scores.svg',
        title: `ICL scores (${label})`,
        caption: `I${p1}:${pm} = ℓ${pm} − ℓ${p1} and I${pm}:${pK} = ℓ${pK} − ℓ${pm} from the per-position test loss; negative = later context positions are predicted better. I${pm}:${pK} reaches its minimum ${sig3(minLate)} at step ${steps[late.indexOf(minLate)]}. Change per stage: ${iclStages}. (b) zooms on steps ${Math.round(zoom[0])}–${Math.round(zoom[1])} (dashed box in (a)).`,
        svg: iclScoresFigure(steps, earlySeries.values, late, [p1, pm, pK], zoom, st.stages, figureOptions('icl-scores', style, xLimits)),
      },
      {
        file: 'llc-vs-loss.svg',
        title: `LLC against test loss (${label})`,
        caption: `λ̂ at each LLC checkpoint against the test loss there, coloured by stage and joined in time order. From step ${llcLoss[0]?.s} to ${llcLoss.at(-1)?.s} the loss goes ${sig3(llcLoss[0]?.loss ?? null)} → ${sig3(llcLoss.at(-1)?.loss ?? null)} and λ̂ ${sig3(llcLoss[0]?.llc ?? null)} → ${sig3(llcLoss.at(-1)?.llc ?? null)}${llcLoss.length > 1 ? `; the largest λ̂ (${sig3(Math.max(...llcLoss.map((p) => p.llc)))}) is at loss ${sig3(llcLoss.reduce((a, b) => (b.llc > a.llc ? b : a)).loss!)}` : ''}.`,
        svg: llcVsLossFigure([{ label, steps: llcLoss.map((p) => p.s), loss: llcLoss.map((p) => p.loss!), llc: llcLoss.map((p) => p.llc) }], st.stages, figureOptions('llc-vs-loss', style)),
      },
    ];
    await writeFigures(STAGE, ctx.outDir, figures.map((f) => ({ ...f, section: MECHANISMS_SECTION })));
  },
});
