// Stage 'lm-bigrams': computed once per corpus, before any checkpoint is evaluated.
//   * the bigram table P(next | prev) of the training rows (pairs inside rows only), stored sparsely;
//   * the n-gram strings: the corpus' most frequent whole words that the tokenizer splits into exactly
//     n tokens, n = 2, 3, 4 (the paper took them from the GPT-2 vocabulary, which is not available
//     offline; frequent corpus words play the same role: common multi-token words).
//
// Inputs: data (lm-data directory: the train rows), tokenizer (tokenizer.json), model (model.json: vocab size).
// Params: ngrams { sizes, perSize }.
// Outputs: bigrams.swt (rowStart [V+1], next [nnz], prob [nnz], count [V], entropy [V]),
//          ngrams.json { sizes: { "2": [{ text, ids, count }], … } }.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { bigramTable, frequentWords } from '../../lib/lm/evals.ts';
import { encodeTensors } from '../../lib/tensorfile.ts';
import { readLmConfig, readTokenRows, readVocabStrings } from './analysis-io.ts';

const STAGE = 'lm-bigrams';

export const lmBigramsParams = z.strictObject({
  ngrams: z
    .strictObject({
      sizes: z.array(z.number().int().min(2).max(8)).min(1).default([2, 3, 4]),
      /** Strings kept per n (the paper: the first 1,000). */
      perSize: z.number().int().positive().default(200),
    })
    .default({ sizes: [2, 3, 4], perSize: 200 }),
});

export const lmBigramsStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: lmBigramsParams,
  inputs: { data: 'dir', tokenizer: 'file', model: 'file' },
  async run(ctx) {
    const cfg = await readLmConfig(STAGE, ctx.inputs.model);
    const train = readTokenRows(STAGE, ctx.inputs.data, 'train', cfg.vocab);
    const table = bigramTable(train.rows, train.n, train.T, cfg.vocab);
    const f = (a: ArrayLike<number>) => ({ shape: [a.length], data: Float32Array.from(a) });
    await writeFile(
      path.join(ctx.outDir, 'bigrams.swt'),
      encodeTensors({ rowStart: f(table.rowStart), next: f(table.next), prob: f(table.prob), count: f(table.count), entropy: f(table.entropy) }, { V: cfg.vocab, pairs: train.n * (train.T - 1) }),
    );
    const strings = await readVocabStrings(STAGE, ctx.inputs.tokenizer, cfg.vocab);
    const { sizes, perSize } = ctx.params.ngrams;
    const words = frequentWords(train.rows, train.n, train.T, strings, Math.max(...sizes));
    const bySize: Record<string, { text: string; ids: number[]; count: number }[]> = {};
    for (const n of sizes) bySize[n] = words.filter((w) => w.ids.length === n).slice(0, perSize);
    await writeFile(path.join(ctx.outDir, 'ngrams.json'), JSON.stringify({ sizes: bySize }));
    ctx.log.info(`${STAGE}: ${table.next.length} distinct bigrams over ${train.n} rows; n-gram words ${sizes.map((n) => `n=${n}: ${bySize[n].length}`).join(', ')}`);
    return { bigrams: table.next.length };
  },
});
