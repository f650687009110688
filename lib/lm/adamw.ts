// AdamW as torch.optim.AdamW (β = 0.9/0.999, eps 1e-8, no AMSGrad) over named float32 parameters.
// Decoupled weight decay: w ← w·(1 − lr·λ) before the Adam update. Like the original training, every
// parameter is in one group and decayed — embeddings, biases and LayerNorm gains included.
import type { LmWeights } from './model.ts';

export class AdamW {
  static readonly beta1 = 0.9;
  static readonly beta2 = 0.999;
  static readonly eps = 1e-8;
  /** Updates taken so far (torch's state['step']). */
  t = 0;
  readonly m: LmWeights = {};
  readonly v: LmWeights = {};

  constructor(params: LmWeights, readonly weightDecay: number) {
    for (const [name, p] of Object.entries(params)) {
      this.m[name] = new Float32Array(p.length);
      this.v[name] = new Float32Array(p.length);
    }
  }

  /** One update of `params` in place. */
  step(params: LmWeights, grads: LmWeights, lr: number): void {
    this.t += 1;
    const { beta1, beta2, eps } = AdamW;
    const stepSize = lr / (1 - beta1 ** this.t);
    const bias2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    const decay = 1 - lr * this.weightDecay;
    for (const name of Object.keys(this.m)) {
      const w = params[name], g = grads[name], m = this.m[name], v = this.v[name];
      if (!w || !g || w.length !== m.length || g.length !== m.length) throw new Error(`AdamW.step: parameter or gradient ${name} missing or of the wrong length`);
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        w[i] = w[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) / bias2Sqrt + eps);
      }
    }
  }
}
