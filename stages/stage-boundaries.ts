// Stage 'stage-boundaries': developmental stages of one training run from its LLC curve
// (docs/stage-detection.md; rule and constants in lib/stage-detection.ts), with the test loss at each boundary.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';
import { detectStages, stageDetectionDefaults } from '../lib/stage-detection.ts';

export const stageBoundariesParams = z.strictObject({
  bandwidth: z.number().positive().default(stageDetectionDefaults.bandwidth),
  relativeThreshold: z.number().positive().default(stageDetectionDefaults.relativeThreshold),
  flatFraction: z.number().nonnegative().default(stageDetectionDefaults.flatFraction),
  endFraction: z.number().nonnegative().default(stageDetectionDefaults.endFraction),
  prefix: z.string().min(1).default(stageDetectionDefaults.prefix),
});

async function readJson<T>(file: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    throw new Error(`stage-boundaries: cannot read ${file}: ${(err as Error).message}`);
  }
}

export const stageBoundariesStage = defineStage({
  name: 'stage-boundaries',
  module: import.meta.url,
  params: stageBoundariesParams,
  inputs: { llcs: 'dir[]', evals: 'dir[]' },
  async run(ctx) {
    const llcs = await Promise.all(ctx.inputs.llcs.map((d) => readJson<{ step: number; llcMean: number }>(path.join(d, 'llc.json'))));
    const evals = await Promise.all(ctx.inputs.evals.map((d) => readJson<{ step: number; loss: number }>(path.join(d, 'eval.json'))));
    llcs.sort((a, b) => a.step - b.step);
    const lossAt = new Map(evals.map((e) => [e.step, e.loss]));
    const steps = llcs.map((l) => l.step);
    const llc = llcs.map((l) => l.llcMean);
    const missing = steps.filter((s) => !lossAt.has(s));
    if (missing.length > 0) throw new Error(`stage-boundaries: no eval.json for LLC steps [${missing.join(', ')}] (input 'evals')`);
    const det = detectStages(steps, llc, ctx.params);
    const result = {
      steps,
      llc,
      llcSmoothed: det.smoothed,
      slope: det.slope,
      threshold: det.threshold,
      params: ctx.params,
      boundaries: det.boundaries.map((i) => ({ step: steps[i], index: i, llc: det.smoothed[i], loss: lossAt.get(steps[i])! })),
      stages: det.stages.map((s) => ({ label: s.label, start: steps[s.startIndex], end: steps[s.endIndex], type: s.type })),
    };
    await writeFile(path.join(ctx.outDir, 'stages.json'), JSON.stringify(result, null, 1));
    ctx.log.info(`stage-boundaries: ${result.stages.map((s) => `${s.label}(${s.type}) ${s.start}–${s.end}`).join(', ')}`);
    return { stages: result.stages.length };
  },
});
