import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256Hex } from '../../engine/key/hash.ts';
import { openLocalStore } from '../../engine/store/local.ts';
import type { BlobDigest, BuildRecord, NodeKey } from '../../engine/types.ts';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-store-'));
  const file = join(dir, 'x.bin');
  writeFileSync(file, 'hello world');
  const digest = sha256Hex('hello world') as BlobDigest;
  return { dir, file, digest, store: openLocalStore(join(dir, 'root')) };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('put then get a blob: content-addressed, read-only, idempotent', async () => {
  const { dir, file, digest, store } = setup();
  try {
    assert.is(await store.blobPath(digest), null);
    await store.putBlob(file, digest);
    await store.putBlob(file, digest);
    const p = (await store.blobPath(digest))!;
    assert.is(p, join(store.root, 'blobs', digest.slice(0, 2), digest.slice(2)));
    assert.is(readFileSync(p, 'utf8'), 'hello world');
    assert.is(statSync(p).mode & 0o777, 0o444);
    assert.equal(await collect(store.listBlobs()), [digest]);
    await store.blobPath('../etc' as BlobDigest).then(
      () => assert.unreachable('accepted'),
      (e: Error) => assert.match(e.message, /invalid blob digest/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated or bit-flipped blob is a miss, and is removed so it can be rewritten', async () => {
  for (const corrupt of ['hello', 'hellO world']) {
    const { dir, file, digest, store } = setup();
    try {
      await store.putBlob(file, digest);
      await store.flush();
      const p = (await store.blobPath(digest))!;
      chmodSync(p, 0o644);
      writeFileSync(p, corrupt);
      // a fresh store (another process) reads the persisted verification cache: the stamp no longer matches
      const again = openLocalStore(store.root);
      assert.is(await again.blobPath(digest), null, corrupt);
      assert.not.ok(existsSync(p));
      await again.putBlob(file, digest);
      assert.is(readFileSync((await again.blobPath(digest))!, 'utf8'), 'hello world');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('records: atomic put, get by stage+key, list, delete; a record under the wrong key is ignored', async () => {
  const { dir, store } = setup();
  try {
    const key = 'f'.repeat(64) as NodeKey;
    const rec = { formatVersion: 1, key, nodeId: 'n', stage: 's', outputs: {}, outputDigest: 'x' } as unknown as BuildRecord;
    assert.is(await store.getRecord('s', key), null);
    await store.putRecord(rec);
    assert.equal(await store.getRecord('s', key), rec);
    assert.equal(await collect(store.listRecords()), [{ stage: 's', key }]);
    const other = 'e'.repeat(64) as NodeKey;
    writeFileSync(join(store.root, 'records', 's', `${other}.json`), JSON.stringify(rec));
    assert.is(await store.getRecord('s', other), null);
    writeFileSync(join(store.root, 'records', 's', `${'d'.repeat(64)}.json`), '{"trunc');
    assert.is(await store.getRecord('s', 'd'.repeat(64) as NodeKey), null);
    await store.deleteRecord('s', key);
    assert.is(await store.getRecord('s', key), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('putBlob never exposes a partial blob: the final path, whenever it exists, holds every byte', async () => {
  // A blob large enough that a plain copy to the final path would be seen half-written. The copy
  // runs on libuv's thread pool, so this loop observes the final path while putBlob is under way.
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-store-'));
  try {
    const size = 48 * 1024 * 1024;
    const bytes = Buffer.alloc(size, 7);
    bytes.writeUInt32LE(0xdeadbeef, size - 4);
    const file = join(dir, 'big.bin');
    writeFileSync(file, bytes);
    const digest = sha256Hex(bytes) as BlobDigest;
    const finalPath = join(dir, 'root', 'blobs', digest.slice(0, 2), digest.slice(2));
    const store = openLocalStore(join(dir, 'root'));
    let done = false;
    const seenSizes: number[] = [];
    const put = store.putBlob(file, digest).finally(() => (done = true));
    let polls = 0;
    while (!done) {
      polls++;
      try {
        seenSizes.push(statSync(finalPath).size);
      } catch {
        // not there yet: fine
      }
      await new Promise((r) => setImmediate(r));
    }
    await put;
    assert.ok(polls > 1, 'the observer never ran while putBlob was in progress');
    assert.equal(seenSizes.filter((n) => n !== size), [], `the final path was visible with partial sizes`);
    assert.is(sha256Hex(readFileSync(finalPath)), digest);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
