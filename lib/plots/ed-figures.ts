// Essential-dynamics figures (docs/essential-dynamics.md, docs/figures.md):
// PC-pair trajectories coloured by stage with the evolute and its cusps, explained variance,
// and PC1–3 against training step.
import { autoDomain } from './axis.ts';
import { Figure, paperSizes, type LegendItem } from './figure.ts';
import { DEEP, sequential } from './palette.ts';
import { colorsForStages, shadeStages, stageIndexAt, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './style.ts';

export interface EdPair {
  /** 0-based component indices, i < j. */
  i: number;
  j: number;
  centers: [number, number][];
  radii: number[];
  cuspIndices: number[];
  sharpestIndices: number[];
}

export interface EdData {
  steps: number[];
  explainedVariance: number[];
  /** [checkpoint][component], raw and smoothed projections. */
  pcs: number[][];
  smoothed: number[][];
  pairs: EdPair[];
  stages?: StageSpan[];
}

/** 1234 → "1.2k": short step labels for annotations. */
export function shortStep(step: number): string {
  if (step >= 1e6) return `${+(step / 1e6).toFixed(1)}M`;
  if (step >= 1e3) return `${+(step / 1e3).toFixed(1)}k`;
  return String(step);
}

const CUSP = { color: '#111', shape: 'star' as const };
const SHARP = { color: '#c00', shape: 'triangle' as const };

/**
 * One row: a panel per PC pair (x = higher PC, y = lower PC as the paper), then an
 * explained-variance bar chart. Grey dots: every checkpoint's raw projection; line: the smoothed
 * trajectory, each segment in the colour of its stage; small dots coloured by time (viridis):
 * osculating-circle centres (the evolute), with every `circleEvery`-th circle drawn faintly;
 * stars: evolute cusps (curve vertices), labelled with their step; triangles: sharpest turns.
 */
export function essentialDynamicsFigure(d: EdData, o: FigureOptions & { circleEvery: number }): string {
  const { FULL_WIDTH } = paperSizes(o.width);
  const width = 1.3 * FULL_WIDTH;
  const cols = d.pairs.length + 1;
  const fig = new Figure(o.id, width, width / cols + 40, plotStyle(o));
  const row = fig.panels(1, cols)[0];
  const stages = d.stages ?? [];
  const colors = colorsForStages(stages, o.stageColors);
  const T = d.steps.length;
  const segmentColors = d.steps.map((s) => {
    const k = stageIndexAt(stages, s);
    return k >= 0 ? colors[k] : DEEP[0];
  });
  const timeColors = sequential(T, 'viridis');
  d.pairs.forEach((pair, p) => {
    const panel = row[p];
    const xs = d.smoothed.map((r) => r[pair.j]);
    const ys = d.smoothed.map((r) => r[pair.i]);
    const rawX = d.pcs.map((r) => r[pair.j]);
    const rawY = d.pcs.map((r) => r[pair.i]);
    // Limits from the trajectory only: centres on straight stretches lie arbitrarily far away.
    panel.x = { kind: 'linear', label: `PC${pair.j + 1}`, domain: autoDomain('linear', [...xs, ...rawX]) };
    panel.y = { kind: 'linear', label: `PC${pair.i + 1}`, domain: autoDomain('linear', [...ys, ...rawY]) };
    const every = Math.max(1, o.circleEvery);
    const circleIdx = d.steps.map((_, t) => t).filter((t) => t % every === 0 && t > 0 && t < T - 1);
    panel.circles(
      circleIdx.map((t) => pair.centers[t][0]),
      circleIdx.map((t) => pair.centers[t][1]),
      circleIdx.map((t) => pair.radii[t]),
      { color: '#888', width: 0.5, opacity: 0.35 },
    );
    panel.scatter(rawX, rawY, { color: '#9a9a9a', size: 3.2, opacity: 0.7 });
    panel.segments(xs, ys, segmentColors, 1.8);
    panel.scatter(pair.centers.map((c) => c[0]), pair.centers.map((c) => c[1]), (t) => ({ color: timeColors[t], size: 2.2, opacity: 0.8 }));
    panel.scatter(pair.sharpestIndices.map((t) => xs[t]), pair.sharpestIndices.map((t) => ys[t]), { ...SHARP, size: 7, stroke: '#fff' }, 'front');
    panel.scatter(pair.cuspIndices.map((t) => xs[t]), pair.cuspIndices.map((t) => ys[t]), { ...CUSP, size: 9, stroke: '#fff' }, 'front');
    // cuspIndices come strongest first, so a crowded spot keeps the label of its clearest cusp.
    panel.labels(pair.cuspIndices.map((t) => xs[t]), pair.cuspIndices.map((t) => ys[t]), pair.cuspIndices.map((t) => shortStep(d.steps[t])));
  });
  const bars = row[cols - 1];
  const c = d.explainedVariance.length;
  bars.title = 'Explained variance';
  bars.x = { kind: 'linear', domain: [0.4, c + 0.6], tickValues: d.explainedVariance.map((_, k) => ({ value: k + 1, label: `PC${k + 1}` })) };
  bars.y = { kind: 'linear', domain: [0, Math.min(1, Math.max(...d.explainedVariance) * 1.2)], label: 'Fraction of variance' };
  bars.bars(
    d.explainedVariance.map((_, k) => k + 1),
    d.explainedVariance,
    DEEP[0],
    0.7,
    d.explainedVariance.map((v) => `${(100 * v).toFixed(1)}%`),
  );
  if (stages.length) fig.legend(stageLegend(stages, colors), 'Stages:');
  const marks: LegendItem[] = [
    { label: 'Checkpoint', color: '#9a9a9a', kind: 'marker' },
    { label: 'Osculating centre (early → late)', color: timeColors[Math.floor(T / 2)], kind: 'marker' },
    { label: 'Evolute cusp', ...CUSP, kind: 'marker' },
    { label: 'Sharpest turn', ...SHARP, kind: 'marker' },
  ];
  fig.legend(marks);
  return fig.render();
}

/** PC1–3 against training step, stages shaded, dashed lines at the (PC1, PC2) evolute cusps. */
export function pcsOverTime(d: EdData, o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const count = Math.min(3, d.explainedVariance.length);
  const fig = new Figure(o.id, 1.5 * WIDTH, count * 0.9 * HEIGHT + 20, plotStyle(o));
  const panels = fig.panels(count, 1).map((r) => r[0]);
  const stages = d.stages ?? [];
  const colors = colorsForStages(stages, o.stageColors);
  const cuspSteps = (d.pairs.find((p) => p.i === 0 && p.j === 1)?.cuspIndices ?? []).map((t) => d.steps[t]);
  panels.forEach((panel, k) => {
    const last = k === count - 1;
    panel.x = { kind: 'log', domain: o.xLimits, label: last ? 'Training step t' : undefined, tickLabels: last };
    panel.y = { kind: 'linear', label: `PC${k + 1}` };
    shadeStages(panel, stages, colors);
    for (const s of cuspSteps) panel.vline(s, { color: '#333', dash: 'dashed', width: 1 });
    panel.scatter(d.steps, d.pcs.map((r) => r[k]), { color: '#9a9a9a', size: 2.5 });
    panel.line(d.steps, d.smoothed.map((r) => r[k]), { color: DEEP[0] });
  });
  if (stages.length) fig.legend(stageLegend(stages, colors), 'Stages:');
  fig.legend([
    { label: 'PC projection', color: '#9a9a9a', kind: 'marker' },
    { label: 'Smoothed', color: DEEP[0], kind: 'line' },
    { label: 'Evolute cusp (PC1–PC2)', color: '#333', kind: 'line', dash: 'dashed' },
  ]);
  return fig.render();
}
