// File formats shared by the language-model stages (and read by the evaluation stages downstream).
//
//   lm-data:   train.i32 / test.i32   token rows, raw little-endian int32, rows × nCtx
//              data.json             { nCtx, vocab, bos, rows: { train, test }, … }
//   lm-train / lm-import:
//              checkpoints/step-XXXXXXXX.swt   LmWeights (lib/tensorfile.ts), weights after that many updates
//              model.json            { config: LmConfig, params: [{ name, shape }] }
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeTensors, encodeTensors } from '../../lib/tensorfile.ts';
import { checkLmWeights, lmParamShapes, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';

export const lmCheckpointName = (step: number) => `step-${String(step).padStart(8, '0')}.swt`;
export const lmCheckpointFile = (step: number) => `checkpoints/${lmCheckpointName(step)}`;

export interface LmDataInfo {
  nCtx: number;
  vocab: number;
  bos: number;
  rows: { train: number; test: number };
  tokens: { train: number; test: number };
}

export function readDataInfo(dataDir: string): LmDataInfo {
  return JSON.parse(readFileSync(path.join(dataDir, 'data.json'), 'utf8')) as LmDataInfo;
}

/** Token rows of one split: tokens [rows × nCtx], every row starting with BOS. */
export function readTokenRows(dataDir: string, split: 'train' | 'test'): { rows: number; nCtx: number; tokens: Int32Array } {
  const info = readDataInfo(dataDir);
  const file = path.join(dataDir, `${split}.i32`);
  const bytes = readFileSync(file);
  if (bytes.length % (4 * info.nCtx) !== 0) throw new Error(`${file}: ${bytes.length} bytes is not a whole number of ${info.nCtx}-token rows`);
  const tokens = new Int32Array(bytes.length / 4);
  new Uint8Array(tokens.buffer).set(bytes);
  return { rows: tokens.length / info.nCtx, nCtx: info.nCtx, tokens };
}

export function encodeTokenRows(tokens: Int32Array): Uint8Array {
  return new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
}

export function encodeLmCheckpoint(cfg: LmConfig, w: LmWeights, meta: Record<string, unknown>): Uint8Array {
  return encodeTensors(Object.fromEntries(lmParamShapes(cfg).map(({ name, shape }) => [name, { shape, data: w[name] }])), meta);
}

/** A checkpoint's weights, checked against the config (names and sizes). */
export function readLmCheckpoint(file: string, cfg: LmConfig): LmWeights {
  const { tensors } = decodeTensors(readFileSync(file));
  const w: LmWeights = Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, t.data]));
  checkLmWeights(cfg, w, file);
  return w;
}

export function readLmModel(modelJson: string): LmConfig {
  return (JSON.parse(readFileSync(modelJson, 'utf8')) as { config: LmConfig }).config;
}

export const lmModelJson = (cfg: LmConfig) => JSON.stringify({ config: cfg, params: lmParamShapes(cfg) }, null, 2) + '\n';
