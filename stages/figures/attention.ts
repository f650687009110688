// Stage 'figure-attention': the six attention-metric grids of one run and "ids", the heads whose
// metric moved most inside each detected stage (docs/figures.md "Attention metrics").
//
// Inputs: attention: dir[]  attention node directories (attention.json), any order
//         stages:    dir    stage-boundaries directory
// Params: label, xLimits, style.
// Outputs: attn-{entropy,variability,distance,self,prevToken,xTokens}.svg, attn-ids.svg, figure-attention.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { ATTENTION_METRICS, METRIC_TITLES, type AttentionMetric } from '../../lib/analysis/attention.ts';
import { attentionMovers } from '../../lib/analysis/stage-summary.ts';
import { attentionGridFigure, attentionIdsFigure } from '../../lib/plots/attention-figures.ts';
import type { AttentionJson } from '../analysis/attention.ts';
import { MECHANISMS_SECTION, figureOptions, figureStyleSchema, readJson, readStepJsons, writeFigures, xLimitsSchema, type StagesJson } from './common.ts';

const STAGE = 'figure-attention';
const headName = (l: number, h: number, type: string) => `b${l + 1}h${h + 1}${type}`;

export const figureAttentionStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: z.strictObject({ label: z.string().default('run'), xLimits: xLimitsSchema, style: figureStyleSchema.default(figureStyleSchema.parse({})) }),
  inputs: { attention: 'dir[]', stages: 'dir' },
  async run(ctx) {
    const { label, xLimits, style } = ctx.params;
    const att = await readStepJsons<AttentionJson>(STAGE, ctx.inputs.attention, 'attention.json');
    if (att.length < 2) throw new Error(`${STAGE}: need at least 2 attention inputs, got ${att.length}`);
    const st = await readJson<StagesJson>(STAGE, path.join(ctx.inputs.stages, 'stages.json'));
    const steps = att.map((a) => a.step);
    const { layers, heads, T } = att[0];
    const values = Object.fromEntries(ATTENTION_METRICS.map((m) => [m, att.map((a) => a.metrics[m])])) as Record<AttentionMetric, number[][][][]>;
    const movers = attentionMovers(steps, values, st.stages);
    const figures = ATTENTION_METRICS.map((metric) => {
      // The head whose position-averaged metric changes most over the whole run, for the caption.
      const [top] = attentionMovers(steps, Object.fromEntries(ATTENTION_METRICS.map((m) => [m, values[m]])) as Record<AttentionMetric, number[][][][]>, [{ label: 'run', start: steps[0], end: steps.at(-1)! }], ATTENTION_METRICS.filter((m) => m !== metric));
      return {
        file: `attn-${metric}.svg`,
        title: `Attention: ${METRIC_TITLES[metric]} (${label})`,
        caption: `${METRIC_TITLES[metric][0].toUpperCase() + METRIC_TITLES[metric].slice(1)} of every head (rows) for x- and y-token queries of each block (columns), one line per query position, averaged over ${'validation sequences'}. Largest change over training: ${top ? `${headName(top.layer, top.head, top.type)} ${top.from.toFixed(2)} → ${top.to.toFixed(2)}` : '–'}.`,
        svg: attentionGridFigure({ steps, layers, heads, T, values: values[metric] }, METRIC_TITLES[metric], st.stages, figureOptions(`attn-${metric}`, style, xLimits)),
      };
    });
    const picked = movers.map((m) => ({ layer: m.layer, head: m.head, type: m.type, metricTitle: METRIC_TITLES[m.metric], values: values[m.metric].map((v) => v[m.layer][m.head]), stage: m.stage }));
    figures.push({
      file: 'attn-ids.svg',
      title: `Attention heads that move in each stage (${label})`,
      caption: `For each stage, the head, query-token type and metric whose position-averaged value changes most between the stage's start and end (chosen from this run's data, not by hand): ${movers.map((m) => `${m.stage}: ${headName(m.layer, m.head, m.type)} ${METRIC_TITLES[m.metric]} ${m.from.toFixed(2)} → ${m.to.toFixed(2)}`).join('; ') || 'no stages detected'}.`,
      svg: attentionIdsFigure(steps, T, picked, st.stages, figureOptions('attn-ids', style, xLimits)),
    });
    await writeFigures(STAGE, ctx.outDir, figures.map((f) => ({ ...f, section: MECHANISMS_SECTION })));
  },
});
