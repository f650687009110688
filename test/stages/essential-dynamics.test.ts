import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { edParams, edStage, type EdJson } from '../../stages/essential-dynamics.ts';
import { fakeContext, tempDir, writeEval } from './figure-fixtures.ts';
import { invokeStage } from '../../engine/run/invoke.ts';

// Planted fingerprints: x_t = c + a·cos θ_t·u + b·sin θ_t·v with orthonormal u, v in a 2×4×3 output
// tensor (F = 24). Over a full period the PCs are the ellipse axes (variance a²/2, b²/2), the
// trajectory is the ellipse itself, and its evolute has cusps at the 4 vertices θ = 0, π/2, π, 3π/2.
const N = 80;
const a = 3;
const b = 1;
const F = 24;
const u = new Float32Array(F);
const v = new Float32Array(F);
u[5] = 0.6; u[11] = 0.8;
v[2] = 1;
const thetaAt = (i: number) => (2 * Math.PI * (i - 10)) / N; // vertices at i = 10, 30, 50, 70
const steps = Array.from({ length: N }, (_, i) => 100 * (i + 1));

async function fixture() {
  const root = await tempDir('ed');
  const dirs: string[] = [];
  // Written in shuffled order: the stage must sort by eval.json's step.
  for (const i of [...steps.keys()].sort((p, q) => ((p * 37) % N) - ((q * 37) % N))) {
    const th = thetaAt(i);
    const data = Float32Array.from({ length: F }, (_, f) => 0.5 + a * Math.cos(th) * u[f] + b * Math.sin(th) * v[f]);
    dirs.push(await writeEval(path.join(root, `eval-${i}`), steps[i], {}, { shape: [2, 4, 3], data }));
  }
  return { root, dirs };
}

test('planted ellipse: explained variance, trajectory and the four vertex cusps', async () => {
  const { root, dirs } = await fixture();
  try {
    const outDir = path.join(root, 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(outDir));
    const params = edParams.parse({ components: 3, smoothing: { sigmaStart: 0, sigmaEnd: 0 }, cuspSkip: 1, numCusps: 4 });
    await invokeStage(edStage, fakeContext(params, { evals: dirs }, outDir));
    const ed = JSON.parse(await readFile(path.join(outDir, 'ed.json'), 'utf8')) as EdJson;
    assert.equal(ed.steps, steps);
    const total = a * a + b * b;
    assert.ok(Math.abs(ed.explainedVariance[0] - (a * a) / total) < 1e-4, `PC1 ratio ${ed.explainedVariance[0]}`);
    assert.ok(Math.abs(ed.explainedVariance[1] - (b * b) / total) < 1e-4, `PC2 ratio ${ed.explainedVariance[1]}`);
    assert.ok(ed.explainedVariance[2] < 1e-6);
    // PC1 is ±a cos θ, PC2 is ±b sin θ; without smoothing, smoothed = pcs.
    ed.pcs.forEach((r, i) => {
      assert.ok(Math.abs(Math.abs(r[0]) - a * Math.abs(Math.cos(thetaAt(i)))) < 1e-4, `PC1 at ${i}`);
      assert.ok(Math.abs(Math.abs(r[1]) - b * Math.abs(Math.sin(thetaAt(i)))) < 1e-4, `PC2 at ${i}`);
    });
    assert.equal(ed.smoothed, ed.pcs);
    assert.equal(ed.sigma, new Array(N).fill(0));
    assert.equal(ed.pairs.map((p) => [p.i, p.j]), [[0, 1], [0, 2], [1, 2]]);
    const pair = ed.pairs[0];
    assert.equal([...pair.cuspIndices].sort((p, q) => p - q), [10, 30, 50, 70]);
    assert.equal([...pair.cuspSteps].sort((p, q) => p - q), [1100, 3100, 5100, 7100]);
    // Sharpest turns of an ellipse: the ends of the major axis.
    assert.equal([...pair.sharpestIndices].sort((p, q) => p - q), [10, 50]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('smoothing schedule is linear in the checkpoint index', async () => {
  const { root, dirs } = await fixture();
  try {
    const outDir = path.join(root, 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(outDir));
    const params = edParams.parse({ components: 2, smoothing: { sigmaStart: 1, sigmaEnd: 5 }, cuspSkip: 2, numCusps: 2 });
    await invokeStage(edStage, fakeContext(params, { evals: dirs }, outDir));
    const ed = JSON.parse(await readFile(path.join(outDir, 'ed.json'), 'utf8')) as EdJson;
    assert.is(ed.sigma[0], 1);
    assert.is(ed.sigma[N - 1], 5);
    assert.ok(Math.abs(ed.sigma[40] - (1 + (4 * 40) / (N - 1))) < 1e-12);
    assert.not.equal(ed.smoothed, ed.pcs);
    assert.is(ed.pairs.length, 1);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('mismatched probe outputs and bad inputs are clear errors', async () => {
  const root = await tempDir('ed-bad');
  try {
    const d1 = await writeEval(path.join(root, 'e1'), 1, {}, { shape: [1, 2, 2], data: new Float32Array(4) });
    const d2 = await writeEval(path.join(root, 'e2'), 2, {}, { shape: [1, 2, 2], data: new Float32Array(4) });
    const d3 = await writeEval(path.join(root, 'e3'), 3, {}, { shape: [2, 2, 2], data: new Float32Array(8) });
    const params = edParams.parse({});
    try {
      await invokeStage(edStage, fakeContext(params, { evals: [d1, d2, d3] }, root));
      assert.unreachable('expected a shape error');
    } catch (err) {
      assert.match((err as Error).message, /outputs of shape \[2,2,2\] but earlier checkpoints have \[1,2,2\]/);
    }
    try {
      await invokeStage(edStage, fakeContext(params, { evals: d1 }, root));
      assert.unreachable('expected an input error');
    } catch (err) {
      assert.match((err as Error).message, /essential-dynamics: input 'evals' must be a list of paths \(dir\[\]\)/);
    }
    try {
      await invokeStage(edStage, fakeContext(params, { evals: [d1, d1, d2] }, root));
      assert.unreachable('expected a duplicate-step error');
    } catch (err) {
      assert.match((err as Error).message, /two 'evals' inputs have step 1/);
    }
    assert.throws(() => edParams.parse({ cuspSkip: 0 }));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
