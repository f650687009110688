import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResourcePools } from '../../engine/run/pools.ts';

test('clamp: default { cpu: 1 }, requests above the pool size are clamped, bad values rejected', () => {
  const p = new ResourcePools({ cpu: 4, gpu: 1 });
  assert.equal(p.clamp(undefined), { cpu: 1, gpu: 0 });
  assert.equal(p.clamp({ cpu: 16, gpu: 2 }), { cpu: 4, gpu: 1 });
  assert.equal(p.clamp({ gpu: 1 }), { cpu: 0, gpu: 1 });
  assert.throws(() => p.clamp({ cpu: -1 }), /resources\.cpu: expected a non-negative number, got -1/);
  assert.throws(() => new ResourcePools({ cpu: 1.5, gpu: 1 }), /resource pool cpu: expected a non-negative integer/);
  // A GPU request is never clamped to nothing: without a GPU the node must not run as if it had one.
  const noGpu = new ResourcePools({ cpu: 4, gpu: 0 });
  assert.throws(() => noGpu.clamp({ cpu: 1, gpu: 1 }), /needs 1 gpu, but the gpu pool is empty \(--gpus 0\)/);
  assert.equal(noGpu.clamp({ cpu: 2 }), { cpu: 2, gpu: 0 });
});

test('random mixed requests never exceed either pool, and all complete', async () => {
  const cap = { cpu: 3, gpu: 1 };
  const p = new ResourcePools(cap);
  const inUse = { cpu: 0, gpu: 0 };
  const max = { cpu: 0, gpu: 0 };
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const jobs = Array.from({ length: 60 }, async () => {
    const req = p.clamp({ cpu: 1 + Math.floor(rand() * 3), gpu: rand() < 0.3 ? 1 : 0 });
    const release = await p.acquire(req);
    inUse.cpu += req.cpu;
    inUse.gpu += req.gpu;
    max.cpu = Math.max(max.cpu, inUse.cpu);
    max.gpu = Math.max(max.gpu, inUse.gpu);
    await new Promise((r) => setTimeout(r, rand() * 3));
    inUse.cpu -= req.cpu;
    inUse.gpu -= req.gpu;
    release();
  });
  await Promise.all(jobs);
  assert.ok(max.cpu <= cap.cpu && max.gpu <= cap.gpu, JSON.stringify(max));
  assert.is(max.cpu, cap.cpu, 'the pool is actually used in parallel');
});

test('a two-unit request is granted atomically (no deadlock between multi-unit waiters)', async () => {
  const p = new ResourcePools({ cpu: 2, gpu: 0 });
  const order: string[] = [];
  const hold = await p.acquire({ cpu: 1, gpu: 0 });
  const a = p.acquire({ cpu: 2, gpu: 0 }).then((r) => (order.push('a'), r));
  const b = p.acquire({ cpu: 2, gpu: 0 }).then((r) => (order.push('b'), r));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(order, []);
  hold();
  (await a)();
  (await b)();
  assert.equal(order, ['a', 'b']);
});

test('an aborted waiter leaves the queue', async () => {
  const p = new ResourcePools({ cpu: 1, gpu: 0 });
  const hold = await p.acquire({ cpu: 1, gpu: 0 });
  const ac = new AbortController();
  const waiting = p.acquire({ cpu: 1, gpu: 0 }, ac.signal);
  ac.abort(new Error('stop'));
  await waiting.then(() => assert.unreachable('granted'), (e: Error) => assert.is(e.message, 'stop'));
  hold();
  (await p.acquire({ cpu: 1, gpu: 0 }))();
});

test('waiters are served highest priority first, equal priorities in arrival order', async () => {
  const p = new ResourcePools({ cpu: 1, gpu: 0 });
  const order: string[] = [];
  const hold = await p.acquire({ cpu: 1, gpu: 0 });
  const waits = [
    ['low', 1],
    ['high', 9],
    ['mid-1', 5],
    ['mid-2', 5],
  ].map(([name, prio]) => p.acquire({ cpu: 1, gpu: 0 }, undefined, prio as number).then((release) => (order.push(name as string), release())));
  hold();
  await Promise.all(waits);
  assert.equal(order, ['high', 'mid-1', 'mid-2', 'low']);
});

test('a hold keeps freed units for the successor that is about to ask, and lapses if it never does', async () => {
  const p = new ResourcePools({ cpu: 1, gpu: 0 });
  const order: string[] = [];
  const segment = await p.acquire({ cpu: 1, gpu: 0 }, undefined, 100);
  const evaluation = p.acquire({ cpu: 1, gpu: 0 }, undefined, 4).then((r) => (order.push('evaluation'), r));
  segment({ minPriority: 90, ms: 5000 }); // the next segment (priority 90) is still assessing its inputs
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(order, [], 'the waiting low-priority node does not take the held core');
  const next = await p.acquire({ cpu: 1, gpu: 0 }, undefined, 90);
  order.push('next segment');
  next();
  (await evaluation)();
  assert.equal(order, ['next segment', 'evaluation']);

  const q = new ResourcePools({ cpu: 1, gpu: 0 });
  const first = await q.acquire({ cpu: 1, gpu: 0 }, undefined, 100);
  const late = q.acquire({ cpu: 1, gpu: 0 }, undefined, 1);
  first({ minPriority: 90, ms: 30 }); // nobody of priority 90 comes: after 30 ms the hold ends
  (await late)();
});

test.run();
