// The language model's analyses, declared after its checkpoints exist (docs/language-model.md,
// "Evaluations", "LLC", "Stages and figures"):
//   lm-bigrams                      once: bigram table of the train rows, n-gram words
//   lm-eval[step], lm-heads[step]   every checkpoint: losses, bigram/n-gram/ICL scores, ED fingerprint; head scores, K-composition
//   lm-llc[step]                    a log/linear subset of checkpoints: λ̂ by SGLD
//   stage-boundaries[lm]            LM stages from λ̂ (the regression's rule, prefix LM)
//   essential-dynamics[lm]          PCA of the per-token logits over training
//   figure-lm                       the LM figures (section 'Language model')
// The config section `analysis` is made of these stages' param schemas.
import { z } from 'zod';
import { fileRef, ref, type NodeDecl } from '../../engine/index.ts';
import { edParams, edStage } from '../essential-dynamics.ts';
import { stageBoundariesParams, stageBoundariesStage } from '../stage-boundaries.ts';
import type { LmGraph } from './declare.ts';
import { lmCheckpointFile } from './files.ts';
import { figureLmParams, figureLmStage } from './figure-lm.ts';
import { lmBigramsParams, lmBigramsStage } from './lm-bigrams.ts';
import { lmEvalParams, lmEvalStage } from './lm-eval.ts';
import { lmHeadsParams, lmHeadsStage } from './lm-heads.ts';
import { lmLlcStage, lmSamplerSchema } from './lm-llc.ts';
import { lmCheckpointSteps } from './train.ts';

const grid = z.strictObject({ logSpace: z.number().int().nonnegative(), linearSpace: z.number().int().nonnegative() });

const stageDetectionSection = z.strictObject(stageBoundariesParams.omit({ prefix: true }).shape);
const figureSection = figureLmParams.omit({ style: true });

export const lmAnalysisSchema = z.strictObject({
  bigrams: lmBigramsParams.default(lmBigramsParams.parse({})),
  eval: lmEvalParams.default(lmEvalParams.parse({})),
  heads: lmHeadsParams.default(lmHeadsParams.parse({})),
  llc: z.strictObject({
    /** Which checkpoints get an LLC: a log/linear grid over [0, last step], snapped to checkpoints (the last always). */
    checkpoints: grid,
    sampler: lmSamplerSchema,
  }),
  stageDetection: stageDetectionSection.default(stageDetectionSection.parse({})),
  essentialDynamics: edParams.default(edParams.parse({})),
  figures: figureSection.default(figureSection.parse({})),
});
export type LmAnalysis = z.output<typeof lmAnalysisSchema>;

/** The nearest available checkpoint to each wanted step, without repeats. */
function snap(wanted: number[], available: number[]): number[] {
  const nearest = (s: number) => available.reduce((best, c) => (Math.abs(c - s) < Math.abs(best - s) ? c : best));
  return [...new Set(wanted.map(nearest))].sort((a, b) => a - b);
}

export interface LmAnalysisIds {
  figureId: string;
  stagesId: string;
}

export function declareLmAnalysis(
  a: LmAnalysis,
  lm: LmGraph,
  add: (node: NodeDecl) => string,
  figures: { dir: string; style: unknown },
): LmAnalysisIds {
  const { checkpointsId, dataId, tokenizerId, steps, label } = lm;
  const model = fileRef(checkpointsId, 'model.json');
  const data = ref(dataId);
  const bigramsId = add({ id: 'lm-bigrams', stage: lmBigramsStage, params: a.bigrams, inputs: { data, tokenizer: fileRef(tokenizerId, 'tokenizer.json'), model } });
  const checkpoint = (step: number) => fileRef(checkpointsId, lmCheckpointFile(step));
  const evalIds = new Map<number, string>();
  const headIds: string[] = [];
  for (const step of steps) {
    evalIds.set(step, add({ id: `lm-eval[${label},step=${step}]`, stage: lmEvalStage, params: a.eval, inputs: { checkpoint: checkpoint(step), model, data, bigrams: ref(bigramsId) } }));
    headIds.push(add({ id: `lm-heads[${label},step=${step}]`, stage: lmHeadsStage, params: a.heads, inputs: { checkpoint: checkpoint(step), model, data } }));
  }
  const last = steps[steps.length - 1];
  const llcSteps = snap([...lmCheckpointSteps(last, a.llc.checkpoints.logSpace, a.llc.checkpoints.linearSpace), last], steps);
  const llcIds = llcSteps.map((step) => add({ id: `lm-llc[${label},step=${step}]`, stage: lmLlcStage, params: { sampler: a.llc.sampler }, inputs: { checkpoint: checkpoint(step), model, data } }));
  const stagesId = add({
    id: `stage-boundaries[lm,${label}]`,
    stage: stageBoundariesStage,
    params: { ...a.stageDetection, prefix: 'LM' },
    inputs: { llcs: llcIds.map(ref), evals: llcSteps.map((s) => ref(evalIds.get(s)!)) },
  });
  const evals = steps.map((s) => ref(evalIds.get(s)!));
  const edId = add({ id: `essential-dynamics[lm,${label}]`, stage: edStage, params: a.essentialDynamics, inputs: { evals } });
  const figureId = add({
    id: 'figure-lm',
    stage: figureLmStage,
    params: { ...a.figures, style: figures.style },
    inputs: { evals, heads: headIds.map(ref), llcs: llcIds.map(ref), stages: ref(stagesId), ed: ref(edId) },
    publishTo: figures.dir,
    tags: ['figure'],
  });
  return { figureId, stagesId };
}
