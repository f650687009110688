// stagewise — "Loss Landscape Degeneracy Drives Stagewise Development in Transformers", declared.
//
//   npx tsx pipeline.ts figures                 bring every figure up to date (configs/default.yaml)
//   npx tsx pipeline.ts figures --config F      another experiment
//   npx tsx pipeline.ts --only llc              re-estimate just the LLCs (inputs must be cached)
//   npx tsx pipeline.ts figures --watch         rebuild figures when configs or code change
//   npx tsx pipeline.ts --dry-run | --explain NODE | gc
//
// The method, as a graph. For each task distribution and training seed:
//   1. tasks             fixed evaluation batches and the essential-dynamics probe set;
//   2. train             a transformer trained on fresh in-context regression batches, checkpointed on a
//                        log ∪ linear grid of steps;
//   3. evaluate          every checkpoint: test loss per position, baselines, the raw outputs on the probe set;
//   4. llc               the local learning coefficient λ̂(w_t) by SGLD at a log-spaced subset of checkpoints;
//   5. stage-boundaries  plateaus and turning points of λ̂ against log t → developmental stages LR1, LR2, …;
//   6. essential-dynamics  PCA of the outputs over training, smoothed, with osculating circles and cusps;
//   7. mechanisms        per checkpoint: attention patterns, layer-norm and embedding statistics, the
//                        Hessian (on a coarse grid), ICL on scaled inputs, the validation gradient;
//                        then essential dynamics of five fingerprints and a measured table of what
//                        changes in each stage;
//   8. figures           the paper's figures and an HTML report.
// Plus the finite-M task-prior sweep (paper Figure 20) and the LLC calibration sweep (App. E.3).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli } from './engine/cli/main.ts';
import { expandSweep, fileRef, pointId, ref, type NodeDecl } from './engine/index.ts';
import { calibrationSamplers, configSchema, type Config, type LanguageModelConfig, type RegressionConfig } from './configs/schema.ts';
import { declareLanguageModel } from './stages/lm/declare.ts';
import { declareLmAnalysis } from './stages/lm/declare-analysis.ts';
import { checkpointSteps } from './lib/optim.ts';
import { tasksStage } from './stages/tasks.ts';
import { trainStage } from './stages/train.ts';
import { evaluateStage } from './stages/evaluate.ts';
import { llcStage } from './stages/llc.ts';
import { stageBoundariesStage } from './stages/stage-boundaries.ts';
import { edStage } from './stages/essential-dynamics.ts';
import {
  figureBehaviourStage,
  figureCalibrationStage,
  figureEdStage,
  figureLrStage,
  figureTaskPriorStage,
  figuresIndexStage,
} from './stages/figures.ts';
import { attentionStage } from './stages/analysis/attention.ts';
import { weightStatsStage } from './stages/analysis/weights.ts';
import { hessianStage } from './stages/analysis/hessian.ts';
import { iclStage } from './stages/analysis/icl.ts';
import { gradientStage } from './stages/analysis/gradient.ts';
import { edVariantsStage } from './stages/analysis/ed-variants.ts';
import { figureAttentionStage } from './stages/figures/attention.ts';
import { figureCollapseStage } from './stages/figures/collapse.ts';
import { figureEdVariantsStage } from './stages/figures/ed-variants.ts';
import { figureGeometryStage } from './stages/figures/geometry.ts';
import { stageTableStage } from './stages/figures/stage-table.ts';

type TrainSettings = Pick<RegressionConfig['train'], 'steps' | 'batchSize' | 'lr' | 'checkpoints'>;

const checkpointFile = (step: number) => `checkpoints/step-${String(step).padStart(8, '0')}.swt`;
const momentsFile = (step: number) => `checkpoints/step-${String(step).padStart(8, '0')}.adam.swt`;

/** The nearest training checkpoint to each step of `wanted`, without repeats. */
function snapToCheckpoints(wanted: number[], available: number[]): number[] {
  const nearest = (s: number) => available.reduce((best, c) => (Math.abs(c - s) < Math.abs(best - s) ? c : best));
  return [...new Set(wanted.map(nearest))].sort((a, b) => a - b);
}

