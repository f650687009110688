// The language model's heavy pieces (lib/lm/model.ts) in WebAssembly SIMD128.
//
//   lm_gemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc, acc):  C[M×N] = (acc ? C : 0) + op(A)·op(B)
//   lm_unembed_xent:   logits = y·W_U + b_U, softmax cross-entropy and its three backward products,
//                      in row chunks, so the logits [rows, V] never exist in full
//   lm_attn_fwd / lm_attn_bwd:  causal attention of every (sequence, head), products restricted to
//                      the keys each query sees
//   lm_layernorm / lm_layernorm_bwd, lm_causal_softmax(_bwd), lm_xent: the element-wise parts
//
// Pointers are byte offsets into this module's memory; the host lays every LM work buffer out in
// it (lm_alloc), so a call does no copies. Products use register-blocked 4×8 micro-kernels. Built
// twice (build-lm.sh): plain SIMD128 (each product rounded before its sum, as the TypeScript
// fallback lib/lm/gemm.ts) and relaxed SIMD (-DFMA: fused multiply-adds where the CPU has them).
// Kept apart from transformer.c (the regression model's fused kernel) so the two can change
// independently; the GEMM blocking and e^x follow it (bench/perf.md).
#include <wasm_simd128.h>

typedef float f32;
typedef v128_t v4;

extern unsigned char __heap_base;

#define EXPORT(name) __attribute__((export_name(#name)))
// GEMM blocking (bench/perf.md, measured on these shapes in docs/language-model.md "Speed"): depth
// blocks of KC rows and column blocks of NC keep the KC×NC panel of B in L1 across the row blocks
// of A; MC-row chunks keep the rows of A and C that the depth blocks revisit in L2.
#ifndef KC
#define KC 64
#endif
#ifndef NC
#define NC 64
#endif
#ifndef MC
#define MC 128
#endif
#define PANEL (1 << 18) /* floats of transposed-B scratch: 1 MiB */
#define XENT_ROWS 32    /* rows per chunk of lm_unembed_xent: their logits (V floats each) stay in L2 */


static f32 panel[PANEL];
static f32 bpack[KC * NC]; /* one KC×NC block of B, packed */
static f32 attn_t[1024 * 64]; /* kᵀ or vᵀ of one (sequence, head): [dh, T], T·dh ≤ 65,536 (the host checks) */

static inline v4 vsplat(f32 x) { return wasm_f32x4_splat(x); }
static inline v4 vld(const f32 *p) { return wasm_v128_load(p); }
static inline v4 vld1(const f32 *p) { return wasm_v128_load32_splat(p); }
static inline void vst(f32 *p, v4 v) { wasm_v128_store(p, v); }
static inline v4 vadd(v4 a, v4 b) { return wasm_f32x4_add(a, b); }
static inline v4 vmul(v4 a, v4 b) { return wasm_f32x4_mul(a, b); }
#ifdef FMA // the relaxed-SIMD build: one fused multiply-add (no rounding of the product) where the CPU has it
static inline v4 vmadd(v4 acc, v4 a, v4 b) { return __builtin_wasm_fma_f32x4(a, b, acc); } // relaxed_madd(a, b, c) = a·b + c
#else
static inline v4 vmadd(v4 acc, v4 a, v4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }
#endif
static inline f32 hsum(v4 v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) + (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
static inline f32 hmax(v4 v) {
  v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}
static inline int imin(int a, int b) { return a < b ? a : b; }

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

// ---------------------------------------------------------------- small vector helpers

static void vzero(int n, f32 *y) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst(y + i, vsplat(0));
  for (; i < n; i++) y[i] = 0;
}

/** y += α x */
static inline void axpy(int n, f32 alpha, const f32 *x, f32 *y) {
  v4 a = vsplat(alpha);
  int i = 0;
  for (; i + 4 <= n; i += 4) vst(y + i, vmadd(vld(y + i), a, vld(x + i)));
  for (; i < n; i++) y[i] += alpha * x[i];
}

// ---------------------------------------------------------------- GEMM micro-kernels

