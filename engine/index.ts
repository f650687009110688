// The stage API. Deliberately imports only types: every stage's code digest includes this file,
// so anything heavier here would invalidate every node whenever it changed.
import type { z } from 'zod';
import type { FileRef, NodeRef, StageDef } from './types.ts';

/** Declares a stage; returns the definition unchanged, typed so run() sees the schema's output. */
export function defineStage<S extends z.ZodTypeAny>(def: StageDef<S>): StageDef<S> {
  if (!def.name || !/^[A-Za-z0-9_.-]+$/.test(def.name)) {
    throw new Error(`defineStage: name ${JSON.stringify(def.name)} must be non-empty [A-Za-z0-9_.-] (it names a directory)`);
  }
  if (!def.module?.startsWith('file:')) {
    throw new Error(`defineStage(${def.name}): module must be the stage file's import.meta.url, got ${JSON.stringify(def.module)}`);
  }
  return def;
}

/** The whole output directory of node `nodeId`. */
export function ref(nodeId: string): NodeRef {
  return { kind: 'node', node: nodeId };
}

/** One output file of node `nodeId`: only that file's digest enters the consumer's key. */
export function fileRef(nodeId: string, path: string): FileRef {
  return { kind: 'file', node: nodeId, path };
}
