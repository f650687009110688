// Exact Hessian-vector products of the mean test MSE by double backpropagation on TensorFlow.js:
// Hv = ∇_w (∇_w L(w) · v). The model's own graph (lib/model.ts) cannot be differentiated twice —
// its dense layers carry a custom first-order gradient and tfjs' softmax gradient is not itself
// differentiable — so this file restates the forward pass (the same maths as Transformer.forward)
// with plain, twice-differentiable ops and parameters passed in as tensors. Unlike central
// differences of gradients, this sees no ReLU kinks: a finite step crosses some of the tens of
// thousands of ReLU boundaries in a batch and picks up spurious curvature, which biased the trace.
import * as tf from '@tensorflow/tfjs';
import { paramShapes, type ModelConfig } from '../model.ts';
import type { Hvp } from './hessian.ts';

const LN_EPS = 1e-5;
const PREFIX = 'token_sequence_transformer.';

function layerNorm(x: tf.Tensor2D, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor2D {
  if (!gamma || !beta) return x;
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, LN_EPS))), gamma), beta) as tf.Tensor2D;
}

/**
 * softmax over the last axis from exp and sum, so that its gradient can be differentiated again.
 * The max shift only guards exp against overflow: softmax(x − c) = softmax(x) for any c.
 */
function softmax(scores: tf.Tensor): tf.Tensor {
  // A constant (read out of the graph): tfjs cannot differentiate max's own gradient twice.
  const rowMax = tf.max(scores, -1, true);
  const shifted = tf.sub(scores, tf.tensor(rowMax.dataSync(), rowMax.shape));
  const e = tf.exp(shifted);
  return tf.div(e, tf.sum(e, -1, true));
}

/** x Wᵀ (+ b) for x [N, in], W [out, in]. */
const linear = (x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D => {
  const y = tf.matMul(x, w as tf.Tensor2D, false, true) as tf.Tensor2D;
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
};

/** Mean MSE of the predictions at the x tokens, for parameters `params` in canonical order. */
export function mseFromParams(cfg: ModelConfig, params: tf.Tensor[], xs: tf.Tensor3D, ys: tf.Tensor2D): tf.Scalar {
  const names = paramShapes(cfg).map((s) => s.name.slice(PREFIX.length));
  const p: Record<string, tf.Tensor> = Object.fromEntries(names.map((n, i) => [n, params[i]]));
  const [B, K, D] = xs.shape;
  const { dModel: d, heads: H } = cfg;
  const c = d / H;
  const T = 2 * K;
  const V = D + 1;
  const xTokens = tf.concat([tf.zeros([B, K, 1]), xs], 2);
  const yTokens = tf.concat([tf.reshape(ys, [B, K, 1]), tf.zeros([B, K, D])], 2);
  const tokens = tf.reshape(tf.stack([xTokens, yTokens], 2), [B * T, V]) as tf.Tensor2D;
  const positions = tf.transpose(p['postn_embedding.weight']); // [T, d]
  let x = tf.reshape(tf.add(tf.reshape(linear(tokens, p['token_embedding.weight']), [B, T, d]), positions), [B * T, d]) as tf.Tensor2D;
  const maskData = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e9; // exp → 0 exactly in float32
  const mask = tf.tensor2d(maskData, [T, T]);
  for (let l = 0; l < cfg.layers; l++) {
    const b = `blocks.${l}.`;
    const u = layerNorm(x, p[`${b}layer_norms.0.weight`], p[`${b}layer_norms.0.bias`]);
    const wqkv = tf.reshape(p[`${b}attention.attention.weight`], [H, 3, c, d]);
    const part = (j: number) => tf.reshape(tf.slice(wqkv, [0, j, 0, 0], [H, 1, c, d]), [d, d]);
    const heads = (z: tf.Tensor2D) => tf.transpose(tf.reshape(z, [B, T, H, c]), [0, 2, 1, 3]);
    const q = heads(linear(u, part(0)));
    const k = heads(linear(u, part(1)));
    const v = heads(linear(u, part(2)));
    const scores = tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(c)), mask);
    const o = tf.reshape(tf.transpose(tf.matMul(softmax(scores), v), [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
    const a = cfg.includeOutput ? linear(o, p[`${b}attention.output.weight`]) : o;
    const h = tf.add(x, a) as tf.Tensor2D;
    const hidden = tf.relu(linear(layerNorm(h, p[`${b}layer_norms.1.weight`], p[`${b}layer_norms.1.bias`]), p[`${b}compute.0.weight`], p[`${b}compute.0.bias`]));
    const m = linear(hidden, p[`${b}compute.2.weight`], p[`${b}compute.2.bias`]);
    x = tf.add(tf.add(tf.mul(x, 2), a), m) as tf.Tensor2D; // the double residual
  }
  const y = linear(layerNorm(x, p['unembedding.0.weight'], p['unembedding.0.bias']), p['unembedding.1.weight'], p['unembedding.1.bias']);
  const pred = tf.reshape(tf.slice(tf.reshape(y, [B, K, 2, V]), [0, 0, 0, 0], [B, K, 1, 1]), [B, K]);
  return tf.mean(tf.square(tf.sub(pred, ys))) as tf.Scalar;
}

/** v ↦ Hv (float32 arithmetic, exact up to rounding) at the flat parameters `w` on fixed sequences. */
export function exactHvp(cfg: ModelConfig, w: ArrayLike<number>, xsData: Float32Array, ysData: Float32Array, B: number): { hvp: Hvp; loss: number; dispose: () => void } {
  const shapes = paramShapes(cfg).map((s) => s.shape);
  const split = (flat: ArrayLike<number>) => {
    let at = 0;
    return shapes.map((shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const t = tf.tensor(Float32Array.from({ length: size }, (_, i) => flat[at + i]), shape);
      at += size;
      return t;
    });
  };
  const params = split(w);
  const xs = tf.tensor3d(xsData, [B, cfg.K, cfg.D]);
  const ys = tf.tensor2d(ysData, [B, cfg.K]);
  const lossFn = (...ps: tf.Tensor[]) => mseFromParams(cfg, ps, xs, ys);
  const loss = tf.tidy(() => lossFn(...params).dataSync()[0]);
  const grads = tf.grads(lossFn);
  const hvp: Hvp = (v) => {
    const out = new Float64Array(v.length);
    tf.tidy(() => {
      const vs = split(v);
      const gv = (...ps: tf.Tensor[]) => tf.addN(grads(ps).map((g, i) => tf.sum(tf.mul(g, vs[i])))) as tf.Scalar;
      let at = 0;
      for (const t of tf.grads(gv)(params)) {
        const data = t.dataSync();
        for (let i = 0; i < data.length; i++) out[at + i] = data[i];
        at += data.length;
      }
    });
    return out;
  };
  return { hvp, loss, dispose: () => tf.dispose([...params, xs, ys]) };
}
