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
console.log(lines.join('\n'));
