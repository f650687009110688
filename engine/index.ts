// The public stage API: what stage modules and pipeline.ts import from the engine, and nothing else.
// Every stage's code digest includes this file and what it imports, so it stays small and light:
// types are type-only imports, and the only runtime imports are the sweep helpers and the atomic
// write (for work-dir files that a killed run resumes from: never half-written).
import type { z } from 'zod';
import type { FileRef, InputDecls, NodeRef, StageDef } from './types.ts';

export { expandSweep, pointId } from './key/sweep.ts';
export { atomicWriteFile } from './store/atomic.ts';
export type {
  FileRef,
  InputDecl,
  InputDecls,
  InputKind,
  InputsOf,
  Logger,
  NodeDecl,
  NodeRef,
  Progress,
  Resources,
  RunContext,
  RunResult,
  StageDef,
  StageRun,
  StageThreads,
  ThreadHandler,
  ThreadIO,
  UpstreamBuild,
} from './types.ts';

const INPUT_DECL = /^(file|dir)(\[\])?\??$/;

/**
 * Declares a stage; returns the definition unchanged, typed so that run() sees the schema's output
 * as ctx.params and the declared inputs as ctx.inputs. Shape errors are thrown at import time.
 */
export function defineStage<S extends z.ZodTypeAny, const I extends InputDecls = {}>(def: StageDef<S, I>): StageDef<S, I> {
  if (!def.name || !/^[A-Za-z0-9_.-]+$/.test(def.name)) {
    throw new Error(`defineStage: name ${JSON.stringify(def.name)} must be non-empty [A-Za-z0-9_.-] (it names a directory)`);
  }
  if (!def.module?.startsWith('file:')) {
    throw new Error(`defineStage(${def.name}): module must be the stage file's import.meta.url, got ${JSON.stringify(def.module)}`);
  }
  for (const [name, kind] of Object.entries(def.inputs ?? {})) {
    if (typeof kind !== 'string' || !INPUT_DECL.test(kind)) {
      throw new Error(`defineStage(${def.name}): input '${name}' has kind ${JSON.stringify(kind)}; expected 'file', 'dir', 'file[]' or 'dir[]', optionally ending in '?'`);
    }
  }
  if (!(def.run instanceof URL) && typeof def.run !== 'function') {
    throw new Error(`defineStage(${def.name}): run must be a function or a URL of its run module, new URL(…, import.meta.url)`);
  }
  if (def.run instanceof URL && def.run.protocol !== 'file:') {
    throw new Error(`defineStage(${def.name}): run URL must be a file: URL next to the stage, got ${def.run.href}`);
  }
  return def;
}

/** The whole output directory of node `nodeId` (an input of kind 'dir'). */
export function ref(nodeId: string): NodeRef {
  return { kind: 'node', node: nodeId };
}

/** One output file of node `nodeId` (an input of kind 'file'): only that file's digest enters the consumer's key. */
export function fileRef(nodeId: string, path: string): FileRef {
  return { kind: 'file', node: nodeId, path };
}
