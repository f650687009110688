// uvu's assert has throws() but no async counterpart.
import * as assert from 'uvu/assert';

/** Asserts that `f()` rejects (or throws) with a message matching `pattern`. */
export async function rejects(f: () => unknown, pattern: RegExp): Promise<void> {
  try {
    await f();
  } catch (err) {
    assert.match((err as Error)?.message ?? String(err), pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}
