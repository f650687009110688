import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Resvg } from '@resvg/resvg-js';
import { copyFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { edParams, edStage } from '../../stages/essential-dynamics.ts';
import { figureBehaviourStage, figureCalibrationStage, figureEdStage, figureLrStage, figuresIndexStage, figureTaskPriorStage } from '../../stages/figures.ts';
import { manifestName, readManifest } from '../../stages/figures/common.ts';
import { approachSummary } from '../../stages/figures/task-prior.ts';
import { fakeContext, logSteps, STAGES, tempDir, writeEval, writeLlc, writeRun } from './figure-fixtures.ts';
import { invokeStage } from '../../engine/run/invoke.ts';
import type { StageDef } from '../../engine/index.ts';

const steps = logSteps(40);

/** A stage run in a fresh outDir; returns the outDir. */
async function runStage(root: string, name: string, stage: StageDef, params: unknown, inputs: Record<string, string | string[]>) {
  const outDir = path.join(root, name);
  await mkdir(outDir);
  await invokeStage(stage, fakeContext(stage.params.parse(params), inputs, outDir));
  return outDir;
}

/** Every SVG listed in the stage's manifest exists, parses and renders (resvg throws on malformed SVG). */
async function checkFigures(dir: string, stage: StageDef, expected: string[]) {
  const manifest = JSON.parse(await readFile(path.join(dir, manifestName(stage.name)), 'utf8')) as { file: string; title: string }[];
  assert.equal(manifest.map((m) => m.file), expected);
  const svgs: Record<string, string> = {};
  for (const m of manifest) {
    assert.ok(m.title.length > 0);
    const svg = await readFile(path.join(dir, m.file), 'utf8');
    const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render();
    assert.ok(png.width > 200 && png.height > 100, `${m.file} renders (${png.width}×${png.height})`);
    svgs[m.file] = svg;
  }
  assert.equal((await readdir(dir)).sort(), [...expected, manifestName(stage.name)].sort());
  return svgs;
}

/** The message a promise rejects with (a test failure if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as Error).message;
  }
  assert.unreachable('expected a rejection');
  return '';
}

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test('figure stages turn pipeline-format artifacts into SVGs, and index.html gathers them', async () => {
  const root = await tempDir('figures');
  try {
    const seed0 = await writeRun(root, 's0', steps);
    const seed1 = await writeRun(root, 's1', steps, 0.95);
    const style = { width: 312, fontSize: 11 };

    const lr = await runStage(root, 'lr', figureLrStage, { labels: ['seed 0', 'seed 1'], xLimits: [100, 500000], style }, { train: [seed0.trainDir, seed1.trainDir], stages: [seed0.stagesDir, seed1.stagesDir] });
    const lrSvgs = await checkFigures(lr, figureLrStage, ['lr-fig1-top.svg', 'lr-fig1-top-multiple.svg']);
    const top = texts(lrSvgs['lr-fig1-top.svg']);
    for (const label of ['Stages:', ...STAGES.map((s) => s.label), 'Training step t', 'Test loss', 'LLC λ̂', 'Zero predictor', 'Ridge (Bayes)', '10³', '10⁵']) {
      assert.ok(top.includes(label), `lr-fig1-top has text '${label}'`);
    }
    // Five stage spans in each of the two panels, at the paper's α = 0.2.
    assert.is((lrSvgs['lr-fig1-top.svg'].match(/<rect [^>]*fill-opacity="0.2"/g) ?? []).length, 10);
    assert.ok(texts(lrSvgs['lr-fig1-top-multiple.svg']).includes('seed 1'));

    const beh = await runStage(root, 'behaviour', figureBehaviourStage, { label: 'seed 0', style }, { evals: seed0.evalDirs, stages: seed0.stagesDir, train: seed0.trainDir });
    const behSvgs = await checkFigures(beh, figureBehaviourStage, ['behavioral-detail.svg', 'behavioral.svg']);
    for (const label of ['(a)', '(f)', 'δλ̂/δ log t', 'Weight norm ‖w‖']) assert.ok(texts(behSvgs['behavioral-detail.svg']).includes(label), label);
    for (const label of ['k=1', 'k=8', 'Mean']) assert.ok(texts(behSvgs['behavioral.svg']).includes(label), label);

    const edDir = await runStage(root, 'ed-node', edStage, edParams.parse({ components: 3, smoothing: { sigmaStart: 0.5, sigmaEnd: 2 }, cuspSkip: 1, numCusps: 2 }), { evals: seed0.evalDirs });
    const edFig = await runStage(root, 'ed-fig', figureEdStage, { label: 'seed 0', style }, { ed: edDir, stages: seed0.stagesDir });
    const edSvgs = await checkFigures(edFig, figureEdStage, ['essential-dynamics.svg', 'ed-pcs-over-time.svg']);
    for (const label of ['PC1', 'PC2', 'PC3', 'Explained variance', 'Evolute cusp', 'LR3']) assert.ok(texts(edSvgs['essential-dynamics.svg']).includes(label), label);

    const priorDirs = [];
    const Ms: number[] = [];
    for (const M of [16, 256]) {
      for (const step of [1, 10, 100, 1000]) {
        priorDirs.push(await writeEval(path.join(root, `prior-${M}-${step}`), step, { fromZero: 5 / Math.sqrt(step) + M / 100, fromTaskMean: 3 / Math.sqrt(step) + M / 200 }));
        Ms.push(M);
      }
    }
    const prior = await runStage(root, 'prior', figureTaskPriorStage, { M: Ms, style }, { evals: priorDirs });
    const priorSvgs = await checkFigures(prior, figureTaskPriorStage, ['task-prior.svg']);
    for (const label of ['M = 2⁴', 'M = 2⁸', '(a) MSE from 0 prediction']) assert.ok(texts(priorSvgs['task-prior.svg']).includes(label), label);
    // fromTaskMean = 3/√step + M/200 falls with the step: the closest approach is the last checkpoint.
    const priorCaption = (await readManifest('test', prior))[0].caption!;
    assert.ok(priorCaption.includes('M = 16: 0.175 at step 1000, 0.175 at step 1000; M = 256: 1.37 at step 1000, 1.37 at step 1000.'), priorCaption);

    const llcDirs = [];
    for (const step of [100, 10000]) {
      for (const eps of [1e-4, 1e-3, 1e-2]) llcDirs.push(await writeLlc(path.join(root, `llc-${step}-${eps}`), step, { eps }, step === 10000 && eps === 1e-2));
    }
    const cal = await runStage(root, 'calibration', figureCalibrationStage, { style }, { llcs: llcDirs });
    const calSvgs = await checkFigures(cal, figureCalibrationStage, ['llc-vs-sampler.svg', 'llc-traces.svg']);
    assert.ok(texts(calSvgs['llc-vs-sampler.svg']).includes('Step size ε'));
    assert.ok(texts(calSvgs['llc-traces.svg']).includes('1 of 3 chains failed'), 'the diverged chain is called out');

    const index = await runStage(root, 'index', figuresIndexStage, { stageLabels: ['seed 0', 'seed 1'], provenance: { config: 'configs/tiny.yaml', backend: 'wasm', nodes: [{ id: 'train[seed=0]', key: 'ab'.repeat(32), wallSeconds: 12.5 }] } }, { figures: [lr, beh, edFig, prior, cal], stages: [seed0.stagesDir, seed1.stagesDir] });
    const html = await readFile(path.join(index, 'index.html'), 'utf8');
    assert.is((html.match(/<svg /g) ?? []).length, 9, 'all nine figures inline');
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    assert.is(new Set(ids).size, ids.length, 'ids unique across inlined SVGs');
    for (const ref of html.matchAll(/url\(#([^)]+)\)/g)) assert.ok(ids.includes(ref[1]), `clip-path target ${ref[1]} exists`);
    // Sections from the manifests group the page, in order of first appearance.
    const headings = [...html.matchAll(/<h2 id="section-[^"]+">([^<]+)<\/h2>/g)].map((m) => m[1]);
    assert.equal(headings, ['Linear regression: training', 'Linear regression: behaviour', 'Linear regression: essential dynamics', 'Linear regression: task prior', 'LLC calibration']);
    assert.ok(html.indexOf('lr-fig1-top-multiple.svg') < html.indexOf('>Linear regression: behaviour</h2>'), 'a section holds its figures');
    for (const s of ['configs/tiny.yaml', 'wasm', 'train[seed=0]', '12.5 s', '<td>LR3</td><td>40000</td><td>126000</td><td>B</td>', 'seed 1']) assert.ok(html.includes(s), `index.html has '${s}'`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('figure nodes publishing into one folder each leave their own manifest; the index reads each node dir', async () => {
  const root = await tempDir('figures-manifests');
  try {
    const run = await writeRun(root, 's0', steps);
    const lr = await runStage(root, 'lr', figureLrStage, {}, { train: [run.trainDir], stages: [run.stagesDir] });
    const beh = await runStage(root, 'behaviour', figureBehaviourStage, {}, { evals: run.evalDirs, stages: run.stagesDir, train: run.trainDir });
    // Publish both into one folder as publishTo does: every output copied in, a same-named file replaced.
    const published = path.join(root, 'published');
    await mkdir(published);
    for (const dir of [lr, beh]) for (const file of await readdir(dir)) await copyFile(path.join(dir, file), path.join(published, file));
    const manifestIn = async (dir: string, stage: StageDef) => (JSON.parse(await readFile(path.join(dir, manifestName(stage.name)), 'utf8')) as { file: string }[]).map((m) => m.file);
    assert.equal(await manifestIn(published, figureLrStage), ['lr-fig1-top.svg', 'lr-fig1-top-multiple.svg']);
    assert.equal(await manifestIn(published, figureBehaviourStage), ['behavioral-detail.svg', 'behavioral.svg']);
    assert.equal((await readdir(published)).filter((f) => f.endsWith('.json')).sort(), ['figure-behaviour.figures.json', 'figure-lr.figures.json']);
    // A node dir holds exactly one manifest; a folder with several (or none) is not one node's.
    assert.equal((await readManifest('test', lr)).map((m) => m.file), ['lr-fig1-top.svg', 'lr-fig1-top-multiple.svg']);
    assert.match(await rejection(readManifest('test', published)), /test: expected one manifest \*\.figures\.json in figure directory .*published, found figure-behaviour\.figures\.json, figure-lr\.figures\.json/);
    assert.match(await rejection(readManifest('test', run.stagesDir)), /expected one manifest \*\.figures\.json in figure directory .*stages-s0, found none/);
    const index = await runStage(root, 'index', figuresIndexStage, {}, { figures: [lr, beh] });
    assert.is(((await readFile(path.join(index, 'index.html'), 'utf8')).match(/<svg /g) ?? []).length, 4, 'both nodes\' figures inline');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the calibration caption states the range of λ̂ across each sweep of this run', async () => {
  const root = await tempDir('figures-calibration');
  try {
    // t = 100: a 2 × 2 grid of ε and m; t = 1000: ε only, one chain failed at ε = 0.001.
    const points: [number, { eps: number; batchSize: number }, number, boolean][] = [
      [100, { eps: 1e-4, batchSize: 64 }, 10, false],
      [100, { eps: 1e-3, batchSize: 64 }, 14, false],
      [100, { eps: 1e-4, batchSize: 16 }, 11, false],
      [100, { eps: 1e-3, batchSize: 16 }, 13, false],
      [1000, { eps: 1e-4, batchSize: 64 }, 40, false],
      [1000, { eps: 1e-3, batchSize: 64 }, 30, true],
    ];
    const llcs = await Promise.all(points.map(([step, sampler, llc, failed], i) => writeLlc(path.join(root, `llc-${i}`), step, sampler, failed, llc)));
    const cal = await runStage(root, 'calibration', figureCalibrationStage, {}, { llcs });
    const caption = (await readManifest('test', cal)).find((m) => m.file === 'llc-vs-sampler.svg')!.caption!;
    for (const s of [
      // m tells the ε sweeps apart, so it is named; (14 − 10) / 2 of the centre 12 = 17%.
      'Across ε: at t = 100 with m = 64, λ̂ from 10.0 at ε = 0.0001 to 14.0 at ε = 0.001 (±17% of the centre 12.0); at t = 100 with m = 16, λ̂ from 11.0 at ε = 0.0001 to 13.0 at ε = 0.001 (±8.3% of the centre 12.0); at t = 1000 with m = 64, λ̂ from 30.0 at ε = 0.001 to 40.0 at ε = 0.0001 (±14% of the centre 35.0).',
      // t = 1000 has one m only: no m sweep there.
      'Across m: at t = 100 with ε = 0.0001, λ̂ from 10.0 at m = 64 to 11.0 at m = 16 (±4.8% of the centre 10.5); at t = 100 with ε = 0.001, λ̂ from 13.0 at m = 16 to 14.0 at m = 64 (±3.7% of the centre 13.5).',
      'Red rings: a chain failed (diverged).',
    ]) {
      assert.ok(caption.includes(s), `caption has '${s}'\n  in '${caption}'`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a figure-only setting changes the figure: stage colour override and size', async () => {
  const root = await tempDir('figures-style');
  try {
    const run = await writeRun(root, 's0', steps);
    const inputs = { train: [run.trainDir], stages: [run.stagesDir] };
    const plain = await runStage(root, 'plain', figureLrStage, {}, inputs);
    const styled = await runStage(root, 'styled', figureLrStage, { style: { width: 400, fontSize: 13, stageColors: { LR1: '#123456' } } }, inputs);
    const a = await readFile(path.join(plain, 'lr-fig1-top.svg'), 'utf8');
    const b = await readFile(path.join(styled, 'lr-fig1-top.svg'), 'utf8');
    assert.not.ok(a.includes('#123456'));
    assert.ok(b.includes('fill="#123456" fill-opacity="0.2"'), 'LR1 span in the override colour');
    assert.match(a, /width="468"/); // 1.5 × 312 px, the paper's 1.5·WIDTH
    assert.match(b, /width="600"/);
    assert.ok(b.includes('font-size="13"'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('bad params and inputs name the key and the expected form', async () => {
  const root = await tempDir('figures-bad');
  try {
    const run = await writeRun(root, 's0', steps);
    await assert.throws(() => figureLrStage.params.parse({ style: { stageColors: { LR1: 'orange' } } }), /hex colour/);
    try {
      await runStage(root, 'x', figureLrStage, { labels: ['a', 'b'] }, { train: [run.trainDir], stages: [run.stagesDir] });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /params.labels has 2 entries, expected one per seed \(1\)/);
    }
    try {
      await runStage(root, 'y', figureTaskPriorStage, { M: [16] }, { evals: run.evalDirs });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /params.M has 1 entries, expected one per 'evals' input/);
    }
    try {
      await runStage(root, 'z', figureBehaviourStage, {}, { evals: run.evalDirs, stages: [run.stagesDir], train: run.trainDir });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /figure-behaviour: input 'stages' must be a single path \(dir\)/);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('each figure module is in the key of its own figure only: editing one figure rebuilds that figure alone', async () => {
  const { clearCodeCache, stageCodeInfo } = await import('../../engine/key/keys.ts');
  clearCodeCache();
  const stages = [figureLrStage, figureBehaviourStage, figureEdStage, figureTaskPriorStage, figureCalibrationStage, figuresIndexStage];
  const closures = new Map<string, string[]>();
  for (const st of stages) closures.set(st.name, Object.keys((await stageCodeInfo(st)).codeFiles));
  const own: Record<string, string[]> = {
    'figure-lr': ['stages/figures/lr.ts', 'lib/plots/lr-figure.ts'],
    'figure-behaviour': ['stages/figures/behaviour.ts', 'lib/plots/behaviour-figures.ts'],
    'figure-ed': ['stages/figures/ed.ts', 'lib/plots/ed-figures.ts'],
    'figure-task-prior': ['stages/figures/task-prior.ts', 'lib/plots/task-prior-figure.ts'],
    'figure-calibration': ['stages/figures/calibration.ts', 'lib/plots/calibration-figures.ts'],
    'figures-index': ['stages/figures/index-page.ts', 'lib/plots/report.ts'],
  };
  // A file's edit changes exactly the keys of the stages whose closure holds it.
  for (const [stage, files] of Object.entries(own)) {
    for (const f of files) {
      const holders = [...closures].filter(([, c]) => c.includes(f)).map(([name]) => name);
      assert.equal(holders, [stage], `${f} is in the closure of ${holders.join(', ')}`);
    }
  }
});

test('the task-prior caption reports the closest approach of each run to the task mean and its last value', () => {
  const summary = approachSummary([
    { M: 4, steps: [1, 80, 1000], fromZero: [4, 1, 10], fromTaskMean: [5, 0.5, 9] },
    { M: 1, steps: [1, 80, 1000], fromZero: [4, 2, 2], fromTaskMean: [6, 0.2, 0.02] },
  ]);
  assert.is(summary, 'Closest approach to t̄·x in (b), then the last value: M = 4: 0.500 at step 80, 9.00 at step 1000; M = 1: 0.0200 at step 1000, 0.0200 at step 1000.');
});

test.run();
