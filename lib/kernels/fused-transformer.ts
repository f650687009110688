// Host side of the fused WebAssembly kernel (transformer.c): one instance per model, buffers laid
// out per batch size. Parameters, data and results cross as flat float32 arrays in the canonical
// parameter order of lib/model.ts, so this module needs no tfjs and no knowledge of names.
import { setFlagsFromString } from 'node:v8';
import { TRANSFORMER_FMA_WASM_BASE64, TRANSFORMER_WASM_BASE64 } from './transformer-wasm.ts';
import type { ModelConfig } from '../model-config.ts';

// lib ES2023 and @types/node 20 declare no WebAssembly types; these are the few used here
// (module-local, so they cannot clash with a DOM lib elsewhere).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: Imports);
    readonly exports: Record<string, unknown>;
  }
  interface Memory {
    readonly buffer: ArrayBuffer;
  }
  type Imports = Record<string, Record<string, unknown>>;
}

/** The architecture the kernel computes: lib/model.ts's config. */
export type FusedShape = ModelConfig;

interface KernelExports {
  memory: WebAssembly.Memory;
  setup(B: number, D: number, K: number, L: number, H: number, d: number, mlp: number, ln: number, out: number): number;
  params_ptr(): number;
  grads_ptr(): number;
  xs_ptr(): number;
  ys_ptr(): number;
  perpos_ptr(): number;
  outputs_ptr(): number;
  forward(): void;
  predict(): void;
  loss_and_grads(xonly: number): void;
}

/**
 * Which build of transformer.c runs: 'fma' (relaxed SIMD: fused multiply-adds, ≈ 1.3× faster
 * GEMMs, bench/perf.md) or 'simd128' (separate multiply and add). Both are float32 and agree with
 * the PyTorch oracle to ≈ 1e-6; they differ from each other in the last bits, so results are
 * reproducible per machine and engine, not bit-identical across the two builds.
 */
export type KernelBuild = 'fma' | 'simd128';

let compiled: { module: WebAssembly.Module; build: KernelBuild } | null = null;

/**
 * The relaxed-SIMD build needs an engine that decodes relaxed_madd: V8 ≥ 11.4 by default, Node 20's
 * V8 11.3 behind --experimental-wasm-relaxed-simd (set here before compiling; it only adds
 * instructions). STAGEWISE_KERNEL=simd128 forces the plain build (tests compare the two).
 */
function kernelModule(): { module: WebAssembly.Module; build: KernelBuild } {
  if (compiled) return compiled;
  // Synchronous compile is fine in Node (the browser's 4 KB main-thread limit does not apply).
  if (process.env.STAGEWISE_KERNEL !== 'simd128') {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      compiled = { module: new WebAssembly.Module(Buffer.from(TRANSFORMER_FMA_WASM_BASE64, 'base64')), build: 'fma' };
      return compiled;
    } catch {
      // an engine without relaxed SIMD: the plain build below
    }
  }
  compiled = { module: new WebAssembly.Module(Buffer.from(TRANSFORMER_WASM_BASE64, 'base64')), build: 'simd128' };
  return compiled;
}

/** The kernel build this process uses (compiles it on first call). */
export function kernelBuild(): KernelBuild {
  return kernelModule().build;
}

export class FusedTransformer {
  readonly paramCount: number;
  private readonly shape: FusedShape;
  private readonly wasm: KernelExports;
  private batch = -1;

  /** `build` swaps in another compile of transformer.c (bench/ml.ts --profile passes the profiling build). */
  constructor(shape: FusedShape, build?: { module: WebAssembly.Module; imports: WebAssembly.Imports }) {
    this.shape = { ...shape };
    this.wasm = new WebAssembly.Instance(build?.module ?? kernelModule().module, build?.imports ?? {}).exports as unknown as KernelExports;
    this.paramCount = this.layout(1);
  }

  /** Lays the buffers out for batch B (cheap: memory only ever grows); returns the parameter count. */
  private layout(B: number): number {
    if (B === this.batch) return this.paramCount;
    const s = this.shape;
    const n = this.wasm.setup(B, s.D, s.K, s.layers, s.heads, s.dModel, s.dMlp, s.layerNorm ? 1 : 0, s.includeOutput ? 1 : 0);
    if (n === -2) throw new Error(`FusedTransformer: cannot grow WebAssembly memory for a batch of ${B} sequences (K = ${s.K})`);
    if (n < 0) throw new Error(`FusedTransformer: unsupported shape ${JSON.stringify(s)} with batch ${B}`);
    this.batch = B;
    return n;
  }

  private view(ptr: number, length: number): Float32Array {
    return new Float32Array(this.wasm.memory.buffer, ptr, length);
  }

  private load(params: readonly Float32Array[], xs: Float32Array, ys: Float32Array, B: number): void {
    const { K, D } = this.shape;
    if (xs.length !== B * K * D || ys.length !== B * K) {
      throw new Error(`FusedTransformer: xs must hold B·K·D = ${B * K * D} values and ys B·K = ${B * K}, got ${xs.length} and ${ys.length}`);
    }
    this.layout(B);
    const flat = this.view(this.wasm.params_ptr(), this.paramCount);
    let at = 0;
    for (const p of params) {
      flat.set(p, at);
      at += p.length;
    }
    if (at !== this.paramCount) throw new Error(`FusedTransformer: parameters hold ${at} values, the model has ${this.paramCount}`);
    this.view(this.wasm.xs_ptr(), xs.length).set(xs);
    this.view(this.wasm.ys_ptr(), ys.length).set(ys);
  }

  /** Raw outputs [B, 2K, D+1] of the model at `params` (canonical order) on the sequences xs [B, K, D], ys [B, K]. */
  forward(params: readonly Float32Array[], xs: Float32Array, ys: Float32Array, B: number): Float32Array {
    this.load(params, xs, ys, B);
    this.wasm.forward();
    return this.view(this.wasm.outputs_ptr(), B * 2 * this.shape.K * (this.shape.D + 1)).slice();
  }

  /**
   * Predictions ŷ [B, K] (output channel 0 at each x-token): the kernel's x-token-only forward pass,
   * which skips the last layer's work at y-tokens (transformer.c, forward_pass).
   */
  predict(params: readonly Float32Array[], xs: Float32Array, ys: Float32Array, B: number): Float32Array {
    this.load(params, xs, ys, B);
    this.wasm.predict();
    const V = this.shape.D + 1;
    const rows = this.view(this.wasm.outputs_ptr(), B * this.shape.K * V);
    const out = new Float32Array(B * this.shape.K);
    for (let i = 0; i < out.length; i++) out[i] = rows[i * V];
    return out;
  }

  /**
   * Per-position MSE [K] and the gradient of its mean, flat in canonical parameter order. The
   * kernel computes the last layer after attention at x-tokens only, all the loss reads;
   * `everyPosition` makes it compute every position, as `forward` does (the same results up to
   * float32 rounding: tests compare the two).
   */
  lossAndGrads(params: readonly Float32Array[], xs: Float32Array, ys: Float32Array, B: number, everyPosition = false): { perPosition: Float32Array; grads: Float32Array } {
    this.load(params, xs, ys, B);
    this.wasm.loss_and_grads(everyPosition ? 0 : 1);
    return {
      perPosition: this.view(this.wasm.perpos_ptr(), this.shape.K).slice(),
      grads: this.view(this.wasm.grads_ptr(), this.paramCount).slice(),
    };
  }
}
