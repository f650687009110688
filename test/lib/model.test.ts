import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend.ts';
import { PAPER_MODEL, Transformer, initParams, paramCount, paramShapes, type ModelConfig } from '../../lib/model.ts';
import { rngStream } from '../../lib/rng.ts';
import { sampleBatch } from '../../lib/tasks.ts';
import type { TensorMap } from '../../lib/tensorfile.ts';

// uvu loads test files through a CommonJS hook: no top-level await.
test.before(async () => {
  await initBackend();
});
const TASK = { D: 4, K: 8, noiseVariance: 0.125, M: 'inf' as const };

function batchTensors(B: number, seed: number) {
  const b = sampleBatch(TASK, B, rngStream(seed, 'test-batch'));
  return { xs: tf.tensor3d(b.xs, [B, 8, 4]), ys: tf.tensor2d(b.ys, [B, 8]), raw: b };
}

test('parameter counts match docs/model.md (51,717 for the paper model)', () => {
  assert.is(paramCount(PAPER_MODEL), 51_717);
  assert.is(paramCount({ ...PAPER_MODEL, K: 16 }), 52_741);
  assert.is(paramCount({ ...PAPER_MODEL, includeOutput: false }), 43_525);
  assert.is(paramCount({ ...PAPER_MODEL, K: 16, includeOutput: false }), 44_549);
  const l8h2: ModelConfig = { D: 8, K: 16, layers: 8, heads: 2, dModel: 128, dMlp: 128, layerNorm: true, includeOutput: true };
  assert.is(paramCount(l8h2), 799_241);
  assert.is(paramCount({ ...l8h2, includeOutput: false }), 668_169);
  const shapes = paramShapes(PAPER_MODEL);
  assert.equal(shapes[0], { name: 'token_sequence_transformer.token_embedding.weight', shape: [64, 5] });
  assert.equal(shapes[2], { name: 'token_sequence_transformer.blocks.0.attention.attention.weight', shape: [192, 64] });
  assert.equal(shapes.at(-1), { name: 'token_sequence_transformer.unembedding.1.bias', shape: [5] });
});

test('init: U(±1/√fan_in) for weights and biases, LayerNorm γ = 1, β = 0; deterministic per seed', () => {
  const p = initParams(PAPER_MODEL, rngStream(0, 'init'));
  const check = (name: string, fanIn: number) => {
    const d = p[`token_sequence_transformer.${name}`].data;
    const bound = 1 / Math.sqrt(fanIn);
    let v = 0;
    for (const x of d) { assert.ok(Math.abs(x) <= bound); v += x * x; }
    v /= d.length;
    assert.ok(Math.abs(v / (bound * bound / 3) - 1) < 6 / Math.sqrt(d.length), `${name}: variance ratio ${v / (bound * bound / 3)}`);
  };
  check('token_embedding.weight', 5);
  check('postn_embedding.weight', 16);
  check('blocks.1.attention.attention.weight', 64);
  check('blocks.0.compute.2.weight', 64);
  check('unembedding.1.weight', 64);
  assert.ok(p['token_sequence_transformer.blocks.0.layer_norms.1.weight'].data.every((x) => x === 1));
  assert.ok(p['token_sequence_transformer.unembedding.0.bias'].data.every((x) => x === 0));
  assert.equal(initParams(PAPER_MODEL, rngStream(0, 'init')), p);
});

test('all weights zero except the unembedding bias b: every output equals b', () => {
  const p = initParams(PAPER_MODEL, rngStream(1, 'init'));
  for (const [name, t] of Object.entries(p)) if (!name.endsWith('unembedding.1.bias')) t.data.fill(0);
  const model = new Transformer(PAPER_MODEL, p);
  const { xs, ys } = batchTensors(4, 1);
  const out = model.forward(model.encode(xs, ys));
  const b = p['token_sequence_transformer.unembedding.1.bias'].data;
  const data = out.dataSync();
  for (let i = 0; i < data.length; i++) assert.is(data[i], b[i % 5]);
  tf.dispose([out, xs, ys]);
  model.dispose();
});

