// Each committed WebAssembly kernel (lib/kernels/*-wasm.ts) is what its build script makes from the
// committed C source: the module records the source's sha256 and each build's digest, and where
// clang-14 is installed the test rebuilds it and compares byte for byte.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, which } from 'zx';
import * as lm from '../../../lib/kernels/lm-gemm-wasm.ts';
import * as transformer from '../../../lib/kernels/transformer-wasm.ts';

const dir = path.resolve(import.meta.dirname, '../../../lib/kernels');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const KERNELS = [
  {
    source: 'transformer.c',
    script: 'build.sh',
    module: 'transformer-wasm.ts',
    sourceSha: transformer.TRANSFORMER_C_SHA256,
    builds: { plain: [transformer.TRANSFORMER_WASM_BASE64, transformer.TRANSFORMER_WASM_SHA256], 'relaxed-SIMD': [transformer.TRANSFORMER_FMA_WASM_BASE64, transformer.TRANSFORMER_FMA_WASM_SHA256] },
  },
  {
    source: 'lm-gemm.c',
    script: 'build-lm.sh',
    module: 'lm-gemm-wasm.ts',
    sourceSha: lm.LM_GEMM_C_SHA256,
    builds: { plain: [lm.LM_GEMM_WASM_BASE64, lm.LM_GEMM_WASM_SHA256], 'relaxed-SIMD': [lm.LM_GEMM_FMA_WASM_BASE64, lm.LM_GEMM_FMA_WASM_SHA256] },
  },
];

for (const k of KERNELS) {
  test(`the committed ${k.module} was built from the committed ${k.source} (else: sh lib/kernels/${k.script})`, () => {
    const source = sha256(readFileSync(path.join(dir, k.source)));
    assert.is(source, k.sourceSha, `${k.source} changed since ${k.module} was generated: run sh lib/kernels/${k.script} and commit both`);
    for (const [build, [base64, digest]] of Object.entries(k.builds)) {
      assert.is(sha256(Buffer.from(base64, 'base64')), digest, `the embedded ${build} wasm matches its recorded digest`);
    }
  });

  test(`rebuilding ${k.source} gives the committed ${k.module} byte for byte`, async () => {
    const clang = await which('clang-14', { nothrow: true });
    if (!clang) {
      console.log(`\n  SKIPPED (build.test.ts rebuild of ${k.source}: clang-14 not installed; apt-get install -y clang-14 lld-14 llvm-14)\n`);
      return;
    }
    const tmp = mkdtempSync(path.join(tmpdir(), 'stagewise-kernel-'));
    try {
      const out = path.join(tmp, k.module);
      await $({ quiet: true })`sh ${path.join(dir, k.script)} --out ${out}`;
      assert.is(readFileSync(out, 'utf8'), readFileSync(path.join(dir, k.module), 'utf8'));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test.run();
