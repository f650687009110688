// The dashboard client: graph (dagre layout, collapsible groups, live states), node page and
// results page, kept current by server-sent events. Bundled with esbuild when the server starts.
import dagre from '@dagrejs/dagre';
import { scaleLinear, scaleLog } from 'd3-scale';
import { line as d3line, curveBasis, curveMonotoneX } from 'd3-shape';

type NodeState = 'fresh' | 'stale' | 'running' | 'built' | 'failed' | 'skipped';
interface ProgressView { done: number; total: number; unit?: string; rate?: number; eta?: number }
interface NodeView {
  id: string; stage: string; group: string; label: string; tags: string[]; upstream: string[]; heavy: boolean;
  state: NodeState; reasons: string[]; key: string | null; error?: string; seconds?: number; progress?: ProgressView; since?: number; runner?: string;
}
interface RunView { active: boolean; total: number; finished: number; startedAt: number | null; built: number; cached: number; failed: number; skipped: number; seconds?: number }
interface LogLine { t: number; level: string; msg: string }
interface StateResponse { config: string; version: number; run: RunView; problem: string | null; nodes: NodeView[] }

const STATES: { state: NodeState; label: string }[] = [
  { state: 'fresh', label: 'up to date' },
  { state: 'built', label: 'built this run' },
  { state: 'running', label: 'running' },
  { state: 'stale', label: 'stale' },
  { state: 'failed', label: 'failed' },
  { state: 'skipped', label: 'skipped' },
];
const SVG_NS = 'http://www.w3.org/2000/svg';
// Groups larger than this start collapsed; the user's choice is kept for the session.
const COLLAPSE_ABOVE = 4;
const NODE_W = 210;
const NODE_H = 40;
const GROUP_W = 250;
const GROUP_H = 66;

let nodes = new Map<string, NodeView>();
let run: RunView | null = null;
let configFile = '';
const collapsed = new Map<string, boolean>();
let rendered: { groupsShown: Map<string, string[]> } | null = null;
let view: 'graph' | 'node' | 'results' = 'graph';
let nodePageId: string | null = null;
let transform = { x: 0, y: 0, k: 1 };
let fitted = false;
let graphSize = { width: 0, height: 0 };

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    // Through the CSSOM: the page's CSP forbids inline style attributes.
    if (k === 'style') for (const decl of v.split(';')) { const [p, x] = decl.split(':'); if (p && x) e.style.setProperty(p.trim(), x.trim()); }
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const nodeHref = (id: string) => `/node?id=${encodeURIComponent(id)}`;
const fileHref = (node: string, path: string) => `/api/file?node=${encodeURIComponent(node)}&path=${encodeURIComponent(path)}`;

function progressText(p: ProgressView): string {
  const pct = p.total > 0 ? `${Math.floor((100 * p.done) / p.total)}%` : '';
  const eta = p.eta !== undefined && Number.isFinite(p.eta) ? ` · ETA ${seconds(p.eta)}` : '';
  return `${pct} ${p.done}/${p.total}${p.unit ? ` ${p.unit}` : ''}${eta}`.trim();
}

function subtitle(n: NodeView): string {
  switch (n.state) {
    case 'running':
      return n.progress ? progressText(n.progress) : n.runner ? `running in ${n.runner}` : 'running…';
    case 'stale':
      // "upstream X will be rebuilt" on every downstream node says little: the root cause is upstream.
      return n.reasons.every((r) => r.startsWith('upstream ')) && n.reasons.length ? 'after its upstream' : n.reasons[0] ?? 'stale';
    case 'failed':
    case 'skipped':
      return n.error ?? n.state;
    default:
      return `${n.stage}${n.seconds !== undefined ? ` · ${seconds(n.seconds)}` : ''}`;
  }
}

// ───────────────────────────── graph ─────────────────────────────

function groupsOf(): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const n of nodes.values()) {
    const list = groups.get(n.group) ?? [];
    list.push(n.id);
    groups.set(n.group, list);
  }
  return groups;
}

function isCollapsed(group: string, size: number): boolean {
  return collapsed.get(group) ?? size > COLLAPSE_ABOVE;
}

function counts(ids: string[]): Map<NodeState, number> {
  const c = new Map<NodeState, number>();
  for (const id of ids) {
    const s = nodes.get(id)!.state;
    c.set(s, (c.get(s) ?? 0) + 1);
  }
  return c;
}

