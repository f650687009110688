// The mechanism stages end to end on the paper model (51,717 parameters): a short training run
// writes Adam's moments next to each checkpoint; the gradient, weight-stats, attention, icl and
// hessian stages run on its checkpoints; ed-variants sees fingerprints of the right lengths.
// Plus the code-digest isolation: each metric module is in its own stage's closure only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stageCodeInfo } from '../../engine/key/keys.ts';
import { invokeStage } from '../../engine/run/invoke.ts';
import { paramCount, PAPER_MODEL } from '../../lib/model.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';
import { attentionStage, type AttentionJson } from '../../stages/analysis/attention.ts';
import { edVariantsStage, type EdVariantsJson } from '../../stages/analysis/ed-variants.ts';
import { gradientStage } from '../../stages/analysis/gradient.ts';
import { hessianStage, type HessianJson } from '../../stages/analysis/hessian.ts';
import { iclStage, type IclJson } from '../../stages/analysis/icl.ts';
import { weightStatsStage } from '../../stages/analysis/weights.ts';
import { evaluateStage } from '../../stages/evaluate.ts';
import { tasksStage } from '../../stages/tasks.ts';
import { momentsName, trainStage } from '../../stages/train.ts';
import { makeContext, removeAll, tempDir } from './ml-context.ts';

test('paper model: moments next to checkpoints, analysis outputs, ED-variant fingerprints of 51,717', async () => {
  const N = paramCount(PAPER_MODEL);
  assert.is(N, 51717);
  const tasks = await tempDir('mech-tasks');
  const work = await tempDir('mech-work');
  const train = await tempDir('mech-train');
  await invokeStage(tasksStage, makeContext(tasksStage.params.parse({ D: 4, K: 8, noiseVariance: 0.125, M: 'inf', evalSize: 16, probeSize: 4, seed: 1 }), {}, tasks, work));
  const trainParams = trainStage.params.parse({ model: PAPER_MODEL, task: { D: 4, K: 8, noiseVariance: 0.125, M: 'inf' }, steps: 6, batchSize: 4, lr: 0.003, seed: 0, checkpoints: { logSpace: 4, linearSpace: 2 } });
  await invokeStage(trainStage, makeContext(trainParams, { tasks }, train, await tempDir('mech-train-work')));
  const ckDir = path.join(train, 'checkpoints');
  const { checkpointSteps } = JSON.parse(await readFile(path.join(train, 'train.json'), 'utf8')) as { checkpointSteps: number[] };
  assert.ok(checkpointSteps.length >= 3, `checkpoints ${checkpointSteps}`);
  const ck = (s: number) => path.join(ckDir, `step-${String(s).padStart(8, '0')}.swt`);
  const model = path.join(train, 'model.json');
  const evals: string[] = [];
  const grads: string[] = [];
  for (const s of checkpointSteps) {
    const mom = decodeTensors(await readFile(path.join(ckDir, momentsName(s))));
    assert.is(mom.tensors.m.data.length, N);
    assert.is(mom.tensors.v.data.length, N);
    assert.is(mom.meta.adamStep, s + 1, 'the moments after s + 1 updates, like the checkpoint');
    assert.ok(mom.tensors.v.data.every((v) => v >= 0));
    const ev = await tempDir('mech-eval');
    await invokeStage(evaluateStage, makeContext({}, { checkpoint: ck(s), model, tasks }, ev, work));
    evals.push(ev);
    const g = await tempDir('mech-grad');
    await invokeStage(gradientStage, makeContext(gradientStage.params.parse({ size: 8 }), { checkpoint: ck(s), model, tasks }, g, work));
    assert.is(decodeTensors(await readFile(path.join(g, 'gradient.swt'))).tensors.gradient.data.length, N);
    grads.push(g);
  }
  const ed = await tempDir('mech-ed');
  await invokeStage(edVariantsStage, 
    makeContext(edVariantsStage.params.parse({ components: 2 }), { checkpoints: checkpointSteps.map(ck), moments: checkpointSteps.map((s) => path.join(ckDir, momentsName(s))), gradients: grads, evals } as unknown as Record<string, string>, ed, work),
  );
  const edJson = JSON.parse(await readFile(path.join(ed, 'ed-variants.json'), 'utf8')) as EdVariantsJson;
  assert.equal(edJson.steps, checkpointSteps);
  assert.equal(Object.fromEntries(edJson.variants.map((v) => [v.name, v.features])), { f: 4 * 16 * 5, w: N, g: N, m: N, v: N });
  for (const v of edJson.variants) assert.is(v.projections.length, checkpointSteps.length);

  // The other analyses on the last checkpoint: shapes and ranges.
  const last = checkpointSteps.at(-1)!;
  const inputs = { checkpoint: ck(last), model, tasks };
  const att = await tempDir('mech-att');
  await invokeStage(attentionStage, makeContext(attentionStage.params.parse({ size: 8 }), inputs, att, work));
  const a = JSON.parse(await readFile(path.join(att, 'attention.json'), 'utf8')) as AttentionJson;
  assert.equal([a.layers, a.heads, a.T], [2, 4, 15]);
  assert.ok(a.metrics.entropy.flat(2).every((v) => v >= 0 && v <= 1 + 1e-6));
  const icl = await tempDir('mech-icl');
  await invokeStage(iclStage, makeContext(iclStage.params.parse({ size: 8 }), inputs, icl, work));
  const ij = JSON.parse(await readFile(path.join(icl, 'icl.json'), 'utf8')) as IclJson;
  assert.equal(ij.scales, [1, 3, 5, 10]);
  assert.ok(ij.lossPerPos.every((l) => l.length === 8) && ij.early !== null);
  const hs = await tempDir('mech-hess');
  await invokeStage(hessianStage, makeContext(hessianStage.params.parse({ size: 4, lanczosSteps: 4, probes: 2 }), inputs, hs, work));
  const h = JSON.parse(await readFile(path.join(hs, 'hessian.json'), 'utf8')) as HessianJson;
  assert.is(h.top.length, 3);
  assert.ok(h.top[0] >= h.top[1] && h.top[1] >= h.top[2] && h.hvps === 6);
  const ws = await tempDir('mech-ws');
  await invokeStage(weightStatsStage, makeContext({}, { checkpoint: ck(last), model }, ws, work));
  assert.ok(existsSync(path.join(ws, 'weights.json')));
  await removeAll([tasks, work, train, ed, att, icl, hs, ws, ...evals, ...grads]);
});

test('each metric module is in the code digest of its own stage only', async () => {
  const closures = Object.fromEntries(
    await Promise.all(
      [attentionStage, weightStatsStage, hessianStage, iclStage, gradientStage].map(async (s) => [s.name, Object.keys((await stageCodeInfo(s)).codeFiles)] as const),
    ),
  );
  const owner: Record<string, string> = {
    'lib/analysis/attention.ts': 'attention',
    'lib/analysis/weights.ts': 'weight-stats',
    'lib/analysis/hessian.ts': 'hessian',
    'lib/analysis/hvp.ts': 'hessian',
    'lib/analysis/icl.ts': 'icl',
  };
  for (const [file, stage] of Object.entries(owner)) {
    for (const [name, files] of Object.entries(closures)) {
      assert.is(files.includes(file), name === stage, `${file} in ${name}'s closure: ${files.includes(file)}`);
    }
  }
});

test.run();
