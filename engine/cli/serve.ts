// `pipeline.ts serve`, `log NODE`, `graph [--format]`, and the dashboard next to a build (`--serve`).
import { DEFAULT_PORT, UsageError } from './args.ts';
import type { CommandContext } from './main.ts';
import type { Serving } from '../serve/commands.ts';

/** Resolves when `signal` aborts (Ctrl-C). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((res) => (signal.aborted ? res() : signal.addEventListener('abort', () => res(), { once: true })));
}

/** Starts the dashboard over this command's graph and store; `print` says where. */
export async function startServingFor(c: CommandContext, print: (line: string) => void): Promise<Serving> {
  const { startServing } = await import('../serve/commands.ts');
  return startServing({ configFile: c.configFile, graph: c.graph, store: c.store, root: c.root, host: c.args.host, port: c.args.port ?? DEFAULT_PORT, print });
}

export async function serveCommand(c: CommandContext): Promise<number> {
  const { followStore } = await import('../serve/start.ts');
  const { hub, dashboard } = await startServingFor(c, c.say);
  const follower = followStore({ hub, configFile: c.configFile, load: c.load, store: c.store, root: c.root, warn: (m) => c.err(`warning: ${m}`) });
  c.err('serving (read-only) until Ctrl-C');
  await untilAborted(c.signals.controller.signal);
  await follower.close();
  await dashboard.close();
  return c.signals.exitCode() ?? 0;
}

export async function logCommand(c: CommandContext): Promise<number> {
  const id = c.args.targets[0];
  if (!c.graph.nodes.has(id)) throw new UsageError(`log: no node ${id} (a node id, e.g. ${c.graph.order[0]})`);
  const { logCommand: nodeLogText } = await import('../serve/commands.ts');
  const log = await nodeLogText(c.graph, c.store, c.root, id);
  c.stdout.write(log.text);
  return log.found ? 0 : 1;
}

export async function graphCommand(c: CommandContext): Promise<number> {
  const { graphCommand: exportPlan } = await import('../serve/commands.ts');
  c.say(await exportPlan(c.graph, c.store, c.root, c.args.format));
  return 0;
}
