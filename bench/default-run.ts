// The main job as a new user meets it: a fresh clone of this checkout's HEAD, `npm ci`, then
// `npx tsx pipeline.ts figures` from an empty cache, timed by /usr/bin/time (wall, CPU, peak RSS);
// then, in the same clone, tiny.yaml is built and bench/startup.ts measures the cached no-op of both
// configs against a bare `npx tsx -e 0`. The report (per-stage node-seconds, detected stages, λ̂ with
// chain diagnostics, from tools/run-report.ts) is put at the top of bench/default-run.md and the
// start-up table is copied to bench/startup-results.md.
//
//   npx tsx bench/default-run.ts [--config configs/default.yaml] [--link-modules]
//
// --link-modules symlinks this checkout's node_modules instead of running `npm ci` (offline, or to
// time only the run). Uncommitted changes are not in the clone: the script says so and goes on.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function run(cmd: string, args: string[], opts: SpawnSyncOptions & { what: string }): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.status !== 0) throw new Error(`${opts.what} failed (exit ${r.status}): ${String(r.stderr ?? '').slice(-2000)}`);
  return String(r.stdout ?? '');
}

/** `cmd` under GNU time -v in `cwd`: its stdout, and wall seconds, user + system CPU seconds, peak RSS (MB). */
function timed(cmd: string[], cwd: string, env: NodeJS.ProcessEnv, what: string): { stdout: string; wall: number; cpu: number; rssMB: number } {
  const timeFile = path.join(cwd, '.time.txt');
  const stdout = run('/usr/bin/time', ['-v', '-o', timeFile, ...cmd], { cwd, env, what, stdio: ['ignore', 'pipe', 'inherit'] });
  const t = readFileSync(timeFile, 'utf8');
  rmSync(timeFile);
  const field = (name: string) => t.split('\n').find((l) => l.trim().startsWith(name))!.split(': ').pop()!.trim();
  const [h, m, s] = field('Elapsed (wall clock) time').split(':').map(Number).reverse().concat([0, 0]).slice(0, 3).reverse();
  return { stdout, wall: h * 3600 + m * 60 + s, cpu: Number(field('User time (seconds)')) + Number(field('System time (seconds)')), rssMB: Number(field('Maximum resident set size (kbytes)')) / 1024 };
}

export async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== 'default-run'), options: { config: { type: 'string', default: 'configs/default.yaml' }, 'link-modules': { type: 'boolean', default: false } }, strict: false });
  const config = String(values.config);
  const commit = run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, what: 'git rev-parse' }).trim();
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, what: 'git status' }).trim();
  if (dirty) console.warn(`default-run: uncommitted changes are not in the clone (it runs commit ${commit})`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stagewise-default-run-'));
  try {
    run('git', ['clone', '-q', ROOT, dir], { what: 'git clone' });
    const env: NodeJS.ProcessEnv = { ...process.env, LOCAL_ROOT: path.join(dir, 'artifacts') };
    delete env.AWS_BUCKET_NAME; // the local store, as the README's first command uses
    let install = 'node_modules symlinked from the benchmarking checkout (--link-modules)';
    if (values['link-modules']) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    else {
      const ci = timed(['npm', 'ci', '--no-audit', '--no-fund'], dir, env, 'npm ci');
      install = `\`npm ci\` ${ci.wall.toFixed(0)} s`;
    }
    const loadBefore = loadavg();
    console.log(`default-run: ${config} from an empty cache in ${dir} (commit ${commit}; load ${loadBefore})`);
    const main = timed(['npx', 'tsx', 'pipeline.ts', 'figures', '--config', config, '--json'], dir, env, 'the run');
    const loadAfter = loadavg();
    const summaryFile = path.join(dir, 'summary.json');
    writeFileSync(summaryFile, main.stdout);
    const report = run('npx', ['tsx', 'tools/run-report.ts', summaryFile], { cwd: dir, env, what: 'tools/run-report.ts' });

    // The cached no-op, in the same clone (both configs fully built there).
    run('npx', ['tsx', 'pipeline.ts', 'figures', '--config', 'configs/tiny.yaml'], { cwd: dir, env, what: 'the tiny build' });
    run('npx', ['tsx', 'bench/startup.ts', config, 'configs/tiny.yaml'], { cwd: dir, env, what: 'bench/startup.ts', stdio: ['ignore', 'inherit', 'inherit'] });
    copyFileSync(path.join(dir, 'bench', 'startup-results.md'), path.join(ROOT, 'bench', 'startup-results.md'));

    const section = [
      `## ${new Date().toISOString().slice(0, 10)}, fresh clone of ${commit}${dirty ? ' (uncommitted changes not included)' : ''}: ${main.wall.toFixed(0)} s (\`npm run bench -- default-run\`)`,
      '',
      `\`git clone\`, ${install}, then \`npx tsx pipeline.ts figures --config ${config}\` from an empty cache on ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'} (Node ${process.version}).`,
      `1-minute load average before ${loadBefore.split(' ')[0]}, after ${loadAfter.split(' ')[0]} (the run's own load included).`,
      '',
      `* **Wall time ${main.wall.toFixed(0)} s**; ${main.cpu.toFixed(0)} CPU-s (user + system), ${((100 * main.cpu) / main.wall).toFixed(0)}% CPU; peak RSS ${(main.rssMB / 1024).toFixed(2)} GB.`,
      '* The cached re-run: bench/startup-results.md (measured right after, in the same clone).',
      '',
      report.trim(),
      '',
    ].join('\n');
    const file = path.join(ROOT, 'bench', 'default-run.md');
    const old = readFileSync(file, 'utf8');
    const at = old.indexOf('\n## ');
    writeFileSync(file, at < 0 ? `${old.trimEnd()}\n\n${section}` : `${old.slice(0, at + 1)}${section}\n${old.slice(at + 1)}`);
    console.log(`\n${section}\nWritten to bench/default-run.md (top) and bench/startup-results.md.`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
