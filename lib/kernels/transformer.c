// Fused forward + backward of the regression transformer (docs/model.md) in WebAssembly SIMD128.
//
// Why this exists (bench/perf.md): on tfjs-wasm a training step is ~690 small kernels, most of them
// on slow paths (batched attention matmuls, transposes, column sums run as scalar loops at
// ≈1 GFLOP/s). Here one call does the whole step over flat float32 buffers: dense products go
// through one register-blocked GEMM, attention exploits the causal mask (j ≤ i only), and the
// element-wise chains (LayerNorm, softmax, ReLU, residuals) are fused into single passes.
//
// The maths is exactly lib/model.ts: the double residual x ← 2x + a + m, head-major fused QKV,
// LayerNorm with biased variance and eps inside the square root, softmax over j ≤ i, and the loss
// mean_k mean_b (ŷ_bk − y_bk)² with ŷ_bk = y[b, 2k, 0]. Everything is float32; the plain build has
// no FMA (SIMD128 has none), so each product is rounded before its sum, as in tfjs; the relaxed-SIMD
// build fuses the multiply-adds (build.sh).
//
// Work the loss never reads is skipped, exactly (docs/model.md, "Computing the loss"): in the last
// layer, queries and everything after attention are computed at the x-tokens only (chunk_forward),
// and the layers below it skip each sequence's last position (layer_positions).
// The batch goes through forward and backward in chunks of a few sequences, so that a chunk's
// activations stay in cache (begin_chunk).
//
// Memory: a bump allocator over the module's linear memory, laid out once per (config, batch)
// by `setup`. The host writes parameters (canonical order, paramSpecs in lib/model.ts), xs and ys
// into the buffers whose offsets `setup` publishes, calls `loss_and_grads`, `forward` or `predict`,
// and reads the gradients (same layout as the parameters), per-position losses and outputs back.
#include <wasm_simd128.h>

typedef float f32;
typedef v128_t v4;

extern unsigned char __heap_base;

#define EXPORT(name) __attribute__((export_name(#name)))
#ifdef PROFILE // profiling build only (bench/perf.md): the host times the span up to each mark
__attribute__((import_module("env"), import_name("mark"))) void mark(int section);
#define MARK(section) mark(section)
#else
#define MARK(section)
#endif
#define MAX_LAYERS 64
#define LN_EPS 1e-5f
// GEMM blocking (measured on the model's shapes, bench/perf.md): depth blocks of KC rows keep the
// KC×N panel of B (16 KiB at N = 64) in L1 across all row blocks of A — at depth 192 (dx = dz·W_qkv)
// or the weight gradients' depth B·T, an unblocked B panel streams from L2 for every 4 rows — and
// MC-row chunks keep the rows of A and C that the depth blocks revisit in L2.
#define KC 64
#define MC 128

static f32 *scr_at; // a transposed KC-deep block of A for gemm_tt_block [at_rows, KC]
static int at_rows;

static inline v4 vsplat(f32 x) { return wasm_f32x4_splat(x); }
static inline v4 vld(const f32 *p) { return wasm_v128_load(p); }
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

// ---------------------------------------------------------------- small vector helpers

static void vzero(int n, f32 *y) {
  int i = 0;
  for (; i + 4 <= n; i += 4) vst(y + i, wasm_f32x4_splat(0));
  for (; i < n; i++) y[i] = 0;
}

/** y += α x */
static inline void axpy(int n, f32 alpha, const f32 *x, f32 *y) {
  v4 a = vsplat(alpha);
  int i = 0;
  for (; i + 4 <= n; i += 4) vst(y + i, vmadd(vld(y + i), a, vld(x + i)));
  for (; i < n; i++) y[i] += alpha * x[i];
}

static inline f32 vsum(int n, const f32 *x) {
  v4 s = vsplat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) s = vadd(s, vld(x + i));
  f32 r = hsum(s);
  for (; i < n; i++) r += x[i];
  return r;
}

// ---------------------------------------------------------------- GEMM: C (+)= A·B, row-major

