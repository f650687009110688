// ML throughput of the L2H4 model: training steps (forward+backward+Adam, B = 64 and 256) and SGLD
// steps (forward+backward+update, m = 1,024), K = 8 and K = 16, for both implementations in
// lib/model.ts — the tfjs graph ("before", kernel 'tfjs') and the fused WebAssembly kernel
// ("after", kernel 'auto' on a CPU backend) — one process and two processes at once (both cores
// busy), next to PyTorch (Debian python3-torch + OpenBLAS, one thread per process) when installed.
// Also the dense-matmul ceiling of this machine (tfjs-wasm/XNNPACK and OpenBLAS) and the FLOP/s each
// workload reaches. Writes bench/ml-results.md.
//
// Run: `npx tsx bench/ml.ts` or `npm run bench -- ml` (BENCH_SECONDS per measurement, default 3);
// `npx tsx bench/ml.ts --profile [B] [K]` prints where the time goes in both implementations.
// Every measurement runs in a child process; two-process runs start timing together (a barrier).
import { spawn } from 'node:child_process';
import { $ } from 'zx';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { PAPER_MODEL, Transformer, initParams, type ModelKernel } from '../lib/model.ts';
import { rngStream } from '../lib/rng.ts';
import { sampleBatch } from '../lib/tasks.ts';
import { initBackend } from '../lib/backend.ts';
import { FLOP_PER_SEQUENCE, WORKLOADS, workloadStep } from './ml-workloads.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SELF = fileURLToPath(import.meta.url);
const TORCH_SCRIPT = fileURLToPath(new URL('../tools/oracle/bench_torch.py', import.meta.url));


const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

// ---------------------------------------------------------------- child side: one workload

/** Warm up, report "ready", wait for "go" on stdin, then time `step` for SECONDS. */
async function timedAfterBarrier(step: () => Promise<void>): Promise<number> {
  await step();
  await step(); // warm-up: wasm compile, XNNPACK weight packing, kernel buffers
  console.log('ready');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await step();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

async function child(kernel: ModelKernel, workload: string): Promise<void> {
  await initBackend();
  const [kind, size, K] = workload.split(':');
  const step = workloadStep(kind, kernel, Number(size), Number(K));
  const rate = await timedAfterBarrier(step);
  console.log(JSON.stringify({ stepsPerSec: rate }));
}

// ---------------------------------------------------------------- parent side

interface Proc {
  ready: Promise<void>;
  result: Promise<string>;
  go(): void;
}

/** Starts a child that prints "ready", waits for a line on stdin, then prints its result as its last line. */
function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const p = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let readyResolve: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  p.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (/^ready$/m.test(out)) readyResolve();
  });
  const result = new Promise<string>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n').at(-1)!) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
  result.catch(() => readyResolve()); // a child that dies before "ready" must not hang the barrier
  return { ready, result, go: () => p.stdin.end('go\n') };
}

/** Runs `copies` children together; returns the summed steps/s. */
async function together(copies: number, make: () => Proc, parse: (line: string) => number): Promise<number> {
  const procs = Array.from({ length: copies }, make);
  await Promise.all(procs.map((p) => p.ready));
  procs.forEach((p) => p.go());
  const rates = await Promise.all(procs.map(async (p) => parse(await p.result)));
  return rates.reduce((a, b) => a + b, 0);
}

const tsChild = (kernel: ModelKernel, workload: string) => () => start(process.execPath, ['--import', 'tsx', SELF, '--child', kernel, workload]);
const torchChild = (workload: string) => () =>
  start('/usr/bin/python3', [TORCH_SCRIPT, String(SECONDS), workload, '--barrier'], { ...process.env, OPENBLAS_NUM_THREADS: '1' });
const parseTs = (line: string) => (JSON.parse(line) as { stepsPerSec: number }).stepsPerSec;
const parseTorch = (line: string) => (JSON.parse(line) as { results: { stepsPerSec: number }[] }).results[0].stepsPerSec;
const parseTorchFlops = (line: string) => (JSON.parse(line) as { results: { flopPerSec: number }[] }).results[0].flopPerSec;

