// The computation of stage 'hessian' (declared in hessian.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { RunContext } from '../../engine/types.ts';
import { hutchinsonTrace, hvpFromGradients, lanczosTopEigenvalues, type Hvp } from '../../lib/analysis/hessian.ts';
import { FusedTransformer } from '../../lib/kernels/fused-transformer.ts';
import type { ModelConfig } from '../../lib/model.ts';
import { rngStream } from '../../lib/rng.ts';
import type { HessianJson, hessianParams } from './hessian.ts';
import { head, loadCheckpoint, loadRunTasks, splitParams } from './load.ts';

/** Loss and the gradient operator of the mean MSE on fixed sequences, through the fused kernel. */
export function mseOperators(config: ModelConfig, shapes: { shape: number[] }[], xs: Float32Array, ys: Float32Array, B: number) {
  const kernel = new FusedTransformer(config);
  const lossAndGrad = (w: ArrayLike<number>) => {
    const { perPosition, grads } = kernel.lossAndGrads(splitParams(w, shapes), xs, ys, B);
    return { loss: perPosition.reduce((a, b) => a + b, 0) / perPosition.length, grads };
  };
  return { lossAndGrad, grad: (w: ArrayLike<number>) => lossAndGrad(w).grads };
}

export function hessianStatistics(grad: (w: Float64Array) => ArrayLike<number>, w: ArrayLike<number>, p: z.output<typeof hessianParams>) {
  let hvps = 0;
  const base = hvpFromGradients(grad, w, p.h);
  const hvp: Hvp = (v) => (hvps++, base(v));
  const n = w.length;
  const top = lanczosTopEigenvalues(hvp, n, p.top, p.lanczosSteps, rngStream(p.seed, 'hessian-lanczos'));
  const trace = hutchinsonTrace(hvp, n, p.probes, rngStream(p.seed, 'hessian-trace'));
  return { top, trace: trace.trace, traceStdErr: trace.stdErr, hvps };
}

export async function run(ctx: RunContext<z.output<typeof hessianParams>>) {
  const ck = await loadCheckpoint('hessian', ctx);
  const data = await loadRunTasks('hessian', ctx, ck.config);
  const batch = head(data.evalPretrain, ctx.params.size);
  const ops = mseOperators(ck.config, ck.shapes, Float32Array.from(batch.xs), Float32Array.from(batch.ys), batch.B);
  const stats = hessianStatistics(ops.grad, ck.flat, ctx.params);
  const out: HessianJson = { step: ck.step, loss: ops.lossAndGrad(ck.flat).loss, ...stats, size: batch.B };
  await writeFile(path.join(ctx.outDir, 'hessian.json'), JSON.stringify(out) + '\n');
  ctx.log.info(`hessian: step ${ck.step}: top ${stats.top.map((v) => v.toFixed(3)).join(', ')}, trace ${stats.trace.toFixed(2)} ± ${stats.traceStdErr.toFixed(2)} (${stats.hvps} HVPs)`);
}
