// Parity with an independent PyTorch implementation (tools/oracle/model_oracle.py → test/fixtures/oracle.json).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend.ts';
import { Transformer, paramShapes, type ModelAblation } from '../../lib/model.ts';
import { Adam } from '../../lib/optim.ts';
import { relErr } from './compare.ts';
import { f32, fixture, oracleParams, oracleXs, oracleYs } from './oracle-fixture.ts';

// uvu loads test files through a CommonJS hook: no top-level await.
test.before(async () => {
  await initBackend();
});

const { config } = fixture;
const { B } = fixture.batch;
const params = oracleParams;
const xsData = oracleXs;
const ysData = oracleYs;

async function withModel<T>(ablation: ModelAblation, f: (m: Transformer, xs: tf.Tensor3D, ys: tf.Tensor2D) => T | Promise<T>): Promise<T> {
  const model = new Transformer(config, params, ablation);
  const xs = tf.tensor3d(xsData, [B, config.K, config.D]);
  const ys = tf.tensor2d(ysData, [B, config.K]);
  try {
    return await f(model, xs, ys);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

const outputsErr = (ablation: ModelAblation) =>
  withModel(ablation, (m, xs, ys) => {
    const out = m.forward(m.encode(xs, ys));
    const e = relErr(out.dataSync(), f32(fixture.outputs));
    out.dispose();
    return e;
  });

test('the fixture is the paper model and its parameter names are ours, in our order', () => {
  assert.is(fixture.paramCount, 51_717);
  assert.equal(Object.keys(fixture.params), paramShapes(config).map((p) => p.name));
  assert.equal(Object.values(fixture.params).map((p) => p.shape), paramShapes(config).map((p) => p.shape));
});

test('forward outputs, predictions and per-position loss agree with PyTorch to 1e-5 of scale', async () => {
  const err = await outputsErr({});
  assert.ok(err <= 1e-5, `outputs: ${err}`);
  await withModel({}, async (m, xs, ys) => {
    const pred = m.predict(xs, ys);
    assert.ok(relErr(pred.dataSync(), f32(fixture.predictions)) <= 1e-5);
    pred.dispose();
    assert.ok(relErr(await m.perPositionLoss(xs, ys), fixture.perPositionLoss) <= 1e-5);
  });
});

test('the gradient of every parameter agrees with PyTorch to 1e-5 of its scale', async () => {
  await withModel({}, async (m, xs, ys) => {
    const { perPosition, grads } = await m.lossAndGrads(xs, ys);
    assert.ok(Math.abs(perPosition.reduce((a, b) => a + b, 0) / config.K - fixture.loss) <= 1e-5 * fixture.loss);
    m.names.forEach((name, i) => {
      const e = relErr(grads[i].dataSync(), f32(fixture.grads[name]));
      assert.ok(e <= 1e-5, `${name}: ${e}`);
    });
    tf.dispose(grads);
  });
});

test('three Adam steps give PyTorch\'s losses', async () => {
  await withModel({}, async (m, xs, ys) => {
    const weights = m.names.map((n) => Float32Array.from(params[n].data));
    const adam = new Adam(weights.map((w) => w.length));
    for (let s = 0; s < fixture.adam.steps; s++) {
      const { grads } = await m.lossAndGrads(xs, ys);
      adam.step(weights, grads.map((g) => g.dataSync() as Float32Array), fixture.adam.lr);
      tf.dispose(grads);
      weights.forEach((w, i) => m.setParam(i, w));
      const loss = (await m.perPositionLoss(xs, ys)).reduce((a, b) => a + b, 0) / config.K;
      const expect = fixture.adam.lossAfterEachStep[s];
      assert.ok(Math.abs(loss - expect) <= 1e-5 * expect, `step ${s + 1}: ${loss} vs ${expect}`);
    }
  });
});

test('the parity test would catch a missing double residual or causal mask', async () => {
  // Each deviation is far outside the 1e-5 tolerance, so the tests above fail without it.
  const single = await outputsErr({ singleResidual: true });
  const noMask = await outputsErr({ noCausalMask: true });
  assert.ok(single > 1e-2, `single residual: ${single}`);
  assert.ok(noMask > 1e-2, `no mask: ${noMask}`);
});

test.run();
