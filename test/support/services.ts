// Real servers for tests: OpenStack Swift with s3api (an S3-compatible endpoint) and Redis.
// Each is started from the Debian packages on 127.0.0.1 and free ports, in a temp dir, and
// stopped by killing its process groups. When a program is not installed the caller gets
// { skipped } and prints a loud SKIPPED line: install with .ci/services.sh.
import { spawn, type ChildProcess } from 'node:child_process';
import { $ } from 'zx';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test as uvuTest, type Test } from 'uvu';

export interface SwiftService {
  /** S3 endpoint URL (s3api in the proxy pipeline), e.g. http://127.0.0.1:41234 */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Create a bucket (a Swift container in the tempauth account). */
  bucketCreate(name: string): Promise<void>;
  /** The AWS_* environment that points the S3 store at `bucket/prefix` on this server. */
  s3Env(bucketAndPrefix: string): Record<string, string>;
  /** Every process id started for this service (for loopback/cleanup checks). */
  pids(): number[];
  stop(): Promise<void>;
}

export interface RedisService {
  url: string;
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * uvu's `test` for tests that need a service (or program) that may be missing. With `missing` null it
 * is uvu's own `test`. Otherwise every test registered through it is counted as *skipped* by the
 * runner's closing line, with one loud SKIPPED line per file — except under CI (env CI set, as
 * .ci/run does), where CI installs every service, so a missing one is a failing test instead.
 */
export function serviceTest(missing: string | null, label: string): Test {
  if (missing === null) return uvuTest;
  const underCi = Boolean(process.env.CI);
  if (!underCi) console.log(`\n  SKIPPED (${label}: ${missing})\n`);
  const register = (name: string) =>
    underCi
      ? uvuTest(name, () => {
          throw new Error(`${label}: ${missing} — CI must install it (.ci/services.sh)`);
        })
      : uvuTest.skip(name);
  const guarded = Object.assign((name: string, _fn?: unknown) => register(name), uvuTest);
  return Object.assign(guarded, { only: guarded, skip: uvuTest.skip }) as unknown as Test;
}

export interface Skipped {
  skipped: string;
}

// tempauth account `test`, user `tester`: s3api takes "account:user" as the access key.
const SWIFT_USER = 'test:tester';
const SWIFT_KEY = 'testing';
// Servers read the hash-path salt and storage policies from here (not from swift_dir).
const SWIFT_CONF = '/etc/swift/swift.conf';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;

