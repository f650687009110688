// The S3 store against a real S3-compatible server (OpenStack Swift + s3api, started here).
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createS3Client, openS3Store, s3ConfigFromEnv, type S3Store } from '../../engine/store/s3.ts';
import { openLocalStore, type LocalStore } from '../../engine/store/local.ts';
import type { BlobDigest, BuildRecord, NodeKey } from '../../engine/types.ts';
import { freePorts, serviceTest, startSwift, swiftMissing, type SwiftService } from '../support/services.ts';

const s3Test = serviceTest(swiftMissing(), 'store-s3.test.ts');

const BUCKET = 'stagewise-test';
let swift!: SwiftService;
let client: S3Client;
let scratch: string;
let prefixCounter = 0;

test.before(async () => {
  const started = await startSwift();
  if ('skipped' in started) return; // reported by s3Test
  swift = started;
  await swift.bucketCreate(BUCKET);
  client = createS3Client(s3ConfigFromEnv(envFor(BUCKET)));
  scratch = await fsp.mkdtemp(join(os.tmpdir(), 'stagewise-s3-test-'));
});

test.after(async () => {
  client?.destroy();
  await swift?.stop();
  if (scratch) await fsp.rm(scratch, { recursive: true, force: true });
});

function envFor(bucketAndPrefix: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...swift!.s3Env(bucketAndPrefix), ...overrides };
}

/** A fresh prefix per test keeps tests independent of order inside one bucket. */
function freshPrefix(): string {
  return `run-${process.pid}-${++prefixCounter}`;
}

interface Opened {
  store: S3Store;
  local: LocalStore;
  warnings: string[];
}

/** An S3 store in front of a new, empty local cache. */
async function openFresh(prefix: string): Promise<Opened> {
  const local = openLocalStore(await fsp.mkdtemp(join(scratch, 'local-')));
  const warnings: string[] = [];
  const store = await openS3Store(local, envFor(`${BUCKET}/${prefix}`), {
    log: { info() {}, warn: (m) => warnings.push(m) },
  });
  return { store, local, warnings };
}

async function writeTemp(bytes: Uint8Array): Promise<{ path: string; digest: BlobDigest }> {
  const dir = await fsp.mkdtemp(join(scratch, 'src-'));
  const path = join(dir, 'blob');
  await fsp.writeFile(path, bytes);
  return { path, digest: createHash('sha256').update(bytes).digest('hex') as BlobDigest };
}

function blobObjectKey(prefix: string, digest: string): string {
  return `${prefix}/blobs/${digest.slice(0, 2)}/${digest.slice(2)}`;
}

