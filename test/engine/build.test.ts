// End-to-end engine behaviour on the toy pipeline, in process (fast): what is rebuilt, what is not, and why.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sandbox, summary } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2, unrelated: 5 };
const IN = ['--in-process'];

function records(root: string): string[] {
  const dir = join(root, 'records');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((s) => readdirSync(join(dir, s)).map((k) => `${s}/${k}`));
}

async function built(sb: Sandbox): Promise<string[]> {
  sb.ran();
  const r = await sb.cli(IN);
  assert.is(r.code, 0, r.err + r.out);
  return sb.ran();
}

test('first run builds everything; second run builds nothing', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    const r1 = await sb.cli(IN);
    assert.is(r1.code, 0, r1.err);
    assert.equal(summary(r1.out), { built: 4, cached: 0, failed: 0, skipped: 0 });
    assert.equal(sb.ran(), ['mid', 'side', 'src', 'top']);
    const r2 = await sb.cli(IN);
    assert.equal(summary(r2.out), { built: 0, cached: 4, failed: 0, skipped: 0 });
    assert.equal(sb.ran(), []);
    // the summary is the last line, exactly once
    const lines = r2.out.trim().split('\n');
    assert.match(lines[lines.length - 1], /^built 0, cached 4, failed 0, skipped 0 in \d+\.\d\d s$/);
    assert.is(lines.filter((l) => l.startsWith('built ')).length, 1);
    // the workDir of a successful build is gone, and the scratch dir too
    assert.equal(readdirSync(join(sb.root, 'tmp')), []);
    for (const s of readdirSync(join(sb.root, 'work'))) assert.equal(readdirSync(join(sb.root, 'work', s)), []);
  } finally {
    await sb.cleanup();
  }
});

test('a work dir left by a build killed after its record is removed when the node is next found cached', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    assert.is((await sb.cli(IN)).code, 0);
    // What a kill between putRecord and the work dir's removal leaves: resumable state of a finished node.
    const stageDir = join(sb.root, 'work', 'concat'); // node 'mid' is a concat stage
    const left = join(stageDir, 'mid-0123456789abcdef');
    const pointer = JSON.parse(readFileSync(join(sb.root, 'nodes', 'concat', 'mid.json'), 'utf8')) as { key: string };
    const workDir = join(stageDir, `mid-${pointer.key.slice(0, 16)}`);
    mkdirSync(join(workDir, 'chains'), { recursive: true });
    writeFileSync(join(workDir, 'chains', 'chain-0.swt'), 'partial');
    mkdirSync(left, { recursive: true }); // another key's work dir: not this node's business
    const r = await sb.cli(IN);
    assert.equal(summary(r.out), { built: 0, cached: 4, failed: 0, skipped: 0 });
    assert.not.ok(existsSync(workDir), 'the leftover work dir of the finished node is removed');
    assert.ok(existsSync(left), 'a work dir of another key is left alone');
  } finally {
    await sb.cleanup();
  }
});

test('an unrelated config edit invalidates nothing', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await built(sb);
    sb.writeConfig({ ...BASE, unrelated: { anything: [1, 2, 3] } });
    assert.equal(await built(sb), []);
  } finally {
    await sb.cleanup();
  }
});

test('a param edit rebuilds exactly that node and its dependents', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await built(sb);
    sb.writeConfig({ ...BASE, source: { value: 2, other: 'a' } });
    assert.equal(await built(sb), ['mid', 'src', 'top']);
    sb.writeConfig({ ...BASE, source: { value: 2, other: 'a' }, suffix: '!' });
    assert.equal(await built(sb), ['top']);
    sb.writeConfig({ ...BASE, source: { value: 2, other: 'a' }, suffix: '!', side: 3 });
    assert.equal(await built(sb), ['side']);
    // reverting to earlier values is a cache hit: their records are still there
    sb.writeConfig(BASE);
    assert.equal(await built(sb), []);
  } finally {
    await sb.cleanup();
  }
});

test('early cutoff: a rebuilt upstream with identical bytes leaves downstream fresh (dir and file inputs)', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await built(sb);
    // pad changes src's key but not one output byte: src rebuilds, mid (FileRef value.txt) does not
    sb.writeConfig({ ...BASE, source: { value: 1, other: 'a', pad: 7 } });
    assert.equal(await built(sb), ['src']);
    // other changes sub/other.txt only: mid consumes value.txt alone, so it stays fresh (file-level cutoff)
    sb.writeConfig({ ...BASE, source: { value: 1, other: 'b', pad: 7 } });
    assert.equal(await built(sb), ['src']);
    // a real change to the consumed file does propagate
    sb.writeConfig({ ...BASE, source: { value: 5, other: 'b', pad: 7 } });
    assert.equal(await built(sb), ['mid', 'src', 'top']);
  } finally {
    await sb.cleanup();
  }
});

