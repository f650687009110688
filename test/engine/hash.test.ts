import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson, digestOf, fromJsonSafe, sha256Hex, toJsonSafe } from '../../engine/key/hash.ts';

test('sha256 known answer', () => {
  assert.is(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('canonical JSON sorts keys at every level; equal values give equal digests', () => {
  assert.is(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  assert.is(digestOf({ x: 1, y: [1, 2] }), digestOf({ y: [1, 2], x: 1 }));
  assert.is.not(digestOf({ x: [1, 2] }), digestOf({ x: [2, 1] }));
});

test('non-finite numbers stay distinct from null and from each other; undefined keys vanish', () => {
  const d = (v: unknown) => digestOf({ M: v });
  assert.is.not(d(Infinity), d(null));
  assert.is.not(d(Infinity), d(-Infinity));
  assert.is.not(d(NaN), d(null));
  assert.is(digestOf({ a: 1, b: undefined }), digestOf({ a: 1 }));
  assert.is(digestOf(-0), digestOf(0));
  assert.equal(fromJsonSafe(toJsonSafe({ M: Infinity, xs: [1, -Infinity] })), { M: Infinity, xs: [1, -Infinity] });
});

test('values JSON cannot represent exactly are rejected with their path', () => {
  assert.throws(() => toJsonSafe({ a: { when: new Date(0) } }, 'params'), /params\.a\.when: cannot be part of a key \(a Date object/);
  assert.throws(() => toJsonSafe({ f: () => 1 }, 'params'), /params\.f: cannot be part of a key \(a function/);
});

test.run();
