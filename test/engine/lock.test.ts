import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireLock, isStale, liveLocks, lockPath } from '../../engine/store/lock.ts';

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

test.run();
