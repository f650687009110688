// The real pipeline (configs/tiny.yaml) through a real one-node Slurm cluster: training, evaluation
// and an LLC estimate, each built by its own Slurm job, give byte-identical outputs (same keys, same
// output digests) to a local build; a second run submits nothing. Kept to one checkpoint's closure
// (4 nodes) for CI time; the whole tiny graph through Slurm is the same code path, node by node.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeTree } from '../../engine/store/fsutil.ts';
import { serviceTest, slurmMissing, startSlurm, type SlurmService } from '../support/services.ts';

const slurmTest = serviceTest(slurmMissing(), 'e2e/slurm.test.ts');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'stagewise-e2e-slurm-'));
const TARGETS = ['evaluate[seed=0,M=inf,step=79]', 'llc[seed=0,M=inf,step=79]'];

let slurm: SlurmService | null = null;

test.before(async () => {
  const s = await startSlurm();
  if ('skipped' in s) return; // reported by slurmTest
  slurm = s;
});

test.after(async () => {
  await slurm?.stop();
  await removeTree(tmp);
});

interface Summary {
  built: number;
  cached: number;
  failed: number;
  skipped: number;
  nodes: { id: string; status: string }[];
}

function pipeline(root: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; summary: Summary; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'pipeline.ts', '--config', 'configs/tiny.yaml', '--json', ...TARGETS, ...args], {
      cwd: repo,
      env: { ...process.env, LOCAL_ROOT: root, FIGURES_DIR: path.join(tmp, 'figures'), CI: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, summary: JSON.parse(out.trim().split('\n').at(-1)!), stderr: err });
      } catch {
        reject(new Error(`pipeline ${args.join(' ')} exited ${code} without a summary:\n${err.slice(-4000)}`));
      }
    });
  });
}

/** stage/key → output digest of every record under `root`. */
function records(root: string): Map<string, string> {
  const dir = path.join(root, 'records');
  const m = new Map<string, string>();
  if (!existsSync(dir)) return m;
  for (const stage of readdirSync(dir)) {
    for (const f of readdirSync(path.join(dir, stage))) m.set(`${stage}/${f}`, JSON.parse(readFileSync(path.join(dir, stage, f), 'utf8')).outputDigest);
  }
  return m;
}

async function jobIds(): Promise<number[]> {
  return (await slurm!.client(['squeue', '-h', '-t', 'all', '-o', '%i'])).trim().split('\n').filter(Boolean).map(Number);
}

slurmTest('tiny.yaml through Slurm: one job per node, outputs identical to a local build; the second run submits nothing', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const localRoot = path.join(tmp, 'local');
  const slurmRoot = path.join(tmp, 'slurm');
  const local = await pipeline(localRoot, []);
  assert.is(local.code, 0, local.stderr.slice(-3000));
  // The targets' closure: tasks, the training segments they need, evaluate, llc.
  const closure = local.summary.built;
  assert.ok(closure >= 4, `built ${closure}`);

  const env = { ...slurm.env, STAGEWISE_SLURM_POLL_MS: '300' };
  const r = await pipeline(slurmRoot, ['--executor', 'slurm'], env);
  assert.is(r.code, 0, r.stderr.slice(-3000));
  assert.equal([r.summary.built, r.summary.failed, r.summary.skipped], [closure, 0, 0]);
  for (const n of r.summary.nodes) assert.match(r.stderr, new RegExp(`${n.id.replace(/[[\]]/g, '\\$&')}: submitted as slurm job \\d+`));
  const slurmRecords = records(slurmRoot);
  assert.is(slurmRecords.size, closure);
  assert.equal(slurmRecords, records(localRoot), 'same keys and output digests as the local build');

  const before = await jobIds();
  const again = await pipeline(slurmRoot, ['--executor', 'slurm'], env);
  assert.is(again.code, 0, again.stderr.slice(-3000));
  assert.equal([again.summary.built, again.summary.cached], [0, closure]);
  assert.equal(await jobIds(), before, 'nothing submitted');
});

test.run();
