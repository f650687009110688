// The test services themselves: they start, answer, listen on loopback only, and stop completely.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isLoopback, listeningAddresses, startRedis, startSwift } from './services.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('Redis starts on a free loopback port, answers PING, and stops with nothing left running', async () => {
  const redis = await startRedis();
  if ('skipped' in redis) {
    console.log(`\n  SKIPPED (services.test.ts Redis: ${redis.skipped})\n`);
    return;
  }
  let client: Redis | null = null;
  try {
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await client.connect();
    assert.is(await client.ping(), 'PONG');
    await client.set('stagewise:probe', '42');
    assert.is(await client.get('stagewise:probe'), '42');

    const addresses = await listeningAddresses(redis.pids());
    assert.ok(addresses.length > 0, 'found no listening socket for redis-server');
    assert.equal(addresses.filter((a) => !isLoopback(a)), [], 'listens beyond loopback');
  } finally {
    client?.disconnect();
    await redis.stop();
  }
  for (const pid of redis.pids()) assert.not.ok(alive(pid), `redis-server ${pid} still running after stop()`);
  const port = Number(new URL(redis.url).port);
  const after = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  after.on('error', () => {});
  let refused = false;
  await after.connect().catch(() => (refused = true));
  after.disconnect();
  assert.ok(refused, 'port still accepts connections after stop()');
});

test('Swift (5 processes) listens on loopback only and stop() ends every process', async () => {
  const swift = await startSwift();
  if ('skipped' in swift) {
    console.log(`\n  SKIPPED (services.test.ts Swift: ${swift.skipped})\n`);
    return;
  }
  try {
    assert.is(swift.pids().length, 5); // memcached, account, container, object, proxy
    const addresses = await listeningAddresses(swift.pids());
    assert.ok(addresses.length >= 5, `expected ≥ 5 listening sockets, found ${addresses.join(', ')}`);
    assert.equal(addresses.filter((a) => !isLoopback(a)), [], 'listens beyond loopback');
    assert.ok(addresses.some((a) => a.endsWith(`:${new URL(swift.endpoint).port}`)), 'proxy port not among listeners');
  } finally {
    await swift.stop();
  }
  for (const pid of swift.pids()) assert.not.ok(alive(pid), `Swift process ${pid} still running after stop()`);
});

test('isLoopback tells loopback from other addresses', () => {
  assert.ok(isLoopback('tcp 127.0.0.1:6379'));
  assert.ok(isLoopback('tcp6 [0:0:0:0:0:0:0:1]:6379'));
  assert.ok(isLoopback('tcp6 [0:0:0:0:0:ffff:7f00:1]:6379'));
  assert.not.ok(isLoopback('tcp 0.0.0.0:6379'));
  assert.not.ok(isLoopback('tcp6 [0:0:0:0:0:0:0:0]:6379'));
  assert.not.ok(isLoopback('tcp 10.0.0.5:6379'));
});

test.run();
