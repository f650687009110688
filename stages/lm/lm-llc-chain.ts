// The work of one `lm-llc` node, split into jobs a worker thread can run on its own: 'L0' (the
// loss at w* over the LLC dataset) and 'chain' c. A job names files and seeds, never tensors: each
// worker rebuilds the checkpoint and the dataset deterministically, so a chain's result depends on
// (seed, c) only.
import { datasetLoss, lmSgldChain, type TokenRows } from '../../lib/lm/llc.ts';
import { lmForward, lmLossAndGrad, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { perPositionLoss, mean } from '../../lib/lm/evals.ts';
import { rngStream } from '../../lib/rng.ts';
import { useLmKernel } from '../../lib/kernels/lm-gemm.ts';
import type { ChainRun } from '../../lib/sgld.ts';
import { readLmCheckpoint, readLmConfig, readTokenRows, weightList } from './analysis-io.ts';

export interface LmLlcSpec {
  checkpointFile: string;
  modelFile: string;
  dataDir: string;
  eps: number;
  nbeta: number;
  gamma: number;
  chains: number;
  burnin: number;
  draws: number;
  batchSize: number;
  datasetSize: number;
  seed: number;
}

export type LmLlcJob = { kind: 'L0'; spec: LmLlcSpec } | { kind: 'chain'; spec: LmLlcSpec; chain: number };
export type LmLlcJobResult = { kind: 'L0'; L0: number } | { kind: 'chain'; run: ChainRun };
export interface LmChainProgress {
  chain: number;
  done: number;
  total: number;
}

let cached: { key: string; cfg: LmConfig; weights: LmWeights; data: TokenRows } | null = null;

/** `datasetSize` rows of the training rows, picked by a seeded shuffle (the same for every checkpoint). */
export function llcRows(all: { rows: Int32Array; n: number; T: number }, size: number, seed: number): TokenRows {
  if (size > all.n) throw new Error(`lm-llc: datasetSize ${size} exceeds the ${all.n} training rows`);
  const rng = rngStream(seed, 'lm-llc-rows');
  const order = Array.from({ length: all.n }, (_, i) => i);
  for (let i = 0; i < size; i++) {
    const j = i + rng.int(all.n - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const rows = new Int32Array(size * all.T);
  for (let i = 0; i < size; i++) rows.set(all.rows.subarray(order[i] * all.T, (order[i] + 1) * all.T), i * all.T);
  return { rows, n: size, T: all.T };
}

async function load(spec: LmLlcSpec) {
  const key = JSON.stringify([spec.checkpointFile, spec.modelFile, spec.dataDir, spec.datasetSize, spec.seed]);
  if (cached?.key === key) return cached;
  const cfg = await readLmConfig('lm-llc', spec.modelFile);
  const { weights } = await readLmCheckpoint('lm-llc', spec.checkpointFile, cfg);
  const data = llcRows(readTokenRows('lm-llc', spec.dataDir, 'train', cfg.vocab), spec.datasetSize, spec.seed);
  cached = { key, cfg, weights, data };
  return cached;
}

export async function runLmLlcJob(job: LmLlcJob, progress?: (p: LmChainProgress) => void): Promise<LmLlcJobResult> {
  useLmKernel(); // the WebAssembly SIMD products (same results as the TypeScript ones to float32 rounding)
  const { cfg, weights, data } = await load(job.spec);
  const { T } = data;
  if (job.kind === 'L0') {
    const loss = (tokens: Int32Array, B: number) => mean(perPositionLoss(lmForward(cfg, weights, tokens, B, T).logits, tokens, B, T, cfg.vocab));
    return { kind: 'L0', L0: datasetLoss(loss, data, job.spec.batchSize) };
  }
  const { names, params } = weightList(weights);
  const spec = job.spec;
  const c = job.chain;
  const run = await lmSgldChain(
    params,
    (tokens, B) => {
      const { loss, grads } = lmLossAndGrad(cfg, weights, tokens, B, T);
      return { loss, grads: names.map((n) => grads[n]) };
    },
    data,
    spec.batchSize,
    rngStream(spec.seed, 'sgld-batches', c),
    {
      eps: spec.eps,
      nbeta: spec.nbeta,
      gamma: spec.gamma,
      burnin: spec.burnin,
      draws: spec.draws,
      noise: rngStream(spec.seed, 'sgld', c),
      onProgress: progress && ((done, total) => progress({ chain: c, done, total })),
      progressEvery: 5,
    },
  );
  return { kind: 'chain', run };
}
