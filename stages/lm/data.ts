// Stage 'lm-data': the corpus tokenised into fixed-length rows (lib/lm/rows.ts): for each split,
// documents joined by the BOS token, cut into (nCtx − 1)-token chunks, BOS prepended to each.
// Outputs train.i32 / test.i32 (int32 rows) and data.json (stages/lm/files.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { concatenateRows } from '../../lib/lm/rows.ts';
import { readSplit } from './corpus.ts';
import { encodeTokenRows, type LmDataInfo } from './files.ts';
import { loadTokenizer } from './tokenizer.ts';

export const dataParams = z.strictObject({
  /** Row length including the leading BOS: the model's context n_ctx. */
  nCtx: z.number().int().min(2),
});

export const lmDataStage = defineStage({
  name: 'lm-data',
  module: import.meta.url,
  params: dataParams,
  inputs: { corpus: 'dir', tokenizer: 'dir' },
  async run({ params, inputs, outDir, log }) {
    const corpusDir = inputs.corpus;
    const { tokenizer, info: tok } = await loadTokenizer(inputs.tokenizer);
    const info: LmDataInfo = { nCtx: params.nCtx, vocab: tok.vocabSize, bos: tok.bos.id, rows: { train: 0, test: 0 }, tokens: { train: 0, test: 0 } };
    for (const split of ['train', 'test'] as const) {
      const docs = readSplit(corpusDir, split);
      const encoded = docs.length ? await tokenizer.encodeBatch(docs, { addSpecialTokens: false }) : [];
      const ids = encoded.map((e) => e.getIds());
      const rows = concatenateRows(ids, params.nCtx, tok.bos.id);
      if (rows.length === 0) throw new Error(`lm-data: the ${split} split has fewer than ${params.nCtx - 1} tokens: no row of n_ctx = ${params.nCtx} fits (use a longer corpus or a larger lm.corpus.testFraction)`);
      await writeFile(path.join(outDir, `${split}.i32`), encodeTokenRows(rows));
      info.rows[split] = rows.length / params.nCtx;
      info.tokens[split] = ids.reduce((n, d) => n + d.length, 0);
    }
    await writeFile(path.join(outDir, 'data.json'), JSON.stringify(info, null, 2) + '\n');
    log.info(`lm-data: ${info.rows.train} train / ${info.rows.test} test rows of ${params.nCtx} tokens (${info.tokens.train} / ${info.tokens.test} tokens)`);
  },
});
