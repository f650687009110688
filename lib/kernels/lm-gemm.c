// Dense float32 products for the language model (lib/lm/model.ts) in WebAssembly SIMD128.
//
//   lm_gemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, acc):  C[M×N] = (acc ? C : 0) + op(A)·op(B)
//
// Pointers are byte offsets into this module's memory; the host lays every LM work buffer out in
// it (lm_alloc), so a product is one call with no copies. Register-blocked 4×8 micro-kernels for
// A·B and Aᵀ·B, depth-blocked so long sums stream B from cache; A·Bᵀ transposes a panel of B into
// scratch and reuses the A·B kernel. Each product is rounded before its sum (SIMD128 has no FMA),
// as in the plain TypeScript fallback (lib/lm/gemm.ts). Kept apart from transformer.c (the
// regression model's fused kernel) so the two can change independently.
#include <wasm_simd128.h>

typedef float f32;
typedef v128_t v4;

extern unsigned char __heap_base;

#define EXPORT(name) __attribute__((export_name(#name)))
#define KC 256
#define PANEL (1 << 18) /* floats of transposed-B scratch: 1 MiB */

static f32 panel[PANEL];

static inline v4 vsplat(f32 x) { return wasm_f32x4_splat(x); }
static inline v4 vld(const f32 *p) { return wasm_v128_load(p); }
static inline void vst(f32 *p, v4 v) { wasm_v128_store(p, v); }
static inline v4 vmadd(v4 acc, v4 a, v4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

// ---------------------------------------------------------------- bump allocator

static unsigned long heap_top = 0;

/** n floats, 16-byte aligned, zeroed; 0 if memory cannot grow. The host calls lm_reset before a new layout. */
EXPORT(lm_alloc) f32 *lm_alloc(int n) {
  if (heap_top == 0) heap_top = (unsigned long)&__heap_base;
  unsigned long start = (heap_top + 15) & ~15ul;
  unsigned long end = start + (unsigned long)n * 4;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (unsigned long)-1) return 0;
  heap_top = end;
  f32 *p = (f32 *)start;
  for (int i = 0; i < n; i++) p[i] = 0;
  return p;
}

EXPORT(lm_reset) void lm_reset(void) { heap_top = 0; }

// ---------------------------------------------------------------- micro-kernels

static void zero_rows(int M, int N, f32 *C, int ldc) {
  for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) C[i * ldc + j] = 0;
}

