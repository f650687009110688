// Essential dynamics of five fingerprints, one row each (docs/figures.md "ED variants").
import { Figure, paperSizes } from './figure.ts';
import { DEEP } from './palette.ts';
import { colorsForStages, stageIndexAt, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, type FigureOptions } from './style.ts';

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

