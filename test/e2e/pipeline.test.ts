// End to end: the real pipeline.ts on configs/tiny.yaml, as a user runs it (separate processes,
// --json summaries), against a fresh artifact root. Checks what a build system must get right:
// a second run builds nothing, an edit rebuilds exactly what depends on it, --only is honoured,
// and a malformed config builds nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'stagewise-e2e-'));
const configFile = path.join(tmp, 'tiny.yaml');
const root = path.join(tmp, 'artifacts');
const figuresDir = path.join(tmp, 'figures');
const baseConfig = YAML.parse(readFileSync(path.join(repo, 'configs/tiny.yaml'), 'utf8'));

interface NodeSummary {
  id: string;
  stage: string;
  status: 'built' | 'cached' | 'failed' | 'skipped';
}
interface Summary {
  built: number;
  cached: number;
  failed: number;
  skipped: number;
  nodes: NodeSummary[];
}

function writeConfig(edit: (c: any) => void = () => {}): void {
  const c = structuredClone(baseConfig);
  edit(c);
  writeFileSync(configFile, YAML.stringify(c));
}

function pipeline(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'pipeline.ts', '--config', configFile, ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, LOCAL_ROOT: root, FIGURES_DIR: figuresDir, CI: '1' },
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function run(...args: string[]): Summary {
  const r = pipeline('--json', ...args);
  if (r.code !== 0) throw new Error(`pipeline ${args.join(' ')} exited ${r.code}\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Summary;
}

const built = (s: Summary) => s.nodes.filter((n) => n.status === 'built');
const stagesOf = (nodes: NodeSummary[]) => [...new Set(nodes.map((n) => n.stage))].sort();
const isFigure = (stage: string) => stage.startsWith('figure') || stage === 'report';

function countRecords(): number {
  const dir = path.join(root, 'records');
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.json')).length;
}

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('a malformed config is rejected with the key path and nothing is built', () => {
  writeConfig((c) => {
    c.llc.sampler.eps = -1;
  });
  const r = pipeline();
  assert.is(r.code, 2);
  assert.match(r.stderr, /llc\.sampler\.eps/);
  assert.match(r.stderr, /tiny\.yaml/);
  assert.is(countRecords(), 0);

  writeConfig((c) => {
    c.train.stepz = 5;
  });
  const unknown = pipeline();
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /stepz/);
  assert.is(countRecords(), 0);
});

test('full build succeeds, every node kind runs, figures are published', () => {
  writeConfig();
  const s = run('figures');
  assert.is(s.failed, 0);
  assert.is(s.skipped, 0);
  assert.is(s.cached, 0);
  assert.ok(s.built > 30, `built ${s.built}`);
  const stages = stagesOf(s.nodes);
  for (const stage of ['tasks', 'train', 'evaluate', 'llc', 'stage-boundaries', 'essential-dynamics']) {
    assert.ok(stages.includes(stage), `stage ${stage} ran (got ${stages.join(', ')})`);
  }
  assert.ok(stages.some(isFigure), 'figure nodes ran');
  const index = readFileSync(path.join(figuresDir, 'index.html'), 'utf8');
  // Provenance from the engine (ctx.upstream): upstream node ids with their keys, and the backend.
  const train = s.nodes.find((n) => n.stage === 'train' && n.id.includes('seed=0'))! as NodeSummary & { key: string };
  assert.ok(index.includes(train.id) && index.includes(train.key.slice(0, 16)), 'index lists the train node and its key');
  assert.match(index, /Backend<\/th><td>(wasm|cpu|tensorflow|webgpu)/);
});

test('a second run builds nothing', () => {
  const s = run('figures');
  assert.is(s.built, 0);
  assert.is(s.failed, 0);
  assert.ok(s.cached > 30);
});

test('editing a figure-only setting rebuilds only figure nodes', () => {
  writeConfig((c) => {
    c.figures.width += 40;
  });
  const s = run('figures');
  const rebuilt = built(s);
  assert.ok(rebuilt.length > 0, 'something was rebuilt');
  assert.equal(
    rebuilt.filter((n) => !isFigure(n.stage)).map((n) => n.id),
    [],
  );
});

test('--only llc re-estimates just the llc nodes after a sampler edit', () => {
  writeConfig((c) => {
    c.figures.width += 40;
    c.llc.sampler.nbeta = 40;
  });
  const s = run('--only', 'llc');
  const rebuilt = built(s);
  assert.ok(rebuilt.length > 0);
  assert.equal(stagesOf(rebuilt), ['llc']);
  // Other nodes appear only as cached inputs; nothing downstream of llc was touched.
  assert.equal(s.nodes.filter((n) => n.stage !== 'llc' && n.status !== 'cached').map((n) => n.id), []);
  assert.not.ok(s.nodes.some((n) => n.stage === 'stage-boundaries' || isFigure(n.stage)));
});

test('the sampler edit rebuilds llc nodes and their dependents only', () => {
  const s = run('figures');
  const rebuilt = built(s);
  // The llc nodes were rebuilt by --only above; now only what consumes them is stale.
  assert.equal(
    rebuilt.filter((n) => !(n.stage === 'stage-boundaries' || isFigure(n.stage))).map((n) => n.id),
    [],
  );
  assert.ok(rebuilt.some((n) => n.stage === 'stage-boundaries'));
  for (const n of s.nodes.filter((n) => ['train', 'evaluate', 'tasks', 'essential-dynamics'].includes(n.stage))) {
    assert.is(n.status, 'cached', n.id);
  }
});

test('--dry-run reports the param that changed', () => {
  writeConfig((c) => {
    c.figures.width += 40;
    c.llc.sampler.nbeta = 45;
  });
  const r = pipeline('--dry-run');
  assert.is(r.code, 0);
  assert.match(r.stdout, /sampler\.nbeta 40 → 45/);
  assert.is(countRecords() > 0, true);
});

test.run();
