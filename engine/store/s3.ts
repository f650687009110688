// The S3 store: the local store's layout (blobs/<ab>/<rest>, records/<stage>/<key>.json) under
// s3://bucket/prefix/, with the local store as a read-through cache in front of it.
// Works with AWS and S3-compatible servers (AWS_ENDPOINT_URL), e.g. OpenStack Swift's s3api.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { faultPoint } from '../run/fault.ts';
import { tmpName } from './fsutil.ts';
import { hashFile } from '../key/hash.ts';
import type { BlobDigest, BuildRecord, Logger, NodeKey, Store } from '../types.ts';

const DIGEST = /^[0-9a-f]{64}$/;
const STAGE_NAME = /^[A-Za-z0-9._-]+$/;
// S3's minimum part is 5 MiB; 8 MiB parts, 2 in flight, keep an upload's memory at 16 MiB.
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
// A dead or firewalled endpoint must fail in seconds, not hang: connect timeout × attempts.
const CONNECT_TIMEOUT_MS = 3_000;
const MAX_ATTEMPTS = 3;
// Idle socket limit: a stalled transfer fails instead of hanging; big transfers are fine as long as bytes flow.
const SOCKET_IDLE_MS = 30_000;
// The opening probe (HEAD bucket) has an overall deadline too, covering a server that accepts and never answers.
const PROBE_DEADLINE_MS = 8_000;
const HEAD_CONCURRENCY = 8;

export interface S3Config {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  /** null = AWS itself. */
  endpoint: string | null;
  region: string;
  /** null = the SDK's default credential chain (instance roles, ~/.aws, …). */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
}

/** Reads and checks the AWS_* variables; every error names the variable and the expected form. */
export function s3ConfigFromEnv(env: NodeJS.ProcessEnv): S3Config {
  const location = (env.AWS_BUCKET_NAME ?? '').trim().replace(/^s3:\/\//, '');
  if (!location) throw new Error('S3 store: AWS_BUCKET_NAME is empty (expected "bucket" or "bucket/prefix")');
  const [bucket, ...rest] = location.split('/');
  // DNS-style bucket names: what AWS accepts and what path-style URLs can carry unescaped.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new Error(
      `S3 store: AWS_BUCKET_NAME=${JSON.stringify(env.AWS_BUCKET_NAME)}: bucket ${JSON.stringify(bucket)} is not a valid ` +
        'bucket name (expected "bucket" or "bucket/prefix", bucket = 3–63 of a-z 0-9 . -)',
    );
  }
  const prefixPath = rest.filter((s) => s !== '').join('/');
  const prefix = prefixPath ? `${prefixPath}/` : '';

  const endpointText = (env.AWS_ENDPOINT_URL ?? '').trim();
  let endpoint: string | null = null;
  if (endpointText) {
    let url: URL;
    try {
      url = new URL(endpointText);
    } catch {
      throw new Error(`S3 store: AWS_ENDPOINT_URL=${JSON.stringify(endpointText)} is not a URL (expected e.g. http://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`S3 store: AWS_ENDPOINT_URL=${JSON.stringify(endpointText)} must start with http:// or https://`);
    }
    endpoint = endpointText.replace(/\/+$/, '');
  }

  const accessKeyId = (env.AWS_ACCESS_KEY_ID ?? '').trim();
  const secretAccessKey = (env.AWS_SECRET_ACCESS_KEY ?? '').trim();
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    const missing = accessKeyId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID';
    throw new Error(`S3 store: ${missing} is empty while the other key is set (set both, or neither to use the AWS default credential chain)`);
  }
  return {
    bucket,
    prefix,
    endpoint,
    region: (env.AWS_REGION ?? '').trim() || 'us-east-1',
    credentials: accessKeyId ? { accessKeyId, secretAccessKey } : null,
  };
}

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // Swift (and most S3-compatible servers) address buckets by path, not by subdomain.
    forcePathStyle: true,
    // Swift refuses the SDK's default streamed-upload checksums; digests are verified by us instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_MS },
  });
}

/** Where a config points, for messages: s3://bucket/prefix at endpoint. */
function describeLocation(config: S3Config): string {
  const where = config.endpoint ?? `AWS (region ${config.region})`;
  return `s3://${config.bucket}/${config.prefix} at ${where}`;
}