function torchAvailable(): string | null {
  try {
    const out = readFileSync('/usr/lib/python3/dist-packages/torch/version.py', 'utf8');
    return /__version__\s*=\s*'([^']+)'/.exec(out)?.[1] ?? 'unknown';
  } catch {
    return null;
  }
}

/** GFLOP/s of an n×n×n product: tfjs-wasm matMul (XNNPACK) in this process. */
function wasmMatmulCeiling(n: number): number {
  const a = tf.randomUniform([n, n]);
  const b = tf.randomUniform([n, n]);
  const once = () => tf.tidy(() => tf.matMul(a, b)).dataSync();
  once();
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    once();
    reps++;
  }
  tf.dispose([a, b]);
  return (reps * 2 * n ** 3) / ((performance.now() - t0) / 1000) / 1e9;
}

interface Row {
  workload: string;
  before: number[];
  after: number[];
  torch: number[] | null;
  load: string;
}

const fmt = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));

export async function main(): Promise<void> {
  const backend = await initBackend();
  const torchVersion = torchAvailable();
  const rows: Row[] = [];
  for (const workload of WORKLOADS) {
    // Interleaved per workload, so before/after/PyTorch see the same background load.
    const row: Row = { workload, before: [], after: [], torch: torchVersion ? [] : null, load: loadavg() };
    for (const copies of [1, 2]) {
      row.before.push(await together(copies, tsChild('tfjs', workload), parseTs));
      row.after.push(await together(copies, tsChild('auto', workload), parseTs));
      if (row.torch) row.torch.push(await together(copies, torchChild(workload), parseTorch));
    }
    row.load += ` → ${loadavg()}`;
    rows.push(row);
    console.error(`[bench ml] ${workload}: before ${row.before.map((r) => fmt(r)).join('/')}, after ${row.after.map((r) => fmt(r)).join('/')}, torch ${row.torch?.map((r) => fmt(r)).join('/') ?? '–'} (load ${row.load})`);
  }
  const wasmCeiling = wasmMatmulCeiling(512);
  const blasCeiling = torchVersion ? await together(1, torchChild('matmul:512'), parseTorchFlops) : NaN;

  const lines = [
    '# ML benchmark (bench/ml.ts)',
    '',
    `Command: \`npx tsx bench/ml.ts\` (BENCH_SECONDS=${SECONDS} per measurement). Model: L2H4, D = 4, d = mlp = 64 (paper).`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, tfjs backend **${backend}**, Node ${process.version}` +
      (torchVersion ? `; PyTorch ${torchVersion} + OpenBLAS, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1) per process.` : '; PyTorch not installed: no reference column.'),
    'Load: the 1-minute load average before → after each workload (other work shares these 2 cores; numbers move with it).',
    '',
    '"before" = tfjs graph (`kernel: \'tfjs\'`), "after" = fused WebAssembly kernel (`kernel: \'auto\'` on wasm). ×2 = two processes',
    'at once, summed; "scaling" = ×2 / ×1. train = forward+backward+Adam+write-back as stages/train.ts; sgld = one',
    'lib/sgld.ts chain step (forward+backward+update) on a fixed minibatch of m = 1,024.',
    '',
    '| workload | before steps/s | after steps/s | after / before | PyTorch steps/s | after / PyTorch | after ×2 | PyTorch ×2 | after ×2 / PyTorch ×2 | scaling after | scaling PyTorch | after GFLOP/s | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const [, B, K] = r.workload.split(':').map(Number);
      const gflop = (r.after[0] * B * FLOP_PER_SEQUENCE[K]) / 1e9;
      const t = r.torch;
      return `| ${r.workload} | ${fmt(r.before[0])} | ${fmt(r.after[0])} | ${fmt(r.after[0] / r.before[0], 1)} | ${fmt(t?.[0])} | ${fmt(t ? r.after[0] / t[0] : NaN)} | ${fmt(r.after[1])} | ${fmt(t?.[1])} | ${fmt(t ? r.after[1] / t[1] : NaN)} | ${fmt(r.after[1] / r.after[0])} | ${fmt(t ? t[1] / t[0] : NaN)} | ${fmt(gflop, 1)} | ${r.load} |`;
    }),
    '',
    `Dense-matmul ceiling (512×512×512 float32, one thread): tfjs-wasm matMul (XNNPACK, SIMD128) ${fmt(wasmCeiling, 1)} GFLOP/s` +
      (torchVersion ? `; OpenBLAS via PyTorch ${fmt(blasCeiling / 1e9, 1)} GFLOP/s.` : '.'),
    'The model FLOP/s column counts docs/model.md forward+backward FLOP (5.17 M per sequence at K = 8, 11.1 M at K = 16).',
    '',
  ];
  console.log(lines.join('\n'));
  writeFileSync(new URL('./ml-results.md', import.meta.url), lines.join('\n'));
}

