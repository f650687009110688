// Comparing float32 results with a reference: the error relative to the reference tensor's scale.
import * as assert from 'uvu/assert';

/** max |a − b| relative to max |b| (b is the reference, e.g. the PyTorch oracle). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
