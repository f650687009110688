// Engine benchmark: a generated 2,000-node DAG of trivial stages. Measures graph construction,
// planning (every node cached) and a no-op rebuild, in ms; plus whole-process no-op wall time
// against a bare `node --import tsx` start. Writes bench/engine-results.md.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { runCli } from '../engine/cli/main.ts';
import { removeTree } from '../engine/store/fsutil.ts';
import { buildGraph } from '../engine/key/graph.ts';
import { clearCodeCache } from '../engine/key/keys.ts';
import { planNodes } from '../engine/key/plan.ts';
import { ResourcePools } from '../engine/run/pools.ts';
import { inProcessRunner } from '../engine/run/runner.ts';
import { runGraph, type RunEvents } from '../engine/run/scheduler.ts';
import { defineStage, fileRef, ref } from '../engine/index.ts';
import { openLocalStore } from '../engine/store/local.ts';
import type { NodeDecl } from '../engine/types.ts';

const NODES = 2000;
const SOURCES = 100;

export const benchStage = defineStage({
  name: 'bench-node',
  module: import.meta.url,
  params: z.object({ i: z.number().int() }),
  inputs: { in0: 'dir?', in1: 'dir?', in2: 'dir?', file0: 'file?', file1: 'file?', file2: 'file?' },
  async run({ params, inputs, outDir }) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(outDir, 'out.txt'), `${params.i}:${Object.values(inputs).filter(Boolean).length}\n`);
  },
});

/** Deterministic DAG: SOURCES roots, every later node reads 1–3 earlier nodes (dirs or single files). */
export function declareBench(n = NODES): NodeDecl[] {
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const nodes: NodeDecl[] = [];
  for (let i = 0; i < n; i++) {
    const inputs: NodeDecl['inputs'] = {};
    if (i >= SOURCES) {
      const k = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < k; j++) {
        const up = `n${Math.floor(rand() * i)}`;
        if (rand() < 0.5) inputs[`in${j}`] = ref(up);
        else inputs[`file${j}`] = fileRef(up, 'out.txt');
      }
    }
    nodes.push({ id: `n${i}`, stage: benchStage, params: { i }, inputs });
  }
  return nodes;
}

const quiet: RunEvents = { start() {}, log() {}, progress() {}, waiting() {}, finish() {} };
const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time<T>(fn: () => Promise<T> | T): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

function processWall(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  execFileSync(process.execPath, args, { env: { ...process.env, ...env }, stdio: 'ignore' });
  return performance.now() - t0;
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-bench-'));
  const root = join(dir, 'artifacts');
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'nodes: 2000\n');
  try {
    const decls = declareBench();
    const store = openLocalStore(root);
    const pools = new ResourcePools({ cpu: availableParallelism(), gpu: 1 });
    const [buildMs, graph] = await time(() => buildGraph(decls));
    const ids = graph.order;
    const [coldMs, cold] = await time(() => runGraph({ graph, ids, store, root, runner: inProcessRunner(), pools, signal: new AbortController().signal, events: quiet }));
    await store.flush();
    if (cold.built !== NODES) throw new Error(`cold build built ${cold.built}/${NODES}: ${JSON.stringify(cold.nodes.filter((n) => n.status !== 'built'))}`);

    const planMs: number[] = [];
    const noopMs: number[] = [];
    const cliMs: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      clearCodeCache();
      const s = openLocalStore(root);
      planMs.push((await time(() => planNodes({ store: s, root, graph, force: new Set() }, ids)))[0]);
      clearCodeCache();
      const s2 = openLocalStore(root);
      const [ms, r] = await time(() => runGraph({ graph, ids, store: s2, root, runner: inProcessRunner(), pools, signal: new AbortController().signal, events: quiet }));
      if (r.cached !== NODES) throw new Error(`no-op run rebuilt ${r.built} nodes`);
      noopMs.push(ms);
      const [cms, code] = await time(() =>
        runCli({ argv: ['--config', config, '--in-process'], declare: () => declareBench(), stdout: sink(), stderr: sink(), env: { LOCAL_ROOT: root }, handleSignals: false, setExitCode: false }),
      );
      if (code !== 0) throw new Error(`CLI no-op exited ${code}`);
      cliMs.push(cms);
    }

    // Whole processes: the same no-op CLI vs a bare tsx start (the difference is what the engine adds).
    const self = fileURLToPath(import.meta.url);
    const bare = join(dir, 'bare.ts');
    writeFileSync(bare, '');
    const env = { LOCAL_ROOT: root };
    const procNoop: number[] = [];
    const procBare: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      procBare.push(processWall(['--import', 'tsx', bare], env));
      procNoop.push(processWall(['--import', 'tsx', self, '--child-noop', config], env));
    }

    const rows: [string, string][] = [
      ['graph construction (validate + topo sort)', `${buildMs.toFixed(1)} ms`],
      ['cold build, in-process trivial stages (for scale)', `${coldMs.toFixed(0)} ms`],
      ['plan, all cached (median of 5)', `${median(planMs).toFixed(1)} ms`],
      ['no-op rebuild, scheduler, all cached (median of 5)', `${median(noopMs).toFixed(1)} ms`],
      ['no-op rebuild via runCli in process (config + graph + run) (median of 5)', `${median(cliMs).toFixed(1)} ms`],
      ['process: bare `node --import tsx` start (median of 3)', `${median(procBare).toFixed(0)} ms`],
      ['process: no-op CLI run (median of 3)', `${median(procNoop).toFixed(0)} ms`],
      ['process: no-op beyond process start', `${(median(procNoop) - median(procBare)).toFixed(0)} ms`],
    ];
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`;
    const table = rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n');
    const md = `# Engine benchmark (${NODES}-node DAG)\n\nGenerated by \`bench/engine.ts\` on ${new Date().toISOString()} (${machine}).\n` +
      `${SOURCES} source nodes; every other node consumes 1–3 earlier nodes (half whole outputs, half single files).\n\n` +
      `| measurement | time |\n|---|---|\n${table}\n\n` +
      'Target: no-op rebuild < 300 ms beyond process start. The "beyond process start" row includes importing the\n' +
      'engine and its packages (zod, yaml, chokidar, log-update, es-module-lexer) as well as planning.\n';
    writeFileSync(new URL('./engine-results.md', import.meta.url), md);
    console.log(md);
  } finally {
    await removeTree(dir);
  }
}

async function childNoop(config: string): Promise<void> {
  await runCli({ argv: ['--config', config, '--in-process'], declare: () => declareBench() });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--child-noop') void childNoop(process.argv[3]);
  else void main();
}
