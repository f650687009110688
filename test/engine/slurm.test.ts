// The Slurm executor against a real one-node Slurm cluster (slurmctld + slurmd + munged, started by
// test/support/services.ts): the toy pipeline built as one Slurm job per node, and the fault cases —
// a failing stage, a job cancelled by someone, a coordinator killed and restarted, Ctrl-C.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jobName, parseSlurmFlags, sbatchResourceArgs } from '../../engine/distributed/slurm.ts';
import type { NodeKey } from '../../engine/types.ts';
import { serviceTest, slurmMissing, startSlurm, startSwift, swiftMissing, type SlurmService, type SwiftService } from '../support/services.ts';

const slurmTest = serviceTest(slurmMissing(), 'slurm.test.ts');
const slurmS3Test = serviceTest(slurmMissing() ?? swiftMissing(), 'slurm.test.ts, S3 case');
import { PIPELINE, REPO, Sandbox, summary, waitFor, type CliResult } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2 };
const POLL = { STAGEWISE_SLURM_POLL_MS: '200' };

let slurm: SlurmService | null = null;
let swift: SwiftService | null = null;
const BUCKET = 'stagewise-slurm';

test.before(async () => {
  const s = await startSlurm();
  if ('skipped' in s) return; // reported by slurmTest
  slurm = s;
  const w = await startSwift();
  if (!('skipped' in w)) {
    swift = w;
    await swift.bucketCreate(BUCKET);
  }
});

test.after(async () => {
  await slurm?.stop();
  await swift?.stop();
});

interface Coordinator {
  pid: number;
  out(): string;
  done: Promise<CliResult>;
  kill(sig: NodeJS.Signals): void;
}