/** C (+)= A·B for A [M,K] (lda), B [K,N] (ldb): 4×8 register blocks, A splatted one entry at a time. */
static void block_nn(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const f32 *a0 = A + i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
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
      for (int k = 0; k < K; k++, b += ldb) {
        v4 b0 = vld(b), b1 = vld(b + 4), x;
        x = vld1(a0 + k), s00 = vmadd(s00, x, b0), s01 = vmadd(s01, x, b1);
        x = vld1(a1 + k), s10 = vmadd(s10, x, b0), s11 = vmadd(s11, x, b1);
        x = vld1(a2 + k), s20 = vmadd(s20, x, b0), s21 = vmadd(s21, x, b1);
        x = vld1(a3 + k), s30 = vmadd(s30, x, b0), s31 = vmadd(s31, x, b1);
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
        s0 = vmadd(s0, vld1(a0 + k), b0), s1 = vmadd(s1, vld1(a1 + k), b0);
        s2 = vmadd(s2, vld1(a2 + k), b0), s3 = vmadd(s3, vld1(a3 + k), b0);
      }
      vst(c0 + j, s0), vst(c1 + j, s1), vst(c2 + j, s2), vst(c3 + j, s3);
    }
    for (; j < N; j++) {
      f32 s0 = acc ? c0[j] : 0, s1 = acc ? c1[j] : 0, s2 = acc ? c2[j] : 0, s3 = acc ? c3[j] : 0;
      for (int k = 0; k < K; k++) {
        f32 bk = B[k * ldb + j];
        s0 += a0[k] * bk, s1 += a1[k] * bk, s2 += a2[k] * bk, s3 += a3[k] * bk;
      }
      c0[j] = s0, c1[j] = s1, c2[j] = s2, c3[j] = s3;
    }
  }
  for (; i < M; i++) {
    const f32 *a = A + i * lda;
    f32 *c = C + i * ldc;
    if (!acc) vzero(N, c);
    for (int k = 0; k < K; k++) axpy(N, a[k], B + k * ldb, c);
  }
}

/**
 * C (+)= Aᵀ·B for A stored [K,M] (lda), B [K,N]: the four entries of a row of A that a 4×8 block
 * needs are four broadcast loads (load-port ops) rather than one load and four shuffles.
 */
static void block_tn(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  int i = 0;
  for (; i + 4 <= M; i += 4) {
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
      const f32 *a = A + i, *b = B + j;
      for (int k = 0; k < K; k++, a += lda, b += ldb) {
        v4 b0 = vld(b), b1 = vld(b + 4), x;
        x = vld1(a), s00 = vmadd(s00, x, b0), s01 = vmadd(s01, x, b1);
        x = vld1(a + 1), s10 = vmadd(s10, x, b0), s11 = vmadd(s11, x, b1);
        x = vld1(a + 2), s20 = vmadd(s20, x, b0), s21 = vmadd(s21, x, b1);
        x = vld1(a + 3), s30 = vmadd(s30, x, b0), s31 = vmadd(s31, x, b1);
      }
      vst(c0 + j, s00), vst(c0 + j + 4, s01), vst(c1 + j, s10), vst(c1 + j + 4, s11);
      vst(c2 + j, s20), vst(c2 + j + 4, s21), vst(c3 + j, s30), vst(c3 + j + 4, s31);
    }
    for (; j + 4 <= N; j += 4) {
      v4 s0 = acc ? vld(c0 + j) : vsplat(0), s1 = acc ? vld(c1 + j) : vsplat(0);
      v4 s2 = acc ? vld(c2 + j) : vsplat(0), s3 = acc ? vld(c3 + j) : vsplat(0);
      const f32 *a = A + i, *b = B + j;
      for (int k = 0; k < K; k++, a += lda, b += ldb) {
        v4 b0 = vld(b);
        s0 = vmadd(s0, vld1(a), b0), s1 = vmadd(s1, vld1(a + 1), b0);
        s2 = vmadd(s2, vld1(a + 2), b0), s3 = vmadd(s3, vld1(a + 3), b0);
      }
      vst(c0 + j, s0), vst(c1 + j, s1), vst(c2 + j, s2), vst(c3 + j, s3);
    }
    for (; j < N; j++) {
      f32 s0 = acc ? c0[j] : 0, s1 = acc ? c1[j] : 0, s2 = acc ? c2[j] : 0, s3 = acc ? c3[j] : 0;
      for (int k = 0; k < K; k++) {
        const f32 *a = A + k * lda + i;
        f32 bk = B[k * ldb + j];
        s0 += a[0] * bk, s1 += a[1] * bk, s2 += a[2] * bk, s3 += a[3] * bk;
      }
      c0[j] = s0, c1[j] = s1, c2[j] = s2, c3[j] = s3;
    }
  }
  for (; i < M; i++) {
    f32 *c = C + i * ldc;
    if (!acc) vzero(N, c);
    for (int k = 0; k < K; k++) axpy(N, A[k * lda + i], B + k * ldb, c);
  }
}

