// The PyTorch oracle fixture (tools/oracle/model_oracle.py → test/fixtures/oracle.json), decoded:
// shared by the parity tests on the CPU backends and on WebGPU, and by tools/gpu-check.ts.
import type { ModelConfig } from '../../lib/model.ts';
import type { TensorMap } from '../../lib/tensorfile.ts';
// Imported rather than read from disk, so that a bundle of tools/gpu-check.ts carries it.
import oracle from '../fixtures/oracle.json' with { type: 'json' };

export interface OracleFixture {
  config: ModelConfig;
  paramCount: number;
  batch: { B: number; xs: string; ys: string };
  params: Record<string, { shape: number[]; data: string }>;
  outputs: string;
  predictions: string;
  perPositionLoss: number[];
  loss: number;
  grads: Record<string, string>;
  adam: { lr: number; steps: number; lossAfterEachStep: number[] };
}

export const fixture = oracle as unknown as OracleFixture;

/** base64 little-endian float32 → Float32Array. */
export const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

export const oracleParams: TensorMap = Object.fromEntries(Object.entries(fixture.params).map(([n, p]) => [n, { shape: p.shape, data: f32(p.data) }]));
export const oracleXs = f32(fixture.batch.xs);
export const oracleYs = f32(fixture.batch.ys);
