// Fault injection: a real process SIGKILLed at a chosen point of publishing (engine/run/fault.ts,
// STAGEWISE_FAULT), on the local store and on the S3 store (real Swift), and bad values in the
// real experiment config. Covered elsewhere: kill mid-stage and resume (process.test.ts), training
// kill → resume from the last checkpoint (test/stages/train.test.ts), truncated / bit-flipped blobs
// (build.test.ts), two processes on one cache (process.test.ts), malformed YAML and wrong types
// (build.test.ts), a worker killed mid-node (distributed.test.ts).
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeTree } from '../../engine/store/fsutil.ts';
import { createS3Client, s3ConfigFromEnv } from '../../engine/store/s3.ts';
import { serviceTest, startSwift, swiftMissing, type SwiftService } from '../support/services.ts';

const s3Test = serviceTest(swiftMissing(), 'faults.test.ts, S3 cases');
import { sha256Hex } from '../../engine/key/hash.ts';
import { toyCli } from './fixtures/pipeline.ts';
import { bigBytes } from './fixtures/stages.ts';
import { capture, REPO, Sandbox, summary, type CliResult } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2 };
const BUCKET = 'stagewise-faults';
// Each point is reached by the first node that publishes after the change below: `side`.
const PUBLISH_POINTS = ['mid-blobs', 'after-blobs'] as const;

let swift: SwiftService | null = null;
let s3: S3Client | null = null;

test.before(async () => {
  const started = await startSwift();
  if ('skipped' in started) {
    return;
  }
  swift = started;
  await swift.bucketCreate(BUCKET);
  s3 = createS3Client(s3ConfigFromEnv(s3Env('x')));
});

test.after(async () => {
  s3?.destroy();
  await swift?.stop();
});

const s3Env = (prefix: string) => swift!.s3Env(`${BUCKET}/${prefix}`);

/** The toy CLI in this process with a given environment (e.g. the S3 store). */
async function cli(sb: Sandbox, argv: string[], env: Record<string, string>): Promise<CliResult> {
  const out = capture();
  const err = capture();
  const prev = process.env.STAGEWISE_TEST_LOG;
  process.env.STAGEWISE_TEST_LOG = sb.log;
  try {
    const code = await toyCli(['--config', sb.config, '--in-process', ...argv], { stdout: out.stream, stderr: err.stream, env, handleSignals: false, setExitCode: false });
    return { code, out: out.text(), err: err.text() };
  } finally {
    if (prev === undefined) delete process.env.STAGEWISE_TEST_LOG;
    else process.env.STAGEWISE_TEST_LOG = prev;
  }
}

/** The current key of a node, from the plan. */
async function keyOf(sb: Sandbox, id: string, env: Record<string, string>): Promise<string> {
  const plan = JSON.parse((await cli(sb, ['--dry-run', '--json'], env)).out) as { nodes: { id: string; key: string }[] };
  return plan.nodes.find((n) => n.id === id)!.key;
}

/** A toy run that SIGKILLs itself at `point`; returns once it is dead. */
async function killedAt(sb: Sandbox, point: string, env: Record<string, string>): Promise<void> {
  const r = await sb.spawnCliEnv(['--in-process', '--jobs', '1'], { ...env, STAGEWISE_FAULT: point }).done;
  assert.is(r.code, 137, `expected death by SIGKILL at ${point}:\n${r.out}${r.err}`);
}

/** The local store's invariant: every record's blobs exist with its size and digest. */
function assertLocalRecordsComplete(root: string): number {
  let count = 0;
  const dir = join(root, 'records');
  for (const stage of existsSync(dir) ? readdirSync(dir) : []) {
    for (const name of readdirSync(join(dir, stage))) {
      const rec = JSON.parse(readFileSync(join(dir, stage, name), 'utf8')) as { outputs: Record<string, { digest: string; size: number }> };
      for (const [path, o] of Object.entries(rec.outputs)) {
        const blob = join(root, 'blobs', o.digest.slice(0, 2), o.digest.slice(2));
        assert.ok(existsSync(blob), `${stage}/${name}: blob of ${path} missing`);
        const bytes = readFileSync(blob);
        assert.is(bytes.length, o.size, `${stage}/${name}: ${path} size`);
        assert.is(createHash('sha256').update(bytes).digest('hex'), o.digest, `${stage}/${name}: ${path} digest`);
      }
      count++;
    }
  }
  return count;
}

async function remoteKeys(under: string): Promise<string[]> {
  const page = await s3!.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: under }));
  return (page.Contents ?? []).map((o) => o.Key!.slice(under.length));
}

