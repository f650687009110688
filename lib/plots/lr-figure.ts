// Figure 1, regression half (docs/figures.md): test loss and LLC against log training step with the
// detected stages shaded, and its one-line-per-seed variant.
import { Figure, paperSizes, type LegendItem } from './figure.ts';
import { BRIGHT, DEEP } from './palette.ts';
import { colorsForStages, shadeStages, stageLegend, type StageSpan } from './stages.ts';
import { LLC_LABEL, LOSS_LABEL, plotStyle, stepAxis, type FigureOptions, type Series } from './style.ts';

export interface Baselines {
  /** Loss of always predicting 0 (D + σ² for the Gaussian prior). */
  zero?: number;
  /** Ridge regression = the Bayes-optimal loss for the Gaussian prior. */
  ridge?: number;
}

function baselineLines(): { zero: LegendItem; ridge: LegendItem } {
  return {
    zero: { label: 'Zero predictor', color: '#666', kind: 'line', dash: 'dashed' },
    ridge: { label: 'Ridge (Bayes)', color: '#666', kind: 'line', dash: 'dotted' },
  };
}

export interface Figure1Data {
  label: string;
  loss: Series;
  llc: Series;
  stages: StageSpan[];
  baselines: Baselines;
}

/** Figure 1 (LR half): test loss over the LLC, both against log training step, stages shaded. */
export function lrFigure1(d: Figure1Data, o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.5 * WIDTH, 1.5 * HEIGHT, plotStyle(o));
  const [[top], [bottom]] = fig.panels(2, 1);
  const colors = colorsForStages(d.stages, o.stageColors);
  top.x = stepAxis(o, false);
  top.y = { kind: 'linear', label: LOSS_LABEL };
  bottom.x = stepAxis(o, true);
  bottom.y = { kind: 'linear', label: LLC_LABEL };
  for (const p of [top, bottom]) shadeStages(p, d.stages, colors);
  const refs = baselineLines();
  if (d.baselines.zero !== undefined) top.hline(d.baselines.zero, { color: refs.zero.color, dash: 'dashed', width: 1 });
  if (d.baselines.ridge !== undefined) top.hline(d.baselines.ridge, { color: refs.ridge.color, dash: 'dotted', width: 1.2 });
  top.line(d.loss.x, d.loss.y, { color: DEEP[0] });
  bottom.line(d.llc.x, d.llc.y, { color: DEEP[0] });
  bottom.scatter(d.llc.x, d.llc.y, { color: DEEP[0], size: 3.5 });
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend([
    { label: d.label, color: DEEP[0], kind: 'line' },
    ...(d.baselines.zero !== undefined ? [refs.zero] : []),
    ...(d.baselines.ridge !== undefined ? [refs.ridge] : []),
  ]);
  return fig.render();
}

export interface RunCurves {
  label: string;
  loss: Series;
  llc: Series;
}

/** lr-fig1-top-multiple: the same axes, one line per seed, no shading. */
export function lrFigure1Multiple(runs: RunCurves[], baselines: Baselines, o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.5 * WIDTH, 1.5 * HEIGHT, plotStyle(o));
  const [[top], [bottom]] = fig.panels(2, 1);
  top.x = stepAxis(o, false);
  top.y = { kind: 'linear', label: LOSS_LABEL };
  bottom.x = stepAxis(o, true);
  bottom.y = { kind: 'linear', label: LLC_LABEL };
  const refs = baselineLines();
  if (baselines.zero !== undefined) top.hline(baselines.zero, { color: refs.zero.color, dash: 'dashed', width: 1 });
  if (baselines.ridge !== undefined) top.hline(baselines.ridge, { color: refs.ridge.color, dash: 'dotted', width: 1.2 });
  runs.forEach((r, i) => {
    const color = DEEP[i % DEEP.length];
    top.line(r.loss.x, r.loss.y, { color, width: 1.2 });
    bottom.line(r.llc.x, r.llc.y, { color, width: 1.2 });
  });
  // With several seeds on a shared step grid: their mean ± 2 sd (the paper's errorbar = ('sd', 2)).
  const band = (p: typeof top, series: Series[]) => {
    if (series.length < 2 || !series.every((s) => s.x.length === series[0].x.length && s.x.every((x, j) => x === series[0].x[j]))) return false;
    const stats = series[0].x.map((_, j) => {
      const v = series.map((s) => s.y[j]);
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1))];
    });
    p.band(series[0].x, stats.map(([m, sd]) => m - 2 * sd), stats.map(([m, sd]) => m + 2 * sd), BRIGHT.red, 0.15);
    p.line(series[0].x, stats.map(([m]) => m), { color: BRIGHT.red, width: 1.6 });
    return true;
  };
  const banded = [band(top, runs.map((r) => r.loss)), band(bottom, runs.map((r) => r.llc))].some(Boolean);
  fig.legend([
    ...runs.map((r, i) => ({ label: r.label, color: DEEP[i % DEEP.length], kind: 'line' as const })),
    ...(banded ? [{ label: 'Mean ± 2 sd', color: BRIGHT.red, kind: 'line' as const }] : []),
    ...(baselines.zero !== undefined ? [refs.zero] : []),
    ...(baselines.ridge !== undefined ? [refs.ridge] : []),
  ]);
  return fig.render();
}