static void gemm_block(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
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
        x = vsplat(a0[k]), s00 = vmadd(s00, x, b0), s01 = vmadd(s01, x, b1);
        x = vsplat(a1[k]), s10 = vmadd(s10, x, b0), s11 = vmadd(s11, x, b1);
        x = vsplat(a2[k]), s20 = vmadd(s20, x, b0), s21 = vmadd(s21, x, b1);
        x = vsplat(a3[k]), s30 = vmadd(s30, x, b0), s31 = vmadd(s31, x, b1);
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
        s0 = vmadd(s0, vsplat(a0[k]), b0), s1 = vmadd(s1, vsplat(a1[k]), b0);
        s2 = vmadd(s2, vsplat(a2[k]), b0), s3 = vmadd(s3, vsplat(a3[k]), b0);
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

/** C[M,N] = (acc ? C : 0) + A[M,K]·B[K,N], in MC-row chunks of KC-deep blocks. */
static void gemm(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (K == 0) {
    if (!acc) for (int i = 0; i < M; i++) vzero(N, C + i * ldc);
    return;
  }
  for (int i0 = 0; i0 < M; i0 += MC) {
    int mc = M - i0 < MC ? M - i0 : MC;
    for (int k0 = 0; k0 < K; k0 += KC) {
      int kc = K - k0 < KC ? K - k0 : KC;
      gemm_block(mc, N, kc, A + i0 * lda + k0, lda, B + k0 * ldb, ldb, C + i0 * ldc, ldc, acc || k0 > 0);
    }
  }
}

/**
 * C[M,N] = (acc ? C : 0) + Aᵀ·B for A [K, M] (row-major, so Aᵀ is read without a transpose: each
 * of four consecutive entries of a row of A is one broadcast load — a load-port op, where splatting
 * one vector load lane by lane takes shuffles) and B [K, N]. Weight gradients go through
 * gemm_tn, which takes gemm_tt_block instead where N is a multiple of 8 (faster in the model); this
 * form serves the embedding gradient (N = V), the x-token-only layer's W_qkv gradient (qkv_bwd) and
 * the small products of attention.
 */
static void gemm_tn_block(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
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
        x = vsplat(a[0]), s00 = vmadd(s00, x, b0), s01 = vmadd(s01, x, b1);
        x = vsplat(a[1]), s10 = vmadd(s10, x, b0), s11 = vmadd(s11, x, b1);
        x = vsplat(a[2]), s20 = vmadd(s20, x, b0), s21 = vmadd(s21, x, b1);
        x = vsplat(a[3]), s30 = vmadd(s30, x, b0), s31 = vmadd(s31, x, b1);
      }
      vst(c0 + j, s00), vst(c0 + j + 4, s01), vst(c1 + j, s10), vst(c1 + j + 4, s11);
      vst(c2 + j, s20), vst(c2 + j + 4, s21), vst(c3 + j, s30), vst(c3 + j + 4, s31);
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

static inline int imin(int a, int b) { return a < b ? a : b; }

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

/**
 * One KC-deep block of C (+)= Aᵀ·B as a plain product: the block of A [kc, M] is first transposed
 * into scr_at [M, kc]. In the model this runs the weight gradients 1.3–1.4× faster than
 * gemm_tn_block's strided broadcasts (bench/perf.md, issue 14 round 3; in isolation the two are
 * alike). The sums are the same, term by term in the same order (k ascending, one vmadd per term, C
 * reloaded between blocks), so the results are bit-identical to gemm_tn_block's wherever both take
 * the 4×8 path: N a multiple of 8 (gemm_tn checks).
 */
static void gemm_tt_block(int M, int N, int kc, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  transpose(kc, M, A, lda, scr_at, kc);
  gemm_block(M, N, kc, scr_at, kc, B, ldb, C, ldc, acc);
}

/** C[M,N] = (acc ? C : 0) + Aᵀ·B for A [K, M], B [K, N], in KC-deep blocks: the weight gradient dW = dyᵀ x. */
static void gemm_tn(int M, int N, int K, const f32 *A, int lda, const f32 *B, int ldb, f32 *C, int ldc, int acc) {
  if (K == 0) {
    if (!acc) for (int i = 0; i < M; i++) vzero(N, C + i * ldc);
    return;
  }
  int tt = N % 8 == 0 && M <= at_rows; // otherwise (the embedding's N = V) the strided form, whose columns past the last 8 are scalar
  for (int k0 = 0; k0 < K; k0 += KC) {
    int kc = K - k0 < KC ? K - k0 : KC;
    (tt ? gemm_tt_block : gemm_tn_block)(M, N, kc, A + k0 * lda, lda, B + k0 * ldb, ldb, C, ldc, acc || k0 > 0);
  }
}

/** out[c] += Σ_r A[r, c] (bias gradients). */
static void colsum(int R, int Cn, const f32 *A, f32 *out) {
  for (int r = 0; r < R; r++) axpy(Cn, 1.0f, A + r * Cn, out);
}

/** dr ← dr·[r > 0] (ReLU'), and db += Σ_rows dr, in one pass. */
static void relu_bwd_colsum(int R, int Cn, const f32 *r, f32 *dr, f32 *db) {
  v4 zero = vsplat(0);
  for (int n = 0; n < R; n++) {
    const f32 *rr = r + n * Cn;
    f32 *g_ = dr + n * Cn;
    int i = 0;
    for (; i + 4 <= Cn; i += 4) {
      v4 v = wasm_v128_and(vld(g_ + i), wasm_f32x4_gt(vld(rr + i), zero));
      vst(g_ + i, v), vst(db + i, vadd(vld(db + i), v));
    }
    for (; i < Cn; i++) {
      g_[i] = rr[i] > 0 ? g_[i] : 0;
      db[i] += g_[i];
    }
  }
}

// ---------------------------------------------------------------- configuration and buffers

typedef struct {
  f32 *qkv, *wo, *w1, *b1, *w2, *b2, *ln0g, *ln0b, *ln1g, *ln1b;
} LayerParams;

typedef struct {
  f32 *tok, *pos;
  LayerParams layer[MAX_LAYERS];
  f32 *lnfg, *lnfb, *wun, *bun;
} Params;

/** What the backward pass needs from each layer's forward pass. */
typedef struct {
  f32 *x;            // layer input [N, d]
  f32 *xhat0, *rstd0; // LN₀ normalised input and 1/σ per row
  f32 *u0;           // LN₀ output [N, d]
  f32 *z;            // fused QKV [N, 3d], head-major per row
  f32 *prob;         // softmax, key-major [B, H, Tp, queries rounded up to whole vectors] (attn_fwd)
  // From here on one row per query: N rows, or B·K (the x-tokens) in the last layer of forward_pass(1).
  f32 *o;            // heads concatenated [·, d]
  f32 *a;            // attention output [·, d] (= o without W_O)
  f32 *xhat1, *rstd1, *u1; // LN₁ of h = x + a
  f32 *r;            // ReLU output [·, mlp]
} LayerSave;

/** Wᵀ [in, out] of every weight W [out, in], so that each forward product y = x·Wᵀ is a plain GEMM: made once per call (prepare_weights). */
typedef struct {
  f32 *tok, *pos, *un; // W_tokᵀ [V, d], the positions as rows [T, d], W_unᵀ [d, V]
  f32 *qkv[MAX_LAYERS], *wo[MAX_LAYERS], *w1[MAX_LAYERS], *w2[MAX_LAYERS];
} WeightsT;

static WeightsT WT;

static struct {
  int B, T, D, V, d, H, c, mlp, L, ln, out, K, N; // B, N: the sequences and rows of the chunk being computed
  int batch, chunk; // sequences in the call (host buffers), and at most per chunk (activation buffers)
  int Tp; // T rounded up to whole vectors
  int nparams;
} g;

static Params P, G;
static LayerSave S[MAX_LAYERS];
static f32 *params, *grads, *xs, *ys, *perpos, *outputs;
static f32 *tokens, *xf, *xhatf, *rstdf, *uf;
static double *sse;            // per-position sums of squared errors [K] over the chunks
static f32 *tmp_nd, *tmp_nd2, *tmp_nm, *tmp_n3d, *tmp_t; // scratch; tmp_t: one value per row
static f32 *scr_pos;           // position-embedding gradient as rows [T, d], summed over the chunks
static f32 *g_res, *g_next;    // residual-stream gradients
static f32 *scr_t;  // qᵀ or dOᵀ of one (sequence, head) [c, Tqp]
static f32 *scr_d;  // one row of width d
static f32 *scr_tt; // dPᵀ, then dSᵀ, of one (sequence, head) [Tp, Tqp]

static unsigned long heap_top;

static f32 *alloc_f32(unsigned long n) {
  unsigned long start = (heap_top + 15) & ~15ul;
  unsigned long end = start + n * sizeof(f32);
  unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
  if (end > have) {
    unsigned long pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (unsigned long)-1) return 0;
  }
  heap_top = end;
  return (f32 *)start;
}

