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
};
