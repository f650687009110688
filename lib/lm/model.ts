// The language model (docs/language-model.md): a 2-layer attention-only transformer with
// "shortformer" positions, in plain TypeScript with hand-written gradients. Synchronous.
//
//   x⁰      = W_E[token]                                   no positions in the residual stream
//   block l: a = LN1(x)                                     pre-LN, biased variance, eps 1e-5
//            q = (a + W_pos[t])·W_Q + b_Q                   positions enter queries and keys only
//            k = (a + W_pos[t])·W_K + b_K
//            v = a·W_V + b_V
//            x ← x + Σ_h softmax_causal(q_h k_hᵀ/√dh) v_h · W_O[h] + b_O
//   logits  = LN_final(x)·W_U + b_U
//   loss    = mean over batch and positions 0 … T−2 of −log softmax(logits_t)[token_{t+1}]
//
// Parameters carry TransformerLens names and layouts (W_Q [H, d, dh], W_O [H, dh, d], W_U [d, V], …)
// so published checkpoints load without renaming. Every dense product goes through a Gemm
// (lib/lm/gemm.ts, or the WebAssembly SIMD one from lib/kernels/lm-gemm.ts when it is loaded);
// the rest (LayerNorm, softmax, embedding) is scalar TypeScript. Work buffers are kept per
// (config, B, T) between calls, so a training loop allocates once.
import { jsOps, type LmOps, type MatRef } from './gemm.ts';
import type { Rng } from '../rng.ts';

export interface LmConfig {
  layers: number;
  dModel: number;
  heads: number;
  dHead: number;
  nCtx: number;
  vocab: number;
}

/** TransformerLens parameter name → row-major float32 values. */
export type LmWeights = Record<string, Float32Array>;

/** The paper's model: 2 layers, d = 256, 8 heads × 32, context 1,024, 5k vocabulary (3,355,016 parameters). */
export const PAPER_LM: LmConfig = { layers: 2, dModel: 256, heads: 8, dHead: 32, nCtx: 1024, vocab: 5000 };

export const LN_EPS = 1e-5;

export function checkLmConfig(cfg: LmConfig): void {
  for (const key of ['layers', 'dModel', 'heads', 'dHead', 'nCtx', 'vocab'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw new Error(`LmConfig.${key} must be a positive integer, got ${cfg[key]}`);
  }
}

/** Every parameter in canonical order (the order of initialisation, checkpoints and flat vectors). */
export function lmParamShapes(cfg: LmConfig): { name: string; shape: number[] }[] {
  checkLmConfig(cfg);
  const { dModel: d, heads: H, dHead: dh, vocab: V } = cfg;
  const shapes = [
    { name: 'embed.W_E', shape: [V, d] },
    { name: 'pos_embed.W_pos', shape: [cfg.nCtx, d] },
  ];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `blocks.${l}`;
    shapes.push(
      { name: `${p}.ln1.w`, shape: [d] },
      { name: `${p}.ln1.b`, shape: [d] },
      { name: `${p}.attn.W_Q`, shape: [H, d, dh] },
      { name: `${p}.attn.W_K`, shape: [H, d, dh] },
      { name: `${p}.attn.W_V`, shape: [H, d, dh] },
      { name: `${p}.attn.W_O`, shape: [H, dh, d] },
      { name: `${p}.attn.b_Q`, shape: [H, dh] },
      { name: `${p}.attn.b_K`, shape: [H, dh] },
      { name: `${p}.attn.b_V`, shape: [H, dh] },
      { name: `${p}.attn.b_O`, shape: [d] },
    );
  }
  shapes.push(
    { name: 'ln_final.w', shape: [d] },
    { name: 'ln_final.b', shape: [d] },
    { name: 'unembed.W_U', shape: [d, V] },
    { name: 'unembed.b_U', shape: [V] },
  );
  return shapes;
}

export const lmParamCount = (cfg: LmConfig) => lmParamShapes(cfg).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

