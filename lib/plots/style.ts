// What every figure shares: the figure-only options (sizes, fonts, stage colours), text sizes
// derived from them, and the training-step axis. Kept small: every figure's key includes this file.
import type { AxisSpec } from './axis.ts';
import type { PlotStyle } from './figure.ts';

export interface Series {
  x: number[];
  y: number[];
}

/** Figure-only settings (params of the figure nodes, never of upstream nodes). */
export interface FigureOptions {
  /** Unique id prefix inside the SVG. */
  id: string;
  /** Single-column width in px (paper: 312 = 3.25 in at 96 px/in). */
  width: number;
  fontSize: number;
  stageColors?: Record<string, string>;
  /** Training-step axis limits; default the data's extent. */
  xLimits?: [number, number];
}

export function plotStyle(o: FigureOptions): Partial<PlotStyle> {
  return { fontSize: o.fontSize, labelSize: o.fontSize + 1, titleSize: o.fontSize + 1 };
}

export const STEP_LABEL = 'Training step t';
export const LOSS_LABEL = 'Test loss';
export const LLC_LABEL = 'LLC λ̂';

export function stepAxis(o: FigureOptions, labelled: boolean): AxisSpec {
  return { kind: 'log', domain: o.xLimits, label: labelled ? STEP_LABEL : undefined, tickLabels: labelled };
}