function renderGraph(): void {
  const groups = groupsOf();
  const g = new dagre.graphlib.Graph({ compound: true });
  g.setGraph({ rankdir: 'LR', nodesep: 16, ranksep: 64, marginx: 28, marginy: 28 });
  g.setDefaultEdgeLabel(() => ({}));
  const rep = new Map<string, string>();
  for (const [group, ids] of groups) {
    if (ids.length > 1 && isCollapsed(group, ids.length)) {
      g.setNode(`g:${group}`, { width: GROUP_W, height: GROUP_H });
      ids.forEach((id) => rep.set(id, `g:${group}`));
    } else {
      for (const id of ids) {
        g.setNode(`n:${id}`, { width: NODE_W, height: NODE_H });
        if (ids.length > 1) g.setParent(`n:${id}`, `c:${group}`);
        rep.set(id, `n:${id}`);
      }
      if (ids.length > 1) g.setNode(`c:${group}`, { paddingTop: 20 });
    }
  }
  for (const n of nodes.values()) {
    for (const u of n.upstream) {
      const a = rep.get(u);
      const b = rep.get(n.id)!;
      if (a && a !== b && !g.hasEdge(a, b)) g.setEdge(a, b);
    }
  }
  dagre.layout(g);
  rendered = { groupsShown: groups };
  const root = $('graph') as unknown as SVGSVGElement;
  root.replaceChildren();
  const defs = svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,1 L9,5 L0,9 z', class: 'arrowhead' })));
  const vp = svg('g', { id: 'viewport' });
  root.append(defs, vp);
  const layers = { clusters: svg('g'), edges: svg('g', { class: 'edges' }), nodes: svg('g') };
  vp.append(layers.clusters, layers.edges, layers.nodes);
  for (const v of g.nodes()) {
    const box = g.node(v) as { x: number; y: number; width: number; height: number };
    if (v.startsWith('c:')) layers.clusters.append(clusterEl(v.slice(2), groups.get(v.slice(2))!, box));
    else if (v.startsWith('g:')) layers.nodes.append(groupEl(v.slice(2), groups.get(v.slice(2))!, box));
    else layers.nodes.append(nodeEl(nodes.get(v.slice(2))!, box));
  }
  const path = d3line<{ x: number; y: number }>().x((p) => p.x).y((p) => p.y).curve(curveBasis);
  for (const e of g.edges()) {
    const pts = (g.edge(e) as { points: { x: number; y: number }[] }).points;
    layers.edges.append(svg('path', { d: path(pts) ?? '', class: 'edge', 'marker-end': 'url(#arrow)', 'data-from': e.v, 'data-to': e.w }));
  }
  const size = g.graph() as { width?: number; height?: number };
  graphSize = { width: size.width ?? 0, height: size.height ?? 0 };
  if (!fitted) fit();
  applyTransform();
}

function nodeEl(n: NodeView, box: { x: number; y: number; width: number; height: number }): SVGGElement {
  const x = box.x - box.width / 2;
  const y = box.y - box.height / 2;
  const grp = svg('g', { class: 'node', transform: `translate(${x},${y})`, 'data-node': n.id, 'data-state': n.state, tabindex: 0, role: 'link' });
  const title = svg('title');
  grp.append(
    title,
    svg('rect', { class: 'box', width: box.width, height: box.height, rx: 7 }),
    svg('rect', { class: 'strip', width: 6, height: box.height, rx: 3 }),
    svg('text', { class: 'title', x: 14, y: 16 }),
    svg('text', { class: 'sub', x: 14, y: 31 }),
    svg('rect', { class: 'pbar-bg', x: 14, y: box.height - 5, width: box.width - 22, height: 3, rx: 1.5 }),
    svg('rect', { class: 'pbar', x: 14, y: box.height - 5, width: 0, height: 3, rx: 1.5 }),
  );
  grp.addEventListener('click', () => navigate(nodeHref(n.id)));
  grp.addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter') navigate(nodeHref(n.id));
  });
  updateNodeEl(grp, n, box.width);
  return grp;
}

function fitText(s: string, width: number, charW: number): string {
  const max = Math.floor(width / charW);
  return s.length > max ? `${s.slice(0, Math.max(1, max - 1))}…` : s;
}