static void walk(f32 *base, Params *p) {
  int d = g.d, V = g.V, mlp = g.mlp;
  f32 *q = base;
  p->tok = q, q += d * V;
  p->pos = q, q += d * g.T;
  for (int l = 0; l < g.L; l++) {
    LayerParams *lp = &p->layer[l];
    lp->qkv = q, q += 3 * d * d;
    lp->wo = 0;
    if (g.out) lp->wo = q, q += d * d;
    lp->w1 = q, q += mlp * d;
    lp->b1 = q, q += mlp;
    lp->w2 = q, q += d * mlp;
    lp->b2 = q, q += d;
    lp->ln0g = lp->ln0b = lp->ln1g = lp->ln1b = 0;
    if (g.ln) {
      lp->ln0g = q, q += d;
      lp->ln0b = q, q += d;
      lp->ln1g = q, q += d;
      lp->ln1b = q, q += d;
    }
  }
  p->lnfg = p->lnfb = 0;
  if (g.ln) p->lnfg = q, q += d, p->lnfb = q, q += d;
  p->wun = q, q += V * d;
  p->bun = q, q += V;
  g.nparams = (int)(q - base);
}

// Exported addresses of the host-visible buffers, valid after setup until the next setup.
EXPORT(params_ptr) f32 *params_ptr(void) { return params; }
EXPORT(grads_ptr) f32 *grads_ptr(void) { return grads; }
EXPORT(xs_ptr) f32 *xs_ptr(void) { return xs; }
EXPORT(ys_ptr) f32 *ys_ptr(void) { return ys; }
EXPORT(perpos_ptr) f32 *perpos_ptr(void) { return perpos; }
EXPORT(outputs_ptr) f32 *outputs_ptr(void) { return outputs; }
EXPORT(param_count) int param_count(void) { return g.nparams; }

// Rows (B·T) per chunk (begin_chunk): one chunk's activations of every layer, ≈ 3 KiB a row, stay in
// L2 from its forward to its backward. Measured (bench/perf.md): 64 and 128 rows alike, 256 rows
// 2–6% slower, 1,024 rows another 8–14%.
#define CHUNK_ROWS 128

/**
 * Lays out every buffer for batch B of the model (D, K, L, H, d, mlp, LayerNorm?, W_O?), T = 2K:
 * the host-visible ones for all B sequences, the activations for one chunk (begin_chunk).
 * Returns the parameter count, or −1 when a size is out of range, −2 when memory cannot grow.
 */
EXPORT(setup) int setup(int B, int D, int K, int L, int H, int d, int mlp, int ln, int out) {
  if (B < 1 || D < 1 || K < 1 || L < 1 || L > MAX_LAYERS || H < 1 || d < 1 || mlp < 1 || d % H) return -1;
  g.D = D, g.V = D + 1, g.K = K, g.T = 2 * K, g.L = L, g.H = H, g.d = d, g.c = d / H, g.mlp = mlp;
  g.ln = ln != 0, g.out = out != 0, g.Tp = (g.T + 3) & ~3;
  g.batch = B, g.chunk = imin(B, CHUNK_ROWS / g.T > 1 ? CHUNK_ROWS / g.T : 1);
  g.B = g.chunk, g.N = g.chunk * g.T;
  unsigned long N = g.N, T = g.T, Tp = g.Tp, V = g.V, Bc = g.chunk;
  heap_top = (unsigned long)&__heap_base;
  at_rows = 3 * d > mlp ? 3 * d : mlp; // the most outputs of a weight (gemm_tn)
  walk((f32 *)16, &P); // counts parameters only
  unsigned long np = g.nparams;
  int ok = (params = alloc_f32(np)) && (grads = alloc_f32(np)) && (xs = alloc_f32((unsigned long)B * K * D)) && (ys = alloc_f32((unsigned long)B * K)) &&
           (perpos = alloc_f32(K)) && (sse = (double *)alloc_f32(2 * (unsigned long)K)) && (outputs = alloc_f32((unsigned long)B * T * V)) &&
           (tokens = alloc_f32(N * V)) && (xf = alloc_f32(N * d)) && (tmp_nd = alloc_f32(N * d)) && (tmp_nd2 = alloc_f32(N * d)) &&
           (tmp_nm = alloc_f32(N * mlp)) && (tmp_n3d = alloc_f32(N * 3 * d)) && (tmp_t = alloc_f32(N)) && (g_res = alloc_f32(N * d)) &&
           (g_next = alloc_f32(N * d)) && (scr_t = alloc_f32(g.c * Tp)) && (scr_d = alloc_f32(d)) && (scr_at = alloc_f32((unsigned long)at_rows * KC)) && (scr_tt = alloc_f32(Tp * Tp)) &&
           (scr_pos = alloc_f32(T * d)) && (WT.tok = alloc_f32(V * d)) && (WT.pos = alloc_f32(T * d)) && (WT.un = alloc_f32(d * V));
  if (ok && g.ln) ok = (xhatf = alloc_f32(N * d)) && (rstdf = alloc_f32(N)) && (uf = alloc_f32(N * d));
  for (int l = 0; ok && l < L; l++) {
    LayerSave *s = &S[l];
    ok = (s->x = alloc_f32(N * d)) && (s->z = alloc_f32(N * 3 * d)) && (s->prob = alloc_f32(Bc * H * Tp * Tp)) && (s->o = alloc_f32(N * d)) &&
         (s->r = alloc_f32(N * mlp)) && (WT.qkv[l] = alloc_f32(3 * d * d)) && (WT.w1[l] = alloc_f32(d * mlp)) && (WT.w2[l] = alloc_f32(mlp * d));
    s->a = s->o;
    if (ok && g.out) ok = (s->a = alloc_f32(N * d)) && (WT.wo[l] = alloc_f32(d * d));
    s->u0 = s->x, s->xhat0 = s->rstd0 = 0;
    if (ok && g.ln) ok = (s->xhat0 = alloc_f32(N * d)) && (s->rstd0 = alloc_f32(N)) && (s->u0 = alloc_f32(N * d));
    if (ok) ok = (s->u1 = alloc_f32(N * d)) != 0; // LN₁'s input h = x + a lives here when LN is off
    s->xhat1 = s->rstd1 = 0;
    if (ok && g.ln) ok = (s->xhat1 = alloc_f32(N * d)) && (s->rstd1 = alloc_f32(N));
  }
  if (!ok) return -2;
  vzero(Tp * Tp, scr_tt); // rows ≥ T of dPᵀ are never written, and read as finite numbers (attn_bwd)
  if (!g.ln) uf = xf;
  walk(params, &P);
  walk(grads, &G);
  return g.nparams;
}

// ---------------------------------------------------------------- LayerNorm

