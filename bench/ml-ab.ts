// In-process A/B of two versions of the code on bench/ml.ts's workloads: steps per CPU-second of
// version A and version B, alternated within one process (ABBA) for ROUNDS rounds, and the ratio
// B/A per round. On a shared machine the load moves absolute rates by 2× or more between minutes;
// a ratio taken within a round, both versions seeing the same load, moves by a few per cent
// (bench/perf.md). The fused kernel is compiled per version (each tree's transformer-wasm.ts).
//
// Run: git archive <rev> | tar -x -C /tmp/a && ln -s "$PWD/node_modules" /tmp/a/node_modules, then
// `npx tsx bench/ml-ab.ts /tmp/a [B_DIR]` (B defaults to this tree). AB_SECONDS CPU-seconds per
// measurement (default 3), AB_ROUNDS (default 5), AB_ROWS (default: every workload, comma-separated).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { initBackend } from '../lib/backend.ts';
import { WORKLOADS } from './ml-workloads.ts';

type Workloads = typeof import('./ml-workloads.ts');

const SECONDS = Number(process.env.AB_SECONDS ?? 3);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 5);

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function rate(step: () => Promise<void>): Promise<number> {
  let n = 0;
  const t0 = cpuSeconds();
  while (cpuSeconds() - t0 < SECONDS) {
    await step();
    n++;
  }
  return n / (cpuSeconds() - t0);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const load = (dir: string): Promise<Workloads> => import(pathToFileURL(path.resolve(dir, 'bench/ml-workloads.ts')).href);

async function main(): Promise<void> {
  const [aDir, bDir = path.resolve(import.meta.dirname, '..')] = process.argv.slice(2);
  if (!aDir) throw new Error('usage: npx tsx bench/ml-ab.ts A_DIR [B_DIR]  (each a checkout with node_modules)');
  const [a, b] = [await load(aDir), await load(bDir)];
  await initBackend();
  const rows = process.env.AB_ROWS ? process.env.AB_ROWS.split(',') : WORKLOADS;
  console.log(`A = ${aDir}, B = ${bDir}; ${SECONDS} CPU-s per measurement, ${ROUNDS} rounds (ABBA)`);
  console.log('| workload | A steps/CPU-s | B steps/CPU-s | **B / A**, median (min–max) |\n|---|---|---|---|');
  for (const workload of rows) {
    const [kind, size, K] = workload.split(':');
    const stepA = a.workloadStep(kind, 'auto', Number(size), Number(K));
    const stepB = b.workloadStep(kind, 'auto', Number(size), Number(K));
    // Warm-up: the engine tiers both versions' wasm and JS up to optimised code.
    for (let w = 0; w < 2; w++) await rate(stepA), await rate(stepB);
    const ra: number[] = [], rb: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) ra.push(await rate(stepA)), rb.push(await rate(stepB));
      else rb.push(await rate(stepB)), ra.push(await rate(stepA));
      console.error(`[ml-ab] ${workload} round ${r + 1}: A ${ra[r].toFixed(2)}, B ${rb[r].toFixed(2)} steps/CPU-s → ${(rb[r] / ra[r]).toFixed(3)}`);
    }
    const ratios = ra.map((x, i) => rb[i] / x);
    console.log(`| ${workload} | ${median(ra).toFixed(2)} | ${median(rb).toFixed(2)} | **${median(ratios).toFixed(2)}** (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`);
  }
}

await main();
