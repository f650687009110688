// Shared set-up for the dashboard tests: a temp dir with the toy dashboard pipeline's config and
// store, the CLI in this process or as a process, and raw HTTP requests (paths sent as written).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { removeTree } from '../../engine/store/fsutil.ts';
import { capture } from '../engine/helpers.ts';
import { dashCli, type DashConfig } from './fixtures/pipeline.ts';

export const PIPELINE = fileURLToPath(new URL('./fixtures/pipeline.ts', import.meta.url));
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export class DashSandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'stagewise-dash-'));
  readonly root = join(this.dir, 'artifacts');
  readonly config = join(this.dir, 'config.yaml');
  private children = new Set<ChildProcess>();

  writeConfig(config: Partial<DashConfig> & { count: DashConfig['count'] }): void {
    writeFileSync(this.config, stringify(config));
  }

  async cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out = capture();
    const err = capture();
    const code = await dashCli(['--config', this.config, ...argv], { stdout: out.stream, stderr: err.stream, env: { LOCAL_ROOT: this.root }, handleSignals: false, setExitCode: false });
    return { code, out: out.text(), err: err.text() };
  }

  /** The CLI as a process that prints `dashboard: URL`; resolves once it did. */
  async serveProcess(argv: string[]): Promise<{ url: string; output: () => string; stop: () => Promise<number | null> }> {
    const child = spawn(process.execPath, ['--import', 'tsx', PIPELINE, '--config', this.config, '--port', '0', ...argv], {
      cwd: REPO,
      env: { ...process.env, LOCAL_ROOT: this.root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no dashboard URL within 60 s:\n${text}`)), 60_000);
      const look = () => {
        const m = /dashboard: (http:\/\/\S+)/.exec(text);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      void exited.then((code) => reject(new Error(`exited (${code}) before serving:\n${text}`)));
    });
    return {
      url,
      output: () => text,
      stop: async () => {
        child.kill('SIGINT');
        const code = await exited;
        this.children.delete(child);
        return code;
      },
    };
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    await removeTree(this.dir);
  }
}

/** A GET (or other method) with the path sent exactly as given: no client-side normalisation. */
export function rawRequest(url: string, path: string, opts: { method?: string; host?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.host ? { host: opts.host } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}
