// Stage 'lm-import': published checkpoints (safetensors with TransformerLens parameter names, e.g.
// the paper's L2W256-3m-rr model) as an lm-train-shaped output — checkpoints/step-*.swt and
// model.json — so every downstream LM analysis runs on them unchanged. F32, F16 and BF16 are read
// (converted to float32). Tensors the model does not use (attention masks, IGNORE buffers) are
// skipped; a missing tensor or a shape that differs from the configured model is an error naming
// the file and the tensor. `digest` is each file's content digest, set when the graph is planned.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { lmParamShapes, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { parseSafetensors } from '../../lib/lm/safetensors.ts';
import { encodeLmCheckpoint, lmCheckpointFile, lmModelJson } from './files.ts';
import { lmModelParams } from './train.ts';

export const lmImportParams = z.strictObject({
  model: lmModelParams,
  checkpoints: z
    .array(z.strictObject({ step: z.number().int().nonnegative(), file: z.string().min(1), digest: z.string() }))
    .min(1),
});

/** The model's weights from one safetensors file, checked name by name and shape by shape. */
export function importSafetensors(bytes: Uint8Array, file: string, cfg: LmConfig): { weights: LmWeights; skipped: string[] } {
  const shapes = lmParamShapes(cfg);
  const { tensors, names } = parseSafetensors(bytes, file, new Set(shapes.map((s) => s.name)));
  const weights: LmWeights = {};
  const missing = shapes.filter((s) => !tensors[s.name]).map((s) => s.name);
  if (missing.length) throw new Error(`${file}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (expected TransformerLens names for ${JSON.stringify(cfg)})`);
  for (const { name, shape } of shapes) {
    const t = tensors[name];
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      throw new Error(`${file}: tensor ${name} has shape [${t.shape}], the configured model needs [${shape}] (check lm.import.model)`);
    }
    weights[name] = t.data;
  }
  return { weights, skipped: names.filter((n) => !(n in weights)) };
}

export const lmImportStage = defineStage({
  name: 'lm-import',
  module: import.meta.url,
  params: lmImportParams,
  inputs: {},
  async run({ params, outDir, log }) {
    const cfg: LmConfig = params.model;
    await mkdir(path.join(outDir, 'checkpoints'), { recursive: true });
    const steps = new Set<number>();
    for (const { step, file } of params.checkpoints) {
      if (steps.has(step)) throw new Error(`lm-import: step ${step} is listed twice in lm.import.checkpoints`);
      steps.add(step);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch {
        throw new Error(`lm-import: ${file}: cannot read (lm.import.checkpoints, step ${step})`);
      }
      const { weights, skipped } = importSafetensors(bytes, file, cfg);
      if (skipped.length) log.info(`lm-import: ${file}: skipped ${skipped.length} tensor(s) the model does not use: ${skipped.slice(0, 6).join(', ')}${skipped.length > 6 ? ', …' : ''}`);
      await writeFile(path.join(outDir, lmCheckpointFile(step)), encodeLmCheckpoint(cfg, weights, { step, source: path.basename(file) }));
    }
    await writeFile(path.join(outDir, 'model.json'), lmModelJson(cfg));
    const sorted = [...steps].sort((a, b) => a - b);
    await writeFile(path.join(outDir, 'train.json'), JSON.stringify({ imported: true, checkpointSteps: sorted }, null, 2) + '\n');
    log.info(`lm-import: ${sorted.length} checkpoint(s) of ${JSON.stringify(cfg)}`);
  },
});
