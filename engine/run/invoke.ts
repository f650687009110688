// Calling a stage's computation: an inline run function, or the `run` export of the module its
// `run` URL names (imported here, where the node runs, never while planning).
import type { AnyInputs, InputDecls, RunContext, RunResult, StageDef, StageThreads } from '../types.ts';
import PQueue from 'p-queue';
import { ThreadPool } from './threads.ts';

type Run = (ctx: RunContext<unknown, AnyInputs>) => Promise<RunResult>;

/** The stage's run function, importing its run module if it has one. */
export async function stageRunFunction(stage: StageDef): Promise<Run> {
  const run = stage.run;
  if (typeof run === 'function') return (ctx) => run.call(stage, ctx);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(run.href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`stage ${stage.name}: cannot import its run module ${run.href}: ${(err as Error).message}`);
  }
  if (typeof mod.run !== 'function') throw new Error(`stage ${stage.name}: ${run.href} must export \`run\` (a StageRun<typeof ${stage.name}Stage>), it exports ${Object.keys(mod).join(', ') || 'nothing'}`);
  return mod.run as Run;
}

/**
 * The inputs as the stage sees them (absent optional inputs: undefined, or [] for a list), checked
 * against the declaration. The graph builder already guarantees this for pipeline nodes; the check
 * catches hand-made contexts (tests, tools) with the same kind of message.
 */
export function completeInputs(stage: string, declared: InputDecls | undefined, inputs: AnyInputs): AnyInputs {
  const out: AnyInputs = { ...inputs };
  for (const [name, kind] of Object.entries(declared ?? {})) {
    const list = kind.includes('[]');
    const v = out[name];
    if (v === undefined) {
      if (!kind.endsWith('?')) throw new Error(`${stage}: missing input '${name}' (${kind})`);
      if (list) out[name] = [];
    } else if (list ? !Array.isArray(v) || v.some((p) => typeof p !== 'string') : typeof v !== 'string') {
      throw new Error(`${stage}: input '${name}' must be ${list ? 'a list of paths' : 'a single path'} (${kind}), got ${JSON.stringify(v)}`);
    }
  }
  for (const name of Object.keys(out)) {
    if (!(name in (declared ?? {}))) throw new Error(`${stage}: input '${name}' is not declared (inputs: ${Object.keys(declared ?? {}).join(', ') || 'none'})`);
  }
  return out;
}

/** A context as callers prepare it; invokeStage adds the thread pool. */
export type PreparedContext = Omit<RunContext<unknown, AnyInputs>, 'threads'> & { threads?: StageThreads };

// One pool per thread that runs stages (the main thread with --in-process, or a stage's worker):
// kept across nodes, so a stage's job threads keep what they imported.
let jobThreads: ThreadPool | null = null;

/** ctx.threads: jobs of this node, at most resources.cpu at once, aborted with the node. */
export function stageThreads(ctx: Pick<RunContext<unknown>, 'signal' | 'resources'>): StageThreads {
  // The pool may hold more idle workers than this node was granted (an earlier node's); the queue
  // keeps this node's jobs within its grant.
  const granted = Math.max(1, ctx.resources.cpu);
  const queue = new PQueue({ concurrency: granted });
  return {
    run<R>(handler: URL, payload: unknown, opts: { onMessage?: (data: unknown) => void } = {}) {
      jobThreads ??= new ThreadPool({ size: Number.POSITIVE_INFINITY });
      const pool = jobThreads;
      return queue.add(() => pool.run<R>(handler.href, payload, { ...opts, signal: ctx.signal, size: granted })) as Promise<R>;
    },
  };
}

/** Runs a stage on a prepared context (the in-process runner, worker threads and tests use this). */
export async function invokeStage(stage: StageDef, ctx: PreparedContext): Promise<RunResult> {
  const run = await stageRunFunction(stage);
  return run({ ...ctx, threads: ctx.threads ?? stageThreads(ctx), inputs: completeInputs(stage.name, stage.inputs, ctx.inputs) });
}