/** C (+)= A·B for A [M,K] (lda), B [K,N] (ldb); tA: A is stored [K,M] instead. */
static void block(int tA, int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  // Strides to step along k and along i in A.
  const int sk = tA ? lda : 1, si = tA ? 1 : lda;
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const f32 *a0 = A + i * si, *a1 = a0 + si, *a2 = a1 + si, *a3 = a2 + si;
    f32 *c0 = C + i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
    int j = 0;
    for (; j + 8 <= N; j += 8) {
      v4 s00, s01, s10, s11, s20, s21, s30, s31;
      if (acc) {
        s00 = vld(c0 + j), s01 = vld(c0 + j + 4), s10 = vld(c1 + j), s11 = vld(c1 + j + 4);
        s20 = vld(c2 + j), s21 = vld(c2 + j + 4), s30 = vld(c3 + j), s31 = vld(c3 + j + 4);
      } else {
        s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = vsplat(0);
      }
      const f32 *b = B + j;
      if (tA) {
        const f32 *a = a0;
        for (int k = 0; k < K; k++, b += ldb, a += sk) {
          v4 b0 = vld(b), b1 = vld(b + 4), av = vld(a), x;
          x = wasm_i32x4_shuffle(av, av, 0, 0, 0, 0), s00 = vmadd(s00, x, b0), s01 = vmadd(s01, x, b1);
          x = wasm_i32x4_shuffle(av, av, 1, 1, 1, 1), s10 = vmadd(s10, x, b0), s11 = vmadd(s11, x, b1);
          x = wasm_i32x4_shuffle(av, av, 2, 2, 2, 2), s20 = vmadd(s20, x, b0), s21 = vmadd(s21, x, b1);
          x = wasm_i32x4_shuffle(av, av, 3, 3, 3, 3), s30 = vmadd(s30, x, b0), s31 = vmadd(s31, x, b1);
        }
      } else {
        for (int k = 0; k < K; k++, b += ldb) {
          v4 b0 = vld(b), b1 = vld(b + 4), x;
          x = vsplat(a0[k]), s00 = vmadd(s00, x, b0), s01 = vmadd(s01, x, b1);
          x = vsplat(a1[k]), s10 = vmadd(s10, x, b0), s11 = vmadd(s11, x, b1);
          x = vsplat(a2[k]), s20 = vmadd(s20, x, b0), s21 = vmadd(s21, x, b1);
          x = vsplat(a3[k]), s30 = vmadd(s30, x, b0), s31 = vmadd(s31, x, b1);
        }
      }
      vst(c0 + j, s00), vst(c0 + j + 4, s01), vst(c1 + j, s10), vst(c1 + j + 4, s11);
      vst(c2 + j, s20), vst(c2 + j + 4, s21), vst(c3 + j, s30), vst(c3 + j + 4, s31);
    }
    for (; j + 4 <= N; j += 4) {
      v4 s0 = acc ? vld(c0 + j) : vsplat(0), s1 = acc ? vld(c1 + j) : vsplat(0);
      v4 s2 = acc ? vld(c2 + j) : vsplat(0), s3 = acc ? vld(c3 + j) : vsplat(0);
      const f32 *b = B + j;
      for (int k = 0; k < K; k++, b += ldb) {
        v4 b0 = vld(b);
        s0 = vmadd(s0, vsplat(a0[k * sk]), b0), s1 = vmadd(s1, vsplat(a1[k * sk]), b0);
        s2 = vmadd(s2, vsplat(a2[k * sk]), b0), s3 = vmadd(s3, vsplat(a3[k * sk]), b0);
      }
      vst(c0 + j, s0), vst(c1 + j, s1), vst(c2 + j, s2), vst(c3 + j, s3);
    }
    for (; j < N; j++) {
      f32 s0 = acc ? c0[j] : 0, s1 = acc ? c1[j] : 0, s2 = acc ? c2[j] : 0, s3 = acc ? c3[j] : 0;
      for (int k = 0; k < K; k++) {
        f32 bk = B[k * ldb + j];
        s0 += a0[k * sk] * bk, s1 += a1[k * sk] * bk, s2 += a2[k * sk] * bk, s3 += a3[k * sk] * bk;
      }
      c0[j] = s0, c1[j] = s1, c2[j] = s2, c3[j] = s3;
    }
  }
  for (; i < M; i++) {
    const f32 *a = A + i * si;
    f32 *c = C + i * ldc;
    if (!acc) for (int j = 0; j < N; j++) c[j] = 0;
    for (int k = 0; k < K; k++) {
      f32 ak = a[k * sk];
      const f32 *b = B + k * ldb;
      v4 x = vsplat(ak);
      int j = 0;
      for (; j + 4 <= N; j += 4) vst(c + j, vmadd(vld(c + j), x, vld(b + j)));
      for (; j < N; j++) c[j] += ak * b[j];
    }
  }
}

/** C (+)= op(A)·B with B [K,N] row-major: depth blocks of KC, column blocks of 64. */
static void gemm_b(int tA, int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (K == 0) {
    if (!acc) zero_rows(M, N, C, ldc);
    return;
  }
  for (int j0 = 0; j0 < N; j0 += 64) {
    int nc = N - j0 < 64 ? N - j0 : 64;
    for (int k0 = 0; k0 < K; k0 += KC) {
      int kc = K - k0 < KC ? K - k0 : KC;
      const f32 *Ak = tA ? A + k0 * lda : A + k0;
      block(tA, M, nc, kc, Ak, lda, B + k0 * ldb + j0, ldb, C + j0, ldc, acc || k0 > 0);
    }
  }
}

