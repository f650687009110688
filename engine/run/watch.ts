// Watch mode: on a change to the config or to code the planned stages import, re-plan, say what
// became stale and why, and rebuild it. Heavy nodes are reported but not started unless allowed:
// a figure tweak must never silently launch hours of training.
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { selectTargets, type Graph } from '../key/graph.ts';
import { clearCodeCache } from '../key/keys.ts';
import { planNodes, type Assessment } from '../key/plan.ts';
import type { ResourcePools } from './pools.ts';
import { rerunner, rewatch, stageCodeFiles } from './rerun.ts';
import type { StageRunner } from './runner.ts';
import { runGraph, type RunEvents, type RunSummary } from './scheduler.ts';
import type { Store } from '../types.ts';

export interface WatchOptions {
  configFile: string;
  /** Reads the config and declares the graph; throws (ConfigError, graph error) when it cannot. */
  load(): Promise<Graph>;
  targets: string[];
  store: Store;
  root: string;
  /** A fresh runner: called again after code changes so workers import the new code. */
  makeRunner(): StageRunner;
  pools: ResourcePools;
  watchHeavy: boolean;
  debounceMs?: number;
  print(line: string): void;
  events(total: number): RunEvents & { close(): void };
  /** Called after each run, e.g. to flush the store's caches. */
  afterRun?(): Promise<void>;
}

export interface WatchHandle extends EventEmitter<{
  plan: [stale: Assessment[]];
  /** The whole plan of each cycle (for the dashboard). */
  planned: [graph: Graph, plan: Map<string, Assessment>];
  run: [summary: RunSummary];
  /** A config or graph that cannot be planned, or a failed cycle; printed already. Not named 'error':
   *  EventEmitter throws an 'error' nobody listens to, and watch mode must outlive a bad edit. */
  problem: [err: Error];
  idle: [];
}> {
  close(): Promise<void>;
}

export function startWatch(opts: WatchOptions): WatchHandle {
  const emitter = new EventEmitter() as WatchHandle;
  const configPath = resolve(opts.configFile);
  const watcher: FSWatcher = chokidarWatch([configPath], { ignoreInitial: true });
  let watched = new Set([configPath]);
  let runner: StageRunner | null = null;
  let codeChanged = true;
  const abort = new AbortController();

  const cycle = async () => {
    let graph: Graph;
    try {
      clearCodeCache();
      graph = await opts.load();
    } catch (err) {
      opts.print(`watch: ${(err as Error).message}\nwatch: keeping the last good state; waiting for a fix`);
      emitter.emit('problem', err as Error);
      return;
    }
    const ids = selectTargets(graph, opts.targets);
    watched = rewatch(watcher, watched, new Set([configPath, ...(await stageCodeFiles(graph, ids))]));

    const plan = await planNodes({ store: opts.store, root: opts.root, graph, force: new Set() }, ids);
    const stale = [...plan.values()].filter((a) => a.status === 'stale');
    for (const a of stale) {
      const heavy = graph.nodes.get(a.id)!.decl.stage.heavy;
      const held = heavy && !opts.watchHeavy ? ' [heavy: not started; use --watch-heavy]' : '';
      opts.print(`stale ${a.id}: ${a.reasons.join('; ')}${held}`);
    }
    emitter.emit('plan', stale);
    emitter.emit('planned', graph, plan);
    if (stale.length === 0) return;
    if (codeChanged || !runner) {
      await runner?.close();
      runner = opts.makeRunner();
      codeChanged = false;
    }
    const events = opts.events(ids.length);
    const summary = await runGraph({
      graph,
      ids,
      store: opts.store,
      root: opts.root,
      runner,
      pools: opts.pools,
      signal: abort.signal,
      events,
      holdBack: (node) => (node.decl.stage.heavy && !opts.watchHeavy ? 'heavy stage: not started in watch mode (use --watch-heavy)' : null),
    });
    events.close();
    await opts.afterRun?.();
    emitter.emit('run', summary);
  };

  const runs = rerunner(cycle, {
    debounceMs: opts.debounceMs ?? 200,
    onError: (err) => {
      opts.print(`watch: ${err.stack ?? err}`);
      emitter.emit('problem', err);
    },
    onIdle: () => emitter.emit('idle'),
  });
  watcher.on('all', (_event, path) => {
    if (resolve(path) !== configPath) codeChanged = true;
    runs.soon();
  });
  watcher.on('ready', runs.now);

  emitter.close = async () => {
    const finished = runs.close(); // no further cycles from here on
    abort.abort();
    await finished;
    await watcher.close();
    await runner?.close();
  };
  return emitter;
}
