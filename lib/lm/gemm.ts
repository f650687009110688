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