EXPORT(lm_gemm) void lm_gemm(int tA, int tB, int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (!tB) {
    gemm_b(tA, M, N, K, A, lda, B, ldb, C, ldc, acc);
    return;
  }
  // op(B) = Bᵀ with B stored [N,K]: transpose column panels of op(B) (rows of B) into scratch.
  int nb = PANEL / (K > 0 ? K : 1);
  nb = nb >= 8 ? nb & ~7 : nb;
  if (nb < 1) nb = 1;
  for (int j0 = 0; j0 < N; j0 += nb) {
    int nc = N - j0 < nb ? N - j0 : nb;
    for (int k = 0; k < K; k++)
      for (int j = 0; j < nc; j++) panel[k * nc + j] = B[(j0 + j) * ldb + k];
    gemm_b(tA, M, nc, K, A, lda, panel, nc, C + j0, ldc, acc);
  }
}

// ---------------------------------------------------------------- softmax pieces

/** e^x for x ≤ 0 (arguments after max subtraction): Cody–Waite reduction, degree-7 Taylor, ≈1 ulp. */
static inline f32 exp_nonpos(f32 x) {
  if (x < -87.3f) return 0.0f;
  f32 n = __builtin_rintf(x * 1.44269504088896341f);
  f32 r = (x - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  f32 p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
  union { f32 f; int i; } s;
  s.i = ((int)n + 127) << 23;
  return p * s.f;
}

/**
 * Softmax cross-entropy over rows of logits [N,V] in place: row n with target t ≥ 0 becomes
 * (softmax − onehot(t))·inv, and partial[n] = max − logit[t], sum[n] = Σ exp(logit − max), so the
 * row's loss is partial + ln(sum) (the host takes the log). Rows with a negative target become 0.
 */
EXPORT(lm_xent) void lm_xent(int N, int V, f32 *logits, const f32 *targets, f32 inv, f32 *partial, f32 *sum) {
  for (int n = 0; n < N; n++) {
    f32 *x = logits + (long)n * V;
    int t = (int)targets[n];
    if (t < 0) {
      for (int j = 0; j < V; j++) x[j] = 0;
      partial[n] = 0, sum[n] = 1;
      continue;
    }
    f32 m = x[0];
    for (int j = 1; j < V; j++) m = x[j] > m ? x[j] : m;
    partial[n] = m - x[t];
    f32 s = 0;
    for (int j = 0; j < V; j++) {
      f32 e = exp_nonpos(x[j] - m);
      x[j] = e;
      s += e;
    }
    sum[n] = s;
    f32 k = inv / s;
    int j = 0;
    v4 kv = vsplat(k);
    for (; j + 4 <= V; j += 4) vst(x + j, wasm_f32x4_mul(vld(x + j), kv));
    for (; j < V; j++) x[j] *= k;
    x[t] -= inv;
  }
}

/** Rows i of S [T,T] (ld): softmax over j ≤ i of scale·S[i,j]; zero above the diagonal. */
EXPORT(lm_causal_softmax) void lm_causal_softmax(int T, f32 *S, int ld, f32 scale) {
  for (int i = 0; i < T; i++) {
    f32 *r = S + (long)i * ld;
    f32 m = r[0] * scale;
    for (int j = 1; j <= i; j++) m = r[j] * scale > m ? r[j] * scale : m;
    f32 s = 0;
    for (int j = 0; j <= i; j++) {
      f32 e = exp_nonpos(r[j] * scale - m);
      r[j] = e;
      s += e;
    }
    f32 k = 1.0f / s;
    for (int j = 0; j <= i; j++) r[j] *= k;
    for (int j = i + 1; j < T; j++) r[j] = 0;
  }
}

/** dP [T,T] (ld T) ← scale · P ⊙ (dP − rowsum(dP ⊙ P)) below the diagonal, 0 above. */
EXPORT(lm_causal_softmax_bwd) void lm_causal_softmax_bwd(int T, const f32 *P, int ldp, f32 *dP, f32 scale) {
  for (int i = 0; i < T; i++) {
    const f32 *p = P + (long)i * ldp;
    f32 *g = dP + (long)i * T;
    f32 s = 0;
    for (int j = 0; j <= i; j++) s += g[j] * p[j];
    for (int j = 0; j <= i; j++) g[j] = p[j] * (g[j] - s) * scale;
    for (int j = i + 1; j < T; j++) g[j] = 0;
  }
}
