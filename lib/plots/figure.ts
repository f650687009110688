// A figure: a grid of panels plus legends below the axes, laid out so that nothing overlaps.
// Sizes are CSS px at 96 px/in: the paper's WIDTH = 3.25 in is 312 px. Default text is 11 px
// (≈ 8.25 pt, the paper's 8 pt) for ticks and legends and 12 px for axis labels and titles;
// previews are rendered at 2× so this stays readable on screen.
import { axisTicks, makeScale, type Scale, type Tick } from './axis.ts';
import { textWidth } from './font-metrics.ts';
import { dashArray, markerPath, Panel, type Box, type Dash, type MarkerShape } from './panel.ts';
import { n, tag, text } from './svg.ts';

export const PX_PER_INCH = 96;

export interface PaperSizes {
  WIDTH: number;
  HEIGHT: number;
  FULL_WIDTH: number;
  FULL_HEIGHT: number;
}

/**
 * docs/figures.md in px, from the single-column width (the paper's 3.25 in = 312 px): HEIGHT =
 * 0.618·WIDTH, FULL_WIDTH = 2·WIDTH + 0.25 in (the gutter scales with the width).
 */
export function paperSizes(width = 3.25 * PX_PER_INCH): PaperSizes {
  const HEIGHT = width * 0.618;
  return { WIDTH: width, HEIGHT, FULL_WIDTH: width * (2 + 0.25 / 3.25), FULL_HEIGHT: HEIGHT };
}

export interface PlotStyle {
  /** Tick labels, legends, annotations (px). */
  fontSize: number;
  /** Axis labels (px). */
  labelSize: number;
  /** Panel titles (px). */
  titleSize: number;
  lineWidth: number;
}
export const DEFAULT_STYLE: PlotStyle = { fontSize: 11, labelSize: 12, titleSize: 12, lineWidth: 1.5 };

export interface LegendItem {
  label: string;
  color: string;
  kind: 'line' | 'patch' | 'marker';
  dash?: Dash;
  shape?: MarkerShape;
  opacity?: number;
  /** Marker outline (a ring: color 'none' plus a stroke). */
  stroke?: string;
}

interface Margins {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const TICK = 4;
const MINOR_TICK = 2.5;

export class Figure {
  readonly style: PlotStyle;
  readonly grid: Panel[][] = [];
  private readonly legends: { items: LegendItem[]; title?: string }[] = [];

  constructor(
    /** Prefix for ids inside the SVG (clip paths), unique per figure so SVGs can be inlined together. */
    readonly id: string,
    readonly width: number,
    readonly height: number,
    style: Partial<PlotStyle> = {},
  ) {
    this.style = { ...DEFAULT_STYLE, ...style };
  }

  /** Create a rows × cols grid of panels (linear axes until the caller sets them). */
  panels(rows: number, cols: number): Panel[][] {
    for (let r = 0; r < rows; r++) {
      this.grid.push(Array.from({ length: cols }, () => new Panel({ kind: 'linear' }, { kind: 'linear' })));
    }
    return this.grid;
  }

  /** A legend row block below the axes, e.g. title "Stages:" with LR1 … LR5 patches. */
  legend(items: LegendItem[], title?: string): this {
    if (items.length > 0) this.legends.push({ items, title });
    return this;
  }

  private xTicks(p: Panel, scale: Scale, length: number): Tick[] {
    if (p.x.tickValues) return p.x.tickValues.map((t) => ({ value: t.value, label: t.label }));
    const fs = this.style.fontSize;
    // Fewer ticks until neighbouring labels keep a gap of half an em.
    for (let count = Math.max(2, Math.floor(length / 45)); ; count--) {
      const ticks = axisTicks(scale, p.x.kind, count);
      const placed = ticks
        .filter((t) => t.label)
        .map((t) => ({ at: scale(t.value) as number, w: textWidth(t.label!, fs) }))
        .sort((a, b) => a.at - b.at);
      const fits = placed.every((t, i) => i === 0 || placed[i - 1].at + placed[i - 1].w / 2 + fs * 0.5 < t.at - t.w / 2);
      if (fits || count <= 2) return ticks;
    }
  }

  private yTicks(p: Panel, scale: Scale, length: number): Tick[] {
    if (p.y.tickValues) return p.y.tickValues.map((t) => ({ value: t.value, label: t.label }));
    const fs = this.style.fontSize;
    for (let count = Math.max(2, Math.floor(length / (fs * 2.4))); ; count--) {
      const ticks = axisTicks(scale, p.y.kind, count);
      const at = ticks.filter((t) => t.label).map((t) => scale(t.value) as number).sort((a, b) => a - b);
      if (at.every((y, i) => i === 0 || y - at[i - 1] > fs * 1.25) || count <= 2) return ticks;
    }
  }

  private scales(p: Panel, box: Box): { x: Scale; y: Scale } {
    const d = p.domains();
    return {
      x: makeScale(p.x.kind, d.x, [box.left, box.left + box.width]),
      y: makeScale(p.y.kind, d.y, [box.top + box.height, box.top]),
    };
  }

