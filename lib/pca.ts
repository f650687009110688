// Centred PCA of checkpoint fingerprints (docs/essential-dynamics.md), as scikit-learn's PCA:
// subtract each feature's mean over checkpoints, no scaling; explained-variance ratio
// σ_i² / Σ_j σ_j² over all components.
//
// Route: eigendecompose the smaller of the two Gram matrices. With T checkpoints ≪ F features
// (the usual case: ~200 × 655,360) that is G = X_c X_cᵀ (T×T): its eigenvectors u_i with
// eigenvalues σ_i² give projections u_i·σ_i and loadings v_i = X_cᵀ u_i / σ_i, so the F×F
// covariance is never formed. With T > F the F×F matrix X_cᵀ X_c is the smaller one.
//
// Sign convention: each component's largest-|loading| feature gets a positive loading (the
// first such feature on ties), so results do not depend on the eigensolver's arbitrary signs.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

export interface PcaResult {
  /** Per-feature mean over checkpoints [F]. */
  mean: Float64Array;
  /** Unit-norm principal axes (loadings) v_i, each [F], in decreasing variance order. */
  components: Float64Array[];
  /** Projections (x_t − mean)·v_i: [T][c]. */
  projections: number[][];
  singularValues: number[];
  /** σ_i² / Σ_j σ_j², the denominator over all min(T, F) components. */
  explainedVarianceRatio: number[];
}

/** PCA of `rows` (one fingerprint per checkpoint, all the same length), keeping `count` components. */
export function pca(rows: ArrayLike<number>[], count: number): PcaResult {
  const T = rows.length;
  if (T < 2) throw new Error(`pca: need at least 2 rows (checkpoints), got ${T}`);
  const F = rows[0].length;
  rows.forEach((r, t) => {
    if (r.length !== F) throw new Error(`pca: row ${t} has ${r.length} features, expected ${F} like row 0`);
  });
  if (!Number.isInteger(count) || count < 1 || count > Math.min(T, F)) {
    throw new Error(`pca: components must be an integer in 1..min(T=${T}, F=${F}), got ${count}`);
  }

  const mean = new Float64Array(F);
  for (const r of rows) for (let f = 0; f < F; f++) mean[f] += r[f];
  for (let f = 0; f < F; f++) mean[f] /= T;
  const centred = rows.map((r) => {
    const c = new Float64Array(F);
    for (let f = 0; f < F; f++) c[f] = r[f] - mean[f];
    return c;
  });

  const gramOfRows = T <= F;
  const n = gramOfRows ? T : F;
  const gram = new Matrix(n, n);
  if (gramOfRows) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        const a = centred[i];
        const b = centred[j];
        for (let f = 0; f < F; f++) s += a[f] * b[f];
        gram.set(i, j, s);
        gram.set(j, i, s);
      }
    }
  } else {
    for (const c of centred) {
      for (let i = 0; i < F; i++) for (let j = 0; j <= i; j++) gram.set(i, j, gram.get(i, j) + c[i] * c[j]);
    }
    for (let i = 0; i < F; i++) for (let j = 0; j < i; j++) gram.set(j, i, gram.get(i, j));
  }

  const eig = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const values = eig.realEigenvalues.map((v) => Math.max(v, 0));
  const vectors = eig.eigenvectorMatrix;
  const order = values.map((_, i) => i).sort((a, b) => values[b] - values[a]);
  const totalVariance = values.reduce((a, b) => a + b, 0);

  const components: Float64Array[] = [];
  const singularValues: number[] = [];
  const projections: number[][] = Array.from({ length: T }, () => new Array<number>(count).fill(0));
  for (let k = 0; k < count; k++) {
    const idx = order[k];
    const sigma = Math.sqrt(values[idx]);
    singularValues.push(sigma);
    const v = new Float64Array(F);
    if (gramOfRows) {
      // v = X_cᵀ u / σ; a zero-variance direction has no defined axis and stays zero.
      if (sigma > 0) {
        for (let t = 0; t < T; t++) {
          const u = vectors.get(t, idx) / sigma;
          const c = centred[t];
          for (let f = 0; f < F; f++) v[f] += u * c[f];
        }
      }
    } else {
      for (let f = 0; f < F; f++) v[f] = vectors.get(f, idx);
    }
    let argmax = 0;
    for (let f = 1; f < F; f++) if (Math.abs(v[f]) > Math.abs(v[argmax])) argmax = f;
    if (v[argmax] < 0) for (let f = 0; f < F; f++) v[f] = -v[f];
    components.push(v);
    for (let t = 0; t < T; t++) {
      let s = 0;
      const c = centred[t];
      for (let f = 0; f < F; f++) s += c[f] * v[f];
      projections[t][k] = s;
    }
  }
  const explainedVarianceRatio = singularValues.map((s) => (totalVariance > 0 ? (s * s) / totalVariance : 0));
  return { mean, components, projections, singularValues, explainedVarianceRatio };
}
