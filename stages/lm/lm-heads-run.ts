// The computation of stage 'lm-heads' (declared in lm-heads.ts): loaded where the node runs.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../../engine/index.ts';
import { headScores, kCompositionGrid, prefixMatchingProbes, previousTokenProbes, type ProbeBatch } from '../../lib/lm/evals.ts';
import { lmForward, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { rngStream } from '../../lib/rng.ts';
import { useLmKernel } from '../../lib/kernels/lm-gemm.ts';
import { readLmCheckpoint, readLmConfig } from './analysis-io.ts';
import { readDataInfo } from './files.ts';
import { probeLengths, type LmHeadsResult, type lmHeadsStage } from './lm-heads.ts';

const STAGE = 'lm-heads';

/** Per layer, per head: the mean attention from each probe's query to its key, over batches of probes. */
function scoresPerLayer(cfg: LmConfig, w: LmWeights, probes: ProbeBatch, batch: number): number[][] {
  const { T, B } = probes;
  const sums = Array.from({ length: cfg.layers }, () => new Float64Array(cfg.heads));
  for (let start = 0; start < B; start += batch) {
    const n = Math.min(batch, B - start);
    const part: ProbeBatch = {
      tokens: probes.tokens.subarray(start * T, (start + n) * T),
      B: n,
      T,
      query: probes.query.subarray(start, start + n),
      key: probes.key.subarray(start, start + n),
    };
    const { attention } = lmForward(cfg, w, part.tokens, n, T, { attention: true });
    attention!.forEach((pattern, l) => headScores(pattern, cfg.heads, part).forEach((s, h) => (sums[l][h] += s * n)));
  }
  return sums.map((s) => Array.from(s, (x) => x / B));
}

export const run: StageRun<typeof lmHeadsStage> = async (ctx) => {
  const p = ctx.params;
  useLmKernel(); // the WebAssembly SIMD products (same results as the TypeScript ones to float32 rounding)
  const cfg = await readLmConfig(STAGE, ctx.inputs.model);
  const { step, weights } = await readLmCheckpoint(STAGE, ctx.inputs.checkpoint, cfg);
  // BOS as the data declares it (input 'data', optional), else the last id as in the paper's
  // tokenizer; probe tokens are drawn from the other ids.
  const dataDir = ctx.inputs.data;
  const bos = dataDir ? readDataInfo(dataDir).bos : cfg.vocab - 1;
  const { lenMin, lenMax, prefixLength } = probeLengths(cfg.nCtx);
  const prev = previousTokenProbes(rngStream(p.seed, 'lm-previous-token-probes'), p.probes, lenMin, lenMax, cfg.vocab, bos);
  const prefix = prefixMatchingProbes(rngStream(p.seed, 'lm-prefix-probes'), p.probes, prefixLength, cfg.vocab, bos);
  const previousToken = scoresPerLayer(cfg, weights, prev, p.batch);
  ctx.progress.update(1, 2, 'probe sets');
  const prefixMatching = scoresPerLayer(cfg, weights, prefix, p.batch);
  ctx.progress.update(2, 2, 'probe sets');
  const kComposition = cfg.layers >= 2 ? kCompositionGrid(weights, cfg.heads, cfg.dModel, cfg.dHead, 0, 1) : [];
  const result: LmHeadsResult = {
    step,
    previousToken,
    prefixMatching,
    kComposition,
    probes: { previousToken: { count: p.probes, lenMin, lenMax }, prefixMatching: { count: p.probes, length: prefixLength } },
  };
  await writeFile(path.join(ctx.outDir, 'heads.json'), JSON.stringify(result));
  const best = (m: number[][]) => {
    let b = { l: 0, h: 0, v: -1 };
    m.forEach((row, l) => row.forEach((v, h) => v > b.v && (b = { l, h, v })));
    return `${b.l + 1}:${b.h + 1} ${b.v.toFixed(3)}`;
  };
  ctx.log.info(`${STAGE}: step ${step}: best previous-token head ${best(previousToken)}, best prefix-matching head ${best(prefixMatching)}`);
  return {};
};
