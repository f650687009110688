// Does a tiny 2-layer attention-only LM form an induction head, and how fast? (docs/language-model.md)
// Trains on "planted repeat" rows: BOS, a random span of L tokens, the same span again (optionally
// mixed with other text), and prints the loss on the second copy (the part only an induction
// mechanism can predict) against step. Usage:
//   npx tsx tools/lm/induction-probe.ts [--lr 1e-3] [--d 64] [--heads 4] [--vocab 512] [--span 31] [--batch 32] [--steps 3000]
import { parseArgs } from 'node:util';
import { lmInitWeights, lmLossAndGrad, type LmConfig } from '../../lib/lm/model.ts';
import { AdamW } from '../../lib/lm/adamw.ts';
import { useLmKernel } from '../../lib/kernels/lm-gemm.ts';
import { rngStream } from '../../lib/rng.ts';

const { values: a } = parseArgs({
  options: {
    lr: { type: 'string', default: '1e-3' },
    d: { type: 'string', default: '64' },
    heads: { type: 'string', default: '4' },
    vocab: { type: 'string', default: '512' },
    span: { type: 'string', default: '31' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '3000' },
    wd: { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '0' },
    every: { type: 'string', default: '100' },
  },
});
useLmKernel();
const d = +a.d!, H = +a.heads!, V = +a.vocab!, L = +a.span!, B = +a.batch!, steps = +a.steps!, lr = +a.lr!;
const T = 2 * L + 1;
const cfg: LmConfig = { layers: 2, dModel: d, heads: H, dHead: d / H, nCtx: T, vocab: V };
const w = lmInitWeights(cfg, rngStream(+a.seed!, 'init'));
const opt = new AdamW(w, +a.wd!);
const bos = V - 1;
function batch(step: number): Int32Array {
  const r = rngStream(+a.seed!, 'probe-data', step);
  const tok = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    tok[b * T] = bos;
    for (let i = 0; i < L; i++) tok[b * T + 1 + i] = tok[b * T + 1 + L + i] = r.int(V - 1);
  }
  return tok;
}
const started = Date.now();
for (let s = 0; s <= steps; s++) {
  const tok = batch(s);
  const { loss, perPosition, grads } = lmLossAndGrad(cfg, w, tok, B, T);
  if (s % +a.every! === 0) {
    // perPosition[t] predicts token t+1: the second copy is tokens L+1 … 2L, i.e. t = L … 2L−1;
    // its first token (t = L) is not predictable, so average t = L+1 … 2L−1.
    let first = 0, second = 0;
    for (let t = 0; t < L; t++) first += perPosition[t] / L;
    for (let t = L + 1; t < 2 * L; t++) second += perPosition[t] / (L - 1);
    console.log(`step ${s} loss ${loss.toFixed(3)} first ${first.toFixed(3)} repeat ${second.toFixed(3)} (ln V = ${Math.log(V - 1).toFixed(3)}) ${((Date.now() - started) / 1000).toFixed(0)}s`);
  }
  opt.step(w, grads, lr);
}
