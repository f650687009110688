// Moving node outputs in and out of the store: scratch dir → blobs, blobs → read-only views, views → publish dirs.
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { faultPoint } from '../run/fault.ts';
import { atomicCopyFile, listFilesRecursive, OWNER, removeTree } from './fsutil.ts';
import { digestOf, hashFile } from '../key/hash.ts';
import type { BlobDigest, BuildRecord, OutputEntry, Store } from '../types.ts';

/** Hashes every file in `outDir` and stores it as a blob. Returns the manifest and its digest. */
export async function storeOutputs(store: Store, outDir: string): Promise<{ outputs: Record<string, OutputEntry>; outputDigest: string }> {
  const outputs: Record<string, OutputEntry> = {};
  for (const rel of await listFilesRecursive(outDir)) {
    const path = join(outDir, rel);
    const { digest, size } = await hashFile(path);
    await store.putBlob(path, digest as BlobDigest);
    outputs[rel] = { digest: digest as BlobDigest, size };
    faultPoint('mid-blobs');
  }
  return { outputs, outputDigest: manifestDigest(outputs) };
}

/** What downstream keys consume for a whole-directory input: paths, digests and sizes, nothing else. */
export function manifestDigest(outputs: Record<string, OutputEntry>): string {
  return digestOf(outputs);
}

/** Output paths whose blob is missing, corrupt or of the wrong size: any of them makes the record a miss. */
export async function badOutputs(store: Store, record: BuildRecord): Promise<string[]> {
  const bad: string[] = [];
  for (const [rel, entry] of Object.entries(record.outputs)) {
    const path = await store.blobPath(entry.digest);
    if (path === null || statSync(path).size !== entry.size) bad.push(rel);
  }
  return bad;
}

/**
 * A read-only directory view of a record's outputs: hard links to the blobs (copies where linking
 * fails), shared by every consumer of the same outputs. Returns null if a blob is unavailable.
 */
/** Views being made by this process, by path: concurrent consumers of one upstream share the work. */
const viewsInFlight = new Map<string, Promise<string | null>>();

export function materialiseView(root: string, store: Store, record: Pick<BuildRecord, 'outputs' | 'outputDigest'>): Promise<string | null> {
  const view = join(root, 'views', record.outputDigest);
  let pending = viewsInFlight.get(view);
  if (!pending) {
    pending = makeView(root, view, store, record).finally(() => viewsInFlight.delete(view));
    viewsInFlight.set(view, pending);
  }
  return pending;
}

// A view that exists is never modified or deleted in place: a running stage (in this process or
// another) may be reading it. A new view is built aside, made read-only, and renamed in; a damaged
// one is first renamed out of the way. Whoever loses a rename race uses the winner's view.
async function makeView(root: string, view: string, store: Store, record: Pick<BuildRecord, 'outputs'>): Promise<string | null> {
  const blobs = new Map<string, { path: string; digest: string }>();
  for (const [rel, entry] of Object.entries(record.outputs)) {
    const blob = await store.blobPath(entry.digest);
    if (blob === null) return null;
    blobs.set(rel, { path: blob, digest: entry.digest });
  }
  if (existsSync(view) && (await viewIntact(view, blobs))) return view;
  const aside = () => join(root, 'views', `.view.${OWNER}.${randomBytes(4).toString('hex')}.tmp`);
  const tmp = aside();
  try {
    for (const [rel, { path: blob }] of blobs) {
      const dest = join(tmp, rel);
      await fsp.mkdir(dirname(dest), { recursive: true });
      try {
        await fsp.link(blob, dest);
      } catch {
        await atomicCopyFile(blob, dest, 0o444);
      }
    }
    await fsp.mkdir(tmp, { recursive: true });
    await makeReadOnly(tmp);
    if (existsSync(view)) {
      const damaged = aside();
      await fsp.rename(view, damaged).then(() => removeTree(damaged), () => {}); // someone else moved it
    }
    try {
      await fsp.rename(tmp, view);
    } catch (err) {
      if (!(existsSync(view) && (await viewIntact(view, blobs)))) throw err;
    }
  } finally {
    await removeTree(tmp);
  }
  return view;
}

async function viewIntact(view: string, blobs: Map<string, { path: string; digest: string }>): Promise<boolean> {
  for (const [rel, blob] of blobs) {
    try {
      const file = join(view, rel);
      // A hard link to the blob is the verified blob itself. Anything else — a copy (the cross-device
      // fallback) or a link to a blob since replaced because it rotted, which a hard link would share —
      // is checked byte for byte.
      if (statSync(file).ino !== statSync(blob.path).ino && (await hashFile(file)).digest !== blob.digest) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function makeReadOnly(dir: string): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await makeReadOnly(join(dir, e.name));
  }
  await fsp.chmod(dir, 0o555);
}

/** Copies a record's outputs into a user directory (e.g. figures/); identical files are left untouched. */
export async function publishOutputs(store: Store, record: BuildRecord, destDir: string): Promise<void> {
  for (const [rel, entry] of Object.entries(record.outputs)) {
    const dest = join(destDir, rel);
    if (existsSync(dest) && statSync(dest).size === entry.size && (await hashFile(dest)).digest === entry.digest) continue;
    const blob = await store.blobPath(entry.digest);
    if (blob === null) throw new Error(`cannot publish ${rel}: its blob ${entry.digest} is missing or corrupt`);
    await atomicCopyFile(blob, dest, 0o644);
  }
}
