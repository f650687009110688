// The chaos soak: "nothing lost, nothing redone", measured.
//
//   npm run soak -- [--kills 20] [--seed 1] [--store local|s3|both] [--config configs/tiny.yaml] [--report FILE]
//
// For each store (local; S3 on a Swift server started here), it first builds the config once,
// undisturbed, as the reference. Then, on a fresh store, it runs the same build over and over and
// SIGKILLs it at seeded random moments; some rounds start two invocations on the one store at once,
// some flip a byte of a random stored blob first. A final undisturbed run must then succeed, and:
//   * every node's outputs are byte-identical to the reference (same keys, same blob digests, blobs
//     re-hashed on disk);
//   * no node was built twice to completion (the engine's build journal, STAGEWISE_BUILD_JOURNAL),
//     except the producers of a blob the soak itself corrupted, which must be rebuilt;
//   * no scratch dir, work dir or temporary file is left in the store.
// One line per fault, a summary table at the end (also written as Markdown with --report).
// Node ids differ only by provenance pages (figures-index embeds build dates and wall times), which
// are compared by key but not by bytes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
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

interface RecordView {
  stage: string;
  nodeId: string;
  outputs: Record<string, { digest: string }>;
}

/** key → record, read from the local store (for S3, the final run's read-through cache holds them all). */
function records(root: string): Map<string, RecordView> {
  const out = new Map<string, RecordView>();
  for (const f of walk(path.join(root, 'records'))) {
    if (!f.endsWith('.json')) continue;
    const r = JSON.parse(readFileSync(f, 'utf8')) as RecordView & { key: string };
    out.set(r.key, r);
  }
  return out;
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
  round: number;
  kind: string;
  detail: string;
}

interface SoakResult {
  label: string;
  faults: Fault[];
  referenceSeconds: number;
  nodes: number;
  identical: number;
  provenanceOnly: number;
  mismatched: string[];
  builtTwice: string[];
  rebuiltAfterCorruption: number;
  leftovers: string[];
  finalCode: number | null;
}