/** A coordinator process: the toy pipeline with --executor slurm, output readable while it runs. */
function coordinator(sb: Sandbox, argv: string[], env: Record<string, string> = {}): Coordinator {
  const child = spawn(process.execPath, ['--import', 'tsx', PIPELINE, '--config', sb.config, '--executor', 'slurm', ...argv], {
    cwd: REPO,
    env: { ...process.env, ...slurm!.env, ...POLL, LOCAL_ROOT: sb.root, STAGEWISE_TEST_LOG: sb.log, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise<CliResult>((res) => child.on('close', (code, signal) => res({ code: code ?? (signal === 'SIGKILL' ? 137 : -1), out, err })));
  return { pid: child.pid!, out: () => out + err, done, kill: (sig) => child.kill(sig) };
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

interface Job {
  id: number;
  name: string;
  state: string;
}

/** Every job the controller knows (finished ones too, for MinJobAge), oldest first. */
async function jobs(): Promise<Job[]> {
  const out = await slurm!.client(['squeue', '-h', '-t', 'all', '-o', '%i|%j|%T']);
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const [id, name, state] = l.split('|');
    return { id: Number(id), name, state };
  }).sort((a, b) => a.id - b.id);
}

async function jobsSince(watermark: number): Promise<Job[]> {
  return (await jobs()).filter((j) => j.id > watermark);
}

async function lastJobId(): Promise<number> {
  return (await jobs()).at(-1)?.id ?? 0;
}

/** `scontrol show job -o ID` as key → value. */
async function showJob(id: number): Promise<Record<string, string>> {
  const line = (await slurm!.client(['scontrol', 'show', 'job', '-o', String(id)])).trim();
  return Object.fromEntries(line.split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** stage/key → output digest of every record under `root`. */
function records(root: string): Map<string, string> {
  const dir = join(root, 'records');
  const m = new Map<string, string>();
  if (!existsSync(dir)) return m;
  for (const stage of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, stage))) m.set(`${stage}/${f.replace(/\.json$/, '')}`, JSON.parse(readFileSync(join(dir, stage, f), 'utf8')).outputDigest);
  }
  return m;
}

function keyOf(root: string, stage: string): NodeKey {
  const keys = [...records(root).keys()].filter((k) => k.startsWith(`${stage}/`));
  assert.is(keys.length, 1, `one ${stage} record`);
  return keys[0].slice(stage.length + 1) as NodeKey;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const submittedId = (out: string, node: string) => Number(new RegExp(`${node.replace(/[[\]]/g, '\\$&')}: submitted as slurm job (\\d+)`).exec(out)?.[1] ?? NaN);

// ── without a cluster ────────────────────────────────────────────────────────────────────────

test('Slurm options: a stage declaration maps onto sbatch arguments; bad flags are refused naming the flag', () => {
  const o = parseSlurmFlags(
    [['--slurm-partition', 'cpu'], ['--slurm-gpu-partition', 'a100'], ['--slurm-account', 'lab'], ['--slurm-time', '2:00:00'], ['--slurm-time', 'train=1-00:00:00'], ['--slurm-arg', '--qos=high'], ['--slurm-resubmits', '5']],
    { STAGEWISE_SLURM_POLL_MS: '300' },
  );
  assert.equal(o, { partition: 'cpu', gpuPartition: 'a100', account: 'lab', time: '2:00:00', stageTime: { train: '1-00:00:00' }, extraArgs: ['--qos=high'], resubmits: 5, pollMs: 300 });
  const key = 'ab'.repeat(32) as NodeKey;
  assert.equal(sbatchResourceArgs({ key, stage: 'train', resources: { cpu: 2, gpu: 1 }, limits: { memoryMB: 4096.5, minutes: 30 } }, o), [
    '--cpus-per-task=2', '--gres=gpu:1', '--partition=a100', '--account=lab', '--mem=4097M', '--time=1-00:00:00',
  ]);
  // The stage's own minutes beat the default; cpu 0 still asks for one CPU; no GPU → cpu partition, no gres.
  assert.equal(sbatchResourceArgs({ key, stage: 'llc', resources: { cpu: 0, gpu: 0 }, limits: { minutes: 45 } }, o), ['--cpus-per-task=1', '--partition=cpu', '--account=lab', '--time=45']);
  assert.equal(sbatchResourceArgs({ key, stage: 'llc', resources: { cpu: 1, gpu: 0 }, limits: {} }, parseSlurmFlags([], {})), ['--cpus-per-task=1']);
  assert.is(jobName(key), `stagewise-${key}`);
  assert.throws(() => parseSlurmFlags([['--slurm-time', 'soon']], {}), /--slurm-time "soon": expected a Slurm time/);
  assert.throws(() => parseSlurmFlags([['--slurm-resubmits', '-1']], {}), /--slurm-resubmits: expected an integer >= 0/);
  assert.throws(() => parseSlurmFlags([['--slurm-qos', 'x']], {}), /unknown option --slurm-qos/);
});

test('flags: --slurm-* needs --executor slurm; slurm does not combine with --queue or --watch (exit 2)', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    const a = await sb.cli(['--slurm-partition', 'x']);
    assert.is(a.code, 2);
    assert.match(a.err, /--slurm-partition needs --executor slurm/);
    const b = await sb.cli(['--executor', 'slurm', '--watch']);
    assert.is(b.code, 2);
    assert.match(b.err, /--executor slurm runs a build: it does not combine with --queue, --watch/);
    const c = await sb.cli(['--executor', 'pbs']);
    assert.match(c.err, /--executor: expected local or slurm, got "pbs"/);
  } finally {
    await sb.cleanup();
  }
});

// ── against the one-node cluster ─────────────────────────────────────────────────────────────

