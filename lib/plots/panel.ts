// One set of axes. Marks are recorded in data coordinates and drawn only when the figure has
// laid out every panel: margins depend on tick-label widths, which depend on the domains, so
// pixel positions are not known while the caller adds data.
import { area, line, symbol, symbolCircle, symbolDiamond, symbolSquare, symbolStar, symbolTriangle, symbolX } from 'd3-shape';
import { autoDomain, type AxisSpec, type Scale } from './axis.ts';
import { textWidth } from './font-metrics.ts';
import { n, tag, text } from './svg.ts';

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface DrawContext {
  x: Scale;
  y: Scale;
  box: Box;
  fontSize: number;
}

export type Dash = 'solid' | 'dashed' | 'dotted' | 'dashdot';
export interface LineStyle {
  color: string;
  width?: number;
  dash?: Dash;
  opacity?: number;
}
export type MarkerShape = 'circle' | 'square' | 'triangle' | 'diamond' | 'star' | 'x';
export interface MarkerStyle {
  color: string;
  shape?: MarkerShape;
  /** Marker diameter in px. */
  size?: number;
  opacity?: number;
  stroke?: string;
}

const DASHES: Record<Dash, string | undefined> = { solid: undefined, dashed: '5 3', dotted: '1.5 2', dashdot: '6 2.5 1.5 2.5' };
export const dashArray = (d: Dash | undefined) => DASHES[d ?? 'solid'];

const SYMBOLS = {
  circle: symbolCircle,
  square: symbolSquare,
  triangle: symbolTriangle,
  diamond: symbolDiamond,
  star: symbolStar,
  x: symbolX,
};

/** SVG path of a marker of diameter `size` px centred at the origin. */
export function markerPath(shape: MarkerShape, size: number): string {
  // d3 sizes symbols by area; a circle of diameter s has area πs²/4.
  return symbol(SYMBOLS[shape], (Math.PI * size * size) / 4).digits(2)() ?? '';
}

type Layer = 'back' | 'data' | 'front';

/**
 * Cut a pixel polyline to lo ≤ y ≤ hi, keeping each crossing segment's direction exact (its far
 * end moves to the crossing point); stretches wholly outside become breaks (null). The panel
 * clip path does the visible clipping; this only keeps coordinates small, because renderers drop
 * paths with astronomically large coordinates (a diverged SGLD chain reaches 1e8 px).
 */
export function clipVertically(pts: ([number, number] | null)[], lo: number, hi: number): ([number, number] | null)[] {
  const out: ([number, number] | null)[] = [];
  let continuing = false; // whether the last pushed point ends the previous, unclipped segment
  for (let i = 0; i < pts.length; i++) {
    const a = i > 0 ? pts[i - 1] : null;
    const b = pts[i];
    if (b === null || a === null) {
      if (b !== null && pts[i + 1] == null && b[1] >= lo && b[1] <= hi) out.push(null, b); // isolated point
      continuing = false;
      continue;
    }
    // Parameter range t ∈ [t0, t1] of a→b with lo ≤ y ≤ hi.
    const dy = b[1] - a[1];
    let t0 = 0;
    let t1 = 1;
    if (dy === 0) {
      if (a[1] < lo || a[1] > hi) t1 = -1;
    } else {
      const tl = (lo - a[1]) / dy;
      const th = (hi - a[1]) / dy;
      t0 = Math.max(0, Math.min(tl, th));
      t1 = Math.min(1, Math.max(tl, th));
    }
    if (t0 > t1) {
      continuing = false;
      continue;
    }
    const at = (t: number): [number, number] => [a[0] + t * (b[0] - a[0]), a[1] + t * dy];
    if (!(continuing && t0 === 0)) out.push(null, at(t0));
    out.push(at(t1));
    continuing = t1 === 1;
  }
  return out;
}

/**
 * Outside the panel box (plus a marker's reach): clipped anyway. Skipping them also avoids a
 * resvg panic on semi-transparent elements that lie wholly outside the canvas.
 */
function far(c: DrawContext, x: number, y: number): boolean {
  const m = 10;
  return x < c.box.left - m || x > c.box.left + c.box.width + m || y < c.box.top - m || y > c.box.top + c.box.height + m;
}

export class Panel {
  readonly marks: { layer: Layer; draw: (c: DrawContext) => string }[] = [];
  /** Data positions for automatic limits: y values count only where their x is inside fixed x limits. */
  readonly points: [number, number][] = [];
  readonly xOnly: number[] = [];
  readonly yOnly: number[] = [];
  title?: string;

