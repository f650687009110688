// The behavioural figures of one run (docs/figures.md): the 2×3 detail of loss, LLC and weight norm
// with their slopes in log time, and the per-position behaviour panels.
import { centralSlopes } from '../geometry.ts';
import { smoothVariable } from '../smoothing.ts';
import { Figure, paperSizes } from './figure.ts';
import { BRIGHT, DEEP, sequential } from './palette.ts';
import { colorsForStages, shadeStages, stageLegend, type StageSpan } from './stages.ts';
import { plotStyle, stepAxis, type FigureOptions } from './style.ts';

export interface BehaviouralDetailData {
  /** Per evaluated checkpoint. */
  steps: number[];
  loss: number[];
  weightNorm: number[];
  /** From stage detection: the LLC curve, its fit and the fit's slope dλ̂/d ln t. */
  llcSteps: number[];
  llc: number[];
  llcFit: number[];
  llcSlope: number[];
  stages: StageSpan[];
  /** Width (in checkpoints) of the Gaussian smoothing used as the fit for loss and weight norm. */
  fitSigma: number;
}

/** Integer as Unicode subscript digits (ℓ₄). */
const sub = (k: number) => [...String(k)].map((c) => String.fromCharCode(0x2080 + Number(c))).join('');

const logTime = (steps: number[]) => steps.map((t) => Math.log(t + 1));

/**
 * behavioral-detail: top ℓ̂ (log y), λ̂, ‖w‖ (log y); bottom their slopes δ/δ log t (weight norm:
 * δ/δt, as the paper). Raw curves faint, fits dashed red: the LLC fit comes from stage
 * detection; loss and weight norm are smoothed here in log value over checkpoints.
 */
export function behaviouralDetail(d: BehaviouralDetailData, o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const fig = new Figure(o.id, 1.25 * FULL_WIDTH, 1.5 * FULL_HEIGHT + 40, plotStyle(o));
  const grid = fig.panels(2, 3);
  const colors = colorsForStages(d.stages, o.stageColors);
  const sigmas = new Array(d.steps.length).fill(d.fitSigma);
  const smoothLog = (v: number[]) => smoothVariable(v.map(Math.log), sigmas).map(Math.exp);
  const lossFit = smoothLog(d.loss);
  const normFit = smoothLog(d.weightNorm);
  const lt = logTime(d.steps);
  const columns = [
    { steps: d.steps, raw: d.loss, fit: lossFit, yKind: 'log' as const, label: 'Test loss ℓ', slopeLabel: 'δℓ/δ log t', rawSlope: centralSlopes(lt, d.loss), fitSlope: centralSlopes(lt, lossFit) },
    { steps: d.llcSteps, raw: d.llc, fit: d.llcFit, yKind: 'linear' as const, label: 'LLC λ̂', slopeLabel: 'δλ̂/δ log t', rawSlope: centralSlopes(logTime(d.llcSteps), d.llc), fitSlope: d.llcSlope },
    { steps: d.steps, raw: d.weightNorm, fit: normFit, yKind: 'log' as const, label: 'Weight norm ‖w‖', slopeLabel: 'δ‖w‖/δt', rawSlope: centralSlopes(d.steps, d.weightNorm), fitSlope: centralSlopes(d.steps, normFit) },
  ];
  columns.forEach((col, c) => {
    const top = grid[0][c];
    const bottom = grid[1][c];
    top.title = `(${'abc'[c]})`;
    bottom.title = `(${'def'[c]})`;
    top.x = stepAxis(o, false);
    bottom.x = stepAxis(o, true);
    top.y = { kind: col.yKind, label: col.label };
    bottom.y = { kind: 'linear', label: col.slopeLabel };
    for (const p of [top, bottom]) shadeStages(p, d.stages, colors);
    bottom.hline(0, { color: '#999', width: 0.8 });
    top.line(col.steps, col.raw, { color: DEEP[0], opacity: 0.35 });
    top.scatter(col.steps, col.raw, { color: DEEP[0], size: 3, opacity: 0.5 });
    top.line(col.steps, col.fit, { color: BRIGHT.red, dash: 'dashed' });
    bottom.line(col.steps, col.rawSlope, { color: DEEP[0], opacity: 0.35 });
    bottom.line(col.steps, col.fitSlope, { color: BRIGHT.red, dash: 'dashed' });
  });
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend([
    { label: 'Measured', color: DEEP[0], kind: 'line', opacity: 0.5 },
    { label: 'Fit (LLC: stage-detection fit; others: smoothed)', color: BRIGHT.red, kind: 'line', dash: 'dashed' },
  ]);
  return fig.render();
}