async function remoteExists(key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

function recordFor(outputs: Record<string, { digest: BlobDigest; size: number }>, seed = 'a'): BuildRecord {
  const key = createHash('sha256').update(`key-${seed}-${JSON.stringify(outputs)}`).digest('hex') as NodeKey;
  return {
    formatVersion: 1,
    key,
    nodeId: `demo[${seed}]`,
    stage: 'demo',
    params: { seed },
    codeDigest: 'c'.repeat(64) as BuildRecord['codeDigest'],
    codeFiles: {},
    inputDigests: {},
    outputs,
    outputDigest: createHash('sha256').update(JSON.stringify(outputs)).digest('hex'),
    startedAt: new Date(0).toISOString(),
    wallSeconds: 0,
    host: 'test',
    meta: {},
  };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function expectRejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got success');
}

/** Fails (instead of hanging the suite) if `promise` has not settled in `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

// --- configuration (no server needed) ---------------------------------------------------------

test('AWS_BUCKET_NAME splits into bucket and prefix; bad values name the variable', () => {
  const base = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' };
  const nested = s3ConfigFromEnv({ ...base, AWS_BUCKET_NAME: 'my-bucket/team/exp1/' });
  assert.is(nested.bucket, 'my-bucket');
  assert.is(nested.prefix, 'team/exp1/');
  assert.is(nested.region, 'us-east-1');
  assert.is(nested.endpoint, null);
  assert.is(s3ConfigFromEnv({ ...base, AWS_BUCKET_NAME: 's3://plain' }).prefix, '');
  assert.throws(() => s3ConfigFromEnv({ ...base, AWS_BUCKET_NAME: 'Bad_Bucket' }), /AWS_BUCKET_NAME.*"bucket" or "bucket\/prefix"/);
  assert.throws(() => s3ConfigFromEnv({ ...base, AWS_BUCKET_NAME: '' }), /AWS_BUCKET_NAME is empty/);
  assert.throws(() => s3ConfigFromEnv({ AWS_BUCKET_NAME: 'b-1', AWS_ACCESS_KEY_ID: 'k' }), /AWS_SECRET_ACCESS_KEY is empty/);
  assert.throws(() => s3ConfigFromEnv({ ...base, AWS_BUCKET_NAME: 'b-1', AWS_ENDPOINT_URL: 'localhost:9000' }), /AWS_ENDPOINT_URL.*http:\/\//);
});

// --- against Swift ----------------------------------------------------------------------------

s3Test('blobs round-trip through S3, including a multipart (> 8 MiB) blob, in the local layout', async () => {
  const prefix = freshPrefix();
  const writer = await openFresh(prefix);
  const small = await writeTemp(new TextEncoder().encode('hello, stages\n'));
  const bigBytes = randomBytes(9 * 1024 * 1024 + 123);
  const big = await writeTemp(bigBytes);
  await writer.store.putBlob(small.path, small.digest);
  await writer.store.putBlob(big.path, big.digest);
  await writer.store.putBlob(big.path, big.digest); // idempotent: HEAD finds it, nothing re-sent

  const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: blobObjectKey(prefix, big.digest) }));
  assert.is(head.ContentLength, bigBytes.length);
  // An S3 multipart object's ETag is "<md5 of part md5s>-<part count>": 2 parts of 8 MiB.
  assert.match(head.ETag ?? '', /-2"?$/);
  assert.ok(await remoteExists(blobObjectKey(prefix, small.digest)));

  const reader = await openFresh(prefix);
  const smallPath = await reader.store.blobPath(small.digest);
  const bigPath = await reader.store.blobPath(big.digest);
  assert.ok(smallPath && bigPath);
  assert.is(await fsp.readFile(smallPath!, 'utf8'), 'hello, stages\n');
  assert.ok(Buffer.compare(await fsp.readFile(bigPath!), bigBytes) === 0, 'big blob bytes differ after download');
  // The download landed in the reader's local cache.
  assert.is(await reader.local.blobPath(big.digest), bigPath);
  assert.is(await reader.store.blobPath('0'.repeat(64) as BlobDigest), null);
});

s3Test('putRecord refuses a record whose blob is not in S3, and publishes it once the blob is there', async () => {
  const prefix = freshPrefix();
  const { store, local } = await openFresh(prefix);
  const present = await writeTemp(new TextEncoder().encode('present'));
  const absent = await writeTemp(new TextEncoder().encode('only in the local cache'));
  await store.putBlob(present.path, present.digest);
  // The second blob reaches the local cache but never S3 (as after a crash between the two).
  await local.putBlob(absent.path, absent.digest);
  const record = recordFor({
    'a.txt': { digest: present.digest, size: 7 },
    'b.txt': { digest: absent.digest, size: 23 },
  });

  const err = await expectRejection(store.putRecord(record));
  assert.match(err.message, /refusing to upload record demo\//);
  assert.match(err.message, /1 of its 2 blobs are missing/);
  assert.match(err.message, /b\.txt/);
  assert.not.ok(await remoteExists(`${prefix}/records/demo/${record.key}.json`));
  assert.is(await local.getRecord('demo', record.key), null, 'a refused record must not be cached locally either');

  await store.putBlob(absent.path, absent.digest);
  await store.putRecord(record);
  assert.ok(await remoteExists(`${prefix}/records/demo/${record.key}.json`));
  assert.equal(await (await openFresh(prefix)).store.getRecord('demo', record.key), record);
});

s3Test('read-through cache: an empty local cache fetches the record and blobs, verifies and keeps them', async () => {
  const prefix = freshPrefix();
  const writer = await openFresh(prefix);
  const one = await writeTemp(new TextEncoder().encode('first output'));
  const two = await writeTemp(new TextEncoder().encode('second output'));
  await writer.store.putBlob(one.path, one.digest);
  await writer.store.putBlob(two.path, two.digest);
  const record = recordFor({ 'one.txt': { digest: one.digest, size: 12 }, 'two.txt': { digest: two.digest, size: 13 } }, 'rt');
  await writer.store.putRecord(record);

  const reader = await openFresh(prefix);
  assert.equal(await reader.store.getRecord('demo', record.key), record);
  // Not cached yet: its blobs are not all local, and a local record must imply local blobs.
  assert.is(await reader.local.getRecord('demo', record.key), null);
  assert.ok(await reader.store.blobPath(one.digest));
  assert.is(await reader.local.getRecord('demo', record.key), null);
  assert.ok(await reader.store.blobPath(two.digest));
  assert.equal(await reader.local.getRecord('demo', record.key), record);

  // With the remote copies gone, a store over the same local cache still has everything.
  await writer.store.deleteRecord('demo', record.key);
  await writer.store.deleteBlob(one.digest);
  await writer.store.deleteBlob(two.digest);
  assert.not.ok(await remoteExists(blobObjectKey(prefix, one.digest)));
  const again = await openS3Store(reader.local, envFor(`${BUCKET}/${prefix}`));
  assert.equal(await again.getRecord('demo', record.key), record);
  assert.is(await fsp.readFile((await again.blobPath(two.digest))!, 'utf8'), 'second output');
});

s3Test('a corrupted remote blob is a miss, is not cached, and a later putBlob repairs it', async () => {
  const prefix = freshPrefix();
  const writer = await openFresh(prefix);
  const bytes = new TextEncoder().encode('checkpoint bytes that will be bit-flipped');
  const blob = await writeTemp(bytes);
  await writer.store.putBlob(blob.path, blob.digest);
  const flipped = Uint8Array.from(bytes);
  flipped[5] ^= 0x01;
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: blobObjectKey(prefix, blob.digest), Body: flipped }));

  const reader = await openFresh(prefix);
  assert.is(await reader.store.blobPath(blob.digest), null);
  assert.is(await reader.local.blobPath(blob.digest), null);
  assert.equal(await collect(reader.local.listBlobs()), []);
  assert.equal(await fsp.readdir(join(reader.local.root, 'downloads')), [], 'no download left behind');
  assert.is(reader.warnings.length, 1);
  assert.match(reader.warnings[0], new RegExp(`${blob.digest.slice(2)} is corrupt`));

  // The rebuild puts the same bytes again: HEAD alone would skip the upload; the store knows better.
  await reader.store.putBlob(blob.path, blob.digest);
  const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: blobObjectKey(prefix, blob.digest) }));
  assert.ok(Buffer.compare(Buffer.from(await res.Body!.transformToByteArray()), Buffer.from(bytes)) === 0);
  const third = await openFresh(prefix);
  assert.ok(await third.store.blobPath(blob.digest));
});

s3Test('putBlob refuses a file whose bytes do not match the claimed digest, leaving nothing in S3', async () => {
  const prefix = freshPrefix();
  const { store } = await openFresh(prefix);
  const real = await writeTemp(new TextEncoder().encode('real bytes'));
  const claimed = createHash('sha256').update('other bytes').digest('hex') as BlobDigest;
  const err = await expectRejection(store.putBlob(real.path, claimed));
  assert.match(err.message, new RegExp(`sha256 is ${real.digest}, not ${claimed}`));
  assert.not.ok(await remoteExists(blobObjectKey(prefix, claimed)));
});

s3Test('listing is the union of S3 and the local cache; delete removes both copies', async () => {
  const prefix = freshPrefix();
  const { store, local } = await openFresh(prefix);
  const a = await writeTemp(new TextEncoder().encode('blob a'));
  const b = await writeTemp(new TextEncoder().encode('blob b'));
  const localOnly = await writeTemp(new TextEncoder().encode('built before S3 was configured'));
  await store.putBlob(a.path, a.digest);
  await store.putBlob(b.path, b.digest);
  await local.putBlob(localOnly.path, localOnly.digest);
  const record = recordFor({ 'a': { digest: a.digest, size: 6 }, 'b': { digest: b.digest, size: 6 } }, 'list');
  const localRecord = recordFor({ 'x': { digest: localOnly.digest, size: 30 } }, 'local');
  await store.putRecord(record);
  await local.putRecord(localRecord);

  assert.equal((await collect(store.listBlobs())).sort(), [a.digest, b.digest, localOnly.digest].sort());
  const records = await collect(store.listRecords());
  assert.equal(
    records.map((r) => `${r.stage}/${r.key}`).sort(),
    [`demo/${record.key}`, `demo/${localRecord.key}`].sort(),
  );
  // A second instance sees only what S3 holds.
  const other = await openFresh(prefix);
  assert.equal((await collect(other.store.listBlobs())).sort(), [a.digest, b.digest].sort());

  await store.deleteRecord('demo', record.key);
  await store.deleteBlob(a.digest);
  assert.not.ok(await remoteExists(`${prefix}/records/demo/${record.key}.json`));
  assert.not.ok(await remoteExists(blobObjectKey(prefix, a.digest)));
  assert.is(await local.getRecord('demo', record.key), null);
  assert.is(await local.blobPath(a.digest), null);
  assert.equal((await collect(store.listBlobs())).sort(), [b.digest, localOnly.digest].sort());
  assert.is(await other.store.getRecord('demo', record.key), null);
});

s3Test('a wrong secret fails at open with HTTP 403 and names the endpoint and the keys to check', async () => {
  const local = openLocalStore(await fsp.mkdtemp(join(scratch, 'local-')));
  const err = await expectRejection(openS3Store(local, envFor(BUCKET, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' })));
  assert.match(err.message, /403/);
  assert.match(err.message, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  assert.ok(err.message.includes(swift.endpoint), err.message);
  assert.ok(err.message.includes(`s3://${BUCKET}/`), err.message);
});

s3Test('a bucket that does not exist fails at open and says so', async () => {
  const local = openLocalStore(await fsp.mkdtemp(join(scratch, 'local-')));
  const err = await expectRejection(openS3Store(local, envFor('no-such-bucket-here')));
  assert.match(err.message, /bucket "no-such-bucket-here" does not exist/);
});

s3Test('an endpoint with nothing listening fails at open with a clear error, in seconds', async () => {
  const [closedPort] = await freePorts(1);
  const local = openLocalStore(await fsp.mkdtemp(join(scratch, 'local-')));
  const endpoint = `http://127.0.0.1:${closedPort}`;
  const started = Date.now();
  const err = await within(30_000, 'open against a closed port', expectRejection(openS3Store(local, envFor(BUCKET, { AWS_ENDPOINT_URL: endpoint }))));
  console.log(`    (closed port: failed after ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  assert.ok(err.message.includes(endpoint), err.message);
  assert.match(err.message, /cannot reach the endpoint \(ECONNREFUSED/);
  assert.match(err.message, /check AWS_ENDPOINT_URL/);
});

s3Test('an endpoint that accepts connections and never answers fails at open, not hangs', async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  try {
    const local = openLocalStore(await fsp.mkdtemp(join(scratch, 'local-')));
    const started = Date.now();
    const err = await within(30_000, 'open against a silent server', expectRejection(openS3Store(local, envFor(BUCKET, { AWS_ENDPOINT_URL: endpoint }))));
    console.log(`    (silent server: failed after ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    assert.ok(err.message.includes(endpoint), err.message);
    assert.match(err.message, /no answer within \d+ s; check AWS_ENDPOINT_URL/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test.run();
