// The config: one schema source (each section is its stage's param schema), strict at every depth,
// and every mistake reported as `error: FILE: key.path: …` with exit code 2 before anything is built.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { parseArgs } from '../../engine/cli/args.ts';
import { runCli } from '../../engine/cli/main.ts';
import { experiment } from '../../pipeline.ts';

const TINY = parse(readFileSync('configs/tiny.yaml', 'utf8')) as Record<string, any>;

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

/** Runs `pipeline.ts --dry-run` on a config edited by `edit`, in a fresh LOCAL_ROOT. */
async function dryRun(edit: (c: Record<string, any>) => void, env: NodeJS.ProcessEnv = {}, argv: string[] = ['--dry-run']) {
  const dir = mkdtempSync(join(tmpdir(), 'stagewise-config-'));
  try {
    const config = structuredClone(TINY);
    edit(config);
    const file = join(dir, 'exp.yaml');
    writeFileSync(file, stringify(config));
    const out = sink();
    const err = sink();
    const root = join(dir, 'artifacts');
    const code = await runCli({ ...experiment, argv: [...argv, '--config', file], env: { LOCAL_ROOT: root, ...env }, stdout: out.stream, stderr: err.stream, handleSignals: false, setExitCode: false });
    let built: string[] = [];
    try {
      built = readdirSync(root);
    } catch {}
    return { code, out: out.text(), err: err.text(), file, built };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function expectError(edit: (c: Record<string, any>) => void, path: string, what: RegExp) {
  const r = await dryRun(edit);
  assert.is(r.code, 2, `exit 2 for ${path} (stderr: ${r.err})`);
  const line = new RegExp(`^error: ${escape(r.file)}: ${escape(path)}: ${what.source}`, 'm');
  assert.match(r.err, line, `stderr names the file and ${path}: ${r.err}`);
  assert.is(r.out, '', 'no plan printed');
}

test('the tiny config plans cleanly (the baseline the bad variants start from)', async () => {
  const r = await dryRun(() => {});
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /stale/);
});

test('a bad value in every section: error FILE: key.path, exit 2', async () => {
  await expectError((c) => (c.description = 3), 'description', /expected string, got 3/);
  await expectError((c) => (c.task.noiseVariance = 0), 'task.noiseVariance', /expected a positive number, got 0/);
  await expectError((c) => (c.model.heads = 1.5), 'model.heads', /expected an integer/);
  await expectError((c) => (c.data.evalSize = -1), 'data.evalSize', /expected a positive number/);
  await expectError((c) => (c.train.steps = 2), 'train.steps', /expected a number >= 4, got 2/);
  await expectError((c) => (c.train.sweep.M = [0]), 'train.sweep.M[0]', /expected a positive number, got 0/);
  await expectError((c) => (c.llc.checkpoints.logSpace = 'ten'), 'llc.checkpoints.logSpace', /expected number, got "ten"/);
  await expectError((c) => (c.llc.sampler.eps = 0), 'llc.sampler.eps', /expected a positive number, got 0/);
  await expectError((c) => (c.llc.sampler.batchSize = 1000), 'llc.sampler.batchSize', /batchSize \(1000\) must be <= datasetSize \(64\)/);
  await expectError((c) => (c.stageDetection.bandwidth = 0), 'stageDetection.bandwidth', /expected a positive number, got 0/);
  await expectError((c) => (c.essentialDynamics.components = 1), 'essentialDynamics.components', /expected a number >= 2, got 1/);
  await expectError((c) => (c.taskPrior.M = []), 'taskPrior.M', /expected at least 1 items/);
  await expectError((c) => (c.calibration.steps = [-1]), 'calibration.steps[0]', /expected a non-negative number, got -1/);
  await expectError((c) => (c.calibration.sampler.sweep.eps = [0.001, -1]), 'calibration.sampler.sweep.eps[1]', /expected a positive number, got -1/);
  // A value that is only wrong once merged with llc.sampler is still reported against the file.
  await expectError((c) => (c.calibration.sampler.datasetSize = 4), 'calibration.sampler', /with llc.sampler and sweep point eps=0.0003: batchSize: batchSize \(8\) must be <= datasetSize \(4\)/);
  await expectError((c) => (c.figures.stageColors = { LR1: 'orange' }), 'figures.stageColors.LR1', /expected a hex colour/);
  await expectError((c) => (c.experiment = 'vision'), 'experiment', /expected one of the allowed forms|expected "regression"|Invalid/);
});

test('unknown keys are rejected at every object path', async () => {
  await expectError((c) => (c.trian = {}), 'trian', /unknown key/);
  await expectError((c) => (c.model.dmodel = 8), 'model.dmodel', /unknown key/);
  await expectError((c) => (c.train.checkpoints.log = 3), 'train.checkpoints.log', /unknown key/);
  await expectError((c) => (c.train.sweep.lr = [0.1]), 'train.sweep.lr', /unknown key/);
  await expectError((c) => (c.llc.sampler.epsilon = 0.1), 'llc.sampler.epsilon', /unknown key/);
  await expectError((c) => (c.essentialDynamics.smoothing.sigma = 1), 'essentialDynamics.smoothing.sigma', /unknown key/);
  await expectError((c) => (c.taskPrior.checkpoints.lin = 1), 'taskPrior.checkpoints.lin', /unknown key/);
  await expectError((c) => (c.calibration.sampler.sweep.chain = [1]), 'calibration.sampler.sweep.chain', /unknown key/);
  await expectError((c) => (c.figures.colour = '#fff'), 'figures.colour', /unknown key/);
});

test('config keys the stages accept are accepted: the scale form of the sampler, stage-detection prefix, ED numSharpest', async () => {
  const r = await dryRun((c) => {
    const { eps, nbeta, gamma, ...rest } = c.llc.sampler;
    c.llc.sampler = { ...rest, gradientScale: (eps * nbeta) / 2, localizationScale: (eps * gamma) / 2, noiseScale: eps };
    c.stageDetection.prefix = 'S';
    c.essentialDynamics.numSharpest = 1;
    delete c.calibration;
  });
  assert.is(r.code, 0, r.err);
});

test('a config with a top-level lm: section is the language-model experiment', async () => {
  const r = await dryRun((c) => {
    for (const k of Object.keys(c)) delete c[k];
    c.lm = { layers: 2 };
  });
  assert.is(r.code, 2);
  assert.match(r.err, /lm\.layers: unknown key/);
});

test('--cpus 0 / --jobs 0 are rejected for a local run (they would lift the concurrency limit); a worker may take no cpu nodes', async () => {
  const r = await dryRun(() => {}, {}, ['--cpus', '0']);
  assert.is(r.code, 2);
  assert.match(r.err, /^error: --cpus: expected an integer >= 1 \(a local run needs a cpu slot/m);
  assert.equal(r.built, [], 'nothing built');
  assert.throws(() => parseArgs(['--jobs', '0']), /--jobs: expected an integer >= 1/);
  assert.is(parseArgs(['worker', '--queue', 'redis://h:1', '--cpus', '0', '--gpus', '1']).jobs, 0);
});

test('bad AWS_* settings: error line naming the variable, exit 2, no stack trace', async () => {
  for (const [env, what] of [
    [{ AWS_BUCKET_NAME: 'Not_A_Bucket' }, /^error: S3 store: AWS_BUCKET_NAME="Not_A_Bucket": bucket "Not_A_Bucket" is not a valid bucket name/m],
    [{ AWS_BUCKET_NAME: 'bucket', AWS_ENDPOINT_URL: 'not a url' }, /^error: S3 store: AWS_ENDPOINT_URL="not a url" is not a URL/m],
    [{ AWS_BUCKET_NAME: 'bucket', AWS_ACCESS_KEY_ID: 'key' }, /^error: S3 store: AWS_SECRET_ACCESS_KEY is empty/m],
  ] as const) {
    const r = await dryRun(() => {}, env);
    assert.is(r.code, 2, r.err);
    assert.match(r.err, what);
    assert.not.match(r.err, /\n\s+at /, 'no stack trace');
  }
});

test('figures-index takes every node tagged figure, whatever declared it', async () => {
  const nodes = experiment.declare(experiment.configSchema.parse(TINY), 'configs/tiny.yaml');
  const index = nodes.find((n) => n.id === 'figures-index')!;
  const figures = nodes.filter((n) => n.tags?.includes('figure') && n !== index).map((n) => n.id);
  assert.ok(figures.length >= 5, figures.join(', '));
  assert.equal((index.inputs.figures as { node: string }[]).map((r) => r.node), figures);
});

test.run();
