// Stage 'figure-calibration': LLC estimator calibration (docs/figures.md, docs/llc.md).
//
// Inputs:
//   llcs: string[]  llc node directories of the calibration grid (llc.json with sampler settings,
//                   chains and traces), any order
// Params:
//   traces  indices into `llcs` whose chain traces to draw (default: up to 4 spread over the list,
//           preferring nodes with a failed chain)
//   style   as in figure-lr
// Outputs: llc-vs-sampler.svg (only when some sampler setting varies), llc-traces.svg, figure-calibration.figures.json.
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { SAMPLER_AXES, chainTraces, formatSetting, llcVsSampler, samplerSweeps, type LlcRecord, type SamplerSweep } from '../../lib/plots/calibration-figures.ts';
import { figureOptions, figureStyleSchema, readJson, sig3, writeFigures, type ManifestEntry } from './common.ts';

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

/**
 * What the sweeps of this run show: per swept setting and per checkpoint (and combination of the
 * other settings, where several), the range of λ̂ across the sweep, the settings at its ends, and its
 * half-width as a share of its centre: "Across ε: at t = 100, λ̂ from 10.0 at ε = 0.0001 to 14.0 at
 * ε = 0.001 (±17% of the centre 12.0); …".
 */
export function sweepSummary(sweeps: SamplerSweep[]): string {
  return sweeps
    .filter(({ groups }) => groups.length > 0)
    .map(({ axis, groups }) => {
      // Name the other settings only where they tell this setting's sweeps apart.
      const distinct = SAMPLER_AXES.filter((a) => a.key !== axis.key && new Set(groups.map((g) => g[0].sampler[a.key])).size > 1);
      const parts = groups.map((g) => {
        const others = distinct.map((a) => `${a.symbol} = ${formatSetting(g[0].sampler[a.key])}`).join(', ');
        const where = `t = ${g[0].step}${others ? ` with ${others}` : ''}`;
        const finite = g.filter((r): r is LlcRecord & { llcMean: number } => r.llcMean !== null && Number.isFinite(r.llcMean));
        if (finite.length < 2) return `at ${where}, fewer than two settings gave a λ̂`;
        const lo = finite.reduce((a, b) => (b.llcMean < a.llcMean ? b : a));
        const hi = finite.reduce((a, b) => (b.llcMean > a.llcMean ? b : a));
        const centre = (lo.llcMean + hi.llcMean) / 2;
        const share = centre === 0 ? '' : ` (±${percent((hi.llcMean - lo.llcMean) / 2 / Math.abs(centre))} of the centre ${sig3(centre)})`;
        const at = (r: LlcRecord) => `${axis.symbol} = ${formatSetting(r.sampler[axis.key])}`;
        return `at ${where}, λ̂ from ${sig3(lo.llcMean)} at ${at(lo)} to ${sig3(hi.llcMean)} at ${at(hi)}${share}`;
      });
      return `Across ${axis.symbol}: ${parts.join('; ')}.`;
    })
    .join(' ');
}

/** 0.048 → "4.8%", 0.17 → "17%". */
function percent(share: number): string {
  const p = 100 * share;
  return `${p >= 10 ? p.toFixed(0) : p.toPrecision(2)}%`;
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
        caption: `λ̂ ± std over chains for each swept SGLD setting; one line per checkpoint (and per combination of the other settings). ${sweepSummary(samplerSweeps(records))} Red rings: a chain failed (diverged).`,
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
    await writeFigures(STAGE, ctx.outDir, figures);
  },
});
