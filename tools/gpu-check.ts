// The real-GPU check: what a machine with a GPU should answer before a paper-scale run. It runs
//   1. the parity test: the regression model on the GPU backend against the PyTorch oracle fixture
//      (forward outputs, per-position loss, every gradient, three Adam steps);
//   2. bench/ml.ts's workloads on that backend (training steps B = 64/256, SGLD steps m = 1,024, at
//      K = 8 and 16) — among them the paper-sized samples: training B = 256, K = 8 and SGLD m = 1,024;
// and writes everything to one Markdown file with the raw numbers in a JSON block.
//
// It is the entry of the self-contained bundle that tools/gpu-bundle.ts builds (the GPU machine gets
// only a copy of the working tree and no package registry):
//   node dist/gpu-check.mjs [--out FILE] [--seconds S] [--workloads train:256:8,sgld:1024:8]
// and it also runs from the source tree: `npx tsx tools/gpu-check.ts`. It never runs on the CPU:
// without a GPU backend (on a machine without a GPU: without Mesa's software GLES) it fails.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Transformer, readFloats } from '../lib/model.ts';
import { Adam } from '../lib/optim.ts';
import { initBackend } from '../lib/backend.ts';
import { FLOP_PER_SEQUENCE, WORKLOADS, workloadStep } from '../bench/ml-workloads.ts';
import { relErr } from '../test/lib/compare.ts';
import { f32, fixture as fx, oracleParams as params } from '../test/lib/oracle-fixture.ts';
export interface GpuCheckResult {
  date: string;
  host: { platform: string; cpus: string; node: string };
  backend: string;
  parity: { outputs: number; perPositionLoss: number; worstGradient: number; worstGradientName: string; adamLossRelErr: number[]; pass: boolean; tolerance: number };
  throughput: { workload: string; stepsPerSec: number; steps: number; seconds: number; gflopPerSec: number }[];
}

const TOLERANCE = 1e-5;

