// The coordinator's side of distributed runs (`pipeline.ts … --queue redis://host:port`): the
// scheduler plans and orders nodes as usual, and hands each stale node to `build` below, which puts
// it on a BullMQ queue (job id = node key: a node waiting or running is never queued twice) and
// resolves once a worker's record is in the shared store. Dependents are scheduled as results land.
import { Queue, QueueEvents } from 'bullmq';
import { toJsonSafe } from '../key/hash.ts';
import { manifestDigest } from '../store/outputs.ts';
import { writePointer } from '../key/plan.ts';
import {
  checkRedis,
  JOB_FORMAT,
  moduleRelPath,
  normaliseRequest,
  QUEUE_NAMES,
  queueClassOf,
  redisOptions,
  type JobInput,
  type JobProgress,
  type JobResult,
  type NodeJob,
  type QueueClass,
} from './queue.ts';
import { AbortedError, type RunHooks } from '../run/runner.ts';
import type { RemoteBuild, RemoteBuildRequest } from '../run/scheduler.ts';
import type { BuildRecord, InputRef, StageDef, Store } from '../types.ts';

export interface DispatcherOptions {
  url: string;
  store: Store;
  /** The coordinator's local root (node pointers for --explain are written here). */
  root: string;
  /** How users start the pipeline, for the "start a worker" hint. */
  command: string;
  warn(msg: string): void;
}

export interface Dispatcher {
  build: RemoteBuild;
  close(): Promise<void>;
}

/** Listeners of one queued job, keyed by job id (= node key) in a per-queue table. */
interface Waiter {
  completed(result: JobResult): void;
  failed(reason: string): void;
  progress(p: JobProgress): void;
  stalled(): void;
}

/** A node's failure on a worker: the message says where; the stack is in that worker's output, not here. */
function remoteFailure(reason: string): Error {
  const err = new Error(reason);
  err.stack = '';
  return err;
}

// A job whose worker vanished and whose record then also vanished is queued again, a few times at most.
const MAX_REQUEUES = 3;