  constructor(
    public x: AxisSpec,
    public y: AxisSpec,
  ) {}

  private track(xs: ArrayLike<number>, ys: ArrayLike<number>) {
    for (let i = 0; i < xs.length; i++) this.points.push([xs[i], ys[i]]);
  }

  /** Resolved domains: the spec's limits, or the padded extent of the data inside the other axis' limits. */
  domains(): { x: [number, number]; y: [number, number] } {
    const xs = [...this.points.map((p) => p[0]), ...this.xOnly];
    const x = this.x.domain ?? autoDomain(this.x.kind, xs);
    const [lo, hi] = x[0] <= x[1] ? x : [x[1], x[0]];
    const visible = this.x.domain ? this.points.filter((p) => p[0] >= lo && p[0] <= hi) : this.points;
    const y = this.y.domain ?? autoDomain(this.y.kind, [...visible.map((p) => p[1]), ...this.yOnly]);
    return { x, y };
  }

  private usable(c: DrawContext) {
    const okX = (v: number) => Number.isFinite(v) && (this.x.kind === 'linear' || v > 0);
    const okY = (v: number) => Number.isFinite(v) && (this.y.kind === 'linear' || v > 0);
    return { okX, okY, px: (v: number) => c.x(v) as number, py: (v: number) => c.y(v) as number };
  }

  /** `scale: false` keeps the line out of the automatic limits (e.g. a diverged chain). */
  line(xs: ArrayLike<number>, ys: ArrayLike<number>, style: LineStyle, options: { scale?: boolean } = {}): this {
    if (options.scale !== false) this.track(xs, ys);
    this.marks.push({
      layer: 'data',
      draw: (c) => {
        const { okX, okY, px, py } = this.usable(c);
        const pts: ([number, number] | null)[] = [];
        for (let i = 0; i < xs.length; i++) pts.push(okX(xs[i]) && okY(ys[i]) ? [px(xs[i]), py(ys[i])] : null);
        const d = line<[number, number] | null>()
          .defined((p) => p !== null)
          .x((p) => p![0])
          .y((p) => p![1])
          .digits(2)(clipVertically(pts, c.box.top - c.box.height, c.box.top + 2 * c.box.height));
        return tag('path', {
          d: d ?? '',
          fill: 'none',
          stroke: style.color,
          'stroke-width': style.width ?? 1.5,
          'stroke-dasharray': dashArray(style.dash),
          'stroke-opacity': style.opacity,
          'stroke-linejoin': 'round',
          'stroke-linecap': 'round',
        });
      },
    });
    return this;
  }

  /** A polyline whose segment i → i+1 takes colors[i]; runs of one colour become one path. */
  segments(xs: ArrayLike<number>, ys: ArrayLike<number>, colors: string[], width = 1.5): this {
    this.track(xs, ys);
    this.marks.push({
      layer: 'data',
      draw: (c) => {
        const { px, py } = this.usable(c);
        const out: string[] = [];
        let start = 0;
        for (let i = 1; i <= xs.length - 1; i++) {
          if (i === xs.length - 1 || colors[i] !== colors[start]) {
            const pts = [];
            for (let k = start; k <= i; k++) pts.push(`${n(px(xs[k]))},${n(py(ys[k]))}`);
            out.push(tag('polyline', { points: pts.join(' '), fill: 'none', stroke: colors[start], 'stroke-width': width, 'stroke-linejoin': 'round', 'stroke-linecap': 'round' }));
            start = i;
          }
        }
        return out.join('');
      },
    });
    return this;
  }

  scatter(xs: ArrayLike<number>, ys: ArrayLike<number>, style: MarkerStyle | ((i: number) => MarkerStyle), layer: Layer = 'data'): this {
    this.track(xs, ys);
    this.marks.push({
      layer,
      draw: (c) => {
        const { okX, okY, px, py } = this.usable(c);
        const out: string[] = [];
        for (let i = 0; i < xs.length; i++) {
          if (!okX(xs[i]) || !okY(ys[i]) || far(c, px(xs[i]), py(ys[i]))) continue;
          const s = typeof style === 'function' ? style(i) : style;
          out.push(
            tag('path', {
              d: markerPath(s.shape ?? 'circle', s.size ?? 4),
              transform: `translate(${n(px(xs[i]))},${n(py(ys[i]))})`,
              fill: s.shape === 'x' ? 'none' : s.color,
              stroke: s.shape === 'x' ? s.color : s.stroke,
              'stroke-width': s.shape === 'x' || s.stroke ? 1 : undefined,
              'fill-opacity': s.shape === 'x' ? undefined : s.opacity,
              'stroke-opacity': s.shape === 'x' || s.stroke ? s.opacity : undefined,
            }),
          );
        }
        return out.join('');
      },
    });
    return this;
  }

