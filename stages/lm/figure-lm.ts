// Stage 'figure-lm': the language model's figures, section 'Language model' of the report
// (docs/language-model.md, "Figures"), each with a caption computed from this run's numbers:
//   lm-fig1-top.svg            test loss and λ̂ with the detected LM stages
//   lm1-2.svg                  bigram score vs entropy, loss vs position-ablated loss, n-gram scores
//   lm-heads.svg               previous-token and prefix-matching scores of every head, ICL score
//   lm-k-composition.svg       K-composition between the leading layer-1 and layer-2 heads
//   lm-per-position-loss.svg   per-position loss with and without positional ablation
//   lm-essential-dynamics.svg, lm-ed-pcs-over-time.svg   PCA of the per-token logits
//
// Inputs: evals (lm-eval dirs), heads (lm-heads dirs), llcs (lm-llc dirs), stages (stage-boundaries
// dir), ed (essential-dynamics dir). Params: label, formedThreshold, xLimits, style.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { essentialDynamicsFigure, pcsOverTime, shortStep } from '../../lib/plots/ed-figures.ts';
import { headLabel, lmBigramsNgrams, lmHeadsFigure, lmKCompositionFigure, lmPerPositionFigure, type LmCurves } from '../../lib/plots/lm-figures.ts';
import { lrFigure1 } from '../../lib/plots/lr-figure.ts';
import type { EdJson } from '../essential-dynamics.ts';
import { figureOptions, figureStyleSchema, readJson, writeFigures, xLimitsSchema, type StagesJson } from '../figures/common.ts';
import type { LmEvalResult } from './lm-eval.ts';
import type { LmHeadsResult } from './lm-heads.ts';

const STAGE = 'figure-lm';
const SECTION = 'Language model';

export const figureLmParams = z.strictObject({
  label: z.string().default('LM'),
  /** A head counts as formed when its final score is at least this and at least twice its step-0 score. */
  formedThreshold: z.number().positive().max(1).default(0.3),
  xLimits: xLimitsSchema,
  style: figureStyleSchema.default(figureStyleSchema.parse({})),
});

/** Three decimals, never "-0.000". */
const f3 = (x: number) => (Math.abs(x) < 5e-4 ? 0 : x).toFixed(3);

/** The head (layer, head) with the largest final score in `layers` (all by default). */
function bestHead(scores: number[][][], layers?: number[]): { l: number; h: number; first: number; last: number; maxStep: number } {
  const last = scores[scores.length - 1];
  let best = { l: 0, h: 0 };
  last.forEach((row, l) => {
    if (layers && !layers.includes(l)) return;
    row.forEach((v, h) => {
      if (v > last[best.l][best.h] || (layers && !layers.includes(best.l))) best = { l, h };
    });
  });
  const series = scores.map((s) => s[best.l][best.h]);
  return { ...best, first: series[0], last: series[series.length - 1], maxStep: series.indexOf(Math.max(...series)) };
}

/** Indices of the k largest values. */
const topK = (values: number[], k: number) => values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i).sort((a, b) => a - b);

