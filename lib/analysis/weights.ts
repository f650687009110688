// Weight statistics of one checkpoint (docs/figures.md "Layer-norm and embedding collapse"): every
// layer-norm weight γ and bias β, the unembedding's effective read-out of the prediction channel,
// the spectra of the token and positional embeddings, and how many LN entries have collapsed
// (|value| < COLLAPSE_THRESHOLD).
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import type { ModelConfig } from '../model.ts';
import type { TensorMap } from '../tensorfile.ts';

export const COLLAPSE_THRESHOLD = 0.1;
const PREFIX = 'token_sequence_transformer.';

export interface LayerNormStats {
  /** e.g. 'block 1 pre-attention', 'unembedding'. */
  name: string;
  weight: number[];
  bias: number[];
  /** Fraction of |γ_i| < COLLAPSE_THRESHOLD, and of |β_i|. */
  weightCollapsed: number;
  biasCollapsed: number;
}

export interface WeightStats {
  step: number;
  layerNorms: LayerNormStats[];
  /** Fraction of all LN weights (every LN, every entry) with |γ| < COLLAPSE_THRESHOLD. */
  lnWeightCollapsed: number;
  /** The unembedding read-out of the prediction ŷ = output channel 0. */
  unembed: {
    /** W_un[0, :] (d values) and b_un[0]. */
    weight: number[];
    bias: number;
    /** γ ⊙ W_un[0, :] and W_un[0, :]·β + b_un[0]: the map from the normalised residual to ŷ. */
    effectiveWeight: number[];
    effectiveBias: number;
  };
  /** σ_i² / Σσ² of the token embedding [d, V] and of the positional embedding [d, 2K], largest first. */
  tokenSpectrum: number[];
  positionSpectrum: number[];
  weightNorm: number;
}

function get(params: TensorMap, name: string) {
  const t = params[PREFIX + name];
  if (!t) throw new Error(`weightStats: parameter '${PREFIX + name}' missing`);
  return t;
}

function fractionBelow(values: ArrayLike<number>, threshold: number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) < threshold) n++;
  return n / values.length;
}

/** Normalised squared singular values σ_i²/Σ_j σ_j² of a row-major [rows, cols] matrix, largest first. */
export function normalisedSpectrum(data: ArrayLike<number>, rows: number, cols: number): number[] {
  const m = new Matrix(rows, cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m.set(r, c, data[r * cols + c]);
  const s = new SingularValueDecomposition(m, { computeLeftSingularVectors: false, computeRightSingularVectors: false }).diagonal;
  const sq = s.map((x) => x * x).sort((a, b) => b - a);
  const total = sq.reduce((a, b) => a + b, 0);
  return sq.map((x) => (total > 0 ? x / total : 0));
}

export function weightStats(cfg: ModelConfig, params: TensorMap, step: number): WeightStats {
  const layerNorms: LayerNormStats[] = [];
  const addLn = (name: string, prefix: string) => {
    const weight = Array.from(get(params, `${prefix}.weight`).data);
    const bias = Array.from(get(params, `${prefix}.bias`).data);
    layerNorms.push({ name, weight, bias, weightCollapsed: fractionBelow(weight, COLLAPSE_THRESHOLD), biasCollapsed: fractionBelow(bias, COLLAPSE_THRESHOLD) });
  };
  if (cfg.layerNorm) {
    for (let l = 0; l < cfg.layers; l++) {
      addLn(`block ${l + 1} pre-attention`, `blocks.${l}.layer_norms.0`);
      addLn(`block ${l + 1} pre-MLP`, `blocks.${l}.layer_norms.1`);
    }
    addLn('unembedding', 'unembedding.0');
  }
  const allWeights = layerNorms.flatMap((ln) => ln.weight);
  const d = cfg.dModel;
  const V = cfg.D + 1;
  const unW = get(params, 'unembedding.1.weight').data; // [V, d]
  const unB = get(params, 'unembedding.1.bias').data;
  const row0 = Array.from(unW.subarray(0, d));
  const gamma = cfg.layerNorm ? layerNorms.at(-1)!.weight : new Array(d).fill(1);
  const beta = cfg.layerNorm ? layerNorms.at(-1)!.bias : new Array(d).fill(0);
  let sq = 0;
  for (const t of Object.values(params)) for (const v of t.data) sq += v * v;
  return {
    step,
    layerNorms,
    lnWeightCollapsed: allWeights.length ? fractionBelow(allWeights, COLLAPSE_THRESHOLD) : 0,
    unembed: {
      weight: row0,
      bias: unB[0],
      effectiveWeight: row0.map((w, i) => w * gamma[i]),
      effectiveBias: row0.reduce((a, w, i) => a + w * beta[i], 0) + unB[0],
    },
    tokenSpectrum: normalisedSpectrum(get(params, 'token_embedding.weight').data, d, V),
    positionSpectrum: normalisedSpectrum(get(params, 'postn_embedding.weight').data, d, 2 * cfg.K),
    weightNorm: Math.sqrt(sq),
  };
}
