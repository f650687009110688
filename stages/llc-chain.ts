// The work of one `llc` node, split into jobs that a worker thread can run on its own:
// 'L0' (per-position loss at w* over the whole dataset) and 'chain' c (one SGLD chain).
// A job names files and seeds, never tensors: each worker rebuilds the checkpoint's model and the
// LLC dataset deterministically, so a chain's result depends on (seed, c) only, not on the worker.
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { Transformer, type ModelConfig } from '../lib/model.ts';
import { rngStream } from '../lib/rng.ts';
import { sgldChain, ShuffledBatches, type ChainRun } from '../lib/sgld.ts';
import { sampleBatch, type Batch, type TaskConfig } from '../lib/tasks.ts';
import { decodeTensors } from '../lib/tensorfile.ts';
import { initBackend } from '../lib/backend.ts';
import type { Device } from '../lib/device.ts';

export interface LlcJobSpec {
  checkpointFile: string;
  /** task-set.swt for finite M. */
  taskSetFile?: string;
  model: ModelConfig;
  task: TaskConfig;
  eps: number;
  nbeta: number;
  gamma: number;
  burnin: number;
  draws: number;
  batchSize: number;
  datasetSize: number;
  seed: number;
  /** Where the chains compute: the device the llc node was granted. */
  device: Device;
}

export type LlcJob = { kind: 'L0'; spec: LlcJobSpec } | { kind: 'chain'; spec: LlcJobSpec; chain: number };
/** `backend`: the TensorFlow.js backend the job ran on, as initBackend describes it. */
export type LlcJobResult = { kind: 'L0'; L0PerPos: number[]; backend: string } | { kind: 'chain'; run: ChainRun; backend: string };
export interface ChainProgress {
  chain: number;
  done: number;
  total: number;
}

// One worker serves many jobs of the same checkpoint: keep the last model and dataset.
let cachedModel: { file: string; model: Transformer } | null = null;
let cachedData: { key: string; data: Batch } | null = null;

async function modelFor(spec: LlcJobSpec): Promise<Transformer> {
  if (cachedModel?.file === spec.checkpointFile) return cachedModel.model;
  cachedModel?.model.dispose();
  const { tensors } = decodeTensors(await readFile(spec.checkpointFile));
  const model = new Transformer(spec.model, tensors);
  cachedModel = { file: spec.checkpointFile, model };
  return model;
}

/** The n sequences of the LLC dataset, from rngStream(seed, 'llc-data'): the same for every checkpoint. */
async function datasetFor(spec: LlcJobSpec): Promise<Batch> {
  const key = JSON.stringify([spec.task, spec.datasetSize, spec.seed, spec.taskSetFile ?? null]);
  if (cachedData?.key === key) return cachedData.data;
  let taskSet: Float32Array | undefined;
  if (spec.task.M !== 'inf') {
    if (!spec.taskSetFile) throw new Error(`llc: task.M = ${spec.task.M} needs the tasks input's task-set.swt`);
    taskSet = decodeTensors(await readFile(spec.taskSetFile)).tensors.tasks?.data;
    if (!taskSet) throw new Error(`${spec.taskSetFile}: no tensor 'tasks'`);
  }
  const data = sampleBatch(spec.task, spec.datasetSize, rngStream(spec.seed, 'llc-data'), taskSet);
  cachedData = { key, data };
  return data;
}

/** Per-position MSE at w* over all n sequences, accumulated in float64 over chunks of the batch size. */
async function datasetLoss(model: Transformer, data: Batch, chunk: number): Promise<number[]> {
  const { K, D, B } = data;
  const sums = new Float64Array(K);
  for (let start = 0; start < B; start += chunk) {
    const n = Math.min(chunk, B - start);
    const xs = tf.tensor3d(data.xs.subarray(start * K * D, (start + n) * K * D), [n, K, D]);
    const ys = tf.tensor2d(data.ys.subarray(start * K, (start + n) * K), [n, K]);
    let perPos: Float32Array;
    try {
      perPos = await model.perPositionLoss(xs, ys);
    } finally {
      tf.dispose([xs, ys]);
    }
    for (let k = 0; k < K; k++) sums[k] += perPos[k] * n;
  }
  return Array.from(sums, (s) => s / B);
}

function runChain(model: Transformer, data: Batch, spec: LlcJobSpec, chain: number, progress?: (p: ChainProgress) => void): Promise<ChainRun> {
  const { K, D } = data;
  const m = spec.batchSize;
  const batches = new ShuffledBatches(spec.datasetSize, m, rngStream(spec.seed, 'sgld-batches', chain));
  const xs = new Float32Array(m * K * D);
  const ys = new Float32Array(m * K);
  return sgldChain(
    {
      variables: model.variables,
      async lossAndGrads(b) {
        const rows = batches.batch(b);
        rows.forEach((r, i) => {
          xs.set(data.xs.subarray(r * K * D, (r + 1) * K * D), i * K * D);
          ys.set(data.ys.subarray(r * K, (r + 1) * K), i * K);
        });
        const x = tf.tensor3d(xs, [m, K, D]);
        const y = tf.tensor2d(ys, [m, K]);
        try {
          return await model.lossAndGrads(x, y);
        } finally {
          x.dispose();
          y.dispose();
        }
      },
    },
    {
      eps: spec.eps,
      nbeta: spec.nbeta,
      gamma: spec.gamma,
      burnin: spec.burnin,
      draws: spec.draws,
      noise: rngStream(spec.seed, 'sgld', chain),
      onProgress: progress && ((done, total) => progress({ chain, done, total })),
      progressEvery: 20,
    },
  );
}

export async function runLlcJob(job: LlcJob, progress?: (p: ChainProgress) => void): Promise<LlcJobResult> {
  const backend = await initBackend(job.spec.device);
  const model = await modelFor(job.spec);
  const data = await datasetFor(job.spec);
  if (job.kind === 'L0') return { kind: 'L0', L0PerPos: await datasetLoss(model, data, job.spec.batchSize), backend };
  return { kind: 'chain', run: await runChain(model, data, job.spec, job.chain, progress), backend };
}
