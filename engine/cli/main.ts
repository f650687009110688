// The command line: `npx tsx pipeline.ts [targets…] [flags]` and `pipeline.ts gc [--yes]`.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { config as loadDotenv } from 'dotenv';
import type { z } from 'zod';
import { readYamlFile, validateConfig } from './config.ts';
import { buildGraph, matchTarget, selectTargets, upstreamClosure, type Graph } from '../key/graph.ts';
import { clearCodeCache } from '../key/keys.ts';
import { planNodes, type Assessment } from '../key/plan.ts';
import { ResourcePools } from '../run/pools.ts';
import { createReporter, loadLiveRenderer, summaryJson, summaryLine } from '../run/progress.ts';
import { inProcessRunner, workerPool, type StageRunner } from '../run/runner.ts';
import { runGraph } from '../run/scheduler.ts';
import { openStore } from '../store/open.ts';
import type { NodeDecl } from '../types.ts';

export interface CliOptions {
  argv: string[];
  /** Reads a config file (default: YAML). */
  loadConfig?: (file: string) => Promise<unknown>;
  /** The experiment: the nodes a (validated) config declares. */
  declare: (config: unknown, configFile: string) => NodeDecl[] | Promise<NodeDecl[]>;
  configSchema?: z.ZodTypeAny;
  defaultConfig?: string;
  /** How users start the pipeline, for hints in error messages. */
  command?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Install SIGINT/SIGTERM handlers (default true). */
  handleSignals?: boolean;
  /** Set process.exitCode to the result (default true; tests turn it off). */
  setExitCode?: boolean;
  /** Stops a run (or watch) from outside, like SIGINT. */
  signal?: AbortSignal;
}

export interface ParsedArgs {
  command: 'run' | 'gc' | 'worker' | 'build-node';
  targets: string[];
  config?: string;
  only: string[];
  force: string[];
  dryRun: boolean;
  explain?: string;
  json: boolean;
  jobs?: number;
  gpus?: number;
  /** Distributed: the Redis URL of the BullMQ queue (coordinator: dispatch there; worker: take from there). */
  queue?: string;
  /** --executor slurm: one Slurm job per stale node (engine/distributed/slurm.ts); its --slurm-* flags in order. */
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
}

export class UsageError extends Error {}

const HELP = `usage: pipeline.ts [targets…] [options]
       pipeline.ts gc [--yes]
       pipeline.ts worker --queue redis://host:port [--cpus N] [--gpus N]
       pipeline.ts [targets…] --executor slurm [--slurm-partition P] [--slurm-time T] …

targets: node ids, stage names or tags (e.g. figures); default: everything
  --config FILE     config file (default configs/default.yaml)
  --only S[,S]      run only these stages; their inputs must already be cached
  --force S|NODE    rebuild these stages / nodes even if fresh (repeatable, comma-separated)
  --dry-run         print the plan: fresh/stale and why; build nothing
  --explain NODE    why NODE is fresh or stale, and what its key is made of
  --json            machine-readable plan / summary on stdout
  --jobs N          size of the cpu pool (default: number of cores)
  --gpus N          size of the gpu pool (default 1)
  --queue URL       distributed: put stale nodes on the BullMQ queue at this Redis URL, for workers
                    on machines that share the store (S3 via AWS_* env, or one LOCAL_ROOT)
  --executor slurm  one Slurm job per stale node (sbatch from this checkout; the store must be shared):
    --slurm-partition P, --slurm-gpu-partition P (nodes asking for a GPU), --slurm-account A,
    --slurm-time T or STAGE=T (repeatable), --slurm-arg ARG (extra sbatch argument, repeatable),
    --slurm-resubmits N (jobs ended by Slurm, default 2), --slurm-log-dir DIR (default LOCAL_ROOT/slurm)
  --watch           rebuild on config / code changes (heavy stages are not started)
  --watch-heavy     in watch mode, start heavy stages too
  --in-process      run stages in this process instead of worker threads (debugging)
  --verbose         also print a line per cached node
gc: delete records, blobs, views and work dirs the current config cannot reach (dry run unless --yes)
worker: build nodes from the queue until stopped; --cpus / --gpus size its pools (default: cores / 1);
  STAGEWISE_QUEUE_LOCK_MS sets how soon a dead worker's node moves to another worker (default 30000)`;

