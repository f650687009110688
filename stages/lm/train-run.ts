// The training loop of stage 'lm-train' (declared in train.ts): loaded where the node runs.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { atomicWriteFile, type StageRun } from '../../engine/index.ts';
import { useLmKernel } from '../../lib/kernels/lm-gemm.ts';
import { AdamW } from '../../lib/lm/adamw.ts';
import { RowSchedule, plantRepeats } from '../../lib/lm/batches.ts';
import { lmInitWeights, lmKernelName, lmLossAndGrad, lmParamShapes, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { rngStream } from '../../lib/rng.ts';
import { decodeTensors, encodeTensors, type TensorMap } from '../../lib/tensorfile.ts';
import { encodeLmCheckpoint, lmCheckpointFile, lmCheckpointName, lmModelJson, readDataInfo, readTokenRows } from './files.ts';
import { lmCheckpointSteps, type lmTrainStage } from './train.ts';

const STATE_VERSION = 1;

export interface LmMetricsLine {
  /** Updates done at the end of the interval. */
  step: number;
  /** Mean training-batch loss over the interval's steps (each measured before its update). */
  loss: number;
  lr: number;
}

interface TrainState {
  nextStep: number;
  w: LmWeights;
  opt: AdamW;
  metrics: LmMetricsLine[];
  /** Losses summed since the last metrics line (so a resumed run logs the same lines). */
  pending: { sum: number; count: number };
}


function encodeState(cfg: LmConfig, s: TrainState): Uint8Array {
  const t: TensorMap = {};
  for (const { name, shape } of lmParamShapes(cfg)) {
    t[name] = { shape, data: s.w[name] };
    t[`adam.m.${name}`] = { shape, data: s.opt.m[name] };
    t[`adam.v.${name}`] = { shape, data: s.opt.v[name] };
  }
  return encodeTensors(t, { version: STATE_VERSION, nextStep: s.nextStep, adamStep: s.opt.t, metrics: s.metrics, pending: s.pending });
}

async function loadState(file: string, cfg: LmConfig, weightDecay: number): Promise<TrainState | null> {
  if (!existsSync(file)) return null;
  const { tensors, meta } = decodeTensors(await readFile(file));
  if (meta.version !== STATE_VERSION) throw new Error(`${file}: state version ${meta.version}, expected ${STATE_VERSION}; delete the work dir to restart`);
  const w: LmWeights = {};
  for (const { name } of lmParamShapes(cfg)) w[name] = Float32Array.from(tensors[name].data);
  const opt = new AdamW(w, weightDecay);
  opt.t = meta.adamStep as number;
  for (const name of Object.keys(w)) {
    opt.m[name].set(tensors[`adam.m.${name}`].data);
    opt.v[name].set(tensors[`adam.v.${name}`].data);
  }
  return { nextStep: meta.nextStep as number, w, opt, metrics: meta.metrics as LmMetricsLine[], pending: meta.pending as TrainState['pending'] };
}

export const run: StageRun<typeof lmTrainStage> = async (ctx) => {
  const started = Date.now();
  const p = ctx.params;
  const cfg: LmConfig = p.model;
  const dataDir = ctx.inputs.data;
  const info = readDataInfo(dataDir);
  if (info.nCtx !== cfg.nCtx) throw new Error(`lm-train: model.nCtx = ${cfg.nCtx} but the data rows have n_ctx = ${info.nCtx} (lm.data.nCtx)`);
  if (info.vocab !== cfg.vocab) throw new Error(`lm-train: model.vocab = ${cfg.vocab} but the tokenizer has ${info.vocab} tokens (lm.tokenizer.vocabSize)`);
  const { rows, tokens } = readTokenRows(dataDir, 'train');
  useLmKernel();

  const T = cfg.nCtx, B = p.batchSize;
  const grid = lmCheckpointSteps(p.steps, p.checkpoints.logSpace, p.checkpoints.linearSpace);
  const isCheckpoint = new Set(grid);
  const ckptDir = path.join(ctx.workDir, 'checkpoints');
  await mkdir(ckptDir, { recursive: true });
  const stateFile = path.join(ctx.workDir, 'state.swt');
  let state = await loadState(stateFile, cfg, p.weightDecay);
  if (state) ctx.log.info(`lm-train: resuming after ${state.nextStep} of ${p.steps} steps`);
  else {
    const w = lmInitWeights(cfg, rngStream(p.seed, 'init'));
    state = { nextStep: 0, w, opt: new AdamW(w, p.weightDecay), metrics: [], pending: { sum: 0, count: 0 } };
    await atomicWriteFile(path.join(ckptDir, lmCheckpointName(0)), encodeLmCheckpoint(cfg, w, { step: 0 }));
  }
  const schedule = new RowSchedule(rows, p.seed);
  const repeats = p.plantedRepeats && { ...p.plantedRepeats, random: p.plantedRepeats.randomTokens ? { vocab: cfg.vocab, bos: info.bos } : undefined };
  const micro = Math.min(p.microBatch ?? B, B);
  /** The batch's mean loss and gradient, accumulated over micro-batches weighted by their rows. */
  const lossAndGrad = (batch: Int32Array): { loss: number; grads: LmWeights } => {
    if (micro >= B) return lmLossAndGrad(cfg, state!.w, batch, B, T);
    let loss = 0;
    let grads: LmWeights | null = null;
    for (let r0 = 0; r0 < B; r0 += micro) {
      const n = Math.min(micro, B - r0);
      const part = lmLossAndGrad(cfg, state!.w, batch.subarray(r0 * T, (r0 + n) * T), n, T);
      const weight = n / B;
      loss += part.loss * weight;
      if (!grads) grads = Object.fromEntries(Object.entries(part.grads).map(([k, g]) => [k, g.map((v) => v * weight)]));
      else for (const [k, g] of Object.entries(part.grads)) for (let i = 0; i < g.length; i++) grads[k][i] += g[i] * weight;
    }
    return { loss, grads: grads! };
  };
  const batch = new Int32Array(B * T);
  let windowStart = Date.now(), windowSteps = 0;
  let tokensPerSecond = NaN;
  for (let s = state.nextStep; s < p.steps; s++) {
    if (ctx.signal.aborted) throw new Error(`lm-train: aborted at step ${s}`);
    schedule.batch(s, B).forEach((r, i) => batch.set(tokens.subarray(r * T, r * T + T), i * T));
    if (repeats && repeats.fraction > 0) plantRepeats(batch, B, T, repeats, p.seed, s);
    const { loss, grads } = lossAndGrad(batch);
    if (!Number.isFinite(loss)) throw new Error(`lm-train: loss is ${loss} at step ${s} (lower lm.train.lr?)`);
    state.opt.step(state.w, grads, p.lr);
    const acc = state.pending;
    acc.sum += loss;
    acc.count++;
    windowSteps++;
    const done = s + 1;
    if (done % p.logEvery === 0 || done === p.steps) {
      state.metrics.push({ step: done, loss: acc.sum / acc.count, lr: p.lr });
      const seconds = (Date.now() - windowStart) / 1000;
      tokensPerSecond = (windowSteps * B * T) / seconds;
      ctx.log.info(`lm-train: step ${done}/${p.steps} loss ${(acc.sum / acc.count).toFixed(4)} ${Math.round(tokensPerSecond)} tokens/s`);
      state.pending = { sum: 0, count: 0 };
      windowStart = Date.now();
      windowSteps = 0;
    }
    if (isCheckpoint.has(done)) {
      await atomicWriteFile(path.join(ckptDir, lmCheckpointName(done)), encodeLmCheckpoint(cfg, state.w, { step: done }));
      state.nextStep = done;
      await atomicWriteFile(stateFile, encodeState(cfg, state));
    }
    ctx.progress.update(done, p.steps, 'steps');
  }

  await mkdir(path.join(ctx.outDir, 'checkpoints'), { recursive: true });
  for (const s of grid) {
    const src = path.join(ckptDir, lmCheckpointName(s));
    if (!existsSync(src)) throw new Error(`lm-train: checkpoint ${lmCheckpointName(s)} missing from ${ckptDir}`);
    await copyFile(src, path.join(ctx.outDir, lmCheckpointFile(s)));
  }
  await writeFile(path.join(ctx.outDir, 'model.json'), lmModelJson(cfg));
  await writeFile(path.join(ctx.outDir, 'metrics.jsonl'), state.metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
  const trainJson = { steps: p.steps, batchSize: B, nCtx: T, tokensSeen: p.steps * B * T, checkpointSteps: grid, finalLoss: state.metrics.at(-1)?.loss ?? null, plantedRepeats: p.plantedRepeats ?? null };
  await writeFile(path.join(ctx.outDir, 'train.json'), JSON.stringify(trainJson, null, 2) + '\n');
  const wallSeconds = (Date.now() - started) / 1000;
  ctx.log.info(`lm-train: ${p.steps} steps (${trainJson.tokensSeen} tokens) on ${lmKernelName()} in ${wallSeconds.toFixed(1)} s, final loss ${trainJson.finalLoss}`);
  return { backend: lmKernelName(), wallSeconds, tokensPerSecond };
};
