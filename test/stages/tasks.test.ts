import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTasks, tasksStage } from '../../stages/tasks.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';
import { makeContext, readTree, removeAll, tempDir } from './ml-context.ts';
import { invokeStage } from '../../engine/run/invoke.ts';

const base = { D: 4, K: 8, noiseVariance: 0.125, evalSize: 64, probeSize: 16, seed: 3 };

async function runTasks(params: Record<string, unknown>) {
  const out = await tempDir('tasks-out');
  const work = await tempDir('tasks-work');
  await invokeStage(tasksStage, makeContext(tasksStage.params.parse(params), {}, out, work));
  return { out, work };
}

test('finite M: task set, eval batches from the discrete and Gaussian priors, probe, tasks.json', async () => {
  const { out, work } = await runTasks({ ...base, M: 4 });
  const data = await loadTasks(out);
  assert.is(data.taskSet!.length, 16);
  assert.equal(data.info.taskMean.length, 4);
  const isStored = (w: Float32Array) => [0, 1, 2, 3].some((m) => [0, 1, 2, 3].every((i) => w[i] === data.taskSet![m * 4 + i]));
  for (let b = 0; b < 64; b++) assert.ok(isStored(data.evalPretrain.ws.subarray(b * 4, b * 4 + 4)));
  assert.not.ok(isStored(data.evalTrue.ws.subarray(0, 4)));
  assert.equal(decodeTensors(await readFile(path.join(out, 'probe.swt'))).tensors.xs.shape, [16, 8, 4]);
  assert.equal(decodeTensors(await readFile(path.join(out, 'eval-true.swt'))).tensors.ws.shape, [64, 4]);
  await removeAll([out, work]);
});

test('M = inf: no task set; outputs are a pure function of the params', async () => {
  const a = await runTasks({ ...base, M: 'inf' });
  const b = await runTasks({ ...base, M: 'inf' });
  const c = await runTasks({ ...base, M: 'inf', seed: 4 });
  const [ta, tb, tc] = await Promise.all([readTree(a.out), readTree(b.out), readTree(c.out)]);
  assert.equal([...ta.keys()].sort(), ['eval-pretrain.swt', 'eval-true.swt', 'probe.swt', 'tasks.json']);
  for (const [name, bytes] of ta) assert.ok(bytes.equals(tb.get(name)!), name);
  assert.not.ok(ta.get('eval-true.swt')!.equals(tc.get('eval-true.swt')!));
  assert.equal(JSON.parse(ta.get('tasks.json')!.toString()).taskMean, [0, 0, 0, 0]);
  await removeAll([a.out, a.work, b.out, b.work, c.out, c.work]);
});

test('bad params name the key', () => {
  assert.throws(() => tasksStage.params.parse({ ...base, M: 0 }), /M/);
  assert.throws(() => tasksStage.params.parse({ ...base, M: 'inf', noiseVariance: -1 }), /noiseVariance/);
});

test.run();