function positiveInt(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got ${JSON.stringify(v ?? null)}`);
  return n;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const a: ParsedArgs = { command: 'run', targets: [], slurm: [], only: [], force: [], dryRun: false, json: false, watch: false, watchHeavy: false, inProcess: false, verbose: false, yes: false, help: false };
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    if (arg.startsWith('--') && arg.includes('=')) [arg, inline] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`${arg}: expected a value`);
      return v;
    };
    switch (arg) {
      case '--config': a.config = value(); break;
      case '--only': a.only.push(...list(value())); break;
      case '--force': a.force.push(...list(value())); break;
      case '--dry-run': a.dryRun = true; break;
      case '--explain': a.explain = value(); break;
      case '--json': a.json = true; break;
      case '--jobs': a.jobs = positiveInt('--jobs', value(), 1); break;
      case '--cpus': a.jobs = positiveInt('--cpus', value(), 0); break;
      case '--gpus': a.gpus = positiveInt('--gpus', value(), 0); break;
      case '--queue': a.queue = value(); break;
      case '--executor': {
        const v = value();
        if (v !== 'local' && v !== 'slurm') throw new UsageError(`--executor: expected local or slurm, got ${JSON.stringify(v)} (for BullMQ workers use --queue)`);
        a.executor = v;
        break;
      }
      case '--node': a.node = value(); break;
      case '--key': a.key = value(); break;
      case '--check': a.check = value(); break;
      case '--watch': a.watch = true; break;
      case '--watch-heavy': a.watch = true; a.watchHeavy = true; break;
      case '--in-process': a.inProcess = true; break;
      case '--verbose': a.verbose = true; break;
      case '--yes': a.yes = true; break;
      case '-h': case '--help': a.help = true; break;
      default:
        if (arg.startsWith('--slurm-')) {
          a.slurm.push([arg, value()]);
          break;
        }
        if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg} (see --help)`);
        if (a.targets.length === 0 && a.command === 'run' && (arg === 'gc' || arg === 'worker' || arg === 'build-node')) a.command = arg;
        else a.targets.push(arg);
    }
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
  return a;
}

/** Runs the CLI; resolves with the exit code (0 ok, 1 build failure, 2 usage/config error, 130/143 signal). */
export async function runCli(opts: CliOptions): Promise<number> {
  const code = await cliMain(opts);
  if (opts.setExitCode !== false) process.exitCode = code;
  return code;
}

