// figures/index.html: every figure inline (self-contained, no external files), the detected
// stage tables, and where the numbers came from.
import { format } from 'd3-format';
import { esc } from './svg.ts';

export interface ReportFigure {
  /** Output file name, e.g. lr-fig1-top.svg. */
  file: string;
  title: string;
  caption?: string;
  svg: string;
  /** Groups the page (the manifest's `section`, docs/figures.md "The manifest"); figures without one go under DEFAULT_SECTION. */
  section?: string;
  /** Rendered as an HTML table instead of the SVG. */
  table?: { columns: string[]; rows: string[][] };
}

export const DEFAULT_SECTION = 'Figures';

export interface StageTable {
  /** Whose stages, e.g. "seed 0". */
  label: string;
  stages: { label: string; start: number; end: number; type: string }[];
  boundaries: { step: number; llc: number | null; loss: number | null }[];
}

export interface ProvenanceNode {
  id: string;
  key?: string;
  wallSeconds?: number;
}

export interface Provenance {
  config?: string;
  backend?: string;
  date?: string;
  nodes?: ProvenanceNode[];
}

/** Clip-path ids must be unique in one HTML document: prefix each inlined SVG's ids. */
export function prefixIds(svg: string, prefix: string): string {
  return svg.replace(/\bid="([^"]+)"/g, `id="${prefix}$1"`).replace(/url\(#([^)]+)\)/g, `url(#${prefix}$1)`);
}

const fixed = (digits: number) => (v: number | null) => (v === null || !Number.isFinite(v) ? '–' : format(`.${digits}f`)(v));
const seconds = (s: number) => (s < 90 ? `${s.toFixed(1)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`);

function stageTableHtml(t: StageTable): string {
  const stageRows = t.stages
    .map((s) => `<tr><td>${esc(s.label)}</td><td>${s.start}</td><td>${s.end}</td><td>${esc(s.type)}</td></tr>`)
    .join('');
  const boundaryRows = t.boundaries
    .map((b) => `<tr><td>${b.step}</td><td>${fixed(1)(b.llc)}</td><td>${fixed(3)(b.loss)}</td></tr>`)
    .join('');
  return `<h3>${esc(t.label)}</h3>
<div class="tables">
<table><caption>Stages</caption><thead><tr><th>stage</th><th>start</th><th>end</th><th>type</th></tr></thead><tbody>${stageRows}</tbody></table>
<table><caption>Boundaries</caption><thead><tr><th>step</th><th>LLC λ̂</th><th>test loss</th></tr></thead><tbody>${boundaryRows || '<tr><td colspan="3">none detected</td></tr>'}</tbody></table>
</div>`;
}

function provenanceHtml(p: Provenance): string {
  const facts = [
    ['Config', p.config],
    ['Backend', p.backend],
    ['Built', p.date],
  ]
    .filter(([, v]) => v)
    .map(([k, v]) => `<tr><th>${k}</th><td>${esc(String(v))}</td></tr>`)
    .join('');
  const nodes = (p.nodes ?? [])
    .map((n) => `<tr><td>${esc(n.id)}</td><td><code>${esc(n.key?.slice(0, 16) ?? '–')}</code></td><td>${n.wallSeconds === undefined ? '–' : seconds(n.wallSeconds)}</td></tr>`)
    .join('');
  return `<table class="facts">${facts}</table>
${nodes ? `<table><thead><tr><th>node</th><th>key</th><th>wall time</th></tr></thead><tbody>${nodes}</tbody></table>` : ''}`;
}

export function reportHtml(r: { title: string; figures: ReportFigure[]; stageTables: StageTable[]; provenance: Provenance }): string {
  // Sections in order of first appearance; figures keep their order inside a section.
  const sections = new Map<string, { f: ReportFigure; i: number }[]>();
  r.figures.forEach((f, i) => {
    const name = f.section ?? DEFAULT_SECTION;
    sections.set(name, [...(sections.get(name) ?? []), { f, i }]);
  });
  const anchor = (f: ReportFigure) => esc(f.file.replace(/\.(svg|json)$/, ''));
  const sectionId = (name: string) => `section-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
  const body = (f: ReportFigure, i: number) =>
    f.table
      ? `<table><thead><tr>${f.table.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${f.table.rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`
      : prefixIds(f.svg, `f${i}-`);
  const figureHtml = ({ f, i }: { f: ReportFigure; i: number }) => `<figure id="${anchor(f)}">
${body(f, i)}
<figcaption><b>${esc(f.title)}</b>${f.caption ? ` ${esc(f.caption)}` : ''} <span class="file">${esc(f.file)}</span></figcaption>
</figure>`;
  const figures = [...sections]
    .map(([name, items]) => `<h2 id="${sectionId(name)}">${esc(name)}</h2>\n${items.map(figureHtml).join('\n')}`)
    .join('\n');
  const toc = [...sections]
    .map(([name, items]) => `<li><a href="#${sectionId(name)}">${esc(name)}</a><ul>${items.map(({ f }) => `<li><a href="#${anchor(f)}">${esc(f.title)}</a></li>`).join('')}</ul></li>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(r.title)}</title>
<style>
body { font-family: 'DejaVu Sans', sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; }
figure { margin: 2em 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; max-width: 60em; }
.file { color: #888; font-family: 'DejaVu Sans Mono', monospace; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.5em 1.5em 0.5em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2em 0.8em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: bold; }
.tables { display: flex; flex-wrap: wrap; align-items: flex-start; }
</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
<ul>${toc}<li><a href="#stages">Detected stages</a></li><li><a href="#provenance">Provenance</a></li></ul>
${figures}
<h2 id="stages">Detected stages</h2>
${r.stageTables.map(stageTableHtml).join('\n') || '<p>No stage detection in this build.</p>'}
<h2 id="provenance">Provenance</h2>
${provenanceHtml(r.provenance)}
</body>
</html>
`;
}
