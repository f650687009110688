// tools/gpu-bundle.ts: the GPU check as a self-contained bundle. It must stay under the 60 MiB that
// may travel to a GPU machine, and run from a directory with no node_modules anywhere above it — here
// on Mesa's software adapter, with a tiny workload — writing its one result file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUNDLE_LIMIT_BYTES, buildGpuBundle } from '../../tools/gpu-bundle.ts';
import type { GpuCheckResult } from '../../tools/gpu-check.ts';
import { mesaMissing, printSkipped } from '../support/gpu.ts';

// Under the OS temp dir, far from the repository's node_modules: the bundle must not need them.
const outDir = mkdtempSync(path.join(os.tmpdir(), 'stagewise-gpu-bundle-'));

test('the bundle builds under 60 MiB: one ES module and Dawn\'s binary', async () => {
  const r = await buildGpuBundle(outDir);
  assert.equal(r.files.map((f) => f.name).sort(), ['dawn.node', 'gpu-check.mjs']);
  assert.ok(r.totalBytes < BUNDLE_LIMIT_BYTES, `${r.totalBytes} bytes`);
  console.log(`    GPU bundle: ${(r.totalBytes / 2 ** 20).toFixed(1)} MiB (${r.files.map((f) => `${f.name} ${(f.bytes / 2 ** 20).toFixed(1)} MiB`).join(', ')})`);
});

test('the bundle runs outside the repository on WebGPU and writes its result file', () => {
  const missing = mesaMissing();
  if (missing) return printSkipped('bundle.test.ts, running the bundle', missing);
  const resultFile = path.join(outDir, 'gpu-results.md');
  const r = spawnSync(process.execPath, ['gpu-check.mjs', '--out', resultFile, '--seconds', '0.2', '--workloads', 'train:4:8,sgld:4:8'], {
    cwd: outDir,
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: '' },
    timeout: 300_000,
  });
  assert.is(r.status, 0, r.stderr.slice(-3000));
  const md = readFileSync(resultFile, 'utf8');
  assert.match(md, /^# GPU check/);
  const json = /```json\n([\s\S]*?)\n```/.exec(md);
  assert.ok(json, 'the result file carries its numbers as JSON');
  const result = JSON.parse(json![1]) as GpuCheckResult;
  assert.match(result.backend, /^webgpu \((hardware|software): /);
  assert.is(result.parity.pass, true);
  assert.ok(result.parity.worstGradient <= 1e-5 && result.parity.outputs <= 1e-5);
  assert.equal(result.throughput.map((t) => t.workload), ['train:4:8', 'sgld:4:8']);
  assert.ok(result.throughput.every((t) => t.steps >= 2 && t.stepsPerSec > 0));
});

test.after(() => rmSync(outDir, { recursive: true, force: true }));

test.run();
