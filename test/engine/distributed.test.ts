// Distributed runs against a real redis-server (and real Swift for the S3 case): a coordinator
// process puts stale nodes on the BullMQ queue and ≥ 2 worker processes build them.
import { ListObjectsV2Command, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { computeKey, codeInfo, FORMAT_VERSION, keyParams, type Fingerprint } from '../../engine/key/keys.ts';
import { canonicalJson, sha256Hex } from '../../engine/key/hash.ts';
import { QUEUE_NAMES, redisOptions, type NodeJob } from '../../engine/distributed/queue.ts';
import { runQueueWorker } from '../../engine/distributed/worker.ts';
import { createS3Client, s3ConfigFromEnv } from '../../engine/store/s3.ts';
import type { CodeDigest, NodeKey } from '../../engine/types.ts';
import { sourceStage } from './fixtures/stages.ts';
import { freePorts, redisMissing, serviceTest, startRedis, startSwift, swiftMissing, type RedisService, type SwiftService } from '../support/services.ts';

const redisTest = serviceTest(redisMissing(), 'distributed.test.ts');
const redisS3Test = serviceTest(redisMissing() ?? swiftMissing(), 'distributed.test.ts, S3 case');
import { PIPELINE, REPO, Sandbox, summary, waitFor, type Note } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2 };
// Short lock and stall check: a killed worker's job moves on within ~3 s, and a node that runs
// for several lock periods proves the lock is renewed while it runs.
const LOCK_MS = '1000';
const BUCKET = 'stagewise-dist';

// Set by test.before when the service runs; the guarded tests (redisTest, s3Test) only run then.
let redis!: RedisService;
let swift: SwiftService | null = null;
let s3: S3Client | null = null;

test.before(async () => {
  const r = await startRedis();
  if ('skipped' in r) return; // reported by redisTest
  redis = r;
  const s = await startSwift();
  if (!('skipped' in s)) {
    swift = s;
    await swift.bucketCreate(BUCKET);
    s3 = createS3Client(s3ConfigFromEnv(s3Env('x')));
  }
});

test.after(async () => {
  s3?.destroy();
  await swift?.stop();
  await redis?.stop();
});

const s3Env = (prefix: string) => swift!.s3Env(`${BUCKET}/${prefix}`);

interface WorkerProc {
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
  kill(sig: NodeJS.Signals): void;
}

