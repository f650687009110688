// Stage 'figure-task-prior': the finite-M task-prior figure (docs/figures.md, paper Figure 20).
//
// Inputs:
//   evals: string[]  evaluate node directories of every finite-M run, flat (any order)
// Params:
//   M        one entry per evals entry, the task-set size of the run it belongs to (a positive
//            integer or "inf"), e.g. [16, 16, 16, 256, 256, 256]
//   xLimits, style  as in figure-lr
// Outputs: task-prior.svg, figure-task-prior.figures.json.
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { taskPriorFigure, type TaskPriorRun } from '../../lib/plots/task-prior-figure.ts';
import { figureOptions, figureStyleSchema, readEvals, sig3, writeFigures, xLimitsSchema } from './common.ts';

const STAGE = 'figure-task-prior';
const SECTION = 'Linear regression: task prior';

export const figureTaskPriorParams = z.strictObject({
  M: z.array(z.union([z.number().int().positive(), z.literal('inf')])).min(1),
  xLimits: xLimitsSchema,
  style: figureStyleSchema.default(figureStyleSchema.parse({})),
});

/** Per run, how close the predictions come to the task mean t̄·x (panel b), when, and where they end. */
export function approachSummary(runs: TaskPriorRun[]): string {
  const parts = runs.map((r) => {
    const i = r.fromTaskMean.reduce((best, v, j, a) => (v < a[best] ? j : best), 0);
    return `M = ${r.M}: ${sig3(r.fromTaskMean[i])} at step ${r.steps[i]}, ${sig3(r.fromTaskMean.at(-1)!)} at step ${r.steps.at(-1)}`;
  });
  return `Closest approach to t̄·x in (b), then the last value: ${parts.join('; ')}.`;
}

export const figureTaskPriorStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figureTaskPriorParams,
  inputs: { evals: 'dir[]' },
  async run(ctx) {
    const { M, xLimits, style } = ctx.params;
    const dirs = ctx.inputs.evals;
    if (dirs.length !== M.length) throw new Error(`${STAGE}: params.M has ${M.length} entries, expected one per 'evals' input (${dirs.length})`);
    const groups = new Map<number | 'inf', string[]>();
    dirs.forEach((d, i) => groups.set(M[i], [...(groups.get(M[i]) ?? []), d]));
    const runs: TaskPriorRun[] = [];
    for (const [m, group] of groups) {
      const evals = await readEvals(`${STAGE} (M=${m})`, group);
      runs.push({ M: m, steps: evals.map((e) => e.step), fromZero: evals.map((e) => e.fromZero), fromTaskMean: evals.map((e) => e.fromTaskMean) });
    }
    await writeFigures(STAGE, ctx.outDir, [
      {
        section: SECTION,
        file: 'task-prior.svg',
        title: 'Learning the task prior (finite M)',
        caption: `Mean over evaluation sequences of Σₖ ŷₖ² (a) and of Σₖ (ŷₖ − t̄·xₖ)² (b), for models trained on M fixed tasks. Early in training the predictions approach t̄·x, the mean of the task prior, rather than 0. ${approachSummary(runs)}`,
        svg: taskPriorFigure(runs, figureOptions('task-prior', style, xLimits)),
      },
    ]);
  },
});
