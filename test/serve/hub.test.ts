// The dashboard's model without a browser: grouping of node ids, state transitions from a run's
// events, what standalone `serve` infers from the store (a live lock = running, a failure file =
// failed), and series merged across records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readYamlFile, validateConfig } from '../../engine/cli/config.ts';
import { buildGraph } from '../../engine/key/graph.ts';
import { planNodes } from '../../engine/key/plan.ts';
import type { NodeOutcome } from '../../engine/run/scheduler.ts';
import { results } from '../../engine/serve/details.ts';
import { groupOf, labelInGroup, withoutCoordinate } from '../../engine/serve/groups.ts';
import { Hub } from '../../engine/serve/hub.ts';
import { planAll, showOthersProgress } from '../../engine/serve/start.ts';
import { acquireLock } from '../../engine/store/lock.ts';
import { openLocalStore } from '../../engine/store/local.ts';
import { configSchema, declare, type DashConfig } from './fixtures/pipeline.ts';
import { DashSandbox } from './helpers.ts';

test('groups: nodes differing only in their last coordinate share a group', () => {
  assert.is(groupOf('evaluate[seed=0,M=inf,step=12]'), 'evaluate[seed=0,M=inf]');
  assert.is(groupOf('tasks[M=inf]'), 'tasks');
  assert.is(groupOf('figures-index'), 'figures-index');
  assert.is(groupOf('p[a=[1,2],b=3]'), 'p[a=[1,2]]', 'commas inside brackets do not split');
  assert.is(labelInGroup('evaluate[seed=0,M=inf,step=12]'), 'step=12');
  assert.is(labelInGroup('side'), 'side');
  assert.is(withoutCoordinate('llc[seed=0,M=inf,step=40]', 'step'), 'llc[seed=0,M=inf]');
  assert.is(withoutCoordinate('llc[step=40]', 'step'), 'llc');
});

async function toyGraph(sb: DashSandbox) {
  return buildGraph(declare(validateConfig(await readYamlFile(sb.config), configSchema, sb.config) as DashConfig));
}

test('hub: stale → running (progress, rate, ETA) → built; a new run makes last run\'s built plain fresh; failures carry the error', async () => {
  const sb = new DashSandbox();
  try {
    sb.writeConfig({ count: { n: 2, delayMs: 0 } });
    const graph = await toyGraph(sb);
    const store = openLocalStore(sb.root);
    const hub = new Hub(sb.config);
    const seen: string[] = [];
    hub.subscribe((e) => e.type === 'node' && seen.push(`${e.node.id}:${e.node.state}`));
    hub.setPlan(graph, await planNodes({ store, root: sb.root, graph, force: new Set() }, graph.order));
    assert.equal([...hub.views.values()].map((v) => `${v.id}:${v.state}:${v.reasons.join(';')}`), ['count:stale:never built', 'side:stale:never built', 'plot:stale:upstream count will be rebuilt']);

    const ev = hub.runEvents(3);
    ev.start('count', ['never built']);
    ev.progress('count', 1, 4, 'steps');
    await new Promise((r) => setTimeout(r, 30));
    ev.progress('count', 4, 4, 'steps');
    const p = hub.views.get('count')!.progress!;
    assert.is(p.done, 4);
    assert.ok(p.rate! > 0 && p.eta === 0, JSON.stringify(p));
    ev.log('count', 'info', 'hello');
    assert.is(hub.liveLogs.get('count')!.lines()[0].msg, 'hello');
    const outcome = (id: string, status: NodeOutcome['status'], error?: string): NodeOutcome => ({ id, stage: graph.nodes.get(id)!.decl.stage.name, status, key: null, seconds: 0.1, ...(error ? { error } : {}) });
    ev.finish(outcome('count', 'built'));
    ev.finish(outcome('plot', 'failed', 'boom'));
    ev.finish(outcome('side', 'skipped', 'interrupted before it started'));
    hub.runFinished({ built: 1, cached: 0, failed: 1, skipped: 1, seconds: 1, nodes: [] });
    assert.equal([...hub.views.values()].map((v) => v.state), ['built', 'skipped', 'failed']);
    assert.is(hub.views.get('plot')!.error, 'boom');
    assert.equal(hub.run, { ...hub.run, active: false, total: 3, finished: 3, built: 1, failed: 1, skipped: 1 });
    assert.equal(seen.slice(0, 2), ['count:running', 'count:running']);

    hub.runEvents(1);
    assert.is(hub.views.get('count')!.state, 'fresh', "a new run: last run's 'built' is plain up to date");
  } finally {
    await sb.cleanup();
  }
});

