// Stage 'figure-lr': Figure 1 of the paper, LR half (docs/figures.md).
//
// Inputs (same order, one entry per seed):
//   train:  string[]  train node directories (metrics.jsonl: test loss = pretrain.mse per logged
//                     step; baselines.json: zero and ridge reference levels)
//   stages: string[]  stage-boundaries node directories (stages.json: the LLC curve and stages)
// Params:
//   labels   one label per seed for legends (default "seed 0", "seed 1", …)
//   primary  index of the seed drawn in lr-fig1-top.svg (default 0)
//   xLimits  training-step axis limits (paper: [100, 500000]); default the data's extent
//   style    figure style (width, fontSize, stageColors)
// Outputs: lr-fig1-top.svg (loss and LLC of the primary seed with its stages shaded),
//          lr-fig1-top-multiple.svg (one line per seed, no shading), figure-lr.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { lrFigure1, lrFigure1Multiple, type RunCurves } from '../../lib/plots/lr-figure.ts';
import { figureOptions, figureStyleSchema, readJson, readJsonl, writeFigures, xLimitsSchema, type BaselinesJson, type StagesJson } from './common.ts';

const STAGE = 'figure-lr';
const SECTION = 'Linear regression: training';

export const figureLrParams = z.strictObject({
  labels: z.array(z.string()).optional(),
  primary: z.number().int().nonnegative().default(0),
  xLimits: xLimitsSchema,
  style: figureStyleSchema.default(figureStyleSchema.parse({})),
});

interface MetricsLine {
  step: number;
  pretrain: { mse: number };
}

export const figureLrStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figureLrParams,
  inputs: { train: 'dir[]', stages: 'dir[]' },
  async run(ctx) {
    const { train: trainDirs, stages: stageDirs } = ctx.inputs;
    if (trainDirs.length !== stageDirs.length || trainDirs.length === 0) {
      throw new Error(`${STAGE}: inputs 'train' (${trainDirs.length}) and 'stages' (${stageDirs.length}) must be non-empty lists of the same seeds in the same order`);
    }
    const { labels = trainDirs.map((_, i) => `seed ${i}`), primary, xLimits, style } = ctx.params;
    if (labels.length !== trainDirs.length) throw new Error(`${STAGE}: params.labels has ${labels.length} entries, expected one per seed (${trainDirs.length})`);
    if (primary >= trainDirs.length) throw new Error(`${STAGE}: params.primary is ${primary}, expected an index below ${trainDirs.length}`);
    const runs: RunCurves[] = [];
    const stageFiles: StagesJson[] = [];
    for (let i = 0; i < trainDirs.length; i++) {
      const metrics = await readJsonl<MetricsLine>(STAGE, path.join(trainDirs[i], 'metrics.jsonl'));
      const st = await readJson<StagesJson>(STAGE, path.join(stageDirs[i], 'stages.json'));
      stageFiles.push(st);
      runs.push({ label: labels[i], loss: { x: metrics.map((m) => m.step), y: metrics.map((m) => m.pretrain.mse) }, llc: { x: st.steps, y: st.llc } });
    }
    const baselines = await readJson<BaselinesJson>(STAGE, path.join(trainDirs[primary], 'baselines.json'));
    const refs = { zero: baselines.pretrain.zero.mse, ridge: baselines.pretrain.ridge.mse };
    const main = runs[primary];
    await writeFigures(STAGE, ctx.outDir, [
      {
        section: SECTION,
        file: 'lr-fig1-top.svg',
        title: `Figure 1 (${main.label}): test loss and LLC over training`,
        caption: `Test loss (top) and estimated LLC λ̂ (bottom) against training step, with the developmental stages detected from the LLC shaded. Dashed: zero predictor (${refs.zero.toFixed(3)}); dotted: ridge, the Bayes-optimal loss (${refs.ridge.toFixed(3)}).`,
        svg: lrFigure1({ label: main.label, loss: main.loss, llc: main.llc, stages: stageFiles[primary].stages, baselines: refs }, figureOptions('lr-fig1', style, xLimits)),
      },
      {
        section: SECTION,
        file: 'lr-fig1-top-multiple.svg',
        title: 'Figure 1, every seed',
        caption:
          runs.length > 1
            ? `Test loss and LLC of each of the ${runs.length} training seeds, with their mean ± 2 sd in red. Final λ̂ per seed: ${runs.map((r) => `${r.label} ${r.llc.y.at(-1)?.toFixed(1)}`).join(', ')}.`
            : `Test loss and LLC of the single training seed (${main.label}); with several seeds the mean ± 2 sd band is drawn.`,
        svg: lrFigure1Multiple(runs, refs, figureOptions('lr-fig1-multiple', style, xLimits)),
      },
    ]);
  },
});
