// Kept logs (`log NODE`, record.log, failure files), `graph --format`, and the dashboard server's
// safety rules (loopback, read-only, known files only), on the toy dashboard pipeline.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openLocalStore } from '../../engine/store/local.ts';
import { readFailure } from '../../engine/store/logs.ts';
import { readPointer } from '../../engine/key/plan.ts';
import { DashSandbox, rawRequest } from './helpers.ts';

test('logs: a success keeps its lines in the record, a failure in a failure file; `log NODE` prints either', async () => {
  const sb = new DashSandbox();
  try {
    sb.writeConfig({ count: { n: 3, delayMs: 0 }, fail: true });
    const first = await sb.cli([]); // worker threads
    assert.is(first.code, 1, first.err);
    const store = openLocalStore(sb.root);
    const rec = await store.getRecord('count', readPointer(sb.root, 'count', 'count')!);
    assert.ok(rec?.log, 'the record references its log');
    assert.is(rec!.log!.lines, 2);
    assert.ok(!('log.txt' in rec!.outputs), 'the log is not an output: it never enters a downstream key');

    const log = await sb.cli(['log', 'count']);
    assert.is(log.code, 0);
    assert.match(log.out, /^# count: last built \S+ on \S+ in [\d.]+ s, key [0-9a-f]{12}\n/);
    assert.match(log.out, /s  info  counting to 3\n/);
    assert.match(log.out, /s  warn  counted; writing count.json\n/);

    const failure = readFailure(sb.root, 'boom', 'boom');
    assert.ok(failure);
    assert.is(failure!.error, 'boom: the toy stage failed on purpose');
    assert.is(failure!.interrupted, false);
    const boom = await sb.cli(['log', 'boom']);
    assert.is(boom.code, 0);
    assert.match(boom.out, /^# boom: FAILED /);
    assert.match(boom.out, /info  about to fail\n/);
    assert.match(boom.out, /error boom: the toy stage failed on purpose\n/);
    assert.match(boom.out, /at .*stages\.ts/, 'the stack is kept');

    // the in-process runner keeps logs the same way; the new record's log replaces the shown one
    const previous = await store.getRecord('count', readPointer(sb.root, 'count', 'count')!);
    const again = await sb.cli(['--force', 'count', '--in-process', 'count']);
    assert.is(again.code, 0, again.err);
    assert.match((await sb.cli(['log', 'count'])).out, /info  counting to 3\n/);

    // gc keeps the log blob of the current record; the forced rebuild's predecessor log is garbage —
    // unless both logs are byte-identical (same lines at the same 0.1 s offsets: one blob), which
    // happens when both builds are fast.
    const current = await store.getRecord('count', readPointer(sb.root, 'count', 'count')!);
    const gc = await sb.cli(['gc']);
    assert.not.ok(gc.out.includes(current!.log!.digest), gc.out);
    const garbageLogs = previous!.log!.digest === current!.log!.digest ? 0 : 1;
    assert.match(gc.out, new RegExp(`would delete 0 records, ${garbageLogs} blobs`));
    if (garbageLogs) assert.ok(gc.out.includes(previous!.log!.digest), gc.out);

    // a node the config no longer declares leaves its failure file to gc
    sb.writeConfig({ count: { n: 3, delayMs: 0 } });
    assert.match((await sb.cli(['gc', '--yes'])).out, /deleted failure log boom\/boom\.json/);
    assert.is(readFailure(sb.root, 'boom', 'boom'), null);

    const missing = await sb.cli(['log', 'nosuch']);
    assert.is(missing.code, 2);
    assert.match(missing.err, /unknown target nosuch/);
    assert.is((await sb.cli(['log'])).code, 2);
  } finally {
    await sb.cleanup();
  }
});

test('graph --format json|dot|mermaid: the plan with states', async () => {
  const sb = new DashSandbox();
  try {
    sb.writeConfig({ count: { n: 2, delayMs: 0 } });
    assert.is((await sb.cli([])).code, 0);
    sb.writeConfig({ count: { n: 2, delayMs: 0 }, colour: 'red' });
    const json = JSON.parse((await sb.cli(['graph', '--format', 'json'])).out) as { nodes: { id: string; state: string; reasons: string[] }[]; edges: { from: string; to: string }[] };
    const state = Object.fromEntries(json.nodes.map((n) => [n.id, n.state]));
    assert.equal(state, { count: 'fresh', plot: 'stale', side: 'fresh' });
    assert.equal(json.nodes.find((n) => n.id === 'plot')!.reasons, ['params.colour "#2563eb" → "red"']);
    assert.equal(json.edges, [{ from: 'count', to: 'plot' }]);

    const dot = (await sb.cli(['graph'])).out;
    assert.match(dot, /^digraph stagewise \{/);
    assert.match(dot, /"count" -> "plot";/);
    assert.match(dot, /"plot" \[label="plot\\nstale", fillcolor="#fff5e6"/);

    const mermaid = (await sb.cli(['graph', '--format', 'mermaid'])).out;
    assert.match(mermaid, /^flowchart LR\n/);
    const countId = /(n\d+)\["count"\]:::fresh/.exec(mermaid)?.[1];
    const plotId = /(n\d+)\["plot"\]:::stale/.exec(mermaid)?.[1];
    assert.ok(countId && plotId, mermaid);
    assert.ok(mermaid.includes(`${countId} --> ${plotId}`), mermaid);

    const bad = await sb.cli(['graph', '--format', 'svg']);
    assert.is(bad.code, 2);
    assert.match(bad.err, /--format: expected dot, mermaid or json/);
  } finally {
    await sb.cleanup();
  }
});

test('serve: loopback only, read-only, serves known files only (raw, encoded and double-encoded traversal refused)', async () => {
  const sb = new DashSandbox();
  try {
    sb.writeConfig({ count: { n: 2, delayMs: 0 } });
    assert.is((await sb.cli([])).code, 0);
    const serve = await sb.serveProcess(['serve']);
    try {
      assert.match(serve.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const ok = await rawRequest(serve.url, '/api/file?node=plot&path=bar.svg');
      assert.is(ok.status, 200);
      assert.is(ok.headers['content-type'], 'image/svg+xml');
      assert.match(String(ok.headers['content-security-policy']), /^sandbox/);
      assert.match(ok.body, /^<svg/);
      assert.is((await rawRequest(serve.url, '/api/log?id=count')).body.includes('counting to 2'), true);
      const refused = [
        '/../package.json',
        '/assets/../../package.json',
        '/assets/..%2f..%2fpackage.json',
        '/assets/%2e%2e/%2e%2e/package.json',
        '/%2E%2E/%2E%2E/package.json',
        '/assets/%252e%252e/%252e%252e/package.json',
        '/assets/..%5c..%5cpackage.json',
        '/assets\\..\\..\\package.json',
        '/assets/app.js/../../package.json',
        '/package.json',
        '/engine/serve/server.ts',
        '/api/file?node=plot&path=../../config.yaml',
        '/api/file?node=plot&path=%2e%2e%2f%2e%2e%2fconfig.yaml',
        '/api/file?node=plot&path=/etc/passwd',
        '/api/file?node=..%2fplot&path=bar.svg',
        '/api/node?id=nosuch',
        '/api/node?id=__proto__',
        '/api/file?node=plot&path=__proto__',
      ];
      for (const path of refused) {
        const r = await rawRequest(serve.url, path);
        assert.is(r.status, 404, `${path} → ${r.status}`);
        assert.not.match(r.body, /"name": "stagewise"|passwd|count:/, path);
      }
      assert.is((await rawRequest(serve.url, '/api/state', { host: 'evil.example:80' })).status, 403, 'a foreign Host header (DNS rebinding) is refused');
      for (const method of ['POST', 'PUT', 'DELETE']) assert.is((await rawRequest(serve.url, '/api/state', { method })).status, 405, method);
    } finally {
      await serve.stop();
    }
  } finally {
    await sb.cleanup();
  }
});

test.run();
