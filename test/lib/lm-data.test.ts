// Language-model data handling: Brown tag stripping, JSONL parsing, document split, row building
// (BOS, lengths, chunking), batch schedule, planted repeats and the safetensors reader.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { brownToText, parseJsonl, splitDocuments } from '../../lib/lm/corpus.ts';
import { concatenateRows } from '../../lib/lm/rows.ts';
import { RowSchedule, plantRepeats } from '../../lib/lm/batches.ts';
import { encodeSafetensors, parseSafetensors } from '../../lib/lm/safetensors.ts';
import { rngStream } from '../../lib/rng.ts';

test('Brown: tags stripped, quotes restored, punctuation attached, paragraphs kept', () => {
  const tagged = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, and/cc 1-1/2/cd inches/nns ./.\nIt/pps did/dod n't/* ./.\n\n\n\tNext/ap paragraph/nn ;/. (/( aside/rb )/) ?/.\n";
  assert.is(brownToText(tagged), 'The jury said "no evidence", and 1-1/2 inches. It didn\'t.\n\nNext paragraph; (aside)?');
});

test('JSONL: the text field of every line; bad lines are named with file and line', () => {
  assert.equal(parseJsonl('{"text":"a"}\n\n{"text":"b c","id":2}\n', 'text', 'x.jsonl'), ['a', 'b c']);
  assert.equal(parseJsonl('{"body":"a"}\n', 'body', 'x.jsonl'), ['a']);
  assert.throws(() => parseJsonl('{"text":"a"}\n{oops\n', 'text', 'x.jsonl'), /x\.jsonl:2: not valid JSON/);
  assert.throws(() => parseJsonl('{"content":"a"}\n', 'text', 'x.jsonl'), /x\.jsonl:1: expected an object with a string field "text"/);
});

test('document split: seeded, every document in exactly one split, both non-empty', () => {
  const docs = Array.from({ length: 200 }, (_, i) => `d${i}`);
  const r = rngStream(0, 's');
  const { train, test: held } = splitDocuments(docs, 0.1, () => r.next());
  assert.equal([...train, ...held].sort(), [...docs].sort());
  assert.ok(held.length > 5 && held.length < 40, `${held.length}`);
  const tiny = splitDocuments(['a', 'b'], 0.01, () => 0.9);
  assert.equal([tiny.train.length, tiny.test.length], [1, 1]);
});

test('rows: documents joined by BOS, cut into (n_ctx − 1)-token chunks, BOS first, remainder dropped', () => {
  const BOS = 99;
  const rows = concatenateRows([[1, 2, 3], [4, 5], [6, 7, 8, 9]], 4, BOS);
  // stream: 1 2 3 BOS 4 5 BOS 6 7 8 9 (11 tokens) → 3 chunks of 3; the remainder 8 9 is dropped
  assert.equal(Array.from(rows), [BOS, 1, 2, 3, BOS, BOS, 4, 5, BOS, BOS, 6, 7]);
  assert.is(concatenateRows([[1, 2]], 4, BOS).length, 0);
  assert.throws(() => concatenateRows([[1]], 1, BOS), /nCtx must be an integer ≥ 2/);
});

test('row schedule: each epoch visits every row once, epochs differ, batches depend only on (seed, step)', () => {
  const s = new RowSchedule(10, 3);
  const epoch0 = [...s.batch(0, 5), ...s.batch(1, 5)];
  const epoch1 = [...s.batch(2, 5), ...s.batch(3, 5)];
  assert.equal([...epoch0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal([...epoch1].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.not.equal(epoch0, epoch1);
  assert.equal(new RowSchedule(10, 3).batch(3, 5), s.batch(3, 5));
  // A batch straddling an epoch boundary.
  assert.is(new RowSchedule(10, 3).batch(1, 7).length, 7);
});

test('planted repeats: the copied span equals its source, later in the row; BOS untouched; fraction 0 is a no-op', () => {
  const B = 64, T = 40;
  const r = rngStream(1, 't');
  const base = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 999 : r.int(500)));
  const tokens = base.slice();
  const planted = plantRepeats(tokens, B, T, { fraction: 0.5, minSpan: 3, maxSpan: 12 }, 7, 11);
  assert.ok(planted > 15 && planted < 50, `${planted}`);
  let changedRows = 0;
  for (let b = 0; b < B; b++) {
    const row = tokens.subarray(b * T, b * T + T), orig = base.subarray(b * T, b * T + T);
    assert.is(row[0], 999);
    const diff = [...row.keys()].filter((i) => row[i] !== orig[i]);
    if (diff.length === 0) continue;
    changedRows++;
    // The changed positions lie in one window whose content appears earlier in the original row.
    const lo = diff[0], hi = diff.at(-1)!;
    const span = Array.from(row.subarray(lo, hi + 1));
    const source = Array.from(orig).findIndex((_, i) => i < lo && span.every((v, k) => orig[i + k] === v));
    assert.ok(source >= 1, `row ${b}: copied span not found earlier`);
  }
  assert.ok(changedRows <= planted);
  const same = base.slice();
  assert.is(plantRepeats(same, B, T, { fraction: 0, minSpan: 3, maxSpan: 12 }, 7, 11), 0);
  assert.equal(same, base);
  // Deterministic per (seed, step).
  const again = base.slice();
  plantRepeats(again, B, T, { fraction: 0.5, minSpan: 3, maxSpan: 12 }, 7, 11);
  assert.equal(again, tokens);
});

test('periodic planted repeats: a chosen row repeats its first L tokens with period L to its end, L per row', () => {
  const B = 40, T = 50;
  const r = rngStream(2, 't');
  const base = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 999 : r.int(500)));
  const tokens = base.slice();
  const planted = plantRepeats(tokens, B, T, { fraction: 0.5, minSpan: 3, maxSpan: 9, periodic: true }, 3, 0);
  const periods = new Set<number>();
  let seen = 0;
  for (let b = 0; b < B; b++) {
    const row = Array.from(tokens.subarray(b * T, b * T + T)), orig = Array.from(base.subarray(b * T, b * T + T));
    if (row.every((v, i) => v === orig[i])) continue;
    seen++;
    const L = [3, 4, 5, 6, 7, 8, 9].find((p) => row.every((v, t) => t <= p || v === row[t - p]))!;
    assert.ok(L !== undefined, `row ${b} is not periodic`);
    assert.equal(row.slice(0, L + 1), orig.slice(0, L + 1));
    periods.add(L);
  }
  assert.is(seen, planted);
  assert.ok(periods.size >= 3, `periods ${[...periods]}`);
});

