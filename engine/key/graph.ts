// The declared graph: validated nodes, edges, topological order, target selection.
import { formatIssues } from './issues.ts';
import type { InputDecl, InputRef, NodeDecl } from '../types.ts';

export interface GraphNode {
  id: string;
  decl: NodeDecl;
  /** Params after the stage schema (what run() and the key see). */
  params: unknown;
  /** Distinct upstream node ids, in first-use order. */
  upstream: string[];
  downstream: string[];
  /** Stage name + declared tags. */
  tags: Set<string>;
}

export interface Graph {
  nodes: Map<string, GraphNode>;
  /** Every node after all of its upstream nodes. */
  order: string[];
}

export function inputRefs(inputs: NodeDecl['inputs']): InputRef[] {
  return Object.values(inputs).flatMap((v) => (Array.isArray(v) ? v : [v]));
}

/** Validates everything that can be checked without running anything; all problems in one error. */
export function buildGraph(decls: NodeDecl[]): Graph {
  const problems: string[] = [];
  const nodes = new Map<string, GraphNode>();
  for (const decl of decls) {
    if (typeof decl.id !== 'string' || decl.id === '') {
      problems.push(`a node of stage ${decl.stage?.name} has no id`);
      continue;
    }
    if (nodes.has(decl.id)) {
      problems.push(`duplicate node id ${decl.id} (stages ${nodes.get(decl.id)!.decl.stage.name} and ${decl.stage.name})`);
      continue;
    }
    const parsed = decl.stage.params.safeParse(decl.params);
    if (!parsed.success) {
      problems.push(...formatIssues(parsed.error.issues, decl.params, `node ${decl.id}: params.`).map((l) => l.replace(/params\.\(top level\)/, 'params')));
    }
    const upstream = [...new Set(inputRefs(decl.inputs).map((r) => r.node))];
    nodes.set(decl.id, {
      id: decl.id,
      decl,
      params: parsed.success ? parsed.data : undefined,
      upstream,
      downstream: [],
      tags: new Set([decl.stage.name, ...(decl.tags ?? [])]),
    });
  }
  for (const node of nodes.values()) {
    problems.push(...checkInputs(node.decl));
    for (const [name, value] of Object.entries(node.decl.inputs)) {
      for (const r of Array.isArray(value) ? value : [value]) {
        if (!nodes.has(r.node)) problems.push(`node ${node.id}: input ${name} refers to unknown node ${r.node}`);
        else if (r.node === node.id) problems.push(`node ${node.id}: input ${name} refers to the node itself`);
        if (r.kind === 'file' && (!r.path || r.path.startsWith('/') || r.path.split('/').includes('..'))) {
          problems.push(`node ${node.id}: input ${name}: file path ${JSON.stringify(r.path)} must be relative inside ${r.node}'s outputs`);
        }
      }
    }
  }
  if (problems.length > 0) throw new Error(`invalid pipeline:\n  ${problems.join('\n  ')}`);
  for (const node of nodes.values()) for (const up of node.upstream) nodes.get(up)!.downstream.push(node.id);
  return { nodes, order: topoOrder(nodes) };
}

/** What a ref or list of refs is, in the declaration's terms ('file', 'dir[]', …). */
function kindOf(value: InputRef | InputRef[]): string {
  const one = (r: InputRef) => (r?.kind === 'file' ? 'file' : r?.kind === 'node' ? 'dir' : `not a ref (${JSON.stringify(r)})`);
  if (!Array.isArray(value)) return one(value);
  const kinds = [...new Set(value.map(one))];
  return kinds.length === 0 ? 'an empty list' : kinds.length === 1 ? `${kinds[0]}[]` : `a list mixing ${kinds.join(' and ')}`;
}

function fits(decl: InputDecl, value: InputRef | InputRef[]): boolean {
  const base = decl.replace(/\?$/, '');
  if (Array.isArray(value)) return base.endsWith('[]') && value.every((r) => r?.kind === (base === 'file[]' ? 'file' : 'node'));
  return value?.kind === (base === 'file' ? 'file' : base === 'dir' ? 'node' : undefined);
}

