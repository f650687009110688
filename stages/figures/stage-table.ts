// Stage 'figure-stage-table': the measured table of stages of one run — for each detected stage, its
// interval and the change over it of test loss, λ̂, weight norm, top Hessian eigenvalue and
// LN-collapse fraction, and the attention metric that moved most (lib/analysis/stage-summary.ts).
//
// Inputs: stages: dir; evals, hessians, weights, attention: dir[] (per-checkpoint node directories).
// Params: label. Outputs: stage-summary.json (the numbers) and figure-stage-table.figures.json (a
// table entry the index page renders).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { ATTENTION_METRICS, METRIC_TITLES, type AttentionMetric } from '../../lib/analysis/attention.ts';
import { attentionMovers, changeOver, type Change } from '../../lib/analysis/stage-summary.ts';
import type { WeightStats } from '../../lib/analysis/weights.ts';
import type { AttentionJson } from '../analysis/attention.ts';
import type { HessianJson } from '../analysis/hessian.ts';
import { MECHANISMS_SECTION, readEvals, readJson, readStepJsons, sig3, writeManifest, type ManifestEntry, type StagesJson } from './common.ts';

const STAGE = 'figure-stage-table';

const cell = (c: Change, pct = false) => {
  const f = (v: number | null) => (v === null ? '–' : pct ? `${(100 * v).toFixed(0)}%` : sig3(v));
  return `${f(c.from)} → ${f(c.to)}`;
};

export const stageTableStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: z.strictObject({ label: z.string().default('run') }),
  inputs: { stages: 'dir', evals: 'dir[]', hessians: 'dir[]', weights: 'dir[]', attention: 'dir[]' },
  async run(ctx) {
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    const evals = await readEvals(STAGE, ctx.inputs.evals);
    const hess = await readStepJsons<HessianJson>(STAGE, ctx.inputs.hessians, 'hessian.json');
    const weights = await readStepJsons<WeightStats>(STAGE, ctx.inputs.weights, 'weights.json');
    const att = await readStepJsons<AttentionJson>(STAGE, ctx.inputs.attention, 'attention.json');
    const series = {
      loss: { steps: evals.map((e) => e.step), values: evals.map((e) => e.loss) },
      llc: { steps: st.steps, values: st.llc },
      weightNorm: { steps: evals.map((e) => e.step), values: evals.map((e) => e.weightNorm) },
      hessianTop: { steps: hess.map((h) => h.step), values: hess.map((h) => h.top[0]) },
      lnCollapsed: { steps: weights.map((w) => w.step), values: weights.map((w) => w.lnWeightCollapsed) },
    };
    const values = Object.fromEntries(ATTENTION_METRICS.map((m) => [m, att.map((a) => a.metrics[m])])) as Record<AttentionMetric, number[][][][]>;
    const movers = attentionMovers(att.map((a) => a.step), values, st.stages);
    const rows = st.stages.map((s) => {
      const mover = movers.find((m) => m.stage === s.label);
      return {
        ...s,
        loss: changeOver(series.loss, s),
        llc: changeOver(series.llc, s),
        weightNorm: changeOver(series.weightNorm, s),
        hessianTop: changeOver(series.hessianTop, s),
        lnCollapsed: changeOver(series.lnCollapsed, s),
        attention: mover ?? null,
      };
    });
    await writeFile(path.join(ctx.outDir, 'stage-summary.json'), JSON.stringify({ label: ctx.params.label, stages: rows }, null, 1) + '\n');
    const table = {
      columns: ['stage', 'type', 'steps', 'test loss', 'LLC λ̂', 'weight norm', 'Hessian λ₁', 'LN |γ|<0.1', 'attention metric that moved most'],
      rows: rows.map((r) => [
        r.label,
        r.type,
        `${r.start}–${r.end}`,
        cell(r.loss),
        cell(r.llc),
        cell(r.weightNorm),
        cell(r.hessianTop),
        cell(r.lnCollapsed, true),
        r.attention ? `b${r.attention.layer + 1}h${r.attention.head + 1}${r.attention.type} ${METRIC_TITLES[r.attention.metric]} ${r.attention.from.toFixed(2)} → ${r.attention.to.toFixed(2)}` : '–',
      ]),
    };
    const entry: ManifestEntry = {
      file: 'stage-summary.json',
      title: `Stages, measured (${ctx.params.label})`,
      caption: `Each detected stage's interval and the value of each quantity at its start → end (nearest analysed checkpoint; the Hessian at the ${hess.length} LLC checkpoints). Attention: the head (b = block, h = head, x/y = query token type) whose position-averaged metric changed most inside the stage.`,
      section: MECHANISMS_SECTION,
      table,
    };
    await writeManifest(STAGE, ctx.outDir, [entry]);
  },
});
