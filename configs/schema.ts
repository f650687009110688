// What a YAML file under configs/ may say. One schema source: every section is the param schema of
// the stage that consumes it (or derived from it with pick/omit/extend), so config and stage cannot
// drift — a value the config accepts is a value the stage accepts. All objects are strict: a
// misspelt key at any depth is an error naming its path (`error: FILE: key.path: unknown key`).
//
// A config file describes one experiment, chosen by the top-level `experiment:` key:
//   regression      (default) in-context linear regression — pipeline.ts declareRegression
//   language-model  the 2-layer attention-only language model — configs/lm*.yaml (a file with a
//                   top-level `lm:` section is this experiment even without `experiment:`)
// To add a config key: add it to the consuming stage's params schema; if the section is derived
// with pick(), pick it here too; then pass it on in pipeline.ts.
import { z } from 'zod';
import { lmConfigSchema } from './lm-schema.ts';
import { pointId } from '../engine/index.ts';
import { samplerFields, samplerSchema, type SamplerInput } from '../stages/llc.ts';
import { edParams } from '../stages/essential-dynamics.ts';
import { figureStyleSchema } from '../stages/figures/common.ts';
import { checkpointGridSchema, modelConfigSchema, taskConfigSchema, taskCountSchema } from '../stages/schemas.ts';
import { stageBoundariesParams } from '../stages/stage-boundaries.ts';
import { tasksParams } from '../stages/tasks.ts';
import { trainParams } from '../stages/train.ts';
import { attentionParams } from '../stages/analysis/attention.ts';
import { hessianParams } from '../stages/analysis/hessian.ts';
import { iclParams } from '../stages/analysis/icl.ts';
import { gradientParams } from '../stages/analysis/gradient.ts';
import { edVariantsParams } from '../stages/analysis/ed-variants.ts';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** Lists under `sweep:` expand into one node per combination (engine/key/sweep.ts). */
const sweepOf = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).partial();
const listOf = <T extends z.ZodTypeAny>(t: T) => z.array(t).min(1);

/** task: D, K, σ² — M comes from `train` (or its sweep) and `taskPrior`. Stage 'tasks' and 'train'. */
export const taskSection = taskConfigSchema.omit({ M: true });

/** model: the transformer; D and K come from the task. Stage 'train' (params.model). */
export const modelSection = modelConfigSchema.omit({ D: true, K: true });

/** data: the fixed evaluation and probe sets. Stage 'tasks'. */
export const dataSection = tasksParams.pick({ evalSize: true, probeSize: true, seed: true });

/** The training settings both the main runs and the task-prior runs take. Stage 'train'. */
const trainRun = trainParams.pick({ steps: true, batchSize: true, lr: true, checkpoints: true });

export const trainSection = trainRun.extend({
  seed: trainParams.shape.seed.optional(),
  M: taskCountSchema.optional(),
  sweep: sweepOf({ seed: listOf(trainParams.shape.seed), M: listOf(taskCountSchema) }).optional(),
});

/** llc: which checkpoints get an estimate (a grid over [0, steps], snapped to checkpoints) and the sampler of stage 'llc'. */
export const llcSection = z.strictObject({
  checkpoints: checkpointGridSchema,
  sampler: samplerSchema,
});

/** Finite-M training runs for the task-prior figure (docs/figures.md). Omit to skip. */
export const taskPriorSection = trainRun.extend({
  seed: trainParams.shape.seed,
  includeOutput: modelConfigSchema.shape.includeOutput,
  M: listOf(positiveInt),
});

const sweptSampler = samplerFields.shape;
const calibrationGrid = sweepOf({
  eps: listOf(sweptSampler.eps.unwrap()),
  nbeta: listOf(sweptSampler.nbeta.unwrap()),
  gamma: listOf(sweptSampler.gamma.unwrap()),
  gradientScale: listOf(sweptSampler.gradientScale.unwrap()),
  localizationScale: listOf(sweptSampler.localizationScale.unwrap()),
  noiseScale: listOf(sweptSampler.noiseScale.unwrap()),
  batchSize: listOf(sweptSampler.batchSize),
  datasetSize: listOf(sweptSampler.datasetSize),
});

/** LLC calibration (docs/llc.md): a grid of sampler settings at chosen checkpoints of the first training run. Omit to skip. */
export const calibrationSection = z.strictObject({
  steps: listOf(nonNegativeInt),
  /** Overrides of llc.sampler, plus `sweep:` lists of the settings to vary. */
  sampler: samplerFields.partial().extend({
    /** One grid (every combination), or a list of grids whose union is swept (e.g. ε, then n, then m). */
    sweep: z.union([calibrationGrid, listOf(calibrationGrid)]).optional(),
  }),
});