slurmTest('the toy DAG builds as one Slurm job per node, outputs identical to a local build; a second run submits nothing', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const local = new Sandbox();
  const sb = new Sandbox();
  try {
    local.writeConfig(BASE);
    const l = await local.cli([]);
    assert.is(l.code, 0, l.out + l.err);

    sb.writeConfig(BASE);
    const before = await lastJobId();
    const c = coordinator(sb, []);
    const r = await within(120_000, 'the coordinator', c.done);
    assert.is(r.code, 0, r.out + r.err);
    assert.equal(summary(r.out), { built: 4, cached: 0, failed: 0, skipped: 0 });
    assert.equal(records(sb.root), records(local.root), 'same keys, same output digests as the local build');

    // One job per node, named by its key, plus the store check; every node ran in its own job process.
    const submitted = await jobsSince(before);
    const names = submitted.map((j) => j.name).sort();
    assert.equal(names, ['stagewise-check', ...[...records(sb.root).keys()].map((k) => jobName(k.split('/')[1] as NodeKey))].sort());
    assert.ok(submitted.every((j) => j.state === 'COMPLETED'), JSON.stringify(submitted));
    const notes = sb.notes();
    assert.equal(notes.map((n) => n.label).sort(), ['mid', 'side', 'src', 'top']);
    assert.is(new Set(notes.map((n) => n.pid)).size, 4, 'four job processes');
    assert.not.ok(notes.some((n) => n.pid === c.pid), 'nothing ran in the coordinator');
    for (const id of ['src', 'mid', 'top', 'side']) assert.match(r.out, new RegExp(`${id}: submitted as slurm job \\d+`));
    assert.not.ok(existsSync(join(sb.root, 'slurm', 'check')) && readdirSync(join(sb.root, 'slurm', 'check')).length > 0, 'the check job cleaned up after itself');

    const mark = await lastJobId();
    const again = await within(60_000, 'the second coordinator', coordinator(sb, []).done);
    assert.is(again.code, 0, again.out + again.err);
    assert.equal(summary(again.out), { built: 0, cached: 4, failed: 0, skipped: 0 });
    assert.equal(await jobsSince(mark), [], 'nothing submitted');
  } finally {
    await local.cleanup();
    await sb.cleanup();
  }
});

slurmTest('a failing stage fails its node with the Slurm log shown; dependents are skipped, the rest is built', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, fail: true });
    const r = await within(120_000, 'the coordinator', coordinator(sb, []).done);
    assert.is(r.code, 1, r.out + r.err);
    assert.equal(summary(r.out), { built: 4, cached: 0, failed: 1, skipped: 1 });
    assert.match(r.out, /FAILED bad: slurm job \d+ failed, exit 1 on swnode: boom in bad\n\s+log \S+\/slurm\/fail\/bad-[0-9a-f]{16}-\d+\.log:/);
    assert.match(r.out, /\| +Error: boom in bad\n\s+\| +at .*stages\.ts/, 'the job log, with the stack, is in the coordinator output');
    assert.match(r.out, /skipped after-bad: upstream bad failed/);
    const id = submittedId(r.out, 'bad');
    assert.is((await showJob(id)).JobState, 'FAILED');
    assert.not.ok(existsSync(join(sb.root, 'records', 'fail')), 'no record for the failed node');
  } finally {
    await sb.cleanup();
  }
});

slurmTest('a job cancelled by someone else (scancel) is submitted again and finishes, resuming from its work dir', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, hang: true });
    const c = coordinator(sb, [], { STAGEWISE_HANG_ONCE: join(sb.dir, 'hung-once') });
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label === 'hang'), 90_000, 'hang to start in its job');
    const first = submittedId(c.out(), 'hang');
    await slurm.client(['scancel', String(first)]);
    const r = await within(120_000, 'the coordinator', c.done);
    assert.is(r.code, 0, r.out + r.err);
    assert.equal(summary(r.out), { built: 5, cached: 0, failed: 0, skipped: 0 });
    assert.match(r.out, new RegExp(`hang: warning: slurm job ${first} ended CANCELLED; submitting it again \\(it resumes from its work dir\\)`));
    assert.match(r.out, /hang: submitted as slurm job \d+ \(resubmission 1 of 2\)/);
    assert.is((await showJob(first)).JobState, 'CANCELLED');
    const hang = sb.notes().filter((n) => n.label === 'hang');
    assert.equal(hang.map((n) => n.event), ['start', 'run']);
    assert.is.not(hang[0].pid, hang[1].pid);
    assert.is(hang[1].resumedFrom, 'step 1', 'the second job found the first one\'s progress');
    const key = keyOf(sb.root, 'hang');
    const rec = JSON.parse(readFileSync(join(sb.root, 'records', 'hang', `${key}.json`), 'utf8'));
    assert.equal(Object.keys(rec.outputs), ['done.txt'], 'nothing of the cancelled attempt in the record');
  } finally {
    await sb.cleanup();
  }
});

