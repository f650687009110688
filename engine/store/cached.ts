// A remote content-addressed store with the local store as a verified read-through cache: the
// layout of the local store (blobs/<ab>/<rest>, records/<stage>/<key>.json) on any object
// transport (s3-objects.ts for S3). What it guarantees, whatever the transport:
//   - a blob is cached locally only after its bytes hashed to its name; a remote object that does
//     not is a miss (and is overwritten by the next putBlob of that digest);
//   - a record is uploaded only after every blob it references is present remotely with the right
//     size, and cached locally only once all its blobs are local (the local store's invariant);
//   - transfers and metadata requests are bounded (p-queue), one download per digest at a time.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { faultPoint } from '../run/fault.ts';
import type { BlobDigest, BuildRecord, Logger, NodeKey, Store } from '../types.ts';
import { hashFile } from '../key/hash.ts';
import { tmpName } from './fsutil.ts';

/** The operations a cached store needs from a remote object store; keys are relative to its root. */
export interface ObjectTransport {
  /** Where the objects live, for messages (e.g. s3://bucket/prefix/). */
  readonly url: string;
  /** Size of the object, or null when it does not exist. */
  size(key: string): Promise<number | null>;
  /** Streams the object into `file`; the sha256 of the bytes written, or null when it does not exist. */
  download(key: string, file: string): Promise<string | null>;
  /** Uploads `file`; the sha256 of the bytes sent. */
  upload(file: string, key: string): Promise<string>;
  getText(key: string): Promise<string | null>;
  putText(key: string, text: string, contentType: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix`, relative to it. */
  list(prefix: string): AsyncIterable<string>;
}

export interface CachedStore extends Store {
  /** The local cache's root (views, work dirs and locks live there, as with the local store). */
  readonly root: string;
  /** Where the remote objects live. */
  readonly url: string;
}

const DIGEST = /^[0-9a-f]{64}$/;
const STAGE_NAME = /^[A-Za-z0-9._-]+$/;
const HEAD_CONCURRENCY = 8;
// Blob transfers at once per store: enough to hide latency, few enough to bound memory and sockets.
const TRANSFER_CONCURRENCY = 4;

export function openCachedStore(local: Store & { root: string }, remote: ObjectTransport, log: Logger, name = 'store'): CachedStore {
  return new CachedStoreImpl(local, remote, log, name);
}

class CachedStoreImpl implements CachedStore {
  readonly root: string;
  readonly url: string;
  private readonly downloads: string;
  /** One download per digest at a time within this process. */
  private readonly inFlight = new Map<string, Promise<string | null>>();
  /**
   * Digests whose remote object failed verification here. Their key exists remotely with wrong
   * bytes, so putBlob must overwrite it instead of trusting its size: a rebuild heals the remote copy.
   */
  private readonly corruptRemote = new Set<string>();
  /** Digests verified present in the local cache by this instance. */
  private readonly localVerified = new Set<string>();
  /** Remote records returned by getRecord but not yet cached locally (their blobs are not all local yet). */
  private readonly pendingRecords = new Map<string, BuildRecord>();
  /** Metadata requests in flight at once. */
  private readonly heads = new PQueue({ concurrency: HEAD_CONCURRENCY });
  /** Blob downloads and uploads in flight at once. */
  private readonly transfers = new PQueue({ concurrency: TRANSFER_CONCURRENCY });

  constructor(
    private readonly local: Store & { root: string },
    private readonly remote: ObjectTransport,
    private readonly log: Logger,
    /** Names the store in messages, e.g. 'S3 store'. */
    private readonly name: string,
  ) {
    this.root = local.root;
    this.url = remote.url;
    this.downloads = join(local.root, 'downloads');
  }

  private blobKey(digest: BlobDigest | string): string {
    if (!DIGEST.test(digest)) throw new Error(`${this.name}: invalid blob digest ${JSON.stringify(digest)} (expected 64 lowercase hex chars)`);
    return `blobs/${digest.slice(0, 2)}/${digest.slice(2)}`;
  }

  private recordKey(stage: string, key: NodeKey): string {
    if (!STAGE_NAME.test(stage)) throw new Error(`${this.name}: invalid stage name ${JSON.stringify(stage)} (expected letters, digits, . _ -)`);
    if (!DIGEST.test(key)) throw new Error(`${this.name}: invalid node key ${JSON.stringify(key)} (expected 64 lowercase hex chars)`);
    return `records/${stage}/${key}.json`;
  }

  async blobPath(digest: BlobDigest): Promise<string | null> {
    const cached = await this.local.blobPath(digest);
    if (cached !== null) {
      await this.noteLocal(digest);
      return cached;
    }
    let download = this.inFlight.get(digest);
    if (!download) {
      download = (this.transfers.add(() => this.download(digest)) as Promise<string | null>).finally(() => this.inFlight.delete(digest));
      this.inFlight.set(digest, download);
    }
    return download;
  }

  private async download(digest: BlobDigest): Promise<string | null> {
    const key = this.blobKey(digest);
    await fsp.mkdir(this.downloads, { recursive: true });
    const tmp = tmpName(this.downloads, digest);
    try {
      const got = await this.remote.download(key, tmp);
      if (got === null) return null;
      if (got !== digest) {
        // Never cache it: a mismatch is a miss. Remember it so a rebuild's putBlob overwrites it.
        this.corruptRemote.add(digest);
        this.log.warn(`${this.name}: ${this.url}${key} is corrupt (its bytes hash to ${got}); treated as missing`);
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
    const key = this.blobKey(digest);
    await this.local.putBlob(path, digest);
    this.localVerified.add(digest);
    // Content-addressed keys make the put idempotent: an object already there has these bytes
    // (unless this instance saw it corrupt, or its size is wrong).
    const { size } = await fsp.stat(path);
    if (!this.corruptRemote.has(digest) && (await this.remote.size(key)) === size) return;
    const actual = (await this.transfers.add(() => this.remote.upload(path, key))) as string;
    if (actual !== digest) {
      // The caller's file did not hold the bytes it claimed: remove what we just published.
      await this.remote.delete(key);
      // The local store copied the same wrong bytes under this name, unless it already held the right ones.
      const localCopy = await this.local.blobPath(digest);
      if (localCopy !== null && (await hashFile(localCopy)).digest !== digest) await this.local.deleteBlob(digest);
      this.localVerified.delete(digest);
      throw new Error(`${this.name}: putBlob(${path}): the file's sha256 is ${actual}, not ${digest}; nothing stored`);
    }
    this.corruptRemote.delete(digest);
  }

  async getRecord(stage: string, key: NodeKey): Promise<BuildRecord | null> {
    const cached = await this.local.getRecord(stage, key);
    if (cached) return cached;
    const text = await this.remote.getText(this.recordKey(stage, key));
    if (text === null) return null;
    const where = `${this.url}records/${stage}/${key}.json`;
    let record: BuildRecord;
    try {
      record = JSON.parse(text) as BuildRecord;
    } catch {
      this.log.warn(`${this.name}: ${where} is not valid JSON; treated as missing`);
      return null;
    }
    if (record?.key !== key || record.stage !== stage || typeof record.outputs !== 'object' || record.outputs === null) {
      this.log.warn(`${this.name}: ${where} does not describe ${stage}/${key}; treated as missing`);
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

  async putRecord(record: BuildRecord): Promise<void> {
    const recordKey = this.recordKey(record.stage, record.key);
    const sizes = new Map<string, number>();
    for (const entry of Object.values(record.outputs)) sizes.set(entry.digest, entry.size);
    const digests = [...sizes.keys()];
    const present = await Promise.all(
      digests.map((d) => this.heads.add(async () => !this.corruptRemote.has(d) && (await this.remote.size(this.blobKey(d))) === sizes.get(d)) as Promise<boolean>),
    );
    const missing = digests.filter((_, i) => !present[i]);
    if (missing.length > 0) {
      const byDigest = new Map(Object.entries(record.outputs).map(([p, o]) => [o.digest as string, p]));
      const list = missing.slice(0, 3).map((d) => `${byDigest.get(d)} (${d.slice(0, 12)}…)`).join(', ');
      throw new Error(
        `${this.name}: refusing to upload record ${record.stage}/${record.key} (${record.nodeId}): ` +
          `${missing.length} of its ${digests.length} blobs are missing or incomplete in ${this.url}blobs/: ${list}` +
          `${missing.length > 3 ? ', …' : ''}. A record is published only after every blob it references (putBlob them first).`,
      );
    }
    // Remote first: if the local write then fails, the next lookup fetches the record again.
    await this.remote.putText(recordKey, `${JSON.stringify(record, null, 1)}\n`, 'application/json');
    this.pendingRecords.delete(`${record.stage}/${record.key}`);
    faultPoint('after-remote-record');
    await this.local.putRecord(record);
  }

  /** Remote records, then local-only ones (e.g. built before the remote was configured): the union, once each. */
  async *listRecords(): AsyncIterable<{ stage: string; key: NodeKey }> {
    const seen = new Set<string>();
    for await (const rel of this.remote.list('records/')) {
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
    for await (const rel of this.remote.list('blobs/')) {
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
    await this.remote.delete(this.recordKey(stage, key));
    this.pendingRecords.delete(`${stage}/${key}`);
    await this.local.deleteRecord(stage, key);
  }

  async deleteBlob(digest: BlobDigest): Promise<void> {
    await this.remote.delete(this.blobKey(digest));
    this.corruptRemote.delete(digest);
    this.localVerified.delete(digest);
    await this.local.deleteBlob(digest);
  }
}
