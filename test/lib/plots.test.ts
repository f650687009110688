import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scaleLinear, scaleLog } from 'd3-scale';
import { axisTicks, powerOfTen } from '../../lib/plots/axis.ts';
import { paperSizes } from '../../lib/plots/figure.ts';
import { textWidth } from '../../lib/plots/font-metrics.ts';
import { rgb01, stageColors } from '../../lib/plots/palette.ts';
import { clipVertically } from '../../lib/plots/panel.ts';
import { behaviouralDetail } from '../../lib/plots/behaviour-figures.ts';
import { lrFigure1 } from '../../lib/plots/lr-figure.ts';
import { geometricFigure, hessianFigure, lnCollapseAndHessianFigure } from '../../lib/plots/geometry-figures.ts';

test('LR stage palette: docs/figures.md colours for types A, A, B, B, Other', () => {
  const colors = stageColors(['A', 'A', 'B', 'B', 'Other']).map(rgb01);
  const expect: [number, [number, number, number]][] = [
    [0, [0.992, 0.727, 0.492]], // LR1 light orange
    [1, [0.914, 0.369, 0.051]], // LR2 dark orange
    [4, [0.591, 0.591, 0.591]], // LR5 grey
  ];
  for (const [i, rgb] of expect) rgb.forEach((v, c) => assert.ok(Math.abs(colors[i][c] - v) < 0.006, `stage ${i + 1} channel ${c}: ${colors[i][c]} vs ${v}`));
  // Two blues: matplotlib Blues at 1/3 and 2/3, lighter first.
  assert.ok(colors[2][0] > colors[3][0] && colors[2][2] > colors[3][2], 'LR3 lighter than LR4');
  assert.equal(stageColors(['A']), stageColors(['A', 'B']).slice(0, 1));
  assert.throws(() => stageColors(['C' as 'A']), /stage type must be 'A', 'B' or 'Other', got 'C'/);
});

test('log axis over decades labels powers of ten only; a narrow log axis labels round numbers', () => {
  const wide = axisTicks(scaleLog().domain([100, 5e5]), 'log', 6);
  assert.equal(wide.filter((t) => t.label).map((t) => t.label), ['10²', '10³', '10⁴', '10⁵']);
  assert.ok(wide.some((t) => t.value === 200 && t.label === null), 'minor ticks unlabelled');
  const narrow = axisTicks(scaleLog().domain([1.6, 4.4]), 'log', 5);
  assert.equal(narrow.filter((t) => t.label).map((t) => t.label), ['2', '3', '4']);
  const norm = axisTicks(scaleLog().domain([33, 300]), 'log', 5);
  assert.equal(norm.filter((t) => t.label).map((t) => t.label), ['50', '100', '200']);
  assert.is(powerOfTen(-2), '10⁻²');
  const lin = axisTicks(scaleLinear().domain([0, 500000]), 'linear', 5);
  assert.ok(lin.some((t) => t.label === '200k'), lin.map((t) => t.label).join());
});

test('clipVertically keeps each crossing segment on its line and drops what lies outside', () => {
  // From (0, 0) to (10, 100) with the band 0 ≤ y ≤ 50: the visible part ends at (5, 50).
  assert.equal(clipVertically([[0, 0], [10, 100]], 0, 50), [null, [0, 0], [5, 50]]);
  // A spike to 1e9 and back: two pieces, both ending on the band edge.
  const out = clipVertically([[0, 10], [1, 1e9], [2, 10]], 0, 50);
  const pts = out.filter((p): p is [number, number] => p !== null);
  assert.ok(pts.every((p) => p[1] <= 50 && p[1] >= 0));
  assert.is(out.filter((p) => p === null).length, 2);
  assert.equal(clipVertically([[0, 100], [1, 200]], 0, 50).filter((p) => p !== null), []);
});

interface Box { text: string; x0: number; x1: number; y0: number; y1: number }

/** Boxes of every unrotated text element (font metrics from lib/plots/font-metrics). */
function textBoxes(svg: string): Box[] {
  const boxes: Box[] = [];
  for (const m of svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)) {
    const attr = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(m[1])?.[1];
    if (attr('transform')) continue;
    const x = Number(attr('x'));
    const y = Number(attr('y'));
    const fs = Number(attr('font-size'));
    const content = m[2].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    const w = textWidth(content, fs);
    const anchor = attr('text-anchor') ?? 'start';
    const x0 = anchor === 'middle' ? x - w / 2 : anchor === 'end' ? x - w : x;
    boxes.push({ text: content, x0, x1: x0 + w, y0: y - 0.76 * fs, y1: y + 0.24 * fs });
  }
  return boxes;
}

