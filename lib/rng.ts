// Seeded, splittable random streams. Every random draw in the project goes through here, so results
// depend on (seed, stream name, path) only — never on the compute backend or on the order in which
// unrelated parts of the pipeline happen to draw.
//
// A stream's 128-bit xoroshiro128+ state (pure-rand) is derived by hashing (seed, name, path):
// rngStream(seed, 'train-data', step) gives step s its own stream, which is what makes a resumed
// training run identical to an uninterrupted one (the paper reseeds with sampling_seed + step).
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';

export type StreamName = 'init' | 'task-set' | 'eval' | 'probe' | 'train-data' | 'llc-data' | 'sgld' | string;

export interface Rng {
  /** Uniform on [0, 1), 53 random bits. */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Fills `out` with N(0, std²) draws, in index order; returns `out`. */
  fillNormal(out: Float32Array, std?: number): Float32Array;
  /** Uniform integer in 0 … n−1. */
  int(n: number): number;
}

// murmur3's 32-bit finaliser: full avalanche, so nearby seeds/steps give unrelated states.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function checkInteger(what: string, v: number): void {
  if (!Number.isSafeInteger(v)) throw new Error(`rngStream: ${what} must be a safe integer, got ${v}`);
}

/** The words that identify a stream: seed and path entries split into two 32-bit halves. */
function streamWords(seed: number, stream: string, path: number[]): number[] {
  const words: number[] = [];
  const pushInt = (v: number) => {
    words.push(v | 0, Math.floor(v / 0x100000000) | 0);
  };
  pushInt(seed);
  words.push(stream.length);
  for (let i = 0; i < stream.length; i++) words.push(stream.charCodeAt(i));
  words.push(path.length);
  for (const p of path) pushInt(p);
  return words;
}

function deriveState(words: number[]): number[] {
  // Four lanes absorb every word with different constants, then get cross-mixed.
  const lanes = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
  for (const w of words) {
    for (let i = 0; i < 4; i++) {
      lanes[i] = fmix32(lanes[i] ^ Math.imul(w ^ (0x9e3779b9 * (i + 1)), 0xcc9e2d51));
      lanes[i] = (Math.imul(lanes[i], 5) + 0xe6546b64) | 0;
    }
  }
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 4; i++) lanes[i] = fmix32(lanes[i] ^ lanes[(i + 1) & 3] ^ (round + 1));
  }
  // xoroshiro's all-zero state is a fixed point.
  if (!lanes.some((v) => v !== 0)) lanes[0] = 1;
  return lanes;
}

class XoroshiroRng implements Rng {
  private spare: number | null = null;
  constructor(private readonly gen: ReturnType<typeof xoroshiro128plusFromState>) {}

  next(): number {
    return uniformFloat64(this.gen);
  }

  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  fillNormal(out: Float32Array, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = std * this.normal();
    return out;
  }

  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return uniformInt(this.gen, 0, n - 1);
  }
}

/** An independent stream per (seed, name, path), e.g. rngStream(seed, 'train-data', step). */
export function rngStream(seed: number, stream: StreamName, ...path: number[]): Rng {
  checkInteger('seed', seed);
  path.forEach((p, i) => checkInteger(`path[${i}]`, p));
  const gen = xoroshiro128plusFromState(deriveState(streamWords(seed, stream, path)));
  // Discard a few outputs: the first outputs of xoroshiro carry the least-mixed state.
  for (let i = 0; i < 8; i++) gen.next();
  return new XoroshiroRng(gen);
}
