// Keys: the code digest follows a stage's local imports; each fingerprint field moves the key; keys are
// the same in another process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clearCodeCache, codeInfo, computeKey, FORMAT_VERSION, stageCodeInfo, type Fingerprint } from '../../engine/key/keys.ts';
import type { CodeDigest } from '../../engine/types.ts';
import { REPO } from './helpers.ts';

function project(): { dir: string; url: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-keys-'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'lib'));
  writeFileSync(
    join(dir, 'stage.ts'),
    [
      `import { helper } from './lib/helper.js';`,
      `import type { T } from './types.ts';`,
      `import { z } from 'zod';`,
      `import { readFileSync } from 'node:fs';`,
      `import './side.ts';`,
      `export const later = () => import('./dyn.ts');`,
      `export const x: T = helper(z.string().parse('a')) + String(readFileSync);`,
    ].join('\n'),
  );
  writeFileSync(join(dir, 'lib', 'helper.ts'), `import { deep } from '../deep';\nexport const helper = (s: string): string => deep(s);\n`);
  writeFileSync(join(dir, 'deep.ts'), `export function deep<T extends string>(s: T): string { return s + '!'; }\n`);
  writeFileSync(join(dir, 'types.ts'), `export type T = string;\n`);
  writeFileSync(join(dir, 'side.ts'), `globalThis.sideEffect = 1;\n`);
  writeFileSync(join(dir, 'dyn.ts'), `export default 1;\n`);
  writeFileSync(join(dir, 'unrelated.ts'), `export default 2;\n`);
  return { dir, url: pathToFileURL(join(dir, 'stage.ts')).href };
}

test('the closure holds local runtime imports (incl. .js→.ts, extensionless, dynamic) and package versions', async () => {
  const p = project();
  try {
    clearCodeCache();
    const info = await codeInfo(p.url);
    assert.equal(Object.keys(info.codeFiles).sort(), ['deep.ts', 'dyn.ts', 'lib/helper.ts', 'npm:zod', 'side.ts', 'stage.ts']);
    assert.match(info.codeFiles['npm:zod'], /^4\.\d+\.\d+$/);
    assert.match(info.codeDigest, /^[0-9a-f]{64}$/);
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
});

test('editing a transitively imported module changes the digest and is named; type-only and unrelated files are not', async () => {
  const p = project();
  try {
    clearCodeCache();
    const before = await codeInfo(p.url);
    appendFileSync(join(p.dir, 'types.ts'), 'export type U = number;\n');
    appendFileSync(join(p.dir, 'unrelated.ts'), '// edit\n');
    clearCodeCache();
    assert.is((await codeInfo(p.url)).codeDigest, before.codeDigest);
    appendFileSync(join(p.dir, 'deep.ts'), '// edit\n');
    clearCodeCache();
    const after = await codeInfo(p.url);
    assert.is.not(after.codeDigest, before.codeDigest);
    const changed = Object.keys(after.codeFiles).filter((f) => after.codeFiles[f] !== before.codeFiles[f]);
    assert.equal(changed, ['deep.ts']);
    // the per-process cache keeps the old answer until cleared (watch mode clears it)
    appendFileSync(join(p.dir, 'dyn.ts'), '// edit\n');
    assert.is((await codeInfo(p.url)).codeDigest, after.codeDigest);
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
});

test('a module started by URL (a worker) is part of the closure, with everything it imports', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-keys-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'stage.ts'), "export const workerUrl = new URL('./chain-worker.ts', import.meta.url).href;\n");
    writeFileSync(join(dir, 'chain-worker.ts'), "import { step } from './sampler.ts';\nexport const run = step;\n");
    writeFileSync(join(dir, 'sampler.ts'), 'export const step = 1;\n');
    const url = pathToFileURL(join(dir, 'stage.ts')).href;
    clearCodeCache();
    const before = await codeInfo(url);
    assert.ok('chain-worker.ts' in before.codeFiles && 'sampler.ts' in before.codeFiles, Object.keys(before.codeFiles).join(', '));
    appendFileSync(join(dir, 'sampler.ts'), 'export const eps = 2;\n');
    clearCodeCache();
    const after = await codeInfo(url);
    assert.is.not(after.codeDigest, before.codeDigest);
    assert.equal(Object.keys(after.codeFiles).filter((f) => after.codeFiles[f] !== before.codeFiles[f]), ['sampler.ts']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the llc stage key covers the SGLD and model code its chain workers run', async () => {
  clearCodeCache();
  const { llcStage } = await import('../../stages/llc.ts');
  const files = Object.keys((await stageCodeInfo(llcStage)).codeFiles);
  for (const f of ['stages/llc-worker.ts', 'stages/llc-chain.ts', 'lib/sgld.ts', 'lib/model.ts', 'lib/kernels/fused-transformer.ts']) {
    assert.ok(files.includes(f), `${f} in the llc closure (got ${files.join(', ')})`);
  }
});

