// The command line: `npx tsx pipeline.ts [targets…] [flags]`, `pipeline.ts gc`, `pipeline.ts worker`.
// This module reads the arguments, the config and the store, then hands over to one module per
// command (build.ts, explain.ts, gc.ts, worker.ts). Every setup mistake — usage, config, store
// settings — ends as `error: …` lines on stderr and exit code 2, before anything is built.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { config as loadDotenv } from 'dotenv';
import type { z } from 'zod';
import { errorLines, exitCodeOf, HELP, parseArgs, UsageError, type ParsedArgs } from './args.ts';
import { readYamlFile, validateConfig } from './config.ts';
import { buildGraph, matchTarget, selectTargets, type Graph } from '../key/graph.ts';
import { clearCodeCache } from '../key/keys.ts';
import { ResourcePools } from '../run/pools.ts';
import { inProcessRunner, workerPool, type StageRunner } from '../run/runner.ts';
import { openStore } from '../store/open.ts';
import type { LocalStore } from '../store/local.ts';
import type { NodeDecl, Store } from '../types.ts';
import { buildCommand } from './build.ts';
import { explainCommand } from './explain.ts';
import { gcCommand } from './gc.ts';
import { graphCommand, logCommand, serveCommand } from './serve.ts';
import { handleSignals } from './signals.ts';
import { workerCommand } from './worker.ts';

export { parseArgs, UsageError, type ParsedArgs } from './args.ts';

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

/** What a command gets: the parsed arguments, the graph and selected ids, the store, pools and output. */
export interface CommandContext {
  args: ParsedArgs;
  configFile: string;
  /** Re-reads the config and rebuilds the graph (watch mode). */
  load: () => Promise<Graph>;
  graph: Graph;
  ids: string[];
  force: Set<string>;
  store: Store;
  local: LocalStore;
  root: string;
  pools: ResourcePools;
  makeRunner: () => StageRunner;
  signals: ReturnType<typeof handleSignals>;
  command: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  say: (line: string) => void;
  err: (line: string) => void;
}

/** Runs the CLI; resolves with the exit code (0 ok, 1 build failure, 2 usage/config/store error, 130/143 signal). */
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
    err(errorLines(e));
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

  // Setup: config → graph → targets → store. Any failure here is exit 2 and nothing is built.
  let setup;
  try {
    const graph = await load();
    const ids = selectTargets(graph, args.targets);
    const force = new Set<string>();
    for (const f of args.force) {
      const matched = matchTarget(graph, f);
      if (matched.length === 0) throw new UsageError(`--force ${f}: no node id, stage or tag of that name`);
      matched.forEach((id) => force.add(id));
    }
    const { store, local } = await openStore(env);
    setup = { graph, ids, force, store, local };
  } catch (e) {
    err(errorLines(e));
    return 2;
  }

  const signals = handleSignals(opts, (sig) => err(`\n${sig}: cancelling running nodes…`));
  const ctx: CommandContext = {
    args,
    configFile,
    load,
    ...setup,
    root: setup.local.root,
    pools: new ResourcePools({ cpu: args.jobs ?? availableParallelism(), gpu: args.gpus ?? 1 }),
    makeRunner: () => (args.inProcess ? inProcessRunner() : workerPool({ stdout: stderr })),
    signals,
    command,
    stdout,
    stderr,
    say,
    err,
  };
  try {
    if (args.command === 'gc') return await gcCommand(ctx);
    if (args.command === 'graph') return await graphCommand(ctx);
    if (args.command === 'log') return await logCommand(ctx);
    if (args.command === 'serve') return await serveCommand(ctx);
    if (args.command === 'build-node') return await (await import('./build-node.ts')).buildNodeCliCommand(ctx);
    if (args.explain) return await explainCommand(ctx);
    return await buildCommand(ctx);
  } catch (e) {
    err(errorLines(e));
    return exitCodeOf(e);
  } finally {
    signals.dispose();
    clearCodeCache();
  }
}
