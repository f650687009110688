// The re-run helper shared by watch mode and the standalone dashboard (engine/run/rerun.ts).
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rerunner, stageCodeFiles } from '../../engine/run/rerun.ts';
import type { Graph } from '../../engine/key/graph.ts';
import { llcStage } from '../../stages/llc.ts';

test('requests while a cycle runs coalesce into one more cycle; close waits for the running one and stops the rest', async () => {
  const events: string[] = [];
  let release: () => void = () => {};
  let runs = 0;
  const r = rerunner(
    async () => {
      runs++;
      events.push(`start ${runs}`);
      await new Promise<void>((res) => (release = res));
      events.push(`end ${runs}`);
    },
    { debounceMs: 10, onError: (err) => events.push(`error ${err.message}`), onIdle: () => events.push('idle') },
  );
  r.now();
  r.now();
  r.now();
  release();
  await new Promise((res) => setTimeout(res, 5));
  release();
  await new Promise((res) => setTimeout(res, 5));
  assert.equal(events, ['start 1', 'end 1', 'start 2', 'end 2', 'idle']);
  r.now();
  const closed = r.close();
  r.now(); // after close: ignored
  release();
  await closed;
  assert.is(runs, 3);
  assert.equal(events.slice(5), ['start 3', 'end 3']);
});

test('a burst of soon() is one cycle after the debounce; a failing cycle goes to onError', async () => {
  const seen: string[] = [];
  const r = rerunner(
    async () => {
      seen.push('run');
      throw new Error('bad config');
    },
    { debounceMs: 20, onError: (err) => seen.push(err.message) },
  );
  for (let i = 0; i < 5; i++) r.soon();
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(seen, ['run', 'bad config']);
  await r.close();
});

test('the watched code files are the import closure of each stage, its run module and what that imports included', async () => {
  const graph = { nodes: new Map([['llc[x]', { decl: { stage: llcStage } }]]), order: ['llc[x]'] } as unknown as Graph;
  const files = await stageCodeFiles(graph, graph.order);
  for (const f of ['../../stages/llc.ts', '../../stages/llc-run.ts', '../../lib/llc.ts']) {
    assert.ok(files.has(fileURLToPath(new URL(f, import.meta.url))), f);
  }
});

test.run();
