// Running a stage's run(): in this process (debugging, fast tests) or in a pool of persistent
// worker threads, so CPU-bound stages (single-threaded tfjs-wasm) really run in parallel and an
// abort can stop a node that ignores its signal.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AnyInputs, Resources, RunResult, StageDef, UpstreamBuild } from '../types.ts';
import { invokeStage } from './invoke.ts';

export interface StageTask {
  nodeId: string;
  stage: StageDef;
  /** Raw params from the declaration; the worker re-parses them with its own copy of the schema. */
  rawParams: unknown;
  /** Params already parsed by this process's schema (the in-process runner uses these). */
  params: unknown;
  inputs: AnyInputs;
  outDir: string;
  workDir: string;
  resources: Required<Resources>;
  upstream?: UpstreamBuild[];
}

export interface RunHooks {
  signal: AbortSignal;
  log(level: 'info' | 'warn', msg: string): void;
  progress(done: number, total: number, unit?: string): void;
}

export interface StageRunner {
  run(task: StageTask, hooks: RunHooks): Promise<RunResult>;
  close(): Promise<void>;
}

export class AbortedError extends Error {
  constructor(nodeId: string) {
    super(`${nodeId}: interrupted`);
    this.name = 'AbortedError';
  }
}

export function inProcessRunner(): StageRunner {
  return {
    async run(task, hooks) {
      return invokeStage(task.stage, {
        params: task.params,
        inputs: task.inputs,
        outDir: task.outDir,
        workDir: task.workDir,
        log: { info: (m) => hooks.log('info', m), warn: (m) => hooks.log('warn', m) },
        progress: { update: (d, t, u) => hooks.progress(d, t, u) },
        signal: hooks.signal,
        resources: task.resources,
        upstream: task.upstream,
      });
    },
    async close() {},
  };
}

type FromWorker =
  | { type: 'log'; level: 'info' | 'warn'; msg: string }
  | { type: 'progress'; done: number; total: number; unit?: string }
  | { type: 'done'; result: RunResult }
  | { type: 'error'; message: string; stack?: string };

interface PooledWorker {
  worker: Worker;
  busy: boolean;
}

export interface WorkerPoolOptions {
  /** How long a stage may take to honour its abort signal before its worker is terminated. */
  abortGraceMs?: number;
  /** Where worker stdout goes (stage console.log); stderr by default so `--json` stdout stays clean. */
  stdout?: NodeJS.WritableStream;
}

/** tsx's register() API; import.meta.resolve is missing when this file is loaded through require (uvu -r tsx). */
function tsxApiUrl(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  // require resolves the CommonJS build; its ESM twin sits next to it (the CJS register() cannot load the hooks).
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const esm = cjs.replace(/\.cjs$/, '.mjs');
  return pathToFileURL(existsSync(esm) ? esm : cjs).href;
}

/** Persistent workers: a stage module (and tfjs) is imported once per worker and stays cached. */
export function workerPool(opts: WorkerPoolOptions = {}): StageRunner {
  const grace = opts.abortGraceMs ?? 2000;
  const idle: PooledWorker[] = [];
  const all = new Set<PooledWorker>();
  const workerUrl = new URL('./thread-entry.ts', import.meta.url).href;
  const tsxApi = tsxApiUrl();

  function spawn(): PooledWorker {
    // Workers do not inherit the tsx loader, so each registers it before importing the entry.
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(workerUrl)}); })`;
    const worker = new Worker(bootstrap, { eval: true, stdout: true });
    worker.stdout.pipe(opts.stdout ?? process.stderr, { end: false });
    worker.unref();
    const pw = { worker, busy: false };
    all.add(pw);
    return pw;
  }

  function discard(pw: PooledWorker): void {
    all.delete(pw);
    const i = idle.indexOf(pw);
    if (i >= 0) idle.splice(i, 1);
    void pw.worker.terminate();
  }

  return {
    run(task, hooks) {
      const pw = idle.pop() ?? spawn();
      pw.busy = true;
      pw.worker.ref();
      return new Promise<RunResult>((resolve, reject) => {
        let settled = false;
        let killTimer: NodeJS.Timeout | undefined;
        const finish = (fn: () => void, reusable: boolean) => {
          if (settled) return;
          settled = true;
          clearTimeout(killTimer);
          hooks.signal.removeEventListener('abort', onAbort);
          pw.worker.off('message', onMessage);
          pw.worker.off('error', onError);
          pw.worker.off('exit', onExit);
          pw.busy = false;
          if (reusable && !hooks.signal.aborted) {
            pw.worker.unref();
            idle.push(pw);
          } else discard(pw);
          fn();
        };
        const onMessage = (m: FromWorker) => {
          if (m.type === 'log') hooks.log(m.level, m.msg);
          else if (m.type === 'progress') hooks.progress(m.done, m.total, m.unit);
          else if (m.type === 'done') finish(() => (hooks.signal.aborted ? reject(new AbortedError(task.nodeId)) : resolve(m.result)), true);
          else if (m.type === 'error') {
            const err = new Error(m.message);
            if (m.stack) err.stack = m.stack;
            finish(() => reject(hooks.signal.aborted ? new AbortedError(task.nodeId) : err), true);
          }
        };
        const onError = (err: Error) => finish(() => reject(hooks.signal.aborted ? new AbortedError(task.nodeId) : err), false);
        const onExit = (code: number) =>
          finish(() => reject(hooks.signal.aborted ? new AbortedError(task.nodeId) : new Error(`worker exited with code ${code} while running ${task.nodeId}`)), false);
        const onAbort = () => {
          pw.worker.postMessage({ type: 'abort' });
          killTimer = setTimeout(() => finish(() => reject(new AbortedError(task.nodeId)), false), grace);
        };
        pw.worker.on('message', onMessage);
        pw.worker.on('error', onError);
        pw.worker.on('exit', onExit);
        if (hooks.signal.aborted) return onAbort();
        hooks.signal.addEventListener('abort', onAbort, { once: true });
        pw.worker.postMessage({
          type: 'run',
          nodeId: task.nodeId,
          moduleUrl: task.stage.module,
          stageName: task.stage.name,
          rawParams: task.rawParams,
          inputs: task.inputs,
          outDir: task.outDir,
          workDir: task.workDir,
          resources: task.resources,
          upstream: task.upstream,
        });
      });
    },
    async close() {
      await Promise.all([...all].map((pw) => pw.worker.terminate()));
      all.clear();
      idle.length = 0;
    },
  };
}
