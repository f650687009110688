// Host side of lm-gemm.c: a Gemm (lib/lm/gemm.ts) whose operands live in the kernel's memory, and
// the arena that puts the language model's work buffers there. `useLmKernel()` switches
// lib/lm/model.ts over; results agree with the TypeScript products to float32 rounding.
import { setFlagsFromString } from 'node:v8';
import { LM_GEMM_FMA_WASM_BASE64, LM_GEMM_WASM_BASE64 } from './lm-gemm-wasm.ts';
import { attentionBackwardWith, attentionForwardWith, type LmOps, type MatRef } from '../lm/gemm.ts';
import { setLmArena, setLmOps, type LmArena } from '../lm/model.ts';

// lib ES2023 and @types/node 20 declare no WebAssembly types; these are the few used here.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: Record<string, unknown>);
    readonly exports: Record<string, unknown>;
  }
  interface Memory {
    readonly buffer: ArrayBuffer;
  }
}

interface Exports {
  memory: WebAssembly.Memory;
  lm_alloc(n: number): number;
  lm_reset(): void;
  lm_gemm(tA: number, tB: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, acc: number): void;
  lm_xent(N: number, V: number, logits: number, targets: number, inv: number, partial: number, sum: number): void;
  lm_causal_softmax(T: number, S: number, ld: number, scale: number): void;
  lm_causal_softmax_bwd(T: number, P: number, ldp: number, dP: number, scale: number): void;
  lm_unembed_xent(N: number, d: number, V: number, y: number, W_U: number, b_U: number, targets: number, inv: number, partial: number, sum: number, dW_U: number, db_U: number, dy: number, scratch: number): void;
  lm_attn_fwd(B: number, T: number, H: number, dh: number, q: number, k: number, v: number, probs: number, z: number, scale: number): void;
  lm_attn_bwd(B: number, T: number, H: number, dh: number, q: number, k: number, v: number, probs: number, dz: number, dq: number, dk: number, dv: number, dP: number, scale: number): void;
}

/** lm-gemm.c's XENT_ROWS: rows per chunk of lm_unembed_xent. */
const XENT_ROWS = 32;
/** lm-gemm.c's attn_t holds kᵀ or vᵀ of one (sequence, head): T·dh floats at most; larger shapes take the per-head products. */
const ATTN_T_FLOATS = 1024 * 64;

/**
 * Which build of lm-gemm.c runs: 'fma' (relaxed SIMD: fused multiply-adds) or 'simd128' (separate
 * multiply and add). Both are float32 and agree with the PyTorch oracle to ≈ 1e-6; they differ from
 * each other in the last bits, so LM training is reproducible per machine and engine (and build),
 * not bit-identical across the two builds.
 */
export type LmKernelBuild = 'fma' | 'simd128';

const kernels: Partial<Record<LmKernelBuild, Exports>> = {};
let defaultBuild: LmKernelBuild | null = null;
/** The instance useLmKernel last selected: wasmOps and the arena run on it. */
let current: Exports | null = null;
let currentBuild: LmKernelBuild | null = null;

function make(b: LmKernelBuild): Exports {
  const b64 = b === 'fma' ? LM_GEMM_FMA_WASM_BASE64 : LM_GEMM_WASM_BASE64;
  if (b === 'fma') setFlagsFromString('--experimental-wasm-relaxed-simd');
  kernels[b] ??= new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(b64, 'base64')), {}).exports as unknown as Exports;
  return kernels[b];
}

/**
 * The build this process uses by default: 'fma' where the engine accepts relaxed SIMD (Node 20's
 * V8 11.3 behind --experimental-wasm-relaxed-simd, set here before compiling — it only adds
 * instructions; V8 ≥ 11.4 by default), else 'simd128'. STAGEWISE_KERNEL=simd128 forces the plain
 * build, as for the regression kernel.
 */
export function lmKernelBuild(): LmKernelBuild {
  if (defaultBuild) return defaultBuild;
  defaultBuild = 'simd128';
  if (process.env.STAGEWISE_KERNEL !== 'simd128') {
    try {
      make('fma');
      defaultBuild = 'fma';
    } catch {
      // an engine without relaxed SIMD: the plain build
    }
  }
  return defaultBuild;
}

function instance(): Exports {
  if (!current) (currentBuild = lmKernelBuild()), (current = make(currentBuild));
  return current;
}

function pointer(k: Exports, m: MatRef, what: string): number {
  if (m.data.buffer !== k.memory.buffer) throw new Error(`lm-gemm: operand ${what} is not in the kernel's memory (allocate it through the LM arena)`);
  return m.data.byteOffset + m.off * 4;
}

const whole = (data: Float32Array): MatRef => ({ data, off: 0, ld: 0 });

