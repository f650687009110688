// Reading the language model's training artifacts for the analysis stages (evaluations, LLC,
// figures). Formats (docs/language-model.md, "Artifacts"):
//   model.json         the LmConfig, bare or as { config: LmConfig, … }
//   step-*.swt         a checkpoint: one tensor per TransformerLens parameter name, meta.step
//   lm-data dir        train.i32 / test.i32 token rows and data.json (stages/lm/files.ts)
//   tokenizer.json     Hugging Face tokenizer file: model.vocab { string: id } names the tokens
import { readFile } from 'node:fs/promises';
import { checkLmConfig, checkLmWeights, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';
import { readDataInfo, readTokenRows as readSplitRows, type LmDataInfo } from './files.ts';

export async function readLmConfig(stage: string, file: string): Promise<LmConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${stage}: cannot read the model config ${file}: ${(err as Error).message}`);
  }
  const cfg = ((raw as { config?: unknown }).config ?? raw) as LmConfig;
  try {
    checkLmConfig(cfg);
  } catch (err) {
    throw new Error(`${stage}: ${file}: ${(err as Error).message}`);
  }
  return { layers: cfg.layers, dModel: cfg.dModel, heads: cfg.heads, dHead: cfg.dHead, nCtx: cfg.nCtx, vocab: cfg.vocab };
}

export async function readLmCheckpoint(stage: string, file: string, cfg: LmConfig): Promise<{ step: number; weights: LmWeights }> {
  const { tensors, meta } = decodeTensors(await readFile(file));
  if (typeof meta.step !== 'number') throw new Error(`${stage}: ${file}: meta.step missing (expected an lm-train checkpoint)`);
  const weights: LmWeights = {};
  for (const [name, t] of Object.entries(tensors)) weights[name] = t.data;
  checkLmWeights(cfg, weights, `${stage}: ${file}`);
  return { step: meta.step, weights };
}

export interface TokenRowsFile {
  rows: Int32Array;
  n: number;
  T: number;
  bos: number;
}

/** One split of an lm-data directory (train.i32 / test.i32 + data.json), checked against the model's vocabulary. */
export function readTokenRows(stage: string, dataDir: string, split: 'train' | 'test', vocab: number): TokenRowsFile {
  let info: LmDataInfo;
  let rows: { rows: number; nCtx: number; tokens: Int32Array };
  try {
    info = readDataInfo(dataDir);
    rows = readSplitRows(dataDir, split);
  } catch (err) {
    throw new Error(`${stage}: cannot read the ${split} rows of ${dataDir} (an lm-data output): ${(err as Error).message}`);
  }
  if (info.vocab !== vocab) throw new Error(`${stage}: ${dataDir}/data.json has vocab ${info.vocab} but the model has ${vocab}`);
  const bad = rows.tokens.findIndex((v) => !(v >= 0 && v < vocab));
  if (bad >= 0) throw new Error(`${stage}: ${dataDir}/${split}.i32: token ${rows.tokens[bad]} at index ${bad} is not an id in [0, ${vocab})`);
  return { rows: rows.tokens, n: rows.rows, T: rows.nCtx, bos: info.bos };
}

/** Token strings by id, from a Hugging Face tokenizer.json (model.vocab), for n-gram words and labels. */
export async function readVocabStrings(stage: string, file: string, vocab: number): Promise<string[]> {
  let json: { model?: { vocab?: Record<string, number> }; added_tokens?: { id: number; content: string }[] };
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${stage}: cannot read the tokenizer ${file}: ${(err as Error).message}`);
  }
  const v = json.model?.vocab;
  if (!v || typeof v !== 'object') throw new Error(`${stage}: ${file}: no model.vocab (expected a Hugging Face tokenizer.json)`);
  const strings = new Array<string>(vocab).fill('');
  for (const [s, id] of Object.entries(v)) if (id >= 0 && id < vocab) strings[id] = s;
  for (const a of json.added_tokens ?? []) if (a.id >= 0 && a.id < vocab) strings[a.id] = a.content;
  return strings;
}

/** The flat parameter list of an LmWeights in a fixed name order, for the array SGLD sampler. */
export function weightList(w: LmWeights): { names: string[]; params: Float32Array[] } {
  const names = Object.keys(w).sort();
  return { names, params: names.map((n) => w[n]) };
}
