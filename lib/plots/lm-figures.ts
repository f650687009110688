// The language model's figures (docs/language-model.md, "Figures"): behaviour over training with
// the LM stages shaded. Figure 1 (loss and λ̂) reuses lrFigure1; the essential-dynamics figures
// reuse lib/plots/ed-figures.ts.
import { Figure, paperSizes } from './figure.ts';
import { BRIGHT, DEEP, sequential } from './palette.ts';
import type { Panel } from './panel.ts';
import { colorsForStages, shadeStages, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './style.ts';

export interface LmCurves {
  steps: number[];
  loss: number[];
  lossAblated: number[];
  bigramScore: number[];
  /** The bigram entropy (a constant of the data). */
  bigramEntropy: number;
  /** Per n: n-gram score per checkpoint. */
  ngrams: { n: number; score: number[] }[];
  icl: number[];
  /** [checkpoint][layer][head] */
  previousToken: number[][][];
  prefixMatching: number[][][];
  /** [checkpoint][head of layer 1][head of layer 2] */
  kComposition: number[][][];
  /** [checkpoint][position] (predicting position) */
  lossPerPos: number[][];
  lossAblatedPerPos: number[][];
  stages: StageSpan[];
}

const STEP_LABEL = 'Training step t';

function stepAxes(panels: Panel[], o: FigureOptions): void {
  panels.forEach((p, i) => (p.x = { kind: 'log', domain: o.xLimits, label: i === panels.length - 1 ? STEP_LABEL : undefined, tickLabels: i === panels.length - 1 }));
}

/** Positive steps only: the log axis has no place for step 0. */
function positive(steps: number[], ys: number[]): [number[], number[]] {
  const keep = steps.map((s, i) => (s > 0 ? i : -1)).filter((i) => i >= 0);
  return [keep.map((i) => steps[i]), keep.map((i) => ys[i])];
}

function line(p: Panel, steps: number[], ys: number[], style: { color: string; width?: number; dash?: 'dashed' | 'dotted'; opacity?: number }) {
  const [x, y] = positive(steps, ys);
  p.line(x, y, style);
}

/** LM1-2: (a) bigram score vs the bigram entropy; (b) test loss and position-ablated loss; (c) n-gram scores with a line at 1. */
export function lmBigramsNgrams(d: LmCurves, o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.5 * WIDTH, 3 * HEIGHT + 30, plotStyle(o));
  const [[a], [b], [c]] = fig.panels(3, 1);
  const colors = colorsForStages(d.stages, o.stageColors);
  stepAxes([a, b, c], o);
  a.title = '(a) Bigram score';
  b.title = '(b) Positional ablation';
  c.title = '(c) n-gram scores';
  a.y = { kind: 'linear', label: 'Cross-entropy (nats)' };
  b.y = { kind: 'linear', label: 'Test loss' };
  c.y = { kind: 'linear', label: 'Loss at n / n-gram loss' };
  for (const p of [a, b, c]) shadeStages(p, d.stages, colors);
  a.hline(d.bigramEntropy, { color: '#666', dash: 'dashed', width: 1 });
  line(a, d.steps, d.bigramScore, { color: DEEP[0] });
  line(b, d.steps, d.loss, { color: DEEP[0] });
  line(b, d.steps, d.lossAblated, { color: DEEP[1] });
  c.hline(1, { color: '#666', dash: 'dashed', width: 1 });
  d.ngrams.forEach((g, i) => line(c, d.steps, g.score, { color: DEEP[2 + i] }));
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend([
    { label: 'Bigram score', color: DEEP[0], kind: 'line' },
    { label: 'Bigram entropy', color: '#666', kind: 'line', dash: 'dashed' },
    { label: 'Test loss', color: DEEP[0], kind: 'line' },
    { label: 'Positions ablated', color: DEEP[1], kind: 'line' },
  ]);
  fig.legend(d.ngrams.map((g, i) => ({ label: `n = ${g.n}`, color: DEEP[2 + i], kind: 'line' as const })), 'n-grams:');
  return fig.render();
}

/** "h:l" labels are 1-based layer:head, as the paper. */
export const headLabel = (l: number, h: number) => `${l + 1}:${h + 1}`;

/**
 * Heads: (a) previous-token score of every head, (b) prefix-matching score of every head (layer 1
 * dashed, layer 2 solid; the `highlight` heads thick), (c) ICL score.
 */
