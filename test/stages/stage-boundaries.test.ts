import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stageBoundariesStage } from '../../stages/stage-boundaries.ts';
import { makeContext, removeAll, tempDir } from './ml-context.ts';
import { invokeStage } from '../../engine/run/invoke.ts';

const cleanup: string[] = [];
// A hump: rise around t = 1k, fall around t = 50k; maximum in between.
const steps = Array.from({ length: 40 }, (_, i) => Math.round(10 * 10 ** ((i / 39) * 4.5)));
const sig = (z: number) => 1 / (1 + Math.exp(-z));
const llcAt = (t: number) => 5 + 50 * sig((Math.log(t + 1) - Math.log(1_000)) / 0.5) - 30 * sig((Math.log(t + 1) - Math.log(50_000)) / 0.5);

async function nodeDirs(kind: 'llc' | 'eval', order: number[]): Promise<string[]> {
  const root = await tempDir(`sb-${kind}`);
  cleanup.push(root);
  return Promise.all(
    order.map(async (i) => {
      const d = path.join(root, String(i));
      await mkdir(d);
      const body = kind === 'llc' ? { step: steps[i], llcMean: llcAt(steps[i]) } : { step: steps[i], loss: 4 - i / 20 };
      await writeFile(path.join(d, `${kind}.json`), JSON.stringify(body));
      return d;
    }),
  );
}

test('writes stages.json: one boundary at the maximum, stages A then B, loss from eval.json', async () => {
  const idx = steps.map((_, i) => i);
  const out = await tempDir('sb-out');
  cleanup.push(out);
  const ctx = makeContext(stageBoundariesStage.params.parse({}), {}, out, out);
  ctx.inputs = { llcs: await nodeDirs('llc', [...idx].reverse()), evals: await nodeDirs('eval', idx) };
  await invokeStage(stageBoundariesStage, ctx);
  const json = JSON.parse(await readFile(path.join(out, 'stages.json'), 'utf8'));
  assert.equal(json.steps, steps);
  assert.is(json.boundaries.length, 1);
  const b = json.boundaries[0];
  const peak = steps.reduce((best, t) => (llcAt(t) > llcAt(best) ? t : best), steps[0]);
  assert.ok(Math.abs(steps.indexOf(b.step) - steps.indexOf(peak)) <= 1, `boundary ${b.step} vs peak ${peak}`);
  assert.is(b.loss, 4 - b.index / 20);
  assert.equal(json.stages.map((s: { type: string }) => s.type), ['A', 'B']);
  assert.equal(json.stages.map((s: { label: string }) => s.label), ['LR1', 'LR2']);
  assert.is(json.stages[0].start, steps[0]);
  assert.is(json.stages[1].end, steps[steps.length - 1]);
});

test('a missing evaluation for an LLC step is a clear error', async () => {
  const out = await tempDir('sb-out');
  cleanup.push(out);
  const ctx = makeContext(stageBoundariesStage.params.parse({}), {}, out, out);
  ctx.inputs = { llcs: await nodeDirs('llc', steps.map((_, i) => i)), evals: await nodeDirs('eval', [0, 1, 2]) };
  const err = await invokeStage(stageBoundariesStage, ctx).then(() => null, (e: Error) => e);
  assert.match(err?.message ?? '', /no eval.json for LLC steps \[/);
});

test.after(() => removeAll(cleanup));
test.run();
