// Per-node-key build locks across processes sharing one cache: an O_EXCL lock file holding
// { pid, host }, kept alive by a heartbeat (mtime). A lock is stale when its holder is a dead
// process on this host, or when its heartbeat stopped (holder on another host, or frozen).
// Next to it, the holder keeps the node's latest progress (`<key>.progress`, at most one write a
// second), so that a dashboard in another process (`serve`) can show it.
import { hostname } from 'node:os';
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive, tmpName } from './fsutil.ts';

const HEARTBEAT_MS = 5_000;
const STALE_MS = 60_000;
const POLL_MS = 100;
const PROGRESS_EVERY_MS = 1_000;

export interface Lock {
  /** Marks the build as started (it had waited for its CPU/GPU units until now): serve shows it running. */
  started(): Promise<void>;
  /** Publishes the node's progress next to the lock (throttled; the last value always lands). */
  progress(done: number, total: number, unit?: string): void;
  /** Removes the lock and its progress file. */
  release(): Promise<void>;
}

/** A build's progress as its lock holder last published it; `at`: ms since epoch. */
export interface LockProgress {
  done: number;
  total: number;
  unit?: string;
  at: number;
}

interface LockInfo {
  pid: number;
  host: string;
  at: string;
  /** When the build started: absent while the holder waits for its CPU/GPU units. */
  started?: string;
}

export function lockPath(root: string, key: string): string {
  return join(root, 'locks', `${key}.lock`);
}

export function progressPath(root: string, key: string): string {
  return join(root, 'locks', `${key}.progress`);
}

/** Whether the holder of the lock file at `file` has started building (rather than waiting for units). */
export function lockStarted(file: string): boolean {
  try {
    return Boolean((JSON.parse(readFileSync(file, 'utf8')) as LockInfo).started);
  } catch {
    return false;
  }
}

/** The progress another process published for `key`, if its lock is live. */
export function readLockProgress(root: string, key: string): LockProgress | null {
  const lock = lockPath(root, key);
  try {
    if (isStale(lock)) return null;
    const p = JSON.parse(readFileSync(progressPath(root, key), 'utf8')) as LockProgress;
    return Number.isFinite(p.done) && Number.isFinite(p.total) ? p : null;
  } catch {
    return null; // no lock, no progress yet
  }
}

/** Whether the lock file at `file` belongs to a holder that can no longer release it. */
export function isStale(file: string, now = Date.now()): boolean {
  let info: LockInfo;
  let mtime: number;
  try {
    info = JSON.parse(readFileSync(file, 'utf8'));
    mtime = statSync(file).mtimeMs;
  } catch {
    // Unreadable: either being written right now (fresh) or garbage. Only its age can tell.
    try {
      return now - statSync(file).mtimeMs > STALE_MS;
    } catch {
      return false; // gone
    }
  }
  if (info.host === hostname() && !processAlive(info.pid)) return true;
  return now - mtime > STALE_MS;
}

/** What this process writes into a lock file it holds. */
const ownInfo = (): LockInfo => ({ pid: process.pid, host: hostname(), at: new Date().toISOString() });

/**
 * Replaces `file` with `text` by renaming an owned temporary over it (swept if this process dies
 * midway): a reader sees the old or the new content, and the path exists throughout. No fsync and
 * best effort — these rewrites only inform other processes; a failure leaves the old content.
 */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = tmpName(dirname(file), basename(file));
  try {
    await fsp.writeFile(tmp, text);
    await fsp.rename(tmp, file);
  } catch {
    await fsp.rm(tmp, { force: true });
  }
}

async function tryCreate(file: string): Promise<boolean> {
  try {
    const fh = await fsp.open(file, 'wx');
    try {
      await fh.writeFile(JSON.stringify(ownInfo()));
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Removing a stale lock races with other processes doing the same: process A removes it and takes
 * a new one, then B (which judged the old one stale) removes A's. A short breaker lock serialises
 * the judge-and-remove step, and the lock is re-judged while holding it.
 */
async function breakIfStale(file: string): Promise<void> {
  const breaker = `${file}.break`;
  if (!(await tryCreate(breaker))) {
    try {
      if (Date.now() - statSync(breaker).mtimeMs > 10_000) await fsp.rm(breaker, { force: true });
    } catch {
      /* gone meanwhile */
    }
    return;
  }
  try {
    if (isStale(file)) {
      await fsp.rm(file, { force: true });
      await fsp.rm(file.replace(/\.lock$/, '.progress'), { force: true });
    }
  } finally {
    await fsp.rm(breaker, { force: true });
  }
}

/** Waits until the lock for `key` is ours. `onWait` is called once if someone else holds it. */
export async function acquireLock(root: string, key: string, signal?: AbortSignal, onWait?: () => void): Promise<Lock> {
  const file = lockPath(root, key);
  await fsp.mkdir(dirname(file), { recursive: true });
  let waited = false;
  while (!(await tryCreate(file))) {
    signal?.throwIfAborted();
    if (isStale(file)) {
      await breakIfStale(file);
      continue;
    }
    if (!waited) {
      waited = true;
      onWait?.();
    }
    await sleep(POLL_MS, undefined, { signal }).catch(() => {});
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    fsp.utimes(file, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const progress = progressWriter(progressPath(root, key));
  let released = false;
  return {
    // The path exists throughout the rewrite, so the O_EXCL exclusion holds.
    started: () => replaceFile(file, JSON.stringify({ ...ownInfo(), started: new Date().toISOString() } satisfies LockInfo)),
    progress: progress.set,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      await progress.close();
      await fsp.rm(file, { force: true });
    },
  };
}

/**
 * Writes the latest progress to `file` (replaceFile: a reader never sees half of it) at most once per
 * PROGRESS_EVERY_MS; the value set last is written when the interval ends. close() waits for the
 * write in flight and removes the file.
 */
function progressWriter(file: string): { set(done: number, total: number, unit?: string): void; close(): Promise<void> } {
  let latest: LockProgress | null = null;
  let lastWrite = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const write = () => {
    timer = undefined;
    if (closed || !latest) return;
    const value = JSON.stringify(latest);
    lastWrite = Date.now();
    writing = writing.then(() => replaceFile(file, value));
  };
  return {
    set(done, total, unit) {
      latest = { done, total, ...(unit ? { unit } : {}), at: Date.now() };
      if (closed || timer) return;
      const wait = lastWrite + PROGRESS_EVERY_MS - Date.now();
      if (wait <= 0) write();
      else (timer = setTimeout(write, wait)).unref();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await writing;
      await fsp.rm(file, { force: true });
    },
  };
}

/** Lock files whose holders are still alive (gc refuses to run while a build holds one). */
export async function liveLocks(root: string): Promise<string[]> {
  const dir = join(root, 'locks');
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.lock') && !isStale(join(dir, n))).map((n) => join(dir, n));
}
