// Running a stage's run(): in this process (debugging, fast tests) or in a pool of persistent
// worker threads, so CPU-bound stages (single-threaded tfjs-wasm) really run in parallel and an
// abort can stop a node that ignores its signal.
import type { AnyInputs, Resources, RunResult, StageDef, UpstreamBuild } from '../types.ts';
import { invokeStage } from './invoke.ts';
import type { StageThreadJob, StageThreadMessage } from './stage-thread.ts';
import { ThreadAbortError, ThreadPool } from './threads.ts';

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

export interface WorkerPoolOptions {
  /** How long a stage may take to honour its abort signal before its worker is terminated. */
  abortGraceMs?: number;
  /** Where worker stdout goes (stage console.log); stderr by default so `--json` stdout stays clean. */
  stdout?: NodeJS.WritableStream;
}

const STAGE_THREAD = new URL('./stage-thread.ts', import.meta.url).href;

/**
 * Stages in persistent worker threads (run/threads.ts): a stage module (and tfjs) is imported once
 * per worker and stays cached. No size limit here: the scheduler's resource pools bound concurrency.
 */
export function workerPool(opts: WorkerPoolOptions = {}): StageRunner {
  const threads = new ThreadPool({ size: Number.POSITIVE_INFINITY, stdout: opts.stdout ?? process.stderr });
  return {
    async run(task, hooks) {
      const job: StageThreadJob = {
        nodeId: task.nodeId,
        moduleUrl: task.stage.module,
        stageName: task.stage.name,
        rawParams: task.rawParams,
        inputs: task.inputs,
        outDir: task.outDir,
        workDir: task.workDir,
        resources: task.resources,
        upstream: task.upstream,
      };
      try {
        return await threads.run<RunResult>(STAGE_THREAD, job, {
          signal: hooks.signal,
          abortGraceMs: opts.abortGraceMs ?? 2000,
          onMessage: (data) => {
            const m = data as StageThreadMessage;
            if (m.type === 'log') hooks.log(m.level, m.msg);
            else if (m.type === 'progress') hooks.progress(m.done, m.total, m.unit);
          },
        });
      } catch (err) {
        throw err instanceof ThreadAbortError || hooks.signal.aborted ? new AbortedError(task.nodeId) : err;
      }
    },
    close: () => threads.close(),
  };
}