export const figureLmStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figureLmParams,
  inputs: { evals: 'dir[]', heads: 'dir[]', llcs: 'dir[]', stages: 'dir', ed: 'dir' },
  async run(ctx) {
    const { label, formedThreshold, xLimits, style } = ctx.params;
    const evals = (await Promise.all(ctx.inputs.evals.map((d) => readJson<LmEvalResult>(STAGE, path.join(d, 'eval.json'))))).sort((a, b) => a.step - b.step);
    const heads = (await Promise.all(ctx.inputs.heads.map((d) => readJson<LmHeadsResult>(STAGE, path.join(d, 'heads.json'))))).sort((a, b) => a.step - b.step);
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    const ed = await readJson<EdJson>(STAGE, path.join(ctx.inputs.ed, 'ed.json'));
    if (evals.length < 2) throw new Error(`${STAGE}: need at least 2 lm-eval inputs, got ${evals.length}`);
    const steps = evals.map((e) => e.step);
    if (heads.map((h) => h.step).join() !== steps.join()) throw new Error(`${STAGE}: inputs 'heads' and 'evals' must cover the same checkpoints`);
    const d: LmCurves = {
      steps,
      loss: evals.map((e) => e.loss),
      lossAblated: evals.map((e) => e.lossAblated),
      bigramScore: evals.map((e) => e.bigramScore),
      bigramEntropy: evals[0].bigramEntropy,
      ngrams: evals[0].ngrams.map((g, i) => ({ n: g.n, score: evals.map((e) => e.ngrams[i]?.score ?? NaN) })),
      icl: evals.map((e) => e.icl.score),
      previousToken: heads.map((h) => h.previousToken),
      prefixMatching: heads.map((h) => h.prefixMatching),
      kComposition: heads.map((h) => h.kComposition),
      lossPerPos: evals.map((e) => e.lossPerPos),
      lossAblatedPerPos: evals.map((e) => e.lossAblatedPerPos),
      stages: st.stages,
    };
    const first = evals[0];
    const last = evals[evals.length - 1];
    const opts = (id: string) => figureOptions(id, style, xLimits);
    const stageText = st.stages.map((s) => `${s.label} ${s.start}–${s.end} (${s.type === 'A' ? 'λ̂ rising' : s.type === 'B' ? 'λ̂ falling' : 'flat'})`).join(', ');
    const figures: { file: string; title: string; caption: string; svg: string }[] = [];

    // Figure 1, LM half.
    const llcAt = (i: number) => `${st.llc[i].toFixed(1)} at step ${st.steps[i]}`;
    figures.push({
      file: 'lm-fig1-top.svg',
      title: `Figure 1 (${label}): test loss and LLC over training`,
      caption: `Test loss falls from ${f3(first.loss)} to ${f3(last.loss)}; λ̂ goes from ${llcAt(0)} to ${llcAt(st.steps.length - 1)} (max ${Math.max(...st.llc).toFixed(1)}). Stages detected from λ̂: ${stageText}.`,
      svg: lrFigure1({ label, loss: { x: steps, y: d.loss }, llc: { x: st.steps, y: st.llc }, stages: st.stages, baselines: {} }, opts('lm-fig1')),
    });

    // LM1-2: bigrams, positional information, n-grams.
    const gapEnd = last.lossAblated - last.loss;
    const reach = evals.findIndex((e) => e.bigramScore - e.bigramEntropy < 0.1 * (first.bigramScore - first.bigramEntropy));
    const ngramEnd = last.ngrams.length ? last.ngrams.map((g) => `n=${g.n}: ${g.score.toFixed(2)} (${g.words} words)`).join(', ') : 'none (no frequent corpus word splits into 2–4 tokens)';
    figures.push({
      file: 'lm1-2.svg',
      title: `Bigrams, positional information and n-grams (${label})`,
      caption:
        `(a) Bigram score (the model's cross-entropy against the training bigram distribution at a sampled position) goes from ${f3(first.bigramScore)} to ${f3(last.bigramScore)}; the bigram entropy is ${f3(first.bigramEntropy)}` +
        (reach >= 0 ? `, and the score closes 90% of the initial gap by step ${steps[reach]}. ` : '; the score never closes 90% of the initial gap. ') +
        `(b) Ablating the positional embedding costs ${f3(first.lossAblated - first.loss)} nats at step 0 and ${f3(gapEnd)} at the end. ` +
        `(c) n-gram scores (test loss at position n over the loss of completing frequent n-token corpus words; the paper's GPT-2 word list is not available offline) at the end: ${ngramEnd}.`,
      svg: lmBigramsNgrams(d, opts('lm1-2')),
    });

    // Heads.
    const prev = bestHead(d.previousToken);
    const layer2 = d.prefixMatching[0].length > 1 ? [d.prefixMatching[0].length - 1] : undefined;
    const pre = bestHead(d.prefixMatching, layer2);
    const formed = (h: { first: number; last: number }) => h.last >= formedThreshold && h.last >= 2 * h.first;
    const describe = (what: string, h: ReturnType<typeof bestHead>) =>
      `${what} head ${headLabel(h.l, h.h)}: ${f3(h.first)} → ${f3(h.last)} (max at step ${steps[h.maxStep]}), ${formed(h) ? 'formed' : `did not form at this scale (threshold ${formedThreshold})`}`;
    const prevHeads = topK(d.previousToken[d.previousToken.length - 1][0], Math.min(2, d.previousToken[0][0].length)).map((h) => [0, h] as [number, number]);
    const l2 = d.prefixMatching[0].length - 1;
    const preHeads = topK(d.prefixMatching[d.prefixMatching.length - 1][l2], Math.min(2, d.prefixMatching[0][0].length)).map((h) => [l2, h] as [number, number]);
    figures.push({
      file: 'lm-heads.svg',
      title: `Previous-token heads, induction heads and the ICL score (${label})`,
      caption:
        `(a) Previous-token score (attention from the last token to the one before, on random tokens): best ${describe('previous-token', prev)}. ` +
        `(b) Prefix-matching score (attention from a repeated token to the token after its first occurrence): best layer-${pre.l + 1} ${describe('prefix-matching', pre)}. ` +
        `(c) ICL score (loss at token ${last.icl.late + 2} minus token ${last.icl.early + 2}): ${f3(first.icl.score)} at step 0, ${f3(Math.min(...d.icl))} at its lowest, ${f3(last.icl.score)} at the end. Thick lines: the two leading heads of each kind.`,
      svg: lmHeadsFigure(d, { previousToken: prevHeads, prefixMatching: preHeads }, opts('lm-heads')),
    });

    // K-composition between the leading previous-token heads (layer 1) and prefix-matching heads (layer 2).
    if (d.kComposition[0]?.length) {
      const H = d.kComposition[0].length;
      const rows = topK(d.previousToken[d.previousToken.length - 1][0], Math.min(3, H));
      const cols = topK(d.prefixMatching[d.prefixMatching.length - 1][l2], Math.min(3, H));
      const base = d.kComposition[0].flat().reduce((a, b) => a + b, 0) / (H * H);
      const endPairs = rows.flatMap((i) => cols.map((j) => ({ i, j, v: d.kComposition[d.kComposition.length - 1][i][j] }))).sort((a, b) => b.v - a.v);
      figures.push({
        file: 'lm-k-composition.svg',
        title: `K-composition (${label})`,
        caption: `K-composition ‖W_OV·W_QKᵀ‖/(‖W_OV‖‖W_QK‖) from the leading layer-1 previous-token heads (rows) into the leading layer-2 prefix-matching heads (columns). Step-0 mean over all ${H}×${H} pairs: ${f3(base)}; at the end the largest shown pair is ${headLabel(0, endPairs[0].i)} → ${headLabel(1, endPairs[0].j)} at ${f3(endPairs[0].v)}.`,
        svg: lmKCompositionFigure(d, rows, cols, opts('lm-kcomp')),
      });
    }

    // Per-position loss, with and without positions.
    const T1 = last.lossPerPos.length;
    const positions = [0, 1, 2, 4, 9, 19, 49, 99, 199, 499, 999].filter((t) => t < T1);
    if (!positions.includes(T1 - 1)) positions.push(T1 - 1);
    const endAt = (arr: number[]) => positions.map((t) => `${t + 1}: ${arr[t].toFixed(2)}`).join(', ');
    figures.push({
      file: 'lm-per-position-loss.svg',
      title: `Per-position loss with and without positional information (${label})`,
      caption: `Loss of predicting token k + 1 from k tokens of context over training. At the end (token: loss) ${endAt(last.lossPerPos)}; with positions ablated ${endAt(last.lossAblatedPerPos)}.`,
      svg: lmPerPositionFigure(d, positions, opts('lm-per-position')),
    });

    // Essential dynamics of the per-token logits.
    const every = Math.max(1, Math.round(ed.steps.length / 12));
    const cusps = ed.pairs.map((p) => `PC${p.i + 1}–PC${p.j + 1}: ${p.cuspSteps.map(shortStep).join(', ') || 'none'}`).join('; ');
    const edData = { ...ed, stages: st.stages };
    figures.push(
      {
        file: 'lm-essential-dynamics.svg',
        title: `Essential dynamics of the language model (${label})`,
        caption: `PCA of the logit of the true next token at one fixed sampled position in each of ${last.rows} held-out rows, over ${ed.steps.length} checkpoints; explained variance ${ed.explainedVariance.slice(0, 3).map((v) => `${(100 * v).toFixed(1)}%`).join(', ')} (PC1–PC3). Evolute cusps at steps ${cusps}.`,
        svg: essentialDynamicsFigure(edData, { ...opts('lm-ed'), circleEvery: every }),
      },
      {
        file: 'lm-ed-pcs-over-time.svg',
        title: `Per-token-logit PCs over training (${label})`,
        caption: 'PC1–PC3 of the per-token logits against training step; dashed: evolute cusps of the PC1–PC2 trajectory.',
        svg: pcsOverTime(edData, opts('lm-ed-pcs')),
      },
    );

    await writeFigures(STAGE, ctx.outDir, figures.map((f) => ({ ...f, section: SECTION })));
    ctx.log.info(`${STAGE}: ${figures.length} figures; ${describe('previous-token', prev)}; ${describe('prefix-matching', pre)}`);
  },
});
