// Curvature and learning-coefficient figures (docs/figures.md "Hessian", "ICL scores"): the Hessian
// alone, per-position λ̂ with the Hessian, unembedding LN with the Hessian, ICL scores, λ̂ against loss.
import { Figure, paperSizes } from './figure.ts';
import { BRIGHT, DEEP, sequential } from './palette.ts';
import { colorsForStages, stageIndexAt, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './style.ts';
import { STEP_LABEL, hessianPanel, indexLines, stagedPanel, sub, type HessianSeries } from './mechanism-panels.ts';

/** hessian: top eigenvalues and trace of the loss Hessian over training, log y. */
export function hessianFigure(h: HessianSeries, stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, FULL_HEIGHT * 1.2, plotStyle(o));
  const [[p]] = fig.panels(1, 1);
  const colors = colorsForStages(stages, o.stageColors);
  stagedPanel(p, stages, colors, o, true, 'Hessian statistic', 'log');
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend(hessianPanel(p, h));
  return fig.render();
}

export interface PerPositionLlc {
  steps: number[];
  /** [checkpoint][k]. */
  llcPerPos: number[][];
}

/** geometric: (a) per-position λ̂_k (viridis) with their mean; (b) Hessian statistics. */
export function geometricFigure(llc: PerPositionLlc, h: HessianSeries, stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, 2.2 * FULL_HEIGHT, plotStyle(o));
  const [[a], [b]] = fig.panels(2, 1);
  const colors = colorsForStages(stages, o.stageColors);
  a.title = '(a) Per-position LLC λ̂ₖ';
  b.title = '(b) Hessian of the test loss';
  stagedPanel(a, stages, colors, o, false, 'λ̂ₖ');
  stagedPanel(b, stages, colors, o, true, 'Hessian statistic', 'log');
  const K = llc.llcPerPos[0]?.length ?? 0;
  const kColors = sequential(Math.max(K, 1));
  for (let k = 0; k < K; k++) a.line(llc.steps, llc.llcPerPos.map((r) => r[k]), { color: kColors[k], width: 1 });
  a.line(llc.steps, llc.llcPerPos.map((r) => r.reduce((x, y) => x + y, 0) / K), { color: BRIGHT.red, width: 1.8 });
  const hLegend = hessianPanel(b, h);
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([...kColors.map((color, k) => ({ label: `k=${k + 1}`, color, kind: 'line' as const })), { label: 'Mean', color: BRIGHT.red, kind: 'line' }], 'Position:');
  fig.legend(hLegend);
  return fig.render();
}

/** LN-collapse-and-hessian: (a) the unembedding LN weights over time, mean ± std in red; (b) Hessian statistics. */
export function lnCollapseAndHessianFigure(steps: number[], unembedLnWeight: number[][], h: HessianSeries, stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, 2.2 * FULL_HEIGHT, plotStyle(o));
  const [[a], [b]] = fig.panels(2, 1);
  const colors = colorsForStages(stages, o.stageColors);
  a.title = '(a) Unembedding layer-norm weights γᵢ';
  b.title = '(b) Hessian of the test loss';
  stagedPanel(a, stages, colors, o, false, 'γᵢ');
  stagedPanel(b, stages, colors, o, true, 'Hessian statistic', 'log');
  indexLines(a, steps, unembedLnWeight);
  const hLegend = hessianPanel(b, h);
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([{ label: 'Mean ± std of γ', color: BRIGHT.red, kind: 'line' }, ...hLegend]);
  return fig.render();
}

/** icl-scores: I early / late with a zero line; (b) zooms on `zoom` (steps), marked by a dashed box in (a). */
export function iclScoresFigure(steps: number[], early: number[], late: number[], positions: [number, number, number], zoom: [number, number], stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, 1.3 * FULL_HEIGHT, plotStyle(o));
  const [[a, b]] = fig.panels(1, 2);
  const colors = colorsForStages(stages, o.stageColors);
  a.title = '(a) ICL scores';
  b.title = `(b) Zoom: t ∈ [${Math.round(zoom[0])}, ${Math.round(zoom[1])}]`;
  stagedPanel(a, stages, colors, o, true, 'ICL score');
  stagedPanel(b, stages, colors, o, true, '');
  b.x = { kind: 'log', domain: zoom, label: STEP_LABEL };
  for (const p of [a, b]) {
    p.hline(0, { color: '#999', width: 0.8 });
    p.line(steps, early, { color: DEEP[0] });
    p.line(steps, late, { color: DEEP[1] });
  }
  const inZoom = steps.map((s, i) => [s, i] as const).filter(([s]) => s >= zoom[0] && s <= zoom[1]).map(([, i]) => i);
  if (inZoom.length > 0) {
    const ys = inZoom.flatMap((i) => [early[i], late[i]]);
    const lo = Math.min(...ys);
    const hi = Math.max(...ys, 0);
    const pad = 0.05 * (hi - lo || 1);
    a.line([zoom[0], zoom[1], zoom[1], zoom[0], zoom[0]], [lo - pad, lo - pad, hi + pad, hi + pad, lo - pad], { color: '#333', dash: 'dashed', width: 0.9 }, { scale: false });
  }
  const [p1, pm, pK] = positions;
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([
    { label: `I${sub(p1)}:${sub(pm)} = ℓ${sub(pm)} − ℓ${sub(p1)}`, color: DEEP[0], kind: 'line' },
    { label: `I${sub(pm)}:${sub(pK)} = ℓ${sub(pK)} − ℓ${sub(pm)}`, color: DEEP[1], kind: 'line' },
  ]);
  return fig.render();
}

/** λ̂ against test loss (one point per LLC checkpoint, coloured by stage, joined in time order). */
export function llcVsLossFigure(runs: { label: string; loss: number[]; llc: number[]; steps: number[] }[], stages: StageSpan[], o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.5 * WIDTH, 1.5 * HEIGHT, plotStyle(o));
  const [[p]] = fig.panels(1, 1);
  p.x = { kind: 'linear', label: 'Test loss ℓ̂' };
  p.y = { kind: 'linear', label: 'LLC λ̂' };
  const colors = colorsForStages(stages, o.stageColors);
  runs.forEach((r, i) => {
    p.line(r.loss, r.llc, { color: DEEP[i % DEEP.length], width: 1, opacity: 0.6 });
    p.scatter(r.loss, r.llc, (j) => {
      const s = stageIndexAt(stages, r.steps[j]);
      return { color: s >= 0 ? colors[s] : '#999', size: 5, stroke: '#333' };
    });
  });
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend(runs.map((r, i) => ({ label: r.label, color: DEEP[i % DEEP.length], kind: 'line' as const })));
  return fig.render();
}
