// The regression transformer of the paper ("L2H4", docs/model.md), on TensorFlow.js.
//
//   x⁰      = W_tok τ_t + p_t                         token embedding (no bias) + learned positions
//   block l: a = Attn(LN₀(x));  h = x + a;  m = MLP(LN₁(h))
//            x ← x + (h + m) = 2x + a + m             the original's double residual (docs/model.md)
//   y       = W_un LN_f(x) + b_un                     unembedding back to token width V = D + 1
//   ŷ_k     = y[:, 2k, 0]                             prediction of y_k at x-token 2k
//
// Parameters are tf.Variables in PyTorch layout (Linear weight = [out, in]) and PyTorch names, so
// checkpoints map 1:1 onto the original state dicts. Speed on the wasm backend (bench/perf.md):
// every dense product goes through `linear`, whose custom gradient uses explicit transposes so that
// each matMul is a plain, un-transposed 2-D product (XNNPACK's fast path); the fused QKV *weight*
// is split per head, never the activation.
//
// On the CPU backends (wasm, cpu) the hot paths — lossAndGrads, perPositionLoss, runInChunks — do
// not use the tfjs graph at all: they run the same maths as one fused WebAssembly SIMD call
// (lib/kernels/transformer.c), 5–10× faster (bench/perf.md). The tfjs graph stays the path for
// forward/predict (tensor results) and for GPU backends, where its kernels run on the device.
import * as tf from '@tensorflow/tfjs';
import { FusedTransformer } from './kernels/fused-transformer.ts';
import type { ModelConfig } from './model-config.ts';
import type { Rng } from './rng.ts';
import type { TensorMap } from './tensorfile.ts';

export type { ModelConfig } from './model-config.ts';

export const PAPER_MODEL: ModelConfig = {
  D: 4,
  K: 8,
  layers: 2,
  heads: 4,
  dModel: 64,
  dMlp: 64,
  layerNorm: true,
  includeOutput: true,
};

/** Deliberate deviations, for tests that prove the parity test can see them. Never used by stages. */
export interface ModelAblation {
  singleResidual?: boolean;
  noCausalMask?: boolean;
}

/**
 * Which implementation computes losses and gradients: 'auto' = the fused kernel on CPU backends
 * and the tfjs graph elsewhere; 'fused' / 'tfjs' force one (tests compare them).
 */
export type ModelKernel = 'auto' | 'fused' | 'tfjs';

/**
 * A tensor's values as a fresh Float32Array. Always asynchronous: GPU backends cannot read
 * synchronously in Node (WebGPU's dataSync needs a browser canvas), and on the CPU backends the
 * await costs nothing measurable.
 */
export async function readFloats(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from((await t.data()) as Float32Array);
}

/** Backends whose tensors live in host memory, where the fused WebAssembly kernel is the fast path. */
const HOST_BACKENDS = new Set(['wasm', 'cpu']);

const PREFIX = 'token_sequence_transformer.';
const LN_EPS = 1e-5;

interface ParamSpec {
  name: string;
  shape: number[];
  /** U(±1/√fanIn) for Linear weights/biases and embeddings; LayerNorm γ = 1, β = 0. */
  init: { uniformFanIn: number } | { constant: number };
}

