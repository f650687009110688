// Hessian statistics: Lanczos and Hutchinson on quadratics with a known spectrum, the
// finite-difference HVP against exact products, and the whole pipeline on the real model against
// the float64 PyTorch oracle (tools/oracle/hessian_oracle.py: exact HVPs by double backward).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { hutchinsonTrace, hvpFromGradients, lanczosTopEigenvalues } from '../../../lib/analysis/hessian.ts';
import { paramShapes } from '../../../lib/model.ts';
import { fixture, oracleParams, oracleXs, oracleYs } from '../oracle-fixture.ts';
import { rngStream } from '../../../lib/rng.ts';
import { exactHvp } from '../../../lib/analysis/hvp.ts';
import { hessianStatistics, mseOperators } from '../../../stages/analysis/hessian-run.ts';
import { initBackend } from '../../../lib/backend.ts';
import { hessianParams } from '../../../stages/analysis/hessian.ts';

test.before(async () => {
  await initBackend();
});

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** H = Q diag(λ) Qᵀ with a random orthogonal Q (Householder product), as an HVP operator. */
function quadratic(eigenvalues: number[], seed: number) {
  const n = eigenvalues.length;
  const rng = rngStream(seed, 'test-quadratic');
  const reflectors = [0, 1, 2].map(() => {
    const u = Float64Array.from({ length: n }, () => rng.normal());
    const norm = Math.hypot(...u);
    return u.map((x) => x / norm);
  });
  const reflect = (v: Float64Array, u: Float64Array) => {
    let d = 0;
    for (let i = 0; i < n; i++) d += u[i] * v[i];
    return v.map((x, i) => x - 2 * d * u[i]);
  };
  // Q = R₀R₁R₂ (each R symmetric, orthogonal): Hv = Q Λ Qᵀ v.
  const hvp = (v: Float64Array) => {
    let w = v;
    for (const u of [...reflectors].reverse()) w = reflect(w, u); // Qᵀv = R₂R₁R₀ v … applied in order
    w = w.map((x, i) => x * eigenvalues[i]);
    for (const u of reflectors) w = reflect(w, u);
    return w;
  };
  return hvp;
}

test('Lanczos finds the top eigenvalues of a quadratic with a known spectrum', () => {
  const n = 200;
  const spectrum = Array.from({ length: n }, (_, i) => (i < 3 ? [50, 20, 10][i] : Math.cos(i) * 2));
  const top = lanczosTopEigenvalues(quadratic(spectrum, 1), n, 3, 40, rngStream(0, 'lanczos'));
  assert.ok(rel(top[0], 50) < 1e-8 && rel(top[1], 20) < 1e-8 && rel(top[2], 10) < 1e-6, `${top}`);
});

test('Lanczos stops early on an invariant subspace (a rank-2 operator) without ghost eigenvalues', () => {
  const n = 50;
  const spectrum = Array.from({ length: n }, (_, i) => (i === 0 ? 3 : i === 1 ? 1 : 0));
  const top = lanczosTopEigenvalues(quadratic(spectrum, 2), n, 3, 20, rngStream(0, 'lanczos'));
  assert.ok(rel(top[0], 3) < 1e-9 && rel(top[1], 1) < 1e-9 && Math.abs(top[2]) < 1e-9, `${top}`);
});

test('Hutchinson is unbiased for the trace; its standard error shrinks as 1/√probes', () => {
  const n = 100;
  const spectrum = Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const hvp = quadratic(spectrum, 3);
  const exact = spectrum.reduce((a, b) => a + b, 0);
  const few = hutchinsonTrace(hvp, n, 50, rngStream(0, 'trace'));
  const many = hutchinsonTrace(hvp, n, 800, rngStream(1, 'trace'));
  assert.ok(Math.abs(few.trace - exact) < 4 * few.stdErr, `${few.trace} vs ${exact} ± ${few.stdErr}`);
  assert.ok(Math.abs(many.trace - exact) < 4 * many.stdErr, `${many.trace} vs ${exact} ± ${many.stdErr}`);
  assert.ok(many.stdErr < few.stdErr / 2.5);
  // A diagonal Hessian has zᵀHz = tr H for every Rademacher z: zero variance.
  const diag = hutchinsonTrace((v) => v.map((x, i) => x * spectrum[i]), n, 5, rngStream(0, 'trace'));
  assert.ok(Math.abs(diag.trace - exact) < 1e-9 && diag.stdErr < 1e-9);
});

