// DEVICE=gpu end to end: the real pipeline.ts on a cut-down configs/tiny.yaml (no task-prior or
// calibration sweeps, five LLC checkpoints: software GL is ≈ 7× slower than wasm here), once on
// the GPU backend and once on the CPU. Train and llc nodes must run on WebGPU and say so in their
// records, evaluate stays on the CPU, and every λ̂ must match the CPU run's within
// 1e-4·max(1, |λ̂|) (observed on the full tiny config: ≤ 2.4e-6 absolute). With --gpus 0 the same
// run fails at the first GPU node with a clear error.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { openLocalStore } from '../../engine/store/local.ts';
import type { BlobDigest } from '../../engine/types.ts';
import { mesaMissing, printSkipped } from '../support/gpu.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'stagewise-gpu-e2e-'));
const configFile = path.join(tmp, 'tiny-gpu.yaml');
const skipped = mesaMissing();
if (skipped) printSkipped('pipeline-gpu.test.ts', skipped);

const config = YAML.parse(readFileSync(path.join(repo, 'configs/tiny.yaml'), 'utf8'));
delete config.taskPrior;
delete config.calibration;
config.llc.checkpoints = { logSpace: 5, linearSpace: 0 }; // stage detection needs ≥ 5 LLC checkpoints
writeFileSync(configFile, YAML.stringify(config));

function pipeline(root: string, env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'pipeline.ts', 'figures', '--config', configFile, '--json', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, DEVICE: '', LOCAL_ROOT: root, FIGURES_DIR: path.join(root, 'figures'), CI: '1', ...env },
    timeout: 900_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Built {
  stage: string;
  backend?: string;
  llc?: number;
}

/** Every node's record in the store, by node id: its stage, backend and (for llc) λ̂. */
async function results(root: string): Promise<Map<string, Built>> {
  const store = openLocalStore(root);
  const out = new Map<string, Built>();
  for await (const { stage, key } of store.listRecords()) {
    const record = (await store.getRecord(stage, key))!;
    const built: Built = { stage, backend: record.meta?.backend as string | undefined };
    const llcJson = record.outputs['llc.json'];
    if (llcJson) built.llc = JSON.parse(readFileSync((await store.blobPath(llcJson.digest as BlobDigest))!, 'utf8')).llcMean;
    out.set(record.nodeId, built);
  }
  return out;
}

test('DEVICE=gpu: train and llc on WebGPU, evaluate on the CPU, λ̂ equal to the CPU run\'s within 1e-4', async () => {
  if (skipped) return;
  const gpuRoot = path.join(tmp, 'gpu');
  const cpuRoot = path.join(tmp, 'cpu');
  const gpu = pipeline(gpuRoot, { DEVICE: 'gpu' }, '--gpus', '1');
  assert.is(gpu.code, 0, gpu.stderr.slice(-3000));
  const cpu = pipeline(cpuRoot, {});
  assert.is(cpu.code, 0, cpu.stderr.slice(-3000));
  const onGpu = await results(gpuRoot);
  const onCpu = await results(cpuRoot);
  const llcIds = [...onGpu].filter(([, b]) => b.stage === 'llc').map(([id]) => id);
  assert.ok(llcIds.length >= 5, `llc nodes: ${llcIds}`);
  for (const [id, b] of onGpu) {
    if (b.stage === 'train' || b.stage === 'llc') assert.match(b.backend ?? '', /^webgpu \((hardware|software): /, `${id}: ${b.backend}`);
    if (b.stage === 'evaluate') assert.is(b.backend, 'wasm', `${id} asked for no GPU, so it runs on the CPU`);
  }
  for (const id of llcIds) {
    const g = onGpu.get(id)!.llc!;
    const c = onCpu.get(id)!.llc!;
    assert.ok(Number.isFinite(g) && Math.abs(g - c) <= 1e-4 * Math.max(1, Math.abs(c)), `${id}: λ̂ ${g} on WebGPU vs ${c} on the CPU`);
  }
  assert.match(gpu.stderr, /tfjs backend: webgpu \((hardware|software): /, 'the log names the adapter');
});

test('DEVICE=gpu with --gpus 0: the first GPU node fails with a clear error, nothing runs on the CPU instead', () => {
  if (skipped) return;
  const r = pipeline(path.join(tmp, 'no-gpu'), { DEVICE: 'gpu' }, '--gpus', '0');
  assert.is(r.code, 1);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { nodes: { id: string; stage: string; status: string }[] };
  const train = summary.nodes.filter((n) => n.stage === 'train');
  // Training runs as a chain of segments: the first fails for want of a GPU, the rest wait on it.
  assert.ok(train.some((n) => n.status === 'failed') && train.every((n) => n.status === 'failed' || n.status === 'skipped'), JSON.stringify(train));
  assert.not.ok(summary.nodes.some((n) => (n.stage === 'train' || n.stage === 'llc') && n.status === 'built'), 'no GPU node ran on the CPU instead');
  assert.ok(summary.nodes.filter((n) => n.stage === 'llc').every((n) => n.status === 'skipped'));
  assert.match(r.stderr + r.stdout, /train\[[^\]]*\]: needs 1 gpu, but the gpu pool is empty \(--gpus 0\)/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
