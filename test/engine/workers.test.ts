// The worker-thread path: stages run in persistent workers, pools bound concurrency, and a code edit
// to a module a stage imports invalidates exactly that stage's nodes.
import { mkdtempSync, symlinkSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../../engine/cli/main.ts';
import { removeTree } from '../../engine/store/fsutil.ts';
import type { NodeDecl, StageDef } from '../../engine/types.ts';
import { capture, REPO, Sandbox, summary, type Note } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2 };

function maxConcurrency(notes: Note[], weight: (n: Note) => number = () => 1): number {
  const events = notes
    .filter((n) => n.event === 'start' || n.event === 'end')
    .map((n) => ({ t: n.t, d: n.event === 'start' ? 1 : -1, label: n.label }));
  const w = new Map(notes.filter((n) => n.event === 'start').map((n) => [n.label, weight(n)]));
  events.sort((a, b) => a.t - b.t || a.d - b.d); // at equal times, count the end first
  let cur = 0;
  let max = 0;
  for (const e of events) {
    cur += e.d * w.get(e.label)!;
    max = Math.max(max, cur);
  }
  return max;
}

test('stages run in worker threads; logs and failures come back to the main thread', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, fail: true });
    const r = await sb.cli(['--jobs', '2']);
    assert.is(r.code, 1);
    assert.equal(summary(r.out), { built: 4, cached: 0, failed: 1, skipped: 1 });
    assert.match(r.out, /  mid: concatenating 1 inputs/);
    assert.match(r.out, /FAILED bad: boom in bad/);
    assert.match(r.out, /at .*fixtures\/stages\.ts/);
    const notes = sb.notes();
    assert.ok(notes.length >= 5);
    assert.ok(notes.every((n) => n.threadId !== 0), 'every run() was in a worker');
    assert.ok(new Set(notes.map((n) => n.threadId)).size <= 2, 'workers are reused (pool of 2)');
  } finally {
    await sb.cleanup();
  }
});

test('the cpu pool bounds concurrency (--jobs 2: exactly 2 at once) and the gpu pool too (1)', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 400, count: 6 } });
    let r = await sb.cli(['--jobs', '2', 'sleepy']);
    assert.is(r.code, 0, r.err);
    assert.is(maxConcurrency(sb.notes()), 2);
    sb.ran();
    sb.writeConfig({ ...BASE, sleepy: { ms: 200, count: 4, gpu: 1 } });
    r = await sb.cli(['--jobs', '3', '--gpus', '1', 'sleepy']);
    assert.is(r.code, 0, r.err);
    const notes = sb.notes();
    assert.is(maxConcurrency(notes), 1);
    assert.ok(notes.filter((n) => n.event === 'start').every((n) => JSON.stringify(n.resources) === '{"cpu":1,"gpu":1}'));
  } finally {
    await sb.cleanup();
  }
});

function tempProject(): { dir: string; stageUrl: string; helper: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-code-'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(
    join(dir, 'stages.ts'),
    `import { writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { greet } from './helper.ts';
const log = (l: string) => process.env.STAGEWISE_TEST_LOG && appendFileSync(process.env.STAGEWISE_TEST_LOG, JSON.stringify({ event: 'run', label: l }) + '\\n');
export const greeter = { name: 'greeter', module: import.meta.url, params: z.object({ who: z.string() }),
  async run({ params, outDir }: any) { log(params.who); writeFileSync(join(outDir, 'out.txt'), greet(params.who)); } };
export const plain = { name: 'plain', module: import.meta.url.replace(/stages\\.ts$/, 'plain.ts'), params: z.object({ who: z.string() }), async run() {} };
`,
  );
  writeFileSync(
    join(dir, 'plain.ts'),
    `import { writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
export const plain = { name: 'plain', module: import.meta.url, params: z.object({ who: z.string() }),
  async run({ params, outDir }: any) { process.env.STAGEWISE_TEST_LOG && appendFileSync(process.env.STAGEWISE_TEST_LOG, JSON.stringify({ event: 'run', label: params.who }) + '\\n'); writeFileSync(join(outDir, 'out.txt'), params.who); } };
`,
  );
  const helper = join(dir, 'helper.ts');
  writeFileSync(helper, `export const greet = (who: string): string => 'hello ' + who;\n`);
  return { dir, stageUrl: pathToFileURL(join(dir, 'stages.ts')).href, helper };
}

test('editing a local module imported by a stage rebuilds that stage only, with the new code (workers)', async () => {
  const p = tempProject();
  const log = join(p.dir, 'notes.jsonl');
  const root = join(p.dir, 'artifacts');
  const config = join(p.dir, 'c.yaml');
  writeFileSync(config, 'who: world\n');
  const { greeter } = (await import(p.stageUrl)) as { greeter: StageDef };
  const { plain } = (await import(pathToFileURL(join(p.dir, 'plain.ts')).href)) as { plain: StageDef };
  const declare = (c: unknown): NodeDecl[] => [
    { id: 'g', stage: greeter, params: c, inputs: {} },
    { id: 'p', stage: plain, params: c, inputs: {} },
  ];
  const run = async (argv: string[] = []) => {
    const out = capture();
    const err = capture();
    process.env.STAGEWISE_TEST_LOG = log;
    try {
      const code = await runCli({ argv: ['--config', config, ...argv], declare, stdout: out.stream, stderr: err.stream, env: { LOCAL_ROOT: root }, handleSignals: false, setExitCode: false });
      return { code, out: out.text(), err: err.text() };
    } finally {
      delete process.env.STAGEWISE_TEST_LOG;
    }
  };
  const ran = () => {
    let labels: string[] = [];
    try {
      labels = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).label);
    } catch {}
    writeFileSync(log, '');
    return labels;
  };
  const output = () => {
    const dir = join(root, 'records', 'greeter');
    const rec = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8'))).sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
    const d = rec.outputs['out.txt'].digest;
    return readFileSync(join(root, 'blobs', d.slice(0, 2), d.slice(2)), 'utf8');
  };
  try {
    let r = await run();
    assert.is(r.code, 0, r.err + r.out);
    assert.equal(ran().sort(), ['world', 'world']);
    assert.is(output(), 'hello world');
    writeFileSync(p.helper, `export const greet = (who: string): string => 'goodbye ' + who;\n`);
    r = await run(['--dry-run']);
    assert.match(r.out, /stale  g: code helper\.ts changed/);
    assert.match(r.out, /fresh  p/);
    r = await run();
    assert.equal(summary(r.out), { built: 1, cached: 1, failed: 0, skipped: 0 });
    assert.equal(ran(), ['world']);
    assert.is(output(), 'goodbye world', 'the worker ran the edited code');
  } finally {
    await removeTree(p.dir);
  }
});

test.run();