test('periodic planted repeats of random tokens: the period holds, the first L tokens are new, never BOS', () => {
  const B = 30, T = 40, BOS = 63;
  const base = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? BOS : 5));
  const tokens = base.slice();
  const planted = plantRepeats(tokens, B, T, { fraction: 1, minSpan: 4, maxSpan: 8, periodic: true, random: { vocab: 64, bos: BOS } }, 1, 2);
  assert.is(planted, B);
  for (let b = 0; b < B; b++) {
    const row = Array.from(tokens.subarray(b * T, b * T + T));
    assert.is(row[0], BOS);
    assert.ok(row.slice(1).every((v) => v >= 0 && v < 64 && v !== BOS));
    const L = [4, 5, 6, 7, 8].find((p) => row.every((v, t) => t <= p || v === row[t - p]));
    assert.ok(L !== undefined, `row ${b} is not periodic`);
    assert.ok(row.slice(1, L! + 1).some((v) => v !== 5), `row ${b} kept its text`);
  }
});

test('safetensors: round trip, F16/BF16 decoding, errors name the file and tensor', () => {
  const a = { shape: [2, 3], data: Float32Array.from([1, -2, 0.5, 3.25, 0, -0]) };
  const bytes = encodeSafetensors({ 'embed.W_E': a, b: { shape: [1], data: Float32Array.of(7) } }, { format: 'pt' });
  const { tensors, metadata, names } = parseSafetensors(bytes, 'm.safetensors');
  assert.equal(names, ['embed.W_E', 'b']);
  assert.equal(metadata, { format: 'pt' });
  assert.equal(Array.from(tensors['embed.W_E'].data), Array.from(a.data));
  assert.equal(tensors['embed.W_E'].shape, [2, 3]);

  // Hand-built F16 and BF16 tensors: 1.0, −2.0, 0.333…, and a subnormal F16.
  const header = JSON.stringify({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, g: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] } });
  const raw = new Uint8Array(8 + header.length + 12);
  const view = new DataView(raw.buffer);
  view.setBigUint64(0, BigInt(header.length), true);
  raw.set(new TextEncoder().encode(header), 8);
  const at = 8 + header.length;
  [0x3c00, 0xc000, 0x3555, 0x0001].forEach((h, i) => view.setUint16(at + 2 * i, h, true));
  [0x3f80, 0xc0a0].forEach((h, i) => view.setUint16(at + 8 + 2 * i, h, true)); // 1.0, −5.0
  const half = parseSafetensors(raw, 'h.safetensors').tensors;
  assert.equal(Array.from(half.h.data.subarray(0, 2)), [1, -2]);
  assert.ok(Math.abs(half.h.data[2] - 0.33325) < 1e-4);
  assert.is(half.h.data[3], 2 ** -24);
  assert.equal(Array.from(half.g.data), [1, -5]);

  assert.throws(() => parseSafetensors(bytes.subarray(0, bytes.length - 4), 'cut.safetensors'), /cut\.safetensors: tensor b \[1\] F32 needs 4 bytes/);
  assert.throws(() => parseSafetensors(new Uint8Array(4), 'tiny.safetensors'), /tiny\.safetensors: not a safetensors file/);
});

test.run();