  /** A filled band between lo and hi (e.g. mean ± 2 sd). */
  band(xs: ArrayLike<number>, lo: ArrayLike<number>, hi: ArrayLike<number>, color: string, opacity = 0.2): this {
    this.track(xs, lo);
    this.track(xs, hi);
    this.marks.push({
      layer: 'data',
      draw: (c) => {
        const { okX, okY, px, py } = this.usable(c);
        const idx = Array.from({ length: xs.length }, (_, i) => i);
        const d = area<number>()
          .defined((i) => okX(xs[i]) && okY(lo[i]) && okY(hi[i]))
          .x((i) => px(xs[i]))
          .y0((i) => py(lo[i]))
          .y1((i) => py(hi[i]))
          .digits(2)(idx);
        return tag('path', { d: d ?? '', fill: color, 'fill-opacity': opacity, stroke: 'none' });
      },
    });
    return this;
  }

  /** Vertical error bars. */
  errorBars(xs: ArrayLike<number>, lo: ArrayLike<number>, hi: ArrayLike<number>, color: string, width = 1): this {
    this.track(xs, lo);
    this.track(xs, hi);
    this.marks.push({
      layer: 'data',
      draw: (c) => {
        const { okX, okY, px, py } = this.usable(c);
        let d = '';
        for (let i = 0; i < xs.length; i++) {
          if (!okX(xs[i]) || !okY(lo[i]) || !okY(hi[i])) continue;
          const x = n(px(xs[i]));
          d += `M${x},${n(py(lo[i]))}V${n(py(hi[i]))}M${n(px(xs[i]) - 2.5)},${n(py(lo[i]))}h5M${n(px(xs[i]) - 2.5)},${n(py(hi[i]))}h5`;
        }
        return tag('path', { d, stroke: color, 'stroke-width': width, fill: 'none' });
      },
    });
    return this;
  }

  /** A shaded vertical span (stage shading); does not widen the x domain. */
  vspan(x0: number, x1: number, color: string, opacity = 0.2): this {
    this.marks.push({
      layer: 'back',
      draw: (c) => {
        // A span starting at step 0 on a log axis starts at the left edge.
        const edge = (v: number, fallback: number) => {
          const px = this.x.kind === 'log' && v <= 0 ? fallback : (c.x(v) as number);
          return Number.isFinite(px) ? px : fallback;
        };
        const a = Math.max(edge(x0, c.box.left), c.box.left);
        const b = Math.min(edge(x1, c.box.left), c.box.left + c.box.width);
        if (!(b > a)) return '';
        return tag('rect', { x: a, y: c.box.top, width: b - a, height: c.box.height, fill: color, 'fill-opacity': opacity });
      },
    });
    return this;
  }

  /** A horizontal reference line across the panel; its level is kept inside the y domain. */
  hline(y: number, style: LineStyle): this {
    this.yOnly.push(y);
    this.marks.push({
      layer: 'front',
      draw: (c) => {
        const py = n(c.y(y) as number);
        return tag('line', { x1: c.box.left, x2: c.box.left + c.box.width, y1: py, y2: py, stroke: style.color, 'stroke-width': style.width ?? 1, 'stroke-dasharray': dashArray(style.dash), 'stroke-opacity': style.opacity });
      },
    });
    return this;
  }

  vline(x: number, style: LineStyle): this {
    this.marks.push({
      layer: 'front',
      draw: (c) => {
        const px = n(c.x(x) as number);
        return tag('line', { x1: px, x2: px, y1: c.box.top, y2: c.box.top + c.box.height, stroke: style.color, 'stroke-width': style.width ?? 1, 'stroke-dasharray': dashArray(style.dash), 'stroke-opacity': style.opacity });
      },
    });
    return this;
  }