export async function openDispatcher(opts: DispatcherOptions): Promise<Dispatcher> {
  await checkRedis(opts.url);
  const connection = redisOptions(opts.url);
  const queues = {} as Record<QueueClass, { queue: Queue; events: QueueEvents; waiters: Map<string, Waiter[]> }>;
  for (const cls of Object.keys(QUEUE_NAMES) as QueueClass[]) {
    const queue = new Queue(QUEUE_NAMES[cls], { connection });
    const events = new QueueEvents(QUEUE_NAMES[cls], { connection });
    const waiters = new Map<string, Waiter[]>();
    const each = (id: string, fn: (w: Waiter) => void) => (waiters.get(id) ?? []).slice().forEach(fn);
    events.on('completed', ({ jobId, returnvalue }) => each(jobId, (w) => w.completed(returnvalue as unknown as JobResult)));
    events.on('failed', ({ jobId, failedReason }) => each(jobId, (w) => w.failed(failedReason)));
    events.on('progress', ({ jobId, data }) => each(jobId, (w) => w.progress(data as JobProgress)));
    events.on('stalled', ({ jobId }) => each(jobId, (w) => w.stalled()));
    queue.on('error', (err) => opts.warn(`queue ${QUEUE_NAMES[cls]}: ${err.message}`));
    events.on('error', (err) => opts.warn(`queue events ${QUEUE_NAMES[cls]}: ${err.message}`));
    queues[cls] = { queue, events, waiters };
  }
  // Listening before the first add: an event for a job can then never be missed.
  await Promise.all(Object.values(queues).map((q) => q.events.waitUntilReady()));
  const exportNames = new Map<StageDef, string>();
  const hinted = new Set<QueueClass>();

  async function jobFor(req: RemoteBuildRequest): Promise<NodeJob> {
    const stage = req.node.decl.stage;
    let exportName = exportNames.get(stage);
    if (!exportName) {
      const mod = (await import(stage.module)) as Record<string, unknown>;
      exportName = Object.keys(mod).find((k) => mod[k] === stage);
      if (!exportName) throw new Error(`stage ${stage.name}: ${stage.module} does not export it; workers import stages by export name`);
      exportNames.set(stage, exportName);
    }
    const one = (r: InputRef): JobInput => {
      const rec = req.upstream.get(r.node)!;
      if (r.kind === 'node') return { node: r.node, outputs: rec.outputs, outputDigest: rec.outputDigest };
      // Just the one file: a worker then fetches only what this node reads, not the whole upstream run.
      const outputs = { [r.path]: rec.outputs[r.path] };
      return { node: r.node, path: r.path, outputs, outputDigest: manifestDigest(outputs) };
    };
    const inputs: NodeJob['inputs'] = {};
    for (const [name, value] of Object.entries(req.node.decl.inputs)) inputs[name] = Array.isArray(value) ? value.map(one) : one(value);
    return {
      format: JOB_FORMAT,
      nodeId: req.node.id,
      stage: stage.name,
      module: moduleRelPath(stage.module),
      exportName,
      rawParams: toJsonSafe(req.node.decl.params, 'params'),
      key: req.key,
      fingerprint: req.fingerprint,
      codeFiles: req.codeFiles,
      inputs,
      resources: normaliseRequest(req.request),
      force: req.force,
      ...(req.provenance ? { provenance: req.provenance } : {}),
    };
  }

  /** Queues the job (or joins the one already queued under this key) and waits for its outcome. */
  function runOnce(cls: QueueClass, data: NodeJob, hooks: RunHooks): Promise<JobResult | 'vanished'> {
    const { queue, waiters } = queues[cls];
    const id = data.key;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        const list = waiters.get(id) ?? [];
        list.splice(list.indexOf(waiter), 1);
        if (list.length === 0) waiters.delete(id);
        hooks.signal.removeEventListener('abort', onAbort);
        fn();
      };
      const waiter: Waiter = {
        completed: (result) => settle(() => resolve(result)),
        failed: (reason) => settle(() => reject(remoteFailure(reason))),
        progress: (p) => {
          if ('worker' in p) hooks.log('info', `running on worker ${p.worker}`);
          else if ('log' in p) hooks.log(p.log.level, p.log.msg);
          else hooks.progress(p.done, p.total, p.unit);
        },
        stalled: () => hooks.log('warn', 'its worker stopped renewing the job lock (killed?); requeued for another worker'),
      };
      const onAbort = () => {
        settle(() => reject(new AbortedError(data.nodeId)));
        // Nobody else may want it: drop it if no worker has taken it yet (a running one finishes and publishes).
        void queue
          .getJob(id)
          .then(async (job) => {
            if (job && (await job.isWaiting())) await job.remove();
          })
          .catch(() => {});
      };
      waiters.set(id, [...(waiters.get(id) ?? []), waiter]);
      if (hooks.signal.aborted) return onAbort();
      hooks.signal.addEventListener('abort', onAbort, { once: true });
      (async () => {
        await queue.add(data.nodeId, data, { jobId: id, attempts: 1, removeOnComplete: true, removeOnFail: true });
        if (!hinted.has(cls)) {
          hinted.add(cls);
          if ((await queue.getWorkersCount().catch(() => 1)) === 0) {
            opts.warn(`no worker is listening on ${opts.url} (queue ${QUEUE_NAMES[cls]}) yet; nodes wait there until one starts: ${opts.command} worker --queue ${opts.url}`);
          }
        }
        // The id may have been taken by a job that finished meanwhile (another coordinator's).
        const job = await queue.getJob(id);
        if (!job) return settle(() => resolve('vanished'));
        const state = await job.getState();
        if (state === 'completed') settle(() => resolve(job.returnvalue as JobResult));
        else if (state === 'failed') settle(() => reject(remoteFailure(job.failedReason)));
      })().catch((err) => settle(() => reject(new Error(`--queue ${opts.url}: cannot queue ${data.nodeId}: ${(err as Error).message}`))));
    });
  }

  async function build(req: RemoteBuildRequest, hooks: RunHooks): Promise<BuildRecord> {
    const data = await jobFor(req);
    const stage = data.stage;
    for (let attempt = 0; attempt <= MAX_REQUEUES; attempt++) {
      const outcome = await runOnce(queueClassOf(data.resources), data, hooks);
      // The store is the truth: the record must be there for downstream nodes (and for other machines).
      const record = await opts.store.getRecord(stage, data.key);
      if (record) {
        if (outcome !== 'vanished' && outcome.reused) hooks.log('info', `already built; worker ${outcome.worker} found its record in the store`);
        await writePointer(opts.root, stage, data.nodeId, data.key);
        return record;
      }
      if (outcome !== 'vanished') {
        throw new Error(
          `worker ${outcome.worker} built it, but its record ${stage}/${data.key} is not in this coordinator's store: ` +
            'coordinator and workers must share one store (the same AWS_BUCKET_NAME, AWS_ENDPOINT_URL and keys everywhere, or one LOCAL_ROOT on a shared file system)',
        );
      }
    }
    throw new Error(`its job ${data.key} kept vanishing from the queue without a record appearing in the store`);
  }

  return {
    build,
    async close() {
      for (const { queue, events } of Object.values(queues)) {
        await events.close();
        await queue.close();
      }
    },
  };
}