test('dry-run --json: shape, statuses and reasons', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    let r = await sb.cli([...IN, '--dry-run', '--json']);
    assert.is(r.code, 0, r.err);
    let plan = JSON.parse(r.out);
    assert.is(plan.dryRun, true);
    assert.is(plan.fresh, 0);
    assert.is(plan.stale, 4);
    assert.equal(Object.keys(plan.nodes[0]).sort(), ['heavy', 'id', 'key', 'reasons', 'stage', 'status']);
    const byId = (p: typeof plan) => Object.fromEntries(p.nodes.map((n: { id: string }) => [n.id, n]));
    let n = byId(plan);
    assert.equal(n.src.reasons, ['never built']);
    assert.equal(n.mid.reasons, ['upstream src will be rebuilt']);
    assert.is(n.mid.key, null);
    assert.match(n.src.key, /^[0-9a-f]{64}$/);
    assert.equal(sb.ran(), [], 'dry run runs nothing');
    assert.equal(records(sb.root), [], 'dry run writes no record');

    await built(sb);
    sb.writeConfig({ ...BASE, source: { value: 3, other: 'a' }, side: 2 });
    r = await sb.cli([...IN, '--dry-run', '--json']);
    plan = JSON.parse(r.out);
    n = byId(plan);
    assert.is(n.side.status, 'fresh');
    assert.equal(n.side.reasons, []);
    assert.is(n.src.status, 'stale');
    assert.equal(n.src.reasons, ['params.value 1 → 3']);
    assert.equal(n.top.reasons, ['upstream mid will be rebuilt']);

    // a human-readable plan says the same
    r = await sb.cli([...IN, '--dry-run']);
    assert.match(r.out, /stale  src: params\.value 1 → 3/);
    assert.match(r.out, /fresh  side/);
  } finally {
    await sb.cleanup();
  }
});

test('explain names the changed input once the upstream is rebuilt', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await built(sb);
    sb.writeConfig({ ...BASE, source: { value: 4, other: 'a' } });
    // build only src, then mid's key is computable and its reason is the input
    let r = await sb.cli([...IN, 'src']);
    assert.is(r.code, 0, r.err);
    r = await sb.cli([...IN, '--explain', 'mid']);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /mid \(stage concat\): stale — input file changed/);
    assert.match(r.out, /test\/engine\/fixtures\/stages\.ts/);
    assert.match(r.out, /npm:zod 4\./);
    r = await sb.cli([...IN, '--explain', 'mid', '--json']);
    const e = JSON.parse(r.out);
    assert.equal(e.reasons, ['input file changed']);
    assert.is(e.fingerprint.stage, 'concat');
    assert.ok(e.fingerprint.inputs.file);
  } finally {
    await sb.cleanup();
  }
});

test('a failing node skips its dependents only; exit code 1; the error names the node', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, fail: true });
    const r = await sb.cli(IN);
    assert.is(r.code, 1);
    assert.equal(summary(r.out), { built: 4, cached: 0, failed: 1, skipped: 1 });
    assert.match(r.out, /FAILED bad: boom in bad/);
    assert.match(r.out, /skipped after-bad: upstream bad failed/);
    assert.match(r.out, /at .*stages\.ts/, 'the stack is in the log');
    assert.equal(sb.ran(), ['bad', 'mid', 'side', 'src', 'top']);
    assert.not.ok(records(sb.root).some((k) => k.startsWith('fail/')));
    const j = await sb.cli([...IN, '--json']);
    const s = JSON.parse(j.out);
    assert.equal([s.built, s.cached, s.failed, s.skipped], [0, 4, 1, 1]);
    const bad = s.nodes.find((x: { id: string }) => x.id === 'bad');
    assert.equal(Object.keys(bad).sort(), ['error', 'id', 'key', 'seconds', 'stage', 'status']);
    assert.is(bad.status, 'failed');
    assert.match(bad.error, /boom in bad/);
  } finally {
    await sb.cleanup();
  }
});

function blobOf(sb: Sandbox, stage: string, rel: string): string {
  for (const k of readdirSync(join(sb.root, 'records', stage))) {
    const rec = JSON.parse(readFileSync(join(sb.root, 'records', stage, k), 'utf8'));
    if (rec.nodeId === 'src' && rec.outputs[rel]) {
      const d = rec.outputs[rel].digest;
      return join(sb.root, 'blobs', d.slice(0, 2), d.slice(2));
    }
  }
  throw new Error('no such blob');
}

test('a truncated blob is a miss: the node rebuilds (and only it)', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await built(sb);
    const blob = blobOf(sb, 'source', 'sub/other.txt');
    chmodSync(blob, 0o644);
    writeFileSync(blob, '');
    const r = await sb.cli([...IN, '--dry-run', '--json']);
    const src = JSON.parse(r.out).nodes.find((n: { id: string }) => n.id === 'src');
    assert.equal(src.reasons, ['output blob missing/corrupt: sub/other.txt']);
    assert.equal(await built(sb), ['src']);
    assert.is(readFileSync(blob, 'utf8'), 'a\n');
  } finally {
    await sb.cleanup();
  }
});

test('a bit-flipped blob (same size) is a miss: the node rebuilds', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    await built(sb);
    const blob = blobOf(sb, 'source', 'value.txt');
    const size = statSync(blob).size;
    chmodSync(blob, 0o644);
    writeFileSync(blob, '7\n');
    assert.is(statSync(blob).size, size);
    assert.equal(await built(sb), ['src']);
    assert.is(readFileSync(blob, 'utf8'), '1\n');
    assert.equal(await built(sb), []);
  } finally {
    await sb.cleanup();
  }
});

