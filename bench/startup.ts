// Start-up of a no-op run: how much a fully cached `pipeline.ts figures` costs beyond starting the
// TypeScript runtime at all. Measured in one run, interleaved, as wall and CPU seconds (user+sys
// of the process tree, from /usr/bin/time): bare `npx tsx -e 0` (the reference), the cached
// pipeline through `npx tsx pipeline.ts`, and through the executable entry `./pipeline.ts`
// (`node --import tsx` by its shebang: no npx). Configs that are not fully cached in this checkout's
// store are skipped (build them first: `npx tsx pipeline.ts figures --config …`).
// Writes bench/startup-results.md. Run: `npx tsx bench/startup.ts [CONFIG …]` (REPEATS, default 7).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const REPEATS = Number(process.env.REPEATS ?? 7);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

interface Sample {
  wall: number;
  cpu: number;
}

/** One run of `cmd` under /usr/bin/time; stdout/stderr of the command are discarded. */
function timed(cmd: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', ...cmd], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const last = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  if (r.status !== 0 || last.some((x) => !Number.isFinite(x))) throw new Error(`${cmd.join(' ')} failed: ${r.stderr.slice(-400)}`);
  return { wall: last[0], cpu: last[1] + last[2] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stat = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

function cached(config: string): boolean {
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'pipeline.ts', 'figures', '--config', config, '--dry-run'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return / 0 stale/.test(out);
  } catch {
    return false;
  }
}

/** The reading under the table: each entry's median wall time beyond the bare start, per config. */
function reading(labels: string[], beyond: number[]): string[] {
  const of = (entry: string) =>
    labels
      .map((l, i) => [l, beyond[i]] as const)
      .filter(([l]) => l.startsWith(`\`${entry} figures`))
      .map(([l, d]) => `${d.toFixed(2)} s (${l.match(/configs\/(\S+)\.yaml/)?.[1]})`)
      .join(', ');
  if (labels.length < 2) return [];
  return [
    `Reading: \`npx tsx pipeline.ts\` costs ${of('npx tsx pipeline.ts')} of wall time beyond a bare \`npx tsx -e 0\`:`,
    `loading the pipeline's modules through tsx's loader hooks, one round trip to its hooks thread per module`,
    `(≈ 240 modules: ≈ 120 of the project, ≈ 95 of zod; only a bundled entry would avoid it), plus the engine's own`,
    `work (plan, keys, store lookups, ≈ 0.1 s). The executable entry \`./pipeline.ts\` (README "The command line";`,
    `its shebang runs \`node --import tsx\`) loads the same modules but starts without npx and without tsx's CLI`,
    `process (a bare \`node --import tsx -e 0\` takes ≈ 0.2 s against ≈ 0.7 s), which pays for them: it costs`,
    `${of('./pipeline.ts')} beyond the bare \`npx tsx -e 0\`.`,
    '',
  ];
}

export async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a.endsWith('.yaml'));
  const configs = args.length ? args : ['configs/tiny.yaml', 'configs/default.yaml'];
  const commands: [string, string[]][] = [['bare `npx tsx -e 0`', ['npx', 'tsx', '-e', '0']]];
  const skipped: string[] = [];
  for (const c of configs) {
    if (!cached(c)) {
      skipped.push(c);
      continue;
    }
    commands.push([`\`npx tsx pipeline.ts figures --config ${c}\``, ['npx', 'tsx', 'pipeline.ts', 'figures', '--config', c]]);
    commands.push([`\`./pipeline.ts figures --config ${c}\``, ['./pipeline.ts', 'figures', '--config', c]]);
  }
  const loadBefore = loadavg();
  const samples = commands.map(() => [] as Sample[]);
  timed(commands[0][1]); // warm the file cache and tsx's transform cache
  for (let r = 0; r < REPEATS; r++) commands.forEach(([, cmd], i) => samples[i].push(timed(cmd)));
  const base = samples[0];
  const lines = [
    '# No-op start-up (bench/startup.ts)',
    '',
    `Run ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; ${REPEATS} interleaved repeats; load ${loadBefore} → ${loadavg()} (shared machine).`,
    'Seconds, median (min–max). "beyond bare" = the command minus bare `npx tsx -e 0` within the same repeat (median over repeats).',
    '',
    '| command | wall s | CPU s (user+sys) | wall beyond bare | CPU beyond bare |',
    '|---|---|---|---|---|',
    ...commands.map(([label], i) => {
      const s = samples[i];
      const dWall = s.map((x, r) => x.wall - base[r].wall);
      const dCpu = s.map((x, r) => x.cpu - base[r].cpu);
      return `| ${label} | ${stat(s.map((x) => x.wall))} | ${stat(s.map((x) => x.cpu))} | ${i === 0 ? '–' : stat(dWall)} | ${i === 0 ? '–' : stat(dCpu)} |`;
    }),
    '',
    ...(skipped.length ? [`Not fully cached here, skipped: ${skipped.join(', ')}.`, ''] : []),
    ...reading(commands.map(([label]) => label), samples.map((s) => median(s.map((x, r) => x.wall - base[r].wall)))),
  ];
  console.log(lines.join('\n'));
  writeFileSync(new URL('./startup-results.md', import.meta.url), lines.join('\n'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
