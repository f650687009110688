// What the dashboard shows about one node, the results page, and a node's log (also `pipeline.ts log NODE`).
import { readFileSync } from 'node:fs';
import { explainText } from '../cli/plan-output.ts';
import { upstreamClosure, type Graph } from '../key/graph.ts';
import { readFailure, readRecordLog, type FailureRecord } from '../store/logs.ts';
import { planNodes, readPointer, type Assessment } from '../key/plan.ts';
import type { BuildRecord, InputRef, SeriesPoints, Store } from '../types.ts';
import { withoutCoordinate } from './groups.ts';
import type { Hub, NodeView } from './hub.ts';

export interface DetailsEnv {
  hub: Hub;
  store: Store;
  root: string;
}

/** The record to show for a node: its current build when fresh, else its previous one (or none). */
export async function shownRecord(env: DetailsEnv, id: string): Promise<{ record: BuildRecord; current: boolean } | null> {
  const current = env.hub.records.get(id);
  if (current) return { record: current, current: true };
  const node = env.hub.graph?.nodes.get(id);
  if (!node) return null;
  const prevKey = readPointer(env.root, node.decl.stage.name, id);
  const prev = prevKey ? await env.store.getRecord(node.decl.stage.name, prevKey) : null;
  return prev ? { record: prev, current: false } : null;
}

/** Fresh assessment of one node (and its upstream closure): what `--explain` prints. */
export async function assessNode(graph: Graph, store: Store, root: string, id: string): Promise<Assessment> {
  const plan = await planNodes({ store, root, graph, force: new Set() }, upstreamClosure(graph, [id]));
  return plan.get(id)!;
}

export interface LogView {
  /** Where the text comes from. */
  source: 'live' | 'failure' | 'record' | 'previous' | 'none';
  header: string;
  text: string;
}

/**
 * A node's log: the live lines while it runs in this process; else its last failure when that is
 * newer than the build shown; else the stored log of its current (or previous) build.
 */
export async function nodeLog(env: { store: Store; root: string; graph: Graph; hub?: Hub }, id: string): Promise<LogView> {
  const node = env.graph.nodes.get(id)!;
  const stage = node.decl.stage.name;
  const view = env.hub?.views.get(id);
  const live = env.hub?.liveLogs.get(id);
  if (live && view?.state === 'running') return { source: 'live', header: `${id}: running (live log)`, text: live.text() };
  // current: true = its current build, false = an older one (stale now), null = its last build (not planned here).
  let shown: { record: BuildRecord; current: boolean | null } | null = null;
  if (env.hub) shown = await shownRecord({ hub: env.hub, store: env.store, root: env.root }, id);
  else {
    const key = readPointer(env.root, stage, id);
    const rec = key ? await env.store.getRecord(stage, key) : null;
    if (rec) shown = { record: rec, current: null };
  }
  const failure = readFailure(env.root, stage, id);
  if (failure && (!shown || failure.startedAt > shown.record.startedAt)) return { source: 'failure', header: failureHeader(failure), text: failureText(failure) };
  if (shown) {
    const r = shown.record;
    const header = `${id}: ${shown.current ? 'built' : shown.current === null ? 'last built' : 'previous build (stale now)'} ${r.startedAt} on ${r.host} in ${r.wallSeconds.toFixed(1)} s, key ${r.key.slice(0, 12)}`;
    const text = await readRecordLog(env.store, r);
    return { source: shown.current === false ? 'previous' : 'record', header, text: text ?? '(this build kept no log: it predates stored logs, or its log blob is gone)\n' };
  }
  if (live) return { source: 'live', header: `${id}: ${view?.state ?? 'log'} (this session)`, text: live.text() };
  return { source: 'none', header: `${id}: never built`, text: '' };
}

function failureHeader(f: FailureRecord): string {
  return `${f.nodeId}: ${f.interrupted ? 'INTERRUPTED' : 'FAILED'} ${f.startedAt} on ${f.host} after ${f.wallSeconds.toFixed(1)} s${f.key ? `, key ${f.key.slice(0, 12)}` : ''}`;
}

function failureText(f: FailureRecord): string {
  return f.log + (f.stack ? `\n${f.stack}\n` : '');
}

function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)) ?? 'null');
}