async function cliMain(opts: CliOptions): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const say = (s: string) => stdout.write(`${s}\n`);
  const err = (s: string) => stderr.write(`${s}\n`);
  const env = opts.env ?? process.env;
  if (!opts.env && existsSync('.env')) loadDotenv({ path: '.env', quiet: true });
  const command = opts.command ?? 'npx tsx pipeline.ts';

  let args: ParsedArgs;
  try {
    args = parseArgs(opts.argv);
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 2;
  }
  if (args.help) {
    say(HELP);
    return 0;
  }
  if (args.command === 'worker') return workerCommand(args, opts, env);
  const configFile = args.config ?? opts.defaultConfig ?? 'configs/default.yaml';
  const load = async (): Promise<Graph> => {
    const raw = await (opts.loadConfig ?? readYamlFile)(configFile);
    const config = opts.configSchema ? validateConfig(raw, opts.configSchema, configFile) : raw;
    return buildGraph(await opts.declare(config, configFile));
  };

  let graph: Graph;
  let ids: string[];
  let force: Set<string>;
  try {
    graph = await load();
    ids = selectTargets(graph, args.targets);
    force = new Set<string>();
    for (const f of args.force) {
      const matched = matchTarget(graph, f);
      if (matched.length === 0) throw new UsageError(`--force ${f}: no node id, stage or tag of that name`);
      matched.forEach((id) => force.add(id));
    }
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 2;
  }

  const { store, local } = await openStore(env);
  const root = local.root;
  const ctx = { store, root, graph, force };

  const signals = handleSignals(opts, (sig) => err(`\n${sig}: cancelling running nodes…`));
  if (args.command === 'build-node') {
    try {
      const { buildNodeCommand } = await import('../distributed/slurm.ts');
      const runner = args.inProcess ? inProcessRunner() : workerPool({ stdout: stdout });
      try {
        return await buildNodeCommand({ graph, store, root, nodeId: args.node, key: args.key, check: args.check, force: args.force.length > 0, runner, signal: signals.controller.signal, out: stdout });
      } finally {
        await runner.close();
        await local.flush();
      }
    } catch (e) {
      err(`error: ${(e as Error).stack ?? e}`);
      return 1;
    } finally {
      signals.dispose();
    }
  }
  const { controller } = signals;
  const jobs = args.jobs ?? availableParallelism();
  const pools = new ResourcePools({ cpu: jobs, gpu: args.gpus ?? 1 });
  const makeRunner = (): StageRunner => (args.inProcess ? inProcessRunner() : workerPool({ stdout: stderr }));

  try {
    if (args.command === 'gc') {
      const { collectGarbage, gcSummary } = await import('../store/gc.ts');
      const r = await collectGarbage({ graph, store, root, yes: args.yes });
      if (args.json) say(JSON.stringify(r));
      else {
        r.items.forEach((i) => say(`${args.yes ? 'deleted' : 'would delete'} ${i}`));
        say(gcSummary(r));
      }
      return 0;
    }

    if (args.explain) {
      if (!graph.nodes.has(args.explain)) throw new UsageError(`--explain: no node ${args.explain}`);
      const plan = await planNodes(ctx, upstreamClosure(graph, [args.explain]));
      const a = plan.get(args.explain)!;
      if (args.json) say(JSON.stringify(explainJson(a, graph)));
      else say(explainText(a));
      return 0;
    }

    let onlyIds: Set<string> | null = null;
    if (args.only.length > 0) {
      const stages = new Set([...graph.nodes.values()].map((n) => n.decl.stage.name));
      const unknown = args.only.filter((s) => !stages.has(s));
      if (unknown.length) throw new UsageError(`--only: unknown stage ${unknown.join(', ')} (stages: ${[...stages].sort().join(', ')})`);
      const base = args.targets.length ? ids : graph.order;
      onlyIds = new Set(base.filter((id) => args.only.includes(graph.nodes.get(id)!.decl.stage.name)));
      ids = upstreamClosure(graph, onlyIds);
    }

    if (args.dryRun || onlyIds) {
      const plan = await planNodes(ctx, ids);
      if (args.dryRun) {
        printPlan(plan, graph, args.json, say);
        return 0;
      }
      const missing: string[] = [];
      for (const id of onlyIds!) {
        for (const up of graph.nodes.get(id)!.upstream) {
          const a = plan.get(up)!;
          if (onlyIds!.has(up) || a.status === 'fresh') continue;
          missing.push(`missing input ${up} for ${id} (${a.reasons.join('; ')}); build it with: ${command} ${up}`);
        }
      }
      if (missing.length > 0) {
        err(`error: --only ${args.only.join(',')}: ${missing.length} input(s) are not cached:\n  ${missing.join('\n  ')}`);
        return 1;
      }
    }

    if (args.watch) {
      if (args.inProcess) err('warning: --in-process with --watch: code edits change keys but run the code loaded at start; restart to pick them up');
      const { startWatch } = await import('../run/watch.ts');
      const live = await loadLiveRenderer(stderr);
      const handle = startWatch({
        configFile,
        load,
        targets: args.targets,
        store,
        root,
        makeRunner,
        pools,
        watchHeavy: args.watchHeavy,
        print: (l) => err(l),
        events: (total) => createReporter({ total, stream: stderr, live, verbose: args.verbose }),
        afterRun: async () => {
          await local.flush();
        },
      });
      handle.on('run', (s) => say(args.json ? summaryJson(s) : summaryLine(s)));
      handle.on('idle', () => err('watch: waiting for changes (Ctrl-C to stop)'));
      await new Promise<void>((res) => controller.signal.addEventListener('abort', () => res(), { once: true }));
      await handle.close();
      return signals.exitCode() ?? 0;
    }

    // ── distributed: stale nodes go to the queue instead of this process's pools ──
    const dispatcher = args.queue && !args.dryRun ? await (await import('../distributed/dispatch.ts')).openDispatcher({ url: args.queue, store, root, command, warn: (m) => err(`warning: ${m}`) }) : null;
    const slurm = args.executor === 'slurm' && !args.dryRun ? await openSlurm(args, { store, root, env, configFile, warn: (m) => err(`warning: ${m}`) }) : null;
    const progressStream = args.json ? stderr : stdout;
    const reporter = createReporter({ total: ids.length, stream: progressStream, live: await loadLiveRenderer(progressStream), verbose: args.verbose });
    const runner = makeRunner();
    let summary;
    try {
      summary = await runGraph({
        graph,
        ids,
        store,
        root,
        runner,
        pools,
        force,
        signal: controller.signal,
        events: reporter,
        remote: dispatcher?.build ?? slurm?.build,
        holdBack: onlyIds ? (node) => (onlyIds!.has(node.id) ? null : `not selected by --only (build it with: ${command} ${node.id})`) : undefined,
      });
    } finally {
      reporter.close();
      await runner.close();
      await dispatcher?.close();
      await slurm?.close();
      await local.flush();
    }
    say(args.json ? summaryJson(summary) : summaryLine(summary));
    const interrupted = signals.exitCode();
    if (interrupted !== null) return interrupted;
    return summary.failed > 0 || summary.skipped > 0 ? 1 : 0;
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    signals.dispose();
    clearCodeCache();
  }
}

