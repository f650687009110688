// The LLC calibration figures (docs/figures.md, docs/llc.md): λ̂ against each swept sampler setting,
// and the chains' loss traces with the running estimate.
import { format } from 'd3-format';
import { Figure, paperSizes, type LegendItem } from './figure.ts';
import { BRIGHT, DEEP, sequential } from './palette.ts';
import { plotStyle, type FigureOptions } from './style.ts';

export interface LlcChain {
  llc: number | null;
  failed: boolean;
  reason?: string;
  trace: (number | null)[];
}

export interface LlcRecord {
  step: number;
  sampler: { eps: number; nbeta: number; gamma: number; chains: number; burnin: number; draws: number; batchSize: number; datasetSize: number };
  L0: number;
  llcMean: number | null;
  llcStd: number | null;
  chains: LlcChain[];
}

export const SAMPLER_AXES = [
  { key: 'eps', label: 'Step size ε', symbol: 'ε' },
  { key: 'nbeta', label: 'Inverse temperature nβ', symbol: 'nβ' },
  { key: 'gamma', label: 'Localisation γ', symbol: 'γ' },
  { key: 'batchSize', label: 'Batch size m', symbol: 'm' },
  { key: 'datasetSize', label: 'Dataset size n', symbol: 'n' },
] as const;
export type SamplerAxis = (typeof SAMPLER_AXES)[number];

/** A sampler setting as written in titles and captions (0.00025, 1024). */
export const formatSetting = format('~g');
const CHAIN_COLORS = DEEP.filter((_, i) => i !== 3);

/** One sampler setting that varies across the records, and its sweeps. */
export interface SamplerSweep {
  axis: SamplerAxis;
  /** Groups of ≥ 2 records that agree on the step and every other setting, each sorted by this setting. */
  groups: LlcRecord[][];
}

/** For each sampler setting that varies across `records` (in SAMPLER_AXES order), its sweeps. */
export function samplerSweeps(records: LlcRecord[]): SamplerSweep[] {
  const varied = SAMPLER_AXES.filter((a) => new Set(records.map((r) => r.sampler[a.key])).size > 1);
  return varied.map((axis) => {
    const groups = new Map<string, LlcRecord[]>();
    for (const r of records) {
      const others = SAMPLER_AXES.filter((a) => a.key !== axis.key).map((a) => r.sampler[a.key]);
      const key = JSON.stringify([r.step, others]);
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const sweeps = [...groups.values()].filter((g) => g.length >= 2).map((g) => [...g].sort((a, b) => a.sampler[axis.key] - b.sampler[axis.key]));
    return { axis, groups: sweeps };
  });
}

/**
 * λ̂ against each sampler setting that varies across `records`: one panel per setting, one line
 * per group of records that agree on everything else (coloured by checkpoint step), ± std.
 * Settings where a chain failed get a red ring. Returns null when no setting varies.
 */
export function llcVsSampler(records: LlcRecord[], o: FigureOptions): string | null {
  const sweeps = samplerSweeps(records);
  if (sweeps.length === 0) return null;
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const cols = Math.min(3, sweeps.length);
  const rows = Math.ceil(sweeps.length / cols);
  const fig = new Figure(o.id, cols * WIDTH, rows * 1.3 * HEIGHT + 20, plotStyle(o));
  const grid = fig.panels(rows, cols);
  const steps = [...new Set(records.map((r) => r.step))].sort((a, b) => a - b);
  const stepColors = sequential(steps.length, 'viridis');
  let anyFailed = false;
  sweeps.forEach(({ axis, groups }, k) => {
    const panel = grid[Math.floor(k / cols)][k % cols];
    const values = records.map((r) => r.sampler[axis.key]);
    panel.x = { kind: values.every((v) => v > 0) ? 'log' : 'linear', label: axis.label };
    panel.y = { kind: 'linear', label: 'LLC λ̂' };
    for (const g of groups) {
      const color = stepColors[steps.indexOf(g[0].step)];
      const xs = g.map((r) => r.sampler[axis.key]);
      const ys = g.map((r) => r.llcMean ?? NaN);
      const sd = g.map((r) => r.llcStd ?? 0);
      panel.errorBars(xs, ys.map((y, i) => y - sd[i]), ys.map((y, i) => y + sd[i]), color);
      panel.line(xs, ys, { color });
      panel.scatter(xs, ys, { color, size: 4.5 });
      const failed = g.filter((r) => r.chains.some((c) => c.failed));
      if (failed.length) anyFailed = true;
      panel.scatter(failed.map((r) => r.sampler[axis.key]), failed.map((r) => r.llcMean ?? NaN), { color: 'none', stroke: BRIGHT.red, size: 10 }, 'front');
    }
  });
  const items: LegendItem[] = steps.map((s, i) => ({ label: `t = ${s}`, color: stepColors[i], kind: 'line' }));
  if (anyFailed) items.push({ label: 'had a failed chain', color: 'none', stroke: BRIGHT.red, kind: 'marker', shape: 'circle' });
  fig.legend(items, 'Checkpoint:');
  return fig.render();
}

/** Running λ̂ of one chain after burn-in: nβ·(mean of L over draws so far − L0). */
export function runningLlc(trace: (number | null)[], burnin: number, nbeta: number, L0: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = burnin; i < trace.length; i++) {
    const v = trace[i];
    sum += v === null ? NaN : v;
    out.push(nbeta * (sum / (i - burnin + 1) - L0));
  }
  return out;
}