function updateNodeEl(grp: SVGGElement, n: NodeView, width = NODE_W): void {
  grp.setAttribute('data-state', n.state);
  grp.setAttribute('class', `node s-${n.state}`);
  const grouped = (rendered?.groupsShown.get(n.group)?.length ?? 1) > 1;
  const [title, , , t1, t2, pbg, pbar] = grp.children as unknown as SVGElement[];
  title.textContent = `${n.id}\n${n.state}${n.reasons.length ? `: ${n.reasons.join('; ')}` : ''}${n.error ? `\n${n.error}` : ''}`;
  t1.textContent = fitText(grouped ? n.label : n.id, width - 22, 7.1);
  t2.textContent = fitText(subtitle(n), width - 22, 6.1);
  const p = n.state === 'running' ? n.progress : undefined;
  const frac = p && p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  pbg.setAttribute('visibility', n.state === 'running' ? 'visible' : 'hidden');
  pbar.setAttribute('visibility', n.state === 'running' ? 'visible' : 'hidden');
  pbar.setAttribute('width', String(frac * (width - 22)));
}

function clusterEl(group: string, ids: string[], box: { x: number; y: number; width: number; height: number }): SVGGElement {
  const x = box.x - box.width / 2;
  const y = box.y - box.height / 2;
  const c = counts(ids);
  const grp = svg('g', { class: 'cluster', 'data-cluster': group });
  const label = svg('text', { class: 'cluster-label', x: x + 10, y: y + 15 }, svg('title', {}, 'collapse'), `▾ ${fitText(group, box.width - 30, 7)}`);
  const summary = svg('text', { class: 'cluster-count', x: x + 10, y: y + box.height - 7 }, countLine(c, ids.length, true));
  grp.append(svg('rect', { class: 'cluster-box', x, y, width: box.width, height: box.height, rx: 10 }), label, summary);
  label.addEventListener('click', () => {
    collapsed.set(group, true);
    renderGraph();
  });
  return grp;
}

function countLine(c: Map<NodeState, number>, total: number, short = false): string {
  const parts = STATES.filter((s) => c.get(s.state)).map((s) => `${c.get(s.state)} ${short ? s.state : s.label}`);
  return short ? parts.join(' · ') : `${total} nodes · ${parts.join(' · ')}`;
}

function groupEl(group: string, ids: string[], box: { x: number; y: number; width: number; height: number }): SVGGElement {
  const x = box.x - box.width / 2;
  const y = box.y - box.height / 2;
  const grp = svg('g', { class: 'group', transform: `translate(${x},${y})`, 'data-group': group, tabindex: 0, role: 'button' });
  grp.append(
    svg('title', {}, `${group}: ${ids.length} nodes — click to expand`),
    svg('rect', { class: 'stack', x: 6, y: -6, width: box.width, height: box.height, rx: 9 }),
    svg('rect', { class: 'stack', x: 3, y: -3, width: box.width, height: box.height, rx: 9 }),
    svg('rect', { class: 'box', width: box.width, height: box.height, rx: 9 }),
    svg('text', { class: 'title', x: 14, y: 19 }, fitText(group, box.width - 60, 7.1)),
    svg('text', { class: 'badge', x: box.width - 12, y: 19, 'text-anchor': 'end' }, `×${ids.length}`),
    svg('g', { class: 'bar', transform: `translate(14,29)` }),
    svg('text', { class: 'sub', x: 14, y: 56 }),
  );
  const toggle = () => {
    collapsed.set(group, false);
    renderGraph();
  };
  grp.addEventListener('click', toggle);
  grp.addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter') toggle();
  });
  updateGroupEl(grp, ids, box.width);
  return grp;
}

function updateGroupEl(grp: SVGGElement, ids: string[], width = GROUP_W): void {
  const c = counts(ids);
  const bar = grp.querySelector('.bar')!;
  bar.replaceChildren();
  const w = width - 28;
  let x = 0;
  for (const s of STATES) {
    const k = c.get(s.state) ?? 0;
    if (!k) continue;
    const seg = (k / ids.length) * w;
    bar.append(svg('rect', { class: `seg s-${s.state}`, x, y: 0, width: Math.max(seg, 2), height: 8 }));
    x += seg;
  }
  const running = ids.map((id) => nodes.get(id)!).filter((n) => n.state === 'running');
  const sub = grp.querySelector('.sub')!;
  sub.textContent = fitText(running.length === 1 && running[0].progress ? `${running[0].label}: ${progressText(running[0].progress)}` : countLine(c, ids.length, true), width - 28, 6.1);
  grp.setAttribute('data-counts', STATES.filter((s) => c.get(s.state)).map((s) => `${s.state}=${c.get(s.state)}`).join(','));
  grp.classList.toggle('has-running', running.length > 0);
  grp.classList.toggle('has-failed', (c.get('failed') ?? 0) > 0);
}