function planEntry(a: Assessment, graph: Graph) {
  return { id: a.id, stage: a.stage, status: a.status, key: a.key, reasons: a.reasons, heavy: Boolean(graph.nodes.get(a.id)!.decl.stage.heavy) };
}

function printPlan(plan: Map<string, Assessment>, graph: Graph, json: boolean, say: (s: string) => void): void {
  const entries = [...plan.values()];
  const fresh = entries.filter((a) => a.status === 'fresh').length;
  if (json) {
    say(JSON.stringify({ dryRun: true, fresh, stale: entries.length - fresh, nodes: entries.map((a) => planEntry(a, graph)) }));
    return;
  }
  for (const a of entries) say(a.status === 'fresh' ? `fresh  ${a.id}` : `stale  ${a.id}: ${a.reasons.join('; ')}`);
  say(`${fresh} fresh, ${entries.length - fresh} stale (dry run: nothing built)`);
}

function explainJson(a: Assessment, graph: Graph) {
  return { ...planEntry(a, graph), fingerprint: a.fingerprint, codeFiles: a.code.codeFiles };
}

function explainText(a: Assessment): string {
  const lines = [`${a.id} (stage ${a.stage}): ${a.status}${a.reasons.length ? ` — ${a.reasons.join('; ')}` : ''}`];
  lines.push(`  key: ${a.key ?? '(unknown until upstream nodes are rebuilt)'}`);
  if (a.fingerprint) {
    const fp = a.fingerprint;
    lines.push(`  format version ${fp.formatVersion}, stage version ${fp.stageVersion}`);
    lines.push(`  params: ${JSON.stringify(fp.params)}`);
    lines.push(`  code ${fp.codeDigest.slice(0, 12)} over ${Object.keys(a.code.codeFiles).length} entries:`);
    for (const [f, h] of Object.entries(a.code.codeFiles).sort()) lines.push(`    ${f} ${f.startsWith('npm:') ? h : h.slice(0, 12)}`);
    lines.push('  inputs:');
    for (const [name, d] of Object.entries(fp.inputs)) lines.push(`    ${name}: ${Array.isArray(d) ? d.map((x) => x.slice(0, 12)).join(', ') : d.slice(0, 12)}`);
  }
  for (const w of a.code.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}


/**
 * SIGINT/SIGTERM (and opts.signal) abort `controller`; a second signal exits at once.
 * exitCode() is 130/143 once a signal arrived, else null.
 */
function handleSignals(opts: CliOptions, announce: (sig: 'SIGINT' | 'SIGTERM') => void) {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | null = null;
  const code = (sig: 'SIGINT' | 'SIGTERM') => (sig === 'SIGINT' ? 130 : 143);
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (received) process.exit(code(sig)); // second signal: do not wait
    received = sig;
    announce(sig);
    controller.abort(new Error(sig));
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  if (opts.handleSignals !== false) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }
  opts.signal?.addEventListener('abort', () => controller.abort(opts.signal!.reason), { once: true });
  return {
    controller,
    exitCode: (): number | null => (received ? code(received) : null),
    dispose() {
      if (opts.handleSignals === false) return;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/** `--executor slurm`: jobs re-run this very command line (node, its flags, the script) as `build-node`. */
async function openSlurm(args: ParsedArgs, o: { store: import('../types.ts').Store; root: string; env: NodeJS.ProcessEnv; configFile: string; warn(m: string): void }) {
  const { openSlurmExecutor, parseSlurmFlags } = await import('../distributed/slurm.ts');
  let slurm;
  try {
    slurm = parseSlurmFlags(args.slurm, o.env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const launcher = [process.execPath, ...process.execArgv, process.argv[1]];
  return openSlurmExecutor({ slurm, ...o, remoteStore: Boolean(o.env.AWS_BUCKET_NAME), launcher });
}

/** `pipeline.ts worker --queue URL`: builds queued nodes until SIGINT/SIGTERM (engine/queue-worker.ts). */
async function workerCommand(args: ParsedArgs, opts: CliOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const signals = handleSignals(opts, (sig) => stderr.write(`\n${sig}: stopping; running nodes go back to the queue…\n`));
  const { controller } = signals;
  try {
    const { runQueueWorker } = await import('../distributed/worker.ts');
    await runQueueWorker({
      url: args.queue!,
      cpus: args.jobs ?? availableParallelism(),
      gpus: args.gpus ?? 1,
      inProcess: args.inProcess,
      env,
      print: (line) => stdout.write(`${line}\n`),
      signal: controller.signal,
    });
    return signals.exitCode() ?? 0;
  } catch (e) {
    stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    signals.dispose();
  }
}