/**
 * Chain diagnostics for chosen LLC nodes, one column each: top, the minibatch loss per chain
 * with L0 dashed and burn-in shaded; bottom, the running λ̂ per chain and their mean (black).
 * Failed chains (divergence: NaN/exploding loss) are drawn dashed red.
 */
export function chainTraces(records: LlcRecord[], o: FigureOptions): string {
  const { WIDTH, HEIGHT } = paperSizes(o.width);
  const cols = records.length;
  const fig = new Figure(o.id, Math.max(1, cols) * 0.85 * WIDTH, 2.2 * HEIGHT + 30, plotStyle(o));
  const grid = fig.panels(2, cols);
  // Titles name the step and only the sampler settings that differ between the columns.
  const titled = SAMPLER_AXES.filter((a) => new Set(records.map((r) => r.sampler[a.key])).size > 1);
  records.forEach((r, c) => {
    const [trace, running] = [grid[0][c], grid[1][c]];
    const s = r.sampler;
    trace.title = [`t = ${r.step}`, ...titled.map((a) => `${a.symbol} = ${formatSetting(s[a.key])}`)].join(', ');
    const drawDomain: [number, number] = [0, Math.max(1, ...r.chains.map((ch) => ch.trace.length - 1))];
    trace.x = { kind: 'linear', tickLabels: false, domain: drawDomain };
    trace.y = { kind: 'linear', label: c === 0 ? 'Minibatch loss Lₘ' : undefined };
    running.x = { kind: 'linear', label: 'Draw τ', domain: drawDomain };
    running.y = { kind: 'linear', label: c === 0 ? 'Running λ̂' : undefined };
    trace.vspan(0, s.burnin, '#000', 0.06);
    running.vspan(0, s.burnin, '#000', 0.06);
    trace.hline(r.L0, { color: '#000', dash: 'dashed', width: 1 });
    const healthy: number[][] = [];
    // Failed chains last, so they are drawn on top; chain colours avoid red, which marks failure.
    const order = r.chains.map((_, k) => k).sort((a, b) => Number(r.chains[a].failed) - Number(r.chains[b].failed));
    order.forEach((k) => {
      const chain = r.chains[k];
      const style = chain.failed ? { color: BRIGHT.red, dash: 'dashed' as const, width: 1.2 } : { color: CHAIN_COLORS[k % CHAIN_COLORS.length], width: 0.9, opacity: 0.8 };
      const draws = chain.trace.map((_, i) => i);
      const finite = chain.trace.map((v) => (v === null ? NaN : v));
      // A diverged chain would stretch the axis until healthy chains look flat: it is clipped instead.
      trace.line(draws, finite, style, { scale: !chain.failed });
      const run = runningLlc(chain.trace, s.burnin, s.nbeta, r.L0);
      const runDraws = run.map((_, i) => i + s.burnin);
      running.line(runDraws, run, style, { scale: !chain.failed });
      if (!chain.failed) healthy.push(run);
    });
    if (healthy.length) {
      const len = Math.min(...healthy.map((h) => h.length));
      const mean = Array.from({ length: len }, (_, i) => healthy.reduce((a, h) => a + h[i], 0) / healthy.length);
      running.line(mean.map((_, i) => i + s.burnin), mean, { color: '#000', width: 2 });
    }
    const nFailed = r.chains.filter((ch) => ch.failed).length;
    if (nFailed) trace.note(0.98, 0.92, `${nFailed} of ${r.chains.length} chains failed`, { fraction: true, anchor: 'end', color: BRIGHT.red });
  });
  fig.legend([
    { label: 'Chain', color: CHAIN_COLORS[0], kind: 'line' },
    { label: 'Failed chain', color: BRIGHT.red, kind: 'line', dash: 'dashed' },
    { label: 'L0 = L(w*)', color: '#000', kind: 'line', dash: 'dashed' },
    { label: 'Mean running λ̂', color: '#000', kind: 'line' },
    { label: 'Burn-in', color: '#000', kind: 'patch', opacity: 0.12 },
  ]);
  return fig.render();
}