async function parity(): Promise<GpuCheckResult['parity']> {
  const { config } = fx;
  const { B } = fx.batch;
  const model = new Transformer(config, params);
  const xs = tf.tensor3d(f32(fx.batch.xs), [B, config.K, config.D]);
  const ys = tf.tensor2d(f32(fx.batch.ys), [B, config.K]);
  try {
    const out = model.forward(model.encode(xs, ys));
    const outputs = relErr(await readFloats(out), f32(fx.outputs));
    out.dispose();
    const { perPosition, grads } = await model.lossAndGrads(xs, ys);
    let worstGradient = 0;
    let worstGradientName = '';
    for (let i = 0; i < grads.length; i++) {
      const e = relErr(await readFloats(grads[i]), f32(fx.grads[model.names[i]]));
      if (e >= worstGradient) [worstGradient, worstGradientName] = [e, model.names[i]];
    }
    tf.dispose(grads);
    const weights = model.names.map((n) => Float32Array.from(params[n].data));
    const adam = new Adam(weights.map((w) => w.length));
    const adamLossRelErr: number[] = [];
    for (let s = 0; s < fx.adam.steps; s++) {
      const step = await model.lossAndGrads(xs, ys);
      adam.step(weights, await Promise.all(step.grads.map(readFloats)), fx.adam.lr);
      tf.dispose(step.grads);
      weights.forEach((w, i) => model.setParam(i, w));
      const loss = (await model.perPositionLoss(xs, ys)).reduce((a, b) => a + b, 0) / config.K;
      adamLossRelErr.push(Math.abs(loss - fx.adam.lossAfterEachStep[s]) / fx.adam.lossAfterEachStep[s]);
    }
    const perPositionLoss = relErr(perPosition, fx.perPositionLoss);
    const pass = Math.max(outputs, perPositionLoss, worstGradient, ...adamLossRelErr) <= TOLERANCE;
    return { outputs, perPositionLoss, worstGradient, worstGradientName, adamLossRelErr, pass, tolerance: TOLERANCE };
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
}

/** steps/s of one workload: two warm-up steps (shader compilation), then as many steps as fit in `seconds` (at least 2). */
async function throughput(workload: string, seconds: number): Promise<GpuCheckResult['throughput'][number]> {
  const [kind, size, K] = workload.split(':');
  const step = workloadStep(kind, 'auto', Number(size), Number(K));
  await step();
  await step();
  let steps = 0;
  const start = performance.now();
  while (steps < 2 || performance.now() - start < seconds * 1000) {
    await step();
    steps++;
  }
  const elapsed = (performance.now() - start) / 1000;
  const stepsPerSec = steps / elapsed;
  const flop = FLOP_PER_SEQUENCE[Number(K)] ?? NaN;
  return { workload, stepsPerSec, steps, seconds: elapsed, gflopPerSec: (stepsPerSec * Number(size) * flop) / 1e9 };
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

export function toMarkdown(r: GpuCheckResult): string {
  const p = r.parity;
  const find = (w: string) => r.throughput.find((t) => t.workload === w);
  const paper = [find('train:256:8'), find('sgld:1024:8')];
  return [
    '# GPU check (tools/gpu-check.ts)',
    '',
    `Date ${r.date}; backend **${r.backend}**; ${r.host.cpus}, ${r.host.platform}, Node ${r.host.node}.`,
    '',
    '## Parity with the PyTorch oracle (paper model L2H4, oracle batch)',
    '',
    `${p.pass ? 'PASS' : 'FAIL'} at ${p.tolerance} of scale: outputs ${p.outputs.toExponential(2)}, per-position loss ${p.perPositionLoss.toExponential(2)}, ` +
      `worst gradient ${p.worstGradient.toExponential(2)} (${p.worstGradientName}), Adam-step losses ${p.adamLossRelErr.map((e) => e.toExponential(2)).join(', ')}.`,
    '',
    '## Throughput (bench/ml.ts workloads; train = forward+backward+Adam+write-back, sgld = one chain step)',
    '',
    '| workload | steps/s | steps timed | seconds | model GFLOP/s |',
    '|---|---|---|---|---|',
    ...r.throughput.map((t) => `| ${t.workload} | ${fmt(t.stepsPerSec)} | ${t.steps} | ${fmt(t.seconds, 1)} | ${fmt(t.gflopPerSec, 1)} |`),
    '',
    paper[0] || paper[1]
      ? `Paper-sized samples: training B = 256, K = 8: ${paper[0] ? fmt(paper[0].stepsPerSec) : '–'} steps/s; SGLD m = 1,024, K = 8: ${paper[1] ? fmt(paper[1].stepsPerSec) : '–'} steps/s.`
      : 'Paper-sized samples not in this run (pass --workloads train:256:8,sgld:1024:8).',
    '',
    '```json',
    JSON.stringify(r, null, 2),
    '```',
    '',
  ].join('\n');
}

function parseArgs(argv: string[]): { out: string; seconds: number; workloads: string[] } {
  const a = { out: 'gpu-results.md', seconds: Number(process.env.BENCH_SECONDS ?? 5), workloads: WORKLOADS };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    if (argv[i] === '--out') a.out = value();
    else if (argv[i] === '--seconds') a.seconds = Number(value());
    else if (argv[i] === '--workloads') a.workloads = value().split(',').filter(Boolean);
    else throw new Error(`unknown option ${argv[i]}; usage: gpu-check [--out FILE] [--seconds S] [--workloads train:B:K,sgld:m:K]`);
  }
  if (!(a.seconds > 0)) throw new Error('--seconds must be a number > 0');
  for (const w of a.workloads) if (!/^(train|sgld):\d+:\d+$/.test(w)) throw new Error(`--workloads: '${w}' is not train:B:K or sgld:m:K`);
  return a;
}

export async function gpuCheck(argv: string[]): Promise<GpuCheckResult> {
  const args = parseArgs(argv);
  const backend = await initBackend('gpu');
  console.error(`[gpu-check] backend ${backend}; parity…`);
  const parityResult = await parity();
  console.error(`[gpu-check] parity ${parityResult.pass ? 'PASS' : 'FAIL'} (worst gradient ${parityResult.worstGradient.toExponential(2)})`);
  const rows: GpuCheckResult['throughput'] = [];
  for (const w of args.workloads) {
    rows.push(await throughput(w, args.seconds));
    console.error(`[gpu-check] ${w}: ${fmt(rows.at(-1)!.stepsPerSec)} steps/s`);
  }
  const cpus = os.cpus();
  const result: GpuCheckResult = {
    date: new Date().toISOString(),
    host: { platform: `${process.platform}-${process.arch}`, cpus: `${cpus.length} × ${cpus[0]?.model ?? '?'}`, node: process.version },
    backend,
    parity: parityResult,
    throughput: rows,
  };
  writeFileSync(args.out, toMarkdown(result));
  console.error(`[gpu-check] wrote ${path.resolve(args.out)}`);
  return result;
}

// Run as a program (tsx or the bundle); importing it runs nothing.
const entry = process.argv[1] ? path.resolve(process.argv[1]) : '';
if (/gpu-check\.(ts|mjs)$/.test(entry)) {
  gpuCheck(process.argv.slice(2)).then(
    (r) => process.exit(r.parity.pass ? 0 : 1),
    (err) => {
      console.error(`gpu-check: ${(err as Error).message}`);
      process.exit(2);
    },
  );
}
