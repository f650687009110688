// The mechanism figures of the regression transformer (docs/figures.md "Mechanisms"): Hessian and
// per-position LLC, layer-norm / unembedding / embedding collapse, ICL scores, λ̂ against loss,
// the attention-metric grids and essential dynamics of five fingerprints. Same conventions as
// training-figures.ts: log training-step axis, stages shaded, per-index lines in viridis, means in
// bright red.
import { Figure, paperSizes, type LegendItem } from './figure.ts';
import { BRIGHT, DEEP, sequential } from './palette.ts';
import { colorsForStages, shadeStages, stageIndexAt, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './training-figures.ts';
import type { Panel } from './panel.ts';
import type { AxisSpec } from './axis.ts';

const STEP_LABEL = 'Training step t';
const stepAxis = (o: FigureOptions, labelled: boolean): AxisSpec => ({ kind: 'log', domain: o.xLimits, label: labelled ? STEP_LABEL : undefined, tickLabels: labelled });
const sub = (k: number) => [...String(k)].map((c) => String.fromCharCode(0x2080 + Number(c))).join('');

function meanStd(values: number[]): [number, number] {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  return [m, Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length)];
}

/** One faint line per index (viridis) plus the mean ± std over indices in red. rows: [checkpoint][index]. */
function indexLines(p: Panel, steps: number[], rows: number[][], opts: { meanBand?: boolean; width?: number } = {}): void {
  const count = rows[0]?.length ?? 0;
  const colors = sequential(Math.max(count, 1));
  for (let i = 0; i < count; i++) p.line(steps, rows.map((r) => r[i]), { color: colors[i], width: opts.width ?? 0.7, opacity: 0.6 });
  if (opts.meanBand === false || count < 2) return;
  const ms = rows.map(meanStd);
  p.band(steps, ms.map(([m, s]) => m - s), ms.map(([m, s]) => m + s), BRIGHT.red, 0.15);
  p.line(steps, ms.map(([m]) => m), { color: BRIGHT.red, width: 1.6 });
}

function stagedPanel(p: Panel, stages: StageSpan[], colors: string[], o: FigureOptions, labelled: boolean, yLabel: string, yKind: 'linear' | 'log' = 'linear'): void {
  p.x = stepAxis(o, labelled);
  p.y = { kind: yKind, label: yLabel };
  shadeStages(p, stages, colors);
}

export interface HessianSeries {
  steps: number[];
  /** [checkpoint][rank]: top eigenvalues, largest first. */
  top: number[][];
  trace: number[];
}

function hessianPanel(p: Panel, h: HessianSeries): LegendItem[] {
  const ranks = h.top[0]?.length ?? 0;
  const colors = sequential(Math.max(ranks, 1), 'magma');
  for (let r = 0; r < ranks; r++) {
    p.line(h.steps, h.top.map((t) => t[r]), { color: colors[r] });
    p.scatter(h.steps, h.top.map((t) => t[r]), { color: colors[r], size: 3 });
  }
  p.line(h.steps, h.trace, { color: BRIGHT.red, width: 1.6 });
  p.scatter(h.steps, h.trace, { color: BRIGHT.red, size: 3 });
  return [...colors.map((color, r) => ({ label: `λ${sub(r + 1)}(H)`, color, kind: 'line' as const })), { label: 'tr H', color: BRIGHT.red, kind: 'line' }];
}

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

/** icl-scores: I early / late with a zero line; (b) zooms on `zoom` (steps), marked by a dashed box in (a). */
export function iclScoresFigure(steps: number[], early: number[], late: number[], positions: [number, number, number], zoom: [number, number], stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, 1.3 * FULL_HEIGHT, plotStyle(o));
  const [[a, b]] = fig.panels(1, 2);
  const colors = colorsForStages(stages, o.stageColors);
  a.title = '(a) ICL scores';
  b.title = `(b) Zoom: t ∈ [${zoom[0]}, ${zoom[1]}]`;
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

export interface AttentionSeries {
  steps: number[];
  layers: number;
  heads: number;
  /** Query positions (2K − 1). */
  T: number;
  /** [checkpoint][layer][head][position]. */
  values: number[][][][];
}

/**
 * attn-METRIC: columns = (layer × token type of the query), rows = heads; one line per query
 * position of that type (viridis for x tokens, magma for y tokens).
 */
