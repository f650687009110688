// Stage shading shared by the training-time figures: one span per stage at α = 0.2 in the
// stage colour, and a legend "Stages: LR1 … LRn" below the axes (docs/figures.md).
import type { LegendItem } from './figure.ts';
import { stageColors, type StageType } from './palette.ts';
import type { Panel } from './panel.ts';

export interface StageSpan {
  label: string;
  start: number;
  end: number;
  type: StageType;
}

export const STAGE_ALPHA = 0.2;

/** Colours by stage: the generated palette, with per-label overrides (e.g. { LR1: '#fdba7d' }). */
export function colorsForStages(stages: StageSpan[], overrides: Record<string, string> = {}): string[] {
  const generated = stageColors(stages.map((s) => s.type));
  return stages.map((s, i) => overrides[s.label] ?? generated[i]);
}

export function shadeStages(panel: Panel, stages: StageSpan[], colors: string[]): void {
  stages.forEach((s, i) => panel.vspan(s.start, s.end, colors[i], STAGE_ALPHA));
}

export function stageLegend(stages: StageSpan[], colors: string[]): LegendItem[] {
  // The swatch is more opaque than the span so light stages (LR1, LR3) stay distinguishable.
  return stages.map((s, i) => ({ label: s.label, color: colors[i], kind: 'patch' as const, opacity: 0.45 }));
}

/** Index of the stage containing `step` (the last stage includes its end), or −1. */
export function stageIndexAt(stages: StageSpan[], step: number): number {
  return stages.findIndex((s, i) => step >= s.start && (step < s.end || (i === stages.length - 1 && step <= s.end)));
}