function checkConfig(cfg: ModelConfig): void {
  for (const key of ['D', 'K', 'layers', 'heads', 'dModel', 'dMlp'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw new Error(`ModelConfig.${key} must be a positive integer, got ${cfg[key]}`);
  }
  if (cfg.dModel % cfg.heads !== 0) throw new Error(`ModelConfig: dModel (${cfg.dModel}) must be divisible by heads (${cfg.heads})`);
}

/** Canonical order = PyTorch construction order (docs/model.md); init draws follow it too. */
function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  checkConfig(cfg);
  const { D, K, dModel: d, dMlp: mlp } = cfg;
  const V = D + 1;
  const T = 2 * K;
  const specs: ParamSpec[] = [
    { name: 'token_embedding.weight', shape: [d, V], init: { uniformFanIn: V } },
    { name: 'postn_embedding.weight', shape: [d, T], init: { uniformFanIn: T } },
  ];
  for (let l = 0; l < cfg.layers; l++) {
    const b = `blocks.${l}.`;
    specs.push({ name: `${b}attention.attention.weight`, shape: [3 * d, d], init: { uniformFanIn: d } });
    if (cfg.includeOutput) specs.push({ name: `${b}attention.output.weight`, shape: [d, d], init: { uniformFanIn: d } });
    specs.push(
      { name: `${b}compute.0.weight`, shape: [mlp, d], init: { uniformFanIn: d } },
      { name: `${b}compute.0.bias`, shape: [mlp], init: { uniformFanIn: d } },
      { name: `${b}compute.2.weight`, shape: [d, mlp], init: { uniformFanIn: mlp } },
      { name: `${b}compute.2.bias`, shape: [d], init: { uniformFanIn: mlp } },
    );
    if (cfg.layerNorm) {
      specs.push(
        { name: `${b}layer_norms.0.weight`, shape: [d], init: { constant: 1 } },
        { name: `${b}layer_norms.0.bias`, shape: [d], init: { constant: 0 } },
        { name: `${b}layer_norms.1.weight`, shape: [d], init: { constant: 1 } },
        { name: `${b}layer_norms.1.bias`, shape: [d], init: { constant: 0 } },
      );
    }
  }
  if (cfg.layerNorm) {
    specs.push(
      { name: 'unembedding.0.weight', shape: [d], init: { constant: 1 } },
      { name: 'unembedding.0.bias', shape: [d], init: { constant: 0 } },
    );
  }
  // Without LN the final norm is an identity placeholder, so the Linear keeps index 1 (assumed naming).
  specs.push(
    { name: 'unembedding.1.weight', shape: [V, d], init: { uniformFanIn: d } },
    { name: 'unembedding.1.bias', shape: [V], init: { uniformFanIn: d } },
  );
  return specs.map((s) => ({ ...s, name: PREFIX + s.name }));
}

export function paramShapes(cfg: ModelConfig): { name: string; shape: number[] }[] {
  return paramSpecs(cfg).map(({ name, shape }) => ({ name, shape }));
}

export function paramCount(cfg: ModelConfig): number {
  return paramShapes(cfg).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** PyTorch-default initialisation: U(−1/√fan_in, 1/√fan_in); LN γ = 1, β = 0. */
export function initParams(cfg: ModelConfig, rng: Rng): TensorMap {
  const params: TensorMap = {};
  for (const spec of paramSpecs(cfg)) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    if ('constant' in spec.init) data.fill(spec.init.constant);
    else {
      const bound = 1 / Math.sqrt(spec.init.uniformFanIn);
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
    }
    params[spec.name] = { shape: spec.shape, data };
  }
  return params;
}

/** y = x Wᵀ for x [N, in], W [out, in], with every product un-transposed (see file header). */
const linearNoBias = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x as tf.Tensor2D, tf.transpose(w as tf.Tensor2D)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, ws), tf.matMul(tf.transpose(dy as tf.Tensor2D), xs)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

function linear(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  const y = linearNoBias(x, w as tf.Tensor2D);
  return b ? tf.add<tf.Tensor2D>(y, b) : y;
}

/** LayerNorm over the last axis: biased variance, eps inside the square root. */
function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined): tf.Tensor2D {
  if (!gamma || !beta) return x; // layer_norm = False: every LN is the identity
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add<tf.Tensor2D>(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, LN_EPS))), gamma), beta);
}

export class Transformer {
  readonly cfg: ModelConfig;
  readonly names: string[];
  readonly shapes: number[][];
  readonly variables: tf.Variable[];
  private readonly p: Record<string, tf.Variable>;
  private readonly ablation: ModelAblation;
  private readonly maskCache = new Map<number, tf.Tensor2D>();
  private readonly kernel: ModelKernel;
  private fusedKernel: FusedTransformer | null = null;
  /** While attentionProbs runs: every layer's post-softmax attention, in layer order. */
  private attentionCapture: tf.Tensor[] | null = null;

