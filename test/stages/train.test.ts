import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { tasksStage } from '../../stages/tasks.ts';
import { checkpointName, momentsName, trainStage, type MetricsLine } from '../../stages/train.ts';
import { paramCount } from '../../lib/model.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';
import { makeContext, readTree, removeAll, tempDir } from './ml-context.ts';
import { invokeStage } from '../../engine/run/invoke.ts';

const task = { D: 4, K: 4, noiseVariance: 0.125, M: 'inf' as const };
const cleanup: string[] = [];
const dir = async (p: string) => {
  const d = await tempDir(p);
  cleanup.push(d);
  return d;
};

async function tasksDir(M: number | 'inf' = 'inf', evalSize = 256): Promise<string> {
  const out = await dir('tasks');
  await invokeStage(tasksStage, makeContext(tasksStage.params.parse({ ...task, M, evalSize, probeSize: 8, seed: 0 }), {}, out, await dir('w')));
  return out;
}

function trainParams(over: Record<string, unknown>) {
  return trainStage.params.parse({
    model: { D: 4, K: 4, layers: 1, heads: 2, dModel: 8, dMlp: 8, layerNorm: true, includeOutput: true },
    task,
    steps: 40,
    batchSize: 8,
    lr: 3e-3,
    seed: 5,
    checkpoints: { logSpace: 6, linearSpace: 4 },
    ...over,
  });
}

test('kill and resume: a run aborted mid-way and restarted equals an uninterrupted run, byte for byte', async () => {
  const tasks = await tasksDir();
  const params = trainParams({});
  const straight = await dir('straight');
  await invokeStage(trainStage, makeContext(params, { tasks }, straight, await dir('w')));

  const work = await dir('resume-work');
  const abort = new AbortController();
  // Grid for N = 40: 0 1 2 4 9 13 19 26. Abort at step 23: the resumed run must redo 20…22.
  const ctx = makeContext(params, { tasks }, await dir('killed'), work, { signal: abort.signal, onProgress: (done) => done === 23 && abort.abort() });
  try {
    await invokeStage(trainStage, ctx);
    assert.unreachable('the run should have been aborted');
  } catch (e) {
    assert.match((e as Error).message, /aborted at step 23/);
  }
  const state = decodeTensors(await readFile(path.join(work, 'state.swt')));
  assert.is(state.meta.nextStep, 20);
  const resumed = await dir('resumed');
  await invokeStage(trainStage, makeContext(params, { tasks }, resumed, work));

  const [a, b] = await Promise.all([readTree(straight), readTree(resumed)]);
  assert.equal([...b.keys()].sort(), [...a.keys()].sort());
  for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `${name} differs after resume`);
  // And a different seed really gives a different run (the comparison above is not vacuous).
  const other = await dir('other');
  await invokeStage(trainStage, makeContext(trainParams({ seed: 6 }), { tasks }, other, await dir('w')));
  assert.not.ok((await readTree(other)).get('metrics.jsonl')!.equals(a.get('metrics.jsonl')!));
});

test('outputs follow docs/artifacts.md: checkpoints at the grid, model.json, metrics, baselines', async () => {
  const tasks = await tasksDir(8, 128);
  const params = trainParams({ task: { ...task, M: 8 }, steps: 20 });
  const out = await dir('formats');
  await invokeStage(trainStage, makeContext(params, { tasks }, out, await dir('w')));
  const train = JSON.parse(await readFile(path.join(out, 'train.json'), 'utf8'));
  assert.equal(train.checkpointSteps, [0, 1, 3, 6, 10, 13]);
  // Each checkpoint and, beside it, Adam's moments at that step (m-ED / v-ED).
  assert.equal((await readdir(path.join(out, 'checkpoints'))).sort(), train.checkpointSteps.flatMap((s: number) => [momentsName(s), checkpointName(s)]).sort());
  const ckpt = decodeTensors(await readFile(path.join(out, 'checkpoints', checkpointName(6))));
  assert.is(ckpt.meta.step, 6);
  assert.is(Object.values(ckpt.tensors).reduce((n, t) => n + t.data.length, 0), paramCount(params.model));
  const model = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8'));
  assert.equal(Object.keys(ckpt.tensors), model.params.map((p: { name: string }) => p.name));
  const metrics = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as MetricsLine);
  assert.equal(metrics.map((m) => m.step), train.checkpointSteps);
  assert.is(metrics[0].pretrain.msePerPos.length, 4);
  const baselines = JSON.parse(await readFile(path.join(out, 'baselines.json'), 'utf8'));
  // Ridge and dMMSE are Bayes-optimal per prior: each beats the zero predictor on its own set.
  assert.ok(baselines.pretrain.dmmse.mse < baselines.pretrain.ridge.mse);
  assert.ok(baselines.true.ridge.mse < baselines.true.zero.mse);
  // dMMSE at position 0 is the task average.
  assert.ok(Math.abs(baselines.pretrain.dmmse.msePerPos[0] - baselines.pretrain.taskAverage.msePerPos[0]) < 1e-9);
});

test('a short run of a small model learns in context: eval loss from ≈4.3 to below the zero predictor\'s 4.125', async () => {
  const tasks = await tasksDir('inf', 4096);
  const params = trainParams({ model: { D: 4, K: 4, layers: 2, heads: 2, dModel: 32, dMlp: 32, layerNorm: true, includeOutput: true }, steps: 300, batchSize: 64, lr: 0.006, seed: 0, checkpoints: { logSpace: 3, linearSpace: 4 } });
  const out = await dir('learn');
  await invokeStage(trainStage, makeContext(params, { tasks }, out, await dir('w')));
  const metrics = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as MetricsLine);
  const baselines = JSON.parse(await readFile(path.join(out, 'baselines.json'), 'utf8'));
  const first = metrics[0].pretrain.mse, last = metrics.at(-1)!.pretrain.mse;
  assert.ok(first > 4.2, `initial loss ${first}`);
  assert.ok(last < 4.125 && last < baselines.pretrain.zero.mse, `final loss ${last}, zero predictor ${baselines.pretrain.zero.mse}`);
});

test('a mismatch between params.task and the tasks input is refused, naming the key', async () => {
  const tasks = await tasksDir();
  try {
    await invokeStage(trainStage, makeContext(trainParams({ task: { ...task, noiseVariance: 0.25 } }), { tasks }, await dir('o'), await dir('w')));
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /params\.task\.noiseVariance = 0\.25 but the tasks input has noiseVariance = 0\.125/);
  }
});

test.after(() => removeAll(cleanup));
test.run();
