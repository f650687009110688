// `pipeline.ts graph [--format dot|mermaid|json]`: the plan as a graph with each node's state, for
// docs and other tools. Nodes are grouped as in the dashboard (groups.ts): a DOT cluster or a
// Mermaid subgraph per group of two or more.
import type { Graph } from '../key/graph.ts';
import type { Assessment } from '../key/plan.ts';
import { groupOf, labelInGroup } from './groups.ts';

export type GraphFormat = 'dot' | 'mermaid' | 'json';
export const GRAPH_FORMATS: GraphFormat[] = ['dot', 'mermaid', 'json'];

const FILL: Record<'fresh' | 'stale', { fill: string; stroke: string }> = {
  fresh: { fill: '#eef6f1', stroke: '#4d8f6a' },
  stale: { fill: '#fff5e6', stroke: '#d97706' },
};

interface Grouped {
  groups: Map<string, string[]>;
  state(id: string): 'fresh' | 'stale';
}

function grouped(graph: Graph, plan: Map<string, Assessment>): Grouped {
  const groups = new Map<string, string[]>();
  for (const id of graph.order) groups.set(groupOf(id), [...(groups.get(groupOf(id)) ?? []), id]);
  return { groups, state: (id) => plan.get(id)?.status ?? 'stale' };
}

export function graphJson(graph: Graph, plan: Map<string, Assessment>) {
  return {
    nodes: graph.order.map((id) => {
      const n = graph.nodes.get(id)!;
      const a = plan.get(id);
      return { id, stage: n.decl.stage.name, group: groupOf(id), tags: [...n.tags], state: a?.status ?? 'stale', reasons: a?.reasons ?? [], key: a?.key ?? null, upstream: n.upstream };
    }),
    edges: graph.order.flatMap((id) => graph.nodes.get(id)!.upstream.map((from) => ({ from, to: id }))),
  };
}

const dotString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

export function graphDot(graph: Graph, plan: Map<string, Assessment>): string {
  const { groups, state } = grouped(graph, plan);
  const lines = ['digraph stagewise {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];', '  edge [color="#9aa5b4"];'];
  const nodeLine = (id: string, label: string) => {
    const s = state(id);
    return `${dotString(id)} [label=${dotString(`${label}\n${s}`)}, fillcolor=${dotString(FILL[s].fill)}, color=${dotString(FILL[s].stroke)}];`;
  };
  let i = 0;
  for (const [group, ids] of groups) {
    if (ids.length === 1) lines.push(`  ${nodeLine(ids[0], ids[0])}`);
    else {
      lines.push(`  subgraph cluster_${i++} {`, `    label=${dotString(group)}; style="rounded,dashed"; color="#cbd5e1"; fontname="Helvetica"; fontsize=11;`);
      for (const id of ids) lines.push(`    ${nodeLine(id, labelInGroup(id))}`);
      lines.push('  }');
    }
  }
  for (const id of graph.order) for (const up of graph.nodes.get(id)!.upstream) lines.push(`  ${dotString(up)} -> ${dotString(id)};`);
  lines.push('}');
  return lines.join('\n');
}

export function graphMermaid(graph: Graph, plan: Map<string, Assessment>): string {
  const { groups, state } = grouped(graph, plan);
  // Mermaid ids must be plain words: n0, n1, … with the node id as the (quoted) label.
  const mid = new Map(graph.order.map((id, k) => [id, `n${k}`]));
  const label = (s: string) => `"${s.replace(/"/g, '#quot;')}"`;
  const lines = ['flowchart LR', '  classDef fresh fill:#eef6f1,stroke:#4d8f6a,color:#1f2937;', '  classDef stale fill:#fff5e6,stroke:#d97706,color:#1f2937;'];
  let i = 0;
  for (const [group, ids] of groups) {
    if (ids.length === 1) lines.push(`  ${mid.get(ids[0])}[${label(ids[0])}]:::${state(ids[0])}`);
    else {
      lines.push(`  subgraph g${i++}[${label(group)}]`);
      for (const id of ids) lines.push(`    ${mid.get(id)}[${label(labelInGroup(id))}]:::${state(id)}`);
      lines.push('  end');
    }
  }
  for (const id of graph.order) for (const up of graph.nodes.get(id)!.upstream) lines.push(`  ${mid.get(up)} --> ${mid.get(id)}`);
  return lines.join('\n');
}

export function exportGraph(graph: Graph, plan: Map<string, Assessment>, format: GraphFormat): string {
  if (format === 'json') return JSON.stringify(graphJson(graph, plan));
  return format === 'dot' ? graphDot(graph, plan) : graphMermaid(graph, plan);
}
