// Per-node-key build locks across processes sharing one cache: an O_EXCL lock file holding
// { pid, host }, kept alive by a heartbeat (mtime). A lock is stale when its holder is a dead
// process on this host, or when its heartbeat stopped (holder on another host, or frozen).
import { hostname } from 'node:os';
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from './fsutil.ts';

const HEARTBEAT_MS = 5_000;
const STALE_MS = 60_000;
const POLL_MS = 100;

export interface Lock {
  release(): Promise<void>;
}

interface LockInfo {
  pid: number;
  host: string;
  at: string;
}

export function lockPath(root: string, key: string): string {
  return join(root, 'locks', `${key}.lock`);
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

async function tryCreate(file: string): Promise<boolean> {
  try {
    const fh = await fsp.open(file, 'wx');
    try {
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() } satisfies LockInfo));
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
    if (isStale(file)) await fsp.rm(file, { force: true });
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
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
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