/** The node's inputs against its stage's declaration: unknown or missing names and wrong kinds. */
function checkInputs(decl: NodeDecl): string[] {
  const declared = decl.stage.inputs ?? {};
  const problems: string[] = [];
  const expected = Object.entries(declared).map(([n, k]) => `${n}: ${k}`).join(', ') || 'none';
  for (const [name, value] of Object.entries(decl.inputs ?? {})) {
    const kind = declared[name];
    if (kind === undefined) {
      problems.push(`node ${decl.id}: input '${name}' is not declared by stage ${decl.stage.name} (its inputs: ${expected})`);
    } else if (!fits(kind, value)) {
      problems.push(`node ${decl.id}: input '${name}' expects ${kind.replace(/\?$/, '')} (${describeKind(kind)}), got ${kindOf(value)}`);
    }
  }
  for (const [name, kind] of Object.entries(declared)) {
    if (!kind.endsWith('?') && !(name in (decl.inputs ?? {}))) {
      problems.push(`node ${decl.id}: missing input '${name}' (${kind}: ${describeKind(kind)}) required by stage ${decl.stage.name}`);
    }
  }
  return problems;
}

function describeKind(kind: InputDecl): string {
  const base = kind.replace(/\?$/, '');
  return { file: 'fileRef(node, path)', dir: 'ref(node)', 'file[]': 'a list of fileRef(node, path)', 'dir[]': 'a list of ref(node)' }[base] ?? base;
}

function topoOrder(nodes: Map<string, GraphNode>): string[] {
  const indegree = new Map<string, number>();
  for (const n of nodes.values()) indegree.set(n.id, n.upstream.length);
  const ready = [...nodes.keys()].filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift()!;
    order.push(id);
    for (const d of nodes.get(id)!.downstream) {
      const left = indegree.get(d)! - 1;
      indegree.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  if (order.length < nodes.size) throw new Error(`cycle in the pipeline: ${findCycle(nodes, indegree).join(' → ')}`);
  return order;
}

/** Walks upstream from any node left with unmet dependencies until a node repeats. */
function findCycle(nodes: Map<string, GraphNode>, indegree: Map<string, number>): string[] {
  const start = [...indegree.entries()].find(([, d]) => d > 0)![0];
  const path: string[] = [];
  const pos = new Map<string, number>();
  let cur = start;
  while (!pos.has(cur)) {
    pos.set(cur, path.length);
    path.push(cur);
    cur = nodes.get(cur)!.upstream.find((u) => indegree.get(u)! > 0)!;
  }
  // path follows edges backwards (consumer → producer); print in data-flow order
  return [...path.slice(pos.get(cur)!), cur].reverse();
}

/** Ids matching one target: a node id, else every node with that tag or stage name ('figures' also matches tag 'figure'). */
export function matchTarget(graph: Graph, target: string): string[] {
  if (graph.nodes.has(target)) return [target];
  const byTag = (tag: string) => [...graph.nodes.values()].filter((n) => n.tags.has(tag)).map((n) => n.id);
  let ids = byTag(target);
  if (ids.length === 0 && target.endsWith('s')) ids = byTag(target.slice(0, -1));
  return ids;
}

/** The targets plus everything upstream of them, in topological order. No targets = all nodes. */
export function selectTargets(graph: Graph, targets: string[]): string[] {
  if (targets.length === 0) return [...graph.order];
  const wanted = new Set<string>();
  const unknown: string[] = [];
  for (const t of targets) {
    const ids = matchTarget(graph, t);
    if (ids.length === 0) unknown.push(t);
    ids.forEach((id) => wanted.add(id));
  }
  if (unknown.length > 0) {
    const tags = new Set<string>();
    for (const n of graph.nodes.values()) n.tags.forEach((t) => tags.add(t));
    throw new Error(`unknown target${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: expected a node id, a stage name or a tag (${[...tags].sort().join(', ')})`);
  }
  return upstreamClosure(graph, wanted);
}

/** Every node reachable from `ids` along `next` (the ids included). */
function reach(graph: Graph, ids: Iterable<string>, next: (node: GraphNode) => Iterable<string>): Set<string> {
  const seen = new Set<string>();
  const stack = [...ids];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...next(graph.nodes.get(id)!));
  }
  return seen;
}

/** `ids` and everything they depend on, in topological order. */
export function upstreamClosure(graph: Graph, ids: Iterable<string>): string[] {
  const seen = reach(graph, ids, (n) => n.upstream);
  return graph.order.filter((id) => seen.has(id));
}

export function downstreamClosure(graph: Graph, ids: Iterable<string>): Set<string> {
  return reach(graph, ids, (n) => n.downstream);
}
