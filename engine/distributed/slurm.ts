// The Slurm executor (`pipeline.ts … --executor slurm`): the coordinator plans and orders nodes as
// in a local run, and hands each stale node whose inputs are done to `build` below, which submits
// one Slurm job that builds exactly that node (`pipeline.ts build-node --node ID --key KEY`, run
// from the same checkout against the same store) and resolves once that job's record is in the store.
//
// Never built twice: the job name carries the node key. Before submitting, the coordinator looks
// for a pending or running job of that name (another coordinator's, or its own from before a crash)
// and waits for it instead; jobs of one name run one at a time (--dependency=singleton), and a job
// that finds the key's record already in the store exits without building. Only the job that built
// a node writes its record. Ctrl-C cancels (scancel) the jobs this coordinator submitted and waits
// for them to stop; a job ended by Slurm (time limit, preemption, node failure, someone's scancel)
// is resubmitted a few times and resumes from its work dir.
import { randomUUID } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, statfsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { $, which } from 'zx';
import { safeSegment } from '../store/fsutil.ts';
import { upstreamClosure, type Graph, type GraphNode } from '../key/graph.ts';
import { planNodes, writePointer } from '../key/plan.ts';
import { ResourcePools } from '../run/pools.ts';
import { createReporter, summaryLine } from '../run/progress.ts';
import { normaliseRequest } from './queue.ts';
import { AbortedError, type RunHooks, type StageRunner } from '../run/runner.ts';
import { runGraph, type RemoteBuild, type RemoteBuildRequest } from '../run/scheduler.ts';
import type { BuildRecord, ClusterLimits, NodeKey, Store } from '../types.ts';

// ── options ───────────────────────────────────────────────────────────────────────────────────

export interface SlurmOptions {
  /** --partition for cpu nodes (default: the cluster's default partition). */
  partition?: string;
  /** --partition for nodes that request a GPU (default: `partition`). */
  gpuPartition?: string;
  account?: string;
  /** Default --time for every node, in Slurm's format (minutes, H:MM:SS, D-HH:MM…). */
  time?: string;
  /** Per-stage --time, overriding the stage's own `limits.minutes` and the default. */
  stageTime: Record<string, string>;
  /** Passed to sbatch after the engine's own arguments (so they win), e.g. --qos=high. */
  extraArgs: string[];
  /** How often a job ended by Slurm (not by its stage failing) is submitted again. */
  resubmits: number;
  /** Where job logs and the shared-store check live; must be on a filesystem the jobs see. */
  logDir?: string;
  /** squeue polling period. */
  pollMs: number;
}

const SLURM_TIME = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;

/**
 * Options from `--slurm-*` flags (in command-line order). STAGEWISE_SLURM_POLL_MS sets the squeue
 * period (default 2000 ms; tests use less). Errors name the flag and the expected form.
 */
export function parseSlurmFlags(flags: [string, string][], env: NodeJS.ProcessEnv): SlurmOptions {
  const o: SlurmOptions = { stageTime: {}, extraArgs: [], resubmits: 2, pollMs: 2000 };
  const time = (flag: string, v: string) => {
    if (!SLURM_TIME.test(v)) throw new Error(`${flag} ${JSON.stringify(v)}: expected a Slurm time (minutes, H:MM:SS or D-HH:MM:SS), or STAGE=TIME`);
    return v;
  };
  for (const [flag, v] of flags) {
    switch (flag) {
      case '--slurm-partition': o.partition = v; break;
      case '--slurm-gpu-partition': o.gpuPartition = v; break;
      case '--slurm-account': o.account = v; break;
      case '--slurm-log-dir': o.logDir = resolve(v); break;
      case '--slurm-arg': o.extraArgs.push(v); break;
      case '--slurm-time': {
        const eq = v.indexOf('=');
        if (eq > 0) o.stageTime[v.slice(0, eq)] = time(flag, v.slice(eq + 1));
        else o.time = time(flag, v);
        break;
      }
      case '--slurm-resubmits': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`--slurm-resubmits: expected an integer >= 0, got ${JSON.stringify(v)}`);
        o.resubmits = n;
        break;
      }
      default:
        throw new Error(`unknown option ${flag} (Slurm options: --slurm-partition, --slurm-gpu-partition, --slurm-account, --slurm-time, --slurm-arg, --slurm-resubmits, --slurm-log-dir)`);
    }
  }
  const poll = env.STAGEWISE_SLURM_POLL_MS;
  if (poll !== undefined && poll !== '') {
    const n = Number(poll);
    if (!Number.isInteger(n) || n < 50) throw new Error(`STAGEWISE_SLURM_POLL_MS=${JSON.stringify(poll)}: expected an integer number of milliseconds >= 50`);
    o.pollMs = n;
  }
  return o;
}