function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A thrown SDK error as a message that says what failed, where, and what to check. */
function explainS3Error(err: unknown, config: S3Config, operation: string): Error {
  const status = httpStatusOf(err);
  const e = err as { name?: string; code?: string; message?: string };
  const where = describeLocation(config);
  const detail = [e.code, e.name, e.message].filter(Boolean).join(': ');
  let hint: string;
  if (status === undefined) {
    hint =
      `cannot reach the endpoint (${detail}) after ${MAX_ATTEMPTS} attempts; ` +
      'check AWS_ENDPOINT_URL (host, port, http/https) and that the server is running and reachable from here';
  } else if (status === 403) {
    hint =
      `access denied (HTTP 403 ${e.name ?? ''}); ` +
      'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that this key may read and write the bucket';
  } else if (status === 301 || (status === 400 && e.name === 'AuthorizationHeaderMalformed')) {
    hint = `the bucket lives in another region (HTTP ${status}); check AWS_REGION`;
  } else if (status === 404 && (e.name === 'NoSuchBucket' || operation === 'HEAD bucket')) {
    hint = `bucket ${JSON.stringify(config.bucket)} does not exist (HTTP 404); create it or fix AWS_BUCKET_NAME`;
  } else {
    hint = `HTTP ${status} (${detail})`;
  }
  return new Error(`S3 store: ${operation} on ${where} failed: ${hint}`, { cause: err });
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Passes bytes through while hashing them: digests are checked on the very bytes that moved. */
function hashingTap(): { tap: Transform; digest(): string } {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  return { tap, digest: () => hash.digest('hex') };
}

export interface S3Store extends Store {
  /** The local cache's root (views, work dirs and locks live there, as with the local store). */
  readonly root: string;
  /** s3://bucket/prefix/ */
  readonly url: string;
}

/**
 * Opens the store named by AWS_BUCKET_NAME in front of `local`, after checking that the bucket
 * answers with these credentials (HEAD bucket), so a wrong key or a dead endpoint fails here,
 * with a message naming the endpoint and what to check, not halfway through a build.
 */
export async function openS3Store(
  local: Store & { root: string },
  env: NodeJS.ProcessEnv,
  options: { log?: Logger } = {},
): Promise<S3Store> {
  const config = s3ConfigFromEnv(env);
  const client = createS3Client(config);
  try {
    await client.send(new HeadBucketCommand({ Bucket: config.bucket }), {
      abortSignal: AbortSignal.timeout(PROBE_DEADLINE_MS) as never,
    });
  } catch (err) {
    client.destroy();
    const e = err as { name?: string };
    if (httpStatusOf(err) === undefined && (e.name === 'AbortError' || e.name === 'TimeoutError')) {
      throw new Error(
        `S3 store: HEAD bucket on ${describeLocation(config)} failed: no answer within ${PROBE_DEADLINE_MS / 1000} s; ` +
          'check AWS_ENDPOINT_URL (host, port, http/https) and that the server is running and reachable from here',
        { cause: err },
      );
    }
    throw explainS3Error(err, config, 'HEAD bucket');
  }
  const log = options.log ?? { info() {}, warn: (msg: string) => console.warn(msg) };
  return new S3StoreImpl(local, config, client, log);
}

class S3StoreImpl implements S3Store {
  readonly root: string;
  readonly url: string;
  private readonly downloads: string;
  /** One download per digest at a time within this process. */
  private readonly inFlight = new Map<string, Promise<string | null>>();
  /**
   * Digests whose remote object failed verification here. Their key exists remotely with wrong
   * bytes, so putBlob must overwrite it instead of trusting HEAD: a rebuild heals the remote copy.
   */
  private readonly corruptRemote = new Set<string>();
  /** Digests verified present in the local cache by this instance. */
  private readonly localVerified = new Set<string>();
  /** Remote records returned by getRecord but not yet cached locally (their blobs are not all local yet). */
  private readonly pendingRecords = new Map<string, BuildRecord>();

  constructor(
    private readonly local: Store & { root: string },
    private readonly config: S3Config,
    private readonly client: S3Client,
    private readonly log: Logger,
  ) {
    this.root = local.root;
    this.url = `s3://${config.bucket}/${config.prefix}`;
    this.downloads = join(local.root, 'downloads');
  }

  private blobKey(digest: BlobDigest | string): string {
    if (!DIGEST.test(digest)) throw new Error(`S3 store: invalid blob digest ${JSON.stringify(digest)} (expected 64 lowercase hex chars)`);
    return `${this.config.prefix}blobs/${digest.slice(0, 2)}/${digest.slice(2)}`;
  }

  private recordKey(stage: string, key: NodeKey): string {
    if (!STAGE_NAME.test(stage)) throw new Error(`S3 store: invalid stage name ${JSON.stringify(stage)} (expected letters, digits, . _ -)`);
    if (!DIGEST.test(key)) throw new Error(`S3 store: invalid node key ${JSON.stringify(key)} (expected 64 lowercase hex chars)`);
    return `${this.config.prefix}records/${stage}/${key}.json`;
  }

  private async send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw explainS3Error(err, this.config, operation);
    }
  }

  /** Size of the remote object, or null when it does not exist. */
  private async remoteSize(objectKey: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw explainS3Error(err, this.config, `HEAD ${objectKey}`);
    }
  }

  async blobPath(digest: BlobDigest): Promise<string | null> {
    const cached = await this.local.blobPath(digest);
    if (cached !== null) {
      await this.noteLocal(digest);
      return cached;
    }
    let download = this.inFlight.get(digest);
    if (!download) {
      download = this.download(digest).finally(() => this.inFlight.delete(digest));
      this.inFlight.set(digest, download);
    }
    return download;
  }

  private async download(digest: BlobDigest): Promise<string | null> {
    const objectKey = this.blobKey(digest);
    await fsp.mkdir(this.downloads, { recursive: true });
    const tmp = tmpName(this.downloads, digest);
    try {
      let body: Readable;
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
        body = res.Body as Readable;
      } catch (err) {
        if (httpStatusOf(err) === 404) return null;
        throw explainS3Error(err, this.config, `GET ${objectKey}`);
      }
      const { tap, digest: actual } = hashingTap();
      await this.send(`GET ${objectKey}`, () => pipeline(body, tap, createWriteStream(tmp)));
      const got = actual();
      if (got !== digest) {
        // Never cache it: a mismatch is a miss. Remember it so a rebuild's putBlob overwrites it.
        this.corruptRemote.add(digest);
        this.log.warn(`S3 store: ${this.url}${objectKey.slice(this.config.prefix.length)} is corrupt (its bytes hash to ${got}); treated as missing`);
        return null;
      }
      await this.local.putBlob(tmp, digest);
      const path = await this.local.blobPath(digest);
      if (path !== null) await this.noteLocal(digest);
      return path;
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  /**
   * A remote record is cached locally only once every blob it references is in the local cache:
   * the local store's invariant (a record implies its blobs) then holds for the cached copy too.
   * Blobs come lazily (only those a build actually reads), so a record whose outputs were never
   * needed here stays remote-only and costs one small GET per lookup.
   */
  private async noteLocal(digest: string): Promise<void> {
    this.localVerified.add(digest);
    await this.cacheCompleteRecords();
  }

  private async cacheCompleteRecords(): Promise<void> {
    for (const [id, record] of this.pendingRecords) {
      if (Object.values(record.outputs).every((o) => this.localVerified.has(o.digest))) {
        this.pendingRecords.delete(id);
        await this.local.putRecord(record);
      }
    }
  }

  async putBlob(path: string, digest: BlobDigest): Promise<void> {
    const objectKey = this.blobKey(digest);
    await this.local.putBlob(path, digest);
    this.localVerified.add(digest);
    // Content-addressed keys make the put idempotent: an object already there has these bytes
    // (unless this instance saw it corrupt, or its size is wrong).
    const { size } = await fsp.stat(path);
    if (!this.corruptRemote.has(digest) && (await this.remoteSize(objectKey)) === size) return;

    const { tap, digest: uploaded } = hashingTap();
    // A read error destroys the tap, which fails the upload: the error surfaces from upload.done().
    pipeline(createReadStream(path), tap).catch(() => {});
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: objectKey, Body: tap, ContentType: 'application/octet-stream' },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
    });
    upload.on('httpUploadProgress', (p) => {
      if (p.loaded !== undefined && p.total !== undefined && p.loaded > 0 && p.loaded < p.total) faultPoint('mid-multipart');
    });
    await this.send(`PUT ${objectKey}`, () => upload.done());
    const actual = uploaded();
    if (actual !== digest) {
      // The caller's file did not hold the bytes it claimed: remove what we just published.
      await this.send(`DELETE ${objectKey}`, () =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: objectKey })),
      );
      // The local store copied the same wrong bytes under this name, unless it already held the right ones.
      const localCopy = await this.local.blobPath(digest);
      if (localCopy !== null && (await hashFile(localCopy)).digest !== digest) await this.local.deleteBlob(digest);
      this.localVerified.delete(digest);
      throw new Error(`S3 store: putBlob(${path}): the file's sha256 is ${actual}, not ${digest}; nothing stored`);
    }
    this.corruptRemote.delete(digest);
  }

  async getRecord(stage: string, key: NodeKey): Promise<BuildRecord | null> {
    const cached = await this.local.getRecord(stage, key);
    if (cached) return cached;
    const text = await this.getText(this.recordKey(stage, key));
    if (text === null) return null;
    const where = `${this.url}records/${stage}/${key}.json`;
    let record: BuildRecord;
    try {
      record = JSON.parse(text) as BuildRecord;
    } catch {
      this.log.warn(`S3 store: ${where} is not valid JSON; treated as missing`);
      return null;
    }
    if (record?.key !== key || record.stage !== stage || typeof record.outputs !== 'object' || record.outputs === null) {
      this.log.warn(`S3 store: ${where} does not describe ${stage}/${key}; treated as missing`);
      return null;
    }
    // Blobs fetched by an earlier run (stamped by the local store, so this is a stat each) count too.
    for (const { digest } of Object.values(record.outputs)) {
      if (!this.localVerified.has(digest) && (await this.local.blobPath(digest)) !== null) this.localVerified.add(digest);
    }
    this.pendingRecords.set(`${stage}/${key}`, record);
    await this.cacheCompleteRecords();
    return record;
  }

  private async getText(objectKey: string): Promise<string | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
      return await res.Body!.transformToString('utf8');
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw explainS3Error(err, this.config, `GET ${objectKey}`);
    }
  }

  async putRecord(record: BuildRecord): Promise<void> {
    const objectKey = this.recordKey(record.stage, record.key);
    const sizes = new Map<string, number>();
    for (const entry of Object.values(record.outputs)) sizes.set(entry.digest, entry.size);
    const digests = [...sizes.keys()];
    const present = await mapLimit(digests, HEAD_CONCURRENCY, async (d) =>
      !this.corruptRemote.has(d) && (await this.remoteSize(this.blobKey(d))) === sizes.get(d),
    );
    const missing = digests.filter((_, i) => !present[i]);
    if (missing.length > 0) {
      const byDigest = new Map(Object.entries(record.outputs).map(([p, o]) => [o.digest as string, p]));
      const list = missing.slice(0, 3).map((d) => `${byDigest.get(d)} (${d.slice(0, 12)}…)`).join(', ');
      throw new Error(
        `S3 store: refusing to upload record ${record.stage}/${record.key} (${record.nodeId}): ` +
          `${missing.length} of its ${digests.length} blobs are missing or incomplete in ${this.url}blobs/: ${list}` +
          `${missing.length > 3 ? ', …' : ''}. A record is published only after every blob it references (putBlob them first).`,
      );
    }
    // Remote first: if the local write then fails, the next lookup fetches the record again.
    await this.send(`PUT ${objectKey}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: objectKey,
          Body: `${JSON.stringify(record, null, 1)}\n`,
          ContentType: 'application/json',
        }),
      ),
    );
    this.pendingRecords.delete(`${record.stage}/${record.key}`);
    faultPoint('after-remote-record');
    await this.local.putRecord(record);
  }

  private async *listRemote(under: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.send(`LIST ${under}`, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: under, ContinuationToken: token }),
        ),
      );
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key.slice(under.length);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Remote records, then local-only ones (e.g. built before S3 was configured): the union, once each. */
  async *listRecords(): AsyncIterable<{ stage: string; key: NodeKey }> {
    const seen = new Set<string>();
    for await (const rel of this.listRemote(`${this.config.prefix}records/`)) {
      const match = /^([^/]+)\/([0-9a-f]{64})\.json$/.exec(rel);
      if (!match || seen.has(rel)) continue;
      seen.add(rel);
      yield { stage: match[1], key: match[2] as NodeKey };
    }
    for await (const entry of this.local.listRecords()) {
      if (!seen.has(`${entry.stage}/${entry.key}.json`)) yield entry;
    }
  }

  async *listBlobs(): AsyncIterable<BlobDigest> {
    const seen = new Set<string>();
    for await (const rel of this.listRemote(`${this.config.prefix}blobs/`)) {
      const digest = rel.replace('/', '');
      if (rel[2] !== '/' || !DIGEST.test(digest) || seen.has(digest)) continue;
      seen.add(digest);
      yield digest as BlobDigest;
    }
    for await (const digest of this.local.listBlobs()) {
      if (!seen.has(digest)) yield digest;
    }
  }

  async deleteRecord(stage: string, key: NodeKey): Promise<void> {
    const objectKey = this.recordKey(stage, key);
    await this.send(`DELETE ${objectKey}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: objectKey })),
    );
    this.pendingRecords.delete(`${stage}/${key}`);
    await this.local.deleteRecord(stage, key);
  }

  async deleteBlob(digest: BlobDigest): Promise<void> {
    const objectKey = this.blobKey(digest);
    await this.send(`DELETE ${objectKey}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: objectKey })),
    );
    this.corruptRemote.delete(digest);
    this.localVerified.delete(digest);
    await this.local.deleteBlob(digest);
  }
}