function checkLayout(svg: string, name: string) {
  const width = Number(/<svg [^>]*width="([^"]+)"/.exec(svg)![1]);
  const height = Number(/<svg [^>]*height="([^"]+)"/.exec(svg)![1]);
  const boxes = textBoxes(svg);
  assert.ok(boxes.length > 10, `${name}: has text`);
  for (const b of boxes) assert.ok(b.x0 >= 0 && b.x1 <= width && b.y0 >= 0 && b.y1 <= height, `${name}: '${b.text}' inside the canvas`);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const overlap = a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
      assert.not.ok(overlap, `${name}: '${a.text}' overlaps '${b.text}'`);
    }
  }
}

const steps = Array.from({ length: 60 }, (_, i) => Math.round(10 ** (2 + (i * 3.7) / 59)));
const stages = [
  { label: 'LR1', start: 0, end: 1000, type: 'A' as const },
  { label: 'LR2', start: 1000, end: 40000, type: 'A' as const },
  { label: 'LR3', start: 40000, end: 126000, type: 'B' as const },
  { label: 'LR4', start: 126000, end: 320000, type: 'B' as const },
  { label: 'LR5', start: 320000, end: 500000, type: 'Other' as const },
];
const llc = steps.map((t) => 170 / (1 + (3000 / t) ** 2));
const loss = steps.map((t) => 1.75 + 2.4 / (1 + t / 3000));

for (const [width, fontSize] of [[312, 11], [312, 14], [480, 12]]) {
  test(`no text overlaps or leaves the canvas (width ${width}, font ${fontSize})`, () => {
    const o = { id: 'f', width, fontSize };
    checkLayout(lrFigure1({ label: 'seed 1', loss: { x: steps, y: loss }, llc: { x: steps, y: llc }, stages, baselines: { zero: 4.125, ridge: 1.659 } }, o), 'Figure 1');
    const slope = llc.map(() => 1);
    checkLayout(behaviouralDetail({ steps, loss, weightNorm: steps.map((t) => 20 + t / 2000), llcSteps: steps, llc, llcFit: llc, llcSlope: slope, stages, fitSigma: 2 }, o), 'behavioural detail');
  });
}

test('the Hessian figures give each legend line its own colour: tr H is not the red of the means', () => {
  const steps = [1, 10, 100, 1000];
  const h = { steps, top: steps.map((t) => [30 + Math.log(t + 1), 10, 5]), trace: steps.map((t) => 200 + t / 10) };
  const stages = [{ label: 'LR1', start: 0, end: 1000, type: 'A' as const }];
  const o = { id: 'h', width: 312, fontSize: 11 };
  const figures = {
    'hessian.svg': hessianFigure(h, stages, o),
    'geometric.svg': geometricFigure({ steps, llcPerPos: steps.map((t) => [1, 2, 3].map((k) => k * Math.log(t + 2))) }, h, stages, o),
    'LN-collapse-and-hessian.svg': lnCollapseAndHessianFigure(steps, steps.map(() => [0.5, -0.5, 1]), h, stages, o),
  };
  for (const [file, svg] of Object.entries(figures)) {
    // Legend line entries: a short line, then its label.
    const entries = [...svg.matchAll(/<line [^>]*stroke="([^"]+)"[^>]*\/><text[^>]*>([^<]*)<\/text>/g)].map((m) => ({ color: m[1].toLowerCase(), label: m[2] }));
    assert.ok(entries.some((e) => e.label === 'tr H'), `${file} has a tr H legend entry`);
    for (const e of entries) {
      const same = entries.filter((f) => f.color === e.color).map((f) => f.label);
      assert.equal(same, [e.label], `${file}: ${same.join(' and ')} share the colour ${e.color}`);
    }
  }
});

test('paper sizes scale with the single-column width (docs/figures.md)', () => {
  const s = paperSizes(312);
  assert.is(s.WIDTH, 312);
  assert.ok(Math.abs(s.HEIGHT - 192.8) < 0.1);
  assert.ok(Math.abs(s.FULL_WIDTH - 648) < 1e-9); // 6.75 in
  assert.ok(Math.abs(textWidth('10', 10) - 2 * 6.362) < 0.01);
});

test.run();
