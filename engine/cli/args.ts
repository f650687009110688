// argv → ParsedArgs, on node:util parseArgs. Every mistake is a UsageError (exit 2) naming the flag.
import { parseArgs as parseArgv } from 'node:util';

export interface ParsedArgs {
  command: 'run' | 'gc' | 'worker' | 'serve' | 'log' | 'graph' | 'build-node';
  targets: string[];
  config?: string;
  only: string[];
  force: string[];
  dryRun: boolean;
  explain?: string;
  json: boolean;
  /** Size of the cpu pool (--jobs, or --cpus). */
  jobs?: number;
  gpus?: number;
  /** Distributed: the Redis URL of the BullMQ queue (coordinator: dispatch there; worker: take from there). */
  queue?: string;
  /** --executor slurm: one Slurm job per stale node (engine/distributed/slurm.ts); its --slurm-* flags. */
  executor?: 'local' | 'slurm';
  slurm: [string, string][];
  /** build-node (what a Slurm job runs): the node, the key the coordinator expects, or --check MARKER. */
  node?: string;
  key?: string;
  check?: string;
  watch: boolean;
  watchHeavy: boolean;
  inProcess: boolean;
  verbose: boolean;
  yes: boolean;
  help: boolean;
  /** Dashboard: `serve`, or `--serve` next to a build / watch. */
  serve: boolean;
  port?: number;
  host?: string;
  /** `graph --format`. */
  format: 'dot' | 'mermaid' | 'json';
}

/** The dashboard's default port (`serve`, `--serve`); --port 0 picks any free one. */
export const DEFAULT_PORT = 8750;

export class UsageError extends Error {}

export const HELP = `usage: pipeline.ts [targets…] [options]
       pipeline.ts gc [--yes]
       pipeline.ts worker --queue redis://host:port [--cpus N] [--gpus N]
       pipeline.ts [targets…] --executor slurm [--slurm-partition P] [--slurm-time T] …
       pipeline.ts serve [--port P] [--host H]
       pipeline.ts log NODE
       pipeline.ts graph [--format dot|mermaid|json]

targets: node ids, stage names or tags (e.g. figures); default: everything
  --config FILE     config file (default configs/default.yaml)
  --only S[,S]      run only these stages; their inputs must already be cached
  --force S|NODE    rebuild these stages / nodes even if fresh (repeatable, comma-separated)
  --dry-run         print the plan: fresh/stale and why; build nothing
  --explain NODE    why NODE is fresh or stale, and what its key is made of
  --json            machine-readable plan / summary on stdout
  --jobs N          size of the cpu pool, N >= 1 (default: number of cores); --cpus N is the same
  --gpus N          size of the gpu pool (default 1)
  --queue URL       distributed: put stale nodes on the BullMQ queue at this Redis URL, for workers
                    on machines that share the store (S3 via AWS_* env, or one LOCAL_ROOT)
  --executor slurm  one Slurm job per stale node (sbatch from this checkout; the store must be shared):
    --slurm-partition P, --slurm-gpu-partition P (nodes asking for a GPU), --slurm-account A,
    --slurm-time T or STAGE=T (repeatable), --slurm-arg=ARG (extra sbatch argument, repeatable),
    --slurm-resubmits N (jobs ended by Slurm, default 2), --slurm-log-dir DIR (default LOCAL_ROOT/slurm)
  --watch           rebuild on config / code changes (heavy stages are not started)
  --watch-heavy     in watch mode, start heavy stages too
  --in-process      run stages in this process instead of worker threads (debugging)
  --verbose         also print a line per cached node
  --serve           also serve the live dashboard while building (with --watch: across rebuilds)
  --port P          dashboard port (default 8750; 0 = any free port)
  --host H          dashboard address (default 127.0.0.1: this machine only)
gc: delete records, blobs, views and work dirs the current config cannot reach (dry run unless --yes)
worker: build nodes from the queue until stopped; --cpus / --gpus size its pools (default: cores / 1;
  0 = take no nodes of that kind); STAGEWISE_QUEUE_LOCK_MS sets how soon a dead worker's node moves
  to another worker (default 30000)
serve: the dashboard (graph, node pages, results, logs) over the store and plan, read-only; it follows
  builds by other processes, config and code edits
log NODE: the stored log of NODE's current (or last) build, or of its last failure
graph: the plan as a graph with each node's state (--format dot, mermaid or json; default dot)`;

