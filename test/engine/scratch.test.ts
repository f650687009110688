// Scratch dirs of killed builds are swept: a later process removes those whose owner (host + pid)
// is gone, and leaves alone the scratch of live processes and of other hosts sharing the root.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sweepOrphans, tmpName } from '../../engine/store/fsutil.ts';

test('sweepOrphans removes only this host\'s scratch dirs and temporaries whose process is gone', async () => {
  const root = mkdtempSync(join(tmpdir(), 'stagewise-scratch-'));
  try {
    const host = hostname().replace(/[^A-Za-z0-9_-]/g, '_');
    // A pid that certainly ended: a child that has exited.
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    const dirs = {
      dead: `train[seed=0,M=inf].${host}.${deadPid}-AbC123`,
      deadWithDots: `llc[step=79,eps=0.001].${host}.${deadPid}-xY9zzz`,
      live: `evaluate[step=4].${host}.${process.pid}-Qq1234`,
      otherHost: `tasks[M=4].some-other-host.${deadPid}-Zz9876`,
      deadLog: `log.${host}.${deadPid}-Lg1234`,
      oldFormat: 'figure-lr-Ab12Cd',
    };
    for (const d of Object.values(dirs)) {
      mkdirSync(join(root, 'tmp', d, 'sub'), { recursive: true });
      writeFileSync(join(root, 'tmp', d, 'sub', 'partial.bin'), 'x');
    }
    // Temporaries of atomic writes: a dead process's in records/, nodes/, blobs/, locks/; a live one's kept.
    const deadTmp = (dir: string) => join(root, dir, tmpName('x', 'write').split('/').pop()!.replace(`.${process.pid}.`, `.${deadPid}.`));
    const tmps = { record: deadTmp('records/train'), pointer: deadTmp('nodes/evaluate'), blob: deadTmp('blobs/ab'), lock: deadTmp('locks'), live: join(root, 'blobs/ab', tmpName('x', 'copy').split('/').pop()!) };
    for (const f of Object.values(tmps)) {
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, 'partial');
    }
    await sweepOrphans(root);
    for (const k of ['record', 'pointer', 'blob', 'lock'] as const) assert.not.ok(existsSync(tmps[k]), `a dead process's ${k} temporary is removed`);
    assert.ok(existsSync(tmps.live), 'a live process\'s temporary is kept');
    assert.not.ok(existsSync(join(root, 'tmp', dirs.dead)), 'a dead process\'s scratch is removed');
    assert.not.ok(existsSync(join(root, 'tmp', dirs.deadWithDots)), 'node ids with dots are parsed right');
    assert.not.ok(existsSync(join(root, 'tmp', dirs.deadLog)), 'a dead process\'s log scratch is removed');
    assert.ok(existsSync(join(root, 'tmp', dirs.live)), 'a live process\'s scratch is kept');
    assert.ok(existsSync(join(root, 'tmp', dirs.otherHost)), 'another host\'s scratch is kept (its pids mean nothing here)');
    assert.ok(existsSync(join(root, 'tmp', dirs.oldFormat)), 'names without an owner are kept');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
