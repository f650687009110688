// The chaos soak: "nothing lost, nothing redone", measured.
//
//   npm run soak -- [--kills 20] [--seed 1] [--store local|s3|both] [--config configs/tiny.yaml] [--report FILE]
//
// For each store (local; S3 on a Swift server started here), it first builds the config once,
// undisturbed, as the reference. Then, in cycles that each start from an empty store, it runs the
// same build over and over and SIGKILLs it at seeded random moments until a run reaches its end by
// itself; some rounds start two invocations on the one store at once, some flip a byte of a random
// stored blob first. After each cycle a final undisturbed run must succeed, and:
//   * every node's outputs are byte-identical to the reference (same keys, same blob digests, blobs
//     re-hashed on disk);
//   * no node was built twice to completion (the engine's build journal, STAGEWISE_BUILD_JOURNAL),
//     except the producers of a blob the soak itself corrupted, which must be rebuilt;
//   * no scratch dir, work dir or temporary file is left in the store.
// One line per fault, a summary table at the end (also written as Markdown with --report).
// On S3 the records and blobs are read from the bucket. Node ids differ only by provenance pages (figures-index embeds build dates and wall times), which
// are compared by key but not by bytes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client, s3ConfigFromEnv } from '../engine/store/s3.ts';
import { startSwift, type SwiftService } from '../test/support/services.ts';

const REPO = path.resolve(import.meta.dirname, '..');
/** Stages whose outputs carry wall-clock provenance by design; compared by key, not bytes. */
const PROVENANCE_STAGES = new Set(['figures-index']);

const { values: opts } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
    store: { type: 'string', default: 'both' },
    config: { type: 'string', default: 'configs/tiny.yaml' },
    report: { type: 'string' },
  },
});
const kills = Number(opts.kills);
const seed = Number(opts.seed);
if (!Number.isInteger(kills) || kills < 1) fail(`--kills: expected a positive integer, got ${opts.kills}`);
if (!Number.isInteger(seed)) fail(`--seed: expected an integer, got ${opts.seed}`);
if (!['local', 's3', 'both'].includes(opts.store!)) fail(`--store: expected local, s3 or both, got ${opts.store}`);

function fail(msg: string): never {
  console.error(`error: ${msg}`);
  process.exit(2);
}

/** mulberry32: a tiny seeded generator, enough to make fault times and kinds reproducible. */
function prng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Target {
  label: string;
  env: NodeJS.ProcessEnv;
  root: string;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  out: string;
}

/** One `pipeline.ts figures` process; with killAfterMs, SIGKILLed (the whole process) at that moment. */
function runPipeline(target: Target, killAfterMs?: number): Promise<RunResult> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'pipeline.ts', 'figures', '--config', opts.config!], {
    cwd: REPO,
    env: target.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, seconds: (performance.now() - t0) / 1000, out });
    }),
  );
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f));
}

/** The FAILED lines of a run's output, with the lines that follow each (its error). */
function failures(out: string): string {
  const lines = out.split('\n');
  return lines.flatMap((l, i) => (l.includes('FAILED') ? [...lines.slice(i, i + 6), '…'] : [])).join('\n') + '\n';
}

interface RecordView {
  stage: string;
  nodeId: string;
  outputs: Record<string, { digest: string }>;
}

/** key → record, read from the local store. */
function records(root: string): Map<string, RecordView> {
  const out = new Map<string, RecordView>();
  for (const f of walk(path.join(root, 'records'))) {
    if (!f.endsWith('.json')) continue;
    const r = JSON.parse(readFileSync(f, 'utf8')) as RecordView & { key: string };
    out.set(r.key, r);
  }
  return out;
}

/**
 * What a store holds, read where its truth is: the local root, or for an S3 target the bucket
 * itself (the local cache holds only what its runs touched). `blob(digest)` returns the bytes or null.
 */
