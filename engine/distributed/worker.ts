// `pipeline.ts worker --queue redis://host:port [--cpus N] [--gpus N]`: takes nodes off the BullMQ
// queue and builds them with buildNode into the shared store (S3 via AWS_* env, or a shared
// LOCAL_ROOT). Before building, it checks that it would build the very node the coordinator keyed:
// same stage code (code digest), same params, same inputs. Stages run in worker threads, so the
// main event loop stays free to renew BullMQ's job lock however long a node takes.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { z } from 'zod';
import { buildNode } from '../run/build.ts';
import { canonicalJson, fromJsonSafe } from '../key/hash.ts';
import { computeKey, keyParams, stageCodeInfo } from '../key/keys.ts';
import { acquireLock } from '../store/lock.ts';
import { badOutputs, manifestDigest, materialiseView } from '../store/outputs.ts';
import { ResourcePools } from '../run/pools.ts';
import { JOB_FORMAT, moduleUrlOf, QUEUE_NAMES, queueTiming, redisOptions, checkRedis, type JobInput, type JobProgress, type JobResult, type NodeJob, type QueueClass } from './queue.ts';
import { inProcessRunner, workerPool, type RunHooks } from '../run/runner.ts';
import { openStore } from '../store/open.ts';
import type { BuildRecord, StageDef } from '../types.ts';

export interface QueueWorkerOptions {
  url: string;
  cpus: number;
  gpus: number;
  /** Run stages on the main thread (debugging only: a CPU-bound stage then starves lock renewal). */
  inProcess: boolean;
  env: NodeJS.ProcessEnv;
  /** One line of human output. */
  print(line: string): void;
  /** Abort = stop: running nodes are interrupted and their jobs go back to the queue for other workers. */
  signal: AbortSignal;
}

// How often a running node's progress goes to Redis (each report is one round trip).
const PROGRESS_EVERY_MS = 1_000;

const digest = z.string().regex(/^[0-9a-f]{64}$/);
const outputEntry = z.object({ digest, size: z.number().int().nonnegative() });
const jobInput = z.object({ node: z.string(), path: z.string().optional(), outputs: z.record(z.string(), outputEntry), outputDigest: digest });
const nodeJobSchema = z.object({
  format: z.literal(JOB_FORMAT),
  nodeId: z.string().min(1),
  stage: z.string().min(1),
  module: z.string().min(1),
  exportName: z.string().min(1),
  rawParams: z.unknown(),
  key: digest,
  fingerprint: z.object({
    formatVersion: z.number(),
    stage: z.string(),
    stageVersion: z.number(),
    params: z.unknown(),
    codeDigest: digest,
    inputs: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
  }),
  codeFiles: z.record(z.string(), z.string()),
  inputs: z.record(z.string(), z.union([jobInput, z.array(jobInput)])),
  resources: z.object({ cpu: z.number().int().nonnegative(), gpu: z.number().int().nonnegative() }),
  force: z.boolean(),
  provenance: z
    .array(z.object({ id: z.string(), stage: z.string(), key: digest, startedAt: z.string(), wallSeconds: z.number(), meta: z.record(z.string(), z.unknown()) }))
    .optional(),
});

/** A refusal that no other attempt or worker can fix: the job fails at once, naming why. */
function refuse(data: { nodeId?: string }, msg: string): never {
  throw new UnrecoverableError(`${data.nodeId ?? 'job'}: refused by worker ${hostname()}:${process.pid}: ${msg}`);
}

interface Prepared {
  job: NodeJob;
  stage: StageDef;
  params: unknown;
  codeFiles: Record<string, string>;
}

