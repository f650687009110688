// Dense float32 matrix products for the language model, in plain TypeScript.
//
//   C[M×N] (+)= op(A)[M×K] · op(B)[K×N]      op = identity or transpose
//
// Every matrix is (array, offset, leading dimension), so a head's slice of a wider activation
// ([N, H·dh] at column h·dh) is addressed in place without copies. Loop orders keep the innermost
// loop contiguous in memory for each transpose case. lib/kernels/lm-gemm.c is the same contract in
// WebAssembly SIMD; lib/lm/model.ts picks whichever is available.

export interface MatRef {
  data: Float32Array;
  off: number;
  ld: number;
}

export interface Gemm {
  readonly name: string;
  /** C (+)= op(A)·op(B); `acc` false overwrites C. */
  gemm(tA: boolean, tB: boolean, M: number, N: number, K: number, A: MatRef, B: MatRef, C: MatRef, acc: boolean): void;
}

function zeroC(M: number, N: number, C: MatRef): void {
  for (let i = 0; i < M; i++) C.data.fill(0, C.off + i * C.ld, C.off + i * C.ld + N);
}

export const jsGemm: Gemm = {
  name: 'js',
  gemm(tA, tB, M, N, K, A, B, C, acc) {
    const a = A.data, b = B.data, c = C.data;
    const lda = A.ld, ldb = B.ld, ldc = C.ld;
    if (!tB) {
      if (!acc) zeroC(M, N, C);
      // NN: c[i, :] += a[i, p] · b[p, :]   TN: c[i, :] += a[p, i] · b[p, :]
      for (let i = 0; i < M; i++) {
        const ci = C.off + i * ldc;
        for (let p = 0; p < K; p++) {
          const av = tA ? a[A.off + p * lda + i] : a[A.off + i * lda + p];
          if (av === 0) continue;
          const bp = B.off + p * ldb;
          for (let j = 0; j < N; j++) c[ci + j] += av * b[bp + j];
        }
      }
      return;
    }
    if (tA) throw new Error('jsGemm: op(A)ᵀ·op(B)ᵀ is not needed and not implemented');
    // NT: c[i, j] = Σ_p a[i, p] · b[j, p]   (dot products of contiguous rows)
    for (let i = 0; i < M; i++) {
      const ai = A.off + i * lda;
      const ci = C.off + i * ldc;
      for (let j = 0; j < N; j++) {
        const bj = B.off + j * ldb;
        let s = 0;
        for (let p = 0; p < K; p++) s += a[ai + p] * b[bj + p];
        c[ci + j] = acc ? c[ci + j] + s : s;
      }
    }
  },
};

/** Everything the model hands to a kernel: the products plus the softmax pieces. */
export interface LmOps extends Gemm {
  /** Rows i of S [T×T] (S.ld): softmax over j ≤ i of scale·S[i,j], zero above the diagonal. */
  causalSoftmax(T: number, S: MatRef, scale: number): void;
  /** dP [T×T] (ld T) ← scale·P ⊙ (dP − rowsum(dP ⊙ P)) on and below the diagonal, 0 above. */
  causalSoftmaxBackward(T: number, P: MatRef, dP: Float32Array, scale: number): void;
  /**
   * Softmax cross-entropy in place over logits [N×V]: a row with target t ≥ 0 becomes
   * (softmax − onehot(t))·inv and its loss is partial[n] + ln(sum[n]); a row with target −1 becomes 0.
   */
  crossEntropy(N: number, V: number, logits: Float32Array, targets: Float32Array, inv: number, partial: Float32Array, sum: Float32Array): void;
  /** Floats of scratch unembedCrossEntropy needs for N rows of width d and V logits. */
  unembedScratch(N: number, d: number, V: number): number;
  /**
   * The unembedding, the loss and the unembedding's backward in one call: logits = y·W_U + b_U
   * (y [N×d], W_U [d×V]), crossEntropy on them (same targets, inv, partial, sum), then
   * dW_U += yᵀ·dlogits, db_U += Σ_rows dlogits (both accumulate) and dy = dlogits·W_Uᵀ (overwritten).
   */
  unembedCrossEntropy(N: number, d: number, V: number, y: Float32Array, W_U: Float32Array, b_U: Float32Array, targets: Float32Array, inv: number, partial: Float32Array, sum: Float32Array, dW_U: Float32Array, db_U: Float32Array, dy: Float32Array, scratch: Float32Array): void;
  /**
   * Causal attention of every sequence b < B and head h < H: q, k, v, z are [B·T, H·dh] (head h at
   * column h·dh); probs [B, H, T, T] ← softmax over keys j ≤ i of scale·q_i·k_j (0 above the
   * diagonal); z_h ← probs·v_h.
   */
  attentionForward(B: number, T: number, H: number, dh: number, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, z: Float32Array, scale: number): void;
  /** Backward of attentionForward: dq, dk, dv (overwritten) from dz; dP [T×T] is scratch. */
  attentionBackward(B: number, T: number, H: number, dh: number, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dz: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, dP: Float32Array, scale: number): void;
}