/** Process groups still alive; killed on exit so a crashed test run leaves no servers behind. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroups(pgids: number[]): Promise<void> {
  for (const pgid of pgids) killGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (pgids.some(groupAlive) && Date.now() < deadline) await sleep(25);
  for (const pgid of pgids) {
    if (groupAlive(pgid)) killGroup(pgid, 'SIGKILL');
  }
  while (pgids.some(groupAlive)) await sleep(10);
  for (const pgid of pgids) liveGroups.delete(pgid);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function onPath(program: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, program);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return null;
}

function missingPrograms(programs: string[]): string[] {
  return programs.filter((p) => onPath(p) === null);
}

/**
 * `n` distinct free loopback ports: all are held open at once (port 0 lets the kernel pick)
 * so they differ, then released for the servers to bind.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

interface Launched {
  name: string;
  child: ChildProcess;
  logFile: string;
}

/** Start `argv` in its own process group with stdout+stderr going to `<dir>/<name>.log`. */
function launch(dir: string, name: string, argv: string[]): Launched {
  const logFile = path.join(dir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { cwd: dir, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  if (child.pid === undefined) throw new Error(`services: could not start ${argv[0]}`);
  trackGroup(child.pid);
  child.unref();
  return { name, child, logFile };
}

function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Poll `probe` until it resolves true; fail early if a launched process exits meanwhile. */
async function waitReady(service: string, procs: Launched[], probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
    if (dead) {
      throw new Error(
        `services: ${service}: ${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}) before ready; ` +
          `log ${dead.logFile}:\n${logTail(dead.logFile)}`,
      );
    }
    if (await probe().catch(() => false)) return;
    await sleep(50);
  }
  const logs = procs.map((p) => `--- ${p.name}:\n${logTail(p.logFile, 5)}`).join('\n');
  throw new Error(`services: ${service} not ready after ${READY_TIMEOUT_MS / 1000} s\n${logs}`);
}

/** Run a short-lived helper program to completion; throw with its output on failure. */
async function runToEnd(argv: string[], cwd: string): Promise<void> {
  const r = await $({ cwd, quiet: true, nothrow: true })`${argv}`;
  if (r.exitCode !== 0) throw new Error(`services: ${argv[0]} failed (${r.exitCode}):\n${r.stdout}${r.stderr}`);
}

async function httpStatus(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// --- Swift ---------------------------------------------------------------------------------

type StorageKind = 'account' | 'container' | 'object';
const STORAGE_KINDS: StorageKind[] = ['account', 'container', 'object'];

function storageServerConf(kind: StorageKind, port: number, dir: string, user: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = ${user}
swift_dir = ${dir}
devices = ${dir}/devices
mount_check = false
log_level = WARNING

[pipeline:main]
pipeline = healthcheck ${kind}-server

[app:${kind}-server]
use = egg:swift#${kind}

[filter:healthcheck]
use = egg:swift#healthcheck
`;
}

function proxyServerConf(port: number, memcachedPort: number, dir: string, user: string): string {
  // The pipeline order is the one Swift documents for s3api: s3api before tempauth so that
  // S3-signed requests are authenticated by tempauth's S3 key check.
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = ${user}
swift_dir = ${dir}
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_${SWIFT_USER.replace(':', '_')} = ${SWIFT_KEY} .admin

[filter:s3api]
use = egg:swift#s3api

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachedPort}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
`;
}

// One python process builds all three rings (one device each, 2^8 partitions, 1 replica):
// the same as `swift-ring-builder create 8 1 1 / add / rebalance` ×3, without ~9 interpreter starts.
function ringScript(dir: string, ports: Record<StorageKind, number>): string {
  return `
from swift.common.ring import RingBuilder
for name, port in ${JSON.stringify(Object.entries(ports))}:
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'sdb1', 'weight': 100})
    builder.rebalance()
    builder.get_ring().save(${JSON.stringify(dir)} + '/' + name + '.ring.gz')
`;
}

/** The interpreter Swift itself runs on (a python3 earlier on PATH may lack the swift module). */
function swiftPython(): string {
  const script = fs.readFileSync(onPath('swift-proxy-server')!, 'utf8');
  const shebang = /^#!\s*(\S+)/.exec(script);
  return shebang ? shebang[1] : 'python3';
}

/** Why Swift cannot run here, or null when it is installed. Synchronous: test files decide at load time. */
export function swiftMissing(): string | null {
  const programs = ['memcached', ...['proxy', ...STORAGE_KINDS].map((k) => `swift-${k}-server`)];
  const missing = missingPrograms(programs);
  if (missing.length > 0) return `Swift not installed (missing ${missing.join(', ')}); install with .ci/services.sh`;
  if (!fs.existsSync(SWIFT_CONF)) return `${SWIFT_CONF} missing (shipped by Debian's swift package); reinstall with .ci/services.sh`;
  return null;
}

export async function startSwift(): Promise<SwiftService | Skipped> {
  const missing = swiftMissing();
  if (missing) return { skipped: missing };

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'stagewise-swift-'));
  const user = os.userInfo().username;
  const [proxyPort, memcachedPort, accountPort, containerPort, objectPort] = await freePorts(5);
  const storagePorts: Record<StorageKind, number> = {
    account: accountPort,
    container: containerPort,
    object: objectPort,
  };
  const procs: Launched[] = [];
  const stop = async () => {
    await stopGroups(procs.map((p) => p.child.pid!));
    await fsp.rm(dir, { recursive: true, force: true });
  };

  try {
    await fsp.mkdir(path.join(dir, 'devices', 'sdb1'), { recursive: true });
    for (const kind of STORAGE_KINDS) {
      await fsp.writeFile(path.join(dir, `${kind}-server.conf`), storageServerConf(kind, storagePorts[kind], dir, user));
    }
    await fsp.writeFile(path.join(dir, 'proxy-server.conf'), proxyServerConf(proxyPort, memcachedPort, dir, user));

    // Storage servers do not read the rings at startup, so they boot while the rings are built;
    // only the proxy needs them.
    const rings = runToEnd([swiftPython(), '-c', ringScript(dir, storagePorts)], dir);
    // -U 0: no UDP listener; memcached refuses to run as root unless told which user to be.
    procs.push(launch(dir, 'memcached', ['memcached', '-l', '127.0.0.1', '-p', String(memcachedPort), '-U', '0', '-u', user, '-m', '32']));
    for (const kind of STORAGE_KINDS) {
      procs.push(launch(dir, `${kind}-server`, [`swift-${kind}-server`, path.join(dir, `${kind}-server.conf`)]));
    }
    await rings;
    procs.push(launch(dir, 'proxy-server', ['swift-proxy-server', path.join(dir, 'proxy-server.conf')]));

    const healthchecks = [proxyPort, accountPort, containerPort, objectPort].map(
      (port) => `http://127.0.0.1:${port}/healthcheck`,
    );
    await waitReady('Swift', procs, async () => {
      if (!(await tcpOpen(memcachedPort))) return false;
      const statuses = await Promise.all(healthchecks.map((url) => httpStatus(url)));
      return statuses.every((s) => s === 200);
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const proxy = `http://127.0.0.1:${proxyPort}`;
  return {
    endpoint: proxy,
    accessKeyId: SWIFT_USER,
    secretAccessKey: SWIFT_KEY,
    pids: () => procs.map((p) => p.child.pid!),
    stop,
    s3Env: (bucketAndPrefix) => ({
      AWS_BUCKET_NAME: bucketAndPrefix,
      AWS_ENDPOINT_URL: proxy,
      AWS_ACCESS_KEY_ID: SWIFT_USER,
      AWS_SECRET_ACCESS_KEY: SWIFT_KEY,
    }),
    async bucketCreate(name: string) {
      // Native Swift API: a bucket is a container in the user's account.
      const auth = await fetch(`${proxy}/auth/v1.0`, {
        headers: { 'X-Storage-User': SWIFT_USER, 'X-Storage-Pass': SWIFT_KEY },
      });
      await auth.arrayBuffer();
      const token = auth.headers.get('x-auth-token');
      const storageUrl = auth.headers.get('x-storage-url');
      if (auth.status !== 200 || !token || !storageUrl) {
        throw new Error(`services: Swift tempauth at ${proxy} answered ${auth.status} without a token`);
      }
      const status = await httpStatus(`${storageUrl}/${encodeURIComponent(name)}`, {
        method: 'PUT',
        headers: { 'X-Auth-Token': token },
      });
      if (status !== 201 && status !== 202) {
        throw new Error(`services: creating Swift container '${name}' answered ${status}`);
      }
    },
  };
}

// --- Redis ---------------------------------------------------------------------------------

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.once('error', () => resolve(false));
  });
}

