// The model on the WebGPU backend (Dawn; on a machine without a GPU, Mesa's software OpenGL ES):
// PyTorch parity of forward and gradients, PyTorch's losses over Adam steps, an SGLD chain equal to
// the same chain on the CPU, and no device memory growth over many steps.
// Software GL runs this model ≈ 1–2 s per step, so batches are the oracle's 8 sequences and runs are
// short; the first step of each new shape compiles shaders (seconds).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { Transformer, readFloats, type ModelKernel } from '../../lib/model.ts';
import { Adam } from '../../lib/optim.ts';
import { rngStream } from '../../lib/rng.ts';
import { sgldChain } from '../../lib/sgld.ts';
import { initBackend } from '../../lib/backend.ts';
import { relErr } from '../lib/compare.ts';
import { f32, fixture, oracleParams, oracleXs, oracleYs } from '../lib/oracle-fixture.ts';
import { printSkipped, webgpuBackend } from '../support/gpu.ts';

let skipped: string | null = null;
let backend = '';

test.before(async () => {
  const got = await webgpuBackend();
  if ('skipped' in got) {
    skipped = got.skipped;
    printSkipped('webgpu.test.ts', skipped);
  } else backend = got.backend;
});

// Later suites in the same process expect the CPU backend.
test.after(async () => {
  await initBackend('cpu');
});

const { config } = fixture;
const { B } = fixture.batch;

function batch(): { xs: tf.Tensor3D; ys: tf.Tensor2D } {
  return { xs: tf.tensor3d(oracleXs, [B, config.K, config.D]), ys: tf.tensor2d(oracleYs, [B, config.K]) };
}

test('the backend is WebGPU and names its adapter (hardware or software, and which)', () => {
  if (skipped) return;
  assert.match(backend, /^webgpu \((hardware|software): \S.*\)$/);
  assert.is(tf.getBackend(), 'webgpu');
});

