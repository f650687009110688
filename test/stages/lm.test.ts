// The language-model stages run directly: corpus sources and errors, tokenizer (vocabulary size,
// BOS, round trip), token rows, training (loss falls; kill and resume is byte-identical) and the
// safetensors import (ours and, when Debian's torch is there, one written by PyTorch).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lmCorpusStage, readSplit } from '../../stages/lm/corpus.ts';
import { lmTokenizerStage, loadTokenizer } from '../../stages/lm/tokenizer.ts';
import { lmDataStage } from '../../stages/lm/data.ts';
import { lmTrainStage } from '../../stages/lm/train.ts';
import { lmImportStage } from '../../stages/lm/import.ts';
import { lmCheckpointFile, readDataInfo, readLmCheckpoint, readTokenRows } from '../../stages/lm/files.ts';
import { sourceDigest } from '../../stages/lm/source.ts';
import { lmParamShapes, type LmConfig } from '../../lib/lm/model.ts';
import { encodeSafetensors } from '../../lib/lm/safetensors.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';
import { makeContext, readTree, removeAll, tempDir } from './ml-context.ts';
import { invokeStage } from '../../engine/run/invoke.ts';
import { rejects } from '../support/rejects.ts';

const cleanup: string[] = [];
const dir = async (p: string) => {
  const d = await tempDir(p);
  cleanup.push(d);
  return d;
};

async function corpus(over: Record<string, unknown> = {}) {
  const params = lmCorpusStage.params.parse({ path: 'brown', testFraction: 0.1, maxChars: 60_000, seed: 0, digest: 'x', ...over });
  const out = await dir('corpus');
  await invokeStage(lmCorpusStage, makeContext(params, {}, out, await dir('w')));
  return out;
}

async function tokenizer(corpusDir: string, vocabSize = 300, file?: string) {
  const out = await dir('tok');
  await invokeStage(lmTokenizerStage, makeContext(lmTokenizerStage.params.parse({ vocabSize, ...(file ? { file, fileDigest: 'x' } : {}) }), file ? {} : { corpus: corpusDir }, out, await dir('w')));
  return out;
}

async function data(corpusDir: string, tokenizerDir: string, nCtx = 24) {
  const out = await dir('data');
  await invokeStage(lmDataStage, makeContext(lmDataStage.params.parse({ nCtx }), { corpus: corpusDir, tokenizer: tokenizerDir }, out, await dir('w')));
  return out;
}

let shared: { corpus: string; tokenizer: string; data: string } | null = null;
async function pipeline() {
  if (!shared) {
    const c = await corpus();
    const t = await tokenizer(c);
    shared = { corpus: c, tokenizer: t, data: await data(c, t) };
  }
  return shared;
}

test.after(() => removeAll(cleanup));


test('corpus: Brown prose by document, split, capped by maxChars', async () => {
  const c = await corpus();
  const info = JSON.parse(await readFile(path.join(c, 'corpus.json'), 'utf8'));
  const train = readSplit(c, 'train');
  assert.is(info.documents.train, train.length);
  assert.ok(info.documents.train + info.documents.test >= 2);
  assert.ok(info.chars.train + info.chars.test < 60_000 + 20_000);
  assert.not.match(train[0], /\/(at|nn|vbd)\b/); // no part-of-speech tags left
  assert.match(train[0], /^The Fulton County Grand Jury said Friday/);
});