// ── what one node's job asks for ─────────────────────────────────────────────────────────────

/** The Slurm job name of a node: the key, so any coordinator finds a node's job by name. */
export function jobName(key: NodeKey): string {
  return `stagewise-${key}`;
}

export interface JobRequest {
  key: NodeKey;
  stage: string;
  resources: { cpu: number; gpu: number };
  limits: ClusterLimits;
}

/** The resource part of a node's sbatch command line: its declaration mapped onto Slurm's options. */
export function sbatchResourceArgs(job: JobRequest, o: SlurmOptions): string[] {
  const args = [`--cpus-per-task=${Math.max(1, job.resources.cpu)}`];
  if (job.resources.gpu > 0) args.push(`--gres=gpu:${job.resources.gpu}`);
  const partition = job.resources.gpu > 0 ? (o.gpuPartition ?? o.partition) : o.partition;
  if (partition) args.push(`--partition=${partition}`);
  if (o.account) args.push(`--account=${o.account}`);
  if (job.limits.memoryMB !== undefined) args.push(`--mem=${Math.ceil(job.limits.memoryMB)}M`);
  const time = o.stageTime[job.stage] ?? (job.limits.minutes !== undefined ? String(Math.ceil(job.limits.minutes)) : o.time);
  if (time) args.push(`--time=${time}`);
  return args;
}

function limitsOf(node: GraphNode): ClusterLimits {
  const l = node.decl.stage.limits;
  const limits = typeof l === 'function' ? l(node.params) : (l ?? {});
  for (const [name, v] of Object.entries(limits)) {
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) throw new Error(`stage ${node.decl.stage.name}: limits.${name}: expected a positive number, got ${v}`);
  }
  return limits;
}

// ── talking to Slurm (zx) ────────────────────────────────────────────────────────────────────

/** Job states after which a job will not run again (squeue -t all shows them until MinJobAge). */
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'PREEMPTED', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY', 'SPECIAL_EXIT', 'REVOKED']);
/** Ended by Slurm or by someone, not by the stage: submit again (the work dir holds its progress). */
const RESUBMIT = new Set(['CANCELLED', 'TIMEOUT', 'PREEMPTED', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'VANISHED']);

interface JobEnd {
  state: string;
  reason: string;
  node: string;
}

const sh = $({ quiet: true, nothrow: true });
// A thousand ready nodes must not become a thousand concurrent sbatch processes on the login node
// (nor a thousand RPCs at once to slurmctld).
const clients = new PQueue({ concurrency: 4 });

