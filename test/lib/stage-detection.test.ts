import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectStages, smoothLocalLinear, centralSlope } from '../../lib/stage-detection.ts';
import { rngStream } from '../../lib/rng.ts';

// 150 log-spaced checkpoints over 0 … 500k, like the paper's grid.
const steps = [0, ...Array.from({ length: 149 }, (_, i) => Math.round(10 ** ((i / 148) * Math.log10(500_000))))].filter(
  (t, i, a) => i === 0 || t > a[i - 1],
);
const x = steps.map((t) => Math.log(t + 1));

/** λ(x) = base + Σ a_j σ((x − c_j)/w_j): logistic steps in ln t, and its exact derivative. */
function curve(parts: { a: number; at: number; w: number }[], base = 5) {
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const f = (xx: number) => parts.reduce((s, p) => s + p.a * sig((xx - Math.log(p.at)) / p.w), base);
  const df = (xx: number) => parts.reduce((s, p) => { const q = sig((xx - Math.log(p.at)) / p.w); return s + (p.a / p.w) * q * (1 - q); }, 0);
  return { f, df };
}

/** The true boundaries: interior local minima of |λ'(x)| on a fine grid, snapped to the nearest checkpoint. */
function trueBoundaries(df: (x: number) => number): number[] {
  const fine = Array.from({ length: 20001 }, (_, i) => x[0] + ((x[x.length - 1] - x[0]) * i) / 20000);
  const out: number[] = [];
  for (let i = 1; i < fine.length - 1; i++) {
    const [l, m, r] = [Math.abs(df(fine[i - 1])), Math.abs(df(fine[i])), Math.abs(df(fine[i + 1]))];
    if (m < l && m <= r) {
      const nearest = x.reduce((best, xi, k) => (Math.abs(xi - fine[i]) < Math.abs(x[best] - fine[i]) ? k : best), 0);
      out.push(nearest);
    }
  }
  return out;
}

// Paper-like: rise (LR1), big rise (LR2), a fall that pauses, a second fall, then a slight rise.
// Boundaries 1 and 3 are pauses (broad minima of |slope|), 2 and 4 are extrema (max, min).
const paperLike = curve([
  { a: 14, at: 60, w: 0.3 },
  { a: 150, at: 4_000, w: 0.4 },
  { a: -25, at: 20_000, w: 0.25 },
  { a: -35, at: 150_000, w: 0.25 },
  { a: 12, at: 380_000, w: 0.15 },
]);
const range = 150 + 14 - 25 - 35 + 12;

function assertRecovered(detected: number[], truth: number[], what: string) {
  assert.is(detected.length, truth.length, `${what}: detected [${detected.map((i) => steps[i])}] vs true [${truth.map((i) => steps[i])}]`);
  detected.forEach((d, k) => assert.ok(Math.abs(d - truth[k]) <= 1, `${what}: boundary ${k} at index ${d} (step ${steps[d]}) vs ${truth[k]} (step ${steps[truth[k]]})`));
}

test('smoothing is exact on straight lines (local-linear) and the slope of a line is its gradient', () => {
  const y = x.map((xi) => 3 - 2 * xi);
  smoothLocalLinear(x, y, 0.3).forEach((v, i) => assert.ok(Math.abs(v - y[i]) < 1e-9));
  centralSlope(x, y).forEach((s) => assert.ok(Math.abs(s + 2) < 1e-9));
});

test('recovers the boundaries of a noise-free paper-like curve within one checkpoint, with stage types', () => {
  const truth = trueBoundaries(paperLike.df).filter((i) => i > 0 && i < steps.length - 1);
  assert.ok(truth.length >= 4, `oracle found ${truth.length}`);
  const det = detectStages(steps, x.map(paperLike.f));
  assertRecovered(det.boundaries, truth, 'noise-free');
  assert.equal(det.stages.map((s) => s.type), ['A', 'A', 'B', 'B', 'Other']);
  assert.equal(det.stages.map((s) => s.label), ['LR1', 'LR2', 'LR3', 'LR4', 'LR5']);
  assert.is(det.stages[0].startIndex, 0);
  assert.is(det.stages[det.stages.length - 1].endIndex, steps.length - 1);
});