test('corpus: a JSONL file, a folder of text files, a .txt with separators; clear errors', async () => {
  const src = await dir('src');
  await writeFile(path.join(src, 'docs.jsonl'), ['alpha', 'beta', 'gamma', 'delta'].map((t) => JSON.stringify({ body: t })).join('\n'));
  const j = await corpus({ path: path.join(src, 'docs.jsonl'), textField: 'body', testFraction: 0.25 });
  assert.equal([...readSplit(j, 'train'), ...readSplit(j, 'test')].sort(), ['alpha', 'beta', 'delta', 'gamma']);
  await mkdir(path.join(src, 'folder'));
  await writeFile(path.join(src, 'folder', 'a.txt'), 'first document');
  await writeFile(path.join(src, 'folder', 'b.txt'), 'second document');
  const f = await corpus({ path: path.join(src, 'folder'), testFraction: 0.5 });
  assert.equal([...readSplit(f, 'train'), ...readSplit(f, 'test')].sort(), ['first document', 'second document']);
  await writeFile(path.join(src, 'stories.txt'), 'one\n<|endoftext|>\ntwo\n<|endoftext|>\nthree');
  const t = await corpus({ path: path.join(src, 'stories.txt'), testFraction: 0.3 });
  assert.is(readSplit(t, 'train').length + readSplit(t, 'test').length, 3);
  await rejects(() => corpus({ path: path.join(src, 'docs.jsonl') }), /docs\.jsonl:1: expected an object with a string field "text"/);
  await rejects(() => corpus({ path: path.join(src, 'missing.txt') }), /missing\.txt: no such file or folder \(lm\.corpus\.path\)/);
  assert.throws(() => sourceDigest(path.join(src, 'missing.txt'), 'lm.corpus.path'), /lm\.corpus\.path: .*missing\.txt: no such file/);
  // The digest follows the content.
  const before = sourceDigest(path.join(src, 'folder'), 'k');
  await writeFile(path.join(src, 'folder', 'b.txt'), 'second document, edited');
  assert.is.not(sourceDigest(path.join(src, 'folder'), 'k'), before);
});

test('tokenizer: exactly vocabSize tokens, bytes first, BOS last, lossless round trip', async () => {
  const { tokenizer: t } = await pipeline();
  const { tokenizer: tok, info } = await loadTokenizer(t);
  assert.is(info.vocabSize, 300);
  assert.is(tok.getVocabSize(true), 300);
  assert.equal(info.bos, { token: '<|endoftext|>', id: 299 });
  for (const text of ['The jury said "no evidence", 1-1/2 inches.', 'naïve café — ünïcödé ✓ 日本', '  leading spaces\nand\ttabs  ']) {
    const ids = (await tok.encode(text)).getIds();
    assert.ok(ids.every((i) => i >= 0 && i < 299));
    assert.is(await tok.decode(ids, false), text);
  }
  // Frequent English words became single tokens.
  assert.is((await tok.encode(' the')).getIds().length, 1);
  // A given tokenizer.json is used as is, and checked.
  const given = await tokenizer('', 300, path.join(t, 'tokenizer.json'));
  assert.is((await readFile(path.join(given, 'tokenizer.json'), 'utf8')), await readFile(path.join(t, 'tokenizer.json'), 'utf8'));
  await rejects(() => tokenizer('', 512, path.join(t, 'tokenizer.json')), /has 300 tokens but lm\.tokenizer\.vocabSize is 512/);
  const small = await corpus({ maxChars: 2000 });
  await rejects(() => tokenizer(small, 5000), /yields only \d+ tokens .* lower lm\.tokenizer\.vocabSize/);
});

test('data: rows of n_ctx tokens, each starting with BOS, covering the tokenised corpus', async () => {
  const { corpus: c, tokenizer: t, data: d } = await pipeline();
  const info = readDataInfo(d);
  const { tokenizer: tok } = await loadTokenizer(t);
  for (const split of ['train', 'test'] as const) {
    const { rows, nCtx, tokens } = readTokenRows(d, split);
    assert.is(nCtx, 24);
    assert.is(rows, info.rows[split]);
    for (let r = 0; r < rows; r++) assert.is(tokens[r * nCtx], 299);
    // All document tokens plus one separator between documents, cut into 23-token chunks.
    const docs = readSplit(c, split);
    const n = (await Promise.all(docs.map((x) => tok.encode(x)))).reduce((s, e) => s + e.getLength(), 0) + docs.length - 1;
    assert.is(rows, Math.floor(n / 23));
  }
  // The first row is BOS + the first 23 tokens of the first training document.
  const first = (await tok.encode(readSplit(c, 'train')[0])).getIds().slice(0, 23);
  assert.equal(Array.from(readTokenRows(d, 'train').tokens.subarray(1, 24)), first);
});

const model = (over: Partial<LmConfig> = {}): LmConfig => ({ layers: 2, dModel: 16, heads: 2, dHead: 8, nCtx: 24, vocab: 300, ...over });
const trainParams = (over: Record<string, unknown> = {}) =>
  lmTrainStage.params.parse({ model: model(), steps: 60, batchSize: 8, lr: 3e-3, weightDecay: 0.05, seed: 1, checkpoints: { logSpace: 4, linearSpace: 4 }, logEvery: 10, ...over });

