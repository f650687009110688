// `pipeline.ts [targets…]`: bring the targets up to date — here, on a queue (--queue), or on every
// change (--watch). `--only` narrows the run to some stages whose inputs must already be cached.
import { sweepOrphans } from '../store/fsutil.ts';
import { upstreamClosure } from '../key/graph.ts';
import { planNodes } from '../key/plan.ts';
import { createReporter, loadLiveRenderer, summaryJson, summaryLine } from '../run/progress.ts';
import { runGraph } from '../run/scheduler.ts';
import { teeEvents } from '../serve/hub.ts';
import { UsageError } from './args.ts';
import { dryRunCommand } from './explain.ts';
import type { CommandContext } from './main.ts';
import { startServingFor, untilAborted } from './serve.ts';

export async function buildCommand(c: CommandContext): Promise<number> {
  const { args, graph, store, root, local, force, say, err, command, signals, pools, makeRunner } = c;
  let ids = c.ids;
  let onlyIds: Set<string> | null = null;
  if (args.only.length > 0) {
    const stages = new Set([...graph.nodes.values()].map((n) => n.decl.stage.name));
    const unknown = args.only.filter((s) => !stages.has(s));
    if (unknown.length) throw new UsageError(`--only: unknown stage ${unknown.join(', ')} (stages: ${[...stages].sort().join(', ')})`);
    const base = args.targets.length ? ids : graph.order;
    onlyIds = new Set(base.filter((id) => args.only.includes(graph.nodes.get(id)!.decl.stage.name)));
    ids = upstreamClosure(graph, onlyIds);
  }
  if (args.dryRun) return dryRunCommand(c, ids);

  if (onlyIds) {
    const plan = await planNodes({ store, root, graph, force }, ids);
    const missing: string[] = [];
    for (const id of onlyIds) {
      for (const up of graph.nodes.get(id)!.upstream) {
        const a = plan.get(up)!;
        if (onlyIds.has(up) || a.status === 'fresh') continue;
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
    const live = await loadLiveRenderer(c.stderr);
    const serving = args.serve ? await startServingFor(c, say) : null;
    const handle = startWatch({
      configFile: c.configFile,
      load: c.load,
      targets: args.targets,
      store,
      root,
      makeRunner,
      pools,
      watchHeavy: args.watchHeavy,
      print: (l) => err(l),
      events: (total) => {
        const reporter = createReporter({ total, stream: c.stderr, live, verbose: args.verbose });
        return serving ? teeEvents(reporter, serving.hub.runEvents(total)) : reporter;
      },
      afterRun: async () => {
        await local.flush();
      },
    });
    handle.on('run', (s) => say(args.json ? summaryJson(s) : summaryLine(s)));
    if (serving) {
      handle.on('planned', (g, plan) => serving.hub.setPlan(g, plan));
      handle.on('run', (s) => serving.hub.runFinished(s));
      handle.on('problem', (e) => serving.hub.setProblem(e.message));
    }
    handle.on('idle', () => err('watch: waiting for changes (Ctrl-C to stop)'));
    await new Promise<void>((res) => signals.controller.signal.addEventListener('abort', () => res(), { once: true }));
    await handle.close();
    await serving?.dashboard.close();
    return signals.exitCode() ?? 0;
  }

  // Distributed: stale nodes go to the queue instead of this process's pools.
  const dispatcher = args.queue ? await (await import('../distributed/dispatch.ts')).openDispatcher({ url: args.queue, store, root, command, warn: (m) => err(`warning: ${m}`) }) : null;
  const slurm = args.executor === 'slurm' ? await (await import('./build-node.ts')).openSlurm(c) : null;
  const progressStream = args.json ? c.stderr : c.stdout;
  const reporter = createReporter({ total: ids.length, stream: progressStream, live: await loadLiveRenderer(progressStream), verbose: args.verbose });
  const serving = args.serve ? await startServingFor(c, (l) => progressStream.write(`${l}\n`)) : null;
  const runner = makeRunner();
  const sweeping = sweepOrphans(root);
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
      signal: signals.controller.signal,
      events: serving ? teeEvents(reporter, serving.hub.runEvents(ids.length)) : reporter,
      remote: dispatcher?.build ?? slurm?.build,
      holdBack: onlyIds ? (node) => (onlyIds.has(node.id) ? null : `not selected by --only (build it with: ${command} ${node.id})`) : undefined,
    });
  } finally {
    reporter.close();
    await runner.close();
    await dispatcher?.close();
    await slurm?.close();
    await local.flush();
    await sweeping;
  }
  say(args.json ? summaryJson(summary) : summaryLine(summary));
  const interrupted = signals.exitCode();
  if (interrupted !== null) {
    await serving?.dashboard.close();
    return interrupted;
  }
  const code = summary.failed > 0 || summary.skipped > 0 ? 1 : 0;
  if (serving) {
    // The run is over; the page stays up to look at results and logs.
    serving.hub.runFinished(summary);
    err(`dashboard: still serving ${serving.dashboard.url} (Ctrl-C to stop)`);
    await untilAborted(signals.controller.signal);
    await serving.dashboard.close();
  }
  return code;
}
