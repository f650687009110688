// Summarise a pipeline run as Markdown: wall time per stage and the detected stage boundaries.
//
//   npx tsx pipeline.ts figures --json > /tmp/summary.json
//   npx tsx tools/run-report.ts /tmp/summary.json > bench/default-run.md
//
// Reads the records and stages.json outputs from the store the run used (LOCAL_ROOT / S3 env).
import { readFile } from 'node:fs/promises';
import { openStore } from '../engine/store/open.ts';
import type { NodeKey } from '../engine/types.ts';

interface Summary {
  built: number;
  cached: number;
  failed: number;
  skipped: number;
  seconds: number;
  nodes: { id: string; stage: string; status: string; key?: string; seconds?: number }[];
}
interface StagesJson {
  llc: number[];
  boundaries: { step: number; llc: number; loss: number }[];
  stages: { label: string; start: number; end: number; type: string }[];
}

const file = process.argv[2];
if (!file) throw new Error('usage: npx tsx tools/run-report.ts SUMMARY.json (the last line of `pipeline.ts --json`)');
const text = (await readFile(file, 'utf8')).trim();
const summary = JSON.parse(text.slice(text.lastIndexOf('\n{') + 1)) as Summary;
const { store } = await openStore(process.env);

const lines: string[] = [];
lines.push(`Run: built ${summary.built}, cached ${summary.cached}, failed ${summary.failed}, skipped ${summary.skipped} in ${summary.seconds.toFixed(1)} s (wall).`, '');
lines.push('| stage | nodes built | node-seconds (sum) | longest node (s) |', '|---|---|---|---|');
const byStage = new Map<string, number[]>();
for (const n of summary.nodes.filter((n) => n.status === 'built')) byStage.set(n.stage, [...(byStage.get(n.stage) ?? []), n.seconds ?? 0]);
for (const [stage, secs] of byStage) {
  lines.push(`| ${stage} | ${secs.length} | ${secs.reduce((a, b) => a + b, 0).toFixed(1)} | ${Math.max(...secs).toFixed(1)} |`);
}
{
  // How busy the cores were, and the training chain (the run's critical path: every other node hangs off it).
  const built = summary.nodes.filter((n) => n.status === 'built');
  const nodeSeconds = built.reduce((a, n) => a + (n.seconds ?? 0), 0);
  lines.push('', `Node-seconds ${nodeSeconds.toFixed(0)} over ${summary.seconds.toFixed(0)} s of wall time: on average ${(nodeSeconds / summary.seconds).toFixed(2)} nodes running at once.`);
  for (const n of summary.nodes.filter((n) => n.stage === 'train' && !/,to=\d+\]$/.test(n.id))) {
    const segs = built.filter((m) => m.stage === 'train' && (m.id === n.id || m.id.startsWith(`${n.id.slice(0, -1)},to=`)));
    if (segs.length > 1) lines.push(`${n.id}: ${segs.length} segments, ${segs.reduce((a, m) => a + (m.seconds ?? 0), 0).toFixed(0)} node-seconds in all (${segs.map((m) => (m.seconds ?? 0).toFixed(0)).join(' + ')}).`);
  }
}
for (const n of summary.nodes.filter((n) => n.stage === 'stage-boundaries' && n.key)) {
  const record = await store.getRecord(n.stage, n.key as NodeKey);
  const blob = record && (await store.blobPath(record.outputs['stages.json'].digest));
  if (!blob) throw new Error(`${n.id}: stages.json not found in the store (is LOCAL_ROOT the run's?)`);
  const st = JSON.parse(await readFile(blob, 'utf8')) as StagesJson;
  lines.push('', `### ${n.id}`, '', '| stage | type | steps | λ̂ at end | test loss at end |', '|---|---|---|---|---|');
  for (const [i, s] of st.stages.entries()) {
    const b = st.boundaries[i]; // the last stage ends at the last LLC checkpoint, not at a boundary
    const llc = b ? b.llc : st.llc.at(-1)!;
    lines.push(`| ${s.label} | ${s.type} | ${s.start}–${s.end} | ${llc.toFixed(1)} | ${b ? b.loss.toFixed(3) : '–'} |`);
  }
}

// The λ̂ curve of each main run, with the chain diagnostics that say how far to trust it: the spread
// of the per-chain estimates, and each chain's λ̂ from the first vs the second half of its draws
// (a chain still drifting toward its stationary level shows a large half-to-half change).
interface LlcJson {
  step: number;
  L0: number;
  llcMean: number;
  llcStd: number;
  healthyChains: number;
  sampler: { nbeta: number; burnin: number; draws: number };
  chains: { llc: number | null; trace: (number | null)[] }[];
}
const llcNodes = summary.nodes.filter((n) => n.stage === 'llc' && n.key && /^llc\[/.test(n.id));
const runs = [...new Set(llcNodes.map((n) => n.id.replace(/,step=\d+\]$/, ']')))];
for (const run of runs) {
  const rows: LlcJson[] = [];
  for (const n of llcNodes.filter((n) => n.id.startsWith(run.slice(0, -1) + ','))) {
    const record = await store.getRecord(n.stage, n.key as NodeKey);
    const blob = record && (await store.blobPath(record.outputs['llc.json'].digest));
    if (blob) rows.push(JSON.parse(await readFile(blob, 'utf8')) as LlcJson);
  }
  rows.sort((a, b) => a.step - b.step);
  lines.push('', `### λ̂ curve and chain convergence: ${run}`, '');
  lines.push('| step | λ̂ (mean ± std over chains) | chains: min–max λ̂ | λ̂ first half → second half of draws (mean over chains) | half-to-half change |', '|---|---|---|---|---|');
  for (const r of rows) {
    const { nbeta, burnin, draws } = r.sampler;
    const mid = burnin + Math.floor(draws / 2);
    const half = (tr: (number | null)[], from: number, to: number) => {
      const xs = tr.slice(from, to).filter((x): x is number => x !== null);
      return nbeta * (xs.reduce((a, b) => a + b, 0) / xs.length - r.L0);
    };
    const healthy = r.chains.filter((c) => c.llc !== null);
    const first = healthy.map((c) => half(c.trace, burnin, mid));
    const second = healthy.map((c) => half(c.trace, mid, burnin + draws));
    const m = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const per = healthy.map((c) => c.llc!);
    lines.push(
      `| ${r.step} | ${r.llcMean.toFixed(1)} ± ${r.llcStd.toFixed(1)} (${r.healthyChains} chains) | ${Math.min(...per).toFixed(1)}–${Math.max(...per).toFixed(1)} | ${m(first).toFixed(1)} → ${m(second).toFixed(1)} | ${((100 * (m(second) - m(first))) / Math.abs(m(first))).toFixed(1)}% |`,
    );
  }
}
console.log(lines.join('\n'));
