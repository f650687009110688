// Printing a plan (--dry-run) and one node's explanation (--explain), as text or JSON.
import type { Graph } from '../key/graph.ts';
import type { Assessment } from '../key/plan.ts';

function planEntry(a: Assessment, graph: Graph) {
  return { id: a.id, stage: a.stage, status: a.status, key: a.key, reasons: a.reasons, heavy: Boolean(graph.nodes.get(a.id)!.decl.stage.heavy) };
}

export function printPlan(plan: Map<string, Assessment>, graph: Graph, json: boolean, say: (s: string) => void): void {
  const entries = [...plan.values()];
  const fresh = entries.filter((a) => a.status === 'fresh').length;
  if (json) {
    say(JSON.stringify({ dryRun: true, fresh, stale: entries.length - fresh, nodes: entries.map((a) => planEntry(a, graph)) }));
    return;
  }
  for (const a of entries) say(a.status === 'fresh' ? `fresh  ${a.id}` : `stale  ${a.id}: ${a.reasons.join('; ')}`);
  say(`${fresh} fresh, ${entries.length - fresh} stale (dry run: nothing built)`);
}

export function explainJson(a: Assessment, graph: Graph) {
  return { ...planEntry(a, graph), fingerprint: a.fingerprint, codeFiles: a.code.codeFiles, ...(a.record ? { built: builtInfo(a) } : {}) };
}

/** How the stored build was made: recorded, not part of the key (e.g. the compute backend). */
function builtInfo(a: Assessment) {
  const r = a.record!;
  return { host: r.host, startedAt: r.startedAt, wallSeconds: r.wallSeconds, meta: r.meta };
}

export function explainText(a: Assessment): string {
  const lines = [`${a.id} (stage ${a.stage}): ${a.status}${a.reasons.length ? ` — ${a.reasons.join('; ')}` : ''}`];
  lines.push(`  key: ${a.key ?? '(unknown until upstream nodes are rebuilt)'}`);
  if (a.fingerprint) {
    const fp = a.fingerprint;
    lines.push(`  format version ${fp.formatVersion}, stage version ${fp.stageVersion}`);
    lines.push(`  params: ${JSON.stringify(fp.params)}`);
    lines.push(`  code ${fp.codeDigest.slice(0, 12)} over ${Object.keys(a.code.codeFiles).length} entries:`);
    for (const [f, h] of Object.entries(a.code.codeFiles).sort()) lines.push(`    ${f} ${f.startsWith('npm:') ? h : h.slice(0, 12)}`);
    lines.push('  inputs:');
    for (const [name, d] of Object.entries(fp.inputs)) lines.push(`    ${name}: ${Array.isArray(d) ? d.map((x) => x.slice(0, 12)).join(', ') : d.slice(0, 12)}`);
  }
  if (a.record) {
    const b = builtInfo(a);
    const backend = typeof b.meta.backend === 'string' ? `, backend ${b.meta.backend}` : '';
    lines.push(`  built ${b.startedAt} on ${b.host} in ${b.wallSeconds.toFixed(1)} s${backend} (recorded, not in the key: --force ${a.id} rebuilds here)`);
  }
  for (const w of a.code.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}


