// The BullMQ queue between a coordinator (`pipeline.ts … --queue URL`, engine/dispatch.ts) and
// workers on any machine that shares the store (`pipeline.ts worker --queue URL`,
// engine/queue-worker.ts). Both sides agree here on: queue names, lock/stall timing, how a Redis
// URL becomes a connection, and what a job carries.
import { existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import type { Fingerprint } from '../key/keys.ts';
import type { BuildRecord, NodeKey, OutputEntry, Resources, UpstreamBuild } from '../types.ts';

/**
 * One queue per resource class, so a worker started with `--gpus 0` never takes a node that asked
 * for a GPU. A node's queue follows from its params, so one key always lands in the same queue
 * (and BullMQ's job id = key deduplicates within it).
 */
export const QUEUE_NAMES = { cpu: 'stagewise-cpu', gpu: 'stagewise-gpu' } as const;
export type QueueClass = keyof typeof QUEUE_NAMES;

export function queueClassOf(resources: Required<Resources>): QueueClass {
  return resources.gpu > 0 ? 'gpu' : 'cpu';
}

/** A stage's request with the engine's defaults ({ cpu: 1 }), rounded up, not yet clamped to any pool. */
export function normaliseRequest(req: Resources | undefined): Required<Resources> {
  const r = req ?? { cpu: 1 };
  const out = { cpu: 0, gpu: 0 };
  for (const name of ['cpu', 'gpu'] as const) {
    const n = r[name] ?? 0;
    if (!Number.isFinite(n) || n < 0) throw new Error(`resources.${name}: expected a non-negative number, got ${n}`);
    out[name] = Math.ceil(n);
  }
  return out;
}

export interface QueueTiming {
  /** A worker's lock on a job; renewed every lockMs/2 while the worker's event loop runs. */
  lockMs: number;
  /** How often workers look for jobs whose lock expired (their worker died) and requeue them. */
  stalledIntervalMs: number;
  /** Requeues allowed after worker deaths before the job fails. */
  maxStalledCount: number;
}

/**
 * BullMQ's defaults (30 s lock, 30 s stall check). Stages run in worker threads, so the main
 * loop stays free to renew the lock however long a node runs; the lock only bounds how soon a
 * SIGKILLed worker's job moves to another worker (≤ lock + 2 × stall interval).
 * STAGEWISE_QUEUE_LOCK_MS shortens both (tests use ~1 s).
 */
export function queueTiming(env: NodeJS.ProcessEnv): QueueTiming {
  const text = env.STAGEWISE_QUEUE_LOCK_MS;
  const lockMs = text === undefined || text === '' ? 30_000 : Number(text);
  if (!Number.isInteger(lockMs) || lockMs < 200) {
    throw new Error(`STAGEWISE_QUEUE_LOCK_MS=${JSON.stringify(text)}: expected an integer number of milliseconds >= 200`);
  }
  return { lockMs, stalledIntervalMs: lockMs, maxStalledCount: 2 };
}

/** Where a Redis URL points: the connection options both ioredis and BullMQ take. */
export interface RedisTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
}

/** The target of a `redis://[user:password@]host[:port][/db]` (or rediss://) URL; errors name --queue. */
export function redisOptions(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--queue ${JSON.stringify(url)}: not a URL (expected redis://host:port or rediss://host:port, optionally /db)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`--queue ${JSON.stringify(url)}: expected a redis:// or rediss:// URL, got ${u.protocol}//`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new Error(`--queue ${JSON.stringify(url)}: the path must be a database number, got /${db}`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

const PROBE_TIMEOUT_MS = 3_000;

/**
 * Fails fast, naming the URL, when Redis is not there: BullMQ's own connections retry forever,
 * which is right once running and wrong for a typo in --queue.
 */
export async function checkRedis(url: string): Promise<void> {
  const probe = new Redis({
    ...redisOptions(url),
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  probe.on('error', () => {}); // reported through the rejected connect/ping below
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new Error(`--queue ${url}: cannot reach Redis (${(err as Error).message}); start redis-server there or fix the URL`);
  } finally {
    probe.disconnect();
  }
}

/** The checkout this engine runs from: workers import stage modules relative to it. */
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

function findProjectRoot(dir: string): string {
  for (let d = dirname(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return dirname(dir);
  }
}

/** A stage module's path relative to the project root ('/'-separated), as a job carries it. */
export function moduleRelPath(moduleUrl: string): string {
  const rel = relative(PROJECT_ROOT, fileURLToPath(moduleUrl)).split(sep).join('/');
  if (rel.startsWith('../') || rel === '..') {
    throw new Error(`stage module ${moduleUrl} is outside the project root ${PROJECT_ROOT}: workers import stages by their path inside the checkout`);
  }
  return rel;
}

export function moduleUrlOf(relPath: string): string {
  return pathToFileURL(join(PROJECT_ROOT, ...relPath.split('/'))).href;
}

/** Bump when NodeJob changes shape: a worker refuses jobs of another format. */
export const JOB_FORMAT = 1;

/** One upstream output a job consumes: only the files it needs, with their digests. */
export interface JobInput {
  node: string;
  /** Set for a file input: the path inside the upstream outputs (also the only entry of `outputs`). */
  path?: string;
  outputs: Record<string, OutputEntry>;
  /** manifestDigest(outputs). */
  outputDigest: string;
}

/** A job's data: everything a worker needs to build one node and check it builds the same node. */
export interface NodeJob {
  format: number;
  nodeId: string;
  stage: string;
  /** Stage module path relative to the project root, and the name it is exported under. */
  module: string;
  exportName: string;
  /** The declared params (JSON-safe form, hash.ts): the worker parses them with its own schema. */
  rawParams: unknown;
  key: NodeKey;
  fingerprint: Fingerprint;
  /** The coordinator's code files, so a worker with other code can say which files differ. */
  codeFiles: Record<string, string>;
  inputs: Record<string, JobInput | JobInput[]>;
  resources: Required<Resources>;
  /** --force: build even if the store already holds the key's record. */
  force: boolean;
  /** Upstream builds, for stages with `provenance: true`. */
  provenance?: UpstreamBuild[];
}

/** What a finished job returns (BullMQ stores it as the job's return value). */
export interface JobResult {
  record: BuildRecord;
  /** host:pid of the worker. */
  worker: string;
  /** True when the record was already in the store (a previous holder published it before dying). */
  reused: boolean;
}

/** What a worker reports through job.updateProgress. */
export type JobProgress = { worker: string } | { done: number; total: number; unit?: string } | { log: { level: 'info' | 'warn'; msg: string } };