// ---------------------------------------------------------------- --profile: where the time goes

const SECTIONS = ['', 'fwd embedding; W2 + double residual', 'fwd LN0', 'fwd QKV', 'fwd attention core', 'fwd W_O', 'fwd h = x + a; LN1', 'fwd W1 + ReLU',
  'fwd final LN + unembedding', 'bwd loss, LN_f, LN0', 'bwd W2 (dW2, db2, dr)', 'bwd ReLU + db1', 'bwd W1', 'bwd LN1 + residual', 'bwd W_O', 'bwd attention core', 'bwd QKV', 'bwd embedding'];

/** tfjs kernel times of one graph step, and the fused kernel's sections (profiling build: needs clang-14). */
async function profile(B: number, K: number): Promise<void> {
  await initBackend();
  const cfg = { ...PAPER_MODEL, K };
  const params = initParams(cfg, rngStream(0, 'init'));
  const batch = sampleBatch({ D: 4, K, noiseVariance: 0.125, M: 'inf' }, B, rngStream(0, 'llc-data'));
  const xs = tf.tensor3d(batch.xs, [B, K, 4]);
  const ys = tf.tensor2d(batch.ys, [B, K]);
  const graph = new Transformer(cfg, params, {}, 'tfjs');
  const graphStep = async () => tf.dispose((await graph.lossAndGrads(xs, ys)).grads);
  await graphStep();
  const t0 = performance.now();
  await graphStep();
  const graphMs = performance.now() - t0;
  const prof = await tf.profile(graphStep);
  const byKernel = new Map<string, number>();
  for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
  console.log(`tfjs graph, B=${B} K=${K}: step ${graphMs.toFixed(0)} ms, ${prof.kernels.length} kernels (load ${loadavg()})`);
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${name.padEnd(28)} ${((100 * ms) / total).toFixed(1).padStart(5)}%`);

  const { FusedTransformer } = await import('../lib/kernels/fused-transformer.ts');
  const wasmFile = `${os.tmpdir()}/transformer-profile-${process.pid}.wasm`;
  await $`sh ${fileURLToPath(new URL('../lib/kernels/build.sh', import.meta.url))} --profile ${wasmFile}`;
  const spent = new Float64Array(SECTIONS.length);
  let last = 0;
  const mark = (section: number) => {
    const now = performance.now();
    if (section > 0) spent[section] += now - last;
    last = now;
  };
  const WasmApi = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object } }).WebAssembly;
  const build = { module: new WasmApi.Module(readFileSync(wasmFile)), imports: { env: { mark } } };
  const fused = new FusedTransformer(cfg, build as ConstructorParameters<typeof FusedTransformer>[1]);
  const flat = graph.names.map((n) => params[n].data);
  fused.lossAndGrads(flat, batch.xs, batch.ys, B);
  spent.fill(0);
  const reps = 5;
  const t1 = performance.now();
  for (let i = 0; i < reps; i++) fused.lossAndGrads(flat, batch.xs, batch.ys, B);
  const fusedMs = (performance.now() - t1) / reps;
  const marked = spent.reduce((a, b) => a + b, 0);
  console.log(`fused kernel, B=${B} K=${K}: step ${fusedMs.toFixed(1)} ms (load ${loadavg()})`);
  SECTIONS.forEach((name, i) => i > 0 && console.log(`  ${name.padEnd(36)} ${((100 * spent[i]) / marked).toFixed(1).padStart(5)}%`));
  graph.dispose();
  tf.dispose([xs, ys]);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [flag, a, b] = process.argv.slice(2);
  if (flag === '--child') await child(a as ModelKernel, b);
  else if (flag === '--profile') await profile(Number(a ?? 256), Number(b ?? 8));
  else await main();
}