test('forward, predictions, per-position loss and every gradient agree with PyTorch to 1e-5 of scale', async () => {
  if (skipped) return;
  const model = new Transformer(config, oracleParams);
  const { xs, ys } = batch();
  try {
    const out = model.forward(model.encode(xs, ys));
    const outErr = relErr(await readFloats(out), f32(fixture.outputs));
    out.dispose();
    assert.ok(outErr <= 1e-5, `outputs: ${outErr}`);
    const pred = model.predict(xs, ys);
    assert.ok(relErr(await readFloats(pred), f32(fixture.predictions)) <= 1e-5);
    pred.dispose();
    const { perPosition, grads } = await model.lossAndGrads(xs, ys);
    assert.ok(relErr(perPosition, fixture.perPositionLoss) <= 1e-5, `loss: ${relErr(perPosition, fixture.perPositionLoss)}`);
    let worst = 0;
    for (let i = 0; i < grads.length; i++) {
      const e = relErr(await readFloats(grads[i]), f32(fixture.grads[model.names[i]]));
      assert.ok(e <= 1e-5, `${model.names[i]}: ${e}`);
      worst = Math.max(worst, e);
    }
    tf.dispose(grads);
    console.log(`    webgpu parity: outputs ${outErr.toExponential(1)}, worst gradient ${worst.toExponential(1)} (relative to scale)`);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
});

test('three Adam steps (train.ts\'s loop: gradients read back, Adam on the host, weights written back) give PyTorch\'s losses', async () => {
  if (skipped) return;
  const model = new Transformer(config, oracleParams);
  const { xs, ys } = batch();
  try {
    const weights = model.names.map((n) => Float32Array.from(oracleParams[n].data));
    const adam = new Adam(weights.map((w) => w.length));
    for (let s = 0; s < fixture.adam.steps; s++) {
      const { grads } = await model.lossAndGrads(xs, ys);
      adam.step(weights, await Promise.all(grads.map(readFloats)), fixture.adam.lr);
      tf.dispose(grads);
      weights.forEach((w, i) => model.setParam(i, w));
      const loss = (await model.perPositionLoss(xs, ys)).reduce((a, b) => a + b, 0) / config.K;
      const expect = fixture.adam.lossAfterEachStep[s];
      assert.ok(Math.abs(loss - expect) <= 1e-5 * expect, `step ${s + 1}: ${loss} vs ${expect}`);
    }
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
});

/** One SGLD chain from the oracle weights on the oracle batch, on the current backend. */
async function chainLosses(kernel: ModelKernel, steps: number): Promise<Float32Array> {
  const model = new Transformer(config, oracleParams, {}, kernel);
  const { xs, ys } = batch();
  try {
    const run = await sgldChain(
      { variables: model.variables, lossAndGrads: () => model.lossAndGrads(xs, ys) },
      { eps: 1e-3, nbeta: 30, gamma: 10, burnin: 1, draws: steps - 1, noise: rngStream(5, 'sgld', 0) },
    );
    assert.is(run.failed, false);
    // w* is restored after the chain.
    assert.equal(Array.from(await readFloats(model.variables[0])), Array.from(oracleParams[model.names[0]].data));
    return run.losses;
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

test('an SGLD chain on WebGPU follows the same chain on the CPU (same noise and batches)', async () => {
  if (skipped) return;
  const steps = 6;
  const onGpu = await chainLosses('auto', steps);
  await initBackend('cpu');
  const onCpu = await chainLosses('auto', steps);
  await initBackend('gpu');
  assert.is(onGpu.length, steps * config.K);
  // Each step moves the weights by ≈ √ε noise; float32 rounding differences stay ≈ 1e-6 relative.
  const e = relErr(onGpu, onCpu);
  assert.ok(e <= 1e-4, `chain losses differ by ${e} of scale`);
  // And the chain moved: the losses are not all the w* loss.
  assert.ok(Math.abs(onGpu[(steps - 1) * config.K] - onGpu[0]) > 1e-6);
});

test('no device memory growth over many training and SGLD steps', async () => {
  if (skipped) return;
  const model = new Transformer(config, oracleParams);
  const { xs, ys } = batch();
  const weights = model.names.map((n) => Float32Array.from(oracleParams[n].data));
  const adam = new Adam(weights.map((w) => w.length));
  const trainStep = async () => {
    const { grads } = await model.lossAndGrads(xs, ys);
    adam.step(weights, await Promise.all(grads.map(readFloats)), 1e-4);
    tf.dispose(grads);
    weights.forEach((w, i) => model.setParam(i, w));
  };
  const target = { variables: model.variables, lossAndGrads: () => model.lossAndGrads(xs, ys) };
  const sgldSteps = (n: number) => sgldChain(target, { eps: 1e-4, nbeta: 30, gamma: 10, burnin: 0, draws: n, noise: rngStream(6, 'sgld', 0) });
  type Memory = tf.MemoryInfo & { numBytesInGPU: number; numBytesAllocatedInGPU: number };
  const window = async (steps: number): Promise<Memory> => {
    for (let i = 0; i < steps; i++) await trainStep();
    await sgldSteps(steps);
    return tf.memory() as Memory;
  };
  try {
    await window(2); // warm-up: shaders, the buffer pool's first allocations
    const first = await window(6);
    const second = await window(6);
    console.log(`    webgpu memory after 2+6 / 2+6+6 steps of each: ${first.numTensors} / ${second.numTensors} tensors, ` +
      `${first.numBytesInGPU} / ${second.numBytesInGPU} bytes live on the GPU, pool ${first.numBytesAllocatedInGPU} / ${second.numBytesAllocatedInGPU}`);
    assert.is(second.numTensors, first.numTensors, 'tensors leaked');
    assert.is(second.numBytes, first.numBytes, 'tensor bytes leaked');
    // Live GPU bytes move by a few bytes with where the last write-back left a small tensor (host or
    // device); one leaked gradient set per step would add ≈ 200 KB per step.
    assert.ok(Math.abs(second.numBytesInGPU - first.numBytesInGPU) < 1024, `live GPU bytes ${first.numBytesInGPU} → ${second.numBytesInGPU}`);
    // The buffer pool reuses freed buffers: the second window allocates (almost) nothing new.
    assert.ok(second.numBytesAllocatedInGPU - first.numBytesAllocatedInGPU < 64 * 1024, `GPU pool ${first.numBytesAllocatedInGPU} → ${second.numBytesAllocatedInGPU}`);
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
});

test.run();
