// The atomic write, alone in a module: engine/index.ts exports it to stages (for work-dir files a
// killed run resumes from), so this file is part of every stage's code digest — keep it small and
// stable; everything else about files is in fsutil.ts.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';

// Every temporary name carries its owner, `<host>.<pid>`: a later process on the same host can then
// tell what a killed process left behind (its pid is gone) from what a live one is still writing
// (fsutil.ts sweepOrphans), and never touches another host's temporaries on a shared file system.
export const HOST = hostname().replace(/[^A-Za-z0-9_-]/g, '_');
export const OWNER = `${HOST}.${process.pid}`;

export function tmpName(dir: string, base: string): string {
  return join(dir, `.${base}.${OWNER}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function fsyncPath(path: string, flags = 'r'): Promise<void> {
  const fh = await fsp.open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Readers see either the old file or the complete new one, never a prefix, even after a crash. */
export async function atomicWriteFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = tmpName(dir, 'write');
  const fh = await fsp.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  await fsyncPath(dir).catch(() => {}); // directory fsync is best-effort (not supported everywhere)
}
