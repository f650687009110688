// The fused WebAssembly kernel against two independent references: the PyTorch oracle fixture and
// the tfjs graph of lib/model.ts (on shapes where every SIMD loop has a scalar tail).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../lib/backend.ts';
import { FusedTransformer } from '../../../lib/kernels/fused-transformer.ts';
import { PAPER_MODEL, Transformer, initParams, paramCount, paramShapes, runInChunks, type ModelConfig } from '../../../lib/model.ts';
import { rngStream } from '../../../lib/rng.ts';
import { sampleBatch } from '../../../lib/tasks.ts';
import { rejects } from '../../support/rejects.ts';
import { relErr } from '../compare.ts';

test.before(async () => {
  await initBackend();
});

const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};


test('matches the PyTorch oracle: outputs, per-position loss and every gradient to 1e-5 of scale', () => {
  const fx = JSON.parse(readFileSync(new URL('../../fixtures/oracle.json', import.meta.url), 'utf8'));
  const cfg = fx.config as ModelConfig;
  const names = paramShapes(cfg).map((p) => p.name);
  const params = names.map((n) => f32(fx.params[n].data));
  const xs = f32(fx.batch.xs), ys = f32(fx.batch.ys), B = fx.batch.B as number;
  const kernel = new FusedTransformer(cfg);
  assert.is(kernel.paramCount, 51_717);
  assert.ok(relErr(kernel.forward(params, xs, ys, B), f32(fx.outputs)) <= 1e-5);
  const { perPosition, grads } = kernel.lossAndGrads(params, xs, ys, B);
  assert.ok(relErr(perPosition, fx.perPositionLoss) <= 1e-5);
  let at = 0;
  for (const n of names) {
    const ref = f32(fx.grads[n]);
    const e = relErr(grads.subarray(at, at + ref.length), ref);
    assert.ok(e <= 1e-5, `${n}: ${e}`);
    at += ref.length;
  }
});

// Odd widths (c = 3, mlp = 7, V = 4, T = 10) exercise every scalar tail of the SIMD loops.
const ODD: ModelConfig = { D: 3, K: 5, layers: 3, heads: 2, dModel: 6, dMlp: 7, layerNorm: true, includeOutput: true };
const shapes: [string, ModelConfig][] = [
  ['paper L2H4, K = 16', { ...PAPER_MODEL, K: 16 }],
  ['odd widths', ODD],
  ['odd widths, no LayerNorm', { ...ODD, layerNorm: false }],
  ['odd widths, no output projection', { ...ODD, includeOutput: false }],
];

/** Random initial weights with LN γ/β perturbed away from 1/0, so that their gradients and effects are not degenerate. */
function randomParams(cfg: ModelConfig, seed: number) {
  const params = initParams(cfg, rngStream(seed, 'init'));
  const r = rngStream(seed, 'perturb');
  for (const [name, t] of Object.entries(params)) if (name.includes('layer_norms') || name.includes('unembedding.0')) t.data.forEach((v, i) => (t.data[i] = v + 0.2 * r.normal()));
  return params;
}

// B = 37 (prime) at K = 8 runs in several chunks of sequences (transformer.c, CHUNK_ROWS), the last one partial.
for (const [label, cfg, B] of [...shapes.map(([l, c]) => [l, c, 5] as const), ['paper L2H4, K = 8, several chunks', { ...PAPER_MODEL, K: 8 }, 37] as const]) {
  test(`agrees with the tfjs graph (${label}, B = ${B}): loss, gradients, outputs`, async () => {
    const params = randomParams(cfg, 7);
    const batch = sampleBatch({ D: cfg.D, K: cfg.K, noiseVariance: 0.125, M: 'inf' }, B, rngStream(7, 'data'));
    const graph = new Transformer(cfg, params, {}, 'tfjs');
    const fused = new Transformer(cfg, params, {}, 'fused');
    const xs = tf.tensor3d(batch.xs, [B, cfg.K, cfg.D]);
    const ys = tf.tensor2d(batch.ys, [B, cfg.K]);
    const a = await graph.lossAndGrads(xs, ys);
    const b = await fused.lossAndGrads(xs, ys);
    assert.ok(relErr(b.perPosition, a.perPosition) <= 1e-5, 'per-position loss');
    graph.names.forEach((name, i) => {
      const e = relErr(b.grads[i].dataSync(), a.grads[i].dataSync());
      assert.ok(e <= 1e-5, `${name}: ${e}`);
    });
    assert.ok(relErr(await fused.perPositionLoss(xs, ys), await graph.perPositionLoss(xs, ys)) <= 1e-5);
    assert.ok(relErr(await runInChunks(fused, batch.xs, batch.ys, B, true, 2), await runInChunks(graph, batch.xs, batch.ys, B, true, 2)) <= 1e-5);
    assert.ok(relErr(await runInChunks(fused, batch.xs, batch.ys, B), await runInChunks(graph, batch.xs, batch.ys, B)) <= 1e-5);
    tf.dispose([xs, ys, ...a.grads, ...b.grads]);
    graph.dispose();
    fused.dispose();
  });
}