test('robust to mild noise (0.5% of the range): extrema within one checkpoint, pauses within 0.5 ln t', () => {
  // A pause sits in a broad valley of |slope| (≈ 1 unit of ln t wide here), so slope noise moves
  // its argmin by a few checkpoints; an extremum is a sign change and stays put. At this noise a
  // pause can also rise above the threshold: require all four boundaries in at least 4 of 5 draws.
  const truth = trueBoundaries(paperLike.df).filter((i) => i > 0 && i < steps.length - 1);
  let complete = 0;
  for (let seed = 0; seed < 5; seed++) {
    const rng = rngStream(seed, 'stage-noise');
    const det = detectStages(steps, x.map((xi) => paperLike.f(xi) + 0.005 * range * rng.normal()));
    const has = (ok: (i: number) => boolean) => det.boundaries.some(ok);
    assert.ok(has((i) => Math.abs(i - truth[1]) <= 1), `seed ${seed}: maximum missed: [${det.boundaries}] vs [${truth}]`);
    assert.ok(has((i) => Math.abs(i - truth[3]) <= 1), `seed ${seed}: minimum missed: [${det.boundaries}] vs [${truth}]`);
    assert.ok(det.boundaries.length <= truth.length, `seed ${seed}: spurious boundaries [${det.boundaries}]`);
    const pausesOk = [0, 2].every((k) => det.boundaries.some((i) => Math.abs(x[i] - x[truth[k]]) <= 0.5));
    if (pausesOk && det.boundaries.length === truth.length) complete++;
  }
  assert.ok(complete >= 4, `only ${complete} of 5 noisy curves recovered every boundary`);
});

test('up then down: the maximum is the one boundary; a falling curve is type B', () => {
  const hump = curve([{ a: 50, at: 1_000, w: 0.5 }, { a: -50, at: 50_000, w: 0.5 }]);
  const det = detectStages(steps, x.map(hump.f));
  const peak = x.reduce((b, xi, i) => (hump.f(xi) > hump.f(x[b]) ? i : b), 0);
  assert.is(det.boundaries.length, 1);
  assert.ok(Math.abs(det.boundaries[0] - peak) <= 1);
  assert.equal(det.stages.map((s) => s.type), ['A', 'B']);
});

test('a single logistic step has no interior boundary', () => {
  const det = detectStages(steps, x.map(curve([{ a: 100, at: 5_000, w: 0.5 }]).f));
  assert.equal(det.boundaries, []);
  assert.equal(det.stages.map((s) => s.type), ['A']);
});

test('a pause is a boundary exactly when its |slope| falls below the threshold (both sides of the line)', () => {
  // Two rises with a pause between: the slope dips to a positive local minimum and never changes sign.
  const twoRises = curve([{ a: 50, at: 100, w: 0.3 }, { a: 50, at: 10_000, w: 0.3 }]);
  const llc = x.map(twoRises.f);
  const probe = detectStages(steps, llc, { relativeThreshold: 0.6 });
  const abs = probe.slope.map(Math.abs);
  const between = steps.map((t, i) => i).filter((i) => steps[i] > 300 && steps[i] < 3_000);
  const pause = between.reduce((best, i) => (abs[i] < abs[best] ? i : best));
  assert.ok(probe.slope.every((v) => v > -1e-9), 'the test curve must be monotone (no extrema)');
  // threshold = relativeThreshold · range / span, so the pause's |slope| maps to a critical relativeThreshold.
  const perUnit = probe.threshold / 0.6;
  const critical = abs[pause] / perUnit;
  const above = detectStages(steps, llc, { relativeThreshold: critical * 1.02 });
  const below = detectStages(steps, llc, { relativeThreshold: critical * 0.98 });
  assert.ok(Math.abs(above.threshold - critical * 1.02 * perUnit) < 1e-9, 'threshold scales with relativeThreshold');
  assert.equal(above.boundaries, [pause], 'a pause whose |slope| is under the threshold is a boundary');
  assert.equal(below.boundaries, [], 'a pause whose |slope| stays above the threshold is not');
  assert.equal(above.stages.map((s) => s.type), ['A', 'A']);
});

test('bad input is refused naming the problem', () => {
  assert.throws(() => detectStages([0, 1, 2], [1, 2, 3]), /at least 5 checkpoints/);
  assert.throws(() => detectStages([0, 1, 1, 2, 3], [1, 2, 3, 4, 5]), /increasing.*index 2/);
  assert.throws(() => detectStages([0, 1, 2, 3, 4], [1, 2, NaN, 4, 5]), /step 2 is not finite/);
  assert.throws(() => detectStages([0, 1, 2, 3, 4], [1, 2, 3]), /5 steps but 3 LLC values/);
});

test.run();
