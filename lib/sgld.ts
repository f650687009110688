// Stochastic-gradient Langevin dynamics around a checkpoint w* (docs/llc.md).
// One chain samples the localised, tempered posterior p(w) ∝ exp(−nβ·L_n(w) − (γ/2)‖w − w*‖²):
//   w ← w − (ε/2)·[nβ·∇L_m(w) + γ·(w − w*)] + √ε·ξ,   ξ ~ N(0, I)
// The noise ξ comes from our own Rng (not tf.randomNormal) so a chain is reproducible across backends.
// Two front ends share one driver: sgldChain (tfjs variables, the regression transformer) and
// sgldChainArrays (plain Float32Array parameters, the language model).
import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng.ts';
import type { SgldHyper } from './sgld-params.ts';

export interface SgldStep {
  perPosition: Float32Array;
  grads: tf.Tensor[];
}

/** A differentiable loss that owns its data (a fixed dataset cycled in minibatches, or a fresh stream). */
export interface SgldTarget {
  variables: tf.Variable[];
  /**
   * Loss of minibatch `batchIndex` at the current variables: per position (a K-vector; K = 1 for a
   * scalar loss), and the gradients of its mean over positions, in `variables` order.
   * The caller disposes the returned grads. May answer with a promise (GPU backends read
   * results asynchronously).
   */
  lossAndGrads(batchIndex: number): SgldStep | Promise<SgldStep>;
}

