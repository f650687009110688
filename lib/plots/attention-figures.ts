// Attention-metric grids and the heads that move most per stage (docs/figures.md "Attention metrics").
import { Figure, paperSizes } from './figure.ts';
import { sequential } from './palette.ts';
import { colorsForStages, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './style.ts';
import { stagedPanel, stepAxis } from './mechanism-panels.ts';

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
