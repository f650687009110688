// `--explain NODE` and `--dry-run`: what would be built and why, building nothing.
import { upstreamClosure } from '../key/graph.ts';
import { planNodes } from '../key/plan.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './main.ts';
import { explainJson, explainText, printPlan } from './plan-output.ts';

export async function explainCommand({ args, graph, store, root, force, say }: CommandContext): Promise<number> {
  const id = args.explain!;
  if (!graph.nodes.has(id)) throw new UsageError(`--explain: no node ${id}`);
  const plan = await planNodes({ store, root, graph, force }, upstreamClosure(graph, [id]));
  const a = plan.get(id)!;
  say(args.json ? JSON.stringify(explainJson(a, graph)) : explainText(a));
  return 0;
}

export async function dryRunCommand({ args, graph, store, root, force, say }: CommandContext, ids: string[]): Promise<number> {
  printPlan(await planNodes({ store, root, graph, force }, ids), graph, args.json, say);
  return 0;
}
