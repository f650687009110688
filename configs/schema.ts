// The experiment configuration: what a YAML file under configs/ may say.
// Every object is strict, so a misspelt key is an error that names its path, not a silent default.
import { z } from 'zod';
import { modelConfigSchema } from '../stages/schemas.ts';

const positive = z.number().positive().finite();
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
/** M: number of distinct pretraining tasks, or "inf" for the Gaussian task prior. */
const taskCount = z.union([positiveInt, z.literal('inf')]);

/** Lists under `sweep:` expand into one node per combination (engine/key/sweep.ts). */
const sweepOf = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).partial();

export const taskSchema = z.strictObject({
  D: positiveInt, // task / input dimension
  K: positiveInt, // examples per sequence (2K tokens)
  noiseVariance: z.number().nonnegative().finite(), // σ²
});

/** The transformer; D and K come from the task. */
export const modelSchema = z.strictObject(modelConfigSchema.omit({ D: true, K: true }).shape);

export const checkpointGridSchema = z.strictObject({
  logSpace: nonNegativeInt, // int_logspace(1, N, logSpace)
  linearSpace: nonNegativeInt, // int_linspace(0, N, linearSpace)
});

const trainSettings = {
  steps: positiveInt,
  batchSize: positiveInt,
  lr: positive, // OneCycle peak learning rate
  checkpoints: checkpointGridSchema,
};

export const samplerSchema = z.strictObject({
  eps: positive, // ε, SGLD step size
  nbeta: positive, // nβ, inverse temperature × n
  gamma: z.number().nonnegative().finite(), // γ, localisation strength
  chains: positiveInt,
  burnin: nonNegativeInt,
  draws: positiveInt,
  batchSize: positiveInt, // m
  datasetSize: positiveInt, // n
  seed: nonNegativeInt,
});

export const configSchema = z.strictObject({
  /** Shown in the report's provenance. */
  description: z.string().optional(),
  task: taskSchema,
  model: modelSchema,
  /** Fixed evaluation and probe sets (stage `tasks`). */
  data: z.strictObject({
    evalSize: positiveInt,
    probeSize: positiveInt,
    seed: nonNegativeInt,
  }),
  train: z.strictObject({
    ...trainSettings,
    seed: nonNegativeInt.optional(),
    M: taskCount.optional(),
    sweep: sweepOf({ seed: z.array(nonNegativeInt).min(1), M: z.array(taskCount).min(1) }).optional(),
  }),
  llc: z.strictObject({
    /** Which training checkpoints get an LLC estimate: a log/linear grid over [0, steps], snapped to checkpoints. */
    checkpoints: checkpointGridSchema,
    sampler: samplerSchema,
  }),
  /** lib/stage-detection.ts: smoothing of λ̂ against ln(t + 1) and the critical-point rule. */
  stageDetection: z.strictObject({
    /** Gaussian kernel standard deviation in ln(t + 1). */
    bandwidth: positive,
    /** |dλ̂/d ln t| threshold as a fraction of (range of λ̂)/(span of ln t); the paper's 8 ≈ 0.6. */
    relativeThreshold: positive,
    /** A stage whose λ̂ changes by less than this fraction of the range is 'Other' (flat). */
    flatFraction: z.number().nonnegative().optional(),
    endFraction: z.number().nonnegative().optional(),
  }),
  essentialDynamics: z.strictObject({
    components: positiveInt,
    smoothing: z.strictObject({ sigmaStart: z.number().nonnegative(), sigmaEnd: z.number().nonnegative() }),
    cuspSkip: positiveInt,
    numCusps: nonNegativeInt,
  }),
  /** Finite-M training runs for the task-prior figure (paper Figure 20). Omit to skip. */
  taskPrior: z
    .strictObject({
      ...trainSettings,
      seed: nonNegativeInt,
      includeOutput: z.boolean(),
      M: z.array(positiveInt).min(1),
    })
    .optional(),
  /** LLC hyperparameter calibration (paper App. E.3) on chosen checkpoints of the first training run. Omit to skip. */
  calibration: z
    .strictObject({
      steps: z.array(nonNegativeInt).min(1),
      sampler: samplerSchema.partial().extend({
        sweep: sweepOf({
          eps: z.array(positive).min(1),
          nbeta: z.array(positive).min(1),
          gamma: z.array(z.number().nonnegative()).min(1),
          batchSize: z.array(positiveInt).min(1),
        }).optional(),
      }),
    })
    .optional(),
  figures: z.strictObject({
    /** Width of a single-column figure in CSS pixels (the paper's 3.25 in at 96 px/in is 312). */
    width: positiveInt,
    fontSize: positive,
    /** Optional override of the stage colours, by stage label (e.g. LR1: "#fdba7d"). */
    stageColors: z.record(z.string(), z.string()).optional(),
  }),
});

export type Config = z.output<typeof configSchema>;