slurmTest('a coordinator killed while its jobs run, then restarted: it waits for the running jobs, nothing is submitted or built twice', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 50, count: 2 } });
    // The sleepy jobs wait at a gate until the restarted coordinator has found them.
    const gate = join(sb.dir, 'gate');
    writeFileSync(gate, '');
    const before = await lastJobId();
    const a = coordinator(sb, [], { STAGEWISE_GATE: gate });
    await waitFor(() => sb.notes().filter((n) => n.event === 'start').length === 2, 90_000, 'both sleepy nodes to start in their jobs');
    a.kill('SIGKILL');
    await a.done;
    const b = coordinator(sb, []);
    const waiting = (i: number) => new RegExp(`sleepy\\[${i}\\]: slurm job \\d+ for this node is already running; waiting for it`);
    await waitFor(() => waiting(0).test(b.out()) && waiting(1).test(b.out()), 90_000, 'the restarted coordinator to find both running jobs');
    rmSync(gate);
    const r = await within(120_000, 'the restarted coordinator', b.done);
    assert.is(r.code, 0, r.out + r.err);
    const s = summary(r.out);
    assert.is(s.failed + s.skipped, 0);
    assert.is(s.built + s.cached, 6);

    const labels = sb.notes().filter((n) => n.event !== 'end').map((n) => n.label).sort();
    assert.equal(labels, ['mid', 'side', 'sleepy0', 'sleepy1', 'src', 'top'], 'every node ran exactly once');
    const byName = new Map<string, number>();
    for (const j of await jobsSince(before)) if (j.name !== 'stagewise-check') byName.set(j.name, (byName.get(j.name) ?? 0) + 1);
    assert.is(byName.size, 6);
    assert.ok([...byName.values()].every((n) => n === 1), `one job per node key: ${JSON.stringify([...byName])}`);
  } finally {
    await sb.cleanup();
  }
});

slurmTest('Ctrl-C on the coordinator cancels the jobs it submitted and leaves no record and no scratch output', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, hang: true });
    const c = coordinator(sb, [], { STAGEWISE_HANG: '1' });
    await waitFor(() => sb.notes().some((n) => n.event === 'start' && n.label === 'hang'), 90_000, 'hang to start in its job');
    const id = submittedId(c.out(), 'hang');
    const jobPid = sb.notes().find((n) => n.label === 'hang')!.pid;
    c.kill('SIGINT');
    const r = await within(60_000, 'the interrupted coordinator', c.done);
    assert.is(r.code, 130, r.out + r.err);
    assert.match(r.out, /FAILED hang: interrupted/);
    assert.is((await showJob(id)).JobState, 'CANCELLED');
    await waitFor(() => !alive(jobPid), 10_000, 'the job process to end');
    assert.not.ok(existsSync(join(sb.root, 'records', 'hang')), 'no record for the interrupted node');
    assert.equal(readdirSync(join(sb.root, 'tmp')), [], 'no scratch output left');
    const work = join(sb.root, 'work', 'hang');
    assert.equal(readdirSync(work).map((d) => readFileSync(join(work, d, 'progress.txt'), 'utf8')), ['step 1'], 'its resumable progress is kept');
  } finally {
    await sb.cleanup();
  }
});

slurmTest('sbatch arguments: a gpu node goes to the gpu partition with --gres=gpu:1, its memory and time limit; cpu nodes do not', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 50, count: 1, gpu: 1 } });
    const flags = ['--slurm-partition', slurm.partitions.cpu, '--slurm-gpu-partition', slurm.partitions.gpu, '--slurm-time', '9', '--slurm-arg=--comment=stagewise-test'];
    const r = await within(120_000, 'the coordinator', coordinator(sb, flags).done);
    assert.is(r.code, 0, r.out + r.err);
    const gpu = await showJob(submittedId(r.out, 'sleepy[0]'));
    assert.is(gpu.JobName, jobName(keyOf(sb.root, 'sleepy')));
    assert.is(gpu.Partition, 'gpu');
    assert.is(gpu.TresPerNode, 'gres:gpu:1');
    assert.is(gpu.MinMemoryNode, '150M');
    assert.is(gpu.TimeLimit, '00:07:00', "the stage's own limit beats --slurm-time");
    assert.is(gpu.Comment, 'stagewise-test');
    assert.is(gpu.JobState, 'COMPLETED');
    assert.equal(sb.notes().find((n) => n.label === 'sleepy0')!.resources, { cpu: 1, gpu: 1 });
    const cpu = await showJob(submittedId(r.out, 'src'));
    assert.is(cpu.Partition, 'cpu');
    assert.is(cpu.TresPerNode, undefined);
    assert.is(cpu.TimeLimit, '00:09:00');
    assert.is(cpu.NumCPUs, '1');
  } finally {
    await sb.cleanup();
  }
});

