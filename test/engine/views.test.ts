// Views: the read-only directories of hard links through which a stage reads an upstream's outputs.
// Many consumers of one upstream materialise its view at once; none may see it deleted or half made.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { materialiseView, storeOutputs } from '../../engine/store/outputs.ts';
import { openLocalStore } from '../../engine/store/local.ts';

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-views-'));
  const root = join(dir, 'artifacts');
  const out = join(dir, 'out');
  mkdirSync(join(out, 'sub'), { recursive: true });
  writeFileSync(join(out, 'a.txt'), 'alpha\n');
  writeFileSync(join(out, 'sub', 'b.txt'), 'beta\n');
  const store = openLocalStore(root);
  const record = await storeOutputs(store, out);
  return { dir, root, store, record };
}

test('concurrent materialisations of one view all get the same complete, read-only view', async () => {
  const { dir, root, store, record } = await setup();
  try {
    const views = await Promise.all(Array.from({ length: 32 }, () => materialiseView(root, store, record)));
    assert.equal(new Set(views).size, 1);
    const view = views[0]!;
    assert.is(readFileSync(join(view, 'a.txt'), 'utf8'), 'alpha\n');
    assert.is(readFileSync(join(view, 'sub', 'b.txt'), 'utf8'), 'beta\n');
    assert.is(statSync(view).mode & 0o222, 0, 'view directory is read-only');
    assert.is(statSync(join(view, 'sub')).mode & 0o222, 0, 'nested directories too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged view is replaced whole; an intact one is reused as is', async () => {
  const { dir, root, store, record } = await setup();
  try {
    const view = (await materialiseView(root, store, record))!;
    const inode = statSync(join(view, 'a.txt')).ino;
    assert.is((await materialiseView(root, store, record))!, view);
    assert.is(statSync(join(view, 'a.txt')).ino, inode, 'intact view untouched');
    chmodSync(view, 0o755);
    unlinkSync(join(view, 'a.txt'));
    const again = (await materialiseView(root, store, record))!;
    assert.is(again, view);
    assert.is(readFileSync(join(again, 'a.txt'), 'utf8'), 'alpha\n');
    assert.ok(existsSync(join(again, 'sub', 'b.txt')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a blob that rotted in place and was repaired is not read through an old view (found by the soak)', async () => {
  const { dir, root, store, record } = await setup();
  try {
    assert.ok(await materialiseView(root, store, record), 'the first view');
    // Bit rot in the blob: its hard link in the view rots with it (same inode), same size.
    const digest = record.outputs['a.txt'].digest;
    const blob = join(root, 'blobs', digest.slice(0, 2), digest.slice(2));
    chmodSync(blob, 0o644);
    writeFileSync(blob, 'alphA\n');
    assert.is(await store.blobPath(digest), null, 'the store sees the rot');
    // A rebuild stores the right bytes again: a new blob file (a new inode).
    const good = join(dir, 'good.txt');
    writeFileSync(good, 'alpha\n');
    await store.putBlob(good, digest);
    const again = (await materialiseView(root, store, record))!;
    assert.is(readFileSync(join(again, 'a.txt'), 'utf8'), 'alpha\n', 'the view was rebuilt from the repaired blob');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
