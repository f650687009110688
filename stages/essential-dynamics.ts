// Stage 'essential-dynamics' (docs/essential-dynamics.md): PCA of the f-ED fingerprints (raw model
// outputs on the fixed probe set, one vector per checkpoint), smoothing of the PC trajectory,
// and osculating circles / evolute cusps for each pair of the first three PCs.
//
// Inputs:
//   evals: string[]  evaluate node directories, one per checkpoint (any order; sorted by the
//                    `step` in their eval.json). Each holds eval.json and outputs.swt with tensor
//                    `outputs` [P, T, V], flattened row-major as the fingerprint.
// Params:
//   components  number of PCs kept (≤ checkpoints, ≤ features)
//   smoothing   { sigmaStart, sigmaEnd }: Gaussian σ (in checkpoints) linear in the checkpoint
//               index; both 0 = no smoothing
//   cuspSkip    look at every cuspSkip-th osculating circle for cusps (devinterp default 8)
//   numCusps    evolute cusps reported per PC pair
//   numSharpest sharpest turns reported per PC pair (default numCusps)
// Output: ed.json = { steps, explainedVariance[c], pcs[T][c], smoothed[T][c], sigma[T],
//   pairs: [{ i, j, centers: [x, y][], radii[], cuspIndices[], cuspSteps[], sharpestIndices[], sharpestSteps[] }] }
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';
import { findCusps, osculatingCircles, type Point } from '../lib/geometry.ts';
import { pca } from '../lib/pca.ts';
import { gaussianFilterVariable, linearSigmaSchedule } from '../lib/smoothing.ts';
import { decodeTensors } from '../lib/tensorfile.ts';

const STAGE = 'essential-dynamics';

export const edParams = z.strictObject({
  components: z.number().int().min(2).default(4),
  smoothing: z
    .strictObject({ sigmaStart: z.number().nonnegative(), sigmaEnd: z.number().nonnegative() })
    .default({ sigmaStart: 0, sigmaEnd: 0 }),
  cuspSkip: z.number().int().positive().default(8),
  numCusps: z.number().int().nonnegative().default(4),
  numSharpest: z.number().int().nonnegative().optional(),
});

export interface EdPairJson {
  i: number;
  j: number;
  centers: [number, number][];
  radii: number[];
  cuspIndices: number[];
  cuspSteps: number[];
  sharpestIndices: number[];
  sharpestSteps: number[];
}

export interface EdJson {
  steps: number[];
  explainedVariance: number[];
  pcs: number[][];
  smoothed: number[][];
  sigma: number[];
  pairs: EdPairJson[];
}

/** The computation, separate from file reading so it can be tested on planted data. */
export function essentialDynamics(steps: number[], fingerprints: ArrayLike<number>[], params: z.output<typeof edParams>): EdJson {
  const T = steps.length;
  if (T < 3) throw new Error(`${STAGE}: need at least 3 checkpoints (input 'evals'), got ${T}`);
  const components = Math.min(params.components, T, fingerprints[0].length);
  const result = pca(fingerprints, components);
  const sigma = linearSigmaSchedule(T, params.smoothing.sigmaStart, params.smoothing.sigmaEnd);
  const flat = gaussianFilterVariable(result.projections.flat(), [T, components], 0, sigma);
  const smoothed = Array.from({ length: T }, (_, t) => Array.from(flat.subarray(t * components, (t + 1) * components)));
  const shown = Math.min(3, components);
  const pairs: EdPairJson[] = [];
  for (let i = 0; i < shown; i++) {
    for (let j = i + 1; j < shown; j++) {
      const circles = osculatingCircles(smoothed.map((r) => [r[i], r[j]] as Point));
      const { cusps, sharpest } = findCusps(circles, {
        skip: params.cuspSkip,
        numCusps: params.numCusps,
        numSharpest: params.numSharpest ?? params.numCusps,
      });
      pairs.push({
        i,
        j,
        centers: circles.centers,
        radii: circles.radii,
        cuspIndices: cusps,
        cuspSteps: cusps.map((t) => steps[t]),
        sharpestIndices: sharpest,
        sharpestSteps: sharpest.map((t) => steps[t]),
      });
    }
  }
  return { steps, explainedVariance: result.explainedVarianceRatio, pcs: result.projections, smoothed, sigma, pairs };
}

/** The evaluate dirs with the step from their eval.json, in step order. */
async function readCheckpointSteps(evals: string[]): Promise<{ dir: string; step: number }[]> {
  const out: { dir: string; step: number }[] = [];
  for (const dir of evals) {
    const file = path.join(dir, 'eval.json');
    const { step } = JSON.parse(await readFile(file, 'utf8')) as { step?: unknown };
    if (typeof step !== 'number') throw new Error(`${STAGE}: ${file} has no numeric 'step'`);
    out.push({ dir, step });
  }
  out.sort((a, b) => a.step - b.step);
  const dup = out.find((e, i) => i > 0 && e.step === out[i - 1].step);
  if (dup) throw new Error(`${STAGE}: two 'evals' inputs have step ${dup.step} (expected one per checkpoint)`);
  return out;
}

export const edStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: edParams,
  inputs: { evals: 'dir[]' },
  async run(ctx) {
    const evals = await readCheckpointSteps(ctx.inputs.evals);
    const steps = evals.map((e) => e.step);
    let shape: number[] | undefined;
    const fingerprints = [];
    for (const { dir } of evals) {
      const file = path.join(dir, 'outputs.swt');
      const { tensors } = decodeTensors(await readFile(file));
      const outputs = tensors.outputs;
      if (!outputs) throw new Error(`${STAGE}: ${file} has no tensor 'outputs' (expected [P, T, V] probe outputs)`);
      shape ??= outputs.shape;
      if (outputs.shape.join() !== shape.join()) {
        throw new Error(`${STAGE}: ${file} has outputs of shape [${outputs.shape}] but earlier checkpoints have [${shape}] (same probe set expected)`);
      }
      fingerprints.push(outputs.data);
    }
    ctx.log.info(`${STAGE}: ${steps.length} checkpoints × ${fingerprints[0]?.length ?? 0} features`);
    const ed = essentialDynamics(steps, fingerprints, ctx.params);
    await writeFile(path.join(ctx.outDir, 'ed.json'), JSON.stringify(ed));
    ctx.log.info(`${STAGE}: explained variance ${ed.explainedVariance.map((v) => v.toFixed(3)).join(', ')}`);
    return { explainedVariance: ed.explainedVariance };
  },
});
