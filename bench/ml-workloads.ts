// The timed workloads of bench/ml.ts, importable without running the benchmark (the GPU check,
// tools/gpu-check.ts, times the same steps on WebGPU). Each returns one step as an async function:
// GPU backends read results asynchronously.
import * as tf from '@tensorflow/tfjs';
import { PAPER_MODEL, Transformer, initParams, readFloats, type ModelKernel } from '../lib/model.ts';
import { Adam, oneCycleLr } from '../lib/optim.ts';
import { rngStream } from '../lib/rng.ts';
import { sgldChain } from '../lib/sgld.ts';
import { sampleBatch } from '../lib/tasks.ts';

/** train:B:K or sgld:m:K, the names bench_torch.py understands too. */
export const WORKLOADS = ['train:64:8', 'train:256:8', 'train:64:16', 'train:256:16', 'sgld:1024:8', 'sgld:1024:16'];

/** Forward+backward FLOP per sequence (3 × forward; LN, softmax, ReLU ignored). */
export const FLOP_PER_SEQUENCE: Record<number, number> = { 8: 5.17e6, 16: 11.1e6 };

/** One step of workload kind 'train' (B = size) or 'sgld' (m = size). */
export function workloadStep(kind: string, kernel: ModelKernel, size: number, K: number): () => Promise<void> {
  if (kind === 'train') return trainStep(kernel, size, K);
  if (kind === 'sgld') return sgldStep(kernel, size, K);
  throw new Error(`bench workload kind must be 'train' or 'sgld', got '${kind}'`);
}

/** A training step as stages/train.ts takes it: fresh batch, forward+backward, Adam, write-back. */
export function trainStep(kernel: ModelKernel, B: number, K: number): () => Promise<void> {
  const cfg = { ...PAPER_MODEL, K };
  const model = new Transformer(cfg, initParams(cfg, rngStream(0, 'init')), {}, kernel);
  const initial = initParams(cfg, rngStream(0, 'init'));
  const params = model.names.map((n) => Float32Array.from(initial[n].data));
  const adam = new Adam(params.map((p) => p.length));
  const task = { D: cfg.D, K, noiseVariance: 0.125, M: 'inf' as const };
  let s = 0;
  return async () => {
    const batch = sampleBatch(task, B, rngStream(0, 'train-data', s));
    const xs = tf.tensor3d(batch.xs, [B, K, cfg.D]);
    const ys = tf.tensor2d(batch.ys, [B, K]);
    const { grads } = await model.lossAndGrads(xs, ys);
    adam.step(params, await Promise.all(grads.map(readFloats)), oneCycleLr(s % 1000, 1000, 3e-3));
    tf.dispose([xs, ys, ...grads]);
    params.forEach((p, i) => model.setParam(i, p));
    s++;
  };
}

/** SGLD steps through lib/sgld.ts (the llc stage's sampler) on a fixed minibatch of m sequences. */
export function sgldStep(kernel: ModelKernel, m: number, K: number): () => Promise<void> {
  const cfg = { ...PAPER_MODEL, K };
  const model = new Transformer(cfg, initParams(cfg, rngStream(0, 'init')), {}, kernel);
  const batch = sampleBatch({ D: cfg.D, K, noiseVariance: 0.125, M: 'inf' }, m, rngStream(0, 'llc-data'));
  const xs = tf.tensor3d(batch.xs, [m, K, cfg.D]);
  const ys = tf.tensor2d(batch.ys, [m, K]);
  const target = { variables: model.variables, lossAndGrads: () => model.lossAndGrads(xs, ys) };
  const noise = rngStream(0, 'sgld', 0);
  // One chain step per call (the chain restores w* after each call, which costs one assign per variable).
  return async () => void (await sgldChain(target, { eps: 3e-4, nbeta: 200 / 3, gamma: 20 / 3, burnin: 0, draws: 1, noise }));
}

