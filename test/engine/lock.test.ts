import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireLock, isStale, liveLocks, lockPath, lockStarted, progressPath, readLockProgress } from '../../engine/store/lock.ts';

test('a lock is exclusive: the second holder waits until the first releases', async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-lock-'));
  try {
    const first = await acquireLock(root, 'k');
    let waited = false;
    let got = false;
    const second = acquireLock(root, 'k', undefined, () => (waited = true)).then((l) => ((got = true), l));
    await new Promise((r) => setTimeout(r, 250));
    assert.ok(waited);
    assert.not.ok(got);
    assert.equal(await liveLocks(root), [lockPath(root, 'k')]);
    await first.release();
    await (await second).release();
    assert.not.ok(existsSync(lockPath(root, 'k')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a lock left by a dead process is stale and is taken over at once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-lock-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    mkdirSync(join(root, 'locks'));
    writeFileSync(lockPath(root, 'k'), JSON.stringify({ pid: dead, host: hostname(), at: new Date().toISOString() }));
    assert.ok(isStale(lockPath(root, 'k')));
    const t0 = Date.now();
    const lock = await acquireLock(root, 'k');
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(await liveLocks(root), [lockPath(root, 'k')]);
    await lock.release();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('waiting for a lock can be aborted', async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-lock-'));
  try {
    const first = await acquireLock(root, 'k');
    const ac = new AbortController();
    const waiting = acquireLock(root, 'k', ac.signal);
    setTimeout(() => ac.abort(new Error('stop')), 50);
    await waiting.then(() => assert.unreachable('acquired'), (e: Error) => assert.is(e.message, 'stop'));
    await first.release();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the holder publishes its progress next to the lock: at most once a second, the last value lands, release removes it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-lock-'));
  try {
    const lock = await acquireLock(root, 'k');
    assert.is(readLockProgress(root, 'k'), null, 'nothing published yet');
    lock.progress(1, 10, 'steps');
    lock.progress(2, 10, 'steps');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(pick(readLockProgress(root, 'k')), { done: 1, total: 10, unit: 'steps' }, 'the first report is written at once');
    lock.progress(3, 10, 'steps');
    await new Promise((r) => setTimeout(r, 300));
    assert.is(readLockProgress(root, 'k')!.done, 1, 'the next waits for the end of the second');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(pick(readLockProgress(root, 'k')), { done: 3, total: 10, unit: 'steps' }, 'the value set last lands');
    await lock.release();
    assert.not.ok(existsSync(progressPath(root, 'k')));
    assert.is(readLockProgress(root, 'k'), null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a dead holder's progress is not shown, and is removed with its stale lock", async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-lock-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    mkdirSync(join(root, 'locks'));
    writeFileSync(lockPath(root, 'k'), JSON.stringify({ pid: dead, host: hostname(), at: new Date().toISOString() }));
    writeFileSync(progressPath(root, 'k'), JSON.stringify({ done: 5, total: 10, at: Date.now() }));
    assert.is(readLockProgress(root, 'k'), null);
    const lock = await acquireLock(root, 'k');
    assert.not.ok(existsSync(progressPath(root, 'k')));
    await lock.release();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('marking a lock started rewrites it in place: still exclusive, still live, now started', async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-lock-'));
  try {
    const lock = await acquireLock(root, 'k');
    assert.not.ok(lockStarted(lockPath(root, 'k')), 'waiting for its units');
    await lock.started();
    assert.ok(lockStarted(lockPath(root, 'k')));
    assert.not.ok(isStale(lockPath(root, 'k')));
    let got = false;
    const second = acquireLock(root, 'k').then((l) => ((got = true), l));
    await new Promise((r) => setTimeout(r, 250));
    assert.not.ok(got, 'the rewritten lock still excludes');
    await lock.release();
    const l2 = await second;
    assert.not.ok(lockStarted(lockPath(root, 'k')), "the next holder's lock starts unstarted");
    await l2.release();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const pick = (p: { done: number; total: number; unit?: string } | null) => p && { done: p.done, total: p.total, unit: p.unit };

test.run();