test('a stage with a run module: editing the run module or what it imports changes the code digest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-run-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    // The run URL is not a literal here, so only the stage definition can tell the scanner about it.
    writeFileSync(join(dir, 'stage.ts'), "const name = 'x-run';\nexport const stage = { run: new URL(`./${name}.ts`, import.meta.url) };\n");
    writeFileSync(join(dir, 'x-run.ts'), "import { f } from './maths.ts';\nexport const run = async () => f();\n");
    writeFileSync(join(dir, 'maths.ts'), 'export const f = () => 1;\n');
    writeFileSync(join(dir, 'maths2.ts'), 'export const f = () => 2;\n');
    const stage = { module: pathToFileURL(join(dir, 'stage.ts')).href, run: new URL(pathToFileURL(join(dir, 'x-run.ts')).href) };
    const digest = async () => {
      clearCodeCache();
      return stageCodeInfo(stage);
    };
    const before = await digest();
    assert.equal(Object.keys(before.codeFiles).sort(), ['maths.ts', 'stage.ts', 'x-run.ts']);
    writeFileSync(join(dir, 'x-run.ts'), "import { f } from './maths2.ts';\nexport const run = async () => f();\n");
    const swapped = await digest();
    assert.is.not(swapped.codeDigest, before.codeDigest);
    assert.equal(Object.keys(swapped.codeFiles).sort(), ['maths2.ts', 'stage.ts', 'x-run.ts']);
    appendFileSync(join(dir, 'maths2.ts'), 'export const g = 3;\n');
    assert.is.not((await digest()).codeDigest, swapped.codeDigest);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('real stages: the train, evaluate and llc keys cover their run modules and the model code', async () => {
  clearCodeCache();
  const { trainStage } = await import('../../stages/train.ts');
  const { evaluateStage } = await import('../../stages/evaluate.ts');
  const { llcStage } = await import('../../stages/llc.ts');
  for (const [stage, runFile] of [[trainStage, 'stages/train-run.ts'], [evaluateStage, 'stages/evaluate-run.ts'], [llcStage, 'stages/llc-run.ts']] as const) {
    assert.ok(stage.run instanceof URL, `${stage.name} uses the run-URL form`);
    const files = Object.keys((await stageCodeInfo(stage)).codeFiles);
    for (const f of [runFile, 'lib/model.ts', 'npm:@tensorflow/tfjs']) assert.ok(files.includes(f), `${stage.name}: ${f} in the closure`);
    // The build system's own code is not the experiment: only the public API module and its two light
    // runtime imports are in a stage's digest, so editing the engine's internals invalidates nothing.
    assert.equal(files.filter((f) => f.startsWith('engine/')).sort(), ['engine/index.ts', 'engine/key/sweep.ts', 'engine/store/atomic.ts'], `${stage.name}: engine files`);
  }
});

test('an import that resolves to no file is an error naming both files', async () => {
  const p = project();
  try {
    writeFileSync(join(p.dir, 'side.ts'), `import './missing.ts';\n`);
    clearCodeCache();
    await codeInfo(p.url).then(
      () => assert.unreachable('no error'),
      (e: Error) => assert.match(e.message, /side\.ts imports "\.\/missing\.ts", which does not resolve to a file/),
    );
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
});

const FP: Fingerprint = {
  formatVersion: FORMAT_VERSION,
  stage: 'train',
  stageVersion: 0,
  params: { lr: 0.001, M: { $number: 'Infinity' } },
  codeDigest: 'a'.repeat(64) as CodeDigest,
  inputs: { tasks: 'b'.repeat(64), ckpts: ['c'.repeat(64), 'd'.repeat(64)] },
};

test('every fingerprint field moves the key; key order inside params does not', () => {
  const k = computeKey(FP);
  assert.match(k, /^[0-9a-f]{64}$/);
  const variants: Fingerprint[] = [
    { ...FP, formatVersion: FP.formatVersion + 1 },
    { ...FP, stage: 'train2' },
    { ...FP, stageVersion: 1 },
    { ...FP, params: { lr: 0.002, M: { $number: 'Infinity' } } },
    { ...FP, params: { lr: 0.001, M: null } },
    { ...FP, codeDigest: 'e'.repeat(64) as CodeDigest },
    { ...FP, inputs: { tasks: 'b'.repeat(64), ckpts: ['d'.repeat(64), 'c'.repeat(64)] } },
    { ...FP, inputs: { tasks: 'b'.repeat(64) } },
  ];
  const keys = new Set([k, ...variants.map(computeKey)]);
  assert.is(keys.size, variants.length + 1);
  assert.is(computeKey({ ...FP, params: { M: { $number: 'Infinity' }, lr: 0.001 } }), k);
});

test('the same fingerprint and code give the same key in another process', async () => {
  const p = project();
  try {
    clearCodeCache();
    const here = computeKey({ ...FP, codeDigest: (await codeInfo(p.url)).codeDigest });
    const script = `
      import { codeInfo, computeKey } from ${JSON.stringify(pathToFileURL(join(REPO, 'engine/key/keys.ts')).href)};
      const fp = ${JSON.stringify(FP)};
      fp.codeDigest = (await codeInfo(${JSON.stringify(p.url)})).codeDigest;
      console.log(computeKey(fp));`;
    const file = join(p.dir, 'key.ts');
    writeFileSync(file, script);
    const there = execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: REPO, encoding: 'utf8' }).trim();
    assert.is(there, here);
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
});

test.run();
