// The computation of stage 'hessian' (declared in hessian.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { StageRun } from '../../engine/index.ts';
import { hutchinsonTrace, lanczosTopEigenvalues, type Hvp } from '../../lib/analysis/hessian.ts';
import { exactHvp } from '../../lib/analysis/hvp.ts';
import { initBackend } from '../../lib/backend.ts';
import { grantedDevice } from '../../lib/device.ts';
import { FusedTransformer } from '../../lib/kernels/fused-transformer.ts';
import type { ModelConfig } from '../../lib/model.ts';
import { rngStream } from '../../lib/rng.ts';
import type { HessianJson, hessianParams, hessianStage } from './hessian.ts';
import { head, loadCheckpoint, loadRunTasks, splitParams } from './load.ts';

/** Lanczos top eigenvalues and the Hutchinson trace for one HVP operator; counts the products used. */
export function hessianStatistics(baseHvp: Hvp, n: number, p: z.output<typeof hessianParams>) {
  let hvps = 0;
  const hvp: Hvp = (v) => (hvps++, baseHvp(v));
  const top = lanczosTopEigenvalues(hvp, n, p.top, p.lanczosSteps, rngStream(p.seed, 'hessian-lanczos'));
  const trace = hutchinsonTrace(hvp, n, p.probes, rngStream(p.seed, 'hessian-trace'));
  return { top, trace: trace.trace, traceStdErr: trace.stdErr, hvps };
}

/** Loss and the gradient of the mean MSE on fixed sequences through the fused kernel (tests, g-ED). */
export function mseOperators(config: ModelConfig, shapes: { shape: number[] }[], xs: Float32Array, ys: Float32Array, B: number) {
  const kernel = new FusedTransformer(config);
  const lossAndGrad = (w: ArrayLike<number>) => {
    const { perPosition, grads } = kernel.lossAndGrads(splitParams(w, shapes), xs, ys, B);
    return { loss: perPosition.reduce((a, b) => a + b, 0) / perPosition.length, grads };
  };
  return { lossAndGrad, grad: (w: ArrayLike<number>) => lossAndGrad(w).grads };
}

export const run: StageRun<typeof hessianStage> = async (ctx) => {
  const backend = await initBackend(grantedDevice(ctx.resources));
  const ck = await loadCheckpoint('hessian', ctx.inputs);
  const data = await loadRunTasks('hessian', ctx.inputs.tasks, ck.config);
  const batch = head(data.evalPretrain, ctx.params.size);
  const exact = exactHvp(ck.config, ck.flat, Float32Array.from(batch.xs), Float32Array.from(batch.ys), batch.B);
  try {
    const stats = hessianStatistics(exact.hvp, ck.flat.length, ctx.params);
    const out: HessianJson = { step: ck.step, loss: exact.loss, ...stats, size: batch.B };
    await writeFile(path.join(ctx.outDir, 'hessian.json'), JSON.stringify(out) + '\n');
    ctx.log.info(`hessian: step ${ck.step}: top ${stats.top.map((v) => v.toFixed(3)).join(', ')}, trace ${stats.trace.toFixed(2)} ± ${stats.traceStdErr.toFixed(2)} (${stats.hvps} HVPs)`);
  } finally {
    exact.dispose();
  }
  return { backend };
}