/** A `pipeline.ts worker` process; resolves once it says it is ready. */
async function startWorker(sb: Sandbox, env: Record<string, string>): Promise<WorkerProc> {
  const child = spawn(process.execPath, ['--import', 'tsx', PIPELINE, 'worker', '--queue', redis!.url, '--cpus', '1', '--gpus', '0'], {
    cwd: REPO,
    env: { ...process.env, LOCAL_ROOT: sb.root, STAGEWISE_TEST_LOG: sb.log, STAGEWISE_QUEUE_LOCK_MS: LOCK_MS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const w: WorkerProc = { pid: child.pid!, output: () => out, exited, kill: (sig) => child.kill(sig) };
  await waitFor(() => /ready:/.test(out) || child.exitCode !== null, 30_000, 'a worker to be ready');
  if (!/ready:/.test(out)) throw new Error(`worker did not start:\n${out}`);
  return w;
}

/** Fails (instead of hanging the suite) if `promise` has not settled in `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

async function stopWorkers(workers: WorkerProc[]): Promise<void> {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

/** Which process ran each node (labels from the toy stages' notes). */
function runsByLabel(notes: Note[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const n of notes.filter((n) => n.event === 'run' || n.event === 'start')) m.set(n.label, [...(m.get(n.label) ?? []), n.pid]);
  return m;
}

async function flushQueues(): Promise<void> {
  for (const name of Object.values(QUEUE_NAMES)) {
    const q = new Queue(name, { connection: redisOptions(redis!.url) });
    await q.obliterate({ force: true });
    await q.close();
  }
}

redisTest('two workers build every node exactly once, spread over both; long nodes keep their lock; a failure fails the node, not the run', async () => {
  const sb = new Sandbox();
  const workers: WorkerProc[] = [];
  try {
    await flushQueues();
    // sleepy nodes run 4 lock periods; with a lapsed lock the other worker would start them again.
    sb.writeConfig({ ...BASE, sleepy: { ms: 4000, count: 2 }, fail: true });
    workers.push(...(await Promise.all([startWorker(sb, {}), startWorker(sb, {})])));
    const coordinator = sb.spawnCliEnv(['--queue', redis.url], { STAGEWISE_QUEUE_LOCK_MS: LOCK_MS });
    const r = await within(60_000, 'the coordinator', coordinator.done).finally(() => coordinator.kill('SIGKILL'));
    assert.is(r.code, 1, r.out + r.err);
    assert.equal(summary(r.out), { built: 6, cached: 0, failed: 1, skipped: 1 });
    assert.match(r.out, /FAILED bad: boom in bad \[on worker [^\]]+:\d+\]/);
    assert.match(r.out, /skipped after-bad: upstream bad failed/);
    assert.not.match(r.out, /stopped renewing/, 'no job was requeued');
    // Logs travel: a worker's lines reach the coordinator live and are kept (the record's log, the failure file).
    assert.match(r.out, /mid: concatenating 1 inputs/);
    assert.match((await sb.cli(['log', 'mid'])).out, /info  concatenating 1 inputs\n/);
    assert.match((await sb.cli(['log', 'bad'])).out, /^# bad: FAILED[\s\S]*error boom in bad \[on worker /);

    const runs = runsByLabel(sb.notes());
    assert.equal([...runs.keys()].sort(), ['bad', 'mid', 'side', 'sleepy0', 'sleepy1', 'src', 'top']);
    for (const [label, pids] of runs) assert.is(pids.length, 1, `${label} ran ${pids.length} times`);
    const workerPids = new Set(workers.map((w) => w.pid));
    const used = new Set([...runs.values()].flat());
    assert.ok([...used].every((p) => workerPids.has(p)), 'every node ran in a worker, none in the coordinator');
    assert.is(used.size, 2, 'both workers built nodes');
    assert.is(new Set([...runs.get('sleepy0')!, ...runs.get('sleepy1')!]).size, 2, 'the two long nodes ran at once, one per worker');

    // Again: everything that succeeded is cached; the failed node is tried again (not stuck in the queue).
    sb.ran();
    const second = sb.spawnCliEnv(['--queue', redis.url], {});
    const again = await within(60_000, 'the second coordinator', second.done).finally(() => second.kill('SIGKILL'));
    assert.is(again.code, 1, again.out + again.err);
    assert.equal(summary(again.out), { built: 0, cached: 6, failed: 1, skipped: 1 });
    assert.equal(sb.ran(), ['bad']);
  } finally {
    await stopWorkers(workers);
    await sb.cleanup();
  }
});

redisS3Test('S3 store, separate local roots: a worker SIGKILLed mid-node → the node completes on the other worker, one record, no partial output', async () => {
  const sb = new Sandbox();
  const workers: WorkerProc[] = [];
  const prefix = `kill-${process.pid}`;
  const env = s3Env(prefix);
  let coordinator: ReturnType<Sandbox['spawnCliEnv']> | null = null;
  try {
    await flushQueues();
    sb.writeConfig({ ...BASE, hang: true });
    // Worker A hangs inside `hang` (after writing partial output); worker B finishes it normally.
    const a = await startWorker(sb, { ...env, LOCAL_ROOT: join(sb.dir, 'worker-a'), STAGEWISE_HANG: '1' });
    workers.push(a);
    coordinator = sb.spawnCliEnv(['--queue', redis.url], env);
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label === 'hang'), 60_000, 'hang to start on worker A');
    assert.is(sb.notes().find((n) => n.label === 'hang')!.pid, a.pid);
    const b = await startWorker(sb, { ...env, LOCAL_ROOT: join(sb.dir, 'worker-b') });
    workers.push(b);
    a.kill('SIGKILL');
    const r = await within(60_000, 'the coordinator after the kill', coordinator.done);
    assert.is(r.code, 0, r.out + r.err);
    assert.equal(summary(r.out), { built: 5, cached: 0, failed: 0, skipped: 0 });
    assert.match(r.out, /hang: warning: its worker stopped renewing the job lock \(killed\?\); requeued for another worker/);

    const runs = runsByLabel(sb.notes());
    assert.equal(runs.get('hang'), [a.pid, b.pid], 'started on A, finished on B');
    for (const label of ['src', 'mid', 'top', 'side']) assert.is(runs.get(label)!.length, 1, `${label} built once`);

    // The shared store: one record for hang, holding only the finished output; every record's blobs present.
    const keys = await listKeys(`${prefix}/records/`);
    const hangRecords = keys.filter((k) => k.startsWith('hang/'));
    assert.is(hangRecords.length, 1);
    const rec = JSON.parse(await getText(`${prefix}/records/${hangRecords[0]}`));
    assert.equal(Object.keys(rec.outputs), ['done.txt']);
    assert.is(keys.length, 5);
    await assertRemoteRecordsComplete(prefix);
    assert.not.ok(existsSync(join(sb.root, 'work')) && readdirSync(join(sb.root, 'work')).length > 0, 'the coordinator ran nothing itself');
  } finally {
    coordinator?.kill('SIGKILL');
    await stopWorkers(workers);
    await sb.cleanup();
  }
});

redisTest('SIGTERM on a worker hands its running node straight back: another worker builds it without waiting for the lock to lapse', async () => {
  const sb = new Sandbox();
  const workers: WorkerProc[] = [];
  let coordinator: ReturnType<Sandbox['spawnCliEnv']> | null = null;
  try {
    await flushQueues();
    sb.writeConfig({ ...BASE, hang: true });
    // A long lock: only the explicit hand-back can move the node on within the time limit below.
    const slow = { STAGEWISE_QUEUE_LOCK_MS: '60000' };
    const a = await startWorker(sb, { ...slow, STAGEWISE_HANG: '1' });
    workers.push(a);
    coordinator = sb.spawnCliEnv(['--queue', redis.url], {});
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label === 'hang'), 60_000, 'hang to start on worker A');
    workers.push(await startWorker(sb, slow));
    a.kill('SIGTERM');
    assert.is(await a.exited, 143);
    assert.match(a.output(), /requeued hang \(worker stopping\)/);
    const r = await within(30_000, 'the coordinator after the hand-back', coordinator.done);
    assert.is(r.code, 0, r.out + r.err);
    assert.equal(summary(r.out), { built: 5, cached: 0, failed: 0, skipped: 0 });
    const hang = sb.notes().filter((n) => n.label === 'hang');
    assert.equal(hang.map((n) => n.event), ['start', 'run']);
    assert.is(hang[1].resumedFrom, 'step 1', 'the second worker (same LOCAL_ROOT) resumed from the first one\'s work dir');
  } finally {
    coordinator?.kill('SIGKILL');
    await stopWorkers(workers);
    await sb.cleanup();
  }
});