async function storeContents(target: Target): Promise<{ records: Map<string, RecordView>; blob: (digest: string) => Promise<Buffer | null> }> {
  if (!target.env.AWS_BUCKET_NAME) {
    return {
      records: records(target.root),
      blob: async (d) => (existsSync(blobFile(target.root, d)) ? readFileSync(blobFile(target.root, d)) : null),
    };
  }
  const config = s3ConfigFromEnv(target.env);
  const client = createS3Client(config);
  const get = async (key: string) =>
    client.send(new GetObjectCommand({ Bucket: config.bucket, Key: key })).then(
      async (r) => Buffer.from(await r.Body!.transformToByteArray()),
      () => null,
    );
  const out = new Map<string, RecordView>();
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: config.bucket, Prefix: `${config.prefix}records/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const r = JSON.parse((await get(o.Key!))!.toString('utf8')) as RecordView & { key: string };
      out.set(r.key, r);
    }
    token = page.NextContinuationToken;
  } while (token);
  return { records: out, blob: (d) => get(`${config.prefix}blobs/${d.slice(0, 2)}/${d.slice(2)}`) };
}

function blobFile(root: string, digest: string): string {
  return path.join(root, 'blobs', digest.slice(0, 2), digest.slice(2));
}

/** Flips one byte of a random stored blob; returns its digest (or null when there is none yet). */
function corruptRandomBlob(root: string, rand: () => number): string | null {
  const blobs = walk(path.join(root, 'blobs')).filter((f) => /[0-9a-f]{62}$/.test(f) && statSync(f).isFile() && statSync(f).size > 0);
  if (blobs.length === 0) return null;
  const f = blobs[Math.floor(rand() * blobs.length)];
  const bytes = readFileSync(f);
  bytes[Math.floor(rand() * bytes.length)] ^= 0xff;
  chmodSync(f, 0o644);
  writeFileSync(f, bytes);
  chmodSync(f, 0o444);
  return path.basename(path.dirname(f)) + path.basename(f);
}

interface Fault {
  cycle: number;
  round: number;
  kind: string;
  detail: string;
}

interface SoakResult {
  label: string;
  faults: Fault[];
  cycles: number;
  referenceSeconds: number;
  /** Nodes checked: reference nodes × cycles. */
  nodes: number;
  identical: number;
  provenanceOnly: number;
  mismatched: string[];
  builtTwice: string[];
  rebuiltAfterCorruption: number;
  leftovers: string[];
  failedFinals: number;
}

/** Completed builds per key, from one build journal. */
function journalCounts(file: string): Map<string, { nodeId: string; n: number }> {
  const counts = new Map<string, { nodeId: string; n: number }>();
  for (const line of existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []) {
    const [key, nodeJson] = [line.slice(0, 64), line.slice(65, line.lastIndexOf(' '))];
    const c = counts.get(key) ?? { nodeId: JSON.parse(nodeJson) as string, n: 0 };
    c.n++;
    counts.set(key, c);
  }
  return counts;
}

/**
 * Kill rounds run in cycles: each cycle starts on an empty store and is killed again and again
 * (each killed run keeps what it finished) until a run gets to the end by itself; then an
 * undisturbed run must succeed and the cycle's store is checked against the reference.
 */
async function soak(label: string, makeTarget: (name: string) => Promise<Target>): Promise<SoakResult> {
  const rand = prng(seed * 7919 + (label === 's3' ? 1 : 0));
  console.log(`\n== ${label}: reference build`);
  const reference = await makeTarget('reference');
  const ref = await runPipeline(reference);
  if (ref.code !== 0) throw new Error(`${label}: the reference build failed (exit ${ref.code}):\n${ref.out.slice(-3000)}`);
  const refRecords = (await storeContents(reference)).records;
  console.log(`${label}: reference built ${refRecords.size} nodes in ${ref.seconds.toFixed(1)} s`);

  const result: SoakResult = {
    label, faults: [], cycles: 0, referenceSeconds: ref.seconds, nodes: 0, identical: 0, provenanceOnly: 0,
    mismatched: [], builtTwice: [], rebuiltAfterCorruption: 0, leftovers: [], failedFinals: 0,
  };
  let round = 0;
  while (round < kills) {
    const cycle = ++result.cycles;
    const target = await makeTarget(`cycle-${cycle}`);
    const journal = path.join(target.root, '..', 'journal.txt');
    mkdirSync(path.dirname(journal), { recursive: true });
    target.env.STAGEWISE_BUILD_JOURNAL = journal;
    const corrupted = new Set<string>();
    for (let finished = false; !finished && round < kills; ) {
      const before = records(target.root).size;
      let note = '';
      if (rand() < 0.25) {
        const digest = corruptRandomBlob(target.root, rand);
        if (digest) {
          corrupted.add(digest);
          note = `, blob ${digest.slice(0, 10)} corrupted first`;
        }
      }
      // Early enough that most rounds are cut short, late enough that each makes progress.
      const at = (0.05 + 0.65 * rand()) * ref.seconds * 1000;
      let kind: string;
      let detail: string;
      if (rand() < 0.2) {
        // Two invocations on one store; A is killed, B is killed later or runs to its end.
        const other = rand() < 0.5 ? at * (0.5 + rand()) : undefined;
        const [a, b] = await Promise.all([runPipeline(target, at), runPipeline(target, other)]);
        for (const r of other === undefined ? [b] : [])
          if (r.code !== 0) throw new Error(`${label} cycle ${cycle}: the surviving invocation failed (exit ${r.code}):\n${failures(r.out)}${r.out.slice(-3000)}`);
        finished = a.code === 0 || b.code === 0;
        kind = 'kill -9 (concurrent pair)';
        detail = `A ${a.signal === 'SIGKILL' ? `killed at ${(at / 1000).toFixed(1)} s` : `finished (exit ${a.code})`}, B ${b.signal === 'SIGKILL' ? `killed at ${(other! / 1000).toFixed(1)} s` : `finished (exit ${b.code})`}`;
      } else {
        const r = await runPipeline(target, at);
        if (r.signal !== 'SIGKILL' && r.code !== 0) throw new Error(`${label} cycle ${cycle}: the run failed (exit ${r.code}):\n${r.out.slice(-3000)}`);
        finished = r.code === 0;
        kind = 'kill -9';
        detail = r.signal === 'SIGKILL' ? `killed at ${(at / 1000).toFixed(1)} s` : `finished before its kill at ${(at / 1000).toFixed(1)} s`;
      }
      if (!finished || kind.includes('pair')) round++;
      const fault = { cycle, round, kind, detail: `${detail}${note}; records ${before} → ${records(target.root).size}` };
      result.faults.push(fault);
      console.log(`${label} cycle ${cycle} ${String(round).padStart(3)}/${kills}  ${kind.padEnd(25)} ${fault.detail}`);
    }

    const final = await runPipeline(target);
    if (final.code !== 0) result.failedFinals++;
    const contents = await storeContents(target);
    const got = contents.records;
    let identical = 0;
    for (const [key, want] of refRecords) {
      result.nodes++;
      const have = got.get(key);
      if (!have) {
        result.mismatched.push(`cycle ${cycle}: ${want.nodeId}: no record for key ${key.slice(0, 12)}`);
        continue;
      }
      if (PROVENANCE_STAGES.has(want.stage)) {
        result.provenanceOnly++;
        continue;
      }
      const digests = (r: RecordView) => JSON.stringify(Object.entries(r.outputs).map(([p, o]) => [p, o.digest]).sort());
      let onDisk = true;
      for (const o of Object.values(have.outputs)) {
        const bytes = await contents.blob(o.digest);
        onDisk &&= bytes !== null && createHash('sha256').update(bytes).digest('hex') === o.digest;
      }
      if (digests(have) === digests(want) && onDisk) identical++;
      else result.mismatched.push(`cycle ${cycle}: ${want.nodeId}: ${onDisk ? 'outputs differ from the reference' : 'a blob on disk does not match its digest'}`);
    }
    result.identical += identical;
    // Built twice to completion: a key journaled more than once, unless a blob of its record was corrupted.
    const excused = (key: string) => Object.values(got.get(key)?.outputs ?? {}).some((o) => corrupted.has(o.digest));
    for (const [key, c] of journalCounts(journal)) {
      if (c.n < 2) continue;
      if (excused(key)) result.rebuiltAfterCorruption++;
      else result.builtTwice.push(`cycle ${cycle}: ${c.nodeId} (${c.n}×)`);
    }
    const leftovers = [
      ...(existsSync(path.join(target.root, 'tmp')) ? readdirSync(path.join(target.root, 'tmp')).map((f) => path.join(target.root, 'tmp', f)) : []),
      ...walk(path.join(target.root, 'work')).filter((f) => statSync(f).isFile()),
      ...walk(target.root).filter((f) => f.endsWith('.tmp')),
    ].map((f) => `cycle ${cycle}: ${path.relative(target.root, f)}`);
    result.leftovers.push(...new Set(leftovers));
    const twice = result.builtTwice.filter((b) => b.startsWith(`cycle ${cycle}:`)).length;
    const left = result.leftovers.filter((l) => l.startsWith(`cycle ${cycle}:`)).length;
    console.log(
      `${label} cycle ${cycle}: final run exit ${final.code} in ${final.seconds.toFixed(1)} s; ${identical}/${refRecords.size} nodes byte-identical; ` +
        `built twice ${twice}; leftovers ${left}`,
    );
    for (const l of result.leftovers.filter((x) => x.startsWith(`cycle ${cycle}:`))) console.log(`  ${label}: LEFTOVER ${l}`);
    await rm(path.dirname(target.root), { recursive: true, force: true });
  }
  return result;
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'stagewise-soak-'));
let swift: SwiftService | null = null;
const results: SoakResult[] = [];
let ok = true;
try {
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, DEVICE: '', NO_COLOR: '1' };
  delete baseEnv.STAGEWISE_BUILD_JOURNAL;
  for (const k of Object.keys(baseEnv)) if (k.startsWith('AWS_')) delete baseEnv[k];
  if (opts.store !== 's3') {
    results.push(
      await soak('local', async (name) => {
        const root = path.join(scratch, 'local', name, 'artifacts');
        return { label: 'local', root, env: { ...baseEnv, LOCAL_ROOT: root, FIGURES_DIR: path.join(scratch, 'local', name, 'figures') } };
      }),
    );
  }
  if (opts.store !== 'local') {
    const started = await startSwift();
    if ('skipped' in started) {
      console.log(`\n  SKIPPED (soak on S3: ${started.skipped})\n`);
      if (process.env.CI) throw new Error(`S3 soak: ${started.skipped}`);
    } else {
      swift = started;
      await swift.bucketCreate('soak');
      results.push(
        await soak('s3', async (name) => {
          const root = path.join(scratch, 's3', name, 'artifacts');
          return {
            label: 's3',
            root,
            env: { ...baseEnv, ...swift!.s3Env(`soak/${name}`), LOCAL_ROOT: root, FIGURES_DIR: path.join(scratch, 's3', name, 'figures') },
          };
        }),
      );
    }
  }

  const rows = results.map((r) => {
    const pass = r.failedFinals === 0 && r.mismatched.length === 0 && r.builtTwice.length === 0 && r.leftovers.length === 0;
    ok &&= pass;
    const pairs = r.faults.filter((f) => f.kind.includes('pair')).length;
    const corruptions = r.faults.filter((f) => f.detail.includes('corrupted')).length;
    // SIGKILLs delivered: a pair can take two, a run that ends before its kill time takes none.
    const killed = r.faults.reduce((n, f) => n + (f.detail.match(/killed at/g) ?? []).length, 0);
    return `| ${r.label} | ${killed} | ${r.cycles} | ${pairs} | ${corruptions} | ${r.nodes} | ${r.identical} (+${r.provenanceOnly} provenance) | ${r.builtTwice.length} | ${r.rebuiltAfterCorruption} | ${r.leftovers.length} | ${pass ? 'PASS' : 'FAIL'} |`;
  });
  const table = [
    '| store | kill -9 delivered | cycles | concurrent pairs | blob corruptions | nodes | byte-identical | built twice | rebuilt after corruption | leftovers | result |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\n${table}`);
  for (const r of results) {
    for (const m of r.mismatched) console.log(`  ${r.label}: MISMATCH ${m}`);
    for (const b of r.builtTwice) console.log(`  ${r.label}: BUILT TWICE ${b}`);
    for (const l of r.leftovers) console.log(`  ${r.label}: LEFTOVER ${l}`);
  }
  if (opts.report) {
    const faultLines = results.flatMap((r) => r.faults.map((f) => `| ${r.label} | ${f.cycle} | ${f.round} | ${f.kind} | ${f.detail} |`));
    writeFileSync(
      opts.report,
      `# Chaos soak\n\n\`npm run soak -- --kills ${kills} --seed ${seed} --store ${opts.store} --config ${opts.config}\`, ` +
        `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.loadavg()[0].toFixed(1)} load average at the end).\n\n` +
        `${table}\n\nReference build: ${results.map((r) => `${r.label} ${r.referenceSeconds.toFixed(1)} s`).join(', ')}.\n\n` +
        `## Faults\n\n| store | cycle | round | fault | what happened |\n|---|---|---|---|---|\n${faultLines.join('\n')}\n`,
    );
  }
} finally {
  await swift?.stop();
  await rm(scratch, { recursive: true, force: true });
}
console.log(ok ? 'soak: PASS' : 'soak: FAIL');
process.exit(ok ? 0 : 1);
