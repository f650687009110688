// The computation of stage 'gradient' (declared in gradient.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { RunContext } from '../../engine/types.ts';
import { FusedTransformer } from '../../lib/kernels/fused-transformer.ts';
import { encodeTensors } from '../../lib/tensorfile.ts';
import type { gradientParams } from './gradient.ts';
import { head, loadCheckpoint, loadRunTasks, splitParams } from './load.ts';

export async function run(ctx: RunContext<z.output<typeof gradientParams>>) {
  const ck = await loadCheckpoint('gradient', ctx);
  const data = await loadRunTasks('gradient', ctx, ck.config);
  const batch = head(data.evalPretrain, ctx.params.size);
  const kernel = new FusedTransformer(ck.config);
  const { perPosition, grads } = kernel.lossAndGrads(splitParams(ck.flat, ck.shapes), Float32Array.from(batch.xs), Float32Array.from(batch.ys), batch.B);
  const loss = perPosition.reduce((a, b) => a + b, 0) / perPosition.length;
  await writeFile(path.join(ctx.outDir, 'gradient.swt'), encodeTensors({ gradient: { shape: [grads.length], data: grads } }, { step: ck.step, loss, size: batch.B }));
}
