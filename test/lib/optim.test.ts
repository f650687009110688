import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Adam, checkpointSteps, oneCycleLr } from '../../lib/optim.ts';

const N = 500_000;
const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.abs(b);

test('OneCycle reference values of the paper run (docs/training.md)', () => {
  const ref: [number, number][] = [
    [0, 1.200005e-8], [1, 2.400005e-8], [1000, 1.2012e-5], [10_000, 1.20012e-4], [40_000, 4.80012e-4],
    [126_000, 1.512012e-3], [249_999, 3.0e-3], [250_000, 2.999988e-3], [320_000, 2.159988e-3], [499_999, 4.8e-14],
  ];
  // tolerance: half a unit in the last digit the spec gives
  for (const [s, lr] of ref) assert.ok(close(oneCycleLr(s, N, 3e-3), lr, s === 499_999 ? 1e-3 : 2e-6), `lr(${s}) = ${oneCycleLr(s, N, 3e-3)}, expected ${lr}`);
});

test('Σ lr = 750 over 500k steps; cumulative 0.006 at 1k and 9.6 at 40k', () => {
  let sum = 0;
  const at = new Map<number, number>();
  for (let s = 0; s < N; s++) {
    sum += oneCycleLr(s, N, 3e-3);
    if (s + 1 === 1000 || s + 1 === 40_000) at.set(s + 1, sum);
  }
  assert.ok(close(sum, 750, 1e-6), `Σ ${sum}`);
  assert.ok(close(at.get(1000)!, 0.006, 2e-3));
  assert.ok(close(at.get(40_000)!, 9.6, 1e-3));
});

test('OneCycle refuses steps outside [0, N)', () => {
  assert.throws(() => oneCycleLr(N, N, 3e-3), /step must be an integer in \[0, 500000\)/);
});

const PAPER_190 = `0 1 2 3 4 5 6 7 8 9 10 12 14 16 18 21 24 27 31 35 40 46 53 60 69 79 90 103 118 134 153 175 200 229 261 298 341
389 444 507 579 661 755 862 984 1124 1283 1465 1673 1910 2181 2490 2843 3247 3707 4232 4832 5050 5517 6299 7192 8211 9375 10101
10704 12221 13954 15151 15932 18190 20202 20768 23711 25252 27072 30303 30909 35290 35353 40292 40404 45454 46003 50505 52524
55555 59968 60606 65656 68468 70707 75757 78172 80808 85858 89252 90909 95959 101010 101902 106060 111111 116161 116345 121212
126262 131313 132836 136363 141414 146464 151515 151663 156565 161616 166666 171717 173159 176767 181818 186868 191919 196969
197702 202020 207070 212121 217171 222222 225724 227272 232323 237373 242424 247474 252525 257575 257717 262626 267676 272727
277777 282828 287878 292929 294244 297979 303030 308080 313131 318181 323232 328282 333333 335949 338383 343434 348484 353535
358585 363636 368686 373737 378787 383565 383838 388888 393939 398989 404040 409090 414141 419191 424242 429292 434343 437929
439393 444444 449494 454545 459595 464646 469696 474747 479797 484848 489898 494949 499999`.split(/\s+/).map(Number);

test('checkpoint grid: the paper\'s 190 steps exactly, and the other configurations\' sizes', () => {
  assert.is(PAPER_190.length, 190);
  assert.equal(checkpointSteps(N, 100, 100), PAPER_190);
  assert.is(checkpointSteps(N, 100, 10_000).length, 10_089);
  assert.is(checkpointSteps(N, 50, 50).length, 96);
  assert.is(checkpointSteps(50_000, 100, 2000).length, 2085);
});

test('Adam: first step moves every weight by lr·sign(g) (bias correction), and matches a float64 reference after 3 steps', () => {
  const adam = new Adam([3]);
  const w = Float32Array.from([1, -2, 0.5]);
  adam.step([w], [Float32Array.from([0.3, -4, 1e-3])], 0.01);
  // m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps)
  const expect = [1 - 0.01 * 0.3 / (0.3 + 1e-8), -2 + 0.01 * 4 / (4 + 1e-8), 0.5 - 0.01 * 1e-3 / (1e-3 + 1e-8)];
  w.forEach((v, i) => assert.ok(Math.abs(v - expect[i]) < 1e-6));
  // float64 reference of the textbook formula over 3 steps with changing grads and lr
  const ref = [1, -2, 0.5], m = [0, 0, 0], v = [0, 0, 0];
  const w2 = Float32Array.from(ref);
  const a2 = new Adam([3]);
  for (let t = 1; t <= 3; t++) {
    const g = [0.1 * t, -0.5 / t, 2 - t];
    const lr = 1e-3 * t;
    for (let i = 0; i < 3; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2;
      ref[i] -= (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
    }
    a2.step([w2], [Float32Array.from(g)], lr);
  }
  w2.forEach((x, i) => assert.ok(Math.abs(x - ref[i]) < 1e-6, `${x} vs ${ref[i]}`));
  assert.is(a2.t, 3);
});

test.run();
