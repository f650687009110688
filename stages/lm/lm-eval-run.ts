// The computation of stage 'lm-eval' (declared in lm-eval.ts): loaded where the node runs.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../../engine/index.ts';
import {
  bigramEntropy,
  bigramScore,
  iclPositions,
  iclScore,
  mean,
  ngramLoss,
  perPositionLoss,
  samplePositions,
  weightNorm,
  type BigramTable,
} from '../../lib/lm/evals.ts';
import { lmForward, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { rngStream } from '../../lib/rng.ts';
import { useLmKernel } from '../../lib/kernels/lm-gemm.ts';
import { decodeTensors, encodeTensors } from '../../lib/tensorfile.ts';
import { readLmCheckpoint, readLmConfig, readTokenRows } from './analysis-io.ts';
import type { LmEvalResult, lmEvalStage } from './lm-eval.ts';

const STAGE = 'lm-eval';

export async function readBigramTable(dir: string, V: number): Promise<BigramTable> {
  const file = path.join(dir, 'bigrams.swt');
  const { tensors, meta } = decodeTensors(await readFile(file));
  if (meta.V !== V) throw new Error(`${STAGE}: ${file} is for a vocabulary of ${String(meta.V)}, the model has ${V}`);
  const need = (n: string) => {
    if (!tensors[n]) throw new Error(`${STAGE}: ${file} has no tensor '${n}'`);
    return tensors[n].data;
  };
  return {
    V,
    rowStart: Int32Array.from(need('rowStart')),
    next: Int32Array.from(need('next')),
    prob: Float64Array.from(need('prob')),
    count: Float64Array.from(need('count')),
    entropy: Float64Array.from(need('entropy')),
  };
}

/** Logits of `rows` in batches, handed to `use` batch by batch with the batch's first row index. */
function forEachBatch(cfg: LmConfig, w: LmWeights, rows: Int32Array, n: number, T: number, batch: number, ablate: boolean, use: (logits: Float32Array, start: number, B: number) => void) {
  for (let start = 0; start < n; start += batch) {
    const B = Math.min(batch, n - start);
    const tokens = rows.subarray(start * T, (start + B) * T);
    use(lmForward(cfg, w, tokens, B, T, { ablatePositions: ablate }).logits, start, B);
  }
}

export const run: StageRun<typeof lmEvalStage> = async (ctx) => {
  const p = ctx.params;
  useLmKernel(); // the WebAssembly SIMD products (same results as the TypeScript ones to float32 rounding)
  const cfg = await readLmConfig(STAGE, ctx.inputs.model);
  const { step, weights } = await readLmCheckpoint(STAGE, ctx.inputs.checkpoint, cfg);
  const test = readTokenRows(STAGE, ctx.inputs.data, 'test', cfg.vocab);
  const bigramDir = ctx.inputs.bigrams;
  const table = await readBigramTable(bigramDir, cfg.vocab);
  const ngramWords = JSON.parse(await readFile(path.join(bigramDir, 'ngrams.json'), 'utf8')) as { sizes: Record<string, { ids: number[] }[]> };
  const { T } = test;
  if (T > cfg.nCtx) throw new Error(`${STAGE}: test rows have ${T} tokens but the model's context is ${cfg.nCtx}`);
  const n = Math.min(p.rows, test.n);
  const V = cfg.vocab;
  const bigramPos = samplePositions(rngStream(p.seed, 'lm-bigram-positions'), n, 1, T - 2);
  const edPos = samplePositions(rngStream(p.seed, 'lm-ed-positions'), n, 0, T - 2);

  const lossSum = new Float64Array(T - 1);
  const ablatedSum = new Float64Array(T - 1);
  const fingerprint = new Float32Array(n);
  let bigramSum = 0;
  let bigramUsed = 0;
  const total = 2 * n;
  let done = 0;
  forEachBatch(cfg, weights, test.rows, n, T, p.batch, false, (logits, start, B) => {
    const tokens = test.rows.subarray(start * T, (start + B) * T);
    perPositionLoss(logits, tokens, B, T, V).forEach((l, t) => (lossSum[t] += l * B));
    const bs = bigramScore(table, logits, tokens, B, T, bigramPos.subarray(start, start + B));
    bigramSum += bs.score * bs.used;
    bigramUsed += bs.used;
    for (let b = 0; b < B; b++) {
      const t = edPos[start + b];
      fingerprint[start + b] = logits[(b * T + t) * V + tokens[b * T + t + 1]];
    }
    ctx.progress.update((done += B), total, 'rows');
  });
  forEachBatch(cfg, weights, test.rows, n, T, p.batch, true, (logits, start, B) => {
    perPositionLoss(logits, test.rows.subarray(start * T, (start + B) * T), B, T, V).forEach((l, t) => (ablatedSum[t] += l * B));
    ctx.progress.update((done += B), total, 'rows');
  });
  const lossPerPos = Array.from(lossSum, (s) => s / n);
  const lossAblatedPerPos = Array.from(ablatedSum, (s) => s / n);

  const bos = test.bos;
  const ngrams: LmEvalResult['ngrams'] = [];
  for (const [size, words] of Object.entries(ngramWords.sizes)) {
    const k = Number(size);
    if (words.length === 0 || k + 1 > cfg.nCtx) continue;
    const inputs = new Int32Array(words.length * (k + 1));
    words.forEach((w, i) => inputs.set([bos, ...w.ids], i * (k + 1)));
    const { logits } = lmForward(cfg, weights, inputs, words.length, k + 1);
    const loss = ngramLoss(logits, inputs, words.length, k, V);
    // The test loss of predicting token k (the same position in a row that starts with BOS).
    ngrams.push({ n: k, words: words.length, loss, score: lossPerPos[k - 1] / loss });
  }
  const positions = iclPositions(T);
  const result: LmEvalResult = {
    step,
    loss: mean(lossPerPos),
    lossPerPos,
    lossAblated: mean(lossAblatedPerPos),
    lossAblatedPerPos,
    bigramScore: bigramSum / bigramUsed,
    bigramEntropy: bigramEntropy(table, test.rows, T, bigramPos),
    ngrams,
    icl: { score: iclScore(lossPerPos, positions), ...positions },
    weightNorm: weightNorm(weights),
    rows: n,
  };
  await writeFile(path.join(ctx.outDir, 'eval.json'), JSON.stringify(result));
  await writeFile(path.join(ctx.outDir, 'outputs.swt'), encodeTensors({ outputs: { shape: [n], data: fingerprint } }, { step, kind: 'true-next-token logit at one sampled position per row' }));
  ctx.log.info(`${STAGE}: step ${step}: loss ${result.loss.toFixed(3)} (ablated ${result.lossAblated.toFixed(3)}), bigram ${result.bigramScore.toFixed(3)} vs entropy ${result.bigramEntropy.toFixed(3)}, ICL ${result.icl.score.toFixed(3)}`);
  // Charted by the dashboard (meta.series) as checkpoints are evaluated.
  const series = [
    { chart: 'LM test loss', x: 'step', y: 'test loss', logX: true, points: [[step, result.loss] as [number, number]] },
    { chart: 'LM ICL score', x: 'step', y: 'ICL score', logX: true, points: [[step, result.icl.score] as [number, number]] },
  ];
  return { loss: result.loss, series };
};