static void ln_fwd(int N, int d, const f32 *x, const f32 *gam, const f32 *bet, f32 *xhat, f32 *rstd, f32 *u) {
  for (int n = 0; n < N; n++) {
    const f32 *xr = x + n * d;
    f32 *hr = xhat + n * d, *ur = u + n * d;
    f32 mean = vsum(d, xr) / d;
    v4 m = vsplat(mean), acc = vsplat(0);
    int i = 0;
    for (; i + 4 <= d; i += 4) {
      v4 c = wasm_f32x4_sub(vld(xr + i), m);
      vst(hr + i, c), acc = vmadd(acc, c, c);
    }
    f32 var = hsum(acc);
    for (; i < d; i++) hr[i] = xr[i] - mean, var += hr[i] * hr[i];
    f32 rs = 1.0f / __builtin_sqrtf(var / d + LN_EPS);
    rstd[n] = rs;
    v4 r = vsplat(rs);
    for (i = 0; i + 4 <= d; i += 4) {
      v4 h = vmul(vld(hr + i), r);
      vst(hr + i, h), vst(ur + i, vadd(vmul(h, vld(gam + i)), vld(bet + i)));
    }
    for (; i < d; i++) hr[i] *= rs, ur[i] = hr[i] * gam[i] + bet[i];
  }
}

/**
 * dx (+)= LN backward of du: dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = du·γ.
 * dγ += Σ du·x̂, dβ += Σ du over rows.
 */
static void ln_bwd(int N, int d, const f32 *du, const f32 *xhat, const f32 *rstd, const f32 *gam, f32 *dgam, f32 *dbet, f32 *dx, int acc) {
  f32 *dxh = scr_d;
  for (int n = 0; n < N; n++) {
    const f32 *g_ = du + n * d, *h = xhat + n * d;
    f32 *o = dx + n * d;
    v4 s1 = vsplat(0), s2 = vsplat(0);
    int i = 0;
    for (; i + 4 <= d; i += 4) {
      v4 gv = vld(g_ + i), hv = vld(h + i), dh = vmul(gv, vld(gam + i));
      vst(dgam + i, vmadd(vld(dgam + i), gv, hv)), vst(dbet + i, vadd(vld(dbet + i), gv));
      vst(dxh + i, dh), s1 = vadd(s1, dh), s2 = vmadd(s2, dh, hv);
    }
    f32 sum1 = hsum(s1), sum2 = hsum(s2);
    for (; i < d; i++) {
      f32 dh = g_[i] * gam[i];
      dgam[i] += g_[i] * h[i], dbet[i] += g_[i];
      dxh[i] = dh, sum1 += dh, sum2 += dh * h[i];
    }
    f32 m1 = sum1 / d, m2 = sum2 / d, rs = rstd[n];
    v4 vm1 = vsplat(m1), vm2 = vsplat(m2), vrs = vsplat(rs);
    for (i = 0; i + 4 <= d; i += 4) {
      v4 v = vmul(vrs, wasm_f32x4_sub(wasm_f32x4_sub(vld(dxh + i), vm1), vmul(vld(h + i), vm2)));
      vst(o + i, acc ? vadd(vld(o + i), v) : v);
    }
    for (; i < d; i++) {
      f32 v = rs * ((dxh[i] - m1) - h[i] * m2);
      o[i] = acc ? o[i] + v : v;
    }
  }
}

// ---------------------------------------------------------------- causal attention, per (sequence, head)
//
// Queries are the positions qstep·m, m < Tq = T/qstep: every position (qstep 1), or only the
// x-tokens (qstep 2: the last layer of loss_and_grads, whose later work the loss never reads at
// y-tokens). Keys and values are every position.
//
// Scores and probabilities are stored key-major, Pᵀ [Tp, Tqp] (T and Tq rounded up to whole
// vectors), so one vector holds four queries' entries for one key: the softmax over keys, and the
// row sums of its backward, are lane-wise maxima and sums down a column block, with no horizontal
// reductions, and their loops run over the keys of a block of four queries — a few long loops per
// block where the query-major form ran three short ones per query, each with its own horizontal
// max or sum, division and loop exit (the softmax took 25% less time, bench/perf.md). The products
// read Pᵀ in place: P·V as a TN product, Pᵀ·dO and dSᵀ·q as plain ones.

/**
 * e^x lane-wise for x ≤ 0 (softmax after max subtraction): Cody–Waite reduction, degree-7 Taylor
 * polynomial, ≈1 ulp. n = round(x·log₂e) by the 1.5·2²³ trick: adding it rounds to an integer
 * (ties to even, as f32x4.nearest) and leaves n in the low mantissa bits, so 2ⁿ is those bits + 127
 * shifted into the exponent: two additions instead of a round and a float→int conversion (which
 * V8 expands into several instructions). pmax (one maxps) clamps: x is never NaN here.
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

/** Columns [n, ld) of R rows (stride ld) ← 0: the padding of a transposed block, which products read as whole vectors. */
static inline void zero_pad(int R, int n, f32 *a, int ld) {
  if (n < ld)
    for (int r = 0; r < R; r++)
      for (int i = n; i < ld; i++) a[r * ld + i] = 0;
}

/** The query blocks that see key j0 start at block ((first query that sees j0) rounded down). */
static inline int first_block(int j0, int qstep) { return ((j0 + qstep - 1) / qstep) & ~3; }

/** The keys that the block of queries m0 … m0+3 reads: up to the last one it sees, rounded up to whole 4-key blocks. */
static inline int block_keys(int m0, int qstep) { return imin(g.Tp, (qstep * (m0 + 3) + 4) & ~3); }

/**
 * Query rows of the TN products (P·V, dQ) for the block at m0: as many as at every position, T/qstep
 * — with T − 1 positions (layer_positions) one more than there are queries: the padding query T − 1,
 * whose row lands in the next sequence's first row (rewritten when that sequence comes) or past the
 * chunk's rows. gemm_tn_block's edge rows (scalar columns where c < 8) round differently from its
 * 4-row blocks; the same row count keeps each query's sums bit-identical to every position's.
 */
static inline int tn_rows(int m0, int qstep) { return imin(4, g.T / qstep - m0); }

/**
 * Key rows of the products for the key block at j0, likewise as at every position: with T − 1
 * positions the extra key T − 1 is the next sequence's first row (or a row past the chunk's, zeroed
 * by chunk_forward), so it is finite; its scores are masked for every query (selected away, not
 * multiplied), and its dK, dV rows land where that sequence's own are written later. A 3-row block
 * instead would take gemm_block's row-at-a-time edge path (slower, same rounding).
 */
static inline int key_rows(int j0) { return imin(4, g.T - j0); }

/**
 * Key-major scores Pᵀ[j, m] = q_m·k_j (scaled) → softmax over the keys j ≤ qstep·m of each query,
 * in place, for j < block_keys(m0); zeros where j > qstep·m. Keys below qstep·m0 + 1 are seen by
 * all four queries of a block; past it each lane is masked (entries there may be anything, even
 * never written: they are selected away, not multiplied).
 */