async function slurm(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const p = (await clients.add(() => sh({ env })`${cmd} ${args}`))!;
  if (p.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(p.stderr || p.stdout).trim() || `exit ${p.exitCode}`}`);
  return p.stdout;
}

function tail(file: string, lines = 25): string | null {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return null;
  }
}

/** POSIX sh quoting: sbatch --wrap runs under /bin/sh, which may not know bash's $'…'. */
function shQuote(arg: string): string {
  return /^[\w/.,:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function failure(message: string): Error {
  const err = new Error(message);
  err.stack = ''; // the stack is the job's, and it is in the log shown in the message
  return err;
}

// ── the coordinator's side ───────────────────────────────────────────────────────────────────

export interface SlurmExecutorOptions {
  slurm: SlurmOptions;
  store: Store;
  /** The local root (absolute): passed to every job as LOCAL_ROOT. */
  root: string;
  /** True when the store is S3 (AWS_BUCKET_NAME): then the jobs share the bucket, not `root`. */
  remoteStore: boolean;
  configFile: string;
  env: NodeJS.ProcessEnv;
  /** The command line that starts this pipeline (node, its flags, the script): jobs run it with build-node. */
  launcher: string[];
  warn(msg: string): void;
}

export interface SlurmExecutor {
  build: RemoteBuild;
  close(): Promise<void>;
}

const TMPFS_MAGIC = 0x01021994;

export async function openSlurmExecutor(opts: SlurmExecutorOptions): Promise<SlurmExecutor> {
  const o = opts.slurm;
  const env = { ...opts.env };
  for (const p of ['sbatch', 'squeue', 'scancel', 'scontrol']) {
    if (!(await which(p, { nothrow: true }))) throw new Error(`--executor slurm: ${p} not found on PATH; run the coordinator where Slurm's client commands work (a login node)`);
  }
  try {
    await slurm('squeue', ['-h', '-o', '%i', '-n', 'stagewise-probe'], env);
  } catch (err) {
    throw new Error(`--executor slurm: cannot talk to the Slurm controller (${(err as Error).message}); check SLURM_CONF and that slurmctld is up`);
  }
  const logDir = o.logDir ?? join(opts.root, 'slurm');
  // Paths the jobs use must mean the same on every node: absolute, and not in this machine's memory.
  for (const [what, dir] of [...(opts.remoteStore ? [] : [['LOCAL_ROOT', opts.root]]), ['the Slurm log dir', logDir]] as [string, string][]) {
    await fsp.mkdir(dir, { recursive: true });
    if (statfsSync(dir).type === TMPFS_MAGIC) {
      throw new Error(`--executor slurm: ${what} ${dir} is on tmpfs (this machine's memory), which jobs on other nodes cannot see; put it on a filesystem the cluster shares${opts.remoteStore ? '' : ' (or use an S3 store: AWS_BUCKET_NAME)'}`);
    }
  }
  // Jobs start in this directory (--chdir), so the config path goes as given: a pipeline may put
  // the path itself into params (provenance), and an absolute one would change those nodes' keys.
  const configFile = opts.configFile;
  const cwd = process.cwd();

  // ── polling: one squeue for every job waited on ──
  interface Watch {
    name: string;
    seen: boolean;
    missing: number;
    onRunning(node: string): void;
    done(end: JobEnd): void;
  }
  const watches = new Map<string, Watch>();
  let timer: NodeJS.Timeout | null = null;
  let pollFailures = 0;
  const poll = async () => {
    timer = null;
    if (watches.size === 0) return;
    const names = [...new Set([...watches.values()].map((w) => w.name))];
    try {
      const out = await slurm('squeue', ['-h', '-t', 'all', '-n', names.join(','), '-o', '%i|%T|%r|%N'], env);
      pollFailures = 0;
      const rows = new Map(out.trim().split('\n').filter(Boolean).map((l) => {
        const [id, state, reason, node] = l.split('|');
        return [id, { state, reason, node }] as const;
      }));
      for (const [id, w] of [...watches]) {
        if (!names.includes(w.name)) continue; // submitted while this squeue ran
        const row = rows.get(id);
        if (!row) {
          // Purged from the controller (MinJobAge) or lost: the store decides what happened.
          if (++w.missing >= 2) {
            watches.delete(id);
            w.done({ state: 'VANISHED', reason: 'no longer known to squeue', node: '' });
          }
          continue;
        }
        w.missing = 0;
        if (row.state === 'RUNNING' && !w.seen) {
          w.seen = true;
          w.onRunning(row.node);
        }
        if (TERMINAL.has(row.state)) {
          watches.delete(id);
          w.done(row);
        }
      }
    } catch (err) {
      if (pollFailures++ === 0) opts.warn(`slurm: ${(err as Error).message}; still trying`);
    }
    schedule();
  };
  const schedule = () => {
    if (!timer && watches.size > 0) timer = setTimeout(() => void poll(), o.pollMs);
  };
  const waitJob = (id: string, name: string, onRunning: (node: string) => void) =>
    new Promise<JobEnd>((res) => {
      watches.set(id, { name, seen: false, missing: 0, onRunning, done: res });
      schedule();
    });

  /** Submits `command` as a batch job; returns its job id. */
  async function submit(args: string[], command: string[]): Promise<string> {
    const out = await slurm('sbatch', ['--parsable', `--chdir=${cwd}`, ...args, ...o.extraArgs, `--wrap=exec ${command.map(shQuote).join(' ')}`], env);
    return out.trim().split(';')[0];
  }
  const buildNodeCommand = (extra: string[]) => ['env', `LOCAL_ROOT=${opts.root}`, ...opts.launcher, 'build-node', '--config', configFile, ...extra];

  // ── the shared-store check: one tiny job, before the first node is submitted ──
  let checked: Promise<void> | null = null;
  let checkReported = false;
  async function checkShared(): Promise<void> {
    const dir = join(logDir, 'check');
    await fsp.mkdir(dir, { recursive: true });
    const token = randomUUID();
    const marker = join(dir, `${token}.json`);
    const log = join(dir, `${token}.log`);
    await fsp.writeFile(marker, JSON.stringify({ token, root: opts.root, from: hostname() }));
    const args = ['--job-name=stagewise-check', `--output=${log}`, '--cpus-per-task=1', ...(o.partition ? [`--partition=${o.partition}`] : []), ...(o.account ? [`--account=${o.account}`] : []), ...(o.time ? [`--time=${o.time}`] : [])];
    const id = await submit(args, buildNodeCommand(['--check', marker]));
    const end = await waitJob(id, 'stagewise-check', () => {});
    let seen: { root?: string; host?: string } | null = null;
    try {
      seen = JSON.parse(readFileSync(`${marker}.ok`, 'utf8'));
    } catch {
      /* not written: reported below */
    }
    const where = end.node ? ` on ${end.node}` : '';
    const hint = opts.remoteStore
      ? `the log dir ${logDir} must be on a filesystem the cluster shares (--slurm-log-dir)`
      : `LOCAL_ROOT (${opts.root}) must be on a filesystem the cluster shares, or use an S3 store (AWS_BUCKET_NAME)`;
    if (!seen) {
      const text = tail(log);
      throw failure(`--executor slurm: the store check job ${id} (${end.state}${where}) could not read ${marker}, which this coordinator wrote: ${hint}; job log ${log}:\n${text === null ? '  (not readable here either)' : text.replace(/^/gm, '  | ')}`);
    }
    if (!opts.remoteStore && seen.root !== opts.root) {
      throw failure(`--executor slurm: the store check job ${id}${where} sees LOCAL_ROOT ${seen.root}, this coordinator ${opts.root}: ${hint}`);
    }
    await Promise.all([marker, `${marker}.ok`, log].map((f) => fsp.rm(f, { force: true })));
  }

  const owned = new Set<string>();

  /** Waits for job `id` to end; on abort cancels it (if ours) and waits for it to stop. */
  async function follow(id: string, name: string, mine: boolean, hooks: RunHooks): Promise<JobEnd> {
    const ended = waitJob(id, name, (node) => hooks.log('info', `slurm job ${id} running on ${node}`));
    if (!hooks.signal.aborted) {
      const aborted = new Promise<'aborted'>((res) => hooks.signal.addEventListener('abort', () => res('aborted'), { once: true }));
      const first = await Promise.race([ended, aborted]);
      if (first !== 'aborted') return first;
    }
    if (!mine) {
      watches.delete(id);
      throw new AbortedError(name);
    }
    await slurm('scancel', [id], env).catch((err) => opts.warn(`slurm: ${(err as Error).message}`));
    // The job's own SIGTERM handler stops the stage and drops its scratch output; wait for that.
    await Promise.race([ended, sleep(60_000, undefined, { ref: false })]);
    owned.delete(id);
    throw new AbortedError(name);
  }

  async function build(req: RemoteBuildRequest, hooks: RunHooks): Promise<BuildRecord> {
    const stage = req.node.decl.stage.name;
    const name = jobName(req.key);
    const request: JobRequest = { key: req.key, stage, resources: normaliseRequest(req.request), limits: limitsOf(req.node) };
    const logFile = (id: string) => join(logDir, safeSegment(stage), `${safeSegment(req.node.id).slice(0, 80)}-${req.key.slice(0, 16)}-${id}.log`);
    const recorded = async () => {
      const record = await opts.store.getRecord(stage, req.key);
      if (record) await writePointer(opts.root, stage, req.node.id, req.key);
      return record;
    };
    let last = '';
    for (let attempt = 0; attempt <= o.resubmits; attempt++) {
      // A job for this key already queued or running (another coordinator's, or ours before a restart)?
      const active = (await slurm('squeue', ['-h', '-n', name, '-o', '%i|%T'], env))
        .trim().split('\n').filter(Boolean).map((l) => l.split('|'))
        .filter(([, state]) => !TERMINAL.has(state));
      let id: string;
      let mine = false;
      if (active.length > 0) {
        // Jobs of one name run one at a time; the newest ends last.
        id = active.map(([i]) => i).sort((a, b) => Number(a) - Number(b)).at(-1)!;
        hooks.log('info', `slurm job ${id} for this node is already ${active.find(([i]) => i === id)![1].toLowerCase()}; waiting for it`);
      } else {
        if (!req.force) {
          const record = await recorded();
          if (record) return record;
        }
        checked ??= checkShared();
        try {
          await checked;
        } catch (err) {
          if (checkReported) throw failure('the Slurm store check failed (see the first failure)');
          checkReported = true;
          throw err;
        }
        hooks.signal.throwIfAborted();
        await fsp.mkdir(join(logDir, safeSegment(stage)), { recursive: true });
        const args = [`--job-name=${name}`, '--dependency=singleton', `--output=${logFile('%j')}`, ...sbatchResourceArgs(request, o)];
        id = await submit(args, buildNodeCommand(['--node', req.node.id, '--key', req.key, ...(req.force ? ['--force', req.node.id] : [])]));
        mine = true;
        owned.add(id);
        hooks.log('info', `submitted as slurm job ${id}${attempt > 0 ? ` (resubmission ${attempt} of ${o.resubmits})` : ''}`);
      }
      const end = await follow(id, name, mine, hooks);
      owned.delete(id);
      const record = await recorded();
      const log = logFile(id);
      if (end.state === 'COMPLETED') {
        if (record) return record;
        throw failure(
          `slurm job ${id} finished, but the record ${stage}/${req.key} is not in this coordinator's store: the jobs must share it ` +
            `(${opts.remoteStore ? 'the same AWS_* settings in the jobs\' environment' : `LOCAL_ROOT ${opts.root} on a filesystem the cluster shares`}); job log ${log}`,
        );
      }
      // Someone else's job (or an earlier attempt) may have built it before this one ended.
      if (record && !req.force) return record;
      if (!RESUBMIT.has(end.state)) {
        let exit = '';
        const info = await slurm('scontrol', ['show', 'job', '-o', id], env).catch(() => '');
        const code = /\bExitCode=(\d+):(\d+)/.exec(info);
        if (code) exit = code[2] !== '0' ? `, signal ${code[2]}` : `, exit ${code[1]}`;
        const text = tail(log);
        const cause = text?.split('\n').reverse().find((l) => /\bFAILED \S+: |^error: /.test(l))?.replace(/^.*?\bFAILED \S+: |^error: /, '');
        throw failure(
          `slurm job ${id} ${end.state.toLowerCase()}${exit}${end.node ? ` on ${end.node}` : ''}${cause ? `: ${cause}` : ''}\n` +
            `    log ${log}:\n${text === null ? '    (not readable from here)' : text.replace(/^/gm, '    | ')}`,
        );
      }
      last = `slurm job ${id} ended ${end.state}${end.reason && end.reason !== 'None' ? ` (${end.reason})` : ''}`;
      if (attempt < o.resubmits) hooks.log('warn', `${last}; submitting it again (it resumes from its work dir)`);
    }
    throw failure(`${last}; gave up after ${o.resubmits + 1} jobs (--slurm-resubmits ${o.resubmits})`);
  }

  return {
    build,
    async close() {
      if (timer) clearTimeout(timer);
      timer = null;
      watches.clear();
      // Normally empty: every build waited for its job. Cancel what a crash in between left behind.
      if (owned.size > 0) await slurm('scancel', [...owned], env).catch(() => {});
    },
  };
}