  /** Circles of data-unit radius (osculating circles); drawn as ellipses if the axes differ in scale. */
  circles(cx: ArrayLike<number>, cy: ArrayLike<number>, r: ArrayLike<number>, style: LineStyle): this {
    this.marks.push({
      layer: 'data',
      draw: (c) => {
        const out: string[] = [];
        for (let i = 0; i < cx.length; i++) {
          const x = c.x(cx[i]) as number;
          const y = c.y(cy[i]) as number;
          const rx = Math.abs((c.x(cx[i] + r[i]) as number) - x);
          const ry = Math.abs((c.y(cy[i] + r[i]) as number) - y);
          // A near-straight stretch has a huge circle: it carries nothing visible and very large
          // coordinates break renderers, so only circles up to 10 panel sizes are drawn.
          const limit = 10 * Math.max(c.box.width, c.box.height);
          if (![x, y, rx, ry].every(Number.isFinite) || rx > limit || ry > limit || rx < 0.05 || ry < 0.05) continue;
          out.push(tag('ellipse', { cx: x, cy: y, rx, ry, fill: 'none', stroke: style.color, 'stroke-width': style.width ?? 0.6, 'stroke-opacity': style.opacity ?? 0.3 }));
        }
        return out.join('');
      },
    });
    return this;
  }

  /** Vertical bars centred at xs, `barWidth` in data units, each value printed above its bar. */
  bars(xs: number[], heights: number[], color: string, barWidth = 0.7, labels?: string[]): this {
    this.xOnly.push(...xs.map((x) => x - barWidth / 2), ...xs.map((x) => x + barWidth / 2));
    this.yOnly.push(0, ...heights);
    this.marks.push({
      layer: 'data',
      draw: (c) => {
        const out: string[] = [];
        xs.forEach((x, i) => {
          const a = c.x(x - barWidth / 2) as number;
          const b = c.x(x + barWidth / 2) as number;
          const top = c.y(heights[i]) as number;
          const base = c.y(0) as number;
          out.push(tag('rect', { x: a, y: Math.min(top, base), width: b - a, height: Math.abs(base - top), fill: color }));
          if (labels) out.push(text((a + b) / 2, Math.min(top, base) - 3, labels[i], { 'text-anchor': 'middle', 'font-size': c.fontSize * 0.9 }));
        });
        return out.join('');
      },
    });
    return this;
  }

  /**
   * Point labels offset up-right of their points, skipping any that would overlap a label
   * already placed (earlier labels win) or leave the panel.
   */
  labels(xs: number[], ys: number[], contents: string[], color = '#111'): this {
    this.marks.push({
      layer: 'front',
      draw: (c) => {
        const placed: { x0: number; x1: number; y0: number; y1: number }[] = [];
        const out: string[] = [];
        const fs = c.fontSize;
        xs.forEach((x, i) => {
          const cx = c.x(x) as number;
          const py = (c.y(ys[i]) as number) - 5;
          const w = textWidth(contents[i], fs);
          // Up-right of the point, else up-left; labels sit inside the clipped panel.
          for (const x0 of [cx + 6, cx - 6 - w]) {
            const box = { x0, x1: x0 + w, y0: py - fs * 0.8, y1: py + fs * 0.2 };
            const inside = box.x0 >= c.box.left && box.x1 <= c.box.left + c.box.width && box.y0 >= c.box.top && box.y1 <= c.box.top + c.box.height;
            const clash = placed.some((p) => box.x0 < p.x1 && p.x0 < box.x1 && box.y0 < p.y1 && p.y0 < box.y1);
            if (!inside || clash || !Number.isFinite(x0) || !Number.isFinite(py)) continue;
            placed.push(box);
            out.push(text(x0, py, contents[i], { 'font-size': fs, fill: color, stroke: '#fff', 'stroke-width': 2.5, 'stroke-opacity': 0.85, 'paint-order': 'stroke', 'stroke-linejoin': 'round' }));
            break;
          }
        });
        return out.join('');
      },
    });
    return this;
  }

  /** Text at a data position (or, with `fraction`, at a fraction of the panel box). */
  note(x: number, y: number, content: string, options: { anchor?: 'start' | 'middle' | 'end'; fraction?: boolean; color?: string; dx?: number; dy?: number } = {}): this {
    this.marks.push({
      layer: 'front',
      draw: (c) => {
        const px = (options.fraction ? c.box.left + x * c.box.width : (c.x(x) as number)) + (options.dx ?? 0);
        const py = (options.fraction ? c.box.top + (1 - y) * c.box.height : (c.y(y) as number)) + (options.dy ?? 0);
        // A white halo keeps annotations readable over lines and points.
        return text(px, py, content, { 'text-anchor': options.anchor ?? 'start', 'font-size': c.fontSize, fill: options.color ?? '#222', stroke: '#fff', 'stroke-width': 2.5, 'stroke-opacity': 0.85, 'paint-order': 'stroke', 'stroke-linejoin': 'round' });
      },
    });
    return this;
  }
}
