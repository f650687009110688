// Panels shared by the mechanism figures (geometry, collapse, attention): per-index lines with
// their mean ± std, stage-shaded step axes and the Hessian panel. Same conventions as the other
// figures: log training-step axis, stages shaded, per-index lines in viridis, means in bright red
// (the Hessian trace in bright blue, docs/figures.md "Conventions").
import { BRIGHT, sequential } from './palette.ts';
import { shadeStages, type StageSpan } from './stages.ts';
import type { FigureOptions } from './style.ts';
import type { Panel } from './panel.ts';
import type { AxisSpec } from './axis.ts';
import type { LegendItem } from './figure.ts';

export const STEP_LABEL = 'Training step t';
export const stepAxis = (o: FigureOptions, labelled: boolean): AxisSpec => ({ kind: 'log', domain: o.xLimits, label: labelled ? STEP_LABEL : undefined, tickLabels: labelled });
export const sub = (k: number) => [...String(k)].map((c) => String.fromCharCode(0x2080 + Number(c))).join('');

export function meanStd(values: number[]): [number, number] {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  return [m, Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length)];
}

/** One faint line per index (viridis) plus the mean ± std over indices in red. rows: [checkpoint][index]. */
export function indexLines(p: Panel, steps: number[], rows: number[][], opts: { meanBand?: boolean; width?: number } = {}): void {
  const count = rows[0]?.length ?? 0;
  const colors = sequential(Math.max(count, 1));
  for (let i = 0; i < count; i++) p.line(steps, rows.map((r) => r[i]), { color: colors[i], width: opts.width ?? 0.7, opacity: 0.6 });
  if (opts.meanBand === false || count < 2) return;
  const ms = rows.map(meanStd);
  p.band(steps, ms.map(([m, s]) => m - s), ms.map(([m, s]) => m + s), BRIGHT.red, 0.15);
  p.line(steps, ms.map(([m]) => m), { color: BRIGHT.red, width: 1.6 });
}

export function stagedPanel(p: Panel, stages: StageSpan[], colors: string[], o: FigureOptions, labelled: boolean, yLabel: string, yKind: 'linear' | 'log' = 'linear'): void {
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

/**
 * The trace's colour: not red, which marks the means the Hessian panel shares a legend with
 * (LN-collapse-and-hessian, geometric; docs/figures.md "Conventions").
 */
const HESSIAN_TRACE_COLOR = BRIGHT.blue;

/** Top eigenvalues (magma) and the trace (bright blue) against step; returns their legend items. */
export function hessianPanel(p: Panel, h: HessianSeries): LegendItem[] {
  const ranks = h.top[0]?.length ?? 0;
  const colors = sequential(Math.max(ranks, 1), 'magma');
  for (let r = 0; r < ranks; r++) {
    p.line(h.steps, h.top.map((t) => t[r]), { color: colors[r] });
    p.scatter(h.steps, h.top.map((t) => t[r]), { color: colors[r], size: 3 });
  }
  p.line(h.steps, h.trace, { color: HESSIAN_TRACE_COLOR, width: 1.6 });
  p.scatter(h.steps, h.trace, { color: HESSIAN_TRACE_COLOR, size: 3 });
  return [...colors.map((color, r) => ({ label: `λ${sub(r + 1)}(H)`, color, kind: 'line' as const })), { label: 'tr H', color: HESSIAN_TRACE_COLOR, kind: 'line' }];
}
