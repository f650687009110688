// Building one node: the reusable unit (the scheduler uses it; a distributed worker can too).
// Given a node's key, fingerprint and resolved input paths, it runs the stage in an empty scratch
// dir and publishes the result through the Store: blobs first, the record last.
import { hostname } from 'node:os';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { faultPoint } from './fault.ts';
import { removeTree, safeSegment } from '../store/fsutil.ts';
import type { Fingerprint } from '../key/keys.ts';
import { storeOutputs } from '../store/outputs.ts';
import { writePointer } from '../key/plan.ts';
import { AbortedError, type RunHooks, type StageRunner } from './runner.ts';
import type { BuildRecord, NodeKey, Resources, Store, UpstreamBuild } from '../types.ts';

export interface BuildJob {
  nodeId: string;
  stage: import('../types.ts').StageDef;
  rawParams: unknown;
  params: unknown;
  key: NodeKey;
  fingerprint: Fingerprint;
  codeFiles: Record<string, string>;
  /** Input name → absolute read-only path(s). */
  inputs: Record<string, string | string[]>;
  resources: Required<Resources>;
  /** For stages with `provenance: true`: the upstream builds (see RunContext.upstream). */
  upstream?: UpstreamBuild[];
}

export interface BuildEnv {
  store: Store;
  /** Local root: scratch, work dirs and node pointers live here. */
  root: string;
  runner: StageRunner;
}

/** Resumable progress survives failures and kills, and is found again by the same node id + key. */
export function workDirFor(root: string, stage: string, nodeId: string, key: NodeKey): string {
  return join(root, 'work', stage, `${safeSegment(nodeId)}-${key.slice(0, 16)}`);
}

export async function buildNode(job: BuildJob, env: BuildEnv, hooks: RunHooks): Promise<BuildRecord> {
  await fsp.mkdir(join(env.root, 'tmp'), { recursive: true });
  const outDir = await fsp.mkdtemp(join(env.root, 'tmp', `${safeSegment(job.nodeId).slice(0, 60)}-`));
  const workDir = workDirFor(env.root, job.stage.name, job.nodeId, job.key);
  await fsp.mkdir(workDir, { recursive: true });
  const startedAt = new Date();
  const t0 = performance.now();
  try {
    const result = await env.runner.run(
      { nodeId: job.nodeId, stage: job.stage, rawParams: job.rawParams, params: job.params, inputs: job.inputs, outDir, workDir, resources: job.resources, upstream: job.upstream },
      hooks,
    );
    // A run that finished after an abort may have been cut short: never record it.
    if (hooks.signal.aborted) throw new AbortedError(job.nodeId);
    const { outputs, outputDigest } = await storeOutputs(env.store, outDir);
    if (hooks.signal.aborted) throw new AbortedError(job.nodeId);
    faultPoint('after-blobs');
    const record: BuildRecord = {
      formatVersion: job.fingerprint.formatVersion,
      key: job.key,
      nodeId: job.nodeId,
      stage: job.stage.name,
      params: job.fingerprint.params as Record<string, unknown>,
      stageVersion: job.fingerprint.stageVersion,
      codeDigest: job.fingerprint.codeDigest,
      codeFiles: job.codeFiles,
      inputDigests: job.fingerprint.inputs,
      outputs,
      outputDigest,
      startedAt: startedAt.toISOString(),
      wallSeconds: (performance.now() - t0) / 1000,
      host: hostname(),
      meta: { ...(result ?? {}) },
    };
    await env.store.putRecord(record);
    await writePointer(env.root, job.stage.name, job.nodeId, job.key);
    await removeTree(workDir);
    return record;
  } finally {
    await removeTree(outDir);
  }
}
