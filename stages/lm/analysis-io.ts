// Reading the language model's training artifacts for the analysis stages (evaluations, LLC,
// figures). Formats (docs/language-model.md, "Artifacts"):
//   model.json         the LmConfig, bare or as { config: LmConfig, … }
//   step-*.swt         a checkpoint: one tensor per TransformerLens parameter name, meta.step
//   token rows (.swt)  one tensor [rows, T] of token ids ('tokens' if there are several), meta.bos
//   tokenizer.json     Hugging Face tokenizer file: model.vocab { string: id } names the tokens
import { readFile } from 'node:fs/promises';
import { checkLmConfig, checkLmWeights, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';

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
  bos: number | undefined;
}

export async function readTokenRows(stage: string, file: string, vocab: number): Promise<TokenRowsFile> {
  const { tensors, meta } = decodeTensors(await readFile(file));
  const names = Object.keys(tensors);
  const t = tensors.tokens ?? (names.length === 1 ? tensors[names[0]] : undefined);
  if (!t || t.shape.length !== 2) throw new Error(`${stage}: ${file}: expected one tensor [rows, T] of token ids (named 'tokens' if there are several), got [${names.join(', ')}]`);
  const rows = Int32Array.from(t.data);
  const bad = rows.findIndex((v, i) => !(v >= 0 && v < vocab && v === t.data[i]));
  if (bad >= 0) throw new Error(`${stage}: ${file}: token ${t.data[bad]} at index ${bad} is not an id in [0, ${vocab})`);
  return { rows, n: t.shape[0], T: t.shape[1], bos: typeof meta.bos === 'number' ? meta.bos : undefined };
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