export type CalibrationSampler = z.output<typeof calibrationSection>['sampler'];

/**
 * The sampler of every calibration point: the main sampler with the calibration overrides, each
 * swept setting replacing the main sampler's value. `label` names the swept values (node ids).
 */
export function calibrationSamplers(main: SamplerInput, calibration: CalibrationSampler): { label: string; sampler: SamplerInput }[] {
  const { sweep, ...overrides } = calibration;
  // A list of grids sweeps their union; a sampler two grids share (the centre) appears once.
  const grids = sweep === undefined ? [{}] : Array.isArray(sweep) ? sweep : [sweep];
  const seen = new Set<string>();
  const out: { label: string; sampler: SamplerInput }[] = [];
  for (const grid of grids) {
    const base: Record<string, unknown> = { ...main, ...overrides };
    for (const key of Object.keys(grid)) delete base[key];
    const axes = Object.entries(grid).filter(([, v]) => v !== undefined) as [string, unknown[]][];
    let points: Record<string, unknown>[] = [{}];
    for (const [key, values] of axes) points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
    for (const p of points) {
      const sampler = { ...base, ...p } as SamplerInput;
      const same = JSON.stringify(Object.entries(sampler).sort(([a], [b]) => a.localeCompare(b)));
      if (seen.has(same)) continue;
      seen.add(same);
      out.push({ label: pointId(p), sampler });
    }
  }
  return out;
}

/**
 * Per-checkpoint mechanism analyses of the main runs. Each block is that stage's params (omitted
 * keys take its defaults). The Hessian runs on `hessianCheckpoints` (a log/linear grid snapped to
 * checkpoints), by default at the LLC checkpoints. Omit the section to skip the analyses.
 */
export const analysisSection = z.strictObject({
  attention: attentionParams.default(attentionParams.parse({})),
  hessian: hessianParams.default(hessianParams.parse({})),
  icl: iclParams.default(iclParams.parse({})),
  gradient: gradientParams.default(gradientParams.parse({})),
  edVariants: edVariantsParams.default(edVariantsParams.parse({})),
  hessianCheckpoints: checkpointGridSchema.optional(),
});

/** The in-context linear regression experiment. */
export const regressionConfigSchema = z
  .strictObject({
    /** Optional in the file: a config without `lm:` is this experiment (see withExperiment). */
    experiment: z.literal('regression'),
    /** Shown in the report's provenance. */
    description: z.string().optional(),
    task: taskSection,
    model: modelSection,
    data: dataSection,
    train: trainSection,
    llc: llcSection,
    /** Stage 'stage-boundaries': smoothing of λ̂ against ln(t + 1) and the critical-point rule (docs/stage-detection.md). */
    stageDetection: stageBoundariesParams,
    /** Stage 'essential-dynamics' (docs/essential-dynamics.md). */
    essentialDynamics: edParams,
    taskPrior: taskPriorSection.optional(),
    calibration: calibrationSection.optional(),
    analysis: analysisSection.optional(),
    /** Every figure stage's `style` param. */
    figures: figureStyleSchema,
  })
  .superRefine((c, ctx) => {
    // Calibration samplers are assembled from two sections; check each as the llc stage will.
    if (!c.calibration) return;
    for (const { label, sampler } of calibrationSamplers(c.llc.sampler, c.calibration.sampler)) {
      const r = samplerSchema.safeParse(sampler);
      for (const issue of r.success ? [] : r.error.issues) {
        const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
        ctx.addIssue({ code: 'custom', path: ['calibration', 'sampler'], message: `with llc.sampler${label ? ` and sweep point ${label}` : ''}: ${where}${issue.message}` });
      }
    }
  });

/** The language-model experiment (configs/lm*.yaml): its sections live in configs/lm-schema.ts. */
export const languageModelConfigSchema = lmConfigSchema;

/** The experiment a raw config describes: `experiment:` if given, else language-model iff it has `lm:`. */
function withExperiment(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || 'experiment' in raw) return raw;
  return { experiment: 'lm' in raw ? 'language-model' : 'regression', ...raw };
}

export const configSchema = z.preprocess(
  withExperiment,
  z.discriminatedUnion('experiment', [regressionConfigSchema, languageModelConfigSchema]),
);

export type RegressionConfig = z.output<typeof regressionConfigSchema>;
export type LanguageModelConfig = z.output<typeof languageModelConfigSchema>;
export type Config = RegressionConfig | LanguageModelConfig;
