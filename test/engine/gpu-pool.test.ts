// GPU pool semantics with toy stages that note their start and end times: with --gpus 1 GPU nodes
// never overlap while CPU nodes run beside them; with --gpus 0 a node that asks for a GPU fails
// with a clear error instead of running without one. Assertions are about order and overlap only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sandbox, summary, type Note } from './helpers.ts';

const BASE = { source: { value: 1, other: 'a' }, side: 2 };

interface Interval {
  label: string;
  start: number;
  end: number;
  gpu: number;
}

function intervals(notes: Note[]): Interval[] {
  const ends = new Map(notes.filter((n) => n.event === 'end').map((n) => [n.label, n.t]));
  return notes
    .filter((n) => n.event === 'start')
    .map((n) => ({ label: n.label, start: n.t, end: ends.get(n.label)!, gpu: (n.resources as { gpu: number }).gpu }));
}

const overlap = (a: Interval, b: Interval) => a.start < b.end && b.start < a.end;

test('--gpus 1: GPU nodes run one at a time, CPU nodes run beside them', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 400, count: 3, gpu: 1 }, sleepyCpu: { ms: 400, count: 3 } });
    const r = await sb.cli(['--jobs', '4', '--gpus', '1', 'sleepy']);
    assert.is(r.code, 0, r.err);
    const all = intervals(sb.notes());
    assert.is(all.length, 6);
    const gpu = all.filter((i) => i.label.startsWith('sleepy') && !i.label.startsWith('sleepy-cpu'));
    const cpu = all.filter((i) => i.label.startsWith('sleepy-cpu'));
    assert.equal(gpu.map((i) => i.gpu), [1, 1, 1], 'GPU nodes were granted their GPU');
    assert.equal(cpu.map((i) => i.gpu), [0, 0, 0]);
    for (const a of gpu) for (const b of gpu) if (a !== b) assert.not.ok(overlap(a, b), `${a.label} and ${b.label} shared the GPU`);
    // The GPU nodes in series span most of the run and leave 3 of 4 cpu slots free: CPU nodes do not
    // queue behind them. (Which CPU node overlaps which depends on worker start-up, so: at least one.)
    assert.ok(cpu.some((c) => gpu.some((g) => overlap(c, g))), 'no CPU node ran beside a GPU node');
  } finally {
    await sb.cleanup();
  }
});

test('--gpus 0: a node that requests a GPU fails with a clear error; CPU nodes still build', async () => {
  const sb = new Sandbox();
  try {
    sb.writeConfig({ ...BASE, sleepy: { ms: 50, count: 1, gpu: 1 }, sleepyCpu: { ms: 50, count: 1 } });
    const r = await sb.cli(['--jobs', '2', '--gpus', '0', 'sleepy']);
    assert.is(r.code, 1);
    assert.match(r.out, /FAILED sleepy\[0\]: needs 1 gpu, but the gpu pool is empty \(--gpus 0\)/);
    assert.equal(summary(r.out), { built: 1, cached: 0, failed: 1, skipped: 0 });
    assert.equal(sb.ran(), ['sleepy-cpu0'], 'the GPU node never started');
  } finally {
    await sb.cleanup();
  }
});

test.run();