function updateNodeInGraph(n: NodeView): void {
  if (!rendered) return;
  const shown = rendered.groupsShown.get(n.group);
  if (!shown || !shown.includes(n.id)) return renderGraph(); // the graph changed shape
  const nodeG = document.querySelector<SVGGElement>(`g.node[data-node="${CSS.escape(n.id)}"]`);
  if (nodeG) updateNodeEl(nodeG, n, Number(nodeG.querySelector('.box')!.getAttribute('width')));
  const groupG = document.querySelector<SVGGElement>(`g.group[data-group="${CSS.escape(n.group)}"]`);
  if (groupG) updateGroupEl(groupG, shown, Number(groupG.querySelector('.box')!.getAttribute('width')));
  const cluster = document.querySelector<SVGGElement>(`g.cluster[data-cluster="${CSS.escape(n.group)}"] .cluster-count`);
  if (cluster) cluster.textContent = countLine(counts(shown), shown.length, true);
}

function applyTransform(): void {
  document.getElementById('viewport')?.setAttribute('transform', `translate(${transform.x},${transform.y}) scale(${transform.k})`);
}

function fit(): void {
  const canvas = $('canvas');
  const w = canvas.clientWidth || 1200;
  const h = canvas.clientHeight || 700;
  if (!graphSize.width || !graphSize.height) return;
  const k = Math.min(1.25, Math.max(0.2, Math.min(w / graphSize.width, h / graphSize.height)));
  transform = { k, x: (w - graphSize.width * k) / 2, y: Math.max(0, (h - graphSize.height * k) / 2) };
  fitted = true;
  applyTransform();
}

function setupPanZoom(): void {
  const canvas = $('canvas');
  canvas.addEventListener(
    'wheel',
    (ev) => {
      ev.preventDefault();
      const r = canvas.getBoundingClientRect();
      const mx = ev.clientX - r.left;
      const my = ev.clientY - r.top;
      const k = Math.min(3, Math.max(0.1, transform.k * Math.exp(-ev.deltaY * 0.0015)));
      transform = { k, x: mx - ((mx - transform.x) * k) / transform.k, y: my - ((my - transform.y) * k) / transform.k };
      applyTransform();
    },
    { passive: false },
  );
  let drag: { x: number; y: number; tx: number; ty: number; moved: boolean } | null = null;
  canvas.addEventListener('pointerdown', (ev) => {
    if ((ev.target as Element).closest('g.node, g.group, .cluster-label')) return;
    drag = { x: ev.clientX, y: ev.clientY, tx: transform.x, ty: transform.y, moved: false };
    canvas.setPointerCapture(ev.pointerId);
    canvas.classList.add('dragging');
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    transform.x = drag.tx + ev.clientX - drag.x;
    transform.y = drag.ty + ev.clientY - drag.y;
    applyTransform();
  });
  const end = () => {
    drag = null;
    canvas.classList.remove('dragging');
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  $('fit').addEventListener('click', fit);
  $('expand-all').addEventListener('click', () => {
    for (const g of groupsOf().keys()) collapsed.set(g, false);
    fitted = false;
    renderGraph();
  });
  $('collapse-all').addEventListener('click', () => {
    for (const [g, ids] of groupsOf()) if (ids.length > 1) collapsed.set(g, true);
    fitted = false;
    renderGraph();
  });
}

function renderLegend(): void {
  const legend = $('legend');
  legend.replaceChildren(
    ...STATES.map((s) => el('span', { class: `key s-${s.state}` }, el('i'), s.label)),
    el('span', { class: 'hint' }, 'click a stack to expand it · drag to pan · wheel to zoom'),
  );
}

// ───────────────────────────── header ─────────────────────────────

function renderRun(): void {
  const box = $('run');
  const all = [...nodes.values()];
  const c = new Map<NodeState, number>();
  for (const n of all) c.set(n.state, (c.get(n.state) ?? 0) + 1);
  box.replaceChildren();
  if (run?.active) {
    const frac = run.total ? run.finished / run.total : 0;
    const elapsed = run.startedAt ? (Date.now() - run.startedAt) / 1000 : 0;
    box.append(
      el('span', { class: 'pulse' }),
      el('span', { class: 'run-text' }, `Building · ${run.finished}/${run.total} · built ${run.built}${run.failed ? ` · failed ${run.failed}` : ''} · ${seconds(elapsed)}`),
      el('span', { class: 'run-bar' }, el('span', { style: `width:${(frac * 100).toFixed(1)}%` })),
    );
    box.dataset.active = 'true';
  } else {
    delete box.dataset.active;
    const stale = c.get('stale') ?? 0;
    const failed = c.get('failed') ?? 0;
    const text = run && run.seconds !== undefined
      ? `Last run: built ${run.built}, cached ${run.cached}${run.failed ? `, failed ${run.failed}` : ''}${run.skipped ? `, skipped ${run.skipped}` : ''} in ${seconds(run.seconds)}`
      : stale || failed ? `${stale} stale${failed ? ` · ${failed} failed` : ''} of ${all.length}` : `All ${all.length} nodes up to date`;
    box.append(el('span', { class: 'run-text' }, text));
  }
}

// ───────────────────────────── node page ─────────────────────────────

interface NodeDetails {
  view: NodeView;
  params: unknown;
  explain: string;
  status: string;
  reasons: string[];
  key: string | null;
  inputs: { name: string; node: string; path?: string; digest: string | null }[];
  downstream: string[];
  code: { file: string; digest: string }[];
  warnings: string[];
  build: null | { current: boolean; key: string; startedAt: string; wallSeconds: number; host: string; backend: string | null; meta: Record<string, unknown>; outputs: { path: string; size: number; digest: string }[] };
  failure: null | { error: string; startedAt: string; interrupted: boolean };
  log: { source: string; header: string; text: string };
}

function flatten(v: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.push([prefix, '{}']);
    for (const [k, x] of entries) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix || '(value)', JSON.stringify(v)]);
  return out;
}

