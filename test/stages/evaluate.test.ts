import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { evaluateStage, type EvalResult } from '../../stages/evaluate.ts';
import { loadTasks, tasksStage } from '../../stages/tasks.ts';
import { initParams, paramShapes, type ModelConfig } from '../../lib/model.ts';
import { rngStream } from '../../lib/rng.ts';
import { decodeTensors, encodeTensors } from '../../lib/tensorfile.ts';
import { makeContext, removeAll, tempDir } from './ml-context.ts';
import { invokeStage } from '../../engine/run/invoke.ts';

const config: ModelConfig = { D: 4, K: 4, layers: 1, heads: 2, dModel: 8, dMlp: 8, layerNorm: true, includeOutput: true };

test('a model that outputs only its unembedding bias b: closed-form metrics and raw outputs', async () => {
  const tasks = await tempDir('ev-tasks');
  const work = await tempDir('ev-work');
  await invokeStage(tasksStage, makeContext(tasksStage.params.parse({ D: 4, K: 4, noiseVariance: 0.125, M: 3, evalSize: 32, probeSize: 5, seed: 1 }), {}, tasks, work));
  const params = initParams(config, rngStream(0, 'init'));
  for (const [name, t] of Object.entries(params)) if (!name.endsWith('unembedding.1.bias')) t.data.fill(0);
  const b = params['token_sequence_transformer.unembedding.1.bias'].data;
  const inputs = await tempDir('ev-inputs');
  await writeFile(path.join(inputs, 'step-00000007.swt'), encodeTensors(params, { step: 7 }));
  await writeFile(path.join(inputs, 'model.json'), JSON.stringify({ config, params: paramShapes(config) }));
  const out = await tempDir('ev-out');
  await invokeStage(evaluateStage, makeContext({}, { checkpoint: path.join(inputs, 'step-00000007.swt'), tasks, model: path.join(inputs, 'model.json') }, out, work));

  const r = JSON.parse(await readFile(path.join(out, 'eval.json'), 'utf8')) as EvalResult;
  const data = await loadTasks(tasks);
  const ys = data.evalPretrain.ys;
  // ŷ ≡ b₀: loss_k = mean_b (y_bk − b₀)², E ŷ² = b₀², fromZero = K·b₀².
  for (let k = 0; k < 4; k++) {
    let l = 0;
    for (let n = 0; n < 32; n++) l += (ys[n * 4 + k] - b[0]) ** 2 / 32;
    assert.ok(Math.abs(r.lossPerPos[k] - l) < 1e-5);
    assert.ok(Math.abs(r.predNormPerPos[k] - b[0] ** 2) < 1e-6);
  }
  assert.is(r.step, 7);
  assert.ok(Math.abs(r.fromZero - 4 * b[0] ** 2) < 1e-6);
  const norm = Math.sqrt(Object.values(params).reduce((s, t) => s + t.data.reduce((a, v) => a + v * v, 0), 0));
  assert.ok(Math.abs(r.weightNorm - norm) < 1e-6);
  const outputs = decodeTensors(await readFile(path.join(out, 'outputs.swt'))).tensors.outputs;
  assert.equal(outputs.shape, [5, 8, 5]);
  outputs.data.forEach((v, i) => assert.is(v, b[i % 5]));
  await removeAll([tasks, inputs, out, work]);
});

test.run();