async function listKeys(under: string): Promise<string[]> {
  const page = await s3!.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: under }));
  return (page.Contents ?? []).map((o) => o.Key!.slice(under.length));
}

async function getText(key: string): Promise<string> {
  const res = await s3!.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return res.Body!.transformToString('utf8');
}

/** The S3 store's invariant: a remote record never points at a missing or short blob. */
export async function assertRemoteRecordsComplete(prefix: string): Promise<void> {
  for (const rel of await listKeys(`${prefix}/records/`)) {
    const rec = JSON.parse(await getText(`${prefix}/records/${rel}`)) as { outputs: Record<string, { digest: string; size: number }> };
    for (const [path, o] of Object.entries(rec.outputs)) {
      const head = await s3!.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}/blobs/${o.digest.slice(0, 2)}/${o.digest.slice(2)}` }));
      assert.is(head.ContentLength, o.size, `${rel}: blob of ${path}`);
    }
  }
}

redisTest('a worker whose stage code differs refuses the node at once (no retry), naming the file; the same job with matching code builds', async () => {
  const sb = new Sandbox();
  const stop = new AbortController();
  const lines: string[] = [];
  const connection = redisOptions(redis.url);
  const queue = new Queue(QUEUE_NAMES.cpu, { connection });
  const events = new QueueEvents(QUEUE_NAMES.cpu, { connection });
  try {
    await flushQueues();
    await events.waitUntilReady();
    const worker = runQueueWorker({ url: redis.url, cpus: 1, gpus: 0, inProcess: true, env: { LOCAL_ROOT: sb.root }, print: (l) => lines.push(l), signal: stop.signal });
    await waitFor(() => lines.some((l) => l.includes('ready:')), 20_000, 'the in-process worker');

    // A job as a coordinator whose checkout has another note.ts would send it.
    const code = await codeInfo(sourceStage.module);
    const theirFiles = { ...code.codeFiles, 'test/engine/fixtures/note.ts': sha256Hex('edited elsewhere') };
    const job = (codeFiles: Record<string, string>): NodeJob => {
      const rawParams = { label: 'remote', value: 7 };
      const fingerprint: Fingerprint = {
        formatVersion: FORMAT_VERSION,
        stage: 'source',
        stageVersion: 0,
        params: keyParams(sourceStage.params.parse(rawParams)),
        codeDigest: sha256Hex(canonicalJson(codeFiles)) as CodeDigest,
        inputs: {},
      };
      return { format: 1, nodeId: 'remote-src', stage: 'source', module: 'test/engine/fixtures/stages.ts', exportName: 'sourceStage', rawParams, key: computeKey(fingerprint), fingerprint, codeFiles, inputs: {}, resources: { cpu: 1, gpu: 0 }, force: false };
    };
    const bad = job(theirFiles);
    const failed = new Promise<string>((res) => events.on('failed', ({ jobId, failedReason }) => jobId === bad.key && res(failedReason)));
    await queue.add('remote-src', bad, { jobId: bad.key, attempts: 3 });
    const reason = await failed;
    assert.match(reason, /remote-src: refused by worker .*: this worker's code for stage source differs from the coordinator's: test\/engine\/fixtures\/note\.ts \(differs\)/);
    const failedJob = (await queue.getJob(bad.key))!;
    assert.is(failedJob.attemptsMade, 1, 'refused once, not retried although attempts: 3');
    assert.not.ok(existsSync(join(sb.root, 'records')), 'nothing built');

    const good = job(code.codeFiles);
    assert.is.not(good.key, bad.key);
    const completed = new Promise<{ record: { key: NodeKey } }>((res) => events.on('completed', ({ jobId, returnvalue }) => jobId === good.key && res(returnvalue as never)));
    await queue.add('remote-src', good, { jobId: good.key });
    assert.is((await completed).record.key, good.key);
    assert.ok(existsSync(join(sb.root, 'records', 'source', `${good.key}.json`)));
    stop.abort();
    await worker;
  } finally {
    stop.abort();
    await events.close();
    await queue.close();
    await sb.cleanup();
  }
});

/** Completed builds per node id, from the engine's build journal (STAGEWISE_BUILD_JOURNAL). */
function journalCounts(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(file)) return counts;
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const nodeId = JSON.parse(line.slice(65, line.lastIndexOf(' '))) as string;
    counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  }
  return counts;
}

async function waitingJobs(): Promise<number> {
  let waiting = 0;
  for (const name of Object.values(QUEUE_NAMES)) {
    const q = new Queue(name, { connection: redisOptions(redis.url) });
    waiting += await q.getWaitingCount();
    await q.close();
  }
  return waiting;
}

redisTest('SIGINT on a coordinator with one running and two queued jobs: queued jobs are withdrawn, the running one finishes once, a rerun builds the rest', async () => {
  const sb = new Sandbox();
  const workers: WorkerProc[] = [];
  const journal = join(sb.root, '..', 'journal.txt');
  try {
    await flushQueues();
    sb.writeConfig({ ...BASE, sleepy: { ms: 2500, count: 3 } });
    // One worker with one cpu slot: one sleepy node runs, the others wait in the queue.
    workers.push(await startWorker(sb, { STAGEWISE_BUILD_JOURNAL: journal }));
    const coordinator = sb.spawnCliEnv(['--queue', redis.url], { STAGEWISE_QUEUE_LOCK_MS: LOCK_MS, STAGEWISE_BUILD_JOURNAL: journal });
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label.startsWith('sleepy')), 60_000, 'a sleepy node to start');
    coordinator.kill('SIGINT');
    const r = await within(60_000, 'the interrupted coordinator', coordinator.done);
    assert.is(r.code, 130, r.out + r.err);
    assert.is(await waitingJobs(), 0, 'no job of the interrupted run is left waiting in the queue');
    // The job that was running may finish (publishing a complete record) or be abandoned; never half.
    await new Promise((res) => setTimeout(res, 3500));
    const started = sb.notes().filter((n) => n.event === 'start' && n.label.startsWith('sleepy')).map((n) => n.label);
    assert.is(started.length, 1, `only the running node ever started after SIGINT: ${started.join(', ')}`);

    const rerun = sb.spawnCliEnv(['--queue', redis.url], { STAGEWISE_QUEUE_LOCK_MS: LOCK_MS, STAGEWISE_BUILD_JOURNAL: journal });
    const again = await within(90_000, 'the rerun', rerun.done);
    assert.is(again.code, 0, again.out + again.err);
    const built = journalCounts(journal);
    for (const id of ['src', 'mid', 'top', 'side', 'sleepy[0]', 'sleepy[1]', 'sleepy[2]']) assert.is(built.get(id), 1, `${id} completed ${built.get(id) ?? 0} times`);
  } finally {
    await stopWorkers(workers);
    await sb.cleanup();
  }
});

redisTest('--only with --queue: only the named stage\'s stale nodes go to the workers; missing inputs are named up front', async () => {
  const sb = new Sandbox();
  const workers: WorkerProc[] = [];
  try {
    await flushQueues();
    sb.writeConfig(BASE);
    // Nothing cached yet: concat nodes need src's and mid's outputs, so --only concat refuses up front.
    const no = await within(60_000, '--only with missing inputs', sb.spawnCliEnv(['--queue', redis.url, '--only', 'concat'], {}).done);
    assert.is(no.code, 1, no.out + no.err);
    assert.match(no.err, /--only concat: \d+ input\(s\) are not cached:\n\s+missing input src for mid \(never built\)/);
    assert.equal(sb.ran(), [], 'nothing ran');
    assert.is(await waitingJobs(), 0, 'nothing was queued');

    workers.push(await startWorker(sb, {}));
    const full = await within(60_000, 'the full build', sb.spawnCliEnv(['--queue', redis.url], {}).done);
    assert.is(full.code, 0, full.out + full.err);
    sb.ran();
    sb.writeConfig({ ...BASE, suffix: '!', side: 9 });
    const only = await within(60_000, '--only concat', sb.spawnCliEnv(['--queue', redis.url, '--only', 'concat'], {}).done);
    assert.is(only.code, 0, only.out + only.err);
    const topRuns = sb.notes().filter((n) => n.label === 'top');
    assert.ok(topRuns.length > 0 && topRuns.every((n) => n.pid === workers[0].pid), 'top was built by the worker, not the coordinator');
    assert.equal(sb.ran(), ['top'], 'just the stale concat node (side is stale too, but not selected)');
  } finally {
    await stopWorkers(workers);
    await sb.cleanup();
  }
});

test('an unreachable or malformed --queue fails fast with a clear error (coordinator and worker)', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    const [port] = await freePorts(1);
    const url = `redis://127.0.0.1:${port}`;
    const t0 = Date.now();
    const r = await sb.cli(['--queue', url]);
    assert.is(r.code, 1);
    assert.match(r.err, new RegExp(`--queue ${url.replace(/[/.]/g, '\\$&')}: cannot reach Redis \\(.*\\); start redis-server there or fix the URL`));
    assert.ok(Date.now() - t0 < 10_000, 'fails in seconds');
    const w = await sb.cli(['worker', '--queue', url]);
    assert.is(w.code, 1);
    assert.match(w.err, /cannot reach Redis/);
    const m = await sb.cli(['--queue', 'http://127.0.0.1:6379']);
    assert.match(m.err, /--queue "http:\/\/127.0.0.1:6379": expected a redis:\/\/ or rediss:\/\/ URL/);
    const noQueue = await sb.cli(['worker']);
    assert.is(noQueue.code, 2);
    assert.match(noQueue.err, /worker: --queue redis:\/\/host:port is required/);
    assert.not.ok(existsSync(join(sb.root, 'records')), 'nothing built');
  } finally {
    await sb.cleanup();
  }
});

test.run();