/** Imports the stage and checks that this worker would compute exactly the job's key. */
async function prepare(raw: unknown): Promise<Prepared> {
  const parsed = nodeJobSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    refuse(raw as NodeJob, `malformed job data at ${issue.path.join('.') || '(top level)'}: ${issue.message} (coordinator and worker run different stagewise versions?)`);
  }
  const job = parsed.data as NodeJob;
  const moduleUrl = moduleUrlOf(job.module);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(moduleUrl)) as Record<string, unknown>;
  } catch (err) {
    refuse(job, `cannot import stage module ${job.module} (${moduleUrl}): ${(err as Error).message}; workers need the coordinator's checkout`);
  }
  const stage = mod[job.exportName] as StageDef | undefined;
  if (!stage || (typeof stage.run !== 'function' && !(stage.run instanceof URL)) || stage.name !== job.stage) {
    refuse(job, `${job.module} has no export ${job.exportName} defining stage ${job.stage}`);
  }

  const code = await stageCodeInfo(stage!);
  if (code.codeDigest !== job.fingerprint.codeDigest) {
    const files = [...new Set([...Object.keys(job.codeFiles), ...Object.keys(code.codeFiles)])].sort();
    const differ = files.filter((f) => job.codeFiles[f] !== code.codeFiles[f]).map((f) => `${f} (${job.codeFiles[f] === undefined ? 'only here' : code.codeFiles[f] === undefined ? 'only on the coordinator' : 'differs'})`);
    refuse(job, `this worker's code for stage ${job.stage} differs from the coordinator's: ${differ.join(', ') || 'code digest'}; update this checkout (and restart the worker) to match the coordinator's`);
  }
  if ((stage.version ?? 0) !== job.fingerprint.stageVersion) refuse(job, `stage ${job.stage} is version ${stage.version ?? 0} here, ${job.fingerprint.stageVersion} on the coordinator`);
  const params = stage.params.safeParse(fromJsonSafe(job.rawParams as never));
  if (!params.success) refuse(job, `params rejected by stage ${job.stage} here: ${params.error.message}`);
  if (canonicalJson(keyParams(params.data)) !== canonicalJson(job.fingerprint.params as never)) refuse(job, `params parse differently here than on the coordinator`);
  for (const [name, value] of Object.entries(job.inputs)) {
    const actual = (Array.isArray(value) ? value : [value]).map((inp) => {
      if (manifestDigest(inp.outputs) !== inp.outputDigest) refuse(job, `input ${name}: its manifest does not match its digest`);
      return inp.path === undefined ? inp.outputDigest : inp.outputs[inp.path]?.digest;
    });
    const expected = job.fingerprint.inputs[name];
    if (canonicalJson(Array.isArray(value) ? actual : actual[0]) !== canonicalJson(expected ?? null)) refuse(job, `input ${name} does not match the key's input digest`);
  }
  if (computeKey(job.fingerprint) !== job.key || job.fingerprint.stage !== job.stage) refuse(job, `the job's fingerprint does not hash to its key ${job.key}`);
  return { job, stage, params: params.data, codeFiles: code.codeFiles };
}

