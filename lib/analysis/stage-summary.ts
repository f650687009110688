// The measured table of stages: for each detected stage, how much each tracked quantity changed
// between its start and its end, and which attention metric moved most inside it.
import { ATTENTION_METRICS, type AttentionMetric } from './attention.ts';

export interface StageInterval {
  label: string;
  start: number;
  end: number;
}

export interface StepSeries {
  steps: number[];
  values: number[];
}

/** The value at the checkpoint nearest to `step` (in log distance: checkpoints are log-spaced), or null. */
export function valueAt(s: StepSeries, step: number): number | null {
  let best = -1;
  let bestDistance = Infinity;
  s.steps.forEach((t, i) => {
    const d = Math.abs(Math.log1p(t) - Math.log1p(step));
    if (d < bestDistance && Number.isFinite(s.values[i])) (best = i), (bestDistance = d);
  });
  return best < 0 ? null : s.values[best];
}

export interface Change {
  from: number | null;
  to: number | null;
  delta: number | null;
}

export function changeOver(s: StepSeries, stage: StageInterval): Change {
  const from = valueAt(s, stage.start);
  const to = valueAt(s, stage.end);
  return { from, to, delta: from === null || to === null ? null : to - from };
}

export interface AttentionMover {
  stage: string;
  metric: AttentionMetric;
  layer: number;
  head: number;
  type: 'x' | 'y';
  from: number;
  to: number;
  delta: number;
}

/**
 * For each stage, the (metric, layer, head, query-token type) whose position-averaged value
 * changes most between the stage's start and end. Metrics are on comparable [0, 1] scales
 * except distance, which is also a fraction (of the query position), so raw |Δ| is compared.
 * `values[metric][checkpoint][layer][head][position]`.
 */
export function attentionMovers(steps: number[], values: Record<AttentionMetric, number[][][][]>, stages: StageInterval[], exclude: AttentionMetric[] = []): AttentionMover[] {
  const movers: AttentionMover[] = [];
  const first = values[ATTENTION_METRICS[0]][0];
  if (!first) return movers;
  const layers = first.length;
  const heads = first[0].length;
  const T = first[0][0].length;
  for (const stage of stages) {
    let best: AttentionMover | null = null;
    for (const metric of ATTENTION_METRICS) {
      if (exclude.includes(metric)) continue;
      for (let l = 0; l < layers; l++) {
        for (let h = 0; h < heads; h++) {
          for (const type of ['x', 'y'] as const) {
            // Position 0 has a single key: every metric is fixed there, so it is left out.
            const positions = Array.from({ length: T }, (_, i) => i).filter((i) => i > 0 && (type === 'x' ? i % 2 === 0 : i % 2 === 1));
            if (positions.length === 0) continue;
            const series: StepSeries = { steps, values: values[metric].map((v) => positions.reduce((a, i) => a + v[l][h][i], 0) / positions.length) };
            const c = changeOver(series, stage);
            if (c.delta === null) continue;
            if (!best || Math.abs(c.delta) > Math.abs(best.delta)) best = { stage: stage.label, metric, layer: l, head: h, type, from: c.from!, to: c.to!, delta: c.delta };
          }
        }
      }
    }
    if (best) movers.push(best);
  }
  return movers;
}
