// The computation of stage 'icl' (declared in icl.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../../engine/index.ts';
import { iclScores, scaledIclScore, scaledInputs } from '../../lib/analysis/icl.ts';
import { mseByPosition } from '../../lib/baselines.ts';
import { Transformer, runInChunks } from '../../lib/model.ts';
import { initBackend } from '../../lib/backend.ts';
import { grantedDevice } from '../../lib/device.ts';
import type { IclJson, iclStage } from './icl.ts';
import { loadCheckpoint, loadRunTasks } from './load.ts';

export const run: StageRun<typeof iclStage> = async (ctx) => {
  const backend = await initBackend(grantedDevice(ctx.resources));
  const ck = await loadCheckpoint('icl', ctx.inputs);
  const data = await loadRunTasks('icl', ctx.inputs.tasks, ck.config);
  const model = new Transformer(ck.config, ck.tensors);
  try {
    const { scales, size } = ctx.params;
    const lossPerPos: number[][] = [];
    for (const g of scales) {
      const s = scaledInputs(data.evalPretrain, g, size);
      lossPerPos.push(mseByPosition(await runInChunks(model, s.xs, s.ys, s.B), s.ys, s.B, ck.config.K));
    }
    const unit = scales.indexOf(1);
    const scores = unit >= 0 ? iclScores(lossPerPos[unit]) : null;
    const out: IclJson = {
      step: ck.step,
      scales,
      lossPerPos,
      scaledScore: scales.map((g, i) => scaledIclScore(lossPerPos[i], g)),
      early: scores?.early ?? null,
      late: scores?.late ?? null,
    };
    await writeFile(path.join(ctx.outDir, 'icl.json'), JSON.stringify(out) + '\n');
    return { backend };
  } finally {
    model.dispose();
  }
}
