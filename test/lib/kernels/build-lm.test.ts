// The committed WebAssembly LM kernel (lib/kernels/lm-gemm-wasm.ts) is what lib/kernels/build-lm.sh
// makes from the committed lm-gemm.c: the module records the source's sha256, and where clang-14 is
// installed the test rebuilds both builds and compares byte for byte.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, which } from 'zx';
import { LM_GEMM_C_SHA256, LM_GEMM_FMA_WASM_BASE64, LM_GEMM_FMA_WASM_SHA256, LM_GEMM_WASM_BASE64, LM_GEMM_WASM_SHA256 } from '../../../lib/kernels/lm-gemm-wasm.ts';

const dir = path.resolve(import.meta.dirname, '../../../lib/kernels');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('the committed LM module was built from the committed lm-gemm.c (else: sh lib/kernels/build-lm.sh)', () => {
  const source = sha256(readFileSync(path.join(dir, 'lm-gemm.c')));
  assert.is(source, LM_GEMM_C_SHA256, 'lm-gemm.c changed since lm-gemm-wasm.ts was generated: run sh lib/kernels/build-lm.sh and commit both');
  assert.is(sha256(Buffer.from(LM_GEMM_WASM_BASE64, 'base64')), LM_GEMM_WASM_SHA256, 'the embedded plain wasm matches its recorded digest');
  assert.is(sha256(Buffer.from(LM_GEMM_FMA_WASM_BASE64, 'base64')), LM_GEMM_FMA_WASM_SHA256, 'the embedded relaxed-SIMD wasm matches its recorded digest');
});

test('rebuilding lm-gemm.c gives the committed module byte for byte', async () => {
  const clang = await which('clang-14', { nothrow: true });
  if (!clang) {
    console.log('\n  SKIPPED (build-lm.test.ts rebuild: clang-14 not installed; apt-get install -y clang-14 lld-14 llvm-14)\n');
    return;
  }
  const tmp = mkdtempSync(path.join(tmpdir(), 'stagewise-lm-kernel-'));
  try {
    const out = path.join(tmp, 'lm-gemm-wasm.ts');
    await $({ quiet: true })`sh ${path.join(dir, 'build-lm.sh')} --out ${out}`;
    assert.is(readFileSync(out, 'utf8'), readFileSync(path.join(dir, 'lm-gemm-wasm.ts'), 'utf8'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