/** The S3 store's invariant: a remote record never points at a missing or short blob. */
async function assertRemoteRecordsComplete(prefix: string): Promise<number> {
  const records = await remoteKeys(`${prefix}/records/`);
  for (const rel of records) {
    const res = await s3!.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}/records/${rel}` }));
    const rec = JSON.parse(await res.Body!.transformToString('utf8')) as { outputs: Record<string, { digest: string; size: number }> };
    for (const [path, o] of Object.entries(rec.outputs)) {
      const head = await s3!.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}/blobs/${o.digest.slice(0, 2)}/${o.digest.slice(2)}` }));
      assert.is(head.ContentLength, o.size, `${rel}: remote blob of ${path}`);
    }
  }
  return records.length;
}

test('local store, SIGKILL while publishing (mid-blobs, after-blobs): no record without all its blobs; the next run rebuilds just that node', async () => {
  for (const point of PUBLISH_POINTS) {
    const sb = new Sandbox();
    try {
      sb.writeConfig(BASE);
      assert.is((await cli(sb, [], { LOCAL_ROOT: sb.root })).code, 0);
      sb.writeConfig({ ...BASE, side: 3 });
      const key = await keyOf(sb, 'side', { LOCAL_ROOT: sb.root });
      sb.ran();
      await killedAt(sb, point, {});
      assert.equal(sb.ran(), ['side'], `${point}: the kill came while publishing side`);
      assert.not.ok(existsSync(join(sb.root, 'records', 'source', `${key}.json`)), `${point}: no record for the killed build`);
      assert.is(assertLocalRecordsComplete(sb.root), 4, `${point}: the earlier records are intact`);

      const r = await cli(sb, [], { LOCAL_ROOT: sb.root });
      assert.is(r.code, 0, r.err);
      assert.equal(summary(r.out), { built: 1, cached: 3, failed: 0, skipped: 0 }, point);
      assert.equal(sb.ran(), ['side']);
      assert.ok(existsSync(join(sb.root, 'records', 'source', `${key}.json`)));
      assert.is(assertLocalRecordsComplete(sb.root), 5);
    } finally {
      await sb.cleanup();
    }
  }
});

s3Test('S3 store, SIGKILL while publishing (mid-blobs, after-blobs): S3 never holds a record without its blobs; another machine rebuilds just that node', async () => {
  for (const point of PUBLISH_POINTS) {
    const sb = new Sandbox();
    const prefix = `publish-${point}-${process.pid}`;
    const env = s3Env(prefix);
    try {
      sb.writeConfig(BASE);
      assert.is((await cli(sb, [], { ...env, LOCAL_ROOT: sb.root })).code, 0);
      sb.writeConfig({ ...BASE, side: 3 });
      const key = await keyOf(sb, 'side', { ...env, LOCAL_ROOT: sb.root });
      sb.ran();
      await killedAt(sb, point, env);
      assert.equal(sb.ran(), ['side']);
      const remote = await remoteKeys(`${prefix}/records/`);
      assert.not.ok(remote.includes(`source/${key}.json`), `${point}: no remote record for the killed build`);
      assert.is(await assertRemoteRecordsComplete(prefix), 4);

      // Another machine: an empty local cache in front of the same bucket.
      const otherRoot = join(sb.dir, 'other-machine');
      const r = await cli(sb, [], { ...env, LOCAL_ROOT: otherRoot });
      assert.is(r.code, 0, r.err);
      assert.equal(summary(r.out), { built: 1, cached: 3, failed: 0, skipped: 0 }, point);
      assert.equal(sb.ran(), ['side']);
      assert.ok((await remoteKeys(`${prefix}/records/`)).includes(`source/${key}.json`));
      assert.is(await assertRemoteRecordsComplete(prefix), 5);
    } finally {
      await sb.cleanup();
    }
  }
});

s3Test('S3 store, SIGKILL after the remote record but before its local copy: the remote record is complete and the next run uses it', async () => {
  const sb = new Sandbox();
  const prefix = `after-remote-record-${process.pid}`;
  const env = s3Env(prefix);
  try {
    sb.writeConfig(BASE);
    assert.is((await cli(sb, [], { ...env, LOCAL_ROOT: sb.root })).code, 0);
    sb.writeConfig({ ...BASE, side: 3 });
    const key = await keyOf(sb, 'side', { ...env, LOCAL_ROOT: sb.root });
    sb.ran();
    await killedAt(sb, 'after-remote-record', env);
    assert.ok((await remoteKeys(`${prefix}/records/`)).includes(`source/${key}.json`));
    assert.not.ok(existsSync(join(sb.root, 'records', 'source', `${key}.json`)), 'killed before the local copy');
    assert.is(await assertRemoteRecordsComplete(prefix), 5);
    sb.ran();
    const r = await cli(sb, [], { ...env, LOCAL_ROOT: sb.root });
    assert.is(r.code, 0, r.err);
    assert.equal(summary(r.out), { built: 0, cached: 4, failed: 0, skipped: 0 });
    assert.equal(sb.ran(), []);
  } finally {
    await sb.cleanup();
  }
});

