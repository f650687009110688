// Host side of lm-gemm.c: a Gemm (lib/lm/gemm.ts) whose operands live in the kernel's memory, and
// the arena that puts the language model's work buffers there. `useLmKernel()` switches
// lib/lm/model.ts over; results agree with the TypeScript products to float32 rounding.
import { LM_GEMM_WASM_BASE64 } from './lm-gemm-wasm.ts';
import type { LmOps, MatRef } from '../lm/gemm.ts';
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
}

let kernel: Exports | null = null;

function instance(): Exports {
  kernel ??= new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(LM_GEMM_WASM_BASE64, 'base64')), {}).exports as unknown as Exports;
  return kernel;
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

/** Routes every LM product through the WebAssembly SIMD kernel. */
export function useLmKernel(): void {
  setLmArena(arena, true);
  setLmOps(wasmOps);
}

/** For tests: n floats in the kernel's memory. Resets the kernel's heap, so the model drops its cached layout. */
export function kernelScratch(n: number): Float32Array {
  const k = instance();
  k.lm_reset();
  const p = k.lm_alloc(n);
  if (p === 0) throw new Error(`lm-gemm: cannot allocate ${n} floats`);
  useLmKernel();
  return new Float32Array(k.memory.buffer, p, n);
}