/**
 * TransformerLens's "gpt2" initialisation: every W_* ~ N(0, (0.8/√d_model)²), biases 0, LayerNorm
 * γ = 1, β = 0. Drawn in lmParamShapes order from `rng`, so a seed fixes the weights.
 */
export function lmInitWeights(cfg: LmConfig, rng: Rng): LmWeights {
  const std = 0.8 / Math.sqrt(cfg.dModel);
  const w: LmWeights = {};
  for (const { name, shape } of lmParamShapes(cfg)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    if (leaf.startsWith('W_')) rng.fillNormal(data, std);
    else if (name.endsWith('.ln1.w') || name === 'ln_final.w') data.fill(1);
    w[name] = data;
  }
  return w;
}

/** Throws naming the first parameter that is missing or has the wrong length. */
export function checkLmWeights(cfg: LmConfig, w: LmWeights, what = 'weights'): void {
  for (const { name, shape } of lmParamShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (!w[name]) throw new Error(`${what}: missing parameter ${name} [${shape}]`);
    if (w[name].length !== n) throw new Error(`${what}: ${name} has ${w[name].length} values, expected ${n} for shape [${shape}]`);
  }
}

// ---------------------------------------------------------------- work buffers

let opsImpl: LmOps = jsOps;

/** Switches the products and softmax pieces to another implementation (the WebAssembly kernel); returns the previous one. */
export function setLmOps(ops: LmOps): LmOps {
  const prev = opsImpl;
  opsImpl = ops;
  workspaces.clear();
  return prev;
}
/** 'js' or 'wasm-simd': which implementation lmForward / lmLossAndGrad use now. */
export const lmKernelName = () => opsImpl.name;

/** Allocator for work buffers: plain arrays, or views into the kernel's memory. */
export interface LmArena {
  alloc(n: number): Float32Array;
}
const heapArena: LmArena = { alloc: (n) => new Float32Array(n) };
/** Where work buffers (and copies of the weights) live; null = ordinary arrays. */
let arenaFactory: ((totalFloats: number) => LmArena) | null = null;
/** The arena holds one layout at a time (a new one invalidates the previous views). */
let arenaExclusive = false;

/** Used by lib/kernels/lm-gemm.ts so that every operand already lives in WebAssembly memory. */
export function setLmArena(factory: ((totalFloats: number) => LmArena) | null, exclusive: boolean): void {
  arenaFactory = factory;
  arenaExclusive = exclusive;
  workspaces.clear();
}

class Workspace {
  readonly N: number;
  readonly HD: number;
  /** Parameters as the products see them (copies in the arena when it is not the heap). */
  readonly W: LmWeights = {};
  readonly G: LmWeights = {};
  readonly resid: Float32Array[] = [];
  readonly xhat1: Float32Array[] = [];
  readonly rstd1: Float32Array[] = [];
  readonly ln1: Float32Array[] = [];
  readonly qkIn: Float32Array[] = [];
  readonly q: Float32Array[] = [];
  readonly k: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  readonly z: Float32Array[] = [];
  readonly probs: Float32Array[] = [];
  readonly xhatF: Float32Array;
  readonly rstdF: Float32Array;
  readonly yF: Float32Array;
  readonly logits: Float32Array;
  readonly dResid: Float32Array;
  readonly dLn: Float32Array;
  readonly dQkIn: Float32Array;
  readonly dQ: Float32Array;
  readonly dK: Float32Array;
  readonly dV: Float32Array;
  readonly dZ: Float32Array;
  readonly dP: Float32Array;
  readonly targets: Float32Array;
  readonly partial: Float32Array;
  readonly rowSum: Float32Array;
  readonly ones: Float32Array;
  /** Scratch of the fused unembedding + loss (opsImpl.unembedScratch). */
  readonly unembedScratch: Float32Array;

