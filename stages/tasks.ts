// Stage 'tasks': the fixed data of one task setting — the finite-M task set, the two evaluation
// batches (pretraining and true distribution) and the essential-dynamics probe set (docs/artifacts.md).
// Streams (lib/rng.ts): 'task-set'; 'eval' path 0 = pretrain batch, path 1 = true batch; 'probe'.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../engine/index.ts';
import { rngStream } from '../lib/rng.ts';
import { sampleBatch, sampleTaskSet, taskMean, type Batch, type TaskConfig } from '../lib/tasks.ts';
import { decodeTensors, encodeTensors } from '../lib/tensorfile.ts';
import { taskConfigSchema } from './schemas.ts';

const positiveInt = z.number().int().positive();

export const tasksParams = taskConfigSchema.extend({
  evalSize: positiveInt,
  probeSize: positiveInt,
  seed: z.number().int().nonnegative(),
});

export interface TasksInfo extends TaskConfig {
  evalSize: number;
  probeSize: number;
  taskMean: number[];
}

function batchTensors(b: Batch) {
  return {
    xs: { shape: [b.B, b.K, b.D], data: b.xs },
    ys: { shape: [b.B, b.K], data: b.ys },
    ws: { shape: [b.B, b.D], data: b.ws },
  };
}

export const tasksStage = defineStage({
  name: 'tasks',
  module: import.meta.url,
  params: tasksParams,
  async run(ctx) {
    const { D, K, noiseVariance, M, evalSize, probeSize, seed } = ctx.params;
    const cfg: TaskConfig = { D, K, noiseVariance, M };
    const taskSet = M === 'inf' ? undefined : sampleTaskSet(M, D, rngStream(seed, 'task-set'));
    const evalPretrain = sampleBatch(cfg, evalSize, rngStream(seed, 'eval', 0), taskSet);
    const evalTrue = sampleBatch(cfg, evalSize, rngStream(seed, 'eval', 1));
    // The probe set is drawn from the Gaussian prior (the paper's f-ED validation set is), with the configured σ².
    const probe = sampleBatch(cfg, probeSize, rngStream(seed, 'probe'));
    await mkdir(ctx.outDir, { recursive: true });
    const out = (name: string) => path.join(ctx.outDir, name);
    if (taskSet) await writeFile(out('task-set.swt'), encodeTensors({ tasks: { shape: [M as number, D], data: taskSet } }));
    await writeFile(out('eval-pretrain.swt'), encodeTensors(batchTensors(evalPretrain)));
    await writeFile(out('eval-true.swt'), encodeTensors(batchTensors(evalTrue)));
    const { xs, ys } = batchTensors(probe);
    await writeFile(out('probe.swt'), encodeTensors({ xs, ys }));
    const info: TasksInfo = { D, K, noiseVariance, M, evalSize, probeSize, taskMean: taskSet ? Array.from(taskMean(taskSet, D)) : new Array(D).fill(0) };
    await writeFile(out('tasks.json'), JSON.stringify(info, null, 2) + '\n');
    ctx.log.info(`tasks: D=${D} K=${K} σ²=${noiseVariance} M=${M}, eval ${evalSize}×2, probe ${probeSize}`);
  },
});

export interface TaskData {
  info: TasksInfo;
  taskSet?: Float32Array;
  evalPretrain: Batch;
  evalTrue: Batch;
  probe: { B: number; K: number; D: number; xs: Float32Array; ys: Float32Array };
}

async function readBatch(file: string, info: TasksInfo, withWs: boolean): Promise<Batch> {
  const { tensors } = decodeTensors(await readFile(file));
  for (const key of withWs ? ['xs', 'ys', 'ws'] : ['xs', 'ys']) {
    if (!tensors[key]) throw new Error(`${file}: missing tensor '${key}'`);
  }
  const [B, K, D] = tensors.xs.shape;
  if (K !== info.K || D !== info.D) throw new Error(`${file}: xs has shape [${tensors.xs.shape}], expected [B, ${info.K}, ${info.D}]`);
  return { B, K, D, xs: tensors.xs.data, ys: tensors.ys.data, ws: tensors.ws?.data ?? new Float32Array(0) };
}

/** Reads a tasks node's outputs (the directory handed to downstream stages). */
export async function loadTasks(dir: string): Promise<TaskData> {
  const info = JSON.parse(await readFile(path.join(dir, 'tasks.json'), 'utf8')) as TasksInfo;
  let taskSet: Float32Array | undefined;
  if (info.M !== 'inf') {
    const file = path.join(dir, 'task-set.swt');
    if (!existsSync(file)) throw new Error(`${dir}: M = ${info.M} but task-set.swt is missing`);
    taskSet = decodeTensors(await readFile(file)).tensors.tasks?.data;
    if (!taskSet || taskSet.length !== info.M * info.D) throw new Error(`${file}: tensor 'tasks' must have shape [${info.M}, ${info.D}]`);
  }
  return {
    info,
    taskSet,
    evalPretrain: await readBatch(path.join(dir, 'eval-pretrain.swt'), info, true),
    evalTrue: await readBatch(path.join(dir, 'eval-true.swt'), info, true),
    probe: await readBatch(path.join(dir, 'probe.swt'), info, false),
  };
}
