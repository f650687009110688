// Builds upstream artifacts in exactly the formats of docs/artifacts.md (train, evaluate, llc,
// stage-boundaries), from curves shaped like the paper's reported ones, for figure tests.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeTensors } from '../../lib/tensorfile.ts';

export interface FixtureRun {
  trainDir: string;
  stagesDir: string;
  evalDirs: string[];
  steps: number[];
}

export const STAGES = [
  { label: 'LR1', start: 0, end: 1000, type: 'A' as const },
  { label: 'LR2', start: 1000, end: 40000, type: 'A' as const },
  { label: 'LR3', start: 40000, end: 126000, type: 'B' as const },
  { label: 'LR4', start: 126000, end: 320000, type: 'B' as const },
  { label: 'LR5', start: 320000, end: 500000, type: 'Other' as const },
];
const LLC_POINTS: [number, number][] = [[1, 3], [1000, 19.2], [2500, 43.7], [5500, 125.2], [10000, 155.9], [40000, 170.1], [126000, 156.9], [318000, 123.4], [500000, 127.9]];
const LOSS_POINTS: [number, number][] = [[1, 4.6], [1000, 4.157], [5000, 2.652], [10000, 2.106], [40000, 1.892], [126000, 1.827], [320000, 1.777], [500000, 1.747]];
export const BAYES = [4.125, 3.178, 2.28, 1.487, 0.895, 0.574, 0.41, 0.322];

/** Piecewise linear in ln(t + 1) through the paper's points. */
export function paperCurve(points: [number, number][], t: number): number {
  const x = Math.log(t + 1);
  for (let i = 1; i < points.length; i++) {
    const a = Math.log(points[i - 1][0] + 1);
    const b = Math.log(points[i][0] + 1);
    if (x <= b) return points[i - 1][1] + ((x - a) / (b - a)) * (points[i][1] - points[i - 1][1]);
  }
  return points[points.length - 1][1];
}

/** About n distinct log-spaced steps from 1 to `last` (early repeats after rounding dropped). */
export const logSteps = (n: number, last = 500000) => [...new Set(Array.from({ length: n }, (_, i) => Math.round(10 ** ((i * Math.log10(last)) / (n - 1)))))];

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `stagewise-${prefix}-`));
}

const json = (file: string, value: unknown) => writeFile(file, JSON.stringify(value, null, 1));

/** An evaluate output dir; `outputs` is the probe-output fingerprint ([P, T, V] flattened). */
export async function writeEval(dir: string, step: number, extra: { fromZero?: number; fromTaskMean?: number } = {}, outputs?: { shape: number[]; data: Float32Array }): Promise<string> {
  await mkdir(dir, { recursive: true });
  const loss = paperCurve(LOSS_POINTS, step);
  const progress = Math.min(1, Math.max(0, (4.3 - loss) / (4.3 - 1.659)));
  const lossPerPos = BAYES.map((b) => b + (4.125 - b) * (1 - progress) + 0.08);
  await json(path.join(dir, 'eval.json'), {
    step,
    loss,
    lossPerPos,
    lossTrue: loss,
    lossTruePerPos: lossPerPos,
    predNormPerPos: BAYES.map((_, k) => 0.05 + (k / 8) * 3 * progress),
    deltaRidge: loss - 1.659,
    deltaRidgePerPos: lossPerPos.map((l, k) => l - BAYES[k]),
    weightNorm: 20 + 0.0004 * step + 3 * Math.log(step + 1),
    fromZero: extra.fromZero ?? 1,
    fromTaskMean: extra.fromTaskMean ?? 1,
  });
  const out = outputs ?? { shape: [2, 2, 2], data: Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + step)) };
  await writeFile(path.join(dir, 'outputs.swt'), encodeTensors({ outputs: out }, { step }));
  return dir;
}