export function attentionGridFigure(a: AttentionSeries, yLabel: string, stages: StageSpan[], o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const cols = 2 * a.layers;
  const fig = new Figure(o.id, Math.max(2 * WIDTH, cols * 0.62 * WIDTH), a.heads * 0.62 * HEIGHT + 40, { ...plotStyle(o), fontSize: o.fontSize - 1, labelSize: o.fontSize, titleSize: o.fontSize });
  const grid = fig.panels(a.heads, cols);
  const colors = colorsForStages(stages, o.stageColors);
  const xPositions = Array.from({ length: a.T }, (_, i) => i).filter((i) => i % 2 === 0);
  const yPositions = Array.from({ length: a.T }, (_, i) => i).filter((i) => i % 2 === 1);
  const xColors = sequential(xPositions.length, 'viridis');
  const yColors = sequential(yPositions.length, 'magma');
  for (let h = 0; h < a.heads; h++) {
    for (let c = 0; c < cols; c++) {
      const l = Math.floor(c / 2);
      const type = c % 2 === 0 ? 'x' : 'y';
      const p = grid[h][c];
      p.title = `b${l + 1}h${h + 1}${type}`;
      stagedPanel(p, stages, colors, o, h === a.heads - 1, c === 0 ? yLabel : '');
      const positions = type === 'x' ? xPositions : yPositions;
      const palette = type === 'x' ? xColors : yColors;
      positions.forEach((i, j) => p.line(a.steps, a.values.map((v) => v[l][h][i]), { color: palette[j], width: 0.9 }));
    }
  }
  fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend(
    [
      { label: 'x-token queries (viridis, early → late)', color: xColors[Math.floor(xColors.length / 2)], kind: 'line' },
      { label: 'y-token queries (magma)', color: yColors[Math.floor(yColors.length / 2)], kind: 'line' },
    ],
  );
  return fig.render();
}

export interface PickedHead {
  layer: number;
  head: number;
  type: 'x' | 'y';
  metricTitle: string;
  /** [checkpoint][position] of that head's metric. */
  values: number[][];
  stage: string;
}

/** attn-ids: one panel per picked head and metric, one line per query position of its type. */
export function attentionIdsFigure(steps: number[], T: number, picked: PickedHead[], stages: StageSpan[], o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const cols = Math.min(3, Math.max(1, picked.length));
  const rows = Math.max(1, Math.ceil(picked.length / cols));
  const fig = new Figure(o.id, cols * 0.8 * WIDTH + 40, rows * 0.8 * HEIGHT + 30, plotStyle(o));
  const grid = fig.panels(rows, cols);
  const colors = colorsForStages(stages, o.stageColors);
  picked.forEach((pk, i) => {
    const p = grid[Math.floor(i / cols)][i % cols];
    p.title = `${pk.stage}: b${pk.layer + 1}h${pk.head + 1}${pk.type} ${pk.metricTitle}`;
    stagedPanel(p, stages, colors, o, Math.floor(i / cols) === rows - 1, '');
    const positions = Array.from({ length: T }, (_, j) => j).filter((j) => (pk.type === 'x' ? j % 2 === 0 : j % 2 === 1));
    const palette = sequential(positions.length, pk.type === 'x' ? 'viridis' : 'magma');
    positions.forEach((j, c) => p.line(steps, pk.values.map((v) => v[j]), { color: palette[c], width: 1 }));
  });
  for (let i = picked.length; i < rows * cols; i++) {
    const p = grid[Math.floor(i / cols)][i % cols];
    p.x = stepAxis(o, true);
    p.note(0.5, 0.5, '–', { fraction: true, anchor: 'middle' });
  }
  fig.legend(stageLegend(stages, colors), 'Stages:');
  return fig.render();
}

export interface EdVariantRow {
  title: string;
  /** [checkpoint][component]. */
  projections: number[][];
  explained: number[];
}

/** ED-variants: one row per fingerprint: PC2 vs PC1, PC3 vs PC1, PC3 vs PC2, then explained variance. */
export function edVariantsFigure(steps: number[], rows: EdVariantRow[], stages: StageSpan[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.4 * FULL_WIDTH, rows.length * 1.1 * FULL_HEIGHT, plotStyle(o));
  const grid = fig.panels(rows.length, 4);
  const colors = colorsForStages(stages, o.stageColors);
  const pairs: [number, number][] = [[0, 1], [0, 2], [1, 2]];
  const segmentColors = steps.slice(1).map((s) => {
    const i = stageIndexAt(stages, s);
    return i >= 0 ? colors[i] : '#999';
  });
  rows.forEach((row, r) => {
    const c = row.explained.length;
    pairs.forEach(([i, j], k) => {
      const p = grid[r][k];
      p.title = k === 0 ? row.title : '';
      if (j >= c) return;
      p.x = { kind: 'linear', label: `PC${i + 1}` };
      p.y = { kind: 'linear', label: `PC${j + 1}` };
      const xs = row.projections.map((v) => v[i]);
      const ys = row.projections.map((v) => v[j]);
      p.scatter(xs, ys, { color: '#bbb', size: 3 });
      p.segments(xs, ys, segmentColors, 1.8);
    });
    const bars = grid[r][3];
    bars.x = { kind: 'linear', label: 'component', tickValues: row.explained.map((_, i) => ({ value: i + 1, label: `PC${i + 1}` })) };
    // Headroom for the printed values above the bars.
    bars.y = { kind: 'linear', label: 'explained var.', domain: [0, Math.max(...row.explained) * 1.18] };
    bars.bars(row.explained.map((_, i) => i + 1), row.explained, DEEP[0], 0.7, row.explained.map((v) => v.toFixed(2)));
  });
  fig.legend(stageLegend(stages, colors), 'Stages:');
  return fig.render();
}