export async function nodeDetails(env: DetailsEnv, id: string) {
  const graph = env.hub.graph!;
  const node = graph.nodes.get(id)!;
  const view = env.hub.views.get(id) as NodeView;
  const a = await assessNode(graph, env.store, env.root, id);
  const shown = await shownRecord(env, id);
  const rec = shown?.record;
  const inputs: { name: string; node: string; path?: string; digest: string | null }[] = [];
  const digests = a.fingerprint?.inputs ?? rec?.inputDigests ?? {};
  for (const [name, value] of Object.entries(node.decl.inputs)) {
    const refs: InputRef[] = Array.isArray(value) ? value : [value];
    const d = digests[name];
    refs.forEach((r, i) => {
      const digest = Array.isArray(d) ? d[i] : d;
      inputs.push({ name: Array.isArray(value) ? `${name}[${i}]` : name, node: r.node, ...(r.kind === 'file' ? { path: r.path } : {}), digest: digest ?? null });
    });
  }
  const codeFiles = a.code.codeFiles;
  const log = await nodeLog({ ...env, graph }, id);
  const failure = readFailure(env.root, node.decl.stage.name, id);
  return {
    view,
    params: jsonSafe(node.params),
    explain: explainText(a),
    status: a.status,
    reasons: a.reasons,
    key: a.key,
    inputs,
    downstream: node.downstream,
    code: Object.entries(codeFiles)
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([file, digest]) => ({ file, digest })),
    warnings: a.code.warnings,
    build: rec
      ? {
          current: shown!.current,
          key: rec.key,
          startedAt: rec.startedAt,
          wallSeconds: rec.wallSeconds,
          host: rec.host,
          backend: typeof rec.meta.backend === 'string' ? rec.meta.backend : null,
          meta: jsonSafe(Object.fromEntries(Object.entries(rec.meta).filter(([k]) => k !== 'series'))),
          outputs: Object.entries(rec.outputs)
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([path, o]) => ({ path, size: o.size, digest: o.digest })),
        }
      : null,
    failure: failure ? { error: failure.error, startedAt: failure.startedAt, interrupted: failure.interrupted } : null,
    log,
  };
}

export interface FigureEntry {
  node: string;
  file: string;
  title: string;
  caption: string;
  section: string;
  key: string;
}

export interface SeriesChart {
  chart: string;
  x: string;
  y: string;
  logX: boolean;
  logY: boolean;
  lines: { name: string; points: [number, number][] }[];
}

function readJsonBlob<T>(path: string | null): T | null {
  if (!path) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/**
 * A figure node's manifest (titles, captions, sections of its SVGs): a top-level output named
 * `figures.json` or ending in `.figures.json` (e.g. `plot.figures.json`, so that nodes publishing
 * into one folder need not overwrite each other's).
 */
const isFigureManifest = (outputPath: string) => !outputPath.includes('/') && (outputPath === 'figures.json' || outputPath.endsWith('.figures.json'));

/** Figures (outputs of every node tagged 'figure'), per-group state counts and the charts of meta.series. */
export async function results(env: DetailsEnv) {
  const graph = env.hub.graph!;
  const figures: FigureEntry[] = [];
  for (const id of graph.order) {
    const node = graph.nodes.get(id)!;
    const rec = env.hub.records.get(id);
    if (!node.tags.has('figure') || !rec) continue;
    const manifestPath = Object.keys(rec.outputs).sort().find(isFigureManifest);
    const manifest = manifestPath ? readJsonBlob<{ file: string; title?: string; caption?: string; section?: string }[]>(await env.store.blobPath(rec.outputs[manifestPath].digest)) : null;
    const listed = Array.isArray(manifest) ? manifest.filter((m) => m && typeof m.file === 'string' && rec.outputs[m.file]) : [];
    const svgs = listed.length ? listed : Object.keys(rec.outputs).filter((p) => p.endsWith('.svg')).sort().map((file) => ({ file }));
    for (const m of svgs as { file: string; title?: string; caption?: string; section?: string }[]) {
      figures.push({ node: id, file: m.file, title: m.title ?? m.file, caption: m.caption ?? '', section: m.section ?? 'Figures', key: rec.key });
    }
  }
  const charts = new Map<string, SeriesChart>();
  const lines = new Map<string, Map<string, [number, number][]>>();
  for (const id of graph.order) {
    const series = env.hub.records.get(id)?.meta.series;
    if (!Array.isArray(series)) continue;
    for (const s of series as SeriesPoints[]) {
      if (!s || typeof s.chart !== 'string' || !Array.isArray(s.points)) continue;
      if (!charts.has(s.chart)) {
        charts.set(s.chart, { chart: s.chart, x: s.x ?? 'x', y: s.y ?? s.chart, logX: Boolean(s.logX), logY: Boolean(s.logY), lines: [] });
        lines.set(s.chart, new Map());
      }
      const name = s.line ?? withoutCoordinate(id, s.x ?? '');
      const byLine = lines.get(s.chart)!;
      const pts = byLine.get(name) ?? [];
      for (const p of s.points) if (Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1])) pts.push([p[0], p[1]]);
      byLine.set(name, pts);
    }
  }
  for (const [chart, byLine] of lines) {
    charts.get(chart)!.lines = [...byLine].map(([name, points]) => ({ name, points: points.sort((p, q) => p[0] - q[0]) }));
  }
  const groups = new Map<string, { group: string; first: string; stage: string; nodes: number; counts: Record<string, number>; wallSeconds: number }>();
  for (const v of env.hub.views.values()) {
    const g = groups.get(v.group) ?? { group: v.group, first: v.id, stage: v.stage, nodes: 0, counts: {}, wallSeconds: 0 };
    g.nodes++;
    g.counts[v.state] = (g.counts[v.state] ?? 0) + 1;
    g.wallSeconds += env.hub.records.get(v.id)?.wallSeconds ?? 0;
    groups.set(v.group, g);
  }
  return { figures, charts: [...charts.values()], groups: [...groups.values()] };
}
