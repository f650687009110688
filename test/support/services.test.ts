// The test services themselves: they start, answer, listen on loopback only, and stop completely.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isLoopback, listeningAddresses, redisMissing, serviceTest, startRedis, startSwift, swiftMissing } from './services.ts';

const redisTest = serviceTest(redisMissing(), 'services.test.ts Redis');
const swiftTest = serviceTest(swiftMissing(), 'services.test.ts Swift');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

redisTest('Redis starts on a free loopback port, answers PING, and stops with nothing left running', async () => {
  const redis = await startRedis();
  if ('skipped' in redis) throw new Error(redis.skipped);
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

swiftTest('Swift (5 processes) listens on loopback only and stop() ends every process', async () => {
  const swift = await startSwift();
  if ('skipped' in swift) throw new Error(swift.skipped);
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

test('serviceTest: a missing service registers skipped tests (counted by the runner), or failing ones under CI', async () => {
  // Each case runs in a child process: a uvu suite of two guarded tests, counted by uvu itself.
  const { execFileSync } = await import('node:child_process');
  const script = `
    import { serviceTest } from ${JSON.stringify(new URL('./services.ts', import.meta.url).href)};
    const t = serviceTest('frobnicator not installed', 'probe');
    t('one', () => {}); t('two', () => {}); t.run();`;
  const run = (env: NodeJS.ProcessEnv) => {
    try {
      return { code: 0, out: execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' }) };
    } catch (e) {
      const err = e as { status: number; stdout: string };
      return { code: err.status, out: err.stdout };
    }
  };
  const { CI: _ci, ...env } = process.env;
  const local = run(env);
  assert.is(local.code, 0);
  assert.match(local.out, /SKIPPED \(probe: frobnicator not installed\)/);
  assert.match(local.out.replace(/\x1b\[[0-9;]*m/g, ''), /Skipped:\s+2/);
  const ci = run({ ...env, CI: 'true' });
  assert.is.not(ci.code, 0, 'under CI a missing service must fail');
  assert.match(ci.out.replace(/\x1b\[[0-9;]*m/g, ''), /CI must install it/);
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