test('hvpFromGradients is exact for a quadratic and O(h²) for a cubic', () => {
  // L = ½ wᵀAw + Σ w_i³/6 → ∇L = Aw + w²/2, H = A + diag(w).
  const A = [
    [2, 1, 0],
    [1, 3, 1],
    [0, 1, 4],
  ];
  const grad = (w: Float64Array) => w.map((_, i) => A[i].reduce((s, a, j) => s + a * w[j], 0) + (w[i] * w[i]) / 2);
  const w = Float64Array.from([0.5, -1, 2]);
  const v = Float64Array.from([1, 2, -1]);
  const exact = v.map((_, i) => A[i].reduce((s, a, j) => s + a * v[j], 0) + w[i] * v[i]);
  const hv = hvpFromGradients(grad, w, 1e-3)(v);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(hv[i] - exact[i]) < 1e-8, `${hv[i]} vs ${exact[i]}`);
  assert.equal(Array.from(hvpFromGradients(grad, w, 1e-3)(new Float64Array(3))), [0, 0, 0]);
});


test('on the paper model (51,717 parameters): exact HVPs give the float64 PyTorch top-3 eigenvalues and trace', () => {
  const oracle = JSON.parse(readFileSync(new URL('../../fixtures/analysis-oracle.json', import.meta.url), 'utf8')) as { loss: number; topEigenvalues: number[]; trace: number; traceStdErr: number };
  const shapes = paramShapes(fixture.config);
  const w = Float64Array.from(shapes.flatMap((s) => Array.from(oracleParams[s.name].data)));
  assert.is(w.length, 51717);
  const exact = exactHvp(fixture.config, w, oracleXs, oracleYs, fixture.batch.B);
  try {
    assert.ok(rel(exact.loss, oracle.loss) < 1e-5);
    const stats = hessianStatistics(exact.hvp, w.length, hessianParams.parse({ lanczosSteps: 20, probes: 8 }));
    stats.top.forEach((v, i) => assert.ok(rel(v, oracle.topEigenvalues[i]) < 1e-3, `λ${i + 1} ${v} vs ${oracle.topEigenvalues[i]}`));
    assert.is(stats.hvps, 20 + 8);
    // Both traces are Hutchinson estimates: compare within their combined standard error.
    const se = Math.hypot(stats.traceStdErr, oracle.traceStdErr);
    assert.ok(Math.abs(stats.trace - oracle.trace) < 4 * se, `trace ${stats.trace} ± ${stats.traceStdErr} vs ${oracle.trace} ± ${oracle.traceStdErr}`);
    // Exact products are symmetric: uᵀ(Hv) = vᵀ(Hu).
    const rng = rngStream(3, 'sym');
    const u = Float64Array.from({ length: w.length }, () => rng.normal());
    const v = Float64Array.from({ length: w.length }, () => rng.normal());
    const hu = exact.hvp(u);
    const hv = exact.hvp(v);
    const uhv = u.reduce((s, x, i) => s + x * hv[i], 0);
    const vhu = v.reduce((s, x, i) => s + x * hu[i], 0);
    assert.ok(Math.abs(uhv - vhu) < 1e-3 * Math.abs(uhv) + 1e-3, `${uhv} vs ${vhu}`);
  } finally {
    exact.dispose();
  }
});

test('on the paper model, vᵀHv from exact HVPs matches the second difference of the loss; gradient differences agree at small h', () => {
  const shapes = paramShapes(fixture.config);
  const w = Float64Array.from(shapes.flatMap((s) => Array.from(oracleParams[s.name].data)));
  const ops = mseOperators(fixture.config, shapes, oracleXs, oracleYs, fixture.batch.B);
  const exact = exactHvp(fixture.config, w, oracleXs, oracleYs, fixture.batch.B);
  try {
    const rng = rngStream(9, 'direction');
    const v = Float64Array.from({ length: w.length }, () => rng.normal());
    const norm = Math.hypot(...v);
    const u = v.map((x) => x / norm);
    const hu = exact.hvp(u);
    const uHu = u.reduce((s, x, i) => s + x * hu[i], 0);
    // (L(w + εu) − 2L(w) + L(w − εu))/ε², with ε large enough for float32 losses to resolve it.
    const eps = 2e-2;
    const L = (s: number) => ops.lossAndGrad(w.map((x, i) => x + s * u[i])).loss;
    const second = (L(eps) - 2 * L(0) + L(-eps)) / (eps * eps);
    assert.ok(Math.abs(uHu - second) < 0.02 * Math.max(1, Math.abs(second)), `${uHu} vs ${second}`);
    // Central differences of the fused kernel's gradients converge to the exact product.
    const fd = hvpFromGradients(ops.grad, w, 1e-4)(u);
    const err = Math.hypot(...fd.map((x, i) => x - hu[i])) / Math.hypot(...hu);
    assert.ok(err < 0.1, `relative error ${err}`);
  } finally {
    exact.dispose();
  }
});

test.run();
