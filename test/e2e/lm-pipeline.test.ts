// End to end: pipeline.ts on configs/lm-tiny.yaml (corpus → tokenizer → rows → training) as a user
// runs it, against a fresh artifact root: a second run builds nothing; editing the corpus rebuilds
// everything downstream of it; editing the vocabulary size rebuilds the tokenizer and what follows
// but not the corpus; a bad value fails at plan time naming the key.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'stagewise-lm-e2e-'));
const configFile = path.join(tmp, 'lm-tiny.yaml');
const root = path.join(tmp, 'artifacts');
const baseConfig = YAML.parse(readFileSync(path.join(repo, 'configs/lm-tiny.yaml'), 'utf8'));

interface PlanNode {
  id: string;
  stage: string;
  status: 'fresh' | 'stale';
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
    env: { ...process.env, LOCAL_ROOT: root, CI: '1' },
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The ids the dry run would rebuild. */
function stale(): string[] {
  const r = pipeline('--dry-run', '--json');
  assert.is(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { nodes: PlanNode[] };
  return plan.nodes.filter((n) => n.status !== 'fresh').map((n) => n.id).sort();
}

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('build, then a second run builds nothing', () => {
  writeConfig();
  const first = pipeline('--json');
  assert.is(first.code, 0, first.stderr.slice(-2000));
  assert.equal(stale(), []);
});

test('editing the corpus reruns corpus, tokenizer, rows and training; editing the vocabulary size spares the corpus', () => {
  const src = path.join(tmp, 'corpus.jsonl');
  writeFileSync(src, Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `Document ${i}: the cat sat on the mat, then the dog sat on the log. `.repeat(8) })).join('\n'));
  writeConfig((c) => (c.lm.corpus.path = src));
  assert.equal(stale(), ['lm-corpus', 'lm-data', 'lm-tokenizer', 'lm-train[seed=0]']);
  writeConfig((c) => (c.lm.tokenizer.vocabSize = 320));
  assert.equal(stale(), ['lm-data', 'lm-tokenizer', 'lm-train[seed=0]']);
  writeConfig((c) => (c.lm.train.lr = 0.001));
  assert.equal(stale(), ['lm-train[seed=0]']);
  // Editing a corpus file's content (same path) is seen through its digest.
  writeConfig((c) => (c.lm.corpus.path = src));
  pipeline('--only', 'lm-corpus');
  assert.equal(stale(), ['lm-data', 'lm-tokenizer', 'lm-train[seed=0]']);
  writeFileSync(src, readFileSync(src, 'utf8').replace('Document 3:', 'Document three:'));
  assert.equal(stale(), ['lm-corpus', 'lm-data', 'lm-tokenizer', 'lm-train[seed=0]']);
});

test('a bad value is a plan-time error naming the file and key', () => {
  writeConfig((c) => (c.lm.tokenizer.vocabSize = 100));
  const r = pipeline('--dry-run');
  assert.is(r.code, 2);
  assert.match(r.stderr, /lm\.tokenizer\.vocabSize/);
  writeConfig((c) => (c.lm.corpus.path = path.join(tmp, 'nowhere.txt')));
  const m = pipeline('--dry-run');
  assert.is.not(m.code, 0);
  assert.match(m.stderr, /lm\.corpus\.path: .*nowhere\.txt: no such file or folder/);
});

test.run();