export interface SgldChainOptions extends SgldHyper {
  /** Steps run before the recorded draws; their losses are still returned (traces show them). */
  burnin: number;
  draws: number;
  /** Source of ξ; one independent stream per chain. */
  noise: Rng;
  signal?: AbortSignal;
  /** Called every `progressEvery` steps and at the end with (steps done, total steps). */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

/** The losses of one chain: step t's minibatch loss at the pre-update weights ("grad-minibatch"). */
export interface ChainRun {
  /** Row-major [steps, K]; burn-in steps first. A failed chain holds the steps up to and including the bad one. */
  losses: Float32Array;
  K: number;
  /** Rows in `losses`. */
  steps: number;
  burnin: number;
  failed: boolean;
  /** Why the chain failed, naming the step and draw index. */
  reason?: string;
}

function checkHyper(o: SgldChainOptions): void {
  const bad = (key: string, want: string, got: unknown) => {
    throw new Error(`sgld: ${key} must be ${want}, got ${String(got)}`);
  };
  if (!(o.eps > 0 && Number.isFinite(o.eps))) bad('eps', 'a finite number > 0', o.eps);
  if (!(o.nbeta > 0 && Number.isFinite(o.nbeta))) bad('nbeta', 'a finite number > 0', o.nbeta);
  if (!(o.gamma >= 0 && Number.isFinite(o.gamma))) bad('gamma', 'a finite number >= 0', o.gamma);
  if (!(Number.isInteger(o.burnin) && o.burnin >= 0)) bad('burnin', 'an integer >= 0', o.burnin);
  if (!(Number.isInteger(o.draws) && o.draws >= 1)) bad('draws', 'an integer >= 1', o.draws);
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('sgld chain aborted');
}

/** One step of a chain as the driver sees it: the minibatch loss, then either apply the update or drop it. */
interface StepResult {
  perPosition: Float32Array;
  /** Move the parameters: w ← w − (ε/2)[nβ·g + γ(w − w*)] + √ε·ξ. */
  update(): void;
  /** Free whatever the step holds (e.g. gradient tensors); called after update() or instead of it. */
  release(): void;
}

/**
 * The bookkeeping every chain shares, whatever holds its parameters: record each step's
 * per-position loss, stop at the first non-finite one (the chain is `failed`, never thrown),
 * report progress. `step(t)` computes the loss and gradient at the current parameters.
 */
async function driveChain(opts: SgldChainOptions, step: (t: number) => Promise<StepResult>): Promise<ChainRun> {
  checkHyper(opts);
  const { burnin, draws, signal, onProgress } = opts;
  const progressEvery = opts.progressEvery ?? 100;
  const total = burnin + draws;
  let losses = new Float32Array(0);
  let K = 0;
  let steps = 0;
  let failure: string | undefined;
  for (let t = 0; t < total; t++) {
    if (signal?.aborted) throw abortError(signal);
    const s = await step(t);
    try {
      const { perPosition } = s;
      if (t === 0) {
        K = perPosition.length;
        if (K < 1) throw new Error('sgld: target returned an empty per-position loss');
        losses = new Float32Array(total * K);
      } else if (perPosition.length !== K) {
        throw new Error(`sgld: per-position loss length changed from ${K} to ${perPosition.length} at step ${t}`);
      }
      losses.set(perPosition, t * K);
      steps = t + 1;
      if (!perPosition.every(Number.isFinite)) {
        const where = t < burnin ? `burn-in step ${t}` : `draw ${t - burnin}`;
        failure = `non-finite minibatch loss at step ${t} (${where}): the chain diverged; try a smaller eps`;
        break;
      }
      s.update();
    } finally {
      s.release();
    }
    if (onProgress && (steps % progressEvery === 0 || steps === total)) onProgress(steps, total);
  }
  return {
    losses: losses.subarray(0, steps * K),
    K,
    steps,
    burnin,
    failed: failure !== undefined,
    ...(failure !== undefined ? { reason: failure } : {}),
  };
}

/**
 * Run one SGLD chain from the target's current variables (= w*) and restore w* afterwards, so the
 * same target can run the next chain. Never throws for a divergent chain: NaN/Inf is reported as
 * `failed` so the caller can drop it explicitly.
 */
export async function sgldChain(target: SgldTarget, opts: SgldChainOptions): Promise<ChainRun> {
  const { eps, nbeta, gamma, noise } = opts;
  const vars = target.variables;
  const anchor = vars.map((v) => tf.keep(v.clone())); // w*: localisation centre and restore point
  const noiseStd = Math.sqrt(eps);
  try {
    return await driveChain(opts, async (t) => {
      const { perPosition, grads } = await target.lossAndGrads(t);
      if (grads.length !== vars.length) {
        tf.dispose(grads);
        throw new Error(`sgld: target returned ${grads.length} grads for ${vars.length} variables`);
      }
      return {
        perPosition,
        update: () =>
          tf.tidy(() => {
            vars.forEach((v, i) => {
              const xi = tf.tensor(noise.fillNormal(new Float32Array(v.size), noiseStd), v.shape, 'float32');
              const drift = grads[i].mul(nbeta).add(v.sub(anchor[i]).mul(gamma));
              v.assign(v.sub(drift.mul(eps / 2)).add(xi));
            });
          }),
        release: () => tf.dispose(grads),
      };
    });
  } finally {
    vars.forEach((v, i) => v.assign(anchor[i]));
    tf.dispose(anchor);
  }
}

/**
 * The same sampler for a model whose parameters are plain Float32Arrays (the language model):
 * `lossAndGrads(b)` returns minibatch b's per-position loss at the current `params` and the
 * gradient of its mean, one array per parameter. The chain moves `params` in place and restores
 * w* afterwards. Noise is drawn parameter by parameter in order, exactly as sgldChain does.
 */
export interface ArraySgldTarget {
  params: Float32Array[];
  lossAndGrads(batchIndex: number): { perPosition: Float32Array; grads: Float32Array[] };
}

export async function sgldChainArrays(target: ArraySgldTarget, opts: SgldChainOptions): Promise<ChainRun> {
  const { eps, nbeta, gamma, noise } = opts;
  const params = target.params;
  const anchor = params.map((p) => p.slice());
  const noiseStd = Math.sqrt(eps);
  const xi = new Float32Array(Math.max(0, ...params.map((p) => p.length)));
  try {
    return await driveChain(opts, async (t) => {
      const { perPosition, grads } = target.lossAndGrads(t);
      if (grads.length !== params.length) throw new Error(`sgld: target returned ${grads.length} grads for ${params.length} parameters`);
      grads.forEach((g, i) => {
        if (g.length !== params[i].length) throw new Error(`sgld: gradient ${i} has ${g.length} values for a parameter of ${params[i].length}`);
      });
      return {
        perPosition,
        update: () => {
          params.forEach((w, i) => {
            const g = grads[i];
            const a = anchor[i];
            const n = noise.fillNormal(xi.subarray(0, w.length), noiseStd);
            for (let j = 0; j < w.length; j++) w[j] = w[j] - (eps / 2) * (nbeta * g[j] + gamma * (w[j] - a[j])) + n[j];
          });
        },
        release: () => {},
      };
    });
  } finally {
    params.forEach((p, i) => p.set(anchor[i]));
  }
}

/**
 * Minibatch order over a fixed dataset of n items: each epoch is a fresh permutation, cut into
 * ⌊n/m⌋ batches of m (the remainder is skipped that epoch, so every batch has exactly m items).
 * Batches must be requested in order (0, 1, 2, …), as a chain does; batch 0 again starts the next
 * chain with a fresh permutation (the rng stream continues).
 */
export class ShuffledBatches {
  readonly perEpoch: number;
  private order: Uint32Array;
  private epoch = -1;

  constructor(readonly n: number, readonly m: number, private readonly rng: Rng) {
    if (!(Number.isInteger(m) && m >= 1 && Number.isInteger(n) && n >= m)) {
      throw new Error(`minibatches: need integers 1 <= batchSize (${m}) <= datasetSize (${n})`);
    }
    this.perEpoch = Math.floor(n / m);
    this.order = new Uint32Array(n);
  }

  /** Dataset indices of batch `b`. */
  batch(b: number): Uint32Array {
    const epoch = Math.floor(b / this.perEpoch);
    if (b === 0) this.epoch = -1;
    if (epoch === this.epoch + 1) this.shuffle();
    else if (epoch !== this.epoch) throw new Error(`minibatches: batch ${b} requested out of order (epoch ${this.epoch})`);
    const start = (b - epoch * this.perEpoch) * this.m;
    return this.order.subarray(start, start + this.m);
  }

  private shuffle(): void {
    const a = this.order;
    for (let i = 0; i < a.length; i++) a[i] = i;
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    this.epoch++;
  }
}
