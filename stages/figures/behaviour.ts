// Stage 'figure-behaviour': the behavioural figures of one training run (docs/figures.md
// behavioral-detail and behavioral).
//
// Inputs:
//   evals:  string[]  evaluate node directories of this run (any order; sorted by step)
//   stages: string    its stage-boundaries node directory (stages.json: LLC, fit, slope, stages)
//   train:  string    its train node directory (baselines.json: per-position zero/ridge losses)
// Params:
//   label     run label for titles (e.g. "seed 1")
//   fitSigma  Gaussian smoothing width, in checkpoints, of the loss and weight-norm fits (default 2)
//   xLimits, style  as in figure-lr
// Outputs: behavioral-detail.svg (2×3: loss, LLC, weight norm and their slopes),
//          behavioral.svg (per-position prediction norm, loss relative to baselines, ICL scores),
//          figure-behaviour.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { behavioural, behaviouralDetail } from '../../lib/plots/behaviour-figures.ts';
import type { IclJson } from '../analysis/icl.ts';
import { figureOptions, figureStyleSchema, readEvals, readJson, readStepJsons, writeFigures, xLimitsSchema, type BaselinesJson, type StagesJson } from './common.ts';

const STAGE = 'figure-behaviour';
const SECTION = 'Linear regression: behaviour';

export const figureBehaviourParams = z.strictObject({
  label: z.string().default('run'),
  fitSigma: z.number().nonnegative().default(2),
  xLimits: xLimitsSchema,
  style: figureStyleSchema.default(figureStyleSchema.parse({})),
});

export const figureBehaviourStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figureBehaviourParams,
  // icl: optional scaled-input ICL scores (icl nodes) for panel (b), the paper's version of it.
  inputs: { evals: 'dir[]', stages: 'dir', train: 'dir', icl: 'dir[]?' },
  async run(ctx) {
    const { label, fitSigma, xLimits, style } = ctx.params;
    const evals = await readEvals(STAGE, ctx.inputs.evals);
    if (evals.length < 3) throw new Error(`${STAGE}: need at least 3 evaluate inputs for slopes, got ${evals.length}`);
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    const baselines = await readJson<BaselinesJson>(STAGE, path.join(ctx.inputs.train, 'baselines.json'));
    if (st.steps.length < 3) throw new Error(`${STAGE}: stages.json has ${st.steps.length} LLC points, need at least 3 for slopes`);
    const steps = evals.map((e) => e.step);
    const icl = await readStepJsons<IclJson>(STAGE, ctx.inputs.icl, 'icl.json');
    const finalScores = icl.at(-1)?.scaledScore ?? [];
    const detail = behaviouralDetail(
      {
        steps,
        loss: evals.map((e) => e.loss),
        weightNorm: evals.map((e) => e.weightNorm),
        llcSteps: st.steps,
        llc: st.llc,
        llcFit: st.llcSmoothed,
        llcSlope: st.slope,
        stages: st.stages,
        fitSigma,
      },
      figureOptions('behavioral-detail', style, xLimits),
    );
    const perPosition = behavioural(
      {
        steps,
        predNormPerPos: evals.map((e) => e.predNormPerPos),
        lossPerPos: evals.map((e) => e.lossPerPos),
        zeroPerPos: baselines.pretrain.zero.msePerPos,
        ridgePerPos: baselines.pretrain.ridge.msePerPos,
        stages: st.stages,
        scaledIcl: icl.length > 0 ? { steps: icl.map((x) => x.step), scales: icl[0].scales, scores: icl.map((x) => x.scaledScore) } : undefined,
      },
      figureOptions('behavioral', style, xLimits),
    );
    await writeFigures(STAGE, ctx.outDir, [
      {
        section: SECTION,
        file: 'behavioral-detail.svg',
        title: `Behavioural detail (${label})`,
        caption: 'Top: test loss (log), LLC λ̂ and weight norm (log) over training; bottom: their slopes in log time (weight norm: per step). Faint: measured; dashed red: fits (LLC: the stage-detection fit; loss, weight norm: Gaussian smoothing over checkpoints).',
        svg: detail,
      },
      {
        section: SECTION,
        file: 'behavioral.svg',
        title: `Per-position behaviour (${label})`,
        caption:
          icl.length > 0
            ? `(a) Mean squared prediction E[ŷₖ²] per context position k, mean in red: LR1 pulls predictions toward 0. (b) ICL score (ℓ_K − ℓ_1)/g on inputs scaled by g ∈ {${icl[0].scales.join(', ')}} (labels recomputed with the same task): at the last checkpoint ${icl[0].scales.map((g, i) => `g=${g}: ${finalScores[i].toFixed(2)}`).join(', ')}; a score that stays negative for large g means the in-context algorithm extrapolates beyond the training input scale. (c) ICL scores: loss differences between context positions.`
            : '(a) Mean squared prediction E[ŷₖ²] per context position k, mean in red: LR1 pulls predictions toward 0. (b) Excess loss over ridge relative to the zero predictor: 1 = no better than predicting 0, 0 = Bayes optimal. (c) ICL scores: loss differences between context positions.',
        svg: perPosition,
      },
    ]);
  },
});
