// Freshness: is there a valid record for a node's current key, and if not, why not.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFile, safeSegment } from '../store/fsutil.ts';
import type { Graph, GraphNode } from './graph.ts';
import { canonicalJson, fromJsonSafe, type JsonValue } from './hash.ts';
import { stageCodeInfo, computeKey, FORMAT_VERSION, keyParams, type CodeInfo, type Fingerprint } from './keys.ts';
import { badOutputs } from '../store/outputs.ts';
import type { BuildRecord, InputRef, NodeKey, Store } from '../types.ts';

export interface Assessment {
  id: string;
  stage: string;
  status: 'fresh' | 'stale';
  /** null while an upstream node is stale: the key depends on what it will produce. */
  key: NodeKey | null;
  fingerprint: Fingerprint | null;
  code: CodeInfo;
  /** The valid record (fresh nodes only). */
  record: BuildRecord | null;
  /** Why the node is stale; empty when fresh. */
  reasons: string[];
}

export interface AssessContext {
  store: Store;
  root: string;
  graph: Graph;
  force: Set<string>;
}

/** Where explain finds a node id's previous build: root/nodes/<stage>/<id>.json → { key }. */
function pointerFile(root: string, stage: string, nodeId: string): string {
  return join(root, 'nodes', stage, `${safeSegment(nodeId)}.json`);
}

export function readPointer(root: string, stage: string, nodeId: string): NodeKey | null {
  try {
    const p = JSON.parse(readFileSync(pointerFile(root, stage, nodeId), 'utf8')) as { nodeId: string; key: NodeKey };
    return p.nodeId === nodeId ? p.key : null;
  } catch {
    return null;
  }
}

export async function writePointer(root: string, stage: string, nodeId: string, key: NodeKey): Promise<void> {
  if (readPointer(root, stage, nodeId) === key) return;
  await atomicWriteFile(pointerFile(root, stage, nodeId), JSON.stringify({ nodeId, key }));
}

export function pointerExists(root: string, stage: string, nodeId: string): boolean {
  return existsSync(pointerFile(root, stage, nodeId));
}

/** Upstream output digests for each input, or an error naming a FileRef that points at no output. */
export function inputDigests(node: GraphNode, upstream: Map<string, BuildRecord>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(node.decl.inputs)) {
    const one = (r: InputRef): string => {
      const rec = upstream.get(r.node)!;
      if (r.kind === 'node') return rec.outputDigest;
      const entry = rec.outputs[r.path];
      if (!entry) {
        const have = Object.keys(rec.outputs);
        throw new Error(`input ${name}: node ${r.node} has no output file ${r.path} (it has ${have.length ? have.slice(0, 8).join(', ') : 'no files'}${have.length > 8 ? ', …' : ''})`);
      }
      return entry.digest;
    };
    out[name] = Array.isArray(value) ? value.map(one) : one(value);
  }
  return out;
}

/**
 * Assesses one node given its upstream records (null = that upstream is stale). Never writes.
 */
export async function assess(ctx: AssessContext, node: GraphNode, upstream: Map<string, BuildRecord | null>): Promise<Assessment> {
  const stage = node.decl.stage;
  const code = await stageCodeInfo(stage);
  const base = { id: node.id, stage: stage.name, code };
  const staleUp = node.upstream.filter((u) => upstream.get(u) == null);
  if (staleUp.length > 0) {
    return { ...base, status: 'stale', key: null, fingerprint: null, record: null, reasons: staleUp.map((u) => `upstream ${u} will be rebuilt`) };
  }
  const fingerprint: Fingerprint = {
    formatVersion: FORMAT_VERSION,
    stage: stage.name,
    stageVersion: stage.version ?? 0,
    params: keyParams(node.params),
    codeDigest: code.codeDigest,
    inputs: inputDigests(node, upstream as Map<string, BuildRecord>),
  };
  const key = computeKey(fingerprint);
  const record = await ctx.store.getRecord(stage.name, key);
  const bad = record ? await badOutputs(ctx.store, record) : [];
  if (record && bad.length === 0 && !ctx.force.has(node.id)) {
    return { ...base, status: 'fresh', key, fingerprint, record, reasons: [] };
  }
  const reasons = ctx.force.has(node.id) && record && bad.length === 0 ? ['forced (--force)'] : await whyStale(ctx, node, fingerprint, code, key, record, bad);
  return { ...base, status: 'stale', key, fingerprint, record: null, reasons };
}