/** Why Redis cannot run here, or null when it is installed. */
export function redisMissing(): string | null {
  return onPath('redis-server') === null ? 'redis-server not installed; install with .ci/services.sh' : null;
}

export async function startRedis(): Promise<RedisService | Skipped> {
  const missing = redisMissing();
  if (missing) return { skipped: missing };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'stagewise-redis-'));
  const [port] = await freePorts(1);
  // No persistence: a test server's data dies with it.
  const proc = launch(dir, 'redis-server', [
    'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no',
  ]);
  const stop = async () => {
    await stopGroups([proc.child.pid!]);
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady('Redis', [proc], () => redisPing(port));
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, pids: () => [proc.child.pid!], stop };
}

// --- for tests of the services themselves ----------------------------------------------------

/**
 * Local addresses of every listening TCP socket owned by the given process groups'
 * processes, from /proc (Linux). Lets a test assert that nothing listens beyond loopback.
 */
export async function listeningAddresses(pgids: number[]): Promise<string[]> {
  const inodes = new Set<string>();
  for (const pid of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let pgid: number;
    try {
      // Field 5 of /proc/PID/stat is the process group; the command name (field 2) may hold spaces.
      const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
      pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    } catch {
      continue;
    }
    if (!pgids.includes(pgid)) continue;
    let fds: string[] = [];
    try {
      fds = await fsp.readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await fsp.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]);
    }
  }
  const addresses: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6']) {
    const rows = (await fsp.readFile(table, 'utf8').catch(() => '')).trim().split('\n').slice(1);
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = cols;
      // TCP state 0A = LISTEN; an unconnected UDP socket (07 = CLOSE) also accepts from anyone.
      const listening = table.includes('tcp') ? state === '0A' : state === '07';
      if (listening && inodes.has(inode)) addresses.push(`${path.basename(table)} ${decodeProcAddress(local)}`);
    }
  }
  return addresses;
}

