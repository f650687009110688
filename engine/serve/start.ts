// Starting the dashboard: bundle the client (esbuild, once per process), open the server, and — for
// `pipeline.ts serve` without a build in this process — keep the plan current as the store, the
// config or the code change (another process building shows up: its lock = running, its record = built).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watch as chokidarWatch } from 'chokidar';
import type { Graph } from '../key/graph.ts';
import { clearCodeCache } from '../key/keys.ts';
import { rerunner, rewatch, stageCodeFiles } from '../run/rerun.ts';
import { isStale, lockPath, lockStarted, readLockProgress } from '../store/lock.ts';
import { readFailure } from '../store/logs.ts';
import { planNodes } from '../key/plan.ts';
import type { Store } from '../types.ts';
import { Hub } from './hub.ts';
import { readAsset, startDashboard, type Dashboard } from './server.ts';

let bundled: Promise<string> | null = null;

/** The client bundle (assets/app.ts with its layout and chart libraries), built in memory. */
export function clientBundle(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [fileURLToPath(new URL('./assets/app.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
    });
    return out.outputFiles[0].text;
  })();
  return bundled;
}

export interface OpenDashboardOptions {
  hub: Hub;
  store: Store;
  root: string;
  host?: string;
  port?: number;
}

export async function openDashboard(opts: OpenDashboardOptions): Promise<Dashboard> {
  const assets = { js: await clientBundle(), css: readAsset('style.css'), html: readAsset('index.html') };
  return startDashboard({ ...opts, assets });
}

/**
 * Plans every node of `graph`; a stale node whose build lock a live process holds is running there
 * (or queued there, until that process marks it started), and one whose last attempt at its current
 * key failed is shown failed.
 */
export async function planAll(hub: Hub, graph: Graph, store: Store, root: string): Promise<void> {
  const plan = await planNodes({ store, root, graph, force: new Set() }, graph.order);
  const seen: Parameters<Hub['setPlan']>[2] = new Map();
  for (const a of plan.values()) {
    if (a.status !== 'stale' || !a.key) continue;
    const file = lockPath(root, a.key);
    if (existsSync(file) && !isStale(file)) seen.set(a.id, lockStarted(file) ? { state: 'running', runner: 'another process' } : { state: 'queued', runner: 'another process' });
    else {
      const f = readFailure(root, a.stage, a.id);
      if (f && f.key === a.key && !f.interrupted) seen.set(a.id, { state: 'failed', error: f.error });
    }
  }
  hub.setPlan(graph, plan, seen);
}

const PROGRESS_POLL_MS = 1_000;

/** The progress of every node that another process is building, as its build lock holder published it. */
export function showOthersProgress(hub: Hub, root: string): void {
  if (hub.run.active) return; // this process builds: its own run reports progress
  for (const v of hub.views.values()) {
    if (v.state !== 'running' || !v.runner || !v.key) continue;
    const p = readLockProgress(root, v.key);
    if (p) hub.showProgress(v.id, p.done, p.total, p.unit, p.at);
  }
}

export interface FollowOptions {
  hub: Hub;
  configFile: string;
  load(): Promise<Graph>;
  store: Store;
  root: string;
  debounceMs?: number;
  warn(msg: string): void;
}

/**
 * Re-plans when the config, the stage code or the store changes (records, locks, failures).
 * For `serve` alone; a build in this process feeds the hub its events instead.
 */
export function followStore(opts: FollowOptions): { close(): Promise<void> } {
  const root = resolve(opts.root);
  const dirs = ['records', 'locks', 'failures'].map((d) => join(root, d));
  // Progress files change every second while another process builds: read by the poll below, they
  // are no reason to re-plan.
  const watcher = chokidarWatch([resolve(opts.configFile), ...dirs], { ignoreInitial: true, depth: 2, ignored: (p: string) => /\.(progress|tmp)$/.test(p) });
  let codeFiles = new Set<string>();

  const cycle = async () => {
    let graph: Graph;
    try {
      clearCodeCache();
      graph = await opts.load();
    } catch (err) {
      opts.hub.setProblem((err as Error).message);
      return;
    }
    codeFiles = rewatch(watcher, codeFiles, await stageCodeFiles(graph, graph.order));
    await planAll(opts.hub, graph, opts.store, opts.root);
  };
  const runs = rerunner(cycle, { debounceMs: opts.debounceMs ?? 250, onError: (err) => opts.warn(`serve: re-planning failed: ${err.message}`) });
  watcher.on('all', runs.soon);
  watcher.on('ready', runs.now);
  // Stale locks (a killed builder) stop counting after a while without any file event: look again now and then.
  const poll = setInterval(() => opts.hub.run.active || runs.now(), 15_000);
  poll.unref();
  const progress = setInterval(() => showOthersProgress(opts.hub, root), PROGRESS_POLL_MS);
  progress.unref();
  return {
    async close() {
      clearInterval(poll);
      clearInterval(progress);
      await runs.close();
      await watcher.close();
    },
  };
}