function table(head: string[], rows: (Node | string)[][], cls = ''): HTMLTableElement {
  return el(
    'table',
    { class: cls },
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))),
  );
}

const link = (href: string, text: string, cls = '') => el('a', { href, 'data-nav': '', ...(cls ? { class: cls } : {}) }, text);
const code = (text: string, cls = '') => el('code', cls ? { class: cls } : {}, text);
const section = (title: string, ...children: (Node | null)[]) => el('section', { class: 'card' }, el('h2', {}, title), ...children);

let nodeLoad = 0;
async function renderNodePage(id: string): Promise<void> {
  const page = $('node-view');
  const ticket = ++nodeLoad;
  if (!page.querySelector(`[data-page-node="${CSS.escape(id)}"]`)) page.replaceChildren(el('p', { class: 'muted' }, `Loading ${id}…`));
  const res = await fetch(`/api/node?id=${encodeURIComponent(id)}`);
  if (ticket !== nodeLoad) return;
  if (!res.ok) {
    page.replaceChildren(el('div', { class: 'empty' }, el('h1', {}, 'No such node'), el('p', {}, id), link('/', '← back to the graph')));
    return;
  }
  const d = (await res.json()) as NodeDetails;
  if (ticket !== nodeLoad) return;
  const n = nodes.get(id) ?? d.view;
  const state = STATES.find((s) => s.state === n.state)!;
  const header = el(
    'div',
    { class: 'node-head', 'data-page-node': id },
    el('div', { class: 'crumbs' }, link('/', 'Graph'), ' / ', el('span', {}, n.group)),
    el('h1', {}, n.id),
    el('div', { class: 'meta-line' }, el('span', { class: `pill s-${n.state}`, 'data-state': n.state, id: 'node-state' }, state.label), el('span', {}, `stage ${n.stage}`), n.tags.filter((t) => t !== n.stage).length ? el('span', {}, `tags ${n.tags.filter((t) => t !== n.stage).join(', ')}`) : null, d.key ? el('span', {}, 'key ', code(d.key.slice(0, 16))) : null),
  );
  const running = el('div', { id: 'node-progress', class: 'node-progress' });
  const why = section(
    d.status === 'fresh' ? 'Up to date' : n.state === 'running' ? 'Why it is being built' : 'Why it is stale',
    d.reasons.length ? el('ul', { class: 'reasons' }, ...d.reasons.map((r) => el('li', {}, r))) : null,
    el('details', {}, el('summary', {}, 'explain (as --explain prints it)'), el('pre', { class: 'explain' }, d.explain)),
  );
  const params = section('Params', table(['param', 'value'], flatten(d.params).map(([k, v]) => [code(k), code(v)]), 'kv'));
  const inputs = section(
    'Inputs',
    d.inputs.length
      ? table(['input', 'from', 'file', 'digest'], d.inputs.map((i) => [i.name, link(nodeHref(i.node), i.node), i.path ? code(i.path) : '(all outputs)', i.digest ? code(i.digest.slice(0, 12), 'digest') : '—']))
      : el('p', { class: 'muted' }, 'none: a source node'),
    d.downstream.length ? el('p', { class: 'muted small' }, `used by ${d.downstream.length} node${d.downstream.length > 1 ? 's' : ''}: `, ...d.downstream.slice(0, 12).flatMap((x, i) => [i ? ', ' : '', link(nodeHref(x), x)]), d.downstream.length > 12 ? ' …' : '') : null,
  );
  const b = d.build;
  const build = section(
    b ? (b.current ? 'Build' : 'Previous build (stale now)') : 'Build',
    b
      ? table([], [
          ['started', new Date(b.startedAt).toLocaleString()],
          ['wall time', seconds(b.wallSeconds)],
          ['backend', b.backend ?? '—'],
          ['host', b.host],
          ['key', code(b.key)],
          ...Object.entries(b.meta).filter(([k]) => k !== 'backend').map(([k, v]) => [k, code(JSON.stringify(v).slice(0, 200))]),
        ], 'kv')
      : el('p', { class: 'muted' }, d.failure ? `${d.failure.interrupted ? 'interrupted' : 'failed'}: ${d.failure.error}` : 'never built'),
  );
  const outputs = b
    ? section(
        `Outputs (${b.outputs.length})`,
        table(['file', 'size', 'digest'], b.outputs.map((o) => [el('a', { href: fileHref(id, o.path), target: '_blank', rel: 'noopener' }, o.path), bytes(o.size), code(o.digest.slice(0, 12), 'digest')])),
        el('div', { class: 'thumbs' }, ...b.outputs.filter((o) => o.path.endsWith('.svg')).slice(0, 12).map((o) => el('figure', {}, el('img', { src: fileHref(id, o.path), alt: o.path, loading: 'lazy' }), el('figcaption', {}, o.path)))),
      )
    : null;
  const codeCard = section(
    `Code (${d.code.length} entries in its digest)`,
    el('details', {}, el('summary', {}, 'files and packages'), table(['file', 'digest'], d.code.map((c) => [code(c.file), code(c.file.startsWith('npm:') ? c.digest : c.digest.slice(0, 12), 'digest')]))),
    ...d.warnings.map((w) => el('p', { class: 'warn' }, w)),
  );
  const log = section('Log', el('div', { class: 'log-head', id: 'log-head' }, d.log.header), el('pre', { class: 'log', id: 'node-log' }, d.log.text || '(empty)'));
  page.replaceChildren(header, running, el('div', { class: 'grid' }, el('div', { class: 'col' }, why, params, inputs, codeCard), el('div', { class: 'col' }, build, outputs, log)));
  updateNodeProgress(n);
  const pre = $('node-log');
  pre.scrollTop = pre.scrollHeight;
}

