// Developmental stages from the LLC-over-time curve (docs/stage-detection.md): smooth λ̂ against x = ln(t + 1),
// differentiate, and cut where the curve is critical (a maximum or minimum) or pauses (a plateau).
//
// Smoothing: local-linear regression with a Gaussian kernel in x (bandwidth h, in units of ln t)
// instead of the paper's GP. It is the "Gaussian smoothing in ln t" the spec allows; the local-linear
// form has no edge bias on the uneven, log-spaced checkpoint grid, and one bandwidth is easier to
// reason about than a marginal-likelihood fit. h = 0.3 spans ≈ ±35% in t: it removes SGLD noise
// but keeps features a factor of ~2 apart in t (the paper's stages are ≥ 2.5× apart).
//
// Threshold: the paper keeps |dλ̂/d ln t| < 8, an absolute number tuned to LLCs of ~170 over
// ln(500k) ≈ 13; that is ≈ 0.6 × (range of λ̂)/(span of ln t). We use that relative form so
// small CPU-config LLCs are treated alike.

export type StageType = 'A' | 'B' | 'Other';

export interface StageDetectionOptions {
  /** Gaussian kernel standard deviation in ln(t + 1). */
  bandwidth?: number;
  /** |slope| threshold as a fraction of (max − min of the smoothed λ̂) / (span of ln(t + 1)). */
  relativeThreshold?: number;
  /** A stage whose λ̂ changes by less than this fraction of the curve's range is 'Other' (flat). */
  flatFraction?: number;
  /** In a calm run touching the first/last checkpoint, a boundary must differ from that end's λ̂ by this fraction of the range. */
  endFraction?: number;
  /** Stage label prefix: LR1, LR2, … */
  prefix?: string;
}

export interface Stage {
  label: string;
  startIndex: number;
  endIndex: number;
  type: StageType;
}

export interface StageDetection {
  x: number[];
  smoothed: number[];
  slope: number[];
  threshold: number;
  /** Checkpoint indices of the stage boundaries, increasing. */
  boundaries: number[];
  stages: Stage[];
}

export const stageDetectionDefaults = { bandwidth: 0.3, relativeThreshold: 0.6, flatFraction: 0.05, endFraction: 0.025, prefix: 'LR' };

/** Local-linear Gaussian-kernel regression of y on x, evaluated at every x_i. */
export function smoothLocalLinear(x: number[], y: number[], bandwidth: number): number[] {
  if (!(bandwidth > 0)) throw new Error(`smoothing: bandwidth must be > 0, got ${bandwidth}`);
  return x.map((xi) => {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let t0 = 0;
    let t1 = 0;
    for (let j = 0; j < x.length; j++) {
      const d = x[j] - xi;
      const w = Math.exp((-0.5 * d * d) / (bandwidth * bandwidth));
      s0 += w;
      s1 += w * d;
      s2 += w * d * d;
      t0 += w * y[j];
      t1 += w * d * y[j];
    }
    const det = s0 * s2 - s1 * s1;
    // One effective point (bandwidth far below the spacing): the fit is the point itself.
    return det > 1e-12 * s0 * s0 ? (s2 * t0 - s1 * t1) / det : t0 / s0;
  });
}

/** Central differences averaged over the two neighbouring intervals; ends copy their neighbour (docs/stage-detection.md, step 2). */
export function centralSlope(x: number[], y: number[]): number[] {
  const n = x.length;
  if (n < 3) throw new Error(`slope: need at least 3 points, got ${n}`);
  const s = new Array<number>(n);
  for (let i = 1; i < n - 1; i++) {
    s[i] = 0.5 * ((y[i + 1] - y[i]) / (x[i + 1] - x[i]) + (y[i] - y[i - 1]) / (x[i] - x[i - 1]));
  }
  s[0] = s[1];
  s[n - 1] = s[n - 2];
  return s;
}

/**
 * Boundaries: interior strict local minima of |slope| below the threshold, and extrema (slope
 * sign changes). Candidates in one calm run (consecutive |slope| < threshold) are one pause of
 * the curve and give one boundary: its extremum if it has one, else its smallest |slope|.
 */
export function detectStages(steps: number[], llc: number[], options: StageDetectionOptions = {}): StageDetection {
  const o = { ...stageDetectionDefaults, ...options };
  const n = steps.length;
  if (llc.length !== n) throw new Error(`stage detection: ${n} steps but ${llc.length} LLC values`);
  if (n < 5) throw new Error(`stage detection: need at least 5 checkpoints, got ${n}`);
  steps.forEach((t, i) => {
    if (!(t >= 0) || (i > 0 && !(t > steps[i - 1]))) throw new Error(`stage detection: steps must be increasing and >= 0 (index ${i}: ${t})`);
  });
  llc.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`stage detection: LLC at step ${steps[i]} is not finite (${v})`);
  });
  const x = steps.map((t) => Math.log(t + 1));
  const smoothed = smoothLocalLinear(x, llc, o.bandwidth);
  const slope = centralSlope(x, smoothed);
  const range = Math.max(...smoothed) - Math.min(...smoothed);
  const threshold = (o.relativeThreshold * range) / (x[n - 1] - x[0]);
  const abs = slope.map(Math.abs);

  // An extremum: the slope changes sign between i and i + 1; take the side nearer to zero.
  const extrema = new Set<number>();
  for (let k = 1; k < n - 2; k++) {
    if (slope[k] * slope[k + 1] < 0 || slope[k] === 0) extrema.add(abs[k] <= abs[k + 1] ? k : k + 1);
  }
  const localMin = (i: number) => i > 0 && i < n - 1 && abs[i] < abs[i - 1] && abs[i] < abs[i + 1];

  // A calm run touching an end is the curve still at its starting level or already at its final
  // one (noise flips the slope there at random): a candidate in it counts only once the curve has
  // moved away from that end's level by `endFraction` of the range.
  const awayFromEnds = (k: number, run: [number, number]) =>
    (run[0] > 0 || Math.abs(smoothed[k] - smoothed[0]) >= o.endFraction * range) &&
    (run[1] < n - 1 || Math.abs(smoothed[k] - smoothed[n - 1]) >= o.endFraction * range);
  const boundaries: number[] = [];
  let i = 0;
  while (i < n) {
    if (abs[i] >= threshold) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < n && abs[j + 1] < threshold) j++;
    const run = Array.from({ length: j - i + 1 }, (_, k) => i + k).filter((k) => awayFromEnds(k, [i, j]));
    const extremaInRun = run.filter((k) => extrema.has(k));
    const pool = extremaInRun.length > 0 ? extremaInRun : run.filter(localMin);
    if (pool.length > 0) boundaries.push(pool.reduce((best, k) => (abs[k] < abs[best] ? k : best)));
    i = j + 1;
  }

  const cuts = [0, ...boundaries, n - 1];
  const stages: Stage[] = [];
  for (let s = 0; s + 1 < cuts.length; s++) {
    const [a, b] = [cuts[s], cuts[s + 1]];
    const change = smoothed[b] - smoothed[a];
    const type: StageType = Math.abs(change) < o.flatFraction * range ? 'Other' : change > 0 ? 'A' : 'B';
    stages.push({ label: `${o.prefix}${s + 1}`, startIndex: a, endIndex: b, type });
  }
  return { x, smoothed, slope, threshold, boundaries, stages };
}
