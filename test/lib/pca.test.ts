import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { pca } from '../../lib/pca.ts';

// X = mean + A·diag(s)·Bᵀ with A (T×3) orthonormal, zero-mean columns and B (F×3) orthonormal:
// its centred SVD is exactly (A, s, B), so PCA must return s, ±B and A·diag(s).
function planted(T: number, F: number) {
  const s = [6, 3, 1];
  const A = [1, 2, 3].map((k) => {
    const col = Array.from({ length: T }, (_, t) => Math.cos((Math.PI * k * (t + 0.5)) / T));
    const norm = Math.hypot(...col);
    return col.map((x) => x / norm);
  });
  const B = [new Float64Array(F), new Float64Array(F), new Float64Array(F)];
  B[0][1] = 0.8; B[0][4] = 0.6; // largest loading +0.8: sign kept
  B[1][2] = 0.6; B[1][7] = -0.8; // largest |loading| is −0.8: PCA must flip it
  B[2][0] = -0.28; B[2][3] = 0.96; // orthogonal to the others by disjoint support
  const mean = Array.from({ length: F }, (_, f) => 10 + f);
  const rows = Array.from({ length: T }, (_, t) => {
    const r = new Float32Array(F);
    for (let f = 0; f < F; f++) r[f] = mean[f] + s.reduce((acc, sk, k) => acc + A[k][t] * sk * B[k][f], 0);
    return r;
  });
  return { s, A, B, rows };
}

for (const [T, F, route] of [[30, 50, 'T×T Gram'], [30, 8, 'F×F Gram']] as const) {
  test(`planted components are recovered (${route} route)`, () => {
    const { s, A, B, rows } = planted(T, F);
    const r = pca(rows, 3);
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(r.singularValues[k] - s[k]) < 1e-4, `σ${k} ${r.singularValues[k]}`);
    const total = s.reduce((a, b) => a + b * b, 0);
    r.explainedVarianceRatio.forEach((e, k) => assert.ok(Math.abs(e - (s[k] * s[k]) / total) < 1e-5, `ratio ${k}`));
    for (let k = 0; k < 3; k++) {
      const expectedSign = k === 1 ? -1 : 1; // component 1 flipped by the sign convention
      for (let f = 0; f < F; f++) {
        assert.ok(Math.abs(r.components[k][f] - expectedSign * B[k][f]) < 1e-5, `v${k}[${f}]`);
      }
      for (let t = 0; t < T; t++) {
        assert.ok(Math.abs(r.projections[t][k] - expectedSign * A[k][t] * s[k]) < 1e-4, `proj[${t}][${k}]`);
      }
    }
    for (let f = 0; f < F; f++) assert.ok(Math.abs(r.mean[f] - (10 + f)) < 1e-4, `mean[${f}]`);
  });
}

for (const [T, F] of [[12, 13], [13, 9]]) {
  test(`random ${T}×${F} data agrees with an SVD of the centred matrix (independent oracle)`, () => {
    let seed = 7 + T;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    const rows = Array.from({ length: T }, () => Array.from({ length: F }, rand));
    const r = pca(rows, 4);
    const X = new Matrix(rows);
    const centred = X.subRowVector(X.mean('column'));
    const svd = new SingularValueDecomposition(centred, { autoTranspose: true });
    const total = svd.diagonal.reduce((a, b) => a + b * b, 0);
    for (let k = 0; k < 4; k++) {
      assert.ok(Math.abs(r.singularValues[k] - svd.diagonal[k]) < 1e-9, `σ${k}`);
      assert.ok(Math.abs(r.explainedVarianceRatio[k] - svd.diagonal[k] ** 2 / total) < 1e-9, `ratio ${k}`);
      // Same axis up to sign: |⟨v_pca, v_svd⟩| = 1.
      const dot = r.components[k].reduce((a, v, f) => a + v * svd.rightSingularVectors.get(f, k), 0);
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-9, `axis ${k}`);
    }
  });
}

test('bad input is a clear error', () => {
  assert.throws(() => pca([[1, 2]], 1), /at least 2 rows/);
  assert.throws(() => pca([[1, 2], [1]], 1), /row 1 has 1 features, expected 2/);
  assert.throws(() => pca([[1, 2], [3, 4]], 3), /components must be an integer in 1..min\(T=2, F=2\), got 3/);
});

test.run();