test('--only: fails before running anything when inputs are not cached; runs just that stage when they are', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    let r = await sb.cli([...IN, '--only', 'concat']);
    assert.is(r.code, 1);
    assert.match(r.err, /missing input src for mid \(never built\); build it with: toy src/);
    assert.equal(sb.ran(), []);
    assert.equal(records(sb.root), []);
    r = await sb.cli([...IN, 'src']);
    assert.equal(summary(r.out), { built: 1, cached: 0, failed: 0, skipped: 0 });
    sb.ran();
    r = await sb.cli([...IN, '--only', 'concat']);
    assert.is(r.code, 0, r.err);
    assert.equal(sb.ran(), ['mid', 'top']);
    // a stale (not just missing) input is refused too, with its reason
    sb.writeConfig({ ...BASE, source: { value: 9, other: 'a' } });
    r = await sb.cli([...IN, '--only', 'concat']);
    assert.is(r.code, 1);
    assert.match(r.err, /missing input src for mid \(params\.value 1 → 9\)/);
    assert.equal(sb.ran(), []);
  } finally {
    await sb.cleanup();
  }
});

test('--force rebuilds a fresh stage; targets select a node and its upstream', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    let r = await sb.cli([...IN, 'mid']);
    assert.equal(sb.ran(), ['mid', 'src']);
    r = await sb.cli([...IN, '--force', 'source']);
    assert.is(r.code, 0, r.err);
    // src is forced and produces the same bytes: mid stays cached; top was never built
    assert.equal(sb.ran(), ['side', 'src', 'top']);
    r = await sb.cli([...IN, 'figures']);
    assert.equal(summary(r.out), { built: 0, cached: 3, failed: 0, skipped: 0 });
    r = await sb.cli([...IN, 'nosuch']);
    assert.is(r.code, 2);
    assert.match(r.err, /unknown target nosuch: expected a node id, a stage name or a tag \(concat, figure, source\)/);
  } finally {
    await sb.cleanup();
  }
});

test('invalid config: the error names the file and key path, and nothing is built', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, source: { value: 'x', other: 'a' }, sleepy: { ms: -1, count: 1 }, typo: 1 });
    const r = await sb.cli(IN);
    assert.is(r.code, 2);
    assert.ok(r.err.includes(`${sb.config}: source.value: expected number, got "x"`), r.err);
    assert.ok(r.err.includes(`${sb.config}: sleepy.ms: expected a positive number, got -1`), r.err);
    assert.ok(r.err.includes(`${sb.config}: typo: unknown key`), r.err);
    assert.not.ok(existsSync(sb.root), 'nothing written');
    writeFileSync(sb.config, 'source:\n  value: [1,\n');
    const y = await sb.cli(IN);
    assert.is(y.code, 2);
    assert.match(y.err, new RegExp(`${sb.config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: YAML syntax error`));
  } finally {
    await sb.cleanup();
  }
});

test('publishTo copies the outputs after a build and after a cache hit', async () => {
  const sb = new Sandbox();
  try {
    const pub = join(sb.dir, 'figures');
    sb.writeConfig({ ...BASE, publishTo: pub });
    await sb.cli(IN);
    assert.is(readFileSync(join(pub, 'out.txt'), 'utf8'), 'in:out.txt=file:1\n');
    writeFileSync(join(pub, 'out.txt'), 'edited by hand');
    await sb.cli(IN);
    assert.is(readFileSync(join(pub, 'out.txt'), 'utf8'), 'in:out.txt=file:1\n');
  } finally {
    await sb.cleanup();
  }
});

test('sweep points become nodes; gc keeps what the config reaches and deletes the rest', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, grid: { other: 'z', sweep: { value: [1, 2], pad: [0] } } });
    let r = await sb.cli(IN);
    assert.equal(summary(r.out).built, 6);
    assert.match(r.out, /built point\[other=z,value=1,pad=0\]/);
    // src and point[value=1,…] have equal params except label: distinct keys (label is a param)
    sb.writeConfig({ ...BASE, grid: { other: 'z', sweep: { value: [1] } } });
    r = await sb.cli([...IN, 'gc']);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /would delete record source\/[0-9a-f]{64} \(point\[other=z,value=2,pad=0\]\)/);
    assert.match(r.out, /gc \(dry run\): would delete 2 records/); // both old grid points (ids changed)
    const before = records(sb.root).length;
    r = await sb.cli([...IN, 'gc', '--yes']);
    assert.match(r.out, /gc: deleted 2 records/);
    assert.is(records(sb.root).length, before - 2);
    r = await sb.cli(IN);
    assert.equal(summary(r.out), { built: 1, cached: 4, failed: 0, skipped: 0 });
    r = await sb.cli([...IN, 'gc']);
    assert.match(r.out, /would delete 0 records, 0 blobs/);
  } finally {
    await sb.cleanup();
  }
});

test.run();
