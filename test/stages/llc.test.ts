import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { llcStage, llcParams } from '../../stages/llc.ts';
import { initBackend } from '../../lib/backend.ts';
import { initParams, Transformer } from '../../lib/model.ts';
import { rngStream } from '../../lib/rng.ts';
import { sampleBatch } from '../../lib/tasks.ts';
import { encodeTensors } from '../../lib/tensorfile.ts';
import { makeContext, removeAll, tempDir } from './ml-context.ts';
import { invokeStage } from '../../engine/run/invoke.ts';

const model = { D: 2, K: 4, layers: 1, heads: 2, dModel: 8, dMlp: 8, layerNorm: true, includeOutput: true };
const task = { D: 2, K: 4, noiseVariance: 0.125, M: 'inf' as const };
const sampler = { eps: 1e-4, nbeta: 20, gamma: 100, chains: 3, burnin: 2, draws: 12, batchSize: 16, datasetSize: 64, seed: 3 };
const cleanup: string[] = [];
const dir = async (p: string) => {
  const d = await tempDir(p);
  cleanup.push(d);
  return d;
};

async function checkpoint(): Promise<string> {
  const file = path.join(await dir('ckpt'), 'step-00000007.swt');
  await writeFile(file, encodeTensors(initParams(model, rngStream(1, 'init')), { step: 7 }));
  return file;
}

async function runLlc(params: unknown, ckpt: string, workDir?: string) {
  const out = await dir('llc-out');
  const logs: string[] = [];
  const ctx = makeContext(llcParams.parse(params), { checkpoint: ckpt }, out, workDir ?? (await dir('llc-work')));
  ctx.resources = { cpu: 2, gpu: 0 };
  ctx.log = { info: (m) => logs.push(m), warn: (m) => logs.push(m) };
  await invokeStage(llcStage, ctx);
  return { json: JSON.parse(await readFile(path.join(out, 'llc.json'), 'utf8')), raw: await readFile(path.join(out, 'llc.json'), 'utf8'), logs };
}

test('llc.json: L0 is the dataset loss at w*, λ̂ is nβ(E[L] − L0) over the chains, traces are complete', async () => {
  const ckpt = await checkpoint();
  const { json } = await runLlc({ sampler, task, model }, ckpt);
  assert.is(json.step, 7);
  assert.is(json.chains.length, 3);
  assert.is(json.L0PerPos.length, 4);
  // Independent L0: rebuild the dataset from its stream and evaluate the model in this process.
  await initBackend();
  const data = sampleBatch(task, sampler.datasetSize, rngStream(sampler.seed, 'llc-data'));
  const { decodeTensors } = await import('../../lib/tensorfile.ts');
  const net = new Transformer(model, decodeTensors(await readFile(ckpt)).tensors);
  const L0 = await net.perPositionLoss(tf.tensor3d(data.xs, [64, 4, 2]), tf.tensor2d(data.ys, [64, 4]));
  net.dispose();
  L0.forEach((v, k) => assert.ok(Math.abs(v - json.L0PerPos[k]) < 1e-5 * Math.max(1, v), `L0[${k}] ${json.L0PerPos[k]} vs ${v}`));
  for (const ch of json.chains) {
    assert.is(ch.failed, false);
    assert.is(ch.trace.length, sampler.burnin + sampler.draws);
    const draws = ch.trace.slice(sampler.burnin);
    const fromTrace = sampler.nbeta * (draws.reduce((a: number, b: number) => a + b, 0) / draws.length - json.L0);
    assert.ok(Math.abs(fromTrace - ch.llc) < 1e-4 * Math.max(1, Math.abs(ch.llc)));
  }
  const mean = json.chains.reduce((a: number, c: { llc: number }) => a + c.llc, 0) / 3;
  assert.ok(Math.abs(mean - json.llcMean) < 1e-9);
  assert.equal(Object.keys(json.sampler).sort(), ['batchSize', 'burnin', 'chains', 'datasetSize', 'draws', 'eps', 'gamma', 'gradientScale', 'localizationScale', 'nbeta', 'noiseScale', 'seed']);
});

test('deterministic across runs and worker scheduling; a rerun in the same work dir resumes its chains', async () => {
  const ckpt = await checkpoint();
  const work = await dir('llc-work');
  const first = await runLlc({ sampler, task, model }, ckpt, work);
  const resumed = await runLlc({ sampler, task, model }, ckpt, work);
  assert.is(resumed.raw, first.raw);
  assert.is(resumed.logs.filter((l) => /resumed from the work dir/.test(l)).length, 3);
  const fresh = await runLlc({ sampler, task, model }, ckpt);
  assert.is(fresh.raw, first.raw);
});

test('a saved chain cut short (a kill mid-write, an older file) is not trusted: that chain reruns, the result is unchanged', async () => {
  const ckpt = await checkpoint();
  const work = await dir('llc-work');
  const first = await runLlc({ sampler, task, model }, ckpt, work);
  // invokeStage leaves the work dir as a killed node would (the engine removes it only after a build).
  const chains = path.join(work, 'chains');
  const saved = await readdir(chains);
  assert.equal(saved.sort(), ['chain-0.swt', 'chain-1.swt', 'chain-2.swt']);
  const bytes = await readFile(path.join(chains, 'chain-1.swt'));
  await writeFile(path.join(chains, 'chain-1.swt'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  const rerun = await runLlc({ sampler, task, model }, ckpt, work);
  assert.is(rerun.raw, first.raw);
  assert.is(rerun.logs.filter((l) => /resumed from the work dir/.test(l)).length, 2);
  assert.is(rerun.logs.filter((l) => /chain-1\.swt: unreadable saved chain/.test(l)).length, 1);
});

test('all chains diverging fails the node with a clear error naming the chains', async () => {
  const ckpt = await checkpoint();
  const err = await runLlc({ sampler: { ...sampler, eps: 1e3, nbeta: 1e4, draws: 50 }, task, model }, ckpt).then(() => null, (e: Error) => e);
  assert.ok(err, 'expected the node to fail');
  assert.match(err!.message, /all 3 chains failed \(chain 0: non-finite minibatch loss at step \d+/);
});

test('params: the scale form converts to ε, nβ, γ; a mix of forms is refused', () => {
  const { sampler: s } = llcParams.parse({ sampler: { ...sampler, eps: undefined, nbeta: undefined, gamma: undefined, gradientScale: 0.01, localizationScale: 0.001, noiseScale: 3e-4 }, task, model });
  assert.ok(Math.abs(s.eps - 3e-4) < 1e-15 && Math.abs(s.nbeta - 200 / 3) < 1e-9 && Math.abs(s.gamma - 20 / 3) < 1e-9);
  assert.throws(() => llcParams.parse({ sampler: { ...sampler, noiseScale: 1e-3 }, task, model }), /either all of/);
  assert.throws(() => llcParams.parse({ sampler: { ...sampler, batchSize: 128 }, task, model }), /batchSize \(128\) must be <= datasetSize/);
});

test.after(() => removeAll(cleanup));
test.run();