/** Runs until `opts.signal` aborts; then hands running jobs back to the queue and stops. */
export async function runQueueWorker(opts: QueueWorkerOptions): Promise<void> {
  await checkRedis(opts.url);
  const timing = queueTiming(opts.env);
  const { store, local } = await openStore(opts.env);
  const root = local.root;
  const pools = new ResourcePools({ cpu: opts.cpus, gpu: opts.gpus });
  const runner = opts.inProcess ? inProcessRunner() : workerPool({ stdout: process.stderr });
  const me = `${hostname()}:${process.pid}`;
  const running = new Map<string, AbortController>();
  let stopping = false;
  if (opts.inProcess) opts.print('warning: --in-process: a CPU-bound stage blocks the event loop, so its job lock may lapse and the job be handed to another worker');

  /** An input as a read-only path: a view of just the files the job listed (fetched from the store if remote). */
  async function inputPath(inp: JobInput, nodeId: string): Promise<string> {
    const view = await materialiseView(root, store, inp);
    if (view === null) throw new Error(`input from ${inp.node} is missing from the store (or corrupt) on worker ${me}`);
    return inp.path === undefined ? view : join(view, inp.path);
  }

  /** A record already in the store with every blob intact (another worker finished this key). */
  async function existing(stage: string, job: NodeJob): Promise<BuildRecord | null> {
    const rec = await store.getRecord(stage, job.key);
    return rec && (await badOutputs(store, rec)).length === 0 ? rec : null;
  }

  async function processJob(bullJob: Job, token?: string): Promise<JobResult> {
    const controller = new AbortController();
    const id = String(bullJob.id);
    running.set(id, controller);
    const label = (bullJob.data as NodeJob)?.nodeId ?? id;
    const t0 = performance.now();
    try {
      const { job, stage, params, codeFiles } = await prepare(bullJob.data);
      // A previous holder of this job may have published before it died; --force builds regardless.
      const found = job.force ? null : await existing(stage.name, job);
      if (found) return { record: found, worker: me, reused: true };
      const resources = pools.clamp(job.resources);
      const release = await pools.acquire(resources, controller.signal);
      try {
        const lock = await acquireLock(root, job.key, controller.signal);
        try {
          const again = job.force ? null : await existing(stage.name, job);
          if (again) return { record: again, worker: me, reused: true };
          await bullJob.updateProgress({ worker: me } satisfies JobProgress);
          const inputs: Record<string, string | string[]> = {};
          for (const [name, value] of Object.entries(job.inputs)) {
            inputs[name] = Array.isArray(value) ? await Promise.all(value.map((v) => inputPath(v, job.nodeId))) : await inputPath(value, job.nodeId);
          }
          opts.print(`start ${job.nodeId}`);
          let lastProgress = 0;
          const hooks: RunHooks = {
            signal: controller.signal,
            log: (level, msg) => {
              opts.print(`  ${job.nodeId}: ${level === 'warn' ? 'warning: ' : ''}${msg}`);
              // The coordinator shows it live and keeps it if the node fails (a success keeps it in the record).
              bullJob.updateProgress({ log: { level, msg } } satisfies JobProgress).catch(() => {});
            },
            progress: (done, total, unit) => {
              const now = Date.now();
              if (now - lastProgress < PROGRESS_EVERY_MS && done < total) return;
              lastProgress = now;
              bullJob.updateProgress({ done, total, unit } satisfies JobProgress).catch(() => {});
            },
          };
          const record = await buildNode(
            { nodeId: job.nodeId, stage, rawParams: fromJsonSafe(job.rawParams as never), params, key: job.key, fingerprint: job.fingerprint, codeFiles, inputs, resources, upstream: job.provenance },
            { store, root, runner },
            hooks,
          );
          opts.print(`built ${job.nodeId} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          return { record, worker: me, reused: false };
        } finally {
          await lock.release();
        }
      } finally {
        release();
      }
    } catch (err) {
      if (stopping && token) {
        // Not the node's fault: hand it back now rather than after the lock lapses.
        await bullJob.moveToWait(token);
        opts.print(`requeued ${label} (worker stopping)`);
        throw new WaitingError();
      }
      const e = err as Error;
      opts.print(`FAILED ${label}: ${e?.message ?? String(err)}`);
      if (e?.stack && !(err instanceof UnrecoverableError)) opts.print(e.stack.split('\n').map((l) => `    ${l}`).join('\n'));
      // The coordinator sees only the message: say where it happened.
      if (e instanceof Error && !e.message.includes(me)) e.message = `${e.message} [on worker ${me}]`;
      throw err;
    } finally {
      running.delete(id);
      await local.flush().catch(() => {});
    }
  }

  const connection = redisOptions(opts.url);
  const workers: Worker[] = [];
  const classes: [QueueClass, number][] = [['cpu', opts.cpus], ['gpu', opts.gpus]];
  for (const [cls, concurrency] of classes) {
    if (concurrency === 0) continue;
    const w = new Worker(QUEUE_NAMES[cls], processJob, {
      connection: { ...connection, maxRetriesPerRequest: null },
      concurrency,
      name: me,
      lockDuration: timing.lockMs,
      stalledInterval: timing.stalledIntervalMs,
      maxStalledCount: timing.maxStalledCount,
    });
    w.on('error', (err) => opts.print(`warning: queue ${QUEUE_NAMES[cls]}: ${err.message}`));
    workers.push(w);
  }
  if (workers.length === 0) throw new Error('worker: --cpus 0 and --gpus 0 leave nothing to run');
  try {
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const storeName = 'url' in store ? String((store as { url: unknown }).url) : root;
    opts.print(
      `worker ${me} ready: ${opts.url} (${classes.filter(([, n]) => n > 0).map(([c, n]) => `${QUEUE_NAMES[c]} ×${n}`).join(', ')}), ` +
        `store ${storeName}, lock ${timing.lockMs / 1000} s`,
    );
    await new Promise<void>((res) => {
      if (opts.signal.aborted) res();
      else opts.signal.addEventListener('abort', () => res(), { once: true });
    });
  } finally {
    stopping = true;
    for (const c of running.values()) c.abort();
    await Promise.all(workers.map((w) => w.close()));
    await runner.close();
    await local.flush().catch(() => {});
  }
}
