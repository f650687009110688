// The local content-addressed store: blobs/<ab>/<rest>, records/<stage>/<key>.json.
// Blobs are immutable and read-only; a blob whose bytes no longer match its name is a miss.
import { existsSync, promises as fsp, readFileSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { atomicCopyFile, atomicWriteFile } from './fsutil.ts';
import { hashFile } from '../key/hash.ts';
import type { BlobDigest, BuildRecord, NodeKey, Store } from '../types.ts';

const DIGEST = /^[0-9a-f]{64}$/;

export interface LocalStore extends Store {
  readonly root: string;
  /** Persists the verification cache (call once at the end of a run). */
  flush(): Promise<void>;
}

export function openLocalStore(root: string): LocalStore {
  return new LocalStoreImpl(resolve(root));
}

function statStamp(st: Stats): string {
  // ctime cannot be set from user space: any write, chmod or relink since the last full hash changes it.
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

class LocalStoreImpl implements LocalStore {
  private verified: Map<string, string> | null = null;
  private dirty = false;

  constructor(readonly root: string) {}

  private blobFile(digest: BlobDigest): string {
    if (!DIGEST.test(digest)) throw new Error(`invalid blob digest ${JSON.stringify(digest)} (expected 64 lowercase hex chars)`);
    return join(this.root, 'blobs', digest.slice(0, 2), digest.slice(2));
  }

  private get stampFile(): string {
    return join(this.root, 'state', 'verified.json');
  }

  private stamps(): Map<string, string> {
    if (!this.verified) {
      this.verified = new Map();
      try {
        for (const [d, s] of Object.entries(JSON.parse(readFileSync(this.stampFile, 'utf8')) as Record<string, string>)) this.verified.set(d, s);
      } catch {
        // missing or unreadable cache: blobs are simply re-hashed
      }
    }
    return this.verified;
  }

  async blobPath(digest: BlobDigest): Promise<string | null> {
    const path = this.blobFile(digest);
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      return null;
    }
    const stamps = this.stamps();
    if (stamps.get(digest) === statStamp(st)) return path;
    const actual = await hashFile(path);
    if (actual.digest !== digest) {
      // Corrupt: remove it so the rebuild can store the right bytes under this name.
      await fsp.rm(path, { force: true });
      stamps.delete(digest);
      this.dirty = true;
      return null;
    }
    stamps.set(digest, statStamp(statSync(path)));
    this.dirty = true;
    return path;
  }

  async putBlob(path: string, digest: BlobDigest): Promise<void> {
    const dest = this.blobFile(digest);
    if (existsSync(dest) && (await this.blobPath(digest)) !== null) return;
    await atomicCopyFile(path, dest, 0o444);
    this.stamps().set(digest, statStamp(statSync(dest)));
    this.dirty = true;
  }

  private recordFile(stage: string, key: NodeKey): string {
    if (!DIGEST.test(key)) throw new Error(`invalid node key ${JSON.stringify(key)}`);
    return join(this.root, 'records', stage, `${key}.json`);
  }

  async getRecord(stage: string, key: NodeKey): Promise<BuildRecord | null> {
    let text: string;
    try {
      text = readFileSync(this.recordFile(stage, key), 'utf8');
    } catch {
      return null;
    }
    try {
      const rec = JSON.parse(text) as BuildRecord;
      return rec.key === key && rec.stage === stage ? rec : null;
    } catch {
      return null;
    }
  }

  async putRecord(record: BuildRecord): Promise<void> {
    await atomicWriteFile(this.recordFile(record.stage, record.key), `${JSON.stringify(record, null, 1)}\n`);
  }

  async *listRecords(): AsyncIterable<{ stage: string; key: NodeKey }> {
    const dir = join(this.root, 'records');
    for (const stage of await fsp.readdir(dir).catch(() => [] as string[])) {
      for (const name of await fsp.readdir(join(dir, stage)).catch(() => [] as string[])) {
        const key = name.replace(/\.json$/, '');
        if (name.endsWith('.json') && DIGEST.test(key)) yield { stage, key: key as NodeKey };
      }
    }
  }

  async *listBlobs(): AsyncIterable<BlobDigest> {
    const dir = join(this.root, 'blobs');
    for (const prefix of await fsp.readdir(dir).catch(() => [] as string[])) {
      for (const rest of await fsp.readdir(join(dir, prefix)).catch(() => [] as string[])) {
        const digest = prefix + rest;
        if (DIGEST.test(digest)) yield digest as BlobDigest;
      }
    }
  }

  async deleteRecord(stage: string, key: NodeKey): Promise<void> {
    await fsp.rm(this.recordFile(stage, key), { force: true });
  }

  async deleteBlob(digest: BlobDigest): Promise<void> {
    await fsp.rm(this.blobFile(digest), { force: true });
    if (this.stamps().delete(digest)) this.dirty = true;
  }

  async flush(): Promise<void> {
    if (!this.dirty || !this.verified) return;
    // Merge with what concurrent processes verified meanwhile; a lost entry only costs a re-hash.
    let onDisk: Record<string, string> = {};
    try {
      onDisk = JSON.parse(readFileSync(this.stampFile, 'utf8'));
    } catch {
      /* none yet */
    }
    const merged: Record<string, string> = { ...onDisk };
    for (const [d, s] of this.verified) merged[d] = s;
    for (const d of Object.keys(merged)) {
      if (!this.verified.has(d) && !existsSync(this.blobFile(d as BlobDigest))) delete merged[d];
    }
    await atomicWriteFile(this.stampFile, JSON.stringify(merged));
    this.dirty = false;
  }
}