function decodeProcAddress(hexAddress: string): string {
  const [hexIp, hexPort] = hexAddress.split(':');
  const port = parseInt(hexPort, 16);
  if (hexIp.length === 8) {
    // IPv4, stored as a little-endian 32-bit word
    const bytes = hexIp.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
    return `${bytes.join('.')}:${port}`;
  }
  // IPv6: four little-endian 32-bit words
  const words = hexIp.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  const groups = words.join('').match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16));
  return `[${groups.join(':')}]:${port}`;
}

/** True when an address from listeningAddresses() is a loopback one. */
export function isLoopback(address: string): boolean {
  const host = address.split(' ')[1];
  return host.startsWith('127.') || host.startsWith('[0:0:0:0:0:0:0:1]') || host.startsWith('[0:0:0:0:0:ffff:7f');
}

// --- Slurm -----------------------------------------------------------------------------------

export interface SlurmService {
  /** The environment Slurm's clients (sbatch, squeue, scancel, scontrol) need: SLURM_CONF. */
  env: Record<string, string>;
  /** The node's name and the two partitions: `cpu` (default) and `gpu` (same node, one fake GPU). */
  node: string;
  partitions: { cpu: string; gpu: string };
  /** Runs a Slurm client with this cluster's config; resolves with its stdout (throws on failure). */
  client(argv: string[]): Promise<string>;
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * The one-node cluster's slurm.conf. What each line is for (Slurm 22.05, no systemd, root):
 * - SlurmctldHost must be this machine's short hostname, or slurmctld refuses to be the controller;
 *   NodeHostname too, while NodeName is ours (slurmd -N picks it) and NodeAddr pins loopback.
 * - AuthInfo=socket=… points auth/munge and cred/munge at our own munged, not /run/munge.
 * - ProctrackType=proctrack/linuxproc, TaskPlugin=task/none: no cgroups needed (containers, CI).
 * - SlurmdParameters=config_overrides: the node may claim 4 CPUs and 8 GB on a 2-core machine
 *   (slurmd would otherwise drain a node whose config exceeds the hardware), so a few jobs run at once.
 * - SelectTypeParameters=CR_CPU_Memory with DefMemPerCPU: memory is a consumable resource (so --mem
 *   is meaningful) without every job taking the whole node by default.
 * - GresTypes=gpu + Gres=gpu:1 with gres.conf `File=/dev/null`: a fake GPU so --gres=gpu:1 jobs can
 *   be submitted, scheduled and inspected (`Count=1` alone reports 0 GPUs and the node goes INVAL).
 * - MinJobAge keeps finished jobs visible to squeue/scontrol (no accounting database here);
 *   KillWait=2 makes scancel's SIGTERM → SIGKILL quick; MailProg=/bin/true silences a startup error.
 */
function slurmConf(o: { dir: string; host: string; node: string; ctldPort: number; slurmdPort: number; socket: string }): string {
  return `ClusterName=stagewise-test
SlurmctldHost=${o.host}(127.0.0.1)
SlurmctldPort=${o.ctldPort}
SlurmdPort=${o.slurmdPort}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${o.socket}
StateSaveLocation=${o.dir}/state
SlurmdSpoolDir=${o.dir}/spool
SlurmctldPidFile=${o.dir}/slurmctld.pid
SlurmdPidFile=${o.dir}/slurmd.pid
SlurmctldLogFile=${o.dir}/slurmctld.log
SlurmdLogFile=${o.dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=100
SlurmdParameters=config_overrides
ReturnToService=2
GresTypes=gpu
MinJobAge=600
KillWait=2
NodeName=${o.node} NodeHostname=${o.host} NodeAddr=127.0.0.1 CPUs=4 RealMemory=8000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=${o.node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${o.node} MaxTime=INFINITE State=UP
`;
}

function runCapture(argv: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/**
 * A one-node Slurm cluster (slurmctld + slurmd + munged) on this machine: free ports, a temp dir
 * for config, state, spool and logs, daemons in the foreground in their own process groups.
 * Needs root (SlurmUser=root, slurmd runs jobs as their submitter).
 */
/** Why the test Slurm cluster cannot run here, or null. */
export function slurmMissing(): string | null {
  const daemons = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged'];
  const absent = [...daemons.filter((p) => !fs.existsSync(p)), ...missingPrograms(['sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo'])];
  if (absent.length > 0) return `Slurm not installed (missing ${absent.join(', ')}); install with .ci/services.sh`;
  if (process.getuid?.() !== 0) return 'the test Slurm cluster runs its daemons as root (SlurmUser=root); run the tests as root';
  return null;
}

export async function startSlurm(): Promise<SlurmService | Skipped> {
  const missing = slurmMissing();
  if (missing) return { skipped: missing };

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'stagewise-slurm-'));
  const host = os.hostname().split('.')[0];
  const node = 'swnode';
  const [ctldPort, slurmdPort] = await freePorts(2);
  const mungeDir = path.join(dir, 'munge');
  const socket = path.join(mungeDir, 'munge.sock');
  const conf = path.join(dir, 'slurm.conf');
  const env = { SLURM_CONF: conf };
  const procs: Launched[] = [];
  const client = async (argv: string[]) => {
    const r = await runCapture(argv, env);
    if (r.code !== 0) throw new Error(`services: ${argv.join(' ')} failed (${r.code}): ${r.err.trim()}`);
    return r.out;
  };
  const stop = async () => {
    // Jobs run under slurmstepd, outside the daemons' process groups: cancel them first and wait
    // for the queue to drain, so no job process outlives the cluster.
    if (procs.length === 3 && procs.every((p) => p.child.exitCode === null)) {
      await runCapture(['scancel', '--full', '--user', os.userInfo().username], env).catch(() => {});
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const r = await runCapture(['squeue', '-h', '-o', '%i'], env).catch(() => null);
        if (!r || r.code !== 0 || r.out.trim() === '') break;
        await sleep(200);
      }
    }
    await stopGroups(procs.map((p) => p.child.pid!));
    await fsp.rm(dir, { recursive: true, force: true });
  };

  try {
    // munged insists: every dir above its socket world-executable, the key readable by its owner only.
    await fsp.chmod(dir, 0o755);
    await fsp.mkdir(mungeDir, { mode: 0o755 });
    await fsp.chmod(mungeDir, 0o755);
    for (const sub of ['state', 'spool']) await fsp.mkdir(path.join(dir, sub));
    const key = path.join(mungeDir, 'munge.key');
    await runToEnd(['dd', 'if=/dev/urandom', `of=${key}`, 'bs=1024', 'count=1'], dir);
    await fsp.chmod(key, 0o400);
    await fsp.writeFile(conf, slurmConf({ dir, host, node, ctldPort, slurmdPort, socket }));
    await fsp.writeFile(path.join(dir, 'gres.conf'), `NodeName=${node} Name=gpu File=/dev/null\n`);

    procs.push(
      launch(dir, 'munged', [
        '/usr/sbin/munged', '--foreground', `--socket=${socket}`, `--key-file=${key}`,
        `--log-file=${path.join(mungeDir, 'munged.log')}`, `--pid-file=${path.join(mungeDir, 'munged.pid')}`,
        `--seed-file=${path.join(mungeDir, 'munged.seed')}`,
      ]),
    );
    await waitReady('munged', procs, async () => fs.existsSync(socket));
    procs.push(launch(dir, 'slurmctld', ['/usr/sbin/slurmctld', '-D', '-i', '-f', conf]));
    procs.push(launch(dir, 'slurmd', ['/usr/sbin/slurmd', '-D', '-f', conf, '-N', node]));
    // Ready when the node has registered and is schedulable (idle), not merely when the port is open.
    await waitReady('Slurm', procs, async () => {
      const r = await runCapture(['sinfo', '-h', '-n', node, '-o', '%t'], env);
      return r.code === 0 && r.out.trim().split('\n').every((s) => s === 'idle');
    });
  } catch (err) {
    const logs = ['slurmctld.log', 'slurmd.log'].map((f) => `--- ${f}:\n${logTail(path.join(dir, f), 8)}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
  return {
    env,
    node,
    partitions: { cpu: 'cpu', gpu: 'gpu' },
    client,
    pids: () => procs.map((p) => p.child.pid!),
    stop,
  };
}