  constructor(readonly cfg: LmConfig, readonly B: number, readonly T: number, arena: LmArena, readonly ownWeights: boolean) {
    const { layers: L, dModel: d, heads: H, dHead: dh, vocab: V } = cfg;
    const N = (this.N = B * T);
    const HD = (this.HD = H * dh);
    const a = (n: number) => arena.alloc(n);
    for (const { name, shape } of lmParamShapes(cfg)) {
      const n = shape.reduce((x, y) => x * y, 1);
      if (ownWeights) this.W[name] = a(n);
      this.G[name] = a(n);
    }
    for (let l = 0; l <= L; l++) this.resid.push(a(N * d));
    for (let l = 0; l < L; l++) {
      this.xhat1.push(a(N * d));
      this.rstd1.push(a(N));
      this.ln1.push(a(N * d));
      this.qkIn.push(a(N * d));
      this.q.push(a(N * HD));
      this.k.push(a(N * HD));
      this.v.push(a(N * HD));
      this.z.push(a(N * HD));
      this.probs.push(a(B * H * T * T));
    }
    this.xhatF = a(N * d);
    this.rstdF = a(N);
    this.yF = a(N * d);
    this.logits = a(N * V);
    this.dResid = a(N * d);
    this.dLn = a(N * d);
    this.dQkIn = a(N * d);
    this.dQ = a(N * HD);
    this.dK = a(N * HD);
    this.dV = a(N * HD);
    this.dZ = a(N * HD);
    this.dP = a(T * T);
    this.targets = a(N);
    this.partial = a(N);
    this.rowSum = a(N);
    this.ones = a(N);
    this.unembedScratch = a(opsImpl.unembedScratch(N, d, V));
  }
}

const workspaces = new Map<string, Workspace>();

function workspace(cfg: LmConfig, B: number, T: number): Workspace {
  const key = JSON.stringify([cfg, B, T]);
  let ws = workspaces.get(key);
  if (!ws) {
    if (arenaFactory) {
      // Size first (a counting arena, 16-byte aligned blocks), so the arena is reserved once.
      let total = 0;
      const counter: LmArena = { alloc: (n) => ((total += Math.ceil(n / 4) * 4), new Float32Array(0)) };
      new Workspace(cfg, B, T, counter, true);
      if (arenaExclusive) workspaces.clear();
      ws = new Workspace(cfg, B, T, arenaFactory(total), true);
    } else {
      ws = new Workspace(cfg, B, T, heapArena, false);
    }
    // Keep the two most recent shapes (a training batch and an evaluation batch).
    if (workspaces.size >= 2) workspaces.delete(workspaces.keys().next().value!);
    workspaces.set(key, ws);
  }
  return ws;
}

// ---------------------------------------------------------------- pieces

const mat = (data: Float32Array, off: number, ld: number): MatRef => ({ data, off, ld });

function layerNorm(N: number, d: number, x: Float32Array, g: Float32Array, b: Float32Array, xhat: Float32Array, rstd: Float32Array, y: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * d;
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[o + i];
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[o + i] - mean) ** 2;
    const r = 1 / Math.sqrt(v / d + LN_EPS);
    rstd[n] = r;
    for (let i = 0; i < d; i++) {
      const h = (x[o + i] - mean) * r;
      xhat[o + i] = h;
      y[o + i] = h * g[i] + b[i];
    }
  }
}

/** dx (+)= LN backward of dy; dγ, dβ accumulate. */
function layerNormBackward(N: number, d: number, dy: Float32Array, xhat: Float32Array, rstd: Float32Array, g: Float32Array, dg: Float32Array, db: Float32Array, dx: Float32Array, acc: boolean): void {
  for (let n = 0; n < N; n++) {
    const o = n * d;
    let m1 = 0, m2 = 0;
    for (let i = 0; i < d; i++) {
      const dyi = dy[o + i];
      dg[i] += dyi * xhat[o + i];
      db[i] += dyi;
      const dh = dyi * g[i];
      m1 += dh;
      m2 += dh * xhat[o + i];
    }
    m1 /= d;
    m2 /= d;
    const r = rstd[n];
    for (let i = 0; i < d; i++) {
      const v = r * (dy[o + i] * g[i] - m1 - xhat[o + i] * m2);
      dx[o + i] = acc ? dx[o + i] + v : v;
    }
  }
}