/** One training run: train dir (metrics.jsonl, baselines.json), evaluate dirs and stages.json. */
export async function writeRun(root: string, name: string, steps: number[], llcScale = 1): Promise<FixtureRun> {
  const trainDir = path.join(root, `train-${name}`);
  await mkdir(trainDir, { recursive: true });
  const metrics = logSteps(60).map((step) => ({ step, lr: 0.003, batchLoss: paperCurve(LOSS_POINTS, step), pretrain: { mse: paperCurve(LOSS_POINTS, step), msePerPos: BAYES, deltaRidge: 0, deltaDmmse: 0 }, true: {} }));
  await writeFile(path.join(trainDir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
  const level = (mse: number, perPos: number[]) => ({ mse, msePerPos: perPos });
  await json(path.join(trainDir, 'baselines.json'), {
    pretrain: { zero: level(4.125, BAYES.map(() => 4.125)), ridge: level(1.659, BAYES), dmmse: level(1.659, BAYES), taskAverage: level(4.125, BAYES.map(() => 4.125)) },
    true: {},
  });
  const evalDirs = [];
  for (const step of steps) evalDirs.push(await writeEval(path.join(root, `eval-${name}-${step}`), step));
  const stagesDir = path.join(root, `stages-${name}`);
  await mkdir(stagesDir, { recursive: true });
  const llc = steps.map((t) => llcScale * paperCurve(LLC_POINTS, t));
  const lnT = steps.map((t) => Math.log(t + 1));
  const slope = llc.map((_, i) => {
    const a = Math.max(0, i - 1);
    const b = Math.min(llc.length - 1, i + 1);
    return (llc[b] - llc[a]) / (lnT[b] - lnT[a]);
  });
  const boundaryAt = (s: number) => steps.reduce((best, t, i) => (Math.abs(t - s) < Math.abs(steps[best] - s) ? i : best), 0);
  await json(path.join(stagesDir, 'stages.json'), {
    steps,
    llc,
    llcSmoothed: llc,
    slope,
    threshold: 8,
    params: {},
    boundaries: [1000, 40000, 126000, 320000].map((s) => {
      const index = boundaryAt(s);
      return { step: steps[index], index, llc: llc[index], loss: paperCurve(LOSS_POINTS, steps[index]) };
    }),
    stages: STAGES,
  });
  return { trainDir, stagesDir, evalDirs, steps };
}

/**
 * An llc output dir (llc.json) with healthy chains, or one diverged chain when `failChain`; λ̂ is
 * `llcMean`, by default the paper's at `step` raised with ε.
 */
export async function writeLlc(dir: string, step: number, sampler: Partial<Record<'eps' | 'nbeta' | 'gamma' | 'batchSize' | 'datasetSize', number>>, failChain = false, llcMean?: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const s = { eps: 3e-4, nbeta: 30, gamma: 100, chains: 3, burnin: 10, draws: 40, batchSize: 64, datasetSize: 1024, ...sampler };
  const L0 = 1.8;
  llcMean ??= paperCurve(LLC_POINTS, step) * (1 + 100 * s.eps);
  const chains = Array.from({ length: s.chains }, (_, c) => {
    const failed = failChain && c === 0;
    const trace = Array.from({ length: s.burnin + s.draws }, (_, i) => (failed && i > 30 ? (i > 40 ? null : 10 ** (i - 30)) : L0 + (llcMean / s.nbeta) * (1 - Math.exp(-i / 5)) + 0.001 * Math.sin(i * (c + 1))));
    return { llc: failed ? null : llcMean, llcPerPos: [], failed, ...(failed ? { reason: 'divergence' } : {}), trace };
  });
  await json(path.join(dir, 'llc.json'), { step, sampler: s, L0, L0PerPos: [], llcMean, llcStd: 2, llcPerPos: [], chains });
  return dir;
}

export function fakeContext<P>(params: P, inputs: Record<string, string | string[]>, outDir: string) {
  const messages: string[] = [];
  return {
    params,
    inputs,
    outDir,
    workDir: outDir,
    log: { info: (m: string) => void messages.push(m), warn: (m: string) => void messages.push(m) },
    progress: { update: () => {} },
    signal: new AbortController().signal,
    resources: { cpu: 1, gpu: 0 },
    messages,
  };
}