  private margins(p: Panel, box: Box): Margins {
    const { fontSize: fs, labelSize, titleSize } = this.style;
    const { x, y } = this.scales(p, box);
    const showX = p.x.tickLabels !== false;
    const showY = p.y.tickLabels !== false;
    const yLabels = showY ? this.yTicks(p, y, box.height).filter((t) => t.label) : [];
    const yTickWidth = Math.max(0, ...yLabels.map((t) => textWidth(t.label!, fs)));
    const xLabels = showX ? this.xTicks(p, x, box.width).filter((t) => t.label) : [];
    // The outermost x tick label may stick out past the plot's right edge.
    const overhang = Math.max(0, ...xLabels.map((t) => (x(t.value) as number) + textWidth(t.label!, fs) / 2 - (box.left + box.width)));
    return {
      left: TICK + (showY ? yTickWidth + 4 : 0) + (p.y.label ? labelSize * 1.25 + 2 : 0) + 2,
      right: Math.max(fs * 0.6, overhang + 2),
      top: p.title ? titleSize * 1.7 : fs * 0.7,
      bottom: TICK + (showX ? fs * 1.3 + 2 : 0) + (p.x.label ? labelSize * 1.45 : 0) + 2,
    };
  }

  /** Plot boxes of every panel: margins are shared per column (left/right) and per row (top/bottom). */
  private layout(): Box[][] {
    const rows = this.grid.length;
    const cols = this.grid[0]?.length ?? 0;
    const pad = this.style.fontSize * 0.4;
    let left = new Array(cols).fill(40);
    let right = new Array(cols).fill(8);
    let top = new Array(rows).fill(10);
    let bottom = new Array(rows).fill(30);
    let boxes: Box[][] = [];
    for (let pass = 0; pass < 3; pass++) {
      const plotW = (this.width - 2 * pad - left.reduce((a, b) => a + b, 0) - right.reduce((a, b) => a + b, 0)) / cols;
      const plotH = (this.height - 2 * pad - top.reduce((a, b) => a + b, 0) - bottom.reduce((a, b) => a + b, 0)) / rows;
      if (!(plotW > 20 && plotH > 20)) {
        throw new Error(`figure '${this.id}': ${this.width}×${this.height} px is too small for a ${rows}×${cols} grid at font ${this.style.fontSize} px`);
      }
      boxes = this.grid.map((row, r) =>
        row.map((_, c) => ({
          left: pad + left.slice(0, c + 1).reduce((a, b) => a + b, 0) + right.slice(0, c).reduce((a, b) => a + b, 0) + c * plotW,
          top: pad + top.slice(0, r + 1).reduce((a, b) => a + b, 0) + bottom.slice(0, r).reduce((a, b) => a + b, 0) + r * plotH,
          width: plotW,
          height: plotH,
        })),
      );
      const m = this.grid.map((row, r) => row.map((p, c) => this.margins(p, boxes[r][c])));
      left = left.map((_, c) => Math.max(...m.map((row) => row[c].left)));
      right = right.map((_, c) => Math.max(...m.map((row) => row[c].right)));
      top = top.map((_, r) => Math.max(...m[r].map((x) => x.top)));
      bottom = bottom.map((_, r) => Math.max(...m[r].map((x) => x.bottom)));
    }
    return boxes;
  }

  private renderAxes(p: Panel, box: Box, x: Scale, y: Scale): string {
    const { fontSize: fs, labelSize, titleSize } = this.style;
    const out: string[] = [];
    const bottom = box.top + box.height;
    const axisColor = '#333';
    let d = `M${n(box.left)},${n(box.top)}V${n(bottom)}H${n(box.left + box.width)}`;
    const xTicks = this.xTicks(p, x, box.width);
    const yTicks = this.yTicks(p, y, box.height);
    let yTickWidth = 0;
    for (const t of xTicks) {
      const px = x(t.value) as number;
      if (px < box.left - 0.5 || px > box.left + box.width + 0.5) continue;
      d += `M${n(px)},${n(bottom)}v${t.label !== null ? TICK : MINOR_TICK}`;
      if (t.label && p.x.tickLabels !== false) out.push(text(px, bottom + TICK + fs * 1.05, t.label, { 'text-anchor': 'middle', 'font-size': fs }));
    }
    for (const t of yTicks) {
      const py = y(t.value) as number;
      if (py < box.top - 0.5 || py > bottom + 0.5) continue;
      d += `M${n(box.left)},${n(py)}h${-(t.label !== null ? TICK : MINOR_TICK)}`;
      if (t.label && p.y.tickLabels !== false) {
        yTickWidth = Math.max(yTickWidth, textWidth(t.label, fs));
        out.push(text(box.left - TICK - 3, py + fs * 0.36, t.label, { 'text-anchor': 'end', 'font-size': fs }));
      }
    }
    out.unshift(tag('path', { d, stroke: axisColor, 'stroke-width': 1, fill: 'none' }));
    if (p.x.label) {
      const ly = bottom + TICK + (p.x.tickLabels !== false ? fs * 1.3 + 2 : 0) + labelSize * 1.0;
      out.push(text(box.left + box.width / 2, ly, p.x.label, { 'text-anchor': 'middle', 'font-size': labelSize }));
    }
    if (p.y.label) {
      const lx = box.left - TICK - (p.y.tickLabels !== false ? yTickWidth + 4 : 0) - labelSize * 0.3 - 2;
      const cy = box.top + box.height / 2;
      out.push(text(lx, cy, p.y.label, { 'text-anchor': 'middle', 'font-size': labelSize, transform: `rotate(-90 ${n(lx)} ${n(cy)})` }));
    }
    if (p.title) {
      // A title wider than its panel (plus the right margin) is set smaller rather than overlapping the next one.
      const room = box.width + fs;
      const size = Math.max(8, Math.min(titleSize, (titleSize * room) / textWidth(p.title, titleSize)));
      out.push(text(box.left, box.top - titleSize * 0.6, p.title, { 'font-size': size }));
    }
    return out.join('');
  }

