// Watch mode with real chokidar on a temp dir: a config edit rebuilds what became stale; a heavy
// node is reported but not started; a broken config is survived.
import { writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readYamlFile, validateConfig } from '../../engine/cli/config.ts';
import { buildGraph } from '../../engine/key/graph.ts';
import { ResourcePools } from '../../engine/run/pools.ts';
import { createReporter } from '../../engine/run/progress.ts';
import { inProcessRunner } from '../../engine/run/runner.ts';
import type { RunSummary } from '../../engine/run/scheduler.ts';
import { openLocalStore } from '../../engine/store/local.ts';
import type { Assessment } from '../../engine/key/plan.ts';
import { startWatch } from '../../engine/run/watch.ts';
import { configSchema, declare, type ToyConfig } from './fixtures/pipeline.ts';
import { capture, Sandbox, waitFor } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2, heavy: 1 };

test('watch: rebuilds after a config edit, never starts a heavy node, survives a broken config', async () => {
  const sb = new Sandbox();
  sb.writeConfig(BASE);
  const store = openLocalStore(sb.root);
  const printed = capture();
  const runs: RunSummary[] = [];
  const plans: Assessment[][] = [];
  const errors: Error[] = [];
  process.env.STAGEWISE_TEST_LOG = sb.log;
  const handle = startWatch({
    configFile: sb.config,
    load: async () => buildGraph(declare(validateConfig(await readYamlFile(sb.config), configSchema, sb.config) as ToyConfig)),
    targets: [],
    store,
    root: sb.root,
    makeRunner: inProcessRunner,
    pools: new ResourcePools({ cpu: 2, gpu: 1 }),
    watchHeavy: false,
    debounceMs: 100,
    print: (l) => printed.stream.write(`${l}\n`),
    events: (total) => createReporter({ total, stream: printed.stream }),
  });
  handle.on('run', (s) => runs.push(s));
  handle.on('plan', (p) => plans.push(p));
  handle.on('problem', (e) => errors.push(e));
  try {
    await waitFor(() => runs.length === 1, 20_000, 'the initial build');
    const first = runs[0];
    const status = (s: RunSummary, id: string) => s.nodes.find((n) => n.id === id)!.status;
    assert.is(status(first, 'heavy'), 'skipped');
    assert.is(status(first, 'heavy-user'), 'skipped', 'dependents of a held-back heavy node wait too');
    assert.is(first.built, 4);
    assert.equal(sb.ran(), ['mid', 'side', 'src', 'top'], 'the heavy stage never ran');
    assert.match(printed.text(), /stale heavy: never built \[heavy: not started; use --watch-heavy\]/);

    // edit a param: exactly src and its dependents rebuild; heavy is still held back
    sb.writeConfig({ ...BASE, source: { value: 2, other: 'a' } });
    await waitFor(() => runs.length === 2, 20_000, 'the rebuild after the edit');
    assert.equal(sb.ran(), ['mid', 'src', 'top']);
    assert.match(printed.text(), /stale src: params\.value 1 → 2/);
    assert.is(runs[1].built, 3);

    // a broken config: reported, nothing runs, watching continues
    writeFileSync(sb.config, 'source: [unclosed\n');
    await waitFor(() => errors.length === 1, 20_000, 'the config error');
    assert.match(errors[0].message, /YAML syntax error/);
    assert.match(printed.text(), /keeping the last good state/);
    sb.writeConfig({ ...BASE, source: { value: 2, other: 'a' }, side: 5 });
    await waitFor(() => runs.length === 3, 20_000, 'the rebuild after the fix');
    assert.equal(sb.ran(), ['side']);
    assert.is(plans.length, 3);
  } finally {
    await handle.close();
    delete process.env.STAGEWISE_TEST_LOG;
    await sb.cleanup();
  }
});

test('pipeline --watch (a real process) holds heavy nodes back, outlives a broken config and rebuilds after the fix', async () => {
  const sb = new Sandbox();
  sb.writeConfig(BASE);
  const watch = sb.spawnCli(['--watch']);
  try {
    await waitFor(() => sb.notes().some((n) => n.label === 'top'), 30_000, 'the initial build');
    assert.not.ok(sb.notes().some((n) => n.label === 'heavy'), 'plain --watch must not start a heavy node');
    writeFileSync(sb.config, 'source: { value: 1, other: 5x }\nside: nope\n');
    await new Promise((r) => setTimeout(r, 1500));
    sb.ran();
    sb.writeConfig({ ...BASE, side: 7 });
    await waitFor(() => sb.notes().some((n) => n.label === 'side'), 30_000, 'the rebuild after the fix');
  } finally {
    watch.kill('SIGINT');
    const r = await watch.done;
    await sb.cleanup();
    assert.match(r.out + r.err, /keeping the last good state/);
    assert.match(r.out, /^built 4, cached 0, failed 0, skipped 2 in /m, 'heavy and its dependent are held back');
    assert.not.ok(sb.notes().some((n) => n.label === 'heavy'), 'the heavy node never ran');
    assert.not.match(r.err, /Unhandled|Emitted 'error'/);
    assert.is(r.code, 130);
  }
});

test.run();
