// The computation of stage 'gradient' (declared in gradient.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../../engine/index.ts';
import { FusedTransformer } from '../../lib/kernels/fused-transformer.ts';
import { encodeTensors } from '../../lib/tensorfile.ts';
import type { gradientStage } from './gradient.ts';
import { head, loadCheckpoint, loadRunTasks, splitParams } from './load.ts';

export const run: StageRun<typeof gradientStage> = async (ctx) => {
  const ck = await loadCheckpoint('gradient', ctx.inputs);
  const data = await loadRunTasks('gradient', ctx.inputs.tasks, ck.config);
  const batch = head(data.evalPretrain, ctx.params.size);
  const kernel = new FusedTransformer(ck.config);
  const { perPosition, grads } = kernel.lossAndGrads(splitParams(ck.flat, ck.shapes), Float32Array.from(batch.xs), Float32Array.from(batch.ys), batch.B);
  const loss = perPosition.reduce((a, b) => a + b, 0) / perPosition.length;
  await writeFile(path.join(ctx.outDir, 'gradient.swt'), encodeTensors({ gradient: { shape: [grads.length], data: grads } }, { step: ck.step, loss, size: batch.B }));
}