/** The in-context linear regression experiment. */
function declareRegression(config: RegressionConfig, configFile: string): NodeDecl[] {
  const nodes: NodeDecl[] = [];
  const add = (node: NodeDecl) => (nodes.push(node), node.id);
  const { task, data } = config;
  /** Where figures are published (links to the stored SVGs); read here, after .env is loaded. */
  const figuresDir = process.env.FIGURES_DIR || 'figures';
  const model = { D: task.D, K: task.K, ...config.model };

  /** One training run and its per-checkpoint evaluations. */
  function trainRun(label: string, M: number | 'inf', seed: number, settings: TrainSettings, modelConfig = model) {
    const tasksId = `tasks[M=${M === 'inf' ? 'inf' : M}]`;
    if (!nodes.some((n) => n.id === tasksId)) {
      add({ id: tasksId, stage: tasksStage, params: { ...task, M, ...data }, inputs: {} });
    }
    const trainId = add({
      id: `train[${label}]`,
      stage: trainStage,
      params: {
        model: modelConfig,
        task: { ...task, M },
        steps: settings.steps,
        batchSize: settings.batchSize,
        lr: settings.lr,
        seed,
        checkpoints: settings.checkpoints,
      },
      inputs: { tasks: ref(tasksId) },
    });
    const steps = checkpointSteps(settings.steps, settings.checkpoints.logSpace, settings.checkpoints.linearSpace);
    const evalIds = steps.map((step) =>
      add({
        id: `evaluate[${label},step=${step}]`,
        stage: evaluateStage,
        params: {},
        inputs: {
          checkpoint: fileRef(trainId, checkpointFile(step)),
          model: fileRef(trainId, 'model.json'),
          tasks: ref(tasksId),
        },
      }),
    );
    return { tasksId, trainId, steps, evalIds };
  }

  function llcNode(id: string, run: ReturnType<typeof trainRun>, M: number | 'inf', step: number, sampler: object) {
    return add({
      id,
      stage: llcStage,
      params: { sampler, task: { ...task, M }, model },
      inputs: { checkpoint: fileRef(run.trainId, checkpointFile(step)), tasks: ref(run.tasksId) },
    });
  }

  // The main runs: every (seed, M) of the training sweep.
  const runs = expandSweep(config.train).map((point) => {
    const seed = (point.seed as number | undefined) ?? 0;
    const M = (point.M as number | 'inf' | undefined) ?? 'inf';
    const label = pointId({ seed, M });
    const run = trainRun(label, M, seed, config.train);
    // The last checkpoint always gets an LLC: the end of training bounds the last stage.
    const llcSteps = snapToCheckpoints(
      [...checkpointSteps(config.train.steps, config.llc.checkpoints.logSpace, config.llc.checkpoints.linearSpace), run.steps.at(-1)!],
      run.steps,
    );
    const llcIds = llcSteps.map((step) => llcNode(`llc[${label},step=${step}]`, run, M, step, config.llc.sampler));
    const llcEvalIds = llcSteps.map((step) => run.evalIds[run.steps.indexOf(step)]);
    const stagesId = add({
      id: `stage-boundaries[${label}]`,
      stage: stageBoundariesStage,
      params: config.stageDetection,
      inputs: { llcs: llcIds.map(ref), evals: llcEvalIds.map(ref) },
    });
    const edId = add({
      id: `essential-dynamics[${label}]`,
      stage: edStage,
      params: config.essentialDynamics,
      inputs: { evals: run.evalIds.map(ref) },
    });
    const mechanisms = config.analysis ? mechanismNodes(label, run, llcSteps, config.analysis) : undefined;
    return { label, dirName: `seed-${seed}_M-${M}`, seed, M, run, llcSteps, llcIds, stagesId, edId, mechanisms };
  });

  /**
   * The mechanisms behind the stages: one analysis node per checkpoint and metric family (a new
   * checkpoint or an edited metric recomputes only its own nodes), the Hessian on a coarse grid,
   * and essential dynamics of five fingerprints.
   */
  function mechanismNodes(label: string, run: ReturnType<typeof trainRun>, llcSteps: number[], analysis: NonNullable<RegressionConfig['analysis']>) {
    const perCheckpoint = (name: string, stage: NodeDecl['stage'], params: object, steps: number[], withData = true) =>
      steps.map((step) =>
        add({
          id: `${name}[${label},step=${step}]`,
          stage,
          params,
          inputs: {
            checkpoint: fileRef(run.trainId, checkpointFile(step)),
            model: fileRef(run.trainId, 'model.json'),
            ...(withData ? { tasks: ref(run.tasksId) } : {}),
          },
        }),
      );
    const grid = analysis.hessianCheckpoints;
    const hessianSteps = grid ? snapToCheckpoints([...checkpointSteps(config.train.steps, grid.logSpace, grid.linearSpace), run.steps.at(-1)!], run.steps) : llcSteps;
    const attentionIds = perCheckpoint('attention', attentionStage, analysis.attention, run.steps);
    const weightIds = perCheckpoint('weight-stats', weightStatsStage, {}, run.steps, false);
    const hessianIds = perCheckpoint('hessian', hessianStage, analysis.hessian, hessianSteps);
    const iclIds = perCheckpoint('icl', iclStage, analysis.icl, run.steps);
    const gradientIds = perCheckpoint('gradient', gradientStage, analysis.gradient, run.steps);
    const edVariantsId = add({
      id: `ed-variants[${label}]`,
      stage: edVariantsStage,
      params: analysis.edVariants,
      inputs: {
        checkpoints: run.steps.map((s) => fileRef(run.trainId, checkpointFile(s))),
        moments: run.steps.map((s) => fileRef(run.trainId, momentsFile(s))),
        gradients: gradientIds.map(ref),
        evals: run.evalIds.map(ref),
      },
    });
    return { attentionIds, weightIds, hessianIds, iclIds, gradientIds, edVariantsId };
  }

  // LLC calibration: a grid of sampler settings on chosen checkpoints of the first run.
  const calibrationIds: string[] = [];
  if (config.calibration) {
    const first = runs[0];
    const samplers = calibrationSamplers(config.llc.sampler, config.calibration.sampler);
    for (const step of snapToCheckpoints(config.calibration.steps, first.run.steps)) {
      for (const { label, sampler } of samplers) {
        calibrationIds.push(llcNode(`llc-calibration[${first.label},step=${step},${label}]`, first.run, first.M, step, sampler));
      }
    }
  }

  // Task prior (Figure 20): finite-M runs, evaluated at every checkpoint.
  const taskPriorRuns = (config.taskPrior?.M ?? []).map((M) => {
    const tp = config.taskPrior!;
    const label = `prior,M=${M}`;
    return { M, ...trainRun(label, M, tp.seed, tp, { ...model, includeOutput: tp.includeOutput }) };
  });

  // Figures: styling lives only in figure params, so a colour or size edit rebuilds figures alone.
  const style = config.figures;
  const figure = (id: string, stage: NodeDecl['stage'], params: object, inputs: NodeDecl['inputs'], dir = figuresDir) =>
    add({ id, stage, params: { ...params, style }, inputs, publishTo: dir, tags: ['figure'] });
  figure('figure-lr', figureLrStage, { labels: runs.map((r) => r.label) }, {
    train: runs.map((r) => ref(r.run.trainId)),
    stages: runs.map((r) => ref(r.stagesId)),
  });
  for (const r of runs) {
    const dir = `${figuresDir}/${r.dirName}`;
    const m = r.mechanisms;
    figure(`figure-behaviour[${r.label}]`, figureBehaviourStage, { label: r.label }, { evals: r.run.evalIds.map(ref), stages: ref(r.stagesId), train: ref(r.run.trainId), ...(m ? { icl: m.iclIds.map(ref) } : {}) }, dir);
    figure(`figure-ed[${r.label}]`, figureEdStage, { label: r.label }, { ed: ref(r.edId), stages: ref(r.stagesId) }, dir);
    if (!m) continue;
    // The mechanisms: the measured stage table, then curvature, collapse, attention and ED variants.
    const stages = ref(r.stagesId);
    add({ id: `figure-stage-table[${r.label}]`, stage: stageTableStage, params: { label: r.label }, inputs: { stages, evals: r.run.evalIds.map(ref), hessians: m.hessianIds.map(ref), weights: m.weightIds.map(ref), attention: m.attentionIds.map(ref) }, publishTo: dir, tags: ['figure'] });
    figure(`figure-geometry[${r.label}]`, figureGeometryStage, { label: r.label }, { hessians: m.hessianIds.map(ref), llcs: r.llcIds.map(ref), weights: m.weightIds.map(ref), evals: r.run.evalIds.map(ref), stages }, dir);
    figure(`figure-collapse[${r.label}]`, figureCollapseStage, { label: r.label }, { weights: m.weightIds.map(ref), stages }, dir);
    figure(`figure-attention[${r.label}]`, figureAttentionStage, { label: r.label }, { attention: m.attentionIds.map(ref), stages }, dir);
    figure(`figure-ed-variants[${r.label}]`, figureEdVariantsStage, { label: r.label }, { ed: ref(m.edVariantsId), stages }, dir);
  }
  if (taskPriorRuns.length > 0) {
    figure('figure-task-prior', figureTaskPriorStage, { M: taskPriorRuns.flatMap((r) => r.evalIds.map(() => r.M)) }, {
      evals: taskPriorRuns.flatMap((r) => r.evalIds.map(ref)),
    });
  }
  if (calibrationIds.length > 0) {
    figure('figure-calibration', figureCalibrationStage, {}, { llcs: calibrationIds.map(ref) });
  }
  add({
    id: 'figures-index',
    stage: figuresIndexStage,
    params: {
      stageLabels: runs.map((r) => r.label),
      provenance: { config: configFile },
    },
    // Every figure node, whatever declared it: a new figure cannot be missing from the page.
    inputs: { figures: nodes.filter((n) => n.tags?.includes('figure')).map((n) => ref(n.id)), stages: runs.map((r) => ref(r.stagesId)) },
    publishTo: figuresDir,
    tags: ['figure'],
  });
  return nodes;
}