export interface PerPositionData {
  steps: number[];
  /** [checkpoint][k]: E ŷ_k² on the evaluation set. */
  predNormPerPos: number[][];
  /** [checkpoint][k]: test loss at position k. */
  lossPerPos: number[][];
  /** Per position: the zero predictor's and ridge's loss on the same evaluation set. */
  zeroPerPos: number[];
  ridgePerPos: number[];
  stages: StageSpan[];
  /**
   * The paper's panel (b): the ICL score (ℓ_K − ℓ_1)/g on inputs scaled by g, per g. When given it
   * replaces the loss-relative-to-baselines panel.
   */
  scaledIcl?: { steps: number[]; scales: number[]; scores: number[][] };
}

/**
 * behavioral: (a) per-position prediction norm E[ŷ_k²], mean in red (LR1 collapses it toward the
 * zero prediction); (b) per-position loss relative to the baselines, (ℓ_k − ridge_k)/(zero_k −
 * ridge_k): 1 = no better than predicting 0, 0 = Bayes optimal; (c) ICL scores.
 */
export function behavioural(d: PerPositionData, o: FigureOptions): string {
  const { FULL_WIDTH, FULL_HEIGHT } = paperSizes(o.width);
  const K = d.zeroPerPos.length;
  const fig = new Figure(o.id, FULL_WIDTH, 3 * FULL_HEIGHT, plotStyle(o));
  const [[norm], [relative], [icl]] = fig.panels(3, 1);
  const colors = colorsForStages(d.stages, o.stageColors);
  const kColors = sequential(K, 'viridis');
  norm.title = '(a) Per-position prediction norm';
  relative.title = '(b) Loss relative to baselines';
  icl.title = '(c) In-context learning scores';
  norm.x = stepAxis(o, false);
  relative.x = stepAxis(o, false);
  icl.x = stepAxis(o, true);
  norm.y = { kind: 'log', label: 'E[ŷₖ²]' };
  relative.y = { kind: 'linear', label: '(ℓₖ − ridge)/(zero − ridge)' };
  icl.y = { kind: 'linear', label: 'ICL score' };
  for (const p of [norm, relative, icl]) shadeStages(p, d.stages, colors);
  for (let k = 0; k < K; k++) {
    norm.line(d.steps, d.predNormPerPos.map((r) => r[k]), { color: kColors[k], width: 1 });
  }
  norm.line(d.steps, d.predNormPerPos.map((r) => r.reduce((a, b) => a + b, 0) / K), { color: BRIGHT.red, width: 1.8 });
  // Position k = 1 (no context) has zero = ridge: its ratio is undefined.
  const scaled = d.scaledIcl;
  const gColors = scaled ? sequential(scaled.scales.length, 'magma') : [];
  if (scaled) {
    relative.title = '(b) ICL score on scaled inputs';
    relative.y = { kind: 'linear', label: `(ℓ${sub(K)} − ℓ${sub(1)})/g` };
    relative.hline(0, { color: '#999', width: 0.8 });
    scaled.scales.forEach((_, i) => relative.line(scaled.steps, scaled.scores.map((r) => r[i]), { color: gColors[i], width: 1.2 }));
  } else {
    relative.hline(0, { color: '#666', dash: 'dotted', width: 1 });
    relative.hline(1, { color: '#666', dash: 'dashed', width: 1 });
    for (let k = 1; k < K; k++) {
      const denom = d.zeroPerPos[k] - d.ridgePerPos[k];
      relative.line(d.steps, d.lossPerPos.map((r) => (r[k] - d.ridgePerPos[k]) / denom), { color: kColors[k], width: 1 });
    }
  }
  const half = Math.max(1, Math.floor(K / 2));
  icl.hline(0, { color: '#999', width: 0.8 });
  icl.line(d.steps, d.lossPerPos.map((r) => r[half - 1] - r[0]), { color: DEEP[0] });
  icl.line(d.steps, d.lossPerPos.map((r) => r[K - 1] - r[half - 1]), { color: DEEP[1] });
  fig.legend(stageLegend(d.stages, colors), 'Stages:');
  fig.legend(
    [
      ...kColors.map((color, k) => ({ label: `k=${k + 1}`, color, kind: 'line' as const })),
      { label: 'Mean', color: BRIGHT.red, kind: 'line' as const },
    ],
    'Position:',
  );
  if (scaled) fig.legend(scaled.scales.map((g, i) => ({ label: `g = ${g}`, color: gColors[i], kind: 'line' as const })), 'xₖ ← g·xₖ:');
  fig.legend([
    { label: `I${sub(1)}:${sub(half)} = ℓ${sub(half)} − ℓ${sub(1)}`, color: DEEP[0], kind: 'line' },
    { label: `I${sub(half)}:${sub(K)} = ℓ${sub(K)} − ℓ${sub(half)}`, color: DEEP[1], kind: 'line' },
    // The baseline levels are drawn only in the relative-loss version of panel (b).
    ...(scaled
      ? []
      : [
          { label: 'Zero predictor', color: '#666', kind: 'line' as const, dash: 'dashed' as const },
          { label: 'Ridge (Bayes)', color: '#666', kind: 'line' as const, dash: 'dotted' as const },
        ]),
  ]);
  return fig.render();
}
