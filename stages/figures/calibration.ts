// Stage 'figure-calibration': LLC estimator calibration (docs/figures.md, docs/llc.md).
//
// Inputs:
//   llcs: string[]  llc node directories of the calibration grid (llc.json with sampler settings,
//                   chains and traces), any order
// Params:
//   traces  indices into `llcs` whose chain traces to draw (default: up to 4 spread over the list,
//           preferring nodes with a failed chain)
//   style   as in figure-lr
// Outputs: llc-vs-sampler.svg (only when some sampler setting varies), llc-traces.svg, figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { chainTraces, llcVsSampler, type LlcRecord } from '../../lib/plots/calibration-figures.ts';
import { figureOptions, figureStyleSchema, readJson, writeFigures, type ManifestEntry } from './common.ts';

const STAGE = 'figure-calibration';
const SECTION = 'LLC calibration';

export const figureCalibrationParams = z.strictObject({
  traces: z.array(z.number().int().nonnegative()).optional(),
  style: figureStyleSchema.default(figureStyleSchema.parse({})),
});

/** Up to `count` records: one with a failed chain first (if any), then evenly spread. */
export function defaultTraceSelection(records: LlcRecord[], count = 4): number[] {
  const chosen = new Set<number>();
  const failed = records.findIndex((r) => r.chains.some((c) => c.failed));
  if (failed >= 0) chosen.add(failed);
  const n = records.length;
  for (let k = 0; chosen.size < Math.min(count, n) && k < count; k++) chosen.add(Math.round((k * (n - 1)) / Math.max(1, count - 1)));
  for (let i = 0; chosen.size < Math.min(count, n); i++) chosen.add(i);
  return [...chosen].sort((a, b) => a - b);
}

export const figureCalibrationStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figureCalibrationParams,
  inputs: { llcs: 'dir[]' },
  async run(ctx) {
    const dirs = ctx.inputs.llcs;
    if (dirs.length === 0) throw new Error(`${STAGE}: input 'llcs' is empty`);
    const records = await Promise.all(dirs.map((d) => readJson<LlcRecord>(STAGE, path.join(d, 'llc.json'))));
    const traces = ctx.params.traces ?? defaultTraceSelection(records);
    const bad = traces.find((i) => i >= records.length);
    if (bad !== undefined) throw new Error(`${STAGE}: params.traces has index ${bad}, expected indices below ${records.length} (one per 'llcs' input)`);
    const { style } = ctx.params;
    const figures: (ManifestEntry & { svg: string })[] = [];
    const sweep = llcVsSampler(records, figureOptions('llc-sweep', style));
    if (sweep) {
      figures.push({
        section: SECTION,
        file: 'llc-vs-sampler.svg',
        title: 'LLC estimate against sampler settings',
        caption: 'λ̂ ± std over chains for each swept SGLD setting; one line per checkpoint (and per combination of the other settings). Red rings: a chain failed (diverged).',
        svg: sweep,
      });
    }
    figures.push({
      section: SECTION,
      file: 'llc-traces.svg',
      title: 'SGLD chain diagnostics',
      caption: 'Top: minibatch loss of each chain per draw, L0 = L(w*) dashed, burn-in shaded. Bottom: running λ̂ = nβ·(mean loss so far − L0) per chain, mean in black. Healthy chains rise from L0 to a plateau and agree; failed chains are dashed red.',
      svg: chainTraces(traces.map((i) => records[i]), figureOptions('llc-traces', style)),
    });
    await writeFigures(ctx.outDir, figures);
  },
});