/**
 * The language-model experiment (configs/lm*.yaml, docs/language-model.md): corpus → tokenizer →
 * token rows → training (or imported checkpoints) → per-checkpoint analyses (evaluations, head
 * scores, LLC) → LM stages from λ̂, essential dynamics and the LM figures.
 */
function declareLm(config: LanguageModelConfig, configFile: string): NodeDecl[] {
  const nodes: NodeDecl[] = [];
  const add = (node: NodeDecl) => (nodes.push(node), node.id);
  const lm = declareLanguageModel(config.lm, add);
  if (config.analysis) {
    const figuresDir = process.env.FIGURES_DIR || 'figures';
    const { stagesId } = declareLmAnalysis(config.analysis, lm, add, { dir: figuresDir, style: config.figures });
    add({
      id: 'figures-index',
      stage: figuresIndexStage,
      params: {
        title: 'stagewise: developmental stages of a small language model',
        stageLabels: [`language model (${lm.label})`],
        provenance: { config: configFile },
      },
      // Every figure node, whatever declared it.
      inputs: { figures: nodes.filter((n) => n.tags?.includes('figure')).map((n) => ref(n.id)), stages: [ref(stagesId)] },
      publishTo: figuresDir,
      tags: ['figure'],
    });
  }
  return nodes;
}

/** What the CLI needs: the config schema, and the nodes a validated config declares. */
export const experiment = {
  configSchema,
  defaultConfig: 'configs/default.yaml',
  declare: (config: unknown, configFile: string): NodeDecl[] => {
    const c = config as Config;
    return c.experiment === 'language-model' ? declareLm(c, configFile) : declareRegression(c, configFile);
  },
};

// Run as a program (not when a test imports `experiment`).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  // No top-level await: tests load this module through CommonJS (uvu -r tsx). runCli reports its own
  // errors and sets process.exitCode.
  void runCli({ argv: process.argv.slice(2), ...experiment });
}
