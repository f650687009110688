// Layer-norm, unembedding and embedding collapse (docs/figures.md "Layer-norm and embedding collapse").
import { Figure, paperSizes } from './figure.ts';
import { BRIGHT, sequential } from './palette.ts';
import { colorsForStages, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './style.ts';
import type { Panel } from './panel.ts';
import { indexLines, meanStd, stagedPanel } from './mechanism-panels.ts';

export interface LayerNormSeries {
  steps: number[];
  /** LN names, e.g. 'block 1 pre-attention'. */
  names: string[];
  /** [ln][checkpoint][index]. */
  weight: number[][][];
  bias: number[][][];
  /** [ln][checkpoint]: fraction of |γ| < 0.1 and of |β| < 0.1. */
  weightCollapsed: number[][];
  biasCollapsed: number[][];
}

/** LN-collapse: (a) mean weight per LN ± std, (b) the same for biases; one colour per LN. */
export function lnCollapseFigure(ln: LayerNormSeries, stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, 2.2 * FULL_HEIGHT, plotStyle(o));
  const [[a], [b]] = fig.panels(2, 1);
  const colors = colorsForStages(stages, o.stageColors);
  a.title = '(a) Layer-norm weights γ (mean ± std)';
  b.title = '(b) Layer-norm biases β (mean ± std)';
  stagedPanel(a, stages, colors, o, false, 'γ');
  stagedPanel(b, stages, colors, o, true, 'β');
  const lnColors = sequential(ln.names.length);
  ln.names.forEach((_, i) => {
    for (const [p, series] of [[a, ln.weight[i]], [b, ln.bias[i]]] as const) {
      const ms = series.map(meanStd);
      p.band(ln.steps, ms.map(([m, s]) => m - s), ms.map(([m, s]) => m + s), lnColors[i], 0.12);
      p.line(ln.steps, ms.map(([m]) => m), { color: lnColors[i] });
    }
  });
  a.hline(0, { color: '#999', width: 0.8 });
  b.hline(0, { color: '#999', width: 0.8 });
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend(ln.names.map((label, i) => ({ label, color: lnColors[i], kind: 'line' as const })));
  return fig.render();
}

/** LN-collapse-detail: 2 × (number of LNs): every weight (top) and bias (bottom), with the collapsed fraction noted. */
export function lnCollapseDetailFigure(ln: LayerNormSeries, stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const n = ln.names.length;
  const fig = new Figure(o.id, Math.max(FULL_WIDTH, n * 0.55 * FULL_WIDTH), 2.4 * FULL_HEIGHT, plotStyle(o));
  const grid = fig.panels(2, n);
  const colors = colorsForStages(stages, o.stageColors);
  const pct = (v: number) => `${Math.round(100 * v)}%`;
  ln.names.forEach((name, i) => {
    const [top, bottom] = [grid[0][i], grid[1][i]];
    top.title = name;
    stagedPanel(top, stages, colors, o, false, i === 0 ? 'γ' : '');
    stagedPanel(bottom, stages, colors, o, true, i === 0 ? 'β' : '');
    indexLines(top, ln.steps, ln.weight[i]);
    indexLines(bottom, ln.steps, ln.bias[i]);
    const w = ln.weightCollapsed[i];
    const bb = ln.biasCollapsed[i];
    top.note(0.04, 0.08, `|γ|<0.1: ${pct(w[0])}→${pct(w.at(-1)!)}`, { fraction: true });
    bottom.note(0.04, 0.08, `|β|<0.1: ${pct(bb[0])}→${pct(bb.at(-1)!)}`, { fraction: true });
  });
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([{ label: 'one line per entry (viridis by index)', color: sequential(3)[1], kind: 'line' }, { label: 'Mean ± std', color: BRIGHT.red, kind: 'line' }]);
  return fig.render();
}

export interface UnembedSeries {
  steps: number[];
  lnWeight: number[][];
  lnBias: number[][];
  weight: number[][];
  bias: number[];
  effectiveWeight: number[][];
  effectiveBias: number[];
}

/** unembed-collapse: 2×3: LN weights, LN biases, W_un[0,:]; b_un[0], effective weights, effective bias. */
export function unembedCollapseFigure(u: UnembedSeries, stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.25 * FULL_WIDTH, 2.4 * FULL_HEIGHT, plotStyle(o));
  const grid = fig.panels(2, 3);
  const colors = colorsForStages(stages, o.stageColors);
  const panels: [Panel, string, number[][] | number[]][] = [
    [grid[0][0], 'LN weight γ', u.lnWeight],
    [grid[0][1], 'LN bias β', u.lnBias],
    [grid[0][2], 'Read-out W_un[0, :]', u.weight],
    [grid[1][0], 'Read-out bias b_un[0]', u.bias],
    [grid[1][1], 'Effective γ ⊙ W_un[0, :]', u.effectiveWeight],
    [grid[1][2], 'Effective bias W_un[0, :]·β + b_un[0]', u.effectiveBias],
  ];
  panels.forEach(([p, title, series], i) => {
    p.title = `(${'abcdef'[i]}) ${title}`;
    stagedPanel(p, stages, colors, o, i >= 3, '');
    if (Array.isArray(series[0])) indexLines(p, u.steps, series as number[][]);
    else p.line(u.steps, series as number[], { color: BRIGHT.red, width: 1.6 });
    p.hline(0, { color: '#999', width: 0.8 });
  });
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([{ label: 'one line per residual dimension (viridis)', color: sequential(3)[1], kind: 'line' }, { label: 'Mean ± std / scalar', color: BRIGHT.red, kind: 'line' }]);
  return fig.render();
}

/** embed-collapse: normalised squared singular values of (a) the token and (b) the positional embedding, log y. */
export function embedCollapseFigure(steps: number[], token: number[][], position: number[][], stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, 1.3 * FULL_HEIGHT, plotStyle(o));
  const [[a, b]] = fig.panels(1, 2);
  const colors = colorsForStages(stages, o.stageColors);
  a.title = '(a) Token embedding';
  b.title = '(b) Positional embedding';
  stagedPanel(a, stages, colors, o, true, 'σᵢ²/Σσ²', 'log');
  stagedPanel(b, stages, colors, o, true, '', 'log');
  indexLines(a, steps, token, { meanBand: false, width: 1.2 });
  indexLines(b, steps, position, { meanBand: false, width: 1.2 });
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([{ label: 'i = 1 (largest)', color: sequential(3)[0], kind: 'line' }, { label: '… i = last (smallest)', color: sequential(3)[2], kind: 'line' }]);
  return fig.render();
}
