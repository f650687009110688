// What watch mode (run/watch.ts) and the standalone dashboard (serve/start.ts) share: re-running one
// cycle on file events, one at a time, and keeping the watcher on exactly the code the graph imports.
import type { FSWatcher } from 'chokidar';
import type { Graph } from '../key/graph.ts';
import { stageCodeInfo } from '../key/keys.ts';

export interface Rerunner {
  /** Run the cycle now, or once more after the one in progress. */
  now(): void;
  /** Run it after `debounceMs` without another call (a burst of file events is one run). */
  soon(): void;
  /** No more runs; resolves when the one in progress has finished. */
  close(): Promise<void>;
}

/**
 * Runs `cycle` one at a time: requests while one runs coalesce into a single further run. A failed
 * cycle goes to `onError` (the watcher outlives it); `onIdle` follows a run with nothing queued.
 */
export function rerunner(cycle: () => Promise<void>, opts: { debounceMs: number; onError(err: Error): void; onIdle?(): void }): Rerunner {
  let busy: Promise<void> | null = null;
  let again = false;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  const now = () => {
    if (closed) return;
    if (busy) {
      again = true;
      return;
    }
    busy = cycle()
      .catch((err) => opts.onError(err as Error))
      .finally(() => {
        busy = null;
        if (closed) return;
        if (again) {
          again = false;
          now();
        } else opts.onIdle?.();
      });
  };
  return {
    now,
    soon() {
      if (timer) clearTimeout(timer);
      timer = setTimeout(now, opts.debounceMs);
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await busy;
    },
  };
}

/** The local code files of the given nodes' stages (declaration and run modules, with their imports). */
export async function stageCodeFiles(graph: Graph, ids: Iterable<string>): Promise<Set<string>> {
  const files = new Set<string>();
  for (const id of ids) for (const f of (await stageCodeInfo(graph.nodes.get(id)!.decl.stage)).localFiles) files.add(f);
  return files;
}

/** Moves the watcher from the files in `watched` to those in `files`; returns the new set. */
export function rewatch(watcher: FSWatcher, watched: Set<string>, files: Set<string>): Set<string> {
  const gone = [...watched].filter((f) => !files.has(f));
  const add = [...files].filter((f) => !watched.has(f));
  if (gone.length) watcher.unwatch(gone);
  if (add.length) watcher.add(add);
  return files;
}