const mat = (data: Float32Array, off: number, ld: number): MatRef => ({ data, off, ld });

/** attentionForward from an implementation's products and causal softmax, one (sequence, head) at a time. */
export function attentionForwardWith(ops: LmOps, B: number, T: number, H: number, dh: number, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, z: Float32Array, scale: number): void {
  const HD = H * dh;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const so = (b * H + h) * T * T;
      const ro = b * T * HD + h * dh;
      ops.gemm(false, true, T, T, dh, mat(q, ro, HD), mat(k, ro, HD), mat(probs, so, T), false);
      ops.causalSoftmax(T, mat(probs, so, T), scale);
      ops.gemm(false, false, T, dh, T, mat(probs, so, T), mat(v, ro, HD), mat(z, ro, HD), false);
    }
  }
}

/** attentionBackward from an implementation's products and softmax backward. */
export function attentionBackwardWith(ops: LmOps, B: number, T: number, H: number, dh: number, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dz: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, dP: Float32Array, scale: number): void {
  const HD = H * dh;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const so = (b * H + h) * T * T;
      const ro = b * T * HD + h * dh;
      ops.gemm(false, true, T, T, dh, mat(dz, ro, HD), mat(v, ro, HD), mat(dP, 0, T), false);
      ops.gemm(true, false, T, dh, T, mat(probs, so, T), mat(dz, ro, HD), mat(dv, ro, HD), false);
      // Softmax backward, with the scale of the scores folded in.
      ops.causalSoftmaxBackward(T, mat(probs, so, T), dP, scale);
      ops.gemm(false, false, T, dh, T, mat(dP, 0, T), mat(k, ro, HD), mat(dq, ro, HD), false);
      ops.gemm(true, false, T, dh, T, mat(dP, 0, T), mat(q, ro, HD), mat(dk, ro, HD), false);
    }
  }
}

export const jsOps: LmOps = {
  ...jsGemm,
  causalSoftmax(T, S, scale) {
    const s = S.data;
    for (let i = 0; i < T; i++) {
      const r = S.off + i * S.ld;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) max = Math.max(max, s[r + j] * scale);
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        const e = Math.exp(s[r + j] * scale - max);
        s[r + j] = e;
        sum += e;
      }
      for (let j = 0; j <= i; j++) s[r + j] /= sum;
      s.fill(0, r + i + 1, r + T);
    }
  },
  causalSoftmaxBackward(T, P, dP, scale) {
    const p = P.data;
    for (let i = 0; i < T; i++) {
      const r = i * T, pr = P.off + i * P.ld;
      let s = 0;
      for (let j = 0; j <= i; j++) s += dP[r + j] * p[pr + j];
      for (let j = 0; j <= i; j++) dP[r + j] = p[pr + j] * (dP[r + j] - s) * scale;
      dP.fill(0, r + i + 1, r + T);
    }
  },
  crossEntropy(N, V, logits, targets, inv, partial, sum) {
    for (let n = 0; n < N; n++) {
      const o = n * V;
      const t = targets[n];
      if (t < 0) {
        logits.fill(0, o, o + V);
        partial[n] = 0;
        sum[n] = 1;
        continue;
      }
      let max = -Infinity;
      for (let j = 0; j < V; j++) max = Math.max(max, logits[o + j]);
      partial[n] = max - logits[o + t];
      let s = 0;
      for (let j = 0; j < V; j++) {
        const e = Math.exp(logits[o + j] - max);
        logits[o + j] = e;
        s += e;
      }
      sum[n] = s;
      const k = inv / s;
      for (let j = 0; j < V; j++) logits[o + j] *= k;
      logits[o + t] -= inv;
    }
  },
  unembedScratch: (N, _d, V) => N * V,
  unembedCrossEntropy(N, d, V, y, W_U, b_U, targets, inv, partial, sum, dW_U, db_U, dy, scratch) {
    // Whole logits [N×V] in scratch: the fallback needs no chunking.
    const logits = scratch;
    for (let n = 0; n < N; n++) logits.set(b_U, n * V);
    jsOps.gemm(false, false, N, V, d, mat(y, 0, d), mat(W_U, 0, V), mat(logits, 0, V), true);
    jsOps.crossEntropy(N, V, logits, targets, inv, partial, sum);
    jsOps.gemm(true, false, d, V, N, mat(y, 0, d), mat(logits, 0, V), mat(dW_U, 0, V), true);
    for (let n = 0; n < N; n++) for (let j = 0; j < V; j++) db_U[j] += logits[n * V + j];
    jsOps.gemm(false, true, N, d, V, mat(logits, 0, V), mat(W_U, 0, V), mat(dy, 0, d), false);
  },
  attentionForward: (...a) => attentionForwardWith(jsOps, ...a),
  attentionBackward: (...a) => attentionBackwardWith(jsOps, ...a),
};
