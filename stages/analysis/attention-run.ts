// The computation of stage 'attention' (declared in attention.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../../engine/index.ts';
import { ATTENTION_METRICS, attentionMetrics, leadingBlock } from '../../lib/analysis/attention.ts';
import { Transformer } from '../../lib/model.ts';
import { initBackend } from '../../lib/backend.ts';
import { grantedDevice } from '../../lib/device.ts';
import type { AttentionJson, attentionStage } from './attention.ts';
import { head, loadCheckpoint, loadRunTasks } from './load.ts';

export const run: StageRun<typeof attentionStage> = async (ctx) => {
  const backend = await initBackend(grantedDevice(ctx.resources));
  const ck = await loadCheckpoint('attention', ctx.inputs);
  const data = await loadRunTasks('attention', ctx.inputs.tasks, ck.config);
  const batch = head(data.evalPretrain, ctx.params.size);
  const model = new Transformer(ck.config, ck.tensors);
  try {
    const { layers, heads: H, K } = ck.config;
    const T = 2 * K;
    const kept = T - 1;
    const probs = model.attentionProbs(batch.xs, batch.ys, batch.B);
    const metrics: AttentionJson['metrics'] = Object.fromEntries(ATTENTION_METRICS.map((m) => [m, [] as number[][][]]));
    for (let l = 0; l < layers; l++) {
      const perHead = ATTENTION_METRICS.map(() => [] as number[][]);
      for (let h = 0; h < H; h++) {
        // Head h's [B, T, T] slice of [B, H, T, T].
        const one = new Float64Array(batch.B * T * T);
        for (let b = 0; b < batch.B; b++) one.set(probs[l].subarray((b * H + h) * T * T, (b * H + h + 1) * T * T), b * T * T);
        const m = attentionMetrics(leadingBlock(one, batch.B, T, kept), batch.B, kept);
        ATTENTION_METRICS.forEach((name, i) => perHead[i].push(m[name]));
      }
      ATTENTION_METRICS.forEach((name, i) => metrics[name].push(perHead[i]));
    }
    const out: AttentionJson = { step: ck.step, layers, heads: H, T: kept, metrics };
    await writeFile(path.join(ctx.outDir, 'attention.json'), JSON.stringify(out) + '\n');
    return { backend };
  } finally {
    model.dispose();
  }
}
