// The computation of stage 'evaluate' (declared in evaluate.ts): loaded where the node runs.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageRun } from '../engine/index.ts';
import { constantWeights, mean, mseByPosition, predictWithWeights, ridgeWeights } from '../lib/baselines.ts';
import { Transformer, runInChunks, type ModelConfig } from '../lib/model.ts';
import { decodeTensors, encodeTensors } from '../lib/tensorfile.ts';
import { initBackend } from '../lib/backend.ts';
import { grantedDevice } from '../lib/device.ts';
import { loadTasks } from './tasks.ts';
import type { EvalResult, evaluateStage } from './evaluate.ts';

export const run: StageRun<typeof evaluateStage> = async (ctx) => {
  const backend = await initBackend(grantedDevice(ctx.resources));
  const checkpointFile = ctx.inputs.checkpoint;
  const data = await loadTasks(ctx.inputs.tasks);
  const { config } = JSON.parse(await readFile(ctx.inputs.model, 'utf8')) as { config: ModelConfig };
  const { tensors, meta } = decodeTensors(await readFile(checkpointFile));
  if (typeof meta.step !== 'number') throw new Error(`${checkpointFile}: meta.step missing (expected a train checkpoint)`);
  if (config.D !== data.info.D || config.K !== data.info.K) {
    throw new Error(`evaluate: model has D=${config.D}, K=${config.K} but the tasks input has D=${data.info.D}, K=${data.info.K}`);
  }
  const model = new Transformer(config, tensors);
  try {
    const { K } = config;
    const pre = data.evalPretrain;
    const pred = await runInChunks(model, pre.xs, pre.ys, pre.B);
    const predTrue = await runInChunks(model, data.evalTrue.xs, data.evalTrue.ys, data.evalTrue.B);
    const ridge = predictWithWeights(pre, ridgeWeights(pre, data.info.noiseVariance));
    const taskMeanPred = predictWithWeights(pre, constantWeights(pre, data.info.taskMean));
    const zeros = new Float64Array(pre.B * K);
    const lossPerPos = mseByPosition(pred, pre.ys, pre.B, K);
    const lossTruePerPos = mseByPosition(predTrue, data.evalTrue.ys, data.evalTrue.B, K);
    const predNormPerPos = mseByPosition(pred, zeros, pre.B, K);
    const deltaRidgePerPos = mseByPosition(pred, ridge, pre.B, K);
    let sq = 0;
    for (const t of Object.values(tensors)) for (const v of t.data) sq += v * v;
    const result: EvalResult = {
      step: meta.step,
      loss: mean(lossPerPos),
      lossPerPos,
      lossTrue: mean(lossTruePerPos),
      lossTruePerPos,
      predNormPerPos,
      deltaRidge: mean(deltaRidgePerPos),
      deltaRidgePerPos,
      weightNorm: Math.sqrt(sq),
      fromZero: K * mean(predNormPerPos),
      fromTaskMean: K * mean(mseByPosition(pred, taskMeanPred, pre.B, K)),
    };
    const probe = data.probe;
    const outputs = await runInChunks(model, probe.xs, probe.ys, probe.B, true);
    await writeFile(path.join(ctx.outDir, 'eval.json'), JSON.stringify(result, null, 2) + '\n');
    await writeFile(path.join(ctx.outDir, 'outputs.swt'), encodeTensors({ outputs: { shape: [probe.B, 2 * K, config.D + 1], data: outputs } }, { step: meta.step }));
    return { backend };
  } finally {
    model.dispose();
  }
};