test('train: the loss falls on the toy corpus; checkpoints on the grid, 0 = initialisation', async () => {
  const { data: d } = await pipeline();
  const out = await dir('train');
  await invokeStage(lmTrainStage, makeContext(trainParams(), { data: d }, out, await dir('w')));
  const metrics = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.map((m) => m.step), [10, 20, 30, 40, 50, 60]);
  assert.ok(metrics[0].loss > Math.log(300) - 0.5, `first ${metrics[0].loss}`);
  assert.ok(metrics.at(-1).loss < metrics[0].loss - 0.7, `${metrics[0].loss} → ${metrics.at(-1).loss}`);
  const trainJson = JSON.parse(await readFile(path.join(out, 'train.json'), 'utf8'));
  assert.equal(trainJson.checkpointSteps, [0, 1, 3, 15, 20, 40, 60]);
  for (const s of trainJson.checkpointSteps) assert.ok(existsSync(path.join(out, lmCheckpointFile(s))));
  const w0 = readLmCheckpoint(path.join(out, lmCheckpointFile(0)), model());
  assert.ok(w0['blocks.0.ln1.w'].every((v) => v === 1)); // untrained
  await rejects(() => invokeStage(lmTrainStage, makeContext(trainParams({ model: model({ vocab: 512 }) }), { data: d }, '/nonexistent', '/nonexistent')), /model\.vocab = 512 but the tokenizer has 300 tokens/);
});