export function lmHeadsFigure(d: LmCurves, highlight: { previousToken: [number, number][]; prefixMatching: [number, number][] }, o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.5 * WIDTH, 3 * HEIGHT + 40, plotStyle(o));
  const [[a], [b], [c]] = fig.panels(3, 1);
  const colors = colorsForStages(d.stages, o.stageColors);
  stepAxes([a, b, c], o);
  a.title = '(a) Previous-token score';
  b.title = '(b) Prefix-matching score';
  c.title = '(c) ICL score';
  a.y = { kind: 'linear', label: 'Attention', domain: [0, 1] };
  b.y = { kind: 'linear', label: 'Attention', domain: [0, 1] };
  c.y = { kind: 'linear', label: 'ℓ(late) − ℓ(early)' };
  for (const p of [a, b, c]) shadeStages(p, d.stages, colors);
  const L = d.previousToken[0]?.length ?? 0;
  const H = d.previousToken[0]?.[0]?.length ?? 0;
  const legend: { label: string; color: string; kind: 'line' }[] = [];
  const draw = (p: Panel, scores: number[][][], hi: [number, number][]) => {
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const k = hi.findIndex(([hl, hh]) => hl === l && hh === h);
        const series = scores.map((s) => s[l][h]);
        if (k >= 0) line(p, d.steps, series, { color: DEEP[(k + (p === b ? 3 : 0)) % DEEP.length], width: 2.2 });
        else line(p, d.steps, series, { color: '#999', width: 0.8, dash: l === 0 ? 'dashed' : undefined, opacity: 0.7 });
      }
    }
  };
  draw(a, d.previousToken, highlight.previousToken);
  draw(b, d.prefixMatching, highlight.prefixMatching);
  highlight.previousToken.forEach(([l, h], k) => legend.push({ label: `${headLabel(l, h)} (prev.)`, color: DEEP[k % DEEP.length], kind: 'line' }));
  highlight.prefixMatching.forEach(([l, h], k) => legend.push({ label: `${headLabel(l, h)} (prefix)`, color: DEEP[(k + 3) % DEEP.length], kind: 'line' }));
  c.hline(0, { color: '#999', width: 0.8 });
  line(c, d.steps, d.icl, { color: BRIGHT.red });
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend(legend, 'Heads:');
  fig.legend([
    { label: 'Other heads (layer 1 dashed)', color: '#999', kind: 'line' },
    { label: 'ICL score', color: BRIGHT.red, kind: 'line' },
  ]);
  return fig.render();
}

/** K-composition between chosen layer-1 heads (rows) and layer-2 heads (columns), with the step-0 mean as a dashed baseline. */
export function lmKCompositionFigure(d: LmCurves, rows: number[], cols: number[], o: FigureOptions): string {
  const { WIDTH } = paperSizes(o.width);
  const size = (1.5 * WIDTH) / Math.max(2, cols.length);
  const fig = new Figure(o.id, 1.5 * WIDTH, size * 0.75 * rows.length + 40, plotStyle(o));
  const grid = fig.panels(rows.length, cols.length);
  const colors = colorsForStages(d.stages, o.stageColors);
  const first = d.kComposition[0];
  let base = 0;
  first.forEach((r) => r.forEach((v) => (base += v)));
  base /= first.length * first[0].length;
  rows.forEach((i, r) => {
    cols.forEach((j, c) => {
      const p = grid[r][c];
      const last = r === rows.length - 1;
      p.x = { kind: 'log', domain: o.xLimits, label: last && c === 0 ? STEP_LABEL : undefined, tickLabels: last };
      p.y = { kind: 'linear', label: c === 0 ? 'K-comp.' : undefined, tickLabels: c === 0 };
      p.title = `${headLabel(0, i)} → ${headLabel(1, j)}`;
      shadeStages(p, d.stages, colors);
      p.hline(base, { color: '#666', dash: 'dashed', width: 1 });
      line(p, d.steps, d.kComposition.map((k) => k[i][j]), { color: DEEP[0] });
    });
  });
  // One y range for the whole grid so panels compare.
  const all = rows.flatMap((i) => cols.flatMap((j) => d.kComposition.map((k) => k[i][j])));
  const lo = Math.min(base, ...all);
  const hi = Math.max(base, ...all);
  const pad = 0.05 * (hi - lo || 1);
  for (const row of grid) for (const p of row) p.y.domain = [lo - pad, hi + pad];
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend([{ label: `Mean at step 0 (${base.toFixed(3)})`, color: '#666', kind: 'line', dash: 'dashed' }]);
  return fig.render();
}

/** Per-position test loss over training, with and without the positional embedding (viridis by ln position). */
export function lmPerPositionFigure(d: LmCurves, positions: number[], o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.5 * WIDTH, 2 * HEIGHT + 30, plotStyle(o));
  const [[a], [b]] = fig.panels(2, 1);
  const colors = colorsForStages(d.stages, o.stageColors);
  stepAxes([a, b], o);
  a.title = '(a) Per-position test loss';
  b.title = '(b) With the positional embedding ablated';
  a.y = { kind: 'linear', label: 'Test loss' };
  b.y = { kind: 'linear', label: 'Test loss' };
  for (const p of [a, b]) shadeStages(p, d.stages, colors);
  const shades = sequential(positions.length, 'viridis');
  positions.forEach((t, k) => {
    line(a, d.steps, d.lossPerPos.map((r) => r[t]), { color: shades[k], width: 1.2 });
    line(b, d.steps, d.lossAblatedPerPos.map((r) => r[t]), { color: shades[k], width: 1.2 });
  });
  // Shared y range: the ablation's cost is read as the vertical offset between the panels.
  const ys = positions.flatMap((t) => [...d.lossPerPos.map((r) => r[t]), ...d.lossAblatedPerPos.map((r) => r[t])]);
  const domain: [number, number] = [Math.min(...ys), Math.max(...ys)];
  a.y.domain = domain;
  b.y.domain = domain;
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend(positions.map((t, k) => ({ label: `${t + 1}`, color: shades[k], kind: 'line' as const })), 'Token:');
  return fig.render();
}