// ---------------------------------------------------------------- GEMM drivers

/**
 * The KC×NC block of B at B (stride ldb) as the micro-kernels read it: in place when rows are close,
 * else copied contiguous. Rows 1 KiB or more apart (B = W_U or logits at V ≥ 256) alias in the L1
 * cache — at a 4 KiB stride all rows of a block fall into one set — and the block would stream from
 * L2 for every 4 rows of A.
 */
static const f32 *pack_b(int kc, int nc, const f32 *B, int ldb, int *ld) {
  if (ldb < 256) {
    *ld = ldb;
    return B;
  }
  for (int k = 0; k < kc; k++) {
    const f32 *b = B + k * ldb;
    f32 *o = bpack + k * nc;
    int j = 0;
    for (; j + 4 <= nc; j += 4) vst(o + j, vld(b + j));
    for (; j < nc; j++) o[j] = b[j];
  }
  *ld = nc;
  return bpack;
}

/**
 * C (+)= A·B: MC-row chunks, then NC-column blocks, then KC-deep blocks. Rows outermost: a row of
 * C at N = V is a whole 4 KiB page, and walking a narrow column strip down all M rows would touch
 * one page (and one TLB entry) per row.
 */
static void gemm_nn(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (K == 0) {
    if (!acc) for (int i = 0; i < M; i++) vzero(N, C + i * ldc);
    return;
  }
  for (int i0 = 0; i0 < M; i0 += MC) {
    int mc = imin(MC, M - i0);
    for (int j0 = 0; j0 < N; j0 += NC) {
      int nc = imin(NC, N - j0);
      for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = imin(KC, K - k0), ld;
        const f32 *b = pack_b(kc, nc, B + k0 * ldb + j0, ldb, &ld);
        block_nn(mc, nc, kc, A + i0 * lda + k0, lda, b, ld, C + i0 * ldc + j0, ldc, acc || k0 > 0);
      }
    }
  }
}

/**
 * C (+)= Aᵀ·B for A [K,M]: the long depth (rows of a batch) in KC-deep blocks, outermost, so each
 * block of rows of B is read once, whole; NC-column blocks within.
 */
static void gemm_tn(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (K == 0) {
    if (!acc) for (int i = 0; i < M; i++) vzero(N, C + i * ldc);
    return;
  }
  for (int k0 = 0; k0 < K; k0 += KC) {
    int kc = imin(KC, K - k0);
    for (int j0 = 0; j0 < N; j0 += NC) {
      int nc = imin(NC, N - j0), ld;
      const f32 *b = pack_b(kc, nc, B + k0 * ldb + j0, ldb, &ld);
      block_tn(M, nc, kc, A + k0 * lda, lda, b, ld, C + j0, ldc, acc || k0 > 0);
    }
  }
}

/**
 * out[c, r] = A[r, c] for A [R, Cn] (row stride lda), out's row stride ldo: 4×4 blocks through
 * registers where whole blocks fit, element by element at the edges.
 */
