// ML throughput on the chosen tfjs backend, with the same workloads in PyTorch (one thread) when
// Debian's python3-torch is installed, printed as ratios. Writes bench/ml-results.md.
// Run: `npx tsx bench/ml.ts` or `npm run bench -- ml`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { PAPER_MODEL, Transformer, initParams } from '../lib/model.ts';
import { Adam, oneCycleLr } from '../lib/optim.ts';
import { rngStream } from '../lib/rng.ts';
import { sampleBatch } from '../lib/tasks.ts';
import { initBackend } from '../stages/backend.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);

interface Result {
  name: string;
  stepsPerSec: number;
}

function timed(step: (i: number) => void): number {
  step(0); // warm-up: kernel compilation and XNNPACK weight packing
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) step(++n);
  return n / ((performance.now() - start) / 1000);
}

/** A full training step as stages/train.ts does it: fresh batch, forward+backward, Adam, write-back. */
function trainWorkload(B: number): number {
  const cfg = PAPER_MODEL;
  const model = new Transformer(cfg, initParams(cfg, rngStream(0, 'init')));
  const initial = model.getParams();
  const params = model.names.map((n) => Float32Array.from(initial[n].data));
  const adam = new Adam(params.map((p) => p.length));
  const task = { D: cfg.D, K: cfg.K, noiseVariance: 0.125, M: 'inf' as const };
  const rate = timed((s) => {
    const batch = sampleBatch(task, B, rngStream(0, 'train-data', s));
    const xs = tf.tensor3d(batch.xs, [B, cfg.K, cfg.D]);
    const ys = tf.tensor2d(batch.ys, [B, cfg.K]);
    const { grads } = model.lossAndGrads(xs, ys);
    adam.step(params, grads.map((g) => g.dataSync() as Float32Array), oneCycleLr(s % 1000, 1000, 3e-3));
    tf.dispose([xs, ys, ...grads]);
    params.forEach((p, i) => model.setParam(i, p));
  });
  model.dispose();
  return rate;
}

/** What one SGLD step costs: a forward+backward on a minibatch of m sequences (the update is ~0.2%). */
function sgldWorkload(m: number, K: number): number {
  const cfg = { ...PAPER_MODEL, K };
  const model = new Transformer(cfg, initParams(cfg, rngStream(0, 'init')));
  const batch = sampleBatch({ D: cfg.D, K, noiseVariance: 0.125, M: 'inf' }, m, rngStream(0, 'llc-data'));
  const xs = tf.tensor3d(batch.xs, [m, K, cfg.D]);
  const ys = tf.tensor2d(batch.ys, [m, K]);
  const rate = timed(() => {
    const { grads } = model.lossAndGrads(xs, ys);
    grads.forEach((g) => g.dataSync());
    tf.dispose(grads);
  });
  tf.dispose([xs, ys]);
  model.dispose();
  return rate;
}

function torchResults(): { version: string; results: Result[] } | null {
  const script = fileURLToPath(new URL('../tools/oracle/bench_torch.py', import.meta.url));
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      const out = execFileSync(python, [script, String(SECONDS)], { env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const parsed = JSON.parse(out.trim().split('\n').at(-1)!) as { torch: string; results: Result[] };
      return { version: parsed.torch, results: parsed.results };
    } catch {
      /* try the next interpreter */
    }
  }
  return null;
}

export async function main(): Promise<void> {
  const backend = await initBackend();
  const ours: Result[] = [
    { name: 'train B=64 K=8', stepsPerSec: trainWorkload(64) },
    { name: 'train B=256 K=8', stepsPerSec: trainWorkload(256) },
    { name: 'sgld-fwd+bwd m=1024 K=8', stepsPerSec: sgldWorkload(1024, 8) },
    { name: 'sgld-fwd+bwd m=1024 K=16', stepsPerSec: sgldWorkload(1024, 16) },
  ];
  const torch = torchResults();
  const load = os.loadavg()[0].toFixed(1);
  const lines = [
    '# ML benchmark (bench/ml.ts)',
    '',
    `Command: \`npx tsx bench/ml.ts\` (BENCH_SECONDS=${SECONDS} per workload). Model: L2H4, D = 4, d = mlp = 64 (paper).`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load average ${load} at the end of the run; tfjs backend **${backend}**;`,
    torch ? `PyTorch ${torch.version}, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1).` : 'PyTorch not installed: no reference column.',
    '',
    '| workload | tfjs steps/s | PyTorch steps/s | tfjs / PyTorch |',
    '|---|---|---|---|',
    ...ours.map((r) => {
      const ref = torch?.results.find((t) => t.name === r.name);
      return `| ${r.name} | ${r.stepsPerSec.toFixed(2)} | ${ref ? ref.stepsPerSec.toFixed(2) : '–'} | ${ref ? (r.stepsPerSec / ref.stepsPerSec).toFixed(2) : '–'} |`;
    }),
    '',
  ];
  console.log(lines.join('\n'));
  writeFileSync(new URL('./ml-results.md', import.meta.url), lines.join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