const OPTIONS = {
  config: { type: 'string' },
  only: { type: 'string', multiple: true },
  force: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
  explain: { type: 'string' },
  json: { type: 'boolean' },
  jobs: { type: 'string' },
  cpus: { type: 'string' },
  gpus: { type: 'string' },
  queue: { type: 'string' },
  executor: { type: 'string' },
  'slurm-partition': { type: 'string' },
  'slurm-gpu-partition': { type: 'string' },
  'slurm-account': { type: 'string' },
  'slurm-time': { type: 'string', multiple: true },
  'slurm-arg': { type: 'string', multiple: true },
  'slurm-resubmits': { type: 'string' },
  'slurm-log-dir': { type: 'string' },
  node: { type: 'string' },
  key: { type: 'string' },
  check: { type: 'string' },
  watch: { type: 'boolean' },
  'watch-heavy': { type: 'boolean' },
  'in-process': { type: 'boolean' },
  verbose: { type: 'boolean' },
  yes: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  serve: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  format: { type: 'string' },
} as const;

const COMMANDS = ['gc', 'worker', 'serve', 'log', 'graph', 'build-node'] as const;

function integer(flag: string, v: string | undefined, min: number, why = ''): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}${why}, got ${JSON.stringify(v)}`);
  return n;
}

/** node:util's messages, shortened to the flag and what is wrong. */
function usageFromParseError(err: Error & { code?: string }): UsageError {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${flag} (see --help)`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(/does not take an argument/.test(err.message) ? `${flag}: takes no value` : `${flag}: expected a value`);
    default:
      return new UsageError(err.message.split('\n')[0]);
  }
}