async function whyStale(ctx: AssessContext, node: GraphNode, fp: Fingerprint, code: CodeInfo, key: NodeKey, record: BuildRecord | null, bad: string[]): Promise<string[]> {
  if (record) return bad.map((p) => `output blob missing/corrupt: ${p}`);
  const prevKey = readPointer(ctx.root, fp.stage, node.id);
  if (prevKey === null) return ['never built'];
  if (prevKey === key) return ['record missing (deleted or garbage-collected)'];
  const prev = await ctx.store.getRecord(fp.stage, prevKey);
  if (!prev) return ['never built with these inputs (the previous record is gone)'];
  const reasons = diffRecord(prev, fp, code.codeFiles);
  return reasons.length > 0 ? reasons : ['key changed'];
}

/** What differs between a previous build's record and the current fingerprint, field by field. */
export function diffRecord(prev: BuildRecord, fp: Fingerprint, codeFiles: Record<string, string>): string[] {
  const reasons: string[] = [];
  if (prev.formatVersion !== fp.formatVersion) reasons.push(`engine format version ${prev.formatVersion} → ${fp.formatVersion}`);
  const prevStageVersion = prev.stageVersion ?? 0;
  if (prevStageVersion !== fp.stageVersion) reasons.push(`stage version ${prevStageVersion} → ${fp.stageVersion}`);
  diffJson(prev.params as JsonValue, fp.params, 'params', reasons);
  if (prev.codeDigest !== fp.codeDigest) {
    const now = codeFiles;
    const files = new Set([...Object.keys(prev.codeFiles), ...Object.keys(now)]);
    for (const f of [...files].sort()) {
      const a = prev.codeFiles[f];
      const b = now[f];
      if (a === b) continue;
      if (f.startsWith('npm:')) reasons.push(`package ${f.slice(4)} ${a ?? '(none)'} → ${b ?? '(none)'}`);
      else if (a === undefined) reasons.push(`code ${f} added`);
      else if (b === undefined) reasons.push(`code ${f} removed`);
      else reasons.push(`code ${f} changed`);
    }
    if (reasons.length === 0) reasons.push('code changed');
  }
  for (const name of new Set([...Object.keys(prev.inputDigests), ...Object.keys(fp.inputs)])) {
    const a = prev.inputDigests[name];
    const b = fp.inputs[name];
    if (a === undefined) reasons.push(`input ${name} added`);
    else if (b === undefined) reasons.push(`input ${name} removed`);
    else if (canonicalJson(a) !== canonicalJson(b)) {
      if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
        const idx = a.map((d, i) => (d !== b[i] ? i : -1)).filter((i) => i >= 0);
        reasons.push(`input ${name}[${idx.join(',')}] changed`);
      } else reasons.push(`input ${name} changed`);
    }
  }
  return reasons;
}

function show(v: JsonValue | undefined): string {
  if (v === undefined) return '(unset)';
  const u = fromJsonSafe(v);
  if (typeof u === 'number') return String(u);
  return JSON.stringify(u);
}

function diffJson(a: JsonValue | undefined, b: JsonValue | undefined, path: string, out: string[]): void {
  const isObj = (v: JsonValue | undefined): v is { [k: string]: JsonValue } => v !== null && typeof v === 'object' && !Array.isArray(v) && !('$number' in v);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diffJson(a[k], b[k], `${path}.${k}`, out);
    return;
  }
  if (canonicalJson(a ?? null) === canonicalJson(b ?? null) && (a === undefined) === (b === undefined)) return;
  out.push(`${path} ${show(a)} → ${show(b)}`);
}

/** Plans every selected node in order without building anything (dry-run, explain, --only checks, watch). */
export async function planNodes(ctx: AssessContext, ids: string[]): Promise<Map<string, Assessment>> {
  const result = new Map<string, Assessment>();
  const records = new Map<string, BuildRecord | null>();
  for (const id of ids) {
    const node = ctx.graph.nodes.get(id)!;
    const a = await assess(ctx, node, records);
    result.set(id, a);
    records.set(id, a.record);
  }
  return result;
}