export const wasmOps: LmOps = {
  name: 'wasm-simd',
  gemm(tA, tB, M, N, K, A, B, C, acc) {
    const k = instance();
    k.lm_gemm(tA ? 1 : 0, tB ? 1 : 0, M, N, K, pointer(k, A, 'A'), A.ld, pointer(k, B, 'B'), B.ld, pointer(k, C, 'C'), C.ld, acc ? 1 : 0);
  },
  causalSoftmax(T, S, scale) {
    const k = instance();
    k.lm_causal_softmax(T, pointer(k, S, 'S'), S.ld, scale);
  },
  causalSoftmaxBackward(T, P, dP, scale) {
    const k = instance();
    k.lm_causal_softmax_bwd(T, pointer(k, P, 'P'), P.ld, pointer(k, whole(dP), 'dP'), scale);
  },
  crossEntropy(N, V, logits, targets, inv, partial, sum) {
    const k = instance();
    k.lm_xent(N, V, pointer(k, whole(logits), 'logits'), pointer(k, whole(targets), 'targets'), inv, pointer(k, whole(partial), 'partial'), pointer(k, whole(sum), 'sum'));
  },
  unembedScratch: (_N, d, V) => XENT_ROWS * V + V * d,
  unembedCrossEntropy(N, d, V, y, W_U, b_U, targets, inv, partial, sum, dW_U, db_U, dy, scratch) {
    const k = instance();
    const p = (a: Float32Array, what: string) => pointer(k, whole(a), what);
    k.lm_unembed_xent(N, d, V, p(y, 'y'), p(W_U, 'W_U'), p(b_U, 'b_U'), p(targets, 'targets'), inv, p(partial, 'partial'), p(sum, 'sum'), p(dW_U, 'dW_U'), p(db_U, 'db_U'), p(dy, 'dy'), p(scratch, 'scratch'));
  },
  attentionForward(B, T, H, dh, q, kk, v, probs, z, scale) {
    if (T * dh > ATTN_T_FLOATS) return attentionForwardWith(wasmOps, B, T, H, dh, q, kk, v, probs, z, scale);
    const k = instance();
    const p = (a: Float32Array, what: string) => pointer(k, whole(a), what);
    k.lm_attn_fwd(B, T, H, dh, p(q, 'q'), p(kk, 'k'), p(v, 'v'), p(probs, 'probs'), p(z, 'z'), scale);
  },
  attentionBackward(B, T, H, dh, q, kk, v, probs, dz, dq, dk, dv, dP, scale) {
    if (T * dh > ATTN_T_FLOATS) return attentionBackwardWith(wasmOps, B, T, H, dh, q, kk, v, probs, dz, dq, dk, dv, dP, scale);
    const k = instance();
    const p = (a: Float32Array, what: string) => pointer(k, whole(a), what);
    k.lm_attn_bwd(B, T, H, dh, p(q, 'q'), p(kk, 'k'), p(v, 'v'), p(probs, 'probs'), p(dz, 'dz'), p(dq, 'dq'), p(dk, 'dk'), p(dv, 'dv'), p(dP, 'dP'), scale);
  },
};

/**
 * One layout at a time: a new (config, B, T) resets the kernel's heap, so views from the previous
 * layout must not be used again (lib/lm/model.ts drops its cached workspaces when asked for one).
 */
function arena(totalFloats: number): LmArena {
  const k = instance();
  k.lm_reset();
  // Reserve the whole layout first: growing memory later would detach the views handed out.
  const base = k.lm_alloc(totalFloats);
  if (base === 0 && totalFloats > 0) throw new Error(`lm-gemm: cannot grow WebAssembly memory to ${((totalFloats * 4) / 2 ** 30).toFixed(2)} GiB of work buffers (reduce the batch or sequence length)`);
  let at = base;
  return {
    alloc(n: number) {
      const view = new Float32Array(k.memory.buffer, at, n);
      at += Math.ceil(n / 4) * 16; // keep 16-byte alignment for SIMD loads
      return view;
    },
  };
}

/** Routes every LM product through the WebAssembly SIMD kernel (by default the build lmKernelBuild() picks). */
export function useLmKernel(build: LmKernelBuild = lmKernelBuild()): void {
  current = make(build);
  currentBuild = build;
  setLmArena(arena, true);
  setLmOps(wasmOps);
}

/** The build wasmOps runs on now. */
export function lmKernelBuildInUse(): LmKernelBuild {
  instance();
  return currentBuild!;
}

/** For tests: n floats in the kernel's memory. Resets the kernel's heap, so the model drops its cached layout. */
export function kernelScratch(n: number): Float32Array {
  const k = instance();
  k.lm_reset();
  const p = k.lm_alloc(n);
  if (p === 0) throw new Error(`lm-gemm: cannot allocate ${n} floats`);
  useLmKernel(currentBuild!);
  return new Float32Array(k.memory.buffer, p, n);
}