function updateNodeProgress(n: NodeView): void {
  const box = document.getElementById('node-progress');
  if (!box) return;
  box.replaceChildren();
  if (n.state !== 'running') return;
  const p = n.progress;
  const frac = p && p.total > 0 ? p.done / p.total : 0;
  box.append(el('div', { class: 'big-bar' }, el('span', { style: `width:${(frac * 100).toFixed(1)}%` })), el('div', { class: 'muted' }, p ? progressText(p) : n.runner ? `running in ${n.runner}` : 'running…'));
}

// ───────────────────────────── results ─────────────────────────────

interface Results {
  figures: { node: string; file: string; title: string; caption: string; section: string; key: string }[];
  charts: { chart: string; x: string; y: string; logX: boolean; logY: boolean; lines: { name: string; points: [number, number][] }[] }[];
  groups: { group: string; first: string; stage: string; nodes: number; counts: Record<string, number>; wallSeconds: number }[];
}

const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626', '#475569'];

function chartEl(c: Results['charts'][number]): SVGSVGElement {
  const W = 460;
  const H = 260;
  const m = { l: 56, r: 14, t: 14, b: 40 };
  const pts = c.lines.flatMap((l) => l.points).filter((p) => (!c.logX || p[0] > 0) && (!c.logY || p[1] > 0));
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': c.chart });
  if (pts.length === 0) return root;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const xd: [number, number] = [Math.min(...xs), Math.max(...xs)];
  const yd: [number, number] = [Math.min(...ys), Math.max(...ys)];
  if (xd[0] === xd[1]) xd[1] = xd[0] + 1;
  if (yd[0] === yd[1]) yd[1] = yd[0] + 1;
  const x = (c.logX ? scaleLog() : scaleLinear()).domain(xd).range([m.l, W - m.r]);
  const y = (c.logY ? scaleLog() : scaleLinear()).domain(yd).range([H - m.b, m.t]).nice();
  const axes = svg('g', { class: 'axes' });
  for (const t of y.ticks(5)) {
    const label = y.tickFormat(5, '~g')(t);
    if (!label) continue;
    axes.append(svg('line', { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t), class: 'gridline' }), svg('text', { x: m.l - 6, y: y(t) + 4, 'text-anchor': 'end' }, label));
  }
  for (const t of x.ticks(c.logX ? 4 : 6)) {
    const label = x.tickFormat(c.logX ? 4 : 6, '~g')(t);
    if (!label) continue;
    axes.append(svg('line', { x1: x(t), x2: x(t), y1: H - m.b, y2: H - m.b + 4, class: 'tick' }), svg('text', { x: x(t), y: H - m.b + 16, 'text-anchor': 'middle' }, label));
  }
  axes.append(svg('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, c.x));
  axes.append(svg('text', { x: 14, y: (m.t + H - m.b) / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})` }, c.y));
  root.append(axes);
  const path = d3line<[number, number]>().x((p) => x(p[0])).y((p) => y(p[1])).curve(curveMonotoneX);
  c.lines.forEach((l, i) => {
    const p = l.points.filter((q) => (!c.logX || q[0] > 0) && (!c.logY || q[1] > 0));
    const color = PALETTE[i % PALETTE.length];
    root.append(svg('path', { d: path(p) ?? '', class: 'series', stroke: color }));
    if (p.length < 60) for (const q of p) root.append(svg('circle', { cx: x(q[0]), cy: y(q[1]), r: 2.6, fill: color }));
  });
  return root;
}

let resultsLoad = 0;
async function renderResults(): Promise<void> {
  const page = $('results-view');
  const ticket = ++resultsLoad;
  const r = (await (await fetch('/api/results')).json()) as Results;
  if (ticket !== resultsLoad) return;
  const sections = new Map<string, Results['figures']>();
  for (const f of r.figures) sections.set(f.section, [...(sections.get(f.section) ?? []), f]);
  const figs = r.figures.length
    ? [...sections].map(([name, list]) =>
        el('section', { class: 'fig-section' }, el('h2', {}, name), el('div', { class: 'figures' }, ...list.map((f) => el('figure', { class: 'card fig', 'data-figure': `${f.node}/${f.file}` }, el('img', { src: `${fileHref(f.node, f.file)}&k=${f.key.slice(0, 12)}`, alt: f.title }), el('figcaption', {}, el('strong', {}, f.title), f.caption ? el('span', {}, ` ${f.caption}`) : null, el('div', { class: 'small muted' }, link(nodeHref(f.node), f.node))))))),
      )
    : [el('p', { class: 'muted' }, 'No figures yet: they appear here as figure nodes finish.')];
  const charts = r.charts.length
    ? el('div', { class: 'charts' }, ...r.charts.map((c) => el('figure', { class: 'card chart-card', 'data-chart': c.chart }, el('figcaption', {}, el('strong', {}, c.chart), el('div', { class: 'chart-legend' }, ...c.lines.map((l, i) => el('span', {}, el('i', { style: `background:${PALETTE[i % PALETTE.length]}` }), `${l.name} (${l.points.length})`)))), chartEl(c))))
    : el('p', { class: 'muted' }, 'No series yet: stages that return meta.series are charted here as their nodes finish.');
  const stageTable = table(
    ['group', 'stage', 'nodes', 'state', 'wall time'],
    r.groups.map((g) => [
      g.nodes > 1 ? g.group : link(nodeHref(g.first), g.first),
      g.stage,
      String(g.nodes),
      el('span', { class: 'pills' }, ...STATES.filter((s) => g.counts[s.state]).map((s) => el('span', { class: `pill s-${s.state}` }, `${g.counts[s.state]} ${s.label}`))),
      g.wallSeconds > 0 ? seconds(g.wallSeconds) : '—',
    ]),
    'stages',
  );
  page.replaceChildren(el('h1', {}, 'Results'), ...figs, el('h2', {}, 'Curves'), charts, el('h2', {}, 'Stages'), el('div', { class: 'card' }, stageTable));
}

// ───────────────────────────── routing and live updates ─────────────────────────────

function route(): void {
  const path = location.pathname;
  view = path === '/results' ? 'results' : path === '/node' ? 'node' : 'graph';
  for (const v of ['graph', 'node', 'results']) $(`${v}-view`).hidden = v !== view;
  document.querySelectorAll<HTMLAnchorElement>('nav.tabs a').forEach((a) => a.classList.toggle('active', a.dataset.tab === view));
  if (view === 'node') {
    nodePageId = new URLSearchParams(location.search).get('id');
    document.title = `${nodePageId} · stagewise`;
    if (nodePageId) void renderNodePage(nodePageId);
  } else {
    nodePageId = null;
    document.title = view === 'results' ? 'Results · stagewise' : 'stagewise';
    if (view === 'results') void renderResults();
    if (view === 'graph') {
      renderGraph();
    }
  }
}

function navigate(href: string): void {
  history.pushState(null, '', href);
  route();
  window.scrollTo(0, 0);
}

async function loadState(): Promise<void> {
  const s = (await (await fetch('/api/state')).json()) as StateResponse;
  nodes = new Map(s.nodes.map((n) => [n.id, n]));
  run = s.run;
  configFile = s.config;
  $('config').textContent = configFile;
  showProblem(s.problem);
  renderRun();
}

function showProblem(msg: string | null): void {
  const box = $('problem');
  box.hidden = !msg;
  box.textContent = msg ? `The config cannot be planned; showing the last good plan.\n${msg}` : '';
}

const throttled = (fn: () => void, ms: number) => {
  let timer: number | null = null;
  return () => {
    if (timer !== null) return;
    timer = window.setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
};
const refreshNodePage = throttled(() => nodePageId && void renderNodePage(nodePageId), 400);
const refreshResults = throttled(() => view === 'results' && void renderResults(), 500);

function connect(): void {
  const es = new EventSource('/api/events');
  let version = -1;
  es.addEventListener('hello', (ev) => {
    const v = JSON.parse((ev as MessageEvent).data).version as number;
    // A reconnect after a server restart or a re-plan missed while away: reload everything.
    if (v !== version) {
      version = v;
      void loadState().then(route);
    }
  });
  es.addEventListener('plan', (ev) => {
    version = JSON.parse((ev as MessageEvent).data).version;
    void loadState().then(() => {
      if (view === 'graph') renderGraph();
      else if (view === 'node') refreshNodePage();
      else refreshResults();
    });
  });
  es.addEventListener('node', (ev) => {
    const n = (JSON.parse((ev as MessageEvent).data) as { node: NodeView }).node;
    const prev = nodes.get(n.id);
    nodes.set(n.id, n);
    renderRun();
    if (view === 'graph') updateNodeInGraph(n);
    if (view === 'node' && nodePageId === n.id) {
      if (prev?.state !== n.state) refreshNodePage();
      else updateNodeProgress(n);
    }
    if (view === 'results' && prev?.state !== n.state && (n.state === 'built' || n.state === 'fresh' || n.state === 'stale')) refreshResults();
  });
  es.addEventListener('log', (ev) => {
    const { id, line } = JSON.parse((ev as MessageEvent).data) as { id: string; line: LogLine };
    if (view !== 'node' || nodePageId !== id) return;
    const pre = document.getElementById('node-log');
    if (!pre) return;
    if (pre.textContent === '(empty)') pre.textContent = '';
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.textContent += `${(line.t / 1000).toFixed(1).padStart(7)}s  ${line.level.padEnd(5)} ${line.msg}\n`;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  es.addEventListener('run', (ev) => {
    run = (JSON.parse((ev as MessageEvent).data) as { run: RunView }).run;
    renderRun();
  });
  es.addEventListener('problem', (ev) => showProblem((JSON.parse((ev as MessageEvent).data) as { message: string | null }).message));
}

document.addEventListener('click', (ev) => {
  const a = (ev.target as Element).closest('a[data-nav]') as HTMLAnchorElement | null;
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(a.getAttribute('href')!);
});
window.addEventListener('popstate', route);
window.addEventListener('resize', throttled(() => view === 'graph' && !document.hidden && fit(), 200));
setInterval(() => run?.active && renderRun(), 1000);

renderLegend();
setupPanZoom();
connect();