/** y[n, :] = b for every row: the bias a product then accumulates onto. */
function fillRows(N: number, C: number, y: Float32Array, b: Float32Array): void {
  for (let n = 0; n < N; n++) y.set(b, n * C);
}

/** out[c] += Σ_n x[n, c], as the product onesᵀ·x (vectorised in the kernel). */
function colSum(ops: LmOps, ones: Float32Array, N: number, C: number, x: Float32Array, out: Float32Array): void {
  ops.gemm(true, false, 1, C, N, mat(ones, 0, 1), mat(x, 0, C), mat(out, 0, C), true);
}

function checkTokens(cfg: LmConfig, tokens: Int32Array, B: number, T: number): void {
  if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new Error(`lm: B and T must be positive integers, got ${B}, ${T}`);
  if (T > cfg.nCtx) throw new Error(`lm: sequence length ${T} exceeds the context n_ctx = ${cfg.nCtx}`);
  if (tokens.length !== B * T) throw new Error(`lm: tokens must hold B·T = ${B * T} ids, got ${tokens.length}`);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!(t >= 0 && t < cfg.vocab)) throw new Error(`lm: token ${t} at index ${i} is outside the vocabulary 0 … ${cfg.vocab - 1}`);
  }
}

/** Runs the forward pass into the workspace up to ws.yF = LN_final(x); with `unembed`, also the logits into ws.logits. */
function forwardInto(ws: Workspace, w: LmWeights, tokens: Int32Array, ablatePositions: boolean, unembed: boolean): void {
  const { cfg, B, T, N, HD } = ws;
  const { layers: L, dModel: d, heads: H, dHead: dh, vocab: V } = cfg;
  const gemm = opsImpl;
  const scale = 1 / Math.sqrt(dh);
  const W_E = w['embed.W_E'];
  const W_pos = w['pos_embed.W_pos'];
  const x0 = ws.resid[0];
  for (let n = 0; n < N; n++) x0.set(W_E.subarray(tokens[n] * d, tokens[n] * d + d), n * d);

  for (let l = 0; l < L; l++) {
    const p = `blocks.${l}`;
    const x = ws.resid[l];
    const a = ws.ln1[l], qkIn = ws.qkIn[l], q = ws.q[l], k = ws.k[l], v = ws.v[l], z = ws.z[l], probs = ws.probs[l];
    layerNorm(N, d, x, w[`${p}.ln1.w`], w[`${p}.ln1.b`], ws.xhat1[l], ws.rstd1[l], a);
    // Shortformer: positions are added to the query/key input only.
    if (ablatePositions) qkIn.set(a);
    else for (let n = 0; n < N; n++) {
      const t = n % T;
      for (let i = 0; i < d; i++) qkIn[n * d + i] = a[n * d + i] + W_pos[t * d + i];
    }
    const WQ = w[`${p}.attn.W_Q`], WK = w[`${p}.attn.W_K`], WV = w[`${p}.attn.W_V`];
    fillRows(N, HD, q, w[`${p}.attn.b_Q`]);
    fillRows(N, HD, k, w[`${p}.attn.b_K`]);
    fillRows(N, HD, v, w[`${p}.attn.b_V`]);
    for (let h = 0; h < H; h++) {
      gemm.gemm(false, false, N, dh, d, mat(qkIn, 0, d), mat(WQ, h * d * dh, dh), mat(q, h * dh, HD), true);
      gemm.gemm(false, false, N, dh, d, mat(qkIn, 0, d), mat(WK, h * d * dh, dh), mat(k, h * dh, HD), true);
      gemm.gemm(false, false, N, dh, d, mat(a, 0, d), mat(WV, h * d * dh, dh), mat(v, h * dh, HD), true);
    }
    gemm.attentionForward(B, T, H, dh, q, k, v, probs, z, scale);
    const xNext = ws.resid[l + 1];
    xNext.set(x);
    const bO = w[`${p}.attn.b_O`];
    for (let n = 0; n < N; n++) for (let i = 0; i < d; i++) xNext[n * d + i] += bO[i];
    gemm.gemm(false, false, N, d, HD, mat(z, 0, HD), mat(w[`${p}.attn.W_O`], 0, d), mat(xNext, 0, d), true);
  }
  layerNorm(N, d, ws.resid[L], w['ln_final.w'], w['ln_final.b'], ws.xhatF, ws.rstdF, ws.yF);
  if (!unembed) return;
  fillRows(N, V, ws.logits, w['unembed.b_U']);
  gemm.gemm(false, false, N, V, d, mat(ws.yF, 0, d), mat(w['unembed.W_U'], 0, V), mat(ws.logits, 0, V), true);
}

