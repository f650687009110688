import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { centralSlopes, findCusps, osculatingCircles, type Point } from '../../lib/geometry.ts';

test('centralSlopes: exact for quadratics on a uniform grid; endpoints copied', () => {
  const x = [0, 1, 2, 3, 4, 5];
  const s = centralSlopes(x, x.map((v) => v * v));
  for (let i = 1; i < 5; i++) assert.ok(Math.abs(s[i] - 2 * x[i]) < 1e-12);
  assert.is(s[0], s[1]);
  assert.is(s[5], s[4]);
});

test('centralSlopes in log time: y = 3 ln(t+1) + 2 has slope 3 everywhere on any grid', () => {
  const t = [0, 10, 35, 100, 1000, 4000, 50000];
  const x = t.map((v) => Math.log(v + 1));
  centralSlopes(x, x.map((v) => 3 * v + 2)).forEach((s) => assert.ok(Math.abs(s - 3) < 1e-12));
  assert.throws(() => centralSlopes([1, 2], [1, 2]), /at least 3 points, got 2/);
});

for (const direction of [1, -1]) {
  test(`a circle has curvature 1/r and its evolute is its centre (${direction > 0 ? 'counter-clockwise' : 'clockwise'})`, () => {
    const r = 2.5;
    const [cx, cy] = [1, -2];
    const h = (2 * Math.PI) / 500;
    const curve: Point[] = Array.from({ length: 400 }, (_, i) => [cx + r * Math.cos(direction * i * h), cy + r * Math.sin(direction * i * h)]);
    const circles = osculatingCircles(curve);
    // Discrete known answer: κ = 1/(r cos²(h/2)), within 1e-5 relative of 1/r at this spacing.
    const exact = 1 / (r * Math.cos(h / 2) ** 2);
    circles.curvature.forEach((k) => {
      assert.ok(Math.abs(k - exact) < 1e-9, `κ ${k} vs ${exact}`);
      assert.ok(Math.abs(k * r - 1) < 1e-4);
    });
    circles.centers.forEach(([x, y]) => assert.ok(Math.hypot(x - cx, y - cy) < 1e-4, `centre (${x}, ${y})`));
  });
}

// Ellipse x = a cos θ, y = b sin θ: its evolute is the astroid (a x)^(2/3) + (b y)^(2/3) = (a² − b²)^(2/3),
// with four cusps at the curve's vertices θ = 0, π/2, π, 3π/2; curvature is largest at θ = 0, π.
const a = 3;
const b = 1.5;
const h = (2 * Math.PI) / 400;
const ellipse: Point[] = Array.from({ length: 400 }, (_, i) => [a * Math.cos((i - 50) * h), b * Math.sin((i - 50) * h)]);

test('an ellipse evolute lies on its astroid', () => {
  const { centers } = osculatingCircles(ellipse);
  const rhs = (a * a - b * b) ** (2 / 3);
  for (const [x, y] of centers.slice(1, -1)) {
    const lhs = Math.abs(a * x) ** (2 / 3) + Math.abs(b * y) ** (2 / 3);
    assert.ok(Math.abs(lhs - rhs) / rhs < 2e-3, `astroid residual ${lhs} vs ${rhs}`);
  }
});

test('the ellipse evolute has 4 cusps, at the vertices; the 2 sharpest turns are the major-axis ends', () => {
  const circles = osculatingCircles(ellipse);
  const vertices = [50, 150, 250, 350];
  for (const skip of [1, 5]) {
    const { cusps, sharpest } = findCusps(circles, { skip, numCusps: 4, numSharpest: 2 });
    assert.equal([...cusps].sort((p, q) => p - q), vertices, `skip ${skip}`);
    assert.equal([...sharpest].sort((p, q) => p - q), [50, 250], `skip ${skip}`);
  }
});

test('findCusps validates skip', () => {
  assert.throws(() => findCusps(osculatingCircles(ellipse), { skip: 0, numCusps: 1, numSharpest: 1 }), /skip must be an integer ≥ 1, got 0/);
});

test.run();