  private renderLegends(top: number): { svg: string; height: number } {
    const { fontSize: fs, lineWidth } = this.style;
    const rowHeight = fs * 1.6;
    const maxWidth = this.width - fs;
    const out: string[] = [];
    let y = top;
    for (const legend of this.legends) {
      const entries = legend.items.map((item) => ({ item, width: 22 + 5 + textWidth(item.label, fs) }));
      const rows: { title?: string; entries: typeof entries }[] = [];
      let current: (typeof rows)[number] = { title: legend.title, entries: [] };
      let used = legend.title ? textWidth(legend.title, fs) + 8 : 0;
      for (const e of entries) {
        if (current.entries.length > 0 && used + e.width > maxWidth) {
          rows.push(current);
          current = { entries: [] };
          used = 0;
        }
        current.entries.push(e);
        used += e.width + 12;
      }
      rows.push(current);
      for (const row of rows) {
        const rowWidth = (row.title ? textWidth(row.title, fs) + 8 : 0) + row.entries.reduce((a, e) => a + e.width + 12, -12);
        let x = (this.width - rowWidth) / 2;
        const mid = y + rowHeight / 2;
        if (row.title) {
          out.push(text(x, mid + fs * 0.36, row.title, { 'font-size': fs }));
          x += textWidth(row.title, fs) + 8;
        }
        for (const { item, width } of row.entries) {
          if (item.kind === 'line') {
            out.push(tag('line', { x1: x, x2: x + 22, y1: mid, y2: mid, stroke: item.color, 'stroke-width': lineWidth + 0.5, 'stroke-dasharray': dashArray(item.dash), 'stroke-opacity': item.opacity }));
          } else if (item.kind === 'patch') {
            // Stage spans are drawn at α = 0.2; the swatch gets an outline so light stages stay visible.
            out.push(tag('rect', { x: x + 3, y: mid - 5.5, width: 16, height: 11, fill: item.color, 'fill-opacity': item.opacity ?? 1, stroke: item.color, 'stroke-width': 1 }));
          } else {
            out.push(tag('path', { d: markerPath(item.shape ?? 'circle', 7), transform: `translate(${n(x + 11)},${n(mid)})`, fill: item.shape === 'x' ? 'none' : item.color, stroke: item.shape === 'x' ? item.color : item.stroke, 'stroke-width': item.stroke ? 1.2 : undefined, 'fill-opacity': item.opacity }));
          }
          out.push(text(x + 27, mid + fs * 0.36, item.label, { 'font-size': fs }));
          x += width + 12;
        }
        y += rowHeight;
      }
    }
    return { svg: out.join(''), height: y - top + (this.legends.length ? fs * 0.4 : 0) };
  }

  render(): string {
    const boxes = this.layout();
    const parts: string[] = [];
    const defs: string[] = [];
    this.grid.forEach((row, r) =>
      row.forEach((p, c) => {
        const box = boxes[r][c];
        const { x, y } = this.scales(p, box);
        const clipId = `${this.id}-clip-${r}-${c}`;
        defs.push(tag('clipPath', { id: clipId }, tag('rect', { x: box.left, y: box.top, width: box.width, height: box.height })));
        const ctx = { x, y, box, fontSize: this.style.fontSize };
        const layer = (name: 'back' | 'data' | 'front') => p.marks.filter((m) => m.layer === name).map((m) => m.draw(ctx)).join('');
        parts.push(tag('g', { 'clip-path': `url(#${clipId})` }, [layer('back'), layer('data'), layer('front')]));
        parts.push(this.renderAxes(p, box, x, y));
      }),
    );
    const legends = this.renderLegends(this.height);
    const totalHeight = this.height + legends.height;
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${n(this.width)}" height="${n(totalHeight)}" viewBox="0 0 ${n(this.width)} ${n(totalHeight)}" font-family="DejaVu Sans, sans-serif" fill="#222">`,
      tag('rect', { width: this.width, height: totalHeight, fill: '#fff' }),
      tag('defs', {}, defs),
      ...parts,
      legends.svg,
      '</svg>',
      '',
    ].join('\n');
  }
}
