// Small filesystem helpers: the atomic-write discipline (tmp + fsync + rename) in one place; the
// part every stage's code digest includes (through engine/index.ts) lives in atomic.ts.
import { promises as fsp, constants as fsc } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256Hex } from '../key/hash.ts';
import { HOST, fsyncPath, tmpName } from './atomic.ts';

export { HOST, OWNER, atomicWriteFile, tmpName } from './atomic.ts';

/** The owner `<host>.<pid>` in a name made by tmpName (or a scratch dir named `<id>.<host>.<pid>-XXXXXX`). */
const OWNED = /\.([A-Za-z0-9_-]+)\.(\d+)[-.][^.]*(\.tmp)?$/;

/** Whether a process with this pid runs on this host (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `name` is a temporary of a process on this host that no longer runs. */
export function orphaned(name: string): boolean {
  const owner = OWNED.exec(name);
  return owner !== null && owner[1] === HOST && !processAlive(Number(owner[2]));
}

const swept = new Map<string, Promise<void>>();

/**
 * Removes what killed processes on this host left in a local root: scratch dirs (tmp/), half-built
 * views, and the temporaries of atomic writes (records, node pointers, blobs, downloads, lock and
 * progress rewrites). Once per process and root; a few hundred readdir calls on a large store.
 */
export function sweepOrphans(root: string): Promise<void> {
  let done = swept.get(root);
  if (!done) {
    done = (async () => {
      const dirs = [join(root, 'tmp'), join(root, 'views'), join(root, 'downloads'), join(root, 'locks')];
      for (const top of ['records', 'nodes', 'blobs']) {
        for (const sub of await fsp.readdir(join(root, top)).catch(() => [] as string[])) dirs.push(join(root, top, sub));
      }
      for (const dir of dirs) {
        for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
          if (orphaned(name)) await removeTree(join(dir, name));
        }
      }
    })();
    swept.set(root, done);
  }
  return done;
}

export async function atomicCopyFile(src: string, dest: string, mode: number): Promise<void> {
  const dir = dirname(dest);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = tmpName(dir, 'copy');
  try {
    await fsp.copyFile(src, tmp, fsc.COPYFILE_FICLONE);
    await fsyncPath(tmp, 'r+');
    await fsp.chmod(tmp, mode);
    await fsp.rename(tmp, dest);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncPath(dir).catch(() => {});
}

/** A node id as one safe path segment; ids that needed changes get a hash suffix so they cannot collide. */
export function safeSegment(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._=,+@\[\]-]/g, '_');
  if (safe === id && id !== '.' && id !== '..' && id.length <= 120) return id;
  return `${safe.slice(0, 100)}~${sha256Hex(id).slice(0, 10)}`;
}

/** rm -rf that also works on the read-only trees we create (views). */
export async function removeTree(path: string): Promise<void> {
  try {
    await fsp.rm(path, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    await makeWritable(path);
    await fsp.rm(path, { recursive: true, force: true });
  }
}

async function makeWritable(path: string): Promise<void> {
  const st = await fsp.lstat(path).catch(() => null);
  if (!st?.isDirectory()) return;
  await fsp.chmod(path, 0o755);
  for (const name of await fsp.readdir(path)) await makeWritable(join(path, name));
}

/** Every regular file under `dir`, as POSIX relative paths, sorted. Anything else is an error. */
export async function listFilesRecursive(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await fsp.readdir(join(dir, prefix), { withFileTypes: true });
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFilesRecursive(dir, rel)));
    else if (e.isFile()) out.push(rel);
    else throw new Error(`output ${rel} is not a regular file or directory (symlinks and devices cannot be stored)`);
  }
  return out.sort();
}
