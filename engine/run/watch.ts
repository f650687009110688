// Watch mode: on a change to the config or to code the planned stages import, re-plan, say what
// became stale and why, and rebuild it. Heavy nodes are reported but not started unless allowed:
// a figure tweak must never silently launch hours of training.
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { selectTargets, type Graph } from '../key/graph.ts';
import { clearCodeCache, stageCodeInfo } from '../key/keys.ts';
import { planNodes, type Assessment } from '../key/plan.ts';
import type { ResourcePools } from './pools.ts';
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
  let watcher: FSWatcher | null = null;
  let watched = new Set<string>();
  let runner: StageRunner | null = null;
  let timer: NodeJS.Timeout | null = null;
  let busy: Promise<void> | null = null;
  let pending = false;
  let codeChanged = true;
  let closed = false;
  const abort = new AbortController();

  const updateWatched = (files: Set<string>) => {
    const add = [...files].filter((f) => !watched.has(f));
    const remove = [...watched].filter((f) => !files.has(f));
    if (remove.length) watcher!.unwatch(remove);
    if (add.length) watcher!.add(add);
    watched = files;
  };

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
    const files = new Set([configPath]);
    for (const id of ids) for (const f of (await stageCodeInfo(graph.nodes.get(id)!.decl.stage)).localFiles) files.add(f);
    updateWatched(files);

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

  const trigger = () => {
    if (closed) return;
    if (busy) {
      pending = true;
      return;
    }
    busy = cycle()
      .catch((err) => {
        opts.print(`watch: ${(err as Error).stack ?? err}`);
        emitter.emit('problem', err as Error);
      })
      .finally(() => {
        busy = null;
        if (pending && !closed) {
          pending = false;
          trigger();
        } else if (!closed) emitter.emit('idle');
      });
  };

  watcher = chokidarWatch([configPath], { ignoreInitial: true });
  watched = new Set([configPath]);
  watcher.on('all', (_event, path) => {
    if (resolve(path) !== configPath) codeChanged = true;
    if (timer) clearTimeout(timer);
    timer = setTimeout(trigger, opts.debounceMs ?? 200);
  });
  watcher.on('ready', trigger);

  emitter.close = async () => {
    closed = true;
    if (timer) clearTimeout(timer);
    abort.abort();
    await busy;
    await watcher?.close();
    await runner?.close();
  };
  return emitter;
}
