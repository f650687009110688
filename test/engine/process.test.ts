// Whole processes: keys agree across processes, a killed or interrupted run leaves no record, and
// two processes on one cache build each node once.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lockPath, lockStarted, readLockProgress } from '../../engine/store/lock.ts';
import { Sandbox, summary, waitFor } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2 };

function records(root: string, stage: string): string[] {
  const dir = join(root, 'records', stage);
  return existsSync(dir) ? readdirSync(dir) : [];
}

test('keys are the same in another process (dry-run --json there vs here)', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await sb.cli(['--in-process']);
    const here = JSON.parse((await sb.cli(['--dry-run', '--json'])).out);
    const there = sb.spawnCli(['--dry-run', '--json', '--in-process']);
    const r = await there.done;
    assert.is(r.code, 0, r.err);
    const plan = JSON.parse(r.out);
    assert.is(plan.fresh, 4);
    assert.equal(plan.nodes, here.nodes);
    assert.ok(plan.nodes.every((n: { key: string }) => /^[0-9a-f]{64}$/.test(n.key)));
  } finally {
    await sb.cleanup();
  }
});

test('SIGKILL mid-node: no record; the next run rebuilds just that node and finds its work dir', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await sb.cli(['--in-process']);
    sb.ran();
    sb.writeConfig({ ...BASE, hang: true });
    const child = sb.spawnCliEnv(['--jobs', '2', '--in-process'], { STAGEWISE_HANG: '1' });
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label === 'hang'), 30_000, 'hang to start');
    child.kill('SIGKILL');
    await child.done;
    assert.equal(records(sb.root, 'hang'), []);
    sb.ran();
    const r = await sb.cli(['--in-process']);
    assert.is(r.code, 0, r.err);
    assert.equal(summary(r.out), { built: 1, cached: 4, failed: 0, skipped: 0 });
    const notes = sb.notes();
    assert.equal(notes.map((n) => n.label), ['hang']);
    assert.is(notes[0].resumedFrom, 'step 1', 'the work dir of the killed run was kept for resuming');
    assert.is(records(sb.root, 'hang').length, 1);
    const rec = JSON.parse(readFileSync(join(sb.root, 'records', 'hang', records(sb.root, 'hang')[0]), 'utf8'));
    assert.equal(Object.keys(rec.outputs), ['done.txt'], 'nothing of the killed run leaked into the record');
  } finally {
    await sb.cleanup();
  }
});

test('SIGINT cancels the running node: exit 130, summary printed, no record written', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, hang: true });
    const child = sb.spawnCliEnv(['--jobs', '2'], { STAGEWISE_HANG: '1' });
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label === 'hang'), 30_000, 'hang to start');
    child.kill('SIGINT');
    const r = await child.done;
    assert.is(r.code, 130, r.err);
    assert.match(r.out, /FAILED hang: interrupted/, r.out + r.err);
    assert.match(r.out, /^built \d+, cached 0, failed [1-3], skipped \d+ in /m);
    assert.match(r.err, /SIGINT: cancelling/);
    assert.equal(records(sb.root, 'hang'), []);
    assert.equal(readdirSync(join(sb.root, 'tmp')), [], 'the scratch dir is removed');
  } finally {
    await sb.cleanup();
  }
});

test('two processes on one cache at once: both succeed and each node is built once', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 300, count: 4 } });
    const a = sb.spawnCli(['--jobs', '2', '--in-process']);
    const b = sb.spawnCli(['--jobs', '2', '--in-process']);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.is(ra.code, 0, ra.err);
    assert.is(rb.code, 0, rb.err);
    const sa = summary(ra.out);
    const sb2 = summary(rb.out);
    assert.is(sa.built + sa.cached, 8);
    assert.is(sb2.built + sb2.cached, 8);
    assert.is(sa.built + sb2.built, 8);
    const labels = sb.notes().filter((n) => n.event === 'run' || n.event === 'start').map((n) => n.label).sort();
    assert.equal(labels, ['mid', 'side', 'sleepy0', 'sleepy1', 'sleepy2', 'sleepy3', 'src', 'top']);
  } finally {
    await sb.cleanup();
  }
});

test("another process sees this one's builds through the build locks: queued until started, then running with its progress", async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 1, count: 2 } });
    const gate = join(sb.dir, 'gate');
    writeFileSync(gate, '');
    const c = sb.spawnCliEnv(['--jobs', '1'], { STAGEWISE_GATE: gate });
    const dir = join(sb.root, 'locks');
    const keys = () => (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.lock')).map((f) => f.slice(0, -'.lock'.length));
    // One cpu unit: the first sleepy node runs (gated), the other holds its lock waiting for the unit.
    await waitFor(() => sb.notes().some((n) => n.event === 'start') && keys().length >= 2, 30_000, 'a gated node running and another waiting');
    await waitFor(() => keys().some((k) => readLockProgress(sb.root, k) !== null), 5_000, 'the running node to publish its progress');
    const started = keys().filter((k) => lockStarted(lockPath(sb.root, k)));
    assert.is(started.length, 1, 'one build has its unit');
    assert.equal(pick(readLockProgress(sb.root, started[0])), { done: 0, total: 1, unit: 'gate' });
    assert.ok(keys().some((k) => !lockStarted(lockPath(sb.root, k))), 'the other is queued');
    rmSync(gate);
    const r = await c.done;
    assert.is(r.code, 0, r.err);
    assert.equal(readdirSync(dir), [], 'locks and progress files are gone after the run');
  } finally {
    await sb.cleanup();
  }
});

const pick = (p: { done: number; total: number; unit?: string } | null) => p && { done: p.done, total: p.total, unit: p.unit };

test.run();
