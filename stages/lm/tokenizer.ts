// Stage 'lm-tokenizer': a byte-level BPE tokenizer of `vocabSize` tokens trained on the corpus's
// train split with Hugging Face tokenizers (npm `tokenizers`), or a given tokenizer.json (e.g. the
// paper's TinyStories-5k tokenizer), checked against `vocabSize` and the BOS token.
//
// The JS binding's train() takes only files and uses the default BPE trainer (vocabulary 30,000,
// no minimum frequency). BPE training is greedy — merge i is the most frequent pair after merges
// 1 … i−1 — so the first k merges of that run are exactly the merges a run limited to k merges
// would learn. We keep the first vocabSize − 257 new tokens: ids 0–255 are the 256 byte symbols
// (in byte order, so every string is encodable), then the merges, and the BOS token is the last id
// (vocabSize − 1), where the paper's tokenizer has it too.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { readSplit } from './corpus.ts';

export const tokenizerParams = z.strictObject({
  vocabSize: z.number().int().min(258).max(30_000),
  /** A tokenizer.json to use instead of training one (relative to the project root). */
  file: z.string().min(1).optional(),
  /** Content digest of `file` (set by the pipeline, not in configs). */
  fileDigest: z.string().optional(),
  /** The beginning-of-sequence token, prepended to every row (and placed between documents). */
  bos: z.string().min(1).default('<|endoftext|>'),
});
export type TokenizerParams = z.output<typeof tokenizerParams>;

export interface TokenizerInfo {
  vocabSize: number;
  bos: { token: string; id: number };
  source: string;
}

type TokenizersModule = typeof import('tokenizers');
const loadTokenizers = async (): Promise<TokenizersModule> => {
  const m = (await import('tokenizers')) as TokenizersModule & { default?: TokenizersModule };
  return m.default ?? m;
};

/** GPT-2's byte → printable-character table, which byte-level BPE vocabularies are written in. */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable.includes(b) ? b : 256 + extra++);
  return out;
}

interface TokenizerJson {
  added_tokens: unknown[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: { type: string; vocab: Record<string, number>; merges: ([string, string] | string)[]; [k: string]: unknown };
  [k: string]: unknown;
}

/** Rewrites a fully trained byte-level BPE to `vocabSize` tokens: bytes, the first merges, BOS last. */
export function truncateBpe(trained: TokenizerJson, vocabSize: number, bos: string): TokenizerJson {
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const s of byteSymbols()) vocab[s] = next++;
  const merges: [string, string][] = [];
  for (const m of trained.model.merges) {
    if (next >= vocabSize - 1) break;
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
    if (!(a in vocab) || !(b in vocab)) throw new Error(`lm-tokenizer: merge ${a} + ${b} uses a token outside the vocabulary`);
    merges.push([a, b]);
    if (!(a + b in vocab)) vocab[a + b] = next++;
  }
  if (next < vocabSize - 1) {
    throw new Error(`lm-tokenizer: the training text yields only ${next + 1} tokens (bytes + merges + BOS); lower lm.tokenizer.vocabSize to at most ${next + 1} or use more text`);
  }
  return {
    ...trained,
    added_tokens: [{ id: vocabSize - 1, content: bos, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { ...trained.model, vocab, merges },
  };
}

export const lmTokenizerStage = defineStage({
  name: 'lm-tokenizer',
  module: import.meta.url,
  params: tokenizerParams,
  /** Absent when a tokenizer.json is given: it does not depend on the corpus. */
  inputs: { corpus: 'dir?' },
  async run({ params, inputs, outDir, workDir, log }) {
    const tk = await loadTokenizers();
    const out = path.join(outDir, 'tokenizer.json');
    let source: string;
    if (params.file) {
      let tokenizer;
      try {
        tokenizer = tk.Tokenizer.fromFile(params.file);
      } catch (e) {
        throw new Error(`lm-tokenizer: ${params.file} (lm.tokenizer.file) is not a readable tokenizer.json: ${(e as Error).message}`);
      }
      const size = tokenizer.getVocabSize(true);
      if (size !== params.vocabSize) throw new Error(`lm-tokenizer: ${params.file} has ${size} tokens but lm.tokenizer.vocabSize is ${params.vocabSize}`);
      if (tokenizer.tokenToId(params.bos) === null) throw new Error(`lm-tokenizer: ${params.file} has no token ${JSON.stringify(params.bos)} (lm.tokenizer.bos)`);
      await writeFile(out, await readFile(params.file));
      source = params.file;
    } else {
      const corpusDir = inputs.corpus;
      if (!corpusDir) throw new Error('lm-tokenizer: training a tokenizer needs the corpus input');
      await mkdir(workDir, { recursive: true });
      const text = path.join(workDir, 'train.txt');
      await writeFile(text, readSplit(corpusDir, 'train').join('\n\n'));
      const trainer = new tk.Tokenizer(tk.BPE.empty());
      trainer.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
      trainer.train([text]);
      const full = path.join(workDir, 'trained.json');
      trainer.save(full, false);
      const json = truncateBpe(JSON.parse(await readFile(full, 'utf8')) as TokenizerJson, params.vocabSize, params.bos);
      await writeFile(out, JSON.stringify(json));
      source = 'trained on the corpus train split';
    }
    const tokenizer = tk.Tokenizer.fromFile(out);
    const info: TokenizerInfo = { vocabSize: tokenizer.getVocabSize(true), bos: { token: params.bos, id: tokenizer.tokenToId(params.bos)! }, source };
    if (info.vocabSize !== params.vocabSize) throw new Error(`lm-tokenizer: built ${info.vocabSize} tokens, expected ${params.vocabSize}`);
    await writeFile(path.join(outDir, 'tokenizer-info.json'), JSON.stringify(info, null, 2) + '\n');
    log.info(`lm-tokenizer: ${info.vocabSize} tokens (${source}), BOS ${JSON.stringify(info.bos.token)} = ${info.bos.id}`);
  },
});

/** Loads the tokenizer an lm-tokenizer node wrote. */
export async function loadTokenizer(tokenizerDir: string) {
  const tk = await loadTokenizers();
  const info = JSON.parse(await readFile(path.join(tokenizerDir, 'tokenizer-info.json'), 'utf8')) as TokenizerInfo;
  return { tokenizer: tk.Tokenizer.fromFile(path.join(tokenizerDir, 'tokenizer.json')), info };
}
