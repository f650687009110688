// ML throughput of the L2H4 model per core: training steps (forward+backward+Adam, B = 64 and 256)
// and SGLD steps (forward+backward+update, m = 1,024), K = 8 and K = 16 — the fused WebAssembly
// kernel exactly as the stages drive it (weights in plain arrays: stages/train-run.ts,
// stages/llc-chain.ts) against PyTorch (Debian python3-torch + OpenBLAS, one thread) running
// tools/oracle/bench_torch.py's idiomatic module and the oracle module, back to back per round.
// Also the dense-matmul ceiling of the same core (torch.mm, OpenBLAS) and the GFLOP/s each
// workload reaches. Writes bench/ml-results.md.
//
// The machine is shared: every rate is steps per CPU-second of the measuring process (the wall
// clock also counts time other processes held the core; both are recorded), and each ratio is
// taken within one round, so both sides saw the same background load. ROUNDS rounds (default 3)
// give the spread.
//
// Run: `npx tsx bench/ml.ts` or `npm run bench -- ml` (BENCH_SECONDS of CPU time per measurement,
// default 3; BENCH_ROUNDS, default 3); `--tfjs` adds the tfjs-graph column ("before" the kernel);
// `npx tsx bench/ml.ts --profile [B] [K]` prints where the time goes in both implementations.
import { spawn } from 'node:child_process';
import { $ } from 'zx';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { kernelBuild } from '../lib/kernels/fused-transformer.ts';
import { PAPER_MODEL, Transformer, initParams, type ModelKernel } from '../lib/model.ts';
import { rngStream } from '../lib/rng.ts';
import { sampleBatch } from '../lib/tasks.ts';
import { initBackend } from '../lib/backend.ts';
import { FLOP_PER_SEQUENCE, WORKLOADS, workloadStep } from './ml-workloads.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SELF = fileURLToPath(import.meta.url);
const TORCH_SCRIPT = fileURLToPath(new URL('../tools/oracle/bench_torch.py', import.meta.url));


const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// ---------------------------------------------------------------- child side: one workload

interface Rates {
  /** Steps per wall-clock second. */
  stepsPerSec: number;
  /** Steps per CPU-second of this process. */
  stepsPerCpuSec: number;
}

/** Warm up, report "ready", wait for "go" on stdin, then time `step` for SECONDS of CPU time. */
async function timedAfterBarrier(step: () => Promise<void>): Promise<Rates> {
  await step();
  await step(); // warm-up: wasm compile, buffers
  console.log('ready');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  let n = 0;
  const wall = performance.now();
  const cpu = cpuSeconds();
  while (cpuSeconds() - cpu < SECONDS) {
    await step();
    n++;
  }
  return { stepsPerSec: n / ((performance.now() - wall) / 1000), stepsPerCpuSec: n / (cpuSeconds() - cpu) };
}

async function child(kernel: ModelKernel, workload: string): Promise<void> {
  await initBackend();
  const [kind, size, K] = workload.split(':');
  const step = workloadStep(kind, kernel, Number(size), Number(K));
  const rates = await timedAfterBarrier(step);
  console.log(JSON.stringify({ ...rates, build: kernel === 'tfjs' ? 'tfjs' : kernelBuild() }));
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

async function once(make: () => Proc): Promise<string> {
  const p = make();
  await p.ready;
  p.go();
  return p.result;
}

const tsChild = (kernel: ModelKernel, workload: string) => () => start(process.execPath, ['--import', 'tsx', SELF, '--child', kernel, workload]);
const torchChild = (workload: string, model: 'idiomatic' | 'oracle') => () =>
  start('/usr/bin/python3', [TORCH_SCRIPT, String(SECONDS), workload, '--barrier', '--model', model], { ...process.env, OPENBLAS_NUM_THREADS: '1' });
const parseTs = (line: string) => JSON.parse(line) as Rates & { build: string };
const parseTorch = (line: string) => (JSON.parse(line) as { results: (Rates & { flopPerSec?: number })[] }).results[0];

function torchAvailable(): string | null {
  try {
    const out = readFileSync('/usr/lib/python3/dist-packages/torch/version.py', 'utf8');
    return /__version__\s*=\s*'([^']+)'/.exec(out)?.[1] ?? 'unknown';
  } catch {
    return null;
  }
}

interface Round {
  fused: Rates;
  idiomatic?: Rates;
  oracle?: Rates;
  tfjs?: Rates;
  load: string;
}

const fmt = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** "median (min–max)" over rounds. */
const spread = (xs: number[], digits = 2) => (xs.length === 0 ? '–' : xs.length === 1 ? fmt(xs[0], digits) : `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`);