static void causal_softmax(int Tq, int qstep, f32 *pt) {
  int ld = (Tq + 3) & ~3;
  v4 ninf = vsplat(-__builtin_inff());
  for (int m0 = 0; m0 < Tq; m0 += 4) {
    f32 *col = pt + m0;
    v4 pos = wasm_i32x4_mul(wasm_i32x4_add(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat(m0)), wasm_i32x4_splat(qstep)); // each lane's query position
    int all = qstep * m0 + 1, end = block_keys(m0, qstep);
    v4 mx = ninf;
    for (int j = 0; j < all; j++) mx = wasm_f32x4_pmax(mx, vld(col + j * ld));
    for (int j = all; j < end; j++) mx = wasm_f32x4_pmax(mx, wasm_v128_bitselect(vld(col + j * ld), ninf, wasm_i32x4_le(wasm_i32x4_splat(j), pos)));
    v4 sum = vsplat(0);
    for (int j = 0; j < all; j++) {
      v4 e = exp_nonpos4(wasm_f32x4_sub(vld(col + j * ld), mx));
      vst(col + j * ld, e), sum = vadd(sum, e);
    }
    for (int j = all; j < end; j++) {
      v4 e = wasm_v128_and(exp_nonpos4(wasm_f32x4_sub(vld(col + j * ld), mx)), wasm_i32x4_le(wasm_i32x4_splat(j), pos));
      vst(col + j * ld, e), sum = vadd(sum, e);
    }
    v4 inv = wasm_f32x4_div(vsplat(1.0f), sum);
    for (int j = 0; j < end; j++) vst(col + j * ld, vmul(vld(col + j * ld), inv));
  }
}

/**
 * o = softmax(q kᵀ/√c + causal mask) v for every (b, h), as small GEMMs on strided views of the
 * fused QKV activation (only qᵀ is gathered, pre-scaled by 1/√c). o is [B·Tq, d], one row per
 * query; prob holds each (b, h)'s Pᵀ [Tp, Tqp]. The causal mask is exploited by 4-blocks: key
 * block j0 scores only the query blocks that see it, and query block m0 sums only the keys it sees.
 */
static void attn_fwd(int qstep, int T, const f32 *z, f32 *prob, f32 *o) {
  int Tp = g.Tp, Tq = T / qstep, Tqp = (Tq + 3) & ~3, c = g.c, H = g.H, d = g.d, ld = 3 * d;
  v4 scale = vsplat(1.0f / __builtin_sqrtf((f32)c));
  f32 *qt = scr_t; // [c, Tqp]
  for (int b = 0; b < g.B; b++) {
    for (int h = 0; h < H; h++) {
      const f32 *zb = z + b * T * ld + h * 3 * c; // q_t at zb + t·ld, k_t at + c, v_t at + 2c
      transpose(Tq, c, zb, qstep * ld, qt, Tqp);
      zero_pad(c, Tq, qt, Tqp);
      for (int i = 0; i < c * Tqp; i += 4) vst(qt + i, vmul(vld(qt + i), scale)); // A_ij = (q_i/√c)·k_j
      f32 *pt = prob + (b * H + h) * Tp * Tqp;
      for (int j0 = 0; j0 < T; j0 += 4) {
        int m0 = first_block(j0, qstep);
        gemm_block(key_rows(j0), Tqp - m0, c, zb + c + j0 * ld, ld, qt + m0, Tqp, pt + j0 * Tqp + m0, Tqp, 0);
      }
      causal_softmax(Tq, qstep, pt);
      f32 *ob = o + b * Tq * d + h * c;
      for (int m0 = 0; m0 < Tq; m0 += 4) gemm_tn_block(tn_rows(m0, qstep), c, imin(T, qstep * (m0 + 3) + 1), pt + m0, Tqp, zb + 2 * c, ld, ob + m0 * d, d, 0);
    }
  }
}

/**
 * dz (q, k, v parts) from dO [B·Tq, d]: dPᵀ = v dOᵀ, dV = Pᵀ dO, dSᵀ = Pᵀ∘(dPᵀ − colsum(Pᵀ∘dPᵀ))/√c,
 * dK = dSᵀ q, dQ = dS k — each restricted to the causal blocks as in attn_fwd. With qstep 2 the
 * query part of dz at y-token rows is not written.
 */
static void attn_bwd(int qstep, int T, const f32 *z, const f32 *prob, const f32 *dO, f32 *dz) {
  int Tp = g.Tp, Tq = T / qstep, Tqp = (Tq + 3) & ~3, c = g.c, H = g.H, d = g.d, ld = 3 * d;
  v4 scale = vsplat(1.0f / __builtin_sqrtf((f32)c));
  f32 *dot = scr_t, *ds = scr_tt; // dOᵀ [c, Tqp], dPᵀ → dSᵀ [Tp, Tqp] (rows ≥ T: finite, setup)
  for (int b = 0; b < g.B; b++) {
    for (int h = 0; h < H; h++) {
      const f32 *zb = z + b * T * ld + h * 3 * c, *pt = prob + (b * H + h) * Tp * Tqp, *dob = dO + b * Tq * d + h * c;
      f32 *dzb = dz + b * T * ld + h * 3 * c;
      transpose(Tq, c, dob, d, dot, Tqp);
      zero_pad(c, Tq, dot, Tqp);
      for (int j0 = 0; j0 < T; j0 += 4) {
        int m0 = first_block(j0, qstep);
        gemm_block(key_rows(j0), Tqp - m0, c, zb + 2 * c + j0 * ld, ld, dot + m0, Tqp, ds + j0 * Tqp + m0, Tqp, 0); // dPᵀ
      }
      for (int m0 = 0; m0 < Tq; m0 += 4) {
        // Pᵀ is zero at masked entries and dPᵀ finite there (computed, or the zero rows ≥ T)
        int end = block_keys(m0, qstep);
        const f32 *p = pt + m0;
        f32 *r = ds + m0;
        v4 acc = vsplat(0);
        for (int j = 0; j < end; j++) acc = vmadd(acc, vld(p + j * Tqp), vld(r + j * Tqp));
        for (int j = 0; j < end; j++) vst(r + j * Tqp, vmul(vmul(vld(p + j * Tqp), wasm_f32x4_sub(vld(r + j * Tqp), acc)), scale));
      }
      for (int j0 = 0; j0 < T; j0 += 4) {
        int rows = key_rows(j0), m0 = first_block(j0, qstep);
        gemm_block(rows, c, Tq - m0, pt + j0 * Tqp + m0, Tqp, dob + m0 * d, d, dzb + 2 * c + j0 * ld, ld, 0);                // dV = Pᵀ dO
        gemm_block(rows, c, Tq - m0, ds + j0 * Tqp + m0, Tqp, zb + m0 * qstep * ld, qstep * ld, dzb + c + j0 * ld, ld, 0); // dK = dSᵀ q
      }
      for (int m0 = 0; m0 < Tq; m0 += 4)
        gemm_tn_block(tn_rows(m0, qstep), c, imin(T, qstep * (m0 + 3) + 1), ds + m0, Tqp, zb + c, ld, dzb + m0 * qstep * ld, qstep * ld, 0); // dQ = dS k
    }
  }
}

