// The shape of the regression transformer (docs/model.md): a module of its own so that the model
// (lib/model.ts) and its fused kernel (lib/kernels/fused-transformer.ts) share it without importing
// each other.
export interface ModelConfig {
  D: number;
  K: number;
  layers: number;
  heads: number;
  dModel: number;
  dMlp: number;
  layerNorm: boolean;
  includeOutput: boolean;
}
