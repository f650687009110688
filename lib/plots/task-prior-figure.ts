// The task-prior figure (docs/figures.md): how far the predictions are from 0 and from the task
// mean's prediction t̄·x over training, one line per task-set size M.
import { autoDomain } from './axis.ts';
import { Figure, paperSizes } from './figure.ts';
import { sequential } from './palette.ts';
import { plotStyle, type FigureOptions } from './style.ts';

export interface TaskPriorRun {
  M: number | 'inf';
  steps: number[];
  /** mean_b Σ_k ŷ_k²: distance from the zero prediction. */
  fromZero: number[];
  /** mean_b Σ_k (ŷ_k − t̄·x_k)²: distance from the task-prior mean's prediction. */
  fromTaskMean: number[];
}

/** "M = 2⁴" for powers of two, "M = ∞" for the Gaussian prior. */
export function labelM(M: number | 'inf'): string {
  if (M === 'inf') return 'M = ∞';
  const e = Math.log2(M);
  const sup = (s: string) => [...s].map((c) => '⁰¹²³⁴⁵⁶⁷⁸⁹'[Number(c)]).join('');
  return Number.isInteger(e) && e > 0 ? `M = 2${sup(String(e))}` : `M = ${M}`;
}

/**
 * Two log-log panels with shared y limits: (a) MSE from the 0 prediction, (b) MSE from the t̄
 * prediction; one line per M (viridis, small M dark). Early in training the finite-M models
 * approach t̄·x, the task-prior mean, rather than 0.
 */
export function taskPriorFigure(runs: TaskPriorRun[], o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, FULL_WIDTH, FULL_HEIGHT + 30, plotStyle(o));
  const [[zero, mean]] = fig.panels(1, 2);
  const sorted = [...runs].sort((a, b) => (a.M === 'inf' ? 1 : b.M === 'inf' ? -1 : a.M - b.M));
  const colors = sequential(sorted.length, 'viridis');
  const shared = autoDomain('log', sorted.flatMap((r) => [...r.fromZero, ...r.fromTaskMean]));
  zero.title = '(a) MSE from 0 prediction';
  mean.title = '(b) MSE from t̄ prediction';
  zero.x = { kind: 'log', domain: o.xLimits, label: 'Training step t' };
  mean.x = { kind: 'log', domain: o.xLimits, label: 'Training step t' };
  zero.y = { kind: 'log', domain: shared, label: 'MSE' };
  mean.y = { kind: 'log', domain: shared };
  sorted.forEach((r, i) => {
    zero.line(r.steps, r.fromZero, { color: colors[i] });
    mean.line(r.steps, r.fromTaskMean, { color: colors[i] });
  });
  fig.legend(sorted.map((r, i) => ({ label: labelM(r.M), color: colors[i], kind: 'line' as const })));
  return fig.render();
}
