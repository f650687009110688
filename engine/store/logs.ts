// Build logs are kept: a node's log lines are stored with its build. A success stores them as a
// blob referenced from the record (`record.log`), so they travel with the record to S3 and other
// machines; a failure (or an interrupted build) leaves a failure file under the local root,
// `failures/<stage>/<node id>.json`, replaced by the next attempt and removed by the next success.
import { readFileSync, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { atomicWriteFile, OWNER, safeSegment } from './fsutil.ts';
import { hashFile } from '../key/hash.ts';
import type { BlobDigest, BuildRecord, NodeKey, OutputEntry, Store } from '../types.ts';

export interface LogLine {
  /** Milliseconds since the build started. */
  t: number;
  level: 'info' | 'warn' | 'error';
  msg: string;
}

// A chatty stage must not grow the store without bound: the head and the tail are kept.
const MAX_LINES = 20_000;

/** Collects one build's log lines, keeping the first and last MAX_LINES / 2 when there are more. */
export class LogCollector {
  readonly t0 = Date.now();
  private head: LogLine[] = [];
  private tail: LogLine[] = [];
  private dropped = 0;

  add(level: LogLine['level'], msg: string): void {
    const line = { t: Date.now() - this.t0, level, msg };
    if (this.head.length < MAX_LINES / 2) this.head.push(line);
    else {
      this.tail.push(line);
      if (this.tail.length > MAX_LINES / 2) {
        this.tail.shift();
        this.dropped++;
      }
    }
  }

  get count(): number {
    return this.head.length + this.tail.length + this.dropped;
  }

  lines(): LogLine[] {
    const gap: LogLine[] = this.dropped ? [{ t: this.tail[0].t, level: 'warn', msg: `… ${this.dropped} lines not kept …` }] : [];
    return [...this.head, ...gap, ...this.tail];
  }

  text(): string {
    return formatLog(this.lines());
  }
}

/** `  12.3s  warn  message` per line: the format of log.txt and of `pipeline.ts log NODE`. */
export function formatLog(lines: LogLine[]): string {
  return lines.map((l) => `${(l.t / 1000).toFixed(1).padStart(7)}s  ${l.level.padEnd(5)} ${l.msg}`).join('\n') + (lines.length ? '\n' : '');
}

/** Stores a log text as a blob (via a scratch file under root/tmp) and returns its record entry. */
export async function storeLog(store: Store, root: string, text: string, lines: number): Promise<BuildRecord['log']> {
  await fsp.mkdir(join(root, 'tmp'), { recursive: true });
  const dir = await fsp.mkdtemp(join(root, 'tmp', `log.${OWNER}-`)); // owned: swept if this process is killed
  try {
    const file = join(dir, 'log.txt');
    await fsp.writeFile(file, text);
    const hashed = await hashFile(file);
    const digest = hashed.digest as BlobDigest;
    const size = hashed.size;
    await store.putBlob(file, digest);
    return { digest, size, lines } satisfies OutputEntry & { lines: number };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** The stored log of a successful build, or null (an older record without one, or a missing blob). */
export async function readRecordLog(store: Store, record: BuildRecord): Promise<string | null> {
  if (!record.log) return null;
  const path = await store.blobPath(record.log.digest);
  return path ? readFileSync(path, 'utf8') : null;
}

/** What is kept of a build that failed or was interrupted. */
export interface FailureRecord {
  nodeId: string;
  stage: string;
  /** null when it failed before its key was known. */
  key: NodeKey | null;
  startedAt: string;
  wallSeconds: number;
  host: string;
  interrupted: boolean;
  error: string;
  stack?: string;
  /** The log lines up to the failure, formatted as in log.txt. */
  log: string;
}

function failureFile(root: string, stage: string, nodeId: string): string {
  return join(root, 'failures', stage, `${safeSegment(nodeId)}.json`);
}

export async function writeFailure(root: string, f: Omit<FailureRecord, 'host'> & { host?: string }): Promise<void> {
  await atomicWriteFile(failureFile(root, f.stage, f.nodeId), `${JSON.stringify({ ...f, host: f.host ?? hostname() }, null, 1)}\n`);
}

export function readFailure(root: string, stage: string, nodeId: string): FailureRecord | null {
  try {
    const f = JSON.parse(readFileSync(failureFile(root, stage, nodeId), 'utf8')) as FailureRecord;
    return f.nodeId === nodeId ? f : null;
  } catch {
    return null;
  }
}

export async function clearFailure(root: string, stage: string, nodeId: string): Promise<void> {
  await fsp.rm(failureFile(root, stage, nodeId), { force: true });
}
