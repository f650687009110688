// `pipeline.ts gc [--yes]`: delete what the current config cannot reach (a dry run without --yes).
import type { CommandContext } from './main.ts';

export async function gcCommand({ args, graph, store, root, say }: CommandContext): Promise<number> {
  const { collectGarbage, gcSummary } = await import('../store/gc.ts');
  const r = await collectGarbage({ graph, store, root, yes: args.yes });
  if (args.json) say(JSON.stringify(r));
  else {
    r.items.forEach((i) => say(`${args.yes ? 'deleted' : 'would delete'} ${i}`));
    say(gcSummary(r));
  }
  return 0;
}