  constructor(cfg: ModelConfig, params: TensorMap, ablation: ModelAblation = {}, kernel: ModelKernel = 'auto') {
    const specs = paramSpecs(cfg);
    this.cfg = { ...cfg };
    this.ablation = { ...ablation };
    if (!['auto', 'fused', 'tfjs'].includes(kernel)) throw new Error(`Transformer: kernel must be 'auto', 'fused' or 'tfjs', got '${kernel}'`);
    this.kernel = kernel;
    this.names = specs.map((s) => s.name);
    this.shapes = specs.map((s) => s.shape);
    this.checkParams(params);
    this.variables = specs.map((s) => tf.variable(tf.tensor(params[s.name].data, s.shape), true));
    this.p = {};
    specs.forEach((s, i) => (this.p[s.name.slice(PREFIX.length)] = this.variables[i]));
  }

  private checkParams(params: TensorMap): void {
    for (let i = 0; i < this.names.length; i++) {
      const t = params[this.names[i]];
      if (!t) throw new Error(`Transformer params: missing '${this.names[i]}' (expected shape [${this.shapes[i]}])`);
      if (t.shape.join(',') !== this.shapes[i].join(',')) {
        throw new Error(`Transformer params: '${this.names[i]}' has shape [${t.shape}], expected [${this.shapes[i]}]`);
      }
    }
  }

  /** 0 where j ≤ i, −∞ where j > i (the original's log of a lower-triangular ones matrix). */
  private causalMask(T: number): tf.Tensor2D {
    let mask = this.maskCache.get(T);
    if (!mask) {
      const m = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -Infinity;
      mask = tf.keep(tf.tensor2d(m, [T, T]));
      this.maskCache.set(T, mask);
    }
    return mask;
  }