async function soak(label: string, makeTarget: (name: string) => Promise<Target>): Promise<SoakResult> {
  const rand = prng(seed * 7919 + (label === 's3' ? 1 : 0));
  console.log(`\n== ${label}: reference build`);
  const reference = await makeTarget('reference');
  const ref = await runPipeline(reference);
  if (ref.code !== 0) throw new Error(`${label}: the reference build failed (exit ${ref.code}):\n${ref.out.slice(-3000)}`);
  const refRecords = records(reference.root);
  console.log(`${label}: reference built ${refRecords.size} nodes in ${ref.seconds.toFixed(1)} s`);

  const target = await makeTarget('soak');
  const journal = path.join(target.root, '..', `journal-${label}.txt`);
  mkdirSync(path.dirname(journal), { recursive: true });
  writeFileSync(journal, '');
  target.env.STAGEWISE_BUILD_JOURNAL = journal;
  const corrupted = new Set<string>();
  const faults: Fault[] = [];
  for (let round = 1; round <= kills; round++) {
    const before = records(target.root).size;
    let note = '';
    if (rand() < 0.25) {
      const digest = corruptRandomBlob(target.root, rand);
      if (digest) {
        corrupted.add(digest);
        note = `, blob ${digest.slice(0, 10)} corrupted first`;
      }
    }
    const at = (0.05 + 0.95 * rand()) * ref.seconds * 1000;
    if (rand() < 0.2) {
      // Two invocations on one store; one is killed, the other runs on (to its end or its own kill).
      const other = rand() < 0.5 ? at * (0.5 + rand()) : undefined;
      const [a, b] = await Promise.all([runPipeline(target, at), runPipeline(target, other)]);
      const detail = `pair: A killed at ${(at / 1000).toFixed(2)} s, B ${other === undefined ? `ran to exit ${b.code}` : `killed at ${(other / 1000).toFixed(2)} s`}`;
      if (other === undefined && b.code !== 0) throw new Error(`${label} round ${round}: the surviving invocation failed (exit ${b.code}):\n${b.out.slice(-3000)}`);
      faults.push({ round, kind: 'kill -9 (concurrent pair)', detail: `${detail}${note}` });
      void a;
    } else {
      const r = await runPipeline(target, at);
      const detail = r.signal === 'SIGKILL' ? `killed at ${(at / 1000).toFixed(2)} s` : `finished before the kill (exit ${r.code})`;
      if (r.signal !== 'SIGKILL' && r.code !== 0) throw new Error(`${label} round ${round}: the run failed (exit ${r.code}):\n${r.out.slice(-3000)}`);
      faults.push({ round, kind: 'kill -9', detail: `${detail}${note}` });
    }
    const after = records(target.root).size;
    const last = faults[faults.length - 1];
    last.detail += `; records ${before} → ${after}`;
    console.log(`${label} ${String(round).padStart(3)}/${kills}  ${last.kind.padEnd(25)} ${last.detail}`);
  }

  const final = await runPipeline(target);
  console.log(`${label}: final undisturbed run: exit ${final.code} in ${final.seconds.toFixed(1)} s`);
  const got = records(target.root);
  const mismatched: string[] = [];
  let identical = 0;
  let provenanceOnly = 0;
  for (const [key, want] of refRecords) {
    const have = got.get(key);
    if (!have) {
      mismatched.push(`${want.nodeId}: no record for key ${key.slice(0, 12)}`);
      continue;
    }
    if (PROVENANCE_STAGES.has(want.stage)) {
      provenanceOnly++;
      continue;
    }
    const same =
      JSON.stringify(Object.entries(have.outputs).map(([p, o]) => [p, o.digest]).sort()) ===
      JSON.stringify(Object.entries(want.outputs).map(([p, o]) => [p, o.digest]).sort());
    const onDisk = Object.values(have.outputs).every((o) => {
      const f = blobFile(target.root, o.digest);
      return existsSync(f) && createHash('sha256').update(readFileSync(f)).digest('hex') === o.digest;
    });
    if (same && onDisk) identical++;
    else mismatched.push(`${want.nodeId}: ${same ? 'a blob on disk does not match its digest' : 'outputs differ from the reference'}`);
  }

  // Built twice to completion: a key journaled more than once, unless a blob of its record was corrupted.
  const counts = new Map<string, { nodeId: string; n: number }>();
  for (const line of readFileSync(journal, 'utf8').split('\n').filter(Boolean)) {
    const [key, nodeJson] = [line.slice(0, 64), line.slice(65, line.lastIndexOf(' '))];
    const c = counts.get(key) ?? { nodeId: JSON.parse(nodeJson) as string, n: 0 };
    c.n++;
    counts.set(key, c);
  }
  const excused = (key: string) => Object.values(got.get(key)?.outputs ?? {}).some((o) => corrupted.has(o.digest));
  const builtTwice = [...counts].filter(([key, c]) => c.n > 1 && !excused(key)).map(([, c]) => `${c.nodeId} (${c.n}×)`);
  const rebuiltAfterCorruption = [...counts].filter(([key, c]) => c.n > 1 && excused(key)).length;

  const leftovers = [
    ...walk(path.join(target.root, 'tmp')).filter((f) => statSync(f).isDirectory() || statSync(f).isFile()),
    ...walk(path.join(target.root, 'work')).filter((f) => statSync(f).isFile()),
    ...walk(target.root).filter((f) => f.endsWith('.tmp')),
  ].map((f) => path.relative(target.root, f));
  return {
    label,
    faults,
    referenceSeconds: ref.seconds,
    nodes: refRecords.size,
    identical,
    provenanceOnly,
    mismatched,
    builtTwice,
    rebuiltAfterCorruption,
    leftovers: [...new Set(leftovers)],
    finalCode: final.code,
  };
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
    const pass = r.finalCode === 0 && r.mismatched.length === 0 && r.builtTwice.length === 0 && r.leftovers.length === 0;
    ok &&= pass;
    const pairs = r.faults.filter((f) => f.kind.includes('pair')).length;
    const corruptions = r.faults.filter((f) => f.detail.includes('corrupted')).length;
    return `| ${r.label} | ${r.faults.length} | ${pairs} | ${corruptions} | ${r.nodes} | ${r.identical} (+${r.provenanceOnly} provenance) | ${r.builtTwice.length} | ${r.rebuiltAfterCorruption} | ${r.leftovers.length} | ${pass ? 'PASS' : 'FAIL'} |`;
  });
  const table = [
    '| store | kill rounds | concurrent pairs | blob corruptions | nodes | byte-identical | built twice | rebuilt after corruption | leftovers | result |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\n${table}`);
  for (const r of results) {
    for (const m of r.mismatched) console.log(`  ${r.label}: MISMATCH ${m}`);
    for (const b of r.builtTwice) console.log(`  ${r.label}: BUILT TWICE ${b}`);
    for (const l of r.leftovers) console.log(`  ${r.label}: LEFTOVER ${l}`);
  }
  if (opts.report) {
    const faultLines = results.flatMap((r) => r.faults.map((f) => `| ${r.label} | ${f.round} | ${f.kind} | ${f.detail} |`));
    writeFileSync(
      opts.report,
      `# Chaos soak\n\n\`npm run soak -- --kills ${kills} --seed ${seed} --store ${opts.store} --config ${opts.config}\`, ` +
        `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.loadavg()[0].toFixed(1)} load average at the end).\n\n` +
        `${table}\n\nReference build: ${results.map((r) => `${r.label} ${r.referenceSeconds.toFixed(1)} s`).join(', ')}.\n\n` +
        `## Faults\n\n| store | round | fault | what happened |\n|---|---|---|---|\n${faultLines.join('\n')}\n`,
    );
  }
} finally {
  await swift?.stop();
  await rm(scratch, { recursive: true, force: true });
}
console.log(ok ? 'soak: PASS' : 'soak: FAIL');
process.exit(ok ? 0 : 1);
