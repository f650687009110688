// Language-model training throughput (tokens/s): our step (lib/lm/model.ts forward + backward on
// the WebAssembly SIMD kernel, plus AdamW) against PyTorch on one thread (tools/oracle/
// bench_lm_torch.py: an idiomatic nn.Linear module, same maths) measured in the same run, at the CPU prototype's shape
// (d = 64, n_ctx 128, batch 16, V = 1,024 and 2,048) and the default config's. Reports wall-clock
// and process-CPU rates: on a shared machine CPU time is the steadier of the two.
//   npx tsx bench/lm.ts [SECONDS]      (npm run bench -- lm)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { useLmKernel } from '../lib/kernels/lm-gemm.ts';
import { AdamW } from '../lib/lm/adamw.ts';
import { lmInitWeights, lmLossAndGrad, type LmConfig } from '../lib/lm/model.ts';
import { rngStream } from '../lib/rng.ts';

interface Rate {
  wall: number;
  cpu: number;
}

function ours(cfg: LmConfig, B: number, seconds: number): Rate {
  const w = lmInitWeights(cfg, rngStream(0, 'init'));
  const opt = new AdamW(w, 0.05);
  const r = rngStream(1, 'bench');
  const tokens = Int32Array.from({ length: B * cfg.nCtx }, () => r.int(cfg.vocab));
  const step = () => opt.step(w, lmLossAndGrad(cfg, w, tokens, B, cfg.nCtx).grads, 1e-3);
  step();
  step();
  let n = 0;
  const w0 = performance.now(), c0 = process.cpuUsage();
  while (performance.now() - w0 < seconds * 1000) (step(), n++);
  const wall = (performance.now() - w0) / 1000, c = process.cpuUsage(c0);
  const tok = n * B * cfg.nCtx;
  return { wall: tok / wall, cpu: tok / ((c.user + c.system) / 1e6) };
}

function torch(cfg: LmConfig, B: number, seconds: number): Rate | null {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return null;
  const args = [cfg.layers, cfg.dModel, cfg.heads, cfg.dHead, cfg.nCtx, cfg.vocab, B].map(String);
  const r = spawnSync(py, ['tools/oracle/bench_lm_torch.py', String(seconds), ...args], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  if (r.status !== 0) return null;
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return { wall: j.tokensPerSecWall, cpu: j.tokensPerSecCpu };
}

export async function main(seconds = Number(process.argv[2] ?? 8)): Promise<void> {
  useLmKernel();
  const shapes: { label: string; cfg: LmConfig; B: number }[] = [
    { label: 'prototype V=1024', cfg: { layers: 2, dModel: 64, heads: 4, dHead: 16, nCtx: 128, vocab: 1024 }, B: 16 },
    { label: 'prototype V=2048', cfg: { layers: 2, dModel: 64, heads: 4, dHead: 16, nCtx: 128, vocab: 2048 }, B: 16 },
  ];
  const k = (x: number) => `${(x / 1000).toFixed(1)}k`;
  for (const { label, cfg, B } of shapes) {
    const a = ours(cfg, B, seconds);
    const t = torch(cfg, B, seconds);
    const ratio = t ? ` | PyTorch 1 thread ${k(t.wall)} wall, ${k(t.cpu)} cpu | ours/PyTorch (cpu) ${(a.cpu / t.cpu).toFixed(2)}` : ' | PyTorch: not available';
    console.log(`${label} B=${B}: ours ${k(a.wall)} tokens/s wall, ${k(a.cpu)} tokens/s cpu${ratio}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