// ---------------------------------------------------------------- the model

static void prepare_weights(void) {
  int d = g.d, V = g.V, mlp = g.mlp;
  transpose(d, V, P.tok, V, WT.tok, d);
  transpose(d, g.T, P.pos, g.T, WT.pos, d);
  transpose(V, d, P.wun, d, WT.un, V);
  for (int l = 0; l < g.L; l++) {
    LayerParams *p = &P.layer[l];
    transpose(3 * d, d, p->qkv, d, WT.qkv[l], 3 * d);
    if (g.out) transpose(d, d, p->wo, d, WT.wo[l], d);
    transpose(mlp, d, p->w1, d, WT.w1[l], mlp);
    transpose(d, mlp, p->w2, mlp, WT.w2[l], d);
  }
}

/** y = x Wᵀ for x [N, in], given Wᵀ [in, out]. */
static void linear_fwd(int N, int in, int outw, const f32 *x, const f32 *wT, f32 *y) {
  gemm(N, outw, in, x, in, wT, outw, y, outw, 0);
}

/** dW [out, in] += dyᵀ x and dx (+)= dy W, for y = x Wᵀ. */
static void linear_bwd(int N, int in, int outw, const f32 *x, const f32 *w, const f32 *dy, f32 *dw, f32 *dx, int acc) {
  gemm_tn(outw, in, N, dy, outw, x, in, dw, in, 1);
  if (dx) gemm(N, in, outw, dy, outw, w, in, dx, in, acc);
}

#define ROW_CHUNK 32 /* y-token rows per pass over the heads in qkv_fwd/qkv_bwd: their u₀ rows stay in L1 */

/**
 * The fused QKV product z = u₀ W_qkvᵀ [N, 3d] (wT = W_qkvᵀ [d, 3d]). With qstep 2 only the x-token
 * rows (the even rows: T is even) get queries; a y-token row gets each head's key and value, which
 * are adjacent columns in the head-major layout (Q_h, K_h, V_h).
 */
static void qkv_fwd(int N, int qstep, const f32 *u, const f32 *wT, f32 *z) {
  int d = g.d, c = g.c, ld = 3 * d;
  if (qstep == 1) {
    gemm(N, ld, d, u, d, wT, ld, z, ld, 0);
    return;
  }
  int Nx = N / 2;
  gemm(Nx, ld, d, u, 2 * d, wT, ld, z, 2 * ld, 0); // x-token rows
  for (int r0 = 0; r0 < Nx; r0 += ROW_CHUNK) {
    const f32 *ur = u + (2 * r0 + 1) * d;
    f32 *zr = z + (2 * r0 + 1) * ld;
    for (int h = 0; h < g.H; h++) {
      int kv = h * 3 * c + c; // K_h then V_h
      gemm(imin(ROW_CHUNK, Nx - r0), 2 * c, d, ur, 2 * d, wT + kv, ld, zr + kv, 2 * ld, 0);
    }
  }
}

/**
 * dW_qkv += dzᵀ u₀ and du₀ (+)= dz W_qkv for qkv_fwd's product. With qstep 2 the y-token rows of dz
 * hold keys and values only (attn_bwd leaves their query part unwritten), so their products are
 * taken head by head over those columns. The weight gradient runs in KC-deep blocks of rows, each
 * block of u₀ and dz serving every part while it is in L1.
 */
static void qkv_bwd(int N, int qstep, const f32 *u, const f32 *w, const f32 *dz, f32 *dw, f32 *du, int acc) {
  int d = g.d, c = g.c, ld = 3 * d;
  if (qstep == 1) {
    linear_bwd(N, d, ld, u, w, dz, dw, du, acc);
    return;
  }
  int Nx = N / 2;
  for (int k0 = 0; k0 < Nx; k0 += KC) {
    int kc = imin(KC, Nx - k0);
    const f32 *ub = u + 2 * k0 * d, *zb = dz + 2 * k0 * ld;
    gemm_tn_block(ld, d, kc, zb, 2 * ld, ub, 2 * d, dw, d, 1); // x-token rows
    for (int h = 0; h < g.H; h++) {
      int kv = h * 3 * c + c;
      gemm_tn_block(2 * c, d, kc, zb + ld + kv, 2 * ld, ub + d, 2 * d, dw + kv * d, d, 1);
    }
  }
  gemm(Nx, d, ld, dz, 2 * ld, w, d, du, 2 * d, acc); // x-token rows
  for (int r0 = 0; r0 < Nx; r0 += ROW_CHUNK) {
    const f32 *zr = dz + (2 * r0 + 1) * ld;
    f32 *dr = du + (2 * r0 + 1) * d;
    for (int h = 0; h < g.H; h++) {
      int kv = h * 3 * c + c;
      gemm(imin(ROW_CHUNK, Nx - r0), d, 2 * c, zr + kv, 2 * ld, w + kv * d, d, dr, 2 * d, acc || h > 0);
    }
  }
}

/** The chunk's tokens: sequences b0 … b0 + g.B − 1 of the call's xs, ys. */
static void embed_tokens(int b0, int T) {
  int B = g.B, K = g.K, D = g.D, V = g.V;
  const f32 *cx = xs + b0 * K * D, *cy = ys + b0 * K;
  vzero(B * T * V, tokens);
  for (int b = 0; b < B; b++) {
    for (int k = 0; k < K; k++) {
      f32 *tx = tokens + (b * T + 2 * k) * V, *ty = tx + V;
      for (int i = 0; i < D; i++) tx[1 + i] = cx[(b * K + k) * D + i]; // [0, x_k]
      if (2 * k + 1 < T) ty[0] = cy[b * K + k];                     // [y_k, 0 … 0]
    }
  }
}

/** Positions per sequence in the layers below the last with `xonly`: T − 1 (see layer_positions). */
static inline int short_positions(int xonly) { return xonly && g.L > 1 ? g.T - 1 : g.T; }