// loss_and_grads computes the last layer after attention at x-tokens only (the loss reads nothing
// else); computing every position, as forward does, must give the same loss and gradients to float32
// rounding, parameter by parameter — on random weights, with 2 layers (the first layer's gradients
// flow through the last layer's keys and values at y-tokens too), one chunk of sequences and several.
for (const B of [3, 37]) {
  test(`x-token-only last layer = every position (L2H4, K = 8, B = ${B}): loss and each gradient`, () => {
    const cfg = { ...PAPER_MODEL, K: 8 };
    const params = randomParams(cfg, 9);
    const names = paramShapes(cfg).map((p) => p.name);
    const batch = sampleBatch({ D: cfg.D, K: cfg.K, noiseVariance: 0.125, M: 'inf' }, B, rngStream(9, 'data'));
    const kernel = new FusedTransformer(cfg);
    const flat = names.map((n) => params[n].data);
    const xonly = kernel.lossAndGrads(flat, batch.xs, batch.ys, B);
    const every = kernel.lossAndGrads(flat, batch.xs, batch.ys, B, true);
    assert.ok(relErr(xonly.perPosition, every.perPosition) <= 1e-6, `per-position loss: ${relErr(xonly.perPosition, every.perPosition)}`);
    let at = 0;
    for (const [i, n] of names.entries()) {
      const size = flat[i].length;
      const e = relErr(xonly.grads.subarray(at, at + size), every.grads.subarray(at, at + size));
      assert.ok(e <= 1e-6, `${n}: ${e}`);
      at += size;
    }
    // the predictions too: the x-token-only forward against the full outputs' channel 0 at x-tokens
    const full = kernel.forward(flat, batch.xs, batch.ys, B);
    assert.equal(Array.from(kernel.predict(flat, batch.xs, batch.ys, B)), Array.from({ length: B * cfg.K }, (_, i) => full[2 * i * (cfg.D + 1)]));
  });
}

test('changing the batch size re-lays out the buffers without changing results', () => {
  const cfg = ODD;
  const kernel = new FusedTransformer(cfg);
  const params = paramShapes(cfg).map((p) => initParams(cfg, rngStream(8, 'init'))[p.name].data);
  assert.is(params.reduce((n, p) => n + p.length, 0), paramCount(cfg));
  const big = sampleBatch({ D: cfg.D, K: cfg.K, noiseVariance: 0.125, M: 'inf' }, 9, rngStream(8, 'data'));
  const small = { xs: big.xs.subarray(0, 2 * cfg.K * cfg.D), ys: big.ys.subarray(0, 2 * cfg.K) };
  const first = kernel.lossAndGrads(params, small.xs, small.ys, 2);
  kernel.lossAndGrads(params, big.xs, big.ys, 9);
  const again = kernel.lossAndGrads(params, small.xs, small.ys, 2);
  assert.equal(Array.from(again.grads), Array.from(first.grads));
  assert.equal(Array.from(again.perPosition), Array.from(first.perPosition));
});

test('wrong sizes fail with a message naming what was expected', async () => {
  const kernel = new FusedTransformer(PAPER_MODEL);
  const params = paramShapes(PAPER_MODEL).map((p) => new Float32Array(p.shape.reduce((a, b) => a * b, 1)));
  assert.throws(() => kernel.lossAndGrads(params, new Float32Array(10), new Float32Array(8), 1), /xs must hold B·K·D = 32 values/);
  assert.throws(() => kernel.lossAndGrads(params.slice(1), new Float32Array(32), new Float32Array(8), 1), /parameters hold 51397 values, the model has 51717/);
  await rejects(() => new Transformer(PAPER_MODEL, initParams(PAPER_MODEL, rngStream(0, 'init')), { singleResidual: true }, 'fused').lossAndGrads(tf.zeros([1, 8, 4]), tf.zeros([1, 8])), /fused kernel implements the paper model only/);
});

test.run();