export async function main(): Promise<void> {
  const withTfjs = process.argv.includes('--tfjs');
  const backend = await initBackend();
  const build = kernelBuild();
  const torchVersion = torchAvailable();
  const rows: { workload: string; rounds: Round[] }[] = [];
  const ceilings: number[] = [];
  for (const workload of WORKLOADS) {
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Back to back, so the ratio of each round is taken under one background load.
      const load = loadavg();
      const round: Round = { fused: parseTs(await once(tsChild('auto', workload))), load };
      if (torchVersion) {
        round.idiomatic = parseTorch(await once(torchChild(workload, 'idiomatic')));
        round.oracle = parseTorch(await once(torchChild(workload, 'oracle')));
      }
      if (withTfjs) round.tfjs = parseTs(await once(tsChild('tfjs', workload)));
      round.load += ` → ${loadavg()}`;
      rounds.push(round);
      const ref = Math.max(round.idiomatic?.stepsPerCpuSec ?? NaN, round.oracle?.stepsPerCpuSec ?? NaN);
      console.error(`[bench ml] ${workload} round ${r + 1}: fused ${fmt(round.fused.stepsPerCpuSec)}, PyTorch idiomatic ${fmt(round.idiomatic?.stepsPerCpuSec)}, oracle ${fmt(round.oracle?.stepsPerCpuSec)} steps/CPU-s → ${fmt(round.fused.stepsPerCpuSec / ref)}× (load ${round.load})`);
    }
    rows.push({ workload, rounds });
    if (torchVersion) ceilings.push(parseTorch(await once(torchChild('matmul:512', 'idiomatic'))).flopPerSec ?? NaN);
  }

  const lines = [
    '# ML benchmark (bench/ml.ts)',
    '',
    `Command: \`npx tsx bench/ml.ts\` (BENCH_SECONDS=${SECONDS} CPU-seconds per measurement, BENCH_ROUNDS=${ROUNDS}). Model: L2H4, D = 4, d = mlp = 64 (paper). Run ${new Date().toISOString()}.`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, tfjs backend **${backend}**, fused kernel build **${build}**, Node ${process.version}` +
      (torchVersion ? `; PyTorch ${torchVersion} + OpenBLAS, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1).` : '; PyTorch not installed: no reference column.'),
    '',
    'Rates are steps per CPU-second of the measuring process (per core); each cell is the median over rounds with (min–max).',
    'PyTorch "idiomatic" = tools/oracle/bench_torch.py\'s FastModel (one fused QKV Linear per layer, heads by view/transpose, a',
    'boolean mask buffer); "oracle" = tools/oracle/model_oracle.py\'s Model. The ratio of a round is fused / the FASTER of the two',
    'PyTorch modules in that round (measured back to back). train = forward+backward+Adam as stages/train-run.ts; sgld = one',
    'lib/sgld.ts chain step (forward+backward+update) on m = 1,024 sequences as stages/llc-chain.ts.',
    '',
    '| workload | fused steps/CPU-s | PyTorch idiomatic | PyTorch oracle | **fused / faster PyTorch** | fused GFLOP/CPU-s | fused steps/s (wall) | load (1-min avg) |' + (withTfjs ? ' tfjs graph steps/CPU-s |' : ''),
    '|---|---|---|---|---|---|---|---|' + (withTfjs ? '---|' : ''),
    ...rows.map(({ workload, rounds }) => {
      const [, B, K] = workload.split(':').map(Number);
      const fused = rounds.map((r) => r.fused.stepsPerCpuSec);
      const ratios = rounds.map((r) => r.fused.stepsPerCpuSec / Math.max(r.idiomatic?.stepsPerCpuSec ?? NaN, r.oracle?.stepsPerCpuSec ?? NaN));
      const gflop = fused.map((f) => (f * B * FLOP_PER_SEQUENCE[K]) / 1e9);
      const cells = [
        workload,
        spread(fused),
        torchVersion ? spread(rounds.map((r) => r.idiomatic!.stepsPerCpuSec)) : '–',
        torchVersion ? spread(rounds.map((r) => r.oracle!.stepsPerCpuSec)) : '–',
        torchVersion ? `**${spread(ratios)}**` : '–',
        spread(gflop, 1),
        spread(rounds.map((r) => r.fused.stepsPerSec)),
        rounds.map((r) => r.load).join('; '),
      ];
      if (withTfjs) cells.push(spread(rounds.map((r) => r.tfjs!.stepsPerCpuSec)));
      return `| ${cells.join(' | ')} |`;
    }),
    '',
    torchVersion
      ? `Dense-matmul ceiling of the same core, measured after each workload (512×512×512 float32, torch.mm, OpenBLAS AVX-512, one thread, per CPU-second): ${spread(ceilings.map((c) => c / 1e9), 1)} GFLOP/s.`
      : 'Dense-matmul ceiling: PyTorch not installed.',
    'GFLOP counts 3 × the forward\'s dense and attention products (5.17 M per sequence at K = 8, 11.1 M at K = 16), the full',
    'causal attention included, although the kernel skips the masked blocks.',
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