/** The weights the products read: the caller's arrays, or copies in the kernel's memory. */
function bindWeights(ws: Workspace, cfg: LmConfig, w: LmWeights): LmWeights {
  checkLmWeights(cfg, w);
  if (!ws.ownWeights) return w;
  for (const name of Object.keys(ws.W)) ws.W[name].set(w[name]);
  return ws.W;
}

export interface LmForwardOptions {
  /** Zero the positional embedding's contribution (the positional-ablation evaluation). */
  ablatePositions?: boolean;
  /** Also return each layer's attention pattern [B, H, T(query), T(key)]. */
  attention?: boolean;
}

/** tokens: Int32Array [B·T] row-major. Returns logits [B·T·V] and optionally each layer's attention [B, H, T, T]. */
export function lmForward(cfg: LmConfig, w: LmWeights, tokens: Int32Array, B: number, T: number, opts: LmForwardOptions = {}): { logits: Float32Array; attention?: Float32Array[] } {
  checkTokens(cfg, tokens, B, T);
  const ws = workspace(cfg, B, T);
  forwardInto(ws, bindWeights(ws, cfg, w), tokens, opts.ablatePositions ?? false, true);
  const out: { logits: Float32Array; attention?: Float32Array[] } = { logits: ws.logits.slice() };
  if (opts.attention) out.attention = ws.probs.map((p) => p.slice());
  return out;
}

/**
 * Mean next-token cross-entropy over positions 0 … T−2 and the batch, the per-position mean over
 * the batch [T−1], and the gradient of the mean loss for every parameter (fresh arrays, same names).
 */
