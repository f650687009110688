// Running one node in a worker thread (run/runner.ts → run/threads.ts): the handler imports the
// stage module by URL (cached for the worker's lifetime), re-parses the params with its own copy of
// the schema, and streams logs and progress back.
import type { AnyInputs, Resources, RunResult, StageDef, ThreadIO, UpstreamBuild } from '../types.ts';
import { invokeStage } from './invoke.ts';

export interface StageThreadJob {
  nodeId: string;
  moduleUrl: string;
  stageName: string;
  rawParams: unknown;
  inputs: AnyInputs;
  outDir: string;
  workDir: string;
  resources: Required<Resources>;
  upstream?: UpstreamBuild[];
}

export type StageThreadMessage = { type: 'log'; level: 'info' | 'warn'; msg: string } | { type: 'progress'; done: number; total: number; unit?: string };

async function findStage(moduleUrl: string, name: string): Promise<StageDef> {
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  for (const value of Object.values(mod)) {
    const def = value as StageDef | null;
    if (def && typeof def === 'object' && def.name === name && (typeof def.run === 'function' || def.run instanceof URL)) return def;
  }
  throw new Error(`module ${moduleUrl} exports no stage named ${JSON.stringify(name)}`);
}

export async function handle(job: StageThreadJob, io: ThreadIO): Promise<RunResult> {
  const stage = await findStage(job.moduleUrl, job.stageName);
  const parsed = stage.params.safeParse(job.rawParams);
  if (!parsed.success) throw new Error(`params rejected by ${job.stageName} in the worker: ${parsed.error.message}`);
  const post = (m: StageThreadMessage) => io.post(m);
  const result = await invokeStage(stage, {
    params: parsed.data,
    inputs: job.inputs,
    outDir: job.outDir,
    workDir: job.workDir,
    log: { info: (m) => post({ type: 'log', level: 'info', msg: String(m) }), warn: (m) => post({ type: 'log', level: 'warn', msg: String(m) }) },
    progress: { update: (done, total, unit) => post({ type: 'progress', done, total, unit }) },
    signal: io.signal,
    resources: job.resources,
    upstream: job.upstream,
  });
  return result ?? undefined;
}