// ── the job's side: `pipeline.ts build-node` ─────────────────────────────────────────────────

export interface BuildNodeOptions {
  graph: Graph;
  store: Store;
  root: string;
  /** The node to build, and the key the coordinator computed for it (refuse to build another). */
  nodeId?: string;
  key?: string;
  force: boolean;
  /** --check MARKER: prove this job sees the coordinator's files; build nothing. */
  check?: string;
  runner: StageRunner;
  signal: AbortSignal;
  out: NodeJS.WritableStream;
}

/** Builds one node from the shared store (its inputs must be there) and exits: 0 built or already built, 1 failed, 2 refused. */
export async function buildNodeCommand(o: BuildNodeOptions): Promise<number> {
  const say = (s: string) => o.out.write(`${s}\n`);
  if (o.check) {
    if (!existsSync(o.check)) {
      say(`build-node --check: ${o.check} does not exist on ${hostname()}: this node does not see the coordinator's files`);
      return 1;
    }
    await fsp.writeFile(`${o.check}.ok`, JSON.stringify({ root: o.root, host: hostname() }));
    say(`build-node --check: ok on ${hostname()} (LOCAL_ROOT ${o.root})`);
    return 0;
  }
  const node = o.nodeId === undefined ? undefined : o.graph.nodes.get(o.nodeId);
  if (!node) {
    say(`error: build-node: ${o.nodeId === undefined ? '--node ID is required' : `no node ${o.nodeId} in this config`}`);
    return 2;
  }
  // Publishing (publishTo) is the coordinator's business: jobs only build and record.
  const nodes = new Map([...o.graph.nodes].map(([id, n]) => [id, { ...n, decl: { ...n.decl, publishTo: undefined } }]));
  const graph: Graph = { nodes, order: o.graph.order };
  const ids = upstreamClosure(graph, [node.id]);
  const ctx = { store: o.store, root: o.root, graph, force: new Set<string>() };
  const plan = await planNodes(ctx, ids);
  const missing = ids.filter((id) => id !== node.id && plan.get(id)!.status !== 'fresh');
  if (missing.length > 0) {
    say(`error: build-node ${node.id}: inputs not in the store: ${missing.map((id) => `${id} (${plan.get(id)!.reasons.join('; ')})`).join(', ')}; the job must see the coordinator's store (LOCAL_ROOT ${o.root} or the same AWS_* settings)`);
    return 1;
  }
  const key = plan.get(node.id)!.key;
  if (o.key !== undefined && key !== o.key) {
    say(`error: build-node ${node.id}: this job computes key ${key}, the coordinator submitted ${o.key}: the checkout or config the job sees differs from the coordinator's; refusing to build another node`);
    return 2;
  }
  say(`build-node ${node.id} (key ${key}) on ${hostname()}, pid ${process.pid}`);
  const declared = node.decl.stage.resources;
  const request = normaliseRequest(typeof declared === 'function' ? declared(node.params) : declared);
  const reporter = createReporter({ total: ids.length, stream: o.out, verbose: true });
  const summary = await runGraph({
    graph,
    ids,
    store: o.store,
    root: o.root,
    runner: o.runner,
    // The job's allocation is the pool: Slurm already granted what the node asked for.
    pools: new ResourcePools({ cpu: Math.max(1, request.cpu), gpu: request.gpu }),
    force: o.force ? new Set([node.id]) : new Set(),
    signal: o.signal,
    events: reporter,
    holdBack: (n) => (n.id === node.id ? null : 'an input of this job, not built here'),
  });
  reporter.close();
  say(summaryLine(summary));
  const outcome = summary.nodes.find((n) => n.id === node.id)!;
  return outcome.status === 'built' || outcome.status === 'cached' ? 0 : 1;
}
