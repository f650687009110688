// The language-model experiment's graph up to trained (or imported) checkpoints:
//   lm-corpus → lm-tokenizer → lm-data → lm-train[seed=…]     (or lm-import of published weights)
// The config section `lm` is made of these stages' param schemas; file paths named in it are
// digested here, at plan time, so editing a corpus file or a tokenizer.json reruns exactly what
// depends on it. The evaluation stages hang off the handles this returns.
import { z } from 'zod';
import { ref, type NodeDecl } from '../../engine/index.ts';
import { corpusParams, lmCorpusStage } from './corpus.ts';
import { dataParams, lmDataStage } from './data.ts';
import { lmImportStage } from './import.ts';
import { sourceDigest } from './source.ts';
import { lmTokenizerStage, tokenizerParams } from './tokenizer.ts';
import { lmCheckpointSteps, lmModelParams, lmTrainParams, lmTrainStage } from './train.ts';

export const lmSectionSchema = z
  .strictObject({
    corpus: corpusParams.omit({ digest: true }),
    tokenizer: tokenizerParams.omit({ fileDigest: true }),
    data: dataParams,
    /** The transformer; n_ctx comes from lm.data.nCtx and the vocabulary from lm.tokenizer.vocabSize. */
    model: lmModelParams.omit({ nCtx: true, vocab: true }),
    train: lmTrainParams.omit({ model: true }).optional(),
    /** Published checkpoints (safetensors, TransformerLens names) used instead of training. */
    import: z
      .strictObject({ checkpoints: z.array(z.strictObject({ step: z.number().int().nonnegative(), file: z.string().min(1) })).min(1) })
      .optional(),
  })
  .refine((s) => (s.train === undefined) !== (s.import === undefined), { message: 'give exactly one of lm.train (train a model) and lm.import (published checkpoints)' });
export type LmSection = z.output<typeof lmSectionSchema>;

export interface LmGraph {
  corpusId: string;
  tokenizerId: string;
  dataId: string;
  /** The node whose outputs hold checkpoints/step-*.swt and model.json (lm-train or lm-import). */
  checkpointsId: string;
  /** Checkpoint steps available from checkpointsId, ascending. */
  steps: number[];
  /** Label for node ids, e.g. 'seed=0' or 'imported'. */
  label: string;
}

export function declareLanguageModel(lm: LmSection, add: (node: NodeDecl) => string): LmGraph {
  const corpusId = add({
    id: 'lm-corpus',
    stage: lmCorpusStage,
    params: { ...lm.corpus, digest: sourceDigest(lm.corpus.path, 'lm.corpus.path') },
    inputs: {},
  });
  const tokenizerId = add({
    id: 'lm-tokenizer',
    stage: lmTokenizerStage,
    params: { ...lm.tokenizer, ...(lm.tokenizer.file ? { fileDigest: sourceDigest(lm.tokenizer.file, 'lm.tokenizer.file') } : {}) },
    // A given tokenizer.json does not depend on the corpus: editing the corpus must not rerun it.
    inputs: lm.tokenizer.file ? {} : { corpus: ref(corpusId) },
  });
  const dataId = add({ id: 'lm-data', stage: lmDataStage, params: lm.data, inputs: { corpus: ref(corpusId), tokenizer: ref(tokenizerId) } });
  const model = { ...lm.model, nCtx: lm.data.nCtx, vocab: lm.tokenizer.vocabSize };
  if (lm.import) {
    const checkpoints = lm.import.checkpoints.map((c, i) => ({ ...c, digest: sourceDigest(c.file, `lm.import.checkpoints.${i}.file`) }));
    const checkpointsId = add({ id: 'lm-import', stage: lmImportStage, params: { model, checkpoints }, inputs: {} });
    return { corpusId, tokenizerId, dataId, checkpointsId, steps: [...new Set(checkpoints.map((c) => c.step))].sort((a, b) => a - b), label: 'imported' };
  }
  const train = lm.train!;
  const label = `seed=${train.seed}`;
  const checkpointsId = add({ id: `lm-train[${label}]`, stage: lmTrainStage, params: { ...train, model }, inputs: { data: ref(dataId) } });
  return { corpusId, tokenizerId, dataId, checkpointsId, steps: lmCheckpointSteps(train.steps, train.checkpoints.logSpace, train.checkpoints.linearSpace), label };
}