slurmTest('a store the jobs could not see is refused before anything is submitted: LOCAL_ROOT on tmpfs', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  if (!existsSync('/dev/shm')) return;
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    const before = await lastJobId();
    const r = await within(60_000, 'the coordinator', coordinator(sb, [], { LOCAL_ROOT: `/dev/shm/stagewise-slurm-test-${process.pid}` }).done);
    assert.is(r.code, 1, r.out + r.err);
    assert.match(r.err, /--executor slurm: LOCAL_ROOT \/dev\/shm\/\S+ is on tmpfs \(this machine's memory\), which jobs on other nodes cannot see/);
    assert.equal(await jobsSince(before), []);
  } finally {
    await import('node:fs/promises').then((f) => f.rm(`/dev/shm/stagewise-slurm-test-${process.pid}`, { recursive: true, force: true }));
    await sb.cleanup();
  }
});

slurmS3Test('S3 store: the jobs publish to the bucket; a coordinator with an empty local root then finds everything there and submits nothing', async () => {
  if (!slurm || !swift) throw new Error('the Slurm cluster or Swift did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    const env = swift.s3Env(`${BUCKET}/run-${process.pid}`);
    const r = await within(120_000, 'the coordinator', coordinator(sb, [], env).done);
    assert.is(r.code, 0, r.out + r.err);
    assert.equal(summary(r.out), { built: 4, cached: 0, failed: 0, skipped: 0 });
    const mark = await lastJobId();
    const again = await within(60_000, 'the second coordinator', coordinator(sb, [], { ...env, LOCAL_ROOT: join(sb.dir, 'elsewhere') }).done);
    assert.is(again.code, 0, again.out + again.err);
    assert.equal(summary(again.out), { built: 0, cached: 4, failed: 0, skipped: 0 });
    assert.equal(await jobsSince(mark), [], 'nothing submitted');
  } finally {
    await sb.cleanup();
  }
});

slurmTest('jobs that cannot show they see the coordinator\'s files stop the run before any node is submitted, with the check job\'s log; sbatch errors are shown', async () => {
  if (!slurm) throw new Error('the Slurm cluster did not start');
  const sb = new Sandbox();
  try {
    sb.writeConfig(BASE);
    const before = await lastJobId();
    // Jobs started elsewhere than the checkout (a site default overriding --chdir, or a node without
    // the shared filesystem) cannot run build-node --check, so nothing acknowledges the marker.
    const r = await within(90_000, 'the coordinator', coordinator(sb, ['--slurm-arg=--chdir=/']).done);
    assert.is(r.code, 1, r.out + r.err);
    assert.equal(summary(r.out), { built: 0, cached: 0, failed: 2, skipped: 2 });
    assert.match(r.out, /--executor slurm: the store check job \d+ \(FAILED on swnode\) could not read \S+\/slurm\/check\/[0-9a-f-]+\.json, which this coordinator wrote: LOCAL_ROOT \(\S+\) must be on a filesystem the cluster shares, or use an S3 store/);
    assert.match(r.out, /\| .*tsx/, "the check job's log");
    assert.match(r.out, /the Slurm store check failed \(see the first failure\)/);
    assert.equal((await jobsSince(before)).map((j) => j.name), ['stagewise-check'], 'no node was submitted');

    const p = await within(60_000, 'the coordinator', coordinator(sb, ['--slurm-partition', 'nope']).done);
    assert.is(p.code, 1);
    assert.match(p.out, /sbatch .*--partition=nope.*: sbatch: error: invalid partition specified: nope/);
  } finally {
    await sb.cleanup();
  }
});

test.run();