export function parseArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgv({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageFromParseError(err as Error & { code?: string });
  }
  const v = parsed.values;
  const list = (xs: string[] | undefined) => (xs ?? []).flatMap((x) => x.split(',')).map((s) => s.trim()).filter(Boolean);
  let command: ParsedArgs['command'] = 'run';
  const positionals = [...parsed.positionals];
  if ((COMMANDS as readonly string[]).includes(positionals[0])) command = positionals.shift() as (typeof COMMANDS)[number];
  if (v.executor !== undefined && v.executor !== 'local' && v.executor !== 'slurm') {
    throw new UsageError(`--executor: expected local or slurm, got ${JSON.stringify(v.executor)} (for BullMQ workers use --queue)`);
  }
  // The --slurm-* flags as (flag, value) pairs, checked by engine/distributed/slurm.ts.
  const slurm: [string, string][] = [];
  for (const name of Object.keys(OPTIONS).filter((k) => k.startsWith('slurm-')) as (keyof typeof v)[]) {
    const value = v[name];
    for (const x of Array.isArray(value) ? value : value === undefined ? [] : [value]) slurm.push([`--${name}`, String(x)]);
  }
  if (v.jobs !== undefined && v.cpus !== undefined) throw new UsageError('--jobs and --cpus name the same pool; give one');
  // A worker may take no cpu nodes (a GPU-only machine); a local run with no cpu slot could run nothing.
  const cpuMin = command === 'worker' ? 0 : 1;
  const why = command === 'worker' ? '' : ' (a local run needs a cpu slot; 0 is only for `worker`, where it means "take no cpu nodes")';
  const a: ParsedArgs = {
    command,
    targets: positionals,
    config: v.config,
    only: list(v.only),
    force: list(v.force),
    dryRun: Boolean(v['dry-run']),
    explain: v.explain,
    json: Boolean(v.json),
    jobs: integer('--jobs', v.jobs, cpuMin, why) ?? integer('--cpus', v.cpus, cpuMin, why),
    gpus: integer('--gpus', v.gpus, 0),
    queue: v.queue,
    executor: v.executor as ParsedArgs['executor'],
    slurm,
    node: v.node,
    key: v.key,
    check: v.check,
    watch: Boolean(v.watch || v['watch-heavy']),
    watchHeavy: Boolean(v['watch-heavy']),
    inProcess: Boolean(v['in-process']),
    verbose: Boolean(v.verbose),
    yes: Boolean(v.yes),
    help: Boolean(v.help),
    serve: Boolean(v.serve),
    port: integer('--port', v.port, 0),
    host: v.host,
    format: 'dot',
  };
  if (v.format !== undefined) {
    if (v.format !== 'dot' && v.format !== 'mermaid' && v.format !== 'json') throw new UsageError(`--format: expected dot, mermaid or json, got ${JSON.stringify(v.format)}`);
    if (a.command !== 'graph') throw new UsageError('--format only applies to graph');
    a.format = v.format;
  }
  if (a.yes && a.command !== 'gc') throw new UsageError('--yes only applies to gc');
  if (a.command === 'worker') {
    if (!a.queue) throw new UsageError('worker: --queue redis://host:port is required');
    if (a.targets.length > 0) throw new UsageError(`worker: takes no targets (got ${a.targets.join(' ')}); the coordinator decides what to build`);
  }
  if (a.command === 'build-node') {
    if (!a.node && !a.check) throw new UsageError('build-node: --node ID is required');
    if (a.targets.length > 0) throw new UsageError(`build-node: takes no targets (got ${a.targets.join(' ')})`);
  } else if (a.node || a.key || a.check) throw new UsageError('--node, --key and --check belong to build-node');
  if (a.slurm.length > 0 && a.executor !== 'slurm') throw new UsageError(`${a.slurm[0][0]} needs --executor slurm`);
  if (a.executor === 'slurm' && (a.queue !== undefined || a.watch || a.command !== 'run')) throw new UsageError('--executor slurm runs a build: it does not combine with --queue, --watch, gc, worker or build-node');
  if (a.queue !== undefined && a.watch) throw new UsageError('--queue does not combine with --watch');
  if (a.queue !== undefined && a.command === 'gc') throw new UsageError('--queue does not apply to gc');
  if (a.command === 'log' && a.targets.length !== 1) throw new UsageError(`log: expected one node id, got ${a.targets.length ? a.targets.join(' ') : 'none'}`);
  if ((a.command === 'serve' || a.command === 'graph') && a.targets.length > 0) throw new UsageError(`${a.command}: takes no targets (it shows the whole graph); got ${a.targets.join(' ')}`);
  if (a.port !== undefined && a.port > 65535) throw new UsageError(`--port: expected 0…65535, got ${a.port}`);
  if ((a.port !== undefined || a.host !== undefined) && !a.serve && a.command !== 'serve') throw new UsageError('--port / --host only apply to serve or --serve');
  if (a.serve && a.command !== 'run') throw new UsageError(`--serve applies to a build; for ${a.command} use: serve`);
  if (a.serve && (a.dryRun || a.explain)) throw new UsageError('--serve needs a build (not --dry-run / --explain); to look without building use: serve');
  return a;
}

/** Exit code of an error that ends a command: 2 for setup mistakes (usage, config, store settings), else 1. */
export function exitCodeOf(err: unknown): number {
  const name = (err as Error | undefined)?.name;
  return err instanceof UsageError || name === 'ConfigError' || name === 'StoreOpenError' ? 2 : 1;
}

/** `error: …` lines for stderr: one per problem of a config error, else the message. */
export function errorLines(err: unknown): string {
  const e = err as Error & { problems?: string[] };
  const lines = e?.name === 'ConfigError' && Array.isArray(e.problems) ? e.problems : [e?.message ?? String(err)];
  return lines.map((l) => `error: ${l}`).join('\n');
}