static void transpose(int R, int Cn, const f32 *A, int lda, f32 *out, int ldo) {
  int r0 = 0;
  for (; r0 + 4 <= R; r0 += 4) {
    const f32 *a = A + r0 * lda;
    int c0 = 0;
    for (; c0 + 4 <= Cn; c0 += 4) {
      v4 x0 = vld(a + c0), x1 = vld(a + lda + c0), x2 = vld(a + 2 * lda + c0), x3 = vld(a + 3 * lda + c0);
      v4 t0 = wasm_i32x4_shuffle(x0, x1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(x0, x1, 2, 6, 3, 7);
      v4 t2 = wasm_i32x4_shuffle(x2, x3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(x2, x3, 2, 6, 3, 7);
      f32 *o = out + c0 * ldo + r0;
      vst(o, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5)), vst(o + ldo, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
      vst(o + 2 * ldo, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5)), vst(o + 3 * ldo, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
    }
    for (; c0 < Cn; c0++)
      for (int r = r0; r < r0 + 4; r++) out[c0 * ldo + r] = A[r * lda + c0];
  }
  for (; r0 < R; r0++)
    for (int c = 0; c < Cn; c++) out[c * ldo + r0] = A[r0 * lda + c];
}

/** C (+)= op(A)·B where B is stored [N,K] (op(B) = Bᵀ): panels of rows of B are transposed into scratch. */
static void gemm_nt(int tA, int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  int nb = PANEL / (K > 0 ? K : 1);
  nb = nb >= 8 ? nb & ~7 : nb;
  if (nb < 1) nb = 1;
  for (int j0 = 0; j0 < N; j0 += nb) {
    int nc = imin(nb, N - j0);
    transpose(nc, K, B + j0 * ldb, ldb, panel, nc);
    if (tA) gemm_tn(M, nc, K, A, lda, panel, nc, C + j0, ldc, acc);
    else gemm_nn(M, nc, K, A, lda, panel, nc, C + j0, ldc, acc);
  }
}

EXPORT(lm_gemm) void lm_gemm(int tA, int tB, int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (tB) gemm_nt(tA, M, N, K, A, lda, B, ldb, C, ldc, acc);
  else if (tA) gemm_tn(M, N, K, A, lda, B, ldb, C, ldc, acc);
  else gemm_nn(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

// ---------------------------------------------------------------- e^x

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
 * e^x lane-wise for x ≤ 0, the same approximation as exp_nonpos (transformer.c's exp_nonpos4):
 * n = round(x·log₂e) by the 1.5·2²³ trick, which leaves n in the low mantissa bits, so 2ⁿ is those
 * bits + 127 shifted into the exponent. x below −87.3 gives ≈ 1e-38 instead of 0 (harmless in a sum
 * whose largest term is 1).
 */
static inline v4 exp_nonpos4(v4 x) {
  const v4 magic = vsplat(12582912.0f); // 1.5·2²³
  x = wasm_f32x4_pmax(x, vsplat(-87.3f));
  v4 t = vadd(vmul(x, vsplat(1.44269504088896341f)), magic); // not fused: n as round(round(x·log₂e))
  v4 n = wasm_f32x4_sub(t, magic);
  v4 r = wasm_f32x4_sub(wasm_f32x4_sub(x, vmul(n, vsplat(0.693145751953125f))), vmul(n, vsplat(1.428606765330187045e-06f)));
  v4 p = vsplat(1.0f / 5040);
  p = vmadd(vsplat(1.0f / 720), p, r);
  p = vmadd(vsplat(1.0f / 120), p, r);
  p = vmadd(vsplat(1.0f / 24), p, r);
  p = vmadd(vsplat(1.0f / 6), p, r);
  p = vmadd(vsplat(0.5f), p, r);
  p = vmadd(vsplat(1.0f), p, r);
  p = vmadd(vsplat(1.0f), p, r);
  v4 scale = wasm_i32x4_shl(wasm_i32x4_add(t, wasm_i32x4_splat(127)), 23); // bits of t = 0x4B400000 + n
  return vmul(p, scale);
}

// ---------------------------------------------------------------- softmax pieces

/**
 * One row x[0 … n) of logits with target t ≥ 0 → (softmax − onehot(t))·inv in place; *partial =
 * max − x[t], *sum = Σ exp(x − max) (the row's loss is partial + ln(sum); the host takes the log).
 */
static void xent_row(int n, f32 *x, int t, f32 inv, f32 *partial, f32 *sum) {
  int n4 = n & ~3, j;
  v4 mv = vsplat(-3.4e38f);
  for (j = 0; j < n4; j += 4) mv = wasm_f32x4_pmax(mv, vld(x + j));
  f32 m = hmax(mv);
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  *partial = m - x[t];
  v4 sv = vsplat(0), mm = vsplat(m);
  for (j = 0; j < n4; j += 4) {
    v4 e = exp_nonpos4(wasm_f32x4_sub(vld(x + j), mm));
    vst(x + j, e);
    sv = vadd(sv, e);
  }
  f32 s = hsum(sv);
  for (; j < n; j++) s += (x[j] = exp_nonpos(x[j] - m));
  *sum = s;
  f32 k = inv / s;
  v4 kv = vsplat(k);
  for (j = 0; j < n4; j += 4) vst(x + j, vmul(vld(x + j), kv));
  for (; j < n; j++) x[j] *= k;
  x[t] -= inv;
}

/**
 * Softmax cross-entropy over rows of logits [N,V] in place (xent_row); rows with a negative
 * target become 0 with partial 0, sum 1.
 */
EXPORT(lm_xent) void lm_xent(int N, int V, f32 *logits, const f32 *targets, f32 inv, f32 *partial, f32 *sum) {
  for (int n = 0; n < N; n++) {
    f32 *x = logits + (long)n * V;
    int t = (int)targets[n];
    if (t < 0) {
      vzero(V, x);
      partial[n] = 0, sum[n] = 1;
      continue;
    }
    xent_row(V, x, t, inv, partial + n, sum + n);
  }
}

/**
 * The unembedding and the loss in one pass over row chunks (XENT_ROWS rows): for rows n of y [N,d],
 * logits = y·W_U + b_U, softmax cross-entropy in place (lm_xent's contract: partial, sum, rows with
 * target < 0 give 0), then dW_U += yᵀ·dlogits, db_U += Σ_rows dlogits and dy = dlogits·W_Uᵀ. A chunk's
 * logits stay in cache between the forward product and the two backward ones. dW_U and db_U
 * accumulate (the host zeroes them); scratch holds XENT_ROWS·V + V·d floats.
 */
EXPORT(lm_unembed_xent) void lm_unembed_xent(int N, int d, int V, const f32 *y, const f32 *W_U, const f32 *b_U, const f32 *targets, f32 inv, f32 *partial, f32 *sum, f32 *dW_U, f32 *db_U, f32 *dy, f32 *scratch) {
  f32 *logits = scratch, *wt = scratch + XENT_ROWS * V;
  transpose(d, V, W_U, V, wt, d); // W_Uᵀ [V,d] for dy = dlogits·W_Uᵀ
  for (int r0 = 0; r0 < N; r0 += XENT_ROWS) {
    int rows = imin(XENT_ROWS, N - r0);
    for (int r = 0; r < rows; r++) {
      f32 *x = logits + r * V;
      for (int j = 0; j + 4 <= V; j += 4) vst(x + j, vld(b_U + j));
      for (int j = V & ~3; j < V; j++) x[j] = b_U[j];
    }
    gemm_nn(rows, V, d, y + (long)r0 * d, d, W_U, V, logits, V, 1);
    for (int r = 0; r < rows; r++) {
      int n = r0 + r, t = (int)targets[n];
      f32 *x = logits + r * V;
      if (t < 0) {
        vzero(V, x);
        partial[n] = 0, sum[n] = 1;
      } else {
        xent_row(V, x, t, inv, partial + n, sum + n);
      }
      axpy(V, 1.0f, x, db_U);
    }
    gemm_tn(d, V, rows, y + (long)r0 * d, d, logits, V, dW_U, V, 1);
    gemm_nn(rows, d, V, logits, V, wt, d, dy + (long)r0 * d, d, 0);
  }
}

/** Rows i of S [T,T] (ld): softmax over j ≤ i of scale·S[i,j]; zero above the diagonal. */
static void causal_softmax_row(int n, int T, f32 *r, f32 scale) {
  int n4 = n & ~3, j;
  v4 sc = vsplat(scale);
  v4 mv = vsplat(-3.4e38f);
  for (j = 0; j < n4; j += 4) mv = wasm_f32x4_pmax(mv, vmul(vld(r + j), sc));
  f32 m = hmax(mv);
  for (; j < n; j++) m = r[j] * scale > m ? r[j] * scale : m;
  v4 sv = vsplat(0), mm = vsplat(m);
  for (j = 0; j < n4; j += 4) {
    v4 e = exp_nonpos4(wasm_f32x4_sub(vmul(vld(r + j), sc), mm));
    vst(r + j, e);
    sv = vadd(sv, e);
  }
  f32 s = hsum(sv);
  for (; j < n; j++) s += (r[j] = exp_nonpos(r[j] * scale - m));
  v4 kv = vsplat(1.0f / s);
  f32 k = 1.0f / s;
  for (j = 0; j < n4; j += 4) vst(r + j, vmul(vld(r + j), kv));
  for (; j < n; j++) r[j] *= k;
  for (; j < T; j++) r[j] = 0;
}

EXPORT(lm_causal_softmax) void lm_causal_softmax(int T, f32 *S, int ld, f32 scale) {
  for (int i = 0; i < T; i++) causal_softmax_row(i + 1, T, S + (long)i * ld, scale);
}

/** One row: g[0 … n) ← scale · p ⊙ (g − Σ g⊙p), zeros on [n, T). */
static void causal_softmax_bwd_row(int n, int T, const f32 *p, f32 *g, f32 scale) {
  int n4 = n & ~3, j;
  v4 sv = vsplat(0);
  for (j = 0; j < n4; j += 4) sv = vmadd(sv, vld(g + j), vld(p + j));
  f32 s = hsum(sv);
  for (; j < n; j++) s += g[j] * p[j];
  v4 ss = vsplat(s), sc = vsplat(scale);
  for (j = 0; j < n4; j += 4) vst(g + j, vmul(vmul(vld(p + j), wasm_f32x4_sub(vld(g + j), ss)), sc));
  for (; j < n; j++) g[j] = p[j] * (g[j] - s) * scale;
  for (; j < T; j++) g[j] = 0;
}

/** dP [T,T] (ld T) ← scale · P ⊙ (dP − rowsum(dP ⊙ P)) below the diagonal, 0 above. */
EXPORT(lm_causal_softmax_bwd) void lm_causal_softmax_bwd(int T, const f32 *P, int ldp, f32 *dP, f32 scale) {
  for (int i = 0; i < T; i++) causal_softmax_bwd_row(i + 1, T, P + (long)i * ldp, dP + (long)i * T, scale);
}

// ---------------------------------------------------------------- causal attention

/** Keys that query rows i0 … i0+3 read, rounded up to whole 8-column blocks (≤ T). */
static inline int seen(int i0, int T) { return imin(T, (i0 + 4 + 7) & ~7); }

/**
 * Causal attention of every sequence b and head h: for q, k, v [B·T, H·dh] (head h at column h·dh),
 * probs[b,h] = softmax_causal(q_h k_hᵀ·scale) [T,T] (zero above the diagonal) and z_h = probs·v_h.
 * Each 4-query block computes scores only up to the last key it sees (rounded up to 8).
 */
EXPORT(lm_attn_fwd) void lm_attn_fwd(int B, int T, int H, int dh, const f32 *q, const f32 *k, const f32 *v, f32 *probs, f32 *z, f32 scale) {
  const int ld = H * dh;
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const long ro = (long)b * T * ld + h * dh;
      f32 *P = probs + ((long)b * H + h) * T * T;
      transpose(T, dh, k + ro, ld, attn_t, T); // kᵀ [dh, T]
      for (int i0 = 0; i0 < T; i0 += 4) {
        int rows = imin(4, T - i0);
        block_nn(rows, seen(i0, T), dh, q + ro + (long)i0 * ld, ld, attn_t, T, P + i0 * T, T, 0);
        for (int i = i0; i < i0 + rows; i++) causal_softmax_row(i + 1, T, P + i * T, scale);
        block_nn(rows, dh, imin(T, i0 + 4), P + i0 * T, T, v + ro, ld, z + ro + (long)i0 * ld, ld, 0);
      }
    }
  }
}

/**
 * Backward of lm_attn_fwd: from dz [B·T, H·dh], writes dq, dk, dv (same layout). dP [T,T] is scratch.
 * dP = dz vᵀ and dS = softmax′ (keys ≤ query), dv = Pᵀ dz and dk = dSᵀ q (queries ≥ key), dq = dS k.
 */
EXPORT(lm_attn_bwd) void lm_attn_bwd(int B, int T, int H, int dh, const f32 *q, const f32 *k, const f32 *v, const f32 *probs, const f32 *dz, f32 *dq, f32 *dk, f32 *dv, f32 *dP, f32 scale) {
  const int ld = H * dh;
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const long ro = (long)b * T * ld + h * dh;
      const f32 *P = probs + ((long)b * H + h) * T * T;
      transpose(T, dh, v + ro, ld, attn_t, T); // vᵀ [dh, T]
      for (int i0 = 0; i0 < T; i0 += 4) {
        int rows = imin(4, T - i0);
        block_nn(rows, seen(i0, T), dh, dz + ro + (long)i0 * ld, ld, attn_t, T, dP + i0 * T, T, 0);
        for (int i = i0; i < i0 + rows; i++) causal_softmax_bwd_row(i + 1, seen(i0, T), P + i * T, dP + i * T, scale);
        block_nn(rows, dh, imin(T, i0 + 4), dP + i0 * T, T, k + ro, ld, dq + ro + (long)i0 * ld, ld, 0);
      }
      // Key rows j0 … j0+3 gather queries i ≥ j0 (P and dS are zero above the diagonal).
      for (int j0 = 0; j0 < T; j0 += 4) {
        int rows = imin(4, T - j0);
        block_tn(rows, dh, T - j0, P + j0 * T + j0, T, dz + ro + (long)j0 * ld, ld, dv + ro + (long)j0 * ld, ld, 0);
        block_tn(rows, dh, T - j0, dP + j0 * T + j0, T, q + ro + (long)j0 * ld, ld, dk + ro + (long)j0 * ld, ld, 0);
      }
    }
  }
}
