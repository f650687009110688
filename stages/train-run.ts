// The training loop of stage 'train' (declared in train.ts): loaded where the node runs.
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { atomicWriteFile, type StageRun } from '../engine/index.ts';
import { constantWeights, dmmseWeights, mean, mseByPosition, predictWithWeights, ridgeWeights } from '../lib/baselines.ts';
import { Transformer, initParams, paramShapes, readFloats, runInChunks, type ModelConfig } from '../lib/model.ts';
import { Adam, checkpointSteps, oneCycleLr } from '../lib/optim.ts';
import { rngStream } from '../lib/rng.ts';
import { sampleBatch, type Batch, type TaskConfig } from '../lib/tasks.ts';
import { decodeTensors, encodeTensors, type TensorMap } from '../lib/tensorfile.ts';
import { initBackend } from '../lib/backend.ts';
import { checkpointName, momentsName, type MetricsLine, type PredictorMse, type SetMetrics, type trainStage } from './train.ts';
import { grantedDevice } from '../lib/device.ts';
import { loadTasks, type TaskData } from './tasks.ts';

const STATE_VERSION = 1;

/** Baseline predictions on one fixed evaluation set. */
interface EvalSet {
  batch: Batch;
  ridge: Float64Array;
  dmmse: Float64Array;
  taskAverage: Float64Array;
}


function checkConsistency(model: ModelConfig, task: TaskConfig, data: TaskData): void {
  for (const key of ['D', 'K', 'noiseVariance', 'M'] as const) {
    if (task[key] !== data.info[key]) throw new Error(`train: params.task.${key} = ${task[key]} but the tasks input has ${key} = ${data.info[key]}`);
  }
  for (const key of ['D', 'K'] as const) {
    if (model[key] !== task[key]) throw new Error(`train: params.model.${key} = ${model[key]} must equal params.task.${key} = ${task[key]}`);
  }
}

function evalSet(batch: Batch, data: TaskData, pretrain: boolean): EvalSet {
  const s2 = data.info.noiseVariance;
  const ridge = predictWithWeights(batch, ridgeWeights(batch, s2));
  // dMMSE is Bayes-optimal for the discrete prior; for M = ∞ the evaluator defines it as ridge.
  const dmmse = pretrain && data.taskSet ? predictWithWeights(batch, dmmseWeights(batch, data.taskSet, s2)) : ridge;
  const taskAverage = predictWithWeights(batch, constantWeights(batch, data.info.taskMean));
  return { batch, ridge, dmmse, taskAverage };
}

function predictorMse(pred: ArrayLike<number>, target: ArrayLike<number>, B: number, K: number): PredictorMse {
  const msePerPos = mseByPosition(pred, target, B, K);
  return { mse: mean(msePerPos), msePerPos };
}

async function setMetrics(model: Transformer, set: EvalSet): Promise<SetMetrics> {
  const { B, K, xs, ys } = set.batch;
  const pred = await runInChunks(model, xs, ys, B);
  return {
    ...predictorMse(pred, ys, B, K),
    deltaRidge: mean(mseByPosition(pred, set.ridge, B, K)),
    deltaDmmse: mean(mseByPosition(pred, set.dmmse, B, K)),
  };
}

interface TrainState {
  /** Steps completed: the next step to run. */
  nextStep: number;
  params: Float32Array[];
  adam: Adam;
  metrics: MetricsLine[];
}

async function loadState(file: string, names: string[], shapes: number[][]): Promise<TrainState | null> {
  if (!existsSync(file)) return null;
  const { tensors, meta } = decodeTensors(await readFile(file));
  if (meta.version !== STATE_VERSION) throw new Error(`${file}: state version ${meta.version}, expected ${STATE_VERSION}; delete the work dir to restart`);
  const adam = new Adam(shapes.map((s) => s.reduce((a, b) => a * b, 1)));
  adam.t = meta.adamStep as number;
  const params = names.map((n, i) => {
    adam.m[i].set(tensors[`adam.m.${n}`].data);
    adam.v[i].set(tensors[`adam.v.${n}`].data);
    return Float32Array.from(tensors[n].data);
  });
  return { nextStep: meta.nextStep as number, params, adam, metrics: meta.metrics as MetricsLine[] };
}

