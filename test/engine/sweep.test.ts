import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expandSweep, pointId } from '../../engine/key/sweep.ts';

test('cartesian product, first sweep key slowest, merged over fixed keys', () => {
  const points = expandSweep({ lr: 0.01, sweep: { seed: [0, 1], M: [4, Infinity, 16] } });
  assert.equal(points, [
    { lr: 0.01, seed: 0, M: 4 },
    { lr: 0.01, seed: 0, M: Infinity },
    { lr: 0.01, seed: 0, M: 16 },
    { lr: 0.01, seed: 1, M: 4 },
    { lr: 0.01, seed: 1, M: Infinity },
    { lr: 0.01, seed: 1, M: 16 },
  ]);
});

test('no sweep → the fixed keys as one point; sweep values may be objects', () => {
  assert.equal(expandSweep({ a: 1 }), [{ a: 1 }]);
  assert.equal(expandSweep({ sweep: { s: [{ eps: 1 }, { eps: 2 }] } }), [{ s: { eps: 1 } }, { s: { eps: 2 } }]);
});

test('errors: swept key also fixed, empty list, not a list', () => {
  assert.throws(() => expandSweep({ seed: 3, sweep: { seed: [0, 1] } }), /sweep\.seed: also set as a fixed value \(3\)/);
  assert.throws(() => expandSweep({ sweep: { seed: [] } }), /sweep\.seed: empty list/);
  assert.throws(() => expandSweep({ sweep: { seed: 4 as unknown as unknown[] } }), /sweep\.seed: expected a list of values, got 4/);
});

test('pointId: k=v pairs in key order, infinity as inf', () => {
  assert.is(pointId({ seed: 0, M: Infinity }), 'seed=0,M=inf');
  assert.is(pointId({ lr: 0.001, name: 'x', flag: true }), 'lr=0.001,name=x,flag=true');
  assert.is(pointId({}), '');
});

test.run();