test('standalone serve: a live build lock shows running, a failure file at the current key shows failed; series merge across records', async () => {
  const sb = new DashSandbox();
  try {
    sb.writeConfig({ count: { n: 3, delayMs: 0 }, fail: true });
    assert.is((await sb.cli(['--in-process'])).code, 1);
    sb.writeConfig({ count: { n: 3, delayMs: 0 }, fail: true, side: 5 });
    const graph = await toyGraph(sb);
    const store = openLocalStore(sb.root);
    const sideKey = (await planNodes({ store, root: sb.root, graph, force: new Set() }, graph.order)).get('side')!.key!;
    // Another live process (this one) holds side's build lock: queued there until it starts.
    const held = await acquireLock(sb.root, sideKey);
    const hub = new Hub(sb.config);
    await planAll(hub, graph, store, sb.root);
    assert.is(hub.views.get('side')!.state, 'stale');
    assert.is(hub.views.get('side')!.reasons[0], 'queued in another process');
    await held.started();
    await planAll(hub, graph, store, sb.root);
    await held.release();
    const state = Object.fromEntries([...hub.views.values()].map((v) => [v.id, v.state]));
    assert.equal(state, { count: 'fresh', side: 'running', boom: 'failed', plot: 'fresh' });
    assert.is(hub.views.get('boom')!.error, 'boom: the toy stage failed on purpose');
    assert.is(hub.views.get('side')!.runner, 'another process');

    const r = await results({ hub, store, root: sb.root });
    assert.equal(r.charts, [{ chart: 'inverse', x: 'step', y: 'inverse', logX: false, logY: false, lines: [{ name: 'count', points: [[1, 1], [2, 0.5], [3, 1 / 3]] }] }]);
    assert.equal(r.figures.map((f) => [f.node, f.file, f.title, f.caption, f.section]), [['plot', 'bar.svg', 'The count', 'counted to 3', 'Toys']]);
    assert.equal(r.groups.find((g) => g.group === 'boom')!.counts, { failed: 1 });
  } finally {
    await sb.cleanup();
  }
});

test("standalone serve: another process's progress is read from its build lock (rate from two reports; a re-plan keeps it)", async () => {
  const sb = new DashSandbox();
  try {
    sb.writeConfig({ count: { n: 3, delayMs: 0 }, side: 5 });
    const graph = await toyGraph(sb);
    const store = openLocalStore(sb.root);
    const sideKey = (await planNodes({ store, root: sb.root, graph, force: new Set() }, graph.order)).get('side')!.key!;
    const lock = await acquireLock(sb.root, sideKey); // the builder in "another process"
    await lock.started();
    try {
      const hub = new Hub(sb.config);
      await planAll(hub, graph, store, sb.root);
      showOthersProgress(hub, sb.root);
      assert.is(hub.views.get('side')!.progress, undefined, 'nothing published yet');
      lock.progress(2, 10, 'steps');
      await new Promise((r) => setTimeout(r, 100));
      showOthersProgress(hub, sb.root);
      assert.equal(hub.views.get('side')!.progress, { done: 2, total: 10, unit: 'steps' });
      await new Promise((r) => setTimeout(r, 400));
      lock.progress(6, 10, 'steps'); // 4 steps in ≈ 0.5 s of the builder's time
      await new Promise((r) => setTimeout(r, 700));
      showOthersProgress(hub, sb.root);
      const p = hub.views.get('side')!.progress!;
      assert.is(p.done, 6);
      assert.ok(p.rate! > 5 && p.rate! <= 8.5, `4 steps in ≈ 0.5 s between the two reports, got ${p.rate}/s`);
      assert.ok(Math.abs(p.eta! - 4 / p.rate!) < 1e-9);
      await planAll(hub, graph, store, sb.root);
      assert.is(hub.views.get('side')!.progress!.done, 6, 'a re-plan keeps the progress of a node still running at the same key');
      assert.is(hub.views.get('count')!.progress, undefined, 'nodes that are not running have none');
    } finally {
      await lock.release();
    }
  } finally {
    await sb.cleanup();
  }
});

test.run();
