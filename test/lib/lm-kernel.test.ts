// The WebAssembly SIMD kernel for the language model (lib/kernels/lm-gemm.c) against the PyTorch
// oracle and against the plain TypeScript products, on shapes that exercise every tail of the
// 4×8 micro-kernels (sizes not divisible by 4 or 8), the depth blocking (K > 64) and the packed
// blocks of wide B (ldb ≥ 256). Every test runs on both builds: the relaxed-SIMD one (fused
// multiply-adds, the default where the engine has it) and the plain SIMD128 fallback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { jsOps, type MatRef } from '../../lib/lm/gemm.ts';
import { lmForward, lmInitWeights, lmKernelName, lmLossAndGrad, setLmArena, setLmOps, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { kernelScratch, lmKernelBuild, lmKernelBuildInUse, useLmKernel, wasmOps, type LmKernelBuild } from '../../lib/kernels/lm-gemm.ts';
import { rngStream } from '../../lib/rng.ts';
import { relErr } from './compare.ts';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/lm-oracle.json', import.meta.url), 'utf8'));
const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const useJs = () => {
  setLmArena(null, false);
  setLmOps(jsOps);
};

// The default build first (relaxed SIMD where the engine has it), then the plain fallback.
const builds: LmKernelBuild[] = lmKernelBuild() === 'fma' ? ['fma', 'simd128'] : ['simd128'];

for (const build of builds) {
  test(`${build}: kernel: forward, attention and gradients agree with PyTorch to 1e-5 of scale`, () => {
    useLmKernel(build);
    assert.is(lmKernelName(), 'wasm-simd');
    const cfg = fixture.config as LmConfig;
    const { B, T } = fixture.batch;
    const tokens = Int32Array.from(fixture.batch.tokens as number[]);
    const w: LmWeights = Object.fromEntries(Object.entries(fixture.params as Record<string, { data: string }>).map(([n, p]) => [n, f32(p.data)]));
    const { logits, attention } = lmForward(cfg, w, tokens, B, T, { attention: true });
    assert.ok(relErr(logits, f32(fixture.logits)) <= 1e-5);
    attention!.forEach((a, l) => assert.ok(relErr(a, f32(fixture.attention[l])) <= 1e-5));
    const { loss, grads } = lmLossAndGrad(cfg, w, tokens, B, T);
    assert.ok(Math.abs(loss - fixture.loss) <= 1e-5 * fixture.loss);
    for (const [name, g] of Object.entries(fixture.grads as Record<string, string>)) {
      if (name.endsWith('attn.b_K')) continue; // exactly 0 in theory: rounding noise on both sides (see lm-model.test.ts)
      assert.ok(relErr(grads[name], f32(g)) <= 1e-5, name);
    }
    useJs();
  });

  test(`${build}: kernel products equal the TypeScript ones for every transpose case, ragged sizes and long depths`, () => {
    const r = rngStream(5, 'gemm');
    for (const [M, N, K] of [[7, 13, 5], [33, 9, 300], [4, 8, 1], [70, 70, 530], [5, 2050, 3], [9, 300, 70], [70, 1030, 33]]) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true]]) {
        for (const acc of [false, true]) {
          const lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 1, ldc = N + 2;
          const aRows = tA ? K : M, bRows = tB ? N : K;
          const buf = kernelScratch(aRows * lda + bRows * ldb + M * ldc);
          const A = buf.subarray(0, aRows * lda).map(() => r.normal());
          const Bm = buf.subarray(aRows * lda, aRows * lda + bRows * ldb).map(() => r.normal());
          buf.set(A, 0);
          buf.set(Bm, aRows * lda);
          const cOff = aRows * lda + bRows * ldb;
          const C0 = Float32Array.from({ length: M * ldc }, () => r.normal());
          buf.set(C0, cOff);
          const ref = { data: Float32Array.from(C0), off: 0, ld: ldc };
          jsOps.gemm(tA, tB, M, N, K, { data: A, off: 0, ld: lda }, { data: Bm, off: 0, ld: ldb }, ref, acc);
          const mk = (off: number, ld: number): MatRef => ({ data: buf, off, ld });
          wasmOps.gemm(tA, tB, M, N, K, mk(0, lda), mk(aRows * lda, ldb), mk(cOff, ldc), acc);
          const got = buf.subarray(cOff, cOff + M * ldc);
          // Padding columns beyond N are untouched.
          for (let i = 0; i < M; i++) for (let j = N; j < ldc; j++) assert.is(got[i * ldc + j], C0[i * ldc + j]);
          assert.ok(relErr(got, ref.data) <= 1e-5, `M=${M} N=${N} K=${K} tA=${tA} tB=${tB} acc=${acc}: ${relErr(got, ref.data)}`);
        }
      }
    }
    useJs();
  });

  // Ragged sizes (tails of every block); then a wider one: V ≥ 256 (packed blocks of W_U and the
  // logits), rows in several chunks of the fused unembedding, T > 8 query blocks in attention.
  for (const [cfg, B, T] of [
    [{ layers: 2, dModel: 20, heads: 3, dHead: 6, nCtx: 16, vocab: 37 }, 3, 11],
    [{ layers: 1, dModel: 24, heads: 2, dHead: 12, nCtx: 64, vocab: 300 }, 2, 45],
  ] as [LmConfig, number, number][]) {
    test(`${build}: kernel and TypeScript training gradients agree (d=${cfg.dModel}, ${cfg.heads} heads of ${cfg.dHead}, V=${cfg.vocab}, B=${B}, T=${T})`, () => {
      const w = lmInitWeights(cfg, rngStream(1, 'init'));
      const r = rngStream(2, 'tokens');
      const tokens = Int32Array.from({ length: B * T }, () => r.int(cfg.vocab));
      useJs();
      const ref = lmLossAndGrad(cfg, w, tokens, B, T);
      useLmKernel(build);
      const got = lmLossAndGrad(cfg, w, tokens, B, T);
      useJs();
      assert.ok(Math.abs(got.loss - ref.loss) <= 1e-6 * ref.loss);
      for (const name of Object.keys(ref.grads)) {
        if (name.endsWith('attn.b_K')) continue;
        assert.ok(relErr(got.grads[name], ref.grads[name]) <= 1e-5, `${name}: ${relErr(got.grads[name], ref.grads[name])}`);
      }
    });
  }
}

test('useLmKernel selects the build', () => {
  for (const build of builds) {
    useLmKernel(build);
    assert.is(lmKernelBuildInUse(), build);
  }
  useJs();
});

test.run();
