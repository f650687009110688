// The CLI's dashboard-related commands: `serve`, `graph`, `log NODE`, and `--serve` next to a build.
import type { Graph } from '../key/graph.ts';
import { planNodes } from '../key/plan.ts';
import type { Store } from '../types.ts';
import { nodeLog } from './details.ts';
import { exportGraph, type GraphFormat } from './export.ts';
import { Hub } from './hub.ts';
import type { Dashboard } from './server.ts';
import { openDashboard, planAll } from './start.ts';

export async function graphCommand(graph: Graph, store: Store, root: string, format: GraphFormat): Promise<string> {
  const plan = await planNodes({ store, root, graph, force: new Set() }, graph.order);
  return exportGraph(graph, plan, format);
}

/** `pipeline.ts log NODE`: a header line, then the log (of its current or last build, or its last failure). */
export async function logCommand(graph: Graph, store: Store, root: string, id: string): Promise<{ text: string; found: boolean }> {
  const log = await nodeLog({ graph, store, root }, id);
  return { text: `# ${log.header}\n${log.text}`, found: log.source !== 'none' };
}

export interface Serving {
  hub: Hub;
  dashboard: Dashboard;
}

/** Starts the dashboard over `graph` (planned in full) and prints where it is. */
export async function startServing(opts: { configFile: string; graph: Graph; store: Store; root: string; host?: string; port?: number; print(line: string): void }): Promise<Serving> {
  const hub = new Hub(opts.configFile);
  await planAll(hub, opts.graph, opts.store, opts.root);
  const dashboard = await openDashboard({ hub, store: opts.store, root: opts.root, host: opts.host, port: opts.port }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') throw new Error(`--port ${opts.port}: address in use (another dashboard?); choose one with --port P, or --port 0 for any free port`);
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new Error(`--host ${opts.host}: not an address of this machine`);
    throw err;
  });
  const host = opts.host ?? '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) {
    opts.print(`warning: --host ${host}: the dashboard is reachable from other machines (read-only, but it shows params, code paths, logs and outputs)`);
  }
  opts.print(`dashboard: ${dashboard.url}`);
  return { hub, dashboard };
}