/**
 * Positions per sequence that layer l computes (its rows: g.B times this, sequence-major). With
 * `xonly`, the layers below the last skip each sequence's last position T − 1 (a y-token): the loss
 * reads no output there, the last layer asks no query there (queries at x-tokens only), and below
 * it only a query at T − 1 itself would read its keys and values (causal). Skipping it is exact:
 * at every layer its backward terms are zeros (its gradient is zero, and its probabilities under
 * every other query are masked zeros), which leave the sums they would join unchanged.
 */
static inline int layer_positions(int xonly, int l) { return l < g.L - 1 ? short_positions(xonly) : g.T; }

/**
 * The forward pass of one chunk (g.B sequences from b0; g.N = g.B·T rows). With `xonly` the last
 * layer takes queries, and does everything after attention, at the x-tokens only: the loss reads
 * nothing else (ŷ_k = y[2k, 0], docs/model.md), and a y-token's residual in the last layer feeds
 * nothing but its own output. Its keys and values still come from every position. That layer's
 * rows after attention are then the chunk's x-tokens, and its rows of `outputs` [B·K, V] (row
 * b·K + k) are written; without `xonly`, its rows of outputs [B·T, V].
 */
static void chunk_forward(int b0, int xonly) {
  int N = g.N, d = g.d, V = g.V, T = g.T, mlp = g.mlp, Tc = short_positions(xonly), L = g.L;
  MARK(0);
  embed_tokens(b0, layer_positions(xonly, 0));
  // x⁰ = W_tok τ + p_t
  f32 *x0 = S[0].x;
  int N0 = g.B * layer_positions(xonly, 0);
  linear_fwd(N0, V, d, tokens, WT.tok, x0);
  for (int n = 0; n < N0; n++) axpy(d, 1.0f, WT.pos + (n % layer_positions(xonly, 0)) * d, x0 + n * d);
  int R = N; // rows after attention
  for (int l = 0; l < L; l++) {
    LayerSave *s = &S[l];
    LayerParams *p = &P.layer[l];
    int q = xonly && l == L - 1 ? 2 : 1; // query step: row r after attention is input row q·r
    int Tl = layer_positions(xonly, l), Nl = g.B * Tl;
    R = Nl / q;
    MARK(1); // embedding / previous layer's residual
    if (g.ln) ln_fwd(Nl, d, s->x, p->ln0g, p->ln0b, s->xhat0, s->rstd0, s->u0);
    MARK(2);
    qkv_fwd(Nl, q, s->u0, WT.qkv[l], s->z);
    if (Tl < T) vzero(3 * d, s->z + Nl * 3 * d); // the extra key row of the chunk's last sequence (key_rows)
    MARK(3);
    attn_fwd(q, Tl, s->z, s->prob, s->o);
    MARK(4);
    if (g.out) linear_fwd(R, d, d, s->o, WT.wo[l], s->a);
    MARK(5);
    // h = x + a, then LN₁ (h itself is only needed as LN₁'s input)
    f32 *hbuf = g.ln ? tmp_nd : s->u1;
    for (int r = 0; r < R; r++) {
      const f32 *xr = s->x + r * q * d, *ar = s->a + r * d;
      f32 *hr = hbuf + r * d;
      for (int i = 0; i < d; i++) hr[i] = xr[i] + ar[i];
    }
    if (g.ln) ln_fwd(R, d, hbuf, p->ln1g, p->ln1b, s->xhat1, s->rstd1, s->u1);
    MARK(6);
    // r = ReLU(u₁ W₁ᵀ + b₁)
    linear_fwd(R, d, mlp, s->u1, WT.w1[l], s->r);
    for (int n = 0; n < R; n++) {
      f32 *rr = s->r + n * mlp;
      for (int i = 0; i < mlp; i++) {
        f32 v = rr[i] + p->b1[i];
        rr[i] = v > 0 ? v : 0;
      }
    }
    MARK(7);
    // m = r W₂ᵀ + b₂; x ← 2x + a + m (the double residual)
    linear_fwd(R, mlp, d, s->r, WT.w2[l], tmp_nd2);
    f32 *xn = l + 1 < L ? S[l + 1].x : xf;
    int widen = Tl < T && l + 1 == L - 1; // into the last layer's every-position rows: row b·Tc + t → b·T + t
    for (int r = 0; r < R; r++) {
      const f32 *xr = s->x + r * q * d, *ar = s->a + r * d, *mr = tmp_nd2 + r * d;
      f32 *o = xn + (widen ? r + r / Tc : r) * d;
      for (int i = 0; i < d; i++) o[i] = ((xr[i] * 2.0f) + ar[i]) + (mr[i] + p->b2[i]);
    }
    if (widen) // the last position: its keys and values are read by no query, but must be finite (masked, not multiplied, in attention)
      for (int b = 0; b < g.B; b++) vzero(d, xn + (b * T + T - 1) * d);
  }
  MARK(1);
  if (g.ln) ln_fwd(R, d, xf, P.lnfg, P.lnfb, xhatf, rstdf, uf);
  f32 *out = outputs + b0 * (R / g.B) * V;
  linear_fwd(R, d, V, uf, WT.un, out);
  for (int n = 0; n < R; n++)
    for (int v = 0; v < V; v++) out[n * V + v] += P.bun[v];
  MARK(8);
}

/**
 * The call's sequences go through the model in chunks of g.chunk (setup): one chunk's activations,
 * every layer's, stay in L2 from its forward to its backward, where a whole batch's (B·T rows of
 * each, 100+ MiB at B = 1,024, K = 16) would stream through memory between every two passes
 * (bench/perf.md). Sets g.B and g.N to the chunk's sequences and rows.
 */
static void begin_chunk(int b0) { g.B = imin(g.chunk, g.batch - b0), g.N = g.B * g.T; }

static void forward_pass(int xonly) {
  prepare_weights();
  for (int b0 = 0; b0 < g.batch; b0 += g.B) {
    begin_chunk(b0);
    chunk_forward(b0, xonly);
  }
}

/** Forward pass over the whole batch; leaves the full outputs [B·T, V] in `outputs`. */
EXPORT(forward) void forward(void) { forward_pass(0); }

/** Forward pass for the predictions only: `outputs` gets the x-tokens' rows [B·K, V] (ŷ_bk = channel 0 of row b·K + k). */
EXPORT(predict) void predict(void) { forward_pass(1); }

/**
 * Backward pass of the chunk at b0 after chunk_forward(b0, xonly): adds its part of the gradient
 * of the loss mean_k mean_b (ŷ_bk − y_bk)² (over the whole call's batch) to `grads`, and its
 * squared errors to sse[k].
 */
