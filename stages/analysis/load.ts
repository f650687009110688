// Shared glue of the per-checkpoint analysis stages: read one checkpoint, its model config and the
// run's fixed evaluation data, with errors that name the stage and the file.
import { readFile } from 'node:fs/promises';
import type { ModelConfig } from '../../lib/model.ts';
import { decodeTensors, type TensorMap } from '../../lib/tensorfile.ts';
import { loadTasks, type TaskData } from '../tasks.ts';

export interface LoadedCheckpoint {
  step: number;
  config: ModelConfig;
  tensors: TensorMap;
  /** Parameters in canonical order, flattened (the order of model.json's `params`). */
  flat: Float32Array;
  shapes: { name: string; shape: number[] }[];
}

export async function loadCheckpoint(stage: string, inputs: { checkpoint: string; model: string }): Promise<LoadedCheckpoint> {
  const file = inputs.checkpoint;
  const modelFile = inputs.model;
  const { config, params: shapes } = JSON.parse(await readFile(modelFile, 'utf8')) as { config: ModelConfig; params: { name: string; shape: number[] }[] };
  const { tensors, meta } = decodeTensors(await readFile(file));
  if (typeof meta.step !== 'number') throw new Error(`${stage}: ${file}: meta.step missing (expected a train checkpoint)`);
  const total = shapes.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const flat = new Float32Array(total);
  let at = 0;
  for (const s of shapes) {
    const t = tensors[s.name];
    if (!t) throw new Error(`${stage}: ${file} has no tensor '${s.name}' (model.json lists it)`);
    flat.set(t.data, at);
    at += t.data.length;
  }
  return { step: meta.step, config, tensors, flat, shapes };
}

export async function loadRunTasks(stage: string, tasksDir: string, config: ModelConfig): Promise<TaskData> {
  const data = await loadTasks(tasksDir);
  if (config.D !== data.info.D || config.K !== data.info.K) {
    throw new Error(`${stage}: model has D=${config.D}, K=${config.K} but the tasks input has D=${data.info.D}, K=${data.info.K}`);
  }
  return data;
}

/** The first `size` sequences of a batch (the analyses' fixed validation subset). */
export function head(batch: { B: number; K: number; D: number; xs: Float32Array; ys: Float32Array; ws?: Float32Array }, size: number) {
  const B = Math.min(size, batch.B);
  const { K, D } = batch;
  return { B, K, D, xs: batch.xs.subarray(0, B * K * D), ys: batch.ys.subarray(0, B * K), ws: batch.ws?.subarray(0, B * D) ?? new Float32Array(0) };
}

/** Split a flat parameter vector into per-parameter arrays (canonical order). */
export function splitParams(flat: ArrayLike<number>, shapes: { shape: number[] }[]): Float32Array[] {
  let at = 0;
  return shapes.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const out = Float32Array.from({ length: size }, (_, i) => flat[at + i]);
    at += size;
    return out;
  });
}