test('causality: changing token t leaves every output at positions < t unchanged', () => {
  const model = new Transformer(PAPER_MODEL, initParams(PAPER_MODEL, rngStream(2, 'init')));
  const { xs, ys } = batchTensors(3, 2);
  const tokens = model.encode(xs, ys);
  const base = model.forward(tokens).arraySync();
  for (const t of [1, 6, 15]) {
    const changed = tokens.arraySync();
    for (const seq of changed) seq[t] = seq[t].map((v) => v + 3);
    const out = model.forward(tf.tensor3d(changed)).arraySync();
    let before = 0, atOrAfter = 0;
    for (let b = 0; b < 3; b++) {
      for (let pos = 0; pos < 16; pos++) {
        for (let c = 0; c < 5; c++) {
          const d = Math.abs(out[b][pos][c] - base[b][pos][c]);
          if (pos < t) before = Math.max(before, d); else atOrAfter = Math.max(atOrAfter, d);
        }
      }
    }
    assert.is(before, 0, `token ${t} changed an earlier output by ${before}`);
    assert.ok(atOrAfter > 1e-3);
  }
  tf.dispose([xs, ys, tokens]);
  model.dispose();
});

test('predict reads output channel 0 at x-tokens; getParams/setParams round-trip', async () => {
  const model = new Transformer(PAPER_MODEL, initParams(PAPER_MODEL, rngStream(3, 'init')));
  const { xs, ys } = batchTensors(2, 3);
  const out = model.forward(model.encode(xs, ys)).arraySync();
  const pred = model.predict(xs, ys).arraySync();
  for (let b = 0; b < 2; b++) for (let k = 0; k < 8; k++) assert.is(pred[b][k], out[b][2 * k][0]);
  const p = await model.getParams();
  p['token_sequence_transformer.unembedding.1.bias'].data[0] += 1;
  model.setParams(p);
  const pred2 = model.predict(xs, ys).arraySync();
  assert.ok(Math.abs(pred2[0][0] - pred[0][0] - 1) < 1e-5);
  assert.throws(() => model.setParams({} as TensorMap), /missing 'token_sequence_transformer.token_embedding.weight'/);
  tf.dispose([xs, ys]);
  model.dispose();
});

test('gradient check: directional finite differences agree with lossAndGrads', async () => {
  // float32 forward: loss ≈ 4 carries ≈ 5e-7 rounding, so with h = 1e-2 the central difference has
  // ≈ 5e-5 rounding error plus O(h²) truncation; the directional derivatives are O(0.1–1).
  const p = initParams(PAPER_MODEL, rngStream(4, 'init'));
  const model = new Transformer(PAPER_MODEL, p);
  const { xs, ys } = batchTensors(16, 4);
  const { perPosition, grads } = await model.lossAndGrads(xs, ys);
  const g = grads.map((t) => t.dataSync() as Float32Array);
  const lossAt = async (params: TensorMap) => {
    model.setParams(params);
    return (await model.perPositionLoss(xs, ys)).reduce((a, b) => a + b, 0) / 8;
  };
  assert.ok(Math.abs((await lossAt(p)) - perPosition.reduce((a, b) => a + b, 0) / 8) < 1e-6);
  // one direction per parameter tensor (catches a wrong gradient in any single tensor), plus all at once
  const names = model.names;
  for (let which = -1; which < names.length; which++) {
    const r = rngStream(5, 'direction', which + 1);
    const dir = names.map((n, i) => (which === -1 || which === i ? r.fillNormal(new Float32Array(p[n].data.length)) : new Float32Array(p[n].data.length)));
    const norm = Math.sqrt(dir.reduce((s, d) => s + d.reduce((a, x) => a + x * x, 0), 0));
    dir.forEach((d) => d.forEach((_, i) => (d[i] /= norm)));
    const shifted = (sign: number) => Object.fromEntries(names.map((n, i) => [n, { shape: p[n].shape, data: p[n].data.map((x, j) => x + sign * 1e-2 * dir[i][j]) }]));
    const fd = ((await lossAt(shifted(1))) - (await lossAt(shifted(-1)))) / 2e-2;
    const analytic = g.reduce((s, gi, i) => s + gi.reduce((a, x, j) => a + x * dir[i][j], 0), 0);
    assert.ok(Math.abs(fd - analytic) < 2e-3 * Math.max(1, Math.abs(analytic)) + 3e-4, `${which === -1 ? 'all' : names[which]}: fd ${fd} vs analytic ${analytic}`);
  }
  tf.dispose([...grads, xs, ys]);
  model.dispose();
});

test('no tensors leak across forward, predict and lossAndGrads', async () => {
  const model = new Transformer(PAPER_MODEL, initParams(PAPER_MODEL, rngStream(6, 'init')));
  const { xs, ys } = batchTensors(4, 6);
  (await model.lossAndGrads(xs, ys)).grads.forEach((t) => t.dispose());
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    (await model.lossAndGrads(xs, ys)).grads.forEach((t) => t.dispose());
    await model.perPositionLoss(xs, ys);
    model.setParams(await model.getParams());
  }
  assert.is(tf.memory().numTensors, before);
  tf.dispose([xs, ys]);
  model.dispose();
});

test.run();