export function lmLossAndGrad(cfg: LmConfig, w: LmWeights, tokens: Int32Array, B: number, T: number): { loss: number; perPosition: Float32Array; grads: LmWeights } {
  checkTokens(cfg, tokens, B, T);
  if (T < 2) throw new Error(`lmLossAndGrad: need T ≥ 2 to predict a next token, got ${T}`);
  const ws = workspace(cfg, B, T);
  const W = bindWeights(ws, cfg, w);
  forwardInto(ws, W, tokens, false, false);
  const { N, HD } = ws;
  const { layers: L, dModel: d, heads: H, dHead: dh, vocab: V } = cfg;
  const gemm = opsImpl;
  const scale = 1 / Math.sqrt(dh);
  const G = ws.G;
  for (const g of Object.values(G)) g.fill(0);

  // Unembedding, softmax cross-entropy and the unembedding's backward in one call (in row chunks
  // on the kernel): dLoss/dyF lands in dLn. The last position of each row has no next token (target −1).
  for (let n = 0; n < N; n++) ws.targets[n] = n % T === T - 1 ? -1 : tokens[n + 1];
  gemm.unembedCrossEntropy(N, d, V, ws.yF, W['unembed.W_U'], W['unembed.b_U'], ws.targets, 1 / (B * (T - 1)), ws.partial, ws.rowSum, G['unembed.W_U'], G['unembed.b_U'], ws.dLn, ws.unembedScratch);
  const perPosition = new Float64Array(T - 1);
  for (let n = 0; n < N; n++) {
    const t = n % T;
    if (t < T - 1) perPosition[t] += (ws.partial[n] + Math.log(ws.rowSum[n])) / B;
  }
  let loss = 0;
  for (let t = 0; t < T - 1; t++) loss += perPosition[t];
  loss /= T - 1;
  const ones = ws.ones.fill(1);
  const dResid = ws.dResid;
  layerNormBackward(N, d, ws.dLn, ws.xhatF, ws.rstdF, W['ln_final.w'], G['ln_final.w'], G['ln_final.b'], dResid, false);

  const { dQ, dK, dV, dZ, dP, dQkIn, dLn } = ws;
  for (let l = L - 1; l >= 0; l--) {
    const p = `blocks.${l}`;
    const q = ws.q[l], k = ws.k[l], v = ws.v[l], z = ws.z[l], probs = ws.probs[l];
    colSum(gemm, ones, N, d, dResid, G[`${p}.attn.b_O`]);
    gemm.gemm(true, false, HD, d, N, mat(z, 0, HD), mat(dResid, 0, d), mat(G[`${p}.attn.W_O`], 0, d), false);
    gemm.gemm(false, true, N, HD, d, mat(dResid, 0, d), mat(W[`${p}.attn.W_O`], 0, d), mat(dZ, 0, HD), false);
    gemm.attentionBackward(B, T, H, dh, q, k, v, probs, dZ, dQ, dK, dV, dP, scale);
    colSum(gemm, ones, N, HD, dQ, G[`${p}.attn.b_Q`]);
    colSum(gemm, ones, N, HD, dK, G[`${p}.attn.b_K`]);
    colSum(gemm, ones, N, HD, dV, G[`${p}.attn.b_V`]);
    const qkIn = ws.qkIn[l], a = ws.ln1[l];
    for (let h = 0; h < H; h++) {
      const wo = h * d * dh;
      gemm.gemm(true, false, d, dh, N, mat(qkIn, 0, d), mat(dQ, h * dh, HD), mat(G[`${p}.attn.W_Q`], wo, dh), false);
      gemm.gemm(true, false, d, dh, N, mat(qkIn, 0, d), mat(dK, h * dh, HD), mat(G[`${p}.attn.W_K`], wo, dh), false);
      gemm.gemm(true, false, d, dh, N, mat(a, 0, d), mat(dV, h * dh, HD), mat(G[`${p}.attn.W_V`], wo, dh), false);
      gemm.gemm(false, true, N, d, dh, mat(dQ, h * dh, HD), mat(W[`${p}.attn.W_Q`], wo, dh), mat(dQkIn, 0, d), h > 0);
      gemm.gemm(false, true, N, d, dh, mat(dK, h * dh, HD), mat(W[`${p}.attn.W_K`], wo, dh), mat(dQkIn, 0, d), true);
      gemm.gemm(false, true, N, d, dh, mat(dV, h * dh, HD), mat(W[`${p}.attn.W_V`], wo, dh), mat(dLn, 0, d), h > 0);
    }
    const gPos = G['pos_embed.W_pos'];
    for (let n = 0; n < N; n++) {
      const t = n % T;
      for (let i = 0; i < d; i++) {
        gPos[t * d + i] += dQkIn[n * d + i];
        dLn[n * d + i] += dQkIn[n * d + i];
      }
    }
    layerNormBackward(N, d, dLn, ws.xhat1[l], ws.rstd1[l], W[`${p}.ln1.w`], G[`${p}.ln1.w`], G[`${p}.ln1.b`], dResid, true);
  }
  const gE = G['embed.W_E'];
  for (let n = 0; n < N; n++) {
    const o = tokens[n] * d;
    for (let i = 0; i < d; i++) gE[o + i] += dResid[n * d + i];
  }
  const grads: LmWeights = {};
  for (const name of Object.keys(G)) grads[name] = G[name].slice();
  return { loss, perPosition: Float32Array.from(perPosition), grads };
}
