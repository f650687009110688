// The computation of stage 'icl' (declared in icl.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { RunContext } from '../../engine/types.ts';
import { iclScores, scaledIclScore, scaledInputs } from '../../lib/analysis/icl.ts';
import { mseByPosition } from '../../lib/baselines.ts';
import { Transformer, runInChunks } from '../../lib/model.ts';
import { initBackend } from '../backend.ts';
import type { IclJson, iclParams } from './icl.ts';
import { loadCheckpoint, loadRunTasks } from './load.ts';

export async function run(ctx: RunContext<z.output<typeof iclParams>>) {
  const backend = await initBackend();
  const ck = await loadCheckpoint('icl', ctx);
  const data = await loadRunTasks('icl', ctx, ck.config);
  const model = new Transformer(ck.config, ck.tensors);
  try {
    const { scales, size } = ctx.params;
    const lossPerPos = scales.map((g) => {
      const s = scaledInputs(data.evalPretrain, g, size);
      return mseByPosition(runInChunks(model, s.xs, s.ys, s.B), s.ys, s.B, ck.config.K);
    });
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