static void chunk_backward(int b0, int xonly) {
  int N = g.N, d = g.d, V = g.V, T = g.T, mlp = g.mlp, K = g.K, Tc = short_positions(xonly);
  int q = xonly ? 2 : 1, R = N / q; // the last layer's rows after attention
  // ŷ_bk = channel 0 of output row b·K + k (xonly) or b·T + 2k; dL/dŷ_bk = 2(ŷ − y)/(batch·K), 0 at y-tokens
  const f32 *out = outputs + b0 * (R / g.B) * V, *cy = ys + b0 * K;
  f32 *dy0 = tmp_t;
  for (int n = 0; n < R; n++) {
    if (q == 1 && n % 2) {
      dy0[n] = 0;
      continue;
    }
    int m = q == 2 ? n : n / 2; // x-token b·K + k
    f32 e = out[n * V] - cy[m];
    sse[m % K] += (double)e * e;
    dy0[n] = (2.0f * e) / (f32)(g.batch * K);
  }
  // unembedding: only output channel 0 carries gradient
  f32 *duf = g_res;
  for (int n = 0; n < R; n++) {
    f32 e = dy0[n];
    f32 *dr = duf + n * d;
    for (int i = 0; i < d; i++) dr[i] = e * P.wun[i];
    axpy(d, e, uf + n * d, G.wun);
    G.bun[0] += e;
  }
  if (g.ln) ln_bwd(R, d, duf, xhatf, rstdf, P.lnfg, G.lnfg, G.lnfb, g_next, 0);
  else for (int i = 0; i < R * d; i++) g_next[i] = duf[i];
  for (int l = g.L - 1; l >= 0; l--) {
    // g_res = dL/dx^{l+1} at the rows after attention; it is also dL/dm and the direct part of dL/da.
    f32 *t = g_res; g_res = g_next; g_next = t;
    LayerSave *s = &S[l];
    LayerParams *p = &P.layer[l], *gp = &G.layer[l];
    q = xonly && l == g.L - 1 ? 2 : 1; // as in chunk_forward
    int Tl = layer_positions(xonly, l), Nl = g.B * Tl;
    R = Nl / q;
    if (Tl < T && l == g.L - 2) // from the last layer's every-position rows: row b·T + t → b·Tc + t (t < Tc; in place, moving down)
      for (int r = 0; r < Nl; r++) {
        const f32 *src = g_res + (r + r / Tc) * d;
        f32 *dst = g_res + r * d;
        if (src != dst) for (int i = 0; i < d; i++) dst[i] = src[i];
      }
    MARK(9); // unembedding + final LN backward / previous layer's LN₀ backward
    colsum(R, d, g_res, gp->b2);
    linear_bwd(R, mlp, d, s->r, p->w2, g_res, gp->w2, tmp_nm, 0); // dr
    MARK(10);
    relu_bwd_colsum(R, mlp, s->r, tmp_nm, gp->b1);
    MARK(11);
    linear_bwd(R, d, mlp, s->u1, p->w1, tmp_nm, gp->w1, tmp_nd, 0); // du₁
    MARK(12);
    f32 *dh = tmp_nd;
    if (g.ln) {
      ln_bwd(R, d, tmp_nd, s->xhat1, s->rstd1, p->ln1g, gp->ln1g, gp->ln1b, tmp_nd2, 0);
      dh = tmp_nd2;
    }
    // da = g + dh; dx = 2g + dh at input row q·r, 0 at the rows without a query (+ the LN₀ path below)
    for (int r = 0; r < R; r++) {
      const f32 *gr = g_res + r * d, *hr = dh + r * d;
      f32 *xr = g_next + r * q * d, *ar = tmp_nd + r * d; // ar may alias hr when LN is off: read before write
      for (int i = 0; i < d; i++) {
        f32 gv = gr[i], hv = hr[i];
        xr[i] = (gv + gv) + hv, ar[i] = gv + hv;
      }
      if (q == 2) vzero(d, xr + d);
    }
    f32 *dO = tmp_nd;
    MARK(13);
    if (g.out) {
      linear_bwd(R, d, d, s->o, p->wo, tmp_nd, gp->wo, tmp_nd2, 0);
      dO = tmp_nd2;
    }
    MARK(14);
    attn_bwd(q, Tl, s->z, s->prob, dO, tmp_n3d);
    MARK(15);
    if (g.ln) {
      qkv_bwd(Nl, q, s->u0, p->qkv, tmp_n3d, gp->qkv, tmp_nd, 0);
      MARK(16);
      ln_bwd(Nl, d, tmp_nd, s->xhat0, s->rstd0, p->ln0g, gp->ln0g, gp->ln0b, g_next, 1);
    } else {
      qkv_bwd(Nl, q, s->u0, p->qkv, tmp_n3d, gp->qkv, g_next, 1);
    }
  }
  MARK(9);
  // embedding: dW_tok [d, V] += dx⁰ᵀ τ, dp_t += Σ_b dx⁰_bt (as rows, into G.pos by loss_and_grads)
  f32 *dx0 = g_next;
  int T0 = layer_positions(xonly, 0), N0 = g.B * T0;
  gemm_tn(d, V, N0, dx0, d, tokens, V, G.tok, V, 1);
  for (int n = 0; n < N0; n++) axpy(d, 1.0f, dx0 + n * d, scr_pos + (n % T0) * d);
  MARK(17);
}

/**
 * Forward, per-position MSE into `perpos`, and the gradient of its mean over positions into
 * `grads`. xonly = 1 (training, SGLD) skips the last layer's work at y-tokens (chunk_forward);
 * xonly = 0 computes every position, as `forward` does: the same loss and gradients up to float32
 * rounding (test/lib/kernels/fused-transformer.test.ts compares the two).
 */
EXPORT(loss_and_grads) void loss_and_grads(int xonly) {
  vzero(g.nparams, grads), vzero(g.T * g.d, scr_pos);
  for (int k = 0; k < g.K; k++) sse[k] = 0;
  prepare_weights();
  for (int b0 = 0; b0 < g.batch; b0 += g.B) {
    begin_chunk(b0);
    chunk_forward(b0, xonly);
    chunk_backward(b0, xonly);
  }
  for (int k = 0; k < g.K; k++) perpos[k] = (f32)(sse[k] / g.batch);
  transpose(g.T, g.d, scr_pos, g.d, G.pos, g.T); // dp_t (columns ≥ T of the table get none)
}

#ifdef PROFILE
EXPORT(bench_gemm) void bench_gemm(int M, int N, int K, int tn, f32 *A, f32 *B, f32 *C) {
  if (tn) gemm_tn(M, N, K, A, M, B, N, C, N, 0);
  else gemm(M, N, K, A, K, B, N, C, N, 0);
}
EXPORT(scratch) f32 *scratch(unsigned long n) { return alloc_f32(n); }
#endif
