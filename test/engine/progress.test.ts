import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createReporter, formatSeconds, summaryJson, summaryLine, type LiveRenderer } from '../../engine/run/progress.ts';
import { capture } from './helpers.ts';

const S = { built: 2, cached: 3, failed: 1, skipped: 4, seconds: 12.345, nodes: [{ id: 'a', stage: 's', status: 'failed' as const, key: null, seconds: 1, error: 'x' }] };

test('summary line and JSON summary have the agreed shape', () => {
  assert.is(summaryLine(S), 'built 2, cached 3, failed 1, skipped 4 in 12.35 s');
  assert.equal(JSON.parse(summaryJson(S)), { built: 2, cached: 3, failed: 1, skipped: 4, seconds: 12.345, nodes: [{ id: 'a', stage: 's', status: 'failed', key: null, seconds: 1, error: 'x' }] });
});

test('plain mode: a line per built/failed/skipped node with [done/total]; cached nodes are silent', () => {
  const out = capture();
  const r = createReporter({ total: 3, stream: out.stream });
  r.start('train[seed=0]', ['never built']);
  r.progress('train[seed=0]', 5, 100, 'steps'); // within 10 s of start: throttled
  r.finish({ id: 'train[seed=0]', stage: 'train', status: 'built', key: null, seconds: 41.23 });
  r.finish({ id: 'c', stage: 's', status: 'cached', key: null, seconds: 0 });
  r.finish({ id: 'd', stage: 's', status: 'skipped', key: null, seconds: 0, error: 'upstream x failed' });
  r.close();
  assert.is(out.text(), '[0/3] start train[seed=0]: never built\n[1/3] built train[seed=0] 41.2s\n[3/3] skipped d: upstream x failed\n');
});

test('live mode: one line per running node with bar, count, rate and ETA, under an overall counter', async () => {
  const frames: string[] = [];
  const fake: LiveRenderer = () => Object.assign((t: string) => void frames.push(t), { clear() {}, done() {} });
  const out = capture();
  const r = createReporter({ total: 2, stream: out.stream, live: fake });
  r.start('llc[step=1]', []);
  r.progress('llc[step=1]', 10, 100, 'draws');
  await new Promise((res) => setTimeout(res, 250));
  r.progress('llc[step=1]', 60, 100, 'draws');
  await new Promise((res) => setTimeout(res, 150));
  r.close();
  const last = frames[frames.length - 1];
  assert.match(last, /^\[0\/2\] 1 running\n  llc\[step=1\] \[#{12}-{8}\] 60\/100 draws \d+\/s ETA \d+\.\ds$/);
  assert.is(formatSeconds(125), '2m05s');
  assert.is(formatSeconds(7300), '2h01m');
});

test.run();