s3Test('S3 store, SIGKILL inside a multipart upload: no visible object, no record; the rerun uploads it once and publishes', async () => {
  const sb = new Sandbox();
  const prefix = `multipart-${process.pid}`;
  const env = s3Env(prefix);
  try {
    sb.writeConfig(BASE);
    assert.is((await cli(sb, [], { ...env, LOCAL_ROOT: sb.root })).code, 0);
    sb.writeConfig({ ...BASE, big: 20 }); // 20 MiB: three 8 MiB parts
    sb.ran();
    await killedAt(sb, 'mid-multipart', env);
    assert.equal(sb.ran(), ['big']);
    const digest = sha256Hex(bigBytes(20));
    const blobKey = `${prefix}/blobs/${digest.slice(0, 2)}/${digest.slice(2)}`;
    const head = await s3!.send(new HeadObjectCommand({ Bucket: BUCKET, Key: blobKey })).then(() => 'found', (e: { name?: string }) => e.name);
    assert.is(head, 'NotFound', 'a half-uploaded blob must not be visible');
    assert.not.ok((await remoteKeys(`${prefix}/records/`)).some((k) => k.startsWith('big/')), 'no record for the killed build');
    assert.is(await assertRemoteRecordsComplete(prefix), 4);

    const r = await cli(sb, [], { ...env, LOCAL_ROOT: join(sb.dir, 'other-machine') });
    assert.is(r.code, 0, r.err);
    assert.equal(summary(r.out), { built: 1, cached: 4, failed: 0, skipped: 0 });
    assert.equal(sb.ran(), ['big'], 'built (and uploaded) once more, nothing else');
    const after = await s3!.send(new HeadObjectCommand({ Bucket: BUCKET, Key: blobKey }));
    assert.is(after.ContentLength, 20 * 1024 * 1024);
    assert.is(await assertRemoteRecordsComplete(prefix), 5);
    const again = await cli(sb, [], { ...env, LOCAL_ROOT: join(sb.dir, 'third-machine') });
    assert.equal(summary(again.out), { built: 0, cached: 5, failed: 0, skipped: 0 });
  } finally {
    await sb.cleanup();
  }
});

test('the real config: NaN and negative learning rates and an unknown key are errors naming file and key path; nothing is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-faults-config-'));
  try {
    const config = join(dir, 'tiny.yaml');
    copyFileSync(join(REPO, 'configs', 'tiny.yaml'), config);
    const text = readFileSync(config, 'utf8');
    // train.lr is the first `lr:` in the file, taskPrior.lr the second.
    const lrs = [...text.matchAll(/^(\s+)lr: .*$/gm)];
    assert.is(lrs.length, 2, 'tiny.yaml has train.lr and taskPrior.lr');
    let edited = text.slice(0, lrs[0].index) + `${lrs[0][1]}lr: .nan\n${lrs[0][1]}momentum: 0.9` + text.slice(lrs[0].index! + lrs[0][0].length, lrs[1].index);
    edited += `${lrs[1][1]}lr: -0.01` + text.slice(lrs[1].index! + lrs[1][0].length);
    writeFileSync(config, edited);
    const root = join(dir, 'artifacts');
    const figures = join(dir, 'figures');
    const r = await new Promise<CliResult>((res) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'pipeline.ts', '--config', config], {
        cwd: REPO,
        env: { ...process.env, LOCAL_ROOT: root, FIGURES_DIR: figures },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => res({ code: code ?? -1, out, err }));
    });
    assert.is(r.code, 2, r.out + r.err);
    assert.ok(r.err.includes(`${config}: train.lr: expected number, got NaN`), r.err);
    assert.ok(r.err.includes(`${config}: train.momentum: unknown key`), r.err);
    assert.ok(r.err.includes(`${config}: taskPrior.lr: expected a positive number, got -0.01`), r.err);
    assert.not.ok(existsSync(root), 'no artifacts written');
    assert.not.ok(existsSync(figures), 'no figures written');
  } finally {
    await removeTree(dir);
  }
});

test.run();
