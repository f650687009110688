// SGLD throughput for the paper's L2H4 model (K = 8, m = 1,024; docs/llc.md): steps/s of one chain
// in this process, and of two chains in parallel worker threads (the `llc` stage's path), plus
// the ratio to PyTorch when tools/oracle/bench_torch.py and python3-torch are available.
// Writes bench/sgld-results.md. Run: `npx tsx bench/sgld.ts` or `npm run bench -- sgld`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PAPER_MODEL, initParams } from '../lib/model.ts';
import { rngStream } from '../lib/rng.ts';
import { encodeTensors } from '../lib/tensorfile.ts';
import { initBackend } from '../lib/backend.ts';
import { requestedDevice } from '../lib/device.ts';
import { runLlcJob, type LlcJob, type LlcJobResult, type LlcJobSpec } from '../stages/llc-chain.ts';
import { ThreadPool } from '../engine/run/threads.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const STEPS = Number(process.env.SGLD_BENCH_STEPS ?? 12);

export async function main(): Promise<void> {
  const backend = await initBackend();
  const device = requestedDevice();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sgld-bench-'));
  try {
    const checkpointFile = path.join(dir, 'step.swt');
    await writeFile(checkpointFile, encodeTensors(initParams(PAPER_MODEL, rngStream(0, 'init')), { step: 0 }));
    const spec: LlcJobSpec = {
      checkpointFile,
      model: PAPER_MODEL,
      task: { D: 4, K: 8, noiseVariance: 0.125, M: 'inf' },
      eps: 3e-4,
      nbeta: 200 / 3,
      gamma: 20 / 3,
      burnin: 0,
      draws: STEPS,
      batchSize: 1024,
      datasetSize: 8192,
      seed: 0,
      device,
    };
    // One process: warm up (model, dataset, kernels), then time STEPS steps.
    await runLlcJob({ kind: 'chain', spec: { ...spec, draws: 2 }, chain: 0 });
    let t0 = performance.now();
    await runLlcJob({ kind: 'chain', spec, chain: 0 });
    const single = STEPS / ((performance.now() - t0) / 1000);

    // Two workers, one chain each, timed after both have started and warmed up.
    const workers = 2;
    const pool = new ThreadPool({ size: workers });
    const handler = pathToFileURL(path.join(here, '../stages/llc-worker.ts')).href;
    const chain = (job: LlcJob) => pool.run<LlcJobResult>(handler, job);
    await Promise.all([0, 1].map((c) => chain({ kind: 'chain', spec: { ...spec, draws: 2 }, chain: c })));
    t0 = performance.now();
    await Promise.all([0, 1].map((c) => chain({ kind: 'chain', spec, chain: c })));
    const parallel = (workers * STEPS) / ((performance.now() - t0) / 1000);
    await pool.close(new Error('bench done'));

    let torchLine = '';
    const torchScript = path.join(here, '../tools/oracle/bench_torch.py');
    if (!existsSync(torchScript)) {
      torchLine = `PyTorch: SKIPPED — ${path.relative(process.cwd(), torchScript)} does not exist`;
      console.warn(`\n!!! ${torchLine}\n`);
    } else {
      try {
        // bench_torch.py prints { torch, results: [{ name, stepsPerSec }] }; 'sgld:1024:8' is one SGLD step
        // (forward + backward + update) at m = 1,024. Debian's python3 has torch; pyenv's does not.
        const { stdout: out } = await $({ quiet: true, env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })`/usr/bin/python3 ${torchScript} 3 sgld:1024:8`;
        const parsed = JSON.parse(out.trim().split('\n').pop()!) as { torch: string; results: { name: string; stepsPerSec: number }[] };
        const torch = parsed.results.find((r) => r.name === 'sgld:1024:8')?.stepsPerSec;
        torchLine =
          torch !== undefined
            ? `PyTorch ${parsed.torch} (1 thread, one SGLD step at m = 1,024): ${torch.toFixed(2)} steps/s → one chain here / PyTorch = ${(single / torch).toFixed(2)}`
            : `PyTorch: bench_torch.py reported no 'sgld:1024:8' workload`;
      } catch (err) {
        torchLine = `PyTorch: SKIPPED — bench_torch.py failed (${(err as Error).message.split('\n')[0]})`;
        console.warn(`\n!!! ${torchLine}\n`);
      }
    }
    const lines = [
      '# SGLD benchmark (bench/sgld.ts)',
      '',
      `Measured ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg()[0].toFixed(1)}; tfjs backend: ${backend}.`,
      `Model L2H4 (K = 8, 51,717 params), minibatch m = 1,024, ${STEPS} timed steps after warm-up.`,
      '',
      '| setting | SGLD steps/s |',
      '|---|---|',
      `| one chain, this process | ${single.toFixed(3)} |`,
      `| two chains, two worker threads (total) | ${parallel.toFixed(3)} |`,
      `| parallel speed-up | ${(parallel / single).toFixed(2)}× |`,
      '',
      torchLine,
      '',
    ];
    await writeFile(path.join(here, 'sgld-results.md'), lines.join('\n'));
    console.log(lines.join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