function encodeState(state: TrainState, names: string[], shapes: number[][]): Uint8Array {
  const tensors: TensorMap = {};
  names.forEach((n, i) => {
    tensors[n] = { shape: shapes[i], data: state.params[i] };
    tensors[`adam.m.${n}`] = { shape: shapes[i], data: state.adam.m[i] };
    tensors[`adam.v.${n}`] = { shape: shapes[i], data: state.adam.v[i] };
  });
  return encodeTensors(tensors, { version: STATE_VERSION, nextStep: state.nextStep, adamStep: state.adam.t, metrics: state.metrics });
}

/** Adam's first and second moments, each flattened in canonical parameter order. */
function encodeMoments(adam: Adam, step: number): Uint8Array {
  const flat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (out.set(p, at), (at += p.length));
    return out;
  };
  const m = flat(adam.m);
  const v = flat(adam.v);
  return encodeTensors({ m: { shape: [m.length], data: m }, v: { shape: [v.length], data: v } }, { step, adamStep: adam.t });
}

export const run: StageRun<typeof trainStage> = async (ctx) => {
  const started = Date.now();
  const { model: modelCfg, task, steps, batchSize, lr, seed } = ctx.params;
  const backend = await initBackend(grantedDevice(ctx.resources));
  const data = await loadTasks(ctx.inputs.tasks);
  checkConsistency(modelCfg, task, data);

  const grid = checkpointSteps(steps, ctx.params.checkpoints.logSpace, ctx.params.checkpoints.linearSpace);
  const isCheckpoint = new Set(grid);
  const sets = { pretrain: evalSet(data.evalPretrain, data, true), true: evalSet(data.evalTrue, data, false) };

  const shapes = paramShapes(modelCfg);
  const names = shapes.map((s) => s.name);
  const dims = shapes.map((s) => s.shape);
  const ckptDir = path.join(ctx.workDir, 'checkpoints');
  await mkdir(ckptDir, { recursive: true });
  const end = ctx.params.segmentEnd ?? steps;
  if (end > steps) throw new Error(`train: segmentEnd = ${end} is past steps = ${steps}`);
  const stateFile = path.join(ctx.workDir, 'state.swt');
  // The previous segment's end state starts this one; this node's own work-dir state (a killed run) is further along.
  const resumed = ctx.inputs.resume ? await loadState(path.join(ctx.inputs.resume, 'state.swt'), names, dims) : null;
  if (ctx.inputs.resume && !resumed) throw new Error(`train: input resume (${ctx.inputs.resume}) holds no state.swt`);
  const segmentStart = resumed?.nextStep ?? 0;
  if (segmentStart >= end) throw new Error(`train: the resumed state is at step ${segmentStart}, not before segmentEnd = ${end}`);
  let state = (await loadState(stateFile, names, dims)) ?? resumed;
  if (state) ctx.log.info(`train: resuming at step ${state.nextStep} of ${steps}${end < steps ? ` (segment to ${end})` : ''}`);
  else {
    const init = initParams(modelCfg, rngStream(seed, 'init'));
    state = { nextStep: 0, params: names.map((n) => Float32Array.from(init[n].data)), adam: new Adam(dims.map((d) => d.reduce((a, b) => a * b, 1))), metrics: [] };
  }
  const toMap = (params: Float32Array[]): TensorMap => Object.fromEntries(names.map((n, i) => [n, { shape: dims[i], data: params[i] }]));
  const model = new Transformer(modelCfg, toMap(state.params));
  const { D, K } = task;
  const flat = model.flatLossAndGrads();
  let lastLoss = NaN;
  try {
    for (let s = state.nextStep; s < end; s++) {
      if (ctx.signal.aborted) throw new Error(`train: aborted at step ${s}`);
      const batch = sampleBatch(task, batchSize, rngStream(seed, 'train-data', s), data.taskSet);
      const lrNow = oneCycleLr(s, steps, lr);
      let perPosition: Float32Array;
      if (flat) {
        // CPU backends: the weights live in state.params; the model's variables are only synced for evaluation.
        const out = flat(state.params, batch.xs, batch.ys, batchSize);
        perPosition = out.perPosition;
        state.adam.step(state.params, out.grads, lrNow);
      } else {
        const xs = tf.tensor3d(batch.xs, [batchSize, K, D]);
        const ys = tf.tensor2d(batch.ys, [batchSize, K]);
        const out = await model.lossAndGrads(xs, ys);
        perPosition = out.perPosition;
        state.adam.step(state.params, await Promise.all(out.grads.map(readFloats)), lrNow);
        tf.dispose([xs, ys, ...out.grads]);
        state.params.forEach((p, i) => model.setParam(i, p));
      }
      lastLoss = mean(perPosition);
      if (isCheckpoint.has(s)) {
        if (flat) state.params.forEach((p, i) => model.setParam(i, p));
        await atomicWriteFile(path.join(ckptDir, checkpointName(s)), encodeTensors(toMap(state.params), { step: s }));
        // Adam's moments go in a file of their own, so the checkpoint files (and every node that reads
        // only them) do not change; m-ED and v-ED read these.
        await atomicWriteFile(path.join(ckptDir, momentsName(s)), encodeMoments(state.adam, s));
        state.metrics.push({ step: s, lr: lrNow, batchLoss: lastLoss, pretrain: await setMetrics(model, sets.pretrain), true: await setMetrics(model, sets.true) });
        state.nextStep = s + 1;
        await atomicWriteFile(stateFile, encodeState(state, names, dims));
      }
      ctx.progress.update(s + 1, steps, 'steps');
    }
  } finally {
    model.dispose();
  }

  const outCkpt = path.join(ctx.outDir, 'checkpoints');
  await mkdir(outCkpt, { recursive: true });
  const saved = new Set(await readdir(ckptDir));
  for (const s of grid) {
    if (s < segmentStart || s >= end) continue; // other segments publish theirs
    if (!saved.has(checkpointName(s))) throw new Error(`train: checkpoint ${checkpointName(s)} missing from ${ckptDir}`);
    await copyFile(path.join(ckptDir, checkpointName(s)), path.join(outCkpt, checkpointName(s)));
    if (!saved.has(momentsName(s))) throw new Error(`train: ${momentsName(s)} missing from ${ckptDir} (a work dir from before moments were saved: delete it to retrain)`);
    await copyFile(path.join(ckptDir, momentsName(s)), path.join(outCkpt, momentsName(s)));
  }
  const write = (name: string, value: unknown) => writeFile(path.join(ctx.outDir, name), JSON.stringify(value, null, 2) + '\n');
  await write('model.json', { config: modelCfg, params: shapes });
  if (end < steps) {
    state.nextStep = end;
    await writeFile(path.join(ctx.outDir, 'state.swt'), encodeState(state, names, dims));
    ctx.log.info(`train: segment ${segmentStart}–${end} of ${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { backend, wallSeconds: (Date.now() - started) / 1000 };
  }
  await writeFile(path.join(ctx.outDir, 'metrics.jsonl'), state.metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
  const baselines = (set: EvalSet) => {
    const { B, ys } = set.batch;
    return {
      zero: predictorMse(new Float64Array(B * K), ys, B, K),
      ridge: predictorMse(set.ridge, ys, B, K),
      dmmse: predictorMse(set.dmmse, ys, B, K),
      taskAverage: predictorMse(set.taskAverage, ys, B, K),
    };
  };
  await write('baselines.json', { pretrain: baselines(sets.pretrain), true: baselines(sets.true) });
  // The final batch loss of a resumed run that had nothing left to do is taken from its metrics.
  const finalLoss = Number.isNaN(lastLoss) ? state.metrics.at(-1)?.batchLoss ?? null : lastLoss;
  await write('train.json', { steps, checkpointSteps: grid, backend, finalLoss });
  const wallSeconds = (Date.now() - started) / 1000;
  ctx.log.info(`train: ${steps} steps on ${backend} in ${wallSeconds.toFixed(1)} s, final batch loss ${finalLoss}`);
  // Charted by the dashboard (meta.series): test loss on the pretraining distribution per checkpoint.
  const series = [{ chart: 'test loss', x: 'step', y: 'test loss (pretraining tasks)', logX: true, logY: true, points: state.metrics.map((m): [number, number] => [m.step, m.pretrain.mse]) }];
  return { backend, wallSeconds, series };
};
