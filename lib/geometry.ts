// Discrete curve geometry for essential dynamics (docs/essential-dynamics.md) and the
// figures' derivative rule (docs/figures.md).

export type Point = [number, number];

/**
 * dy/dx as the figures compute it: the average of the forward and backward slopes at interior
 * points, endpoints copied from their neighbours. Pass x = ln(t + 1) for d/dlog t.
 */
export function centralSlopes(x: ArrayLike<number>, y: ArrayLike<number>): number[] {
  const n = x.length;
  if (y.length !== n) throw new Error(`centralSlopes: x has ${n} values but y has ${y.length}`);
  if (n < 3) throw new Error(`centralSlopes: need at least 3 points, got ${n}`);
  const out = new Array<number>(n);
  for (let i = 1; i < n - 1; i++) {
    out[i] = 0.5 * ((y[i + 1] - y[i]) / (x[i + 1] - x[i]) + (y[i] - y[i - 1]) / (x[i] - x[i - 1]));
  }
  out[0] = out[1];
  out[n - 1] = out[n - 2];
  return out;
}

export interface OsculatingCircles {
  /** Centre c_t of the osculating circle at each index: the evolute. */
  centers: Point[];
  /** R = 1/(κ + 1e-12), so a straight stretch gives a huge but finite radius. */
  radii: number[];
  curvature: number[];
}

/**
 * Osculating circles of a sampled planar curve, with unit parameter spacing:
 * r′ = (r_{t+1} − r_{t−1})/2, r″ = r_{t+1} − 2r_t + r_{t−1}, z = r′ × r″, κ = |z|/|r′|³, and the
 * centre lies R along the normal on the side the curve turns to (sign of z). The first and last
 * samples have no two-sided difference and take their neighbour's circle.
 */
export function osculatingCircles(curve: Point[]): OsculatingCircles {
  const n = curve.length;
  if (n < 3) throw new Error(`osculatingCircles: need at least 3 points, got ${n}`);
  const centers: Point[] = [];
  const radii: number[] = [];
  const curvature: number[] = [];
  for (let t = 0; t < n; t++) {
    const m = Math.min(Math.max(t, 1), n - 2);
    const [px, py] = curve[m - 1];
    const [cx, cy] = curve[m];
    const [nx, ny] = curve[m + 1];
    const d1x = (nx - px) / 2;
    const d1y = (ny - py) / 2;
    const d2x = nx - 2 * cx + px;
    const d2y = ny - 2 * cy + py;
    const z = d1x * d2y - d1y * d2x;
    const speed = Math.hypot(d1x, d1y);
    const kappa = speed > 0 ? Math.abs(z) / speed ** 3 : 0;
    const R = 1 / (kappa + 1e-12);
    const tx = speed > 0 ? d1x / speed : 0;
    const ty = speed > 0 ? d1y / speed : 0;
    const [normalX, normalY] = z >= 0 ? [-ty, tx] : [ty, -tx];
    centers.push([cx + R * normalX, cy + R * normalY]);
    radii.push(R);
    curvature.push(kappa);
  }
  return { centers, radii, curvature };
}

export interface CuspOptions {
  /** Look at every `skip`-th circle (devinterp default 8): neighbouring samples are too noisy. */
  skip: number;
  /** How many evolute cusps (curve vertices) to return. */
  numCusps: number;
  /** How many sharpest turns (smallest radii) to return. */
  numSharpest: number;
}

/**
 * Interior local minima of v, smallest first: v drops into j and rises again after j's plateau
 * of equal values. A descent that runs into the end of the curve is not a minimum: the end
 * samples copy their neighbours, so an open curve would otherwise report its ends.
 */
function localMinima(v: number[], count: number): number[] {
  const minima: number[] = [];
  for (let j = 1; j < v.length - 1; j++) {
    if (!(v[j] < v[j - 1])) continue;
    let k = j;
    while (k + 1 < v.length && v[k + 1] === v[j]) k++;
    if (k + 1 < v.length && v[k + 1] > v[j]) minima.push(j);
  }
  return minima.sort((a, b) => v[a] - v[b]).slice(0, count);
}

/**
 * Evolute cusps and sharpest turns, as indices into the curve, in increasing order of
 * displacement / radius.
 *
 * A cusp of the evolute is where the centre of curvature momentarily stops, i.e. a vertex of
 * the curve. devinterp takes the `num_vertices` smallest ‖c_t − c_{t−skip}‖, which can return
 * both sides of one slow spot; here the displacement is central, ‖c_{t+skip} − c_{t−skip}‖, and
 * only its local minima count, so each cusp is reported once and at its centre sample.
 * Sharpest turns are likewise the local minima of R.
 */
export function findCusps(circles: OsculatingCircles, options: CuspOptions): { cusps: number[]; sharpest: number[] } {
  const { skip, numCusps, numSharpest } = options;
  if (!Number.isInteger(skip) || skip < 1) throw new Error(`findCusps: skip must be an integer ≥ 1, got ${skip}`);
  const sampled: number[] = [];
  for (let t = 0; t < circles.centers.length; t += skip) sampled.push(t);
  const displacement = sampled.map((t, j) => {
    if (j === 0 || j === sampled.length - 1) return Infinity;
    const [ax, ay] = circles.centers[sampled[j - 1]];
    const [bx, by] = circles.centers[sampled[j + 1]];
    return Math.hypot(bx - ax, by - ay);
  });
  const radii = sampled.map((t) => circles.radii[t]);
  return {
    cusps: localMinima(displacement, numCusps).map((j) => sampled[j]),
    sharpest: localMinima(radii, numSharpest).map((j) => sampled[j]),
  };
}
