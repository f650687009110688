// A hand-made RunContext for calling ML stages' run() directly in tests.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PreparedContext } from '../../engine/run/invoke.ts';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `stagewise-${prefix}-`));
}

export function makeContext<P>(params: P, inputs: Record<string, string>, outDir: string, workDir: string, opts: { signal?: AbortSignal; onProgress?: (done: number) => void } = {}): PreparedContext & { params: P } {
  return {
    params,
    inputs,
    outDir,
    workDir,
    log: { info() {}, warn() {} },
    progress: { update: (done) => opts.onProgress?.(done) },
    signal: opts.signal ?? new AbortController().signal,
    resources: { cpu: 1, gpu: 0 },
  };
}

/** Relative path → bytes, for every file under dir. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out.set(path.relative(dir, full), await readFile(full));
  }
  return out;
}

export async function removeAll(dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
