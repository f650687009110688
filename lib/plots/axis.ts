// Scales and tick labels on d3-scale / d3-format. Log axes label only the decades, as 10ⁿ with
// Unicode superscripts (DejaVu Sans has them, so no tspan tricks are needed); a log axis spanning
// less than about a decade labels d3's round-number ticks instead (e.g. loss 1.5 … 5).
import { format } from 'd3-format';
import { scaleLinear, scaleLog, type ScaleLinear, type ScaleLogarithmic } from 'd3-scale';

export type ScaleKind = 'linear' | 'log';
export type Scale = ScaleLinear<number, number> | ScaleLogarithmic<number, number>;

export interface AxisSpec {
  kind: ScaleKind;
  /** Fixed limits; otherwise the extent of the panel's data (padded 4% on linear axes). */
  domain?: [number, number];
  label?: string;
  /** false hides tick labels (shared axes); ticks are still drawn. */
  tickLabels?: boolean;
  /** Explicit tick positions with their labels (categorical bar charts). */
  tickValues?: { value: number; label: string }[];
}

export interface Tick {
  value: number;
  /** null for an unlabelled (minor) tick. */
  label: string | null;
}

const SUPERSCRIPT: Record<string, string> = {
  '-': '⁻', '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹',
};

/** 10ⁿ with a superscript exponent: 1000 → "10³", 0.01 → "10⁻²". */
export function powerOfTen(exponent: number): string {
  return '10' + [...String(exponent)].map((c) => SUPERSCRIPT[c]).join('');
}

export function makeScale(kind: ScaleKind, domain: [number, number], range: [number, number]): Scale {
  if (kind === 'log') {
    if (!(domain[0] > 0 && domain[1] > 0)) {
      throw new Error(`log axis needs a positive domain, got [${domain[0]}, ${domain[1]}]`);
    }
    return scaleLog().domain(domain).range(range);
  }
  return scaleLinear().domain(domain).range(range);
}

function linearLabel(values: number[]): (v: number) => string {
  const maxAbs = Math.max(...values.map(Math.abs));
  if (maxAbs >= 1e4) return format('~s'); // 100000 → "100k"
  const step = values.length > 1 ? Math.abs(values[1] - values[0]) : maxAbs || 1;
  if (maxAbs > 0 && maxAbs < 1e-2) return format('.1~e');
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return format(`.${decimals}f`);
}

/** Ticks for a scale, aiming at about `count` labelled ticks. */
export function axisTicks(scale: Scale, kind: ScaleKind, count: number): Tick[] {
  const [lo, hi] = scale.domain() as [number, number];
  const [a, b] = lo <= hi ? [lo, hi] : [hi, lo];
  if (kind === 'log') {
    // Decade labels (10ⁿ) when at least two decades fall inside the axis.
    const decadesInside = Math.floor(Math.log10(b) + 1e-9) - Math.ceil(Math.log10(a) - 1e-9) + 1;
    if (decadesInside >= 2) {
      const all = (scale as ScaleLogarithmic<number, number>).ticks(count);
      const first = Math.ceil(Math.log10(a) - 1e-9);
      const last = Math.floor(Math.log10(b) + 1e-9);
      const every = Math.max(1, Math.ceil((last - first + 1) / Math.max(count, 2)));
      const ticks: Tick[] = all
        .filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) > 1e-9)
        .map((v) => ({ value: v, label: null }));
      for (let e = first; e <= last; e++) {
        ticks.push({ value: 10 ** e, label: (e - first) % every === 0 ? powerOfTen(e) : null });
      }
      return ticks.sort((p, q) => p.value - q.value);
    }
    // Otherwise label the coarsest of the mantissa sets {1}, {1,2,5}, {1..9} that gives at
    // least three ticks (loss 1.6 … 4.4 → 2, 3, 4; norm 33 … 300 → 50, 100, 200).
    const fmt = format('~g');
    const within = (mantissas: number[]) => {
      const out: number[] = [];
      for (let e = Math.floor(Math.log10(a)) - 1; e <= Math.ceil(Math.log10(b)); e++) {
        for (const m of mantissas) {
          const v = Number((m * 10 ** e).toPrecision(12));
          if (v >= a * (1 - 1e-12) && v <= b * (1 + 1e-12)) out.push(v);
        }
      }
      return out;
    };
    const minor = within([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const labelled = [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]].map(within).find((v) => v.length >= 3) ?? minor;
    if (labelled.length >= 2) {
      const thin = Math.max(1, Math.ceil(labelled.length / Math.max(count, 2)));
      const shown = new Set(labelled.filter((_, i) => i % thin === 0));
      return minor.map((v) => ({ value: v, label: shown.has(v) ? fmt(v) : null }));
    }
    const lin = scaleLinear().domain([a, b]).ticks(count);
    return lin.map((v) => ({ value: v, label: fmt(v) }));
  }
  const values = (scale as ScaleLinear<number, number>).ticks(count);
  const fmt = linearLabel(values);
  return values.map((v) => ({ value: v, label: fmt(v) }));
}

/** Data extent for an axis: finite values (positive on log axes), padded so marks don't touch spines. */
export function autoDomain(kind: ScaleKind, values: number[]): [number, number] {
  const usable = values.filter((v) => Number.isFinite(v) && (kind === 'linear' || v > 0));
  if (usable.length === 0) return kind === 'log' ? [1, 10] : [0, 1];
  let lo = usable.reduce((m, v) => Math.min(m, v), Infinity);
  let hi = usable.reduce((m, v) => Math.max(m, v), -Infinity);
  if (kind === 'log') {
    if (lo === hi) return [lo / 2, hi * 2];
    const pad = (Math.log10(hi) - Math.log10(lo)) * 0.04;
    return [lo / 10 ** pad, hi * 10 ** pad];
  }
  if (lo === hi) {
    const d = Math.abs(lo) || 1;
    return [lo - 0.5 * d, hi + 0.5 * d];
  }
  const pad = (hi - lo) * 0.04;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}
