// Parity with an independent PyTorch implementation (tools/oracle/model_oracle.py → test/fixtures/oracle.json).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend.ts';
import { Transformer, paramShapes, type ModelAblation, type ModelConfig } from '../../lib/model.ts';
import { Adam } from '../../lib/optim.ts';
import type { TensorMap } from '../../lib/tensorfile.ts';
import { relErr } from './compare.ts';

// uvu loads test files through a CommonJS hook: no top-level await.
test.before(async () => {
  await initBackend();
});

interface Fixture {
  config: ModelConfig;
  paramCount: number;
  batch: { B: number; xs: string; ys: string };
  params: Record<string, { shape: number[]; data: string }>;
  outputs: string;
  predictions: string;
  perPositionLoss: number[];
  loss: number;
  grads: Record<string, string>;
  adam: { lr: number; steps: number; lossAfterEachStep: number[] };
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/oracle.json', import.meta.url), 'utf8')) as Fixture;
const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const { config } = fixture;
const { B } = fixture.batch;
const params: TensorMap = Object.fromEntries(Object.entries(fixture.params).map(([n, p]) => [n, { shape: p.shape, data: f32(p.data) }]));
const xsData = f32(fixture.batch.xs);
const ysData = f32(fixture.batch.ys);


function withModel<T>(ablation: ModelAblation, f: (m: Transformer, xs: tf.Tensor3D, ys: tf.Tensor2D) => T): T {
  const model = new Transformer(config, params, ablation);
  const xs = tf.tensor3d(xsData, [B, config.K, config.D]);
  const ys = tf.tensor2d(ysData, [B, config.K]);
  try {
    return f(model, xs, ys);
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

test('forward outputs, predictions and per-position loss agree with PyTorch to 1e-5 of scale', () => {
  assert.ok(outputsErr({}) <= 1e-5, `outputs: ${outputsErr({})}`);
  withModel({}, (m, xs, ys) => {
    const pred = m.predict(xs, ys);
    assert.ok(relErr(pred.dataSync(), f32(fixture.predictions)) <= 1e-5);
    pred.dispose();
    assert.ok(relErr(m.perPositionLoss(xs, ys), fixture.perPositionLoss) <= 1e-5);
  });
});

test('the gradient of every parameter agrees with PyTorch to 1e-5 of its scale', () => {
  withModel({}, (m, xs, ys) => {
    const { perPosition, grads } = m.lossAndGrads(xs, ys);
    assert.ok(Math.abs(perPosition.reduce((a, b) => a + b, 0) / config.K - fixture.loss) <= 1e-5 * fixture.loss);
    m.names.forEach((name, i) => {
      const e = relErr(grads[i].dataSync(), f32(fixture.grads[name]));
      assert.ok(e <= 1e-5, `${name}: ${e}`);
    });
    tf.dispose(grads);
  });
});

test('three Adam steps give PyTorch\'s losses', () => {
  withModel({}, (m, xs, ys) => {
    const weights = m.names.map((n) => Float32Array.from(params[n].data));
    const adam = new Adam(weights.map((w) => w.length));
    for (let s = 0; s < fixture.adam.steps; s++) {
      const { grads } = m.lossAndGrads(xs, ys);
      adam.step(weights, grads.map((g) => g.dataSync() as Float32Array), fixture.adam.lr);
      tf.dispose(grads);
      weights.forEach((w, i) => m.setParam(i, w));
      const loss = m.perPositionLoss(xs, ys).reduce((a, b) => a + b, 0) / config.K;
      const expect = fixture.adam.lossAfterEachStep[s];
      assert.ok(Math.abs(loss - expect) <= 1e-5 * expect, `step ${s + 1}: ${loss} vs ${expect}`);
    }
  });
});

test('the parity test would catch a missing double residual or causal mask', () => {
  // Each deviation is far outside the 1e-5 tolerance, so the tests above fail without it.
  assert.ok(outputsErr({ singleResidual: true }) > 1e-2, `single residual: ${outputsErr({ singleResidual: true })}`);
  assert.ok(outputsErr({ noCausalMask: true }) > 1e-2, `no mask: ${outputsErr({ noCausalMask: true })}`);
});

test.run();
