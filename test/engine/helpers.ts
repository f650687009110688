// Shared set-up for engine tests: a temp dir with a config, an artifact root and a note log.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { removeTree } from '../../engine/store/fsutil.ts';
import { toyCli } from './fixtures/pipeline.ts';

export const PIPELINE = fileURLToPath(new URL('./fixtures/pipeline.ts', import.meta.url));
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface Note {
  event: string;
  label: string;
  t: number;
  pid: number;
  [k: string]: unknown;
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export function capture(): { stream: Writable; text: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => buf };
}

export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'stagewise-engine-'));
  readonly root = join(this.dir, 'artifacts');
  readonly log = join(this.dir, 'notes.jsonl');
  readonly config = join(this.dir, 'config.yaml');

  writeConfig(config: Record<string, unknown>): void {
    writeFileSync(this.config, stringify(config));
  }

  notes(): Note[] {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }

  /** Labels of nodes whose run() was called since the last call (and clears the log). */
  ran(): string[] {
    const labels = this.notes().filter((n) => n.event === 'run' || n.event === 'start').map((n) => n.label);
    rmSync(this.log, { force: true });
    return labels.sort();
  }

  /** The toy CLI in this process. */
  async cli(argv: string[]): Promise<CliResult> {
    const out = capture();
    const err = capture();
    const prev = process.env.STAGEWISE_TEST_LOG;
    process.env.STAGEWISE_TEST_LOG = this.log;
    try {
      const code = await toyCli(['--config', this.config, ...argv], {
        stdout: out.stream,
        stderr: err.stream,
        env: { LOCAL_ROOT: this.root },
        handleSignals: false,
        setExitCode: false,
      });
      return { code, out: out.text(), err: err.text() };
    } finally {
      if (prev === undefined) delete process.env.STAGEWISE_TEST_LOG;
      else process.env.STAGEWISE_TEST_LOG = prev;
    }
  }

  /** The toy CLI as a separate process. */
  spawnCli(argv: string[]): { done: Promise<CliResult>; pid: number; kill: (sig: NodeJS.Signals) => void } {
    return this.spawnCliEnv(argv, {});
  }

  spawnCliEnv(argv: string[], env: Record<string, string>): { done: Promise<CliResult>; pid: number; kill: (sig: NodeJS.Signals) => void } {
    const child = spawn(process.execPath, ['--import', 'tsx', PIPELINE, '--config', this.config, ...argv], {
      cwd: REPO,
      env: { ...process.env, LOCAL_ROOT: this.root, STAGEWISE_TEST_LOG: this.log, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : -1), out, err })));
    return { done, pid: child.pid!, kill: (sig) => child.kill(sig) };
  }

  /** Views are read-only directories: removeTree makes them writable first (needed when not root). */
  async cleanup(): Promise<void> {
    await removeTree(this.dir);
  }
}

export const SUMMARY = /^built (\d+), cached (\d+), failed (\d+), skipped (\d+) in \d+\.\d\d s$/m;

export function summary(out: string): { built: number; cached: number; failed: number; skipped: number } {
  const m = SUMMARY.exec(out);
  if (!m) throw new Error(`no summary line in:\n${out}`);
  return { built: +m[1], cached: +m[2], failed: +m[3], skipped: +m[4] };
}

export async function waitFor(cond: () => boolean, ms = 15_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
