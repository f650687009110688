// Colours of the paper's figures (docs/figures.md). Colormaps follow matplotlib: its "Oranges",
// "Blues", "Greys" are linear interpolations of the 9-class ColorBrewer schemes (which
// d3-scale-chromatic ships), and d3's viridis/magma are matplotlib's.
import { interpolateMagma, interpolateViridis, schemeBlues, schemeGreys, schemeOranges } from 'd3-scale-chromatic';

/** seaborn "deep" (PRIMARY, SECONDARY, TERTIARY, …). */
export const DEEP = ['#4C72B0', '#DD8452', '#55A868', '#C44E52', '#8172B3', '#937860', '#DA8BC3', '#8C8C8C', '#CCB974', '#64B5CD'];
/** seaborn "bright" colours used for emphasis; BRED marks means and fits. */
export const BRIGHT = { blue: '#023EFF', orange: '#FF7C00', green: '#1AC938', red: '#E8000B' };

export type StageType = 'A' | 'B' | 'Other';

const HEX = /^#([0-9a-f]{6}|[0-9a-f]{3})$/i;

function parseHex(value: string): [number, number, number] {
  const m = HEX.exec(value);
  if (!m) throw new Error(`not a hex colour: '${value}'`);
  const h = m[1].length === 3 ? [...m[1]].map((c) => c + c).join('') : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

function hex(r: number, g: number, b: number): string {
  return '#' + [r, g, b].map((v) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, '0')).join('');
}

/** 0..1 RGB of a hex colour (for tests against the spec's RGB triples). */
export function rgb01(value: string): [number, number, number] {
  return parseHex(value).map((v) => v / 255) as [number, number, number];
}

/** matplotlib-style LinearSegmentedColormap over evenly spaced colour stops, t ∈ [0, 1]. */
export function interpolateStops(stops: readonly string[], t: number): string {
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const a = parseHex(stops[i]);
  const b = parseHex(stops[i + 1]);
  return hex(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f);
}

const STAGE_SCHEMES: Record<StageType, readonly string[]> = {
  A: schemeOranges[9],
  B: schemeBlues[9],
  Other: schemeGreys[9],
};

/**
 * `gen_transition_colors`: A stages (LLC rising) in oranges, B (falling) in blues, Other in greys.
 * The n stages of one type sample the colormap at the interior points k/(n+1), k = 1..n,
 * lightest first, in the order the stages occur.
 */
export function stageColors(types: readonly StageType[]): string[] {
  const total: Record<StageType, number> = { A: 0, B: 0, Other: 0 };
  for (const t of types) {
    if (!(t in total)) throw new Error(`stageColors: stage type must be 'A', 'B' or 'Other', got '${t}'`);
    total[t]++;
  }
  const seen: Record<StageType, number> = { A: 0, B: 0, Other: 0 };
  return types.map((t) => interpolateStops(STAGE_SCHEMES[t], ++seen[t] / (total[t] + 1)));
}

/** n colours along a sequential colormap (viridis by index, as the notebooks), dark end first. */
export function sequential(count: number, name: 'viridis' | 'magma' = 'viridis'): string[] {
  const f = name === 'viridis' ? interpolateViridis : interpolateMagma;
  // The bright ends (magma near-white, viridis yellow) vanish on a white page: stop short of them.
  const top = name === 'magma' ? 0.85 : 0.92;
  if (count === 1) return [f(0)];
  return Array.from({ length: count }, (_, i) => f((top * i) / (count - 1)));
}

/** Validate a user-supplied colour (figure params), naming the key on failure. */
export function isHexColor(value: string): boolean {
  return HEX.test(value);
}