  /** Multi-head causal self-attention on u = LN₀(x), u [B·T, d] → [B·T, d]. */
  private attention(l: number, u: tf.Tensor2D, B: number, T: number): tf.Tensor2D {
    const { heads: H, dModel: d } = this.cfg;
    const c = d / H;
    // Fused W_qkv [3d, d] is head-major: rows h·3c … are Q_h, then K_h, then V_h (docs/model.md).
    const wqkv = tf.reshape(this.p[`blocks.${l}.attention.attention.weight`], [H, 3, c, d]);
    const part = (j: number) => tf.reshape(tf.slice(wqkv, [0, j, 0, 0], [H, 1, c, d]), [d, d]);
    const toHeads = (z: tf.Tensor2D) => tf.transpose(tf.reshape(z, [B, T, H, c]), [0, 2, 1, 3]); // [B, H, T, c]
    const q = toHeads(linear(u, part(0)));
    const k = toHeads(linear(u, part(1)));
    const v = toHeads(linear(u, part(2)));
    let scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(c)); // A_ij = q_i·k_j/√c  [B, H, T, T]
    if (!this.ablation.noCausalMask) scores = tf.add(scores, this.causalMask(T));
    const probs = tf.softmax(scores);
    if (this.attentionCapture) this.attentionCapture.push(tf.keep(probs));
    const o = tf.matMul(probs, v); // [B, H, T, c]
    const concat = tf.reshape<tf.Rank.R2>(tf.transpose(o, [0, 2, 1, 3]), [B * T, d]); // heads in head order
    return this.cfg.includeOutput ? linear(concat, this.p[`blocks.${l}.attention.output.weight`]) : concat;
  }

  /** Tokens [B, T, V] → outputs [B, T, V], T ≤ 2K. */
  forward(tokens: tf.Tensor3D): tf.Tensor3D {
    const [B, T, V] = tokens.shape;
    const { dModel: d, D, K } = this.cfg;
    if (V !== D + 1 || T > 2 * K) throw new Error(`Transformer.forward: tokens must be [B, ≤${2 * K}, ${D + 1}], got [${tokens.shape}]`);
    const p = this.p;
    return tf.tidy(() => {
      const positions = tf.transpose(tf.slice(p['postn_embedding.weight'], [0, 0], [d, T])); // p_t  [T, d]
      const embedded = tf.reshape(linear(tf.reshape(tokens, [B * T, V]), p['token_embedding.weight']), [B, T, d]);
      let x = tf.reshape(tf.add(embedded, positions), [B * T, d]) as tf.Tensor2D; // x⁰  [B·T, d]
      for (let l = 0; l < this.cfg.layers; l++) {
        const a = this.attention(l, layerNorm(x, p[`blocks.${l}.layer_norms.0.weight`], p[`blocks.${l}.layer_norms.0.bias`]), B, T);
        const h = tf.add<tf.Tensor2D>(x, a);
        const hidden = tf.relu(linear(layerNorm(h, p[`blocks.${l}.layer_norms.1.weight`], p[`blocks.${l}.layer_norms.1.bias`]), p[`blocks.${l}.compute.0.weight`], p[`blocks.${l}.compute.0.bias`]));
        const m = linear(hidden, p[`blocks.${l}.compute.2.weight`], p[`blocks.${l}.compute.2.bias`]);
        // x ← x + block(x) with block(x) = h + m: the double residual.
        x = this.ablation.singleResidual ? tf.add<tf.Tensor2D>(h, m) : tf.add<tf.Tensor2D>(tf.add(tf.mul(x, 2), a), m);
      }
      const y = linear(layerNorm(x, p['unembedding.0.weight'], p['unembedding.0.bias']), p['unembedding.1.weight'], p['unembedding.1.bias']);
      return tf.reshape(y, [B, T, V]) as tf.Tensor3D;
    });
  }

  /**
   * Post-softmax attention of every layer, each [B, H, T, T] row-major (query, key), for sequences
   * xs [B, K, D], ys [B, K] in plain arrays: the tfjs graph, for analysis (lib/analysis/attention.ts).
   */
  attentionProbs(xs: Float32Array, ys: Float32Array, B: number): Float32Array[] {
    const { K, D } = this.cfg;
    this.attentionCapture = [];
    try {
      tf.tidy(() => {
        this.forward(this.encode(tf.tensor3d(xs, [B, K, D]), tf.tensor2d(ys, [B, K])));
      });
      return this.attentionCapture.map((t) => Float32Array.from(t.dataSync() as Float32Array));
    } finally {
      tf.dispose(this.attentionCapture);
      this.attentionCapture = null;
    }
  }

  /** Tokens from xs [B, K, D] and ys [B, K], as encodeTokens does (lib/tasks.ts). */
  encode(xs: tf.Tensor3D, ys: tf.Tensor2D): tf.Tensor3D {
    const [B, K, D] = xs.shape;
    return tf.tidy(() => {
      const xTokens = tf.concat([tf.zeros([B, K, 1]), xs], 2); // [0, x_k]
      const yTokens = tf.concat([tf.reshape(ys, [B, K, 1]), tf.zeros([B, K, D])], 2); // [y_k, 0 … 0]
      return tf.reshape(tf.stack([xTokens, yTokens], 2), [B, 2 * K, D + 1]) as tf.Tensor3D;
    });
  }

  /** ŷ [B, K]: output channel 0 at each x-token 2k. */
  predict(xs: tf.Tensor3D, ys: tf.Tensor2D): tf.Tensor2D {
    const [B, K, D] = xs.shape;
    if (K !== this.cfg.K || D !== this.cfg.D) throw new Error(`Transformer.predict: xs must be [B, ${this.cfg.K}, ${this.cfg.D}], got [${xs.shape}]`);
    return tf.tidy(() => {
      const out = this.forward(this.encode(xs, ys));
      return tf.reshape(tf.slice(tf.reshape(out, [B, K, 2, D + 1]), [0, 0, 0, 0], [B, K, 1, 1]), [B, K]) as tf.Tensor2D;
    });
  }

  private perPositionTensor(xs: tf.Tensor3D, ys: tf.Tensor2D): tf.Tensor1D {
    return tf.mean(tf.square(tf.sub(this.predict(xs, ys), ys)), 0) as tf.Tensor1D;
  }

  /** The fused kernel, when it computes this model's losses; ablations exist only in the tfjs graph. */
  private fused(): FusedTransformer | null {
    if (this.ablation.singleResidual || this.ablation.noCausalMask) {
      if (this.kernel === 'fused') throw new Error('Transformer: the fused kernel implements the paper model only, not ablations');
      return null;
    }
    if (this.kernel === 'tfjs' || (this.kernel === 'auto' && !HOST_BACKENDS.has(tf.getBackend()))) return null;
    this.fusedKernel ??= new FusedTransformer(this.cfg);
    return this.fusedKernel;
  }

  /** Only on host backends (the fused path), where synchronous reads are free. */
  private paramArrays(): Float32Array[] {
    return this.variables.map((v) => v.dataSync() as Float32Array);
  }

  private checkBatch(where: string, xs: tf.Tensor3D, ys: tf.Tensor2D): number {
    const [B, K, D] = xs.shape;
    if (K !== this.cfg.K || D !== this.cfg.D || ys.shape[0] !== B || ys.shape[1] !== K) {
      throw new Error(`Transformer.${where}: xs must be [B, ${this.cfg.K}, ${this.cfg.D}] and ys [B, ${this.cfg.K}], got [${xs.shape}] and [${ys.shape}]`);
    }
    return B;
  }

  /**
   * Raw outputs [B, 2K, D+1] for sequences held in plain arrays (xs [B, K, D], ys [B, K]): the
   * fused kernel on CPU backends, the tfjs graph otherwise.
   */
  async outputsOf(xs: Float32Array, ys: Float32Array, B: number): Promise<Float32Array> {
    const { K, D } = this.cfg;
    const fused = this.fused();
    if (fused) return fused.forward(this.paramArrays(), xs, ys, B);
    const out = tf.tidy(() => this.forward(this.encode(tf.tensor3d(xs, [B, K, D]), tf.tensor2d(ys, [B, K]))));
    try {
      return await readFloats(out);
    } finally {
      out.dispose();
    }
  }

  /**
   * Predictions ŷ [B, K] for sequences held in plain arrays: on CPU backends the fused kernel's
   * x-token-only forward pass (it skips the last layer's work at y-tokens), the tfjs graph otherwise.
   */
  async predictionsOf(xs: Float32Array, ys: Float32Array, B: number): Promise<Float32Array> {
    const fused = this.fused();
    if (fused) return fused.predict(this.paramArrays(), xs, ys, B);
    const { K, D } = this.cfg;
    const raw = await this.outputsOf(xs, ys, B);
    return Float32Array.from({ length: B * K }, (_, i) => raw[2 * i * (D + 1)]); // ŷ_k = output channel 0 at token 2k
  }

  /** Per-position MSE [K] (mean over the batch), no gradients. */
  async perPositionLoss(xs: tf.Tensor3D, ys: tf.Tensor2D): Promise<Float32Array> {
    const fused = this.fused();
    if (fused) {
      const B = this.checkBatch('perPositionLoss', xs, ys);
      const { K } = this.cfg;
      const target = ys.dataSync() as Float32Array;
      const pred = fused.predict(this.paramArrays(), xs.dataSync() as Float32Array, target, B);
      const perPos = new Float32Array(K);
      for (let k = 0; k < K; k++) {
        let sse = 0; // float64, as the kernel's own loss
        for (let b = 0; b < B; b++) {
          const e = pred[b * K + k] - target[b * K + k];
          sse += e * e;
        }
        perPos[k] = sse / B;
      }
      return perPos;
    }
    const t = tf.tidy(() => this.perPositionTensor(xs, ys));
    try {
      return await readFloats(t);
    } finally {
      t.dispose();
    }
  }

  /**
   * The fused kernel's loss and gradients at parameters held in plain arrays (canonical order),
   * without tensors: the hot loops (training, SGLD) keep their weights in Float32Arrays and call
   * this every step. Returns null where the fused kernel does not compute this model (GPU
   * backends, ablations): callers then take the tensor path (lossAndGrads).
   */
  flatLossAndGrads(): ((params: readonly Float32Array[], xs: Float32Array, ys: Float32Array, B: number) => { perPosition: Float32Array; grads: Float32Array[] }) | null {
    const fused = this.kernel === 'tfjs' ? null : this.fused();
    if (!fused) return null;
    const sizes = this.shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
    return (params, xs, ys, B) => {
      const { perPosition, grads } = fused.lossAndGrads(params, xs, ys, B);
      let at = 0;
      return { perPosition, grads: sizes.map((n) => grads.subarray(at, (at += n))) };
    };
  }

  /** Copies of the current parameter values, canonical order. */
  paramData(): Float32Array[] {
    return this.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  }

  /** Per-position MSE [K] and the gradients of its mean over positions (the training loss), in `variables` order. */
  async lossAndGrads(xs: tf.Tensor3D, ys: tf.Tensor2D): Promise<{ perPosition: Float32Array; grads: tf.Tensor[] }> {
    const fused = this.fused();
    if (fused) {
      const B = this.checkBatch('lossAndGrads', xs, ys);
      const { perPosition, grads } = fused.lossAndGrads(this.paramArrays(), xs.dataSync() as Float32Array, ys.dataSync() as Float32Array, B);
      let at = 0;
      return {
        perPosition,
        grads: this.shapes.map((shape) => {
          const size = shape.reduce((a, b) => a * b, 1);
          at += size;
          return tf.tensor(grads.subarray(at - size, at), shape, 'float32');
        }),
      };
    }
    let perPos: tf.Tensor1D | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const pp = this.perPositionTensor(xs, ys);
      perPos = tf.keep(pp);
      return tf.mean(pp) as tf.Scalar;
    }, this.variables);
    value.dispose();
    let perPosition: Float32Array;
    try {
      perPosition = await readFloats(perPos!);
    } finally {
      perPos!.dispose();
    }
    return { perPosition, grads: this.variables.map((v) => grads[v.name]) };
  }

  async getParams(): Promise<TensorMap> {
    const data = await Promise.all(this.variables.map(readFloats));
    return Object.fromEntries(this.names.map((name, i) => [name, { shape: [...this.shapes[i]], data: data[i] }]));
  }

  setParams(params: TensorMap): void {
    this.checkParams(params);
    this.names.forEach((name, i) => this.setParam(i, params[name].data));
  }

  /** Overwrite parameter i (canonical order) with `data`: the optimiser's write-back path. */
  setParam(i: number, data: Float32Array): void {
    tf.tidy(() => this.variables[i].assign(tf.tensor(data, this.shapes[i])));
  }

  dispose(): void {
    this.fusedKernel = null;
    this.variables.forEach((v) => v.dispose());
    this.maskCache.forEach((m) => m.dispose());
    this.maskCache.clear();
  }
}

/**
 * Runs the model over B sequences held in plain arrays, in chunks (bounded memory for large
 * evaluation sets). Returns ŷ [B, K], or with `fullOutput` the raw outputs [B, 2K, D+1].
 */
export async function runInChunks(model: Transformer, xs: Float32Array, ys: Float32Array, B: number, fullOutput = false, chunk = 1024): Promise<Float32Array> {
  const { K, D } = model.cfg;
  const V = D + 1;
  const width = fullOutput ? 2 * K * V : K;
  const out = new Float32Array(B * width);
  for (let start = 0; start < B; start += chunk) {
    const n = Math.min(chunk, B - start);
    const [xc, yc] = [xs.subarray(start * K * D, (start + n) * K * D), ys.subarray(start * K, (start + n) * K)];
    out.set(fullOutput ? await model.outputsOf(xc, yc, n) : await model.predictionsOf(xc, yc, n), start * width);
  }
  return out;
}
