// Does a tiny 2-layer attention-only LM form previous-token and induction heads, and how fast?
// (docs/language-model.md, "Induction heads at CPU scale".) Trains with the lm-train recipe
// (AdamW, constant lr, weight decay on all parameters) on either
//   * pure synthetic rows: BOS, a random span of L tokens, the same span again; or
//   * the token rows of an lm-data node (--data DIR), optionally with planted repeats
//     (--repeat-fraction, --min-span, --max-span: the same augmentation as lm.train.plantedRepeats),
// and every --every steps prints, on fresh "BOS + R + R" probes of uniform random tokens R:
//   repeat: loss on the second copy of R (≈ ln V without induction, → 0 with it),
//   ind L1/L2: the largest per-head mean attention from a token in the second copy to the token
//              after its earlier occurrence (prefix matching), per layer,
//   prev L1/L2: the largest per-head mean attention to the previous token, per layer.
//   npx tsx tools/lm/induction-probe.ts [--data DIR] [--lr 1e-3] [--d 64] [--heads 4] [--batch 32] [--steps 3000]
import { parseArgs } from 'node:util';
import { lmForward, lmInitWeights, lmLossAndGrad, type LmConfig } from '../../lib/lm/model.ts';
import { AdamW } from '../../lib/lm/adamw.ts';
import { RowSchedule, plantRepeats } from '../../lib/lm/batches.ts';
import { useLmKernel } from '../../lib/kernels/lm-gemm.ts';
import { rngStream } from '../../lib/rng.ts';
import { readDataInfo, readTokenRows } from '../../stages/lm/files.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string' },
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
    'repeat-fraction': { type: 'string', default: '0' },
    'min-span': { type: 'string', default: '8' },
    'max-span': { type: 'string', default: '32' },
    periodic: { type: 'boolean', default: false },
    'random-tokens': { type: 'boolean', default: false },
  },
});
useLmKernel();
const seed = +a.seed!, B = +a.batch!, lr = +a.lr!, d = +a.d!, H = +a.heads!;
let T: number, V: number, bos: number, nextBatch: (s: number) => Int32Array;
if (a.data) {
  const info = readDataInfo(a.data);
  const { rows, tokens } = readTokenRows(a.data, 'train');
  (T = info.nCtx), (V = info.vocab), (bos = info.bos);
  const schedule = new RowSchedule(rows, seed);
  const spec = { fraction: +a['repeat-fraction']!, minSpan: +a['min-span']!, maxSpan: +a['max-span']!, periodic: a.periodic, random: a['random-tokens'] ? { vocab: info.vocab, bos: info.bos } : undefined };
  nextBatch = (s) => {
    const out = new Int32Array(B * T);
    schedule.batch(s, B).forEach((r, i) => out.set(tokens.subarray(r * T, r * T + T), i * T));
    if (spec.fraction > 0) plantRepeats(out, B, T, spec, seed, s);
    return out;
  };
} else {
  const L = +a.span!;
  (T = 2 * L + 1), (V = +a.vocab!), (bos = V - 1);
  nextBatch = (s) => {
    const r = rngStream(seed, 'probe-data', s);
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      out[b * T] = bos;
      for (let i = 0; i < L; i++) out[b * T + 1 + i] = out[b * T + 1 + L + i] = r.int(V - 1);
    }
    return out;
  };
}
const cfg: LmConfig = { layers: 2, dModel: d, heads: H, dHead: d / H, nCtx: T, vocab: V };
const w = lmInitWeights(cfg, rngStream(seed, 'init'));
const opt = new AdamW(w, +a.wd!);

// Probe: BOS + R + R, R uniform random non-BOS tokens, |R| = min(30, (T − 1) / 2).
const PB = 16, L = Math.min(30, Math.floor((T - 1) / 2)), PT = 2 * L + 1;
const probe = new Int32Array(PB * PT);
const pr = rngStream(seed, 'probe-eval');
for (let b = 0; b < PB; b++) {
  probe[b * PT] = bos;
  for (let i = 0; i < L; i++) {
    let t = pr.int(V);
    while (t === bos) t = pr.int(V);
    probe[b * PT + 1 + i] = probe[b * PT + 1 + L + i] = t;
  }
}
function evaluate() {
  const { logits, attention } = lmForward(cfg, w, probe, PB, PT, { attention: true });
  let repeat = 0, n = 0;
  for (let b = 0; b < PB; b++) {
    for (let t = L + 1; t < 2 * L; t++) {
      const o = (b * PT + t) * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) max = Math.max(max, logits[o + j]);
      let s = 0;
      for (let j = 0; j < V; j++) s += Math.exp(logits[o + j] - max);
      repeat += Math.log(s) + max - logits[o + probe[b * PT + t + 1]];
      n++;
    }
  }
  const ind: number[] = [], prev: number[] = [];
  for (const att of attention!) {
    let bestInd = 0, bestPrev = 0;
    for (let h = 0; h < H; h++) {
      let si = 0, sp = 0, ni = 0, np = 0;
      for (let b = 0; b < PB; b++) {
        const base = (b * H + h) * PT * PT;
        for (let q = L + 1; q < PT; q++) (si += att[base + q * PT + (q - L + 1)]), ni++;
        for (let q = 2; q < PT; q++) (sp += att[base + q * PT + q - 1]), np++;
      }
      bestInd = Math.max(bestInd, si / ni);
      bestPrev = Math.max(bestPrev, sp / np);
    }
    ind.push(bestInd);
    prev.push(bestPrev);
  }
  return { repeat: repeat / n, ind, prev };
}

const started = Date.now();
let lossSum = 0, lossN = 0;
for (let s = 0; s <= +a.steps!; s++) {
  if (s % +a.every! === 0) {
    const e = evaluate();
    const f = (x: number[]) => x.map((v) => v.toFixed(2)).join('/');
    console.log(`step ${s} train ${(lossN ? lossSum / lossN : NaN).toFixed(3)} repeat ${e.repeat.toFixed(3)} (ln V ${Math.log(V).toFixed(2)}) ind ${f(e.ind)} prev ${f(e.prev)} ${((Date.now() - started) / 1000).toFixed(0)}s`);
    lossSum = lossN = 0;
  }
  if (s === +a.steps!) break;
  const { loss, grads } = lmLossAndGrad(cfg, w, nextBatch(s), B, T);
  lossSum += loss;
  lossN++;
  opt.step(w, grads, lr);
}
