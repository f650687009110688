// The committed WebAssembly kernel (lib/kernels/transformer-wasm.ts) is what lib/kernels/build.sh
// makes from the committed transformer.c: the module records the source's sha256, and where clang-14
// is installed the test rebuilds it and compares byte for byte.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, which } from 'zx';
import { TRANSFORMER_C_SHA256, TRANSFORMER_WASM_BASE64, TRANSFORMER_WASM_SHA256 } from '../../../lib/kernels/transformer-wasm.ts';

const dir = path.resolve(import.meta.dirname, '../../../lib/kernels');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('the committed module was built from the committed transformer.c (else: sh lib/kernels/build.sh)', () => {
  const source = sha256(readFileSync(path.join(dir, 'transformer.c')));
  assert.is(source, TRANSFORMER_C_SHA256, 'transformer.c changed since transformer-wasm.ts was generated: run sh lib/kernels/build.sh and commit both');
  assert.is(sha256(Buffer.from(TRANSFORMER_WASM_BASE64, 'base64')), TRANSFORMER_WASM_SHA256, 'the embedded wasm matches its recorded digest');
});

test('rebuilding transformer.c gives the committed module byte for byte', async () => {
  const clang = await which('clang-14', { nothrow: true });
  if (!clang) {
    console.log('\n  SKIPPED (build.test.ts rebuild: clang-14 not installed; apt-get install -y clang-14 lld-14)\n');
    return;
  }
  const tmp = mkdtempSync(path.join(tmpdir(), 'stagewise-kernel-'));
  try {
    const out = path.join(tmp, 'transformer-wasm.ts');
    await $({ quiet: true })`sh ${path.join(dir, 'build.sh')} --out ${out}`;
    assert.is(readFileSync(out, 'utf8'), readFileSync(path.join(dir, 'transformer-wasm.ts'), 'utf8'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