test('train: kill and resume gives byte-identical outputs (with planted repeats)', async () => {
  const { data: d } = await pipeline();
  const params = trainParams({ plantedRepeats: { fraction: 0.5, minSpan: 3, maxSpan: 8 }, logEvery: 7 });
  const straight = await dir('straight');
  await invokeStage(lmTrainStage, makeContext(params, { data: d }, straight, await dir('w')));
  const work = await dir('resume-work');
  const abort = new AbortController();
  // Grid: 0 1 3 15 20 40 60. Abort after step 33: the resumed run restarts after checkpoint 20.
  const ctx = makeContext(params, { data: d }, await dir('killed'), work, { signal: abort.signal, onProgress: (done) => done === 33 && abort.abort() });
  await rejects(() => invokeStage(lmTrainStage, ctx), /aborted at step 33/);
  assert.is(decodeTensors(await readFile(path.join(work, 'state.swt'))).meta.nextStep, 20);
  const resumed = await dir('resumed');
  await invokeStage(lmTrainStage, makeContext(params, { data: d }, resumed, work));
  const [a, b] = await Promise.all([readTree(straight), readTree(resumed)]);
  assert.equal([...b.keys()].sort(), [...a.keys()].sort());
  for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${f} differs`);
});

test('train: micro-batches accumulate to the full batch\'s update (same losses to float rounding)', async () => {
  const { data: d } = await pipeline();
  const whole = await dir('whole');
  const parts = await dir('parts');
  await invokeStage(lmTrainStage, makeContext(trainParams({ steps: 20 }), { data: d }, whole, await dir('w')));
  await invokeStage(lmTrainStage, makeContext(trainParams({ steps: 20, microBatch: 3 }), { data: d }, parts, await dir('w')));
  const losses = async (o: string) => (await readFile(path.join(o, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).loss as number);
  const [a, b] = [await losses(whole), await losses(parts)];
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-4 * x, `${x} vs ${b[i]}`));
  const wa = readLmCheckpoint(path.join(whole, lmCheckpointFile(20)), model());
  const wb = readLmCheckpoint(path.join(parts, lmCheckpointFile(20)), model());
  for (const name of Object.keys(wa)) {
    // b_K's exact gradient is 0 (softmax ignores it): AdamW normalises rounding noise into steps of size lr.
    if (name.endsWith('attn.b_K')) continue;
    let diff = 0, scale = 0;
    for (let i = 0; i < wa[name].length; i++) (diff = Math.max(diff, Math.abs(wa[name][i] - wb[name][i]))), (scale = Math.max(scale, Math.abs(wa[name][i])));
    assert.ok(diff <= 1e-3 * Math.max(scale, 1e-3), `${name}: ${diff}`);
  }
});

const importParams = (checkpoints: { step: number; file: string }[], m = model()) =>
  lmImportStage.params.parse({ model: m, checkpoints: checkpoints.map((c) => ({ ...c, digest: 'x' })) });

test('import: TransformerLens-named safetensors → checkpoints; extra tensors skipped; missing/misshapen tensors named', async () => {
  const { data: d } = await pipeline();
  const trained = await dir('trained');
  await invokeStage(lmTrainStage, makeContext(trainParams({ steps: 5 }), { data: d }, trained, await dir('w')));
  const w = readLmCheckpoint(path.join(trained, lmCheckpointFile(5)), model());
  const tensors = Object.fromEntries(lmParamShapes(model()).map(({ name, shape }) => [name, { shape, data: w[name] }]));
  const src = await dir('st');
  const file = path.join(src, 'model.safetensors');
  await writeFile(file, encodeSafetensors({ ...tensors, 'blocks.0.attn.mask': { shape: [24, 24], data: new Float32Array(576) } }));
  const out = await dir('import');
  await invokeStage(lmImportStage, makeContext(importParams([{ step: 5, file }]), {}, out, await dir('w')));
  const got = readLmCheckpoint(path.join(out, lmCheckpointFile(5)), model());
  for (const name of Object.keys(w)) assert.equal(Array.from(got[name]), Array.from(w[name]), name);
  assert.equal(JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')).config, model());

  const { ['blocks.1.attn.W_K']: _, ...missing } = tensors;
  await writeFile(path.join(src, 'missing.safetensors'), encodeSafetensors(missing));
  await rejects(() => invokeStage(lmImportStage, makeContext(importParams([{ step: 0, file: path.join(src, 'missing.safetensors') }]), {}, out, out)), /missing\.safetensors: missing tensor blocks\.1\.attn\.W_K/);
  await writeFile(path.join(src, 'shape.safetensors'), encodeSafetensors({ ...tensors, 'unembed.W_U': { shape: [300, 16], data: w['unembed.W_U'] } }));
  await rejects(() => invokeStage(lmImportStage, makeContext(importParams([{ step: 0, file: path.join(src, 'shape.safetensors') }]), {}, out, out)), /shape\.safetensors: tensor unembed\.W_U has shape \[300,16\], the configured model needs \[16,300\]/);
  await rejects(() => invokeStage(lmImportStage, makeContext(importParams([{ step: 0, file: path.join(src, 'nope.safetensors') }]), {}, out, out)), /nope\.safetensors: cannot read/);
});

test('import: a file written by PyTorch (safetensors via torch when available, F16)', async () => {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  if (!existsSync(py) || probe.status !== 0) {
    console.log('\n  SKIPPED: Debian python3-torch not available; the PyTorch-written safetensors import is not checked');
    return;
  }
  // torch 1.13 has no safetensors writer: write the format by hand from torch tensors (F16), as
  // safetensors.torch.save_file would, from a TransformerLens-shaped state dict.
  const src = await dir('torch');
  const file = path.join(src, 'torch.safetensors');
  const cfg = model();
  const shapes = JSON.stringify(lmParamShapes(cfg).map((s) => [s.name, s.shape]));
  const script = `
import json, struct, torch
torch.manual_seed(0)
shapes = json.loads('${shapes}')
header, blobs, off = {}, [], 0
for name, shape in shapes:
    t = (torch.randn(*shape) * 0.1).to(torch.float16).contiguous()
    b = t.numpy().tobytes()
    header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
with open('${file}', 'wb') as f:
    f.write(struct.pack('<Q', len(h))); f.write(h); [f.write(b) for b in blobs]
torch.manual_seed(0)
print(json.dumps({n: (torch.randn(*s) * 0.1).to(torch.float16).float().flatten()[:3].tolist() for n, s in shapes}))
`;
  const r = spawnSync(py, ['-c', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as Record<string, number[]>;
  const out = await dir('torch-import');
  await invokeStage(lmImportStage, makeContext(importParams([{ step: 100, file }], cfg), {}, out, await dir('w')));
  const got = readLmCheckpoint(path.join(out, lmCheckpointFile(100)), cfg);
  for (const [name, first] of Object.entries(expected)) assert.equal(Array.from(got[name].subarray(0, 3)), first, name);
});

test.run();
