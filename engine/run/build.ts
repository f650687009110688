// Building one node: the reusable unit (the scheduler uses it; a distributed worker can too).
// Given a node's key, fingerprint and resolved input paths, it runs the stage in an empty scratch
// dir and publishes the result through the Store: blobs first, the record last.
import { hostname } from 'node:os';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { faultPoint, journalBuild } from './fault.ts';
import { OWNER, removeTree, safeSegment, sweepOrphans } from '../store/fsutil.ts';
import type { Fingerprint } from '../key/keys.ts';
import { storeOutputs } from '../store/outputs.ts';
import { writePointer } from '../key/plan.ts';
import { clearFailure, LogCollector, storeLog } from '../store/logs.ts';
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

// Scratch dirs are named `<node>.<host>.<pid>-XXXXXX` (see sweepOrphans).
export async function buildNode(job: BuildJob, env: BuildEnv, hooks: RunHooks): Promise<BuildRecord> {
  await fsp.mkdir(join(env.root, 'tmp'), { recursive: true });
  await sweepOrphans(env.root);
  const outDir = await fsp.mkdtemp(join(env.root, 'tmp', `${safeSegment(job.nodeId).slice(0, 60)}.${OWNER}-`));
  const workDir = workDirFor(env.root, job.stage.name, job.nodeId, job.key);
  await fsp.mkdir(workDir, { recursive: true });
  const startedAt = new Date();
  const t0 = performance.now();
  // Kept with the record; a failure's lines are kept by whoever reports it (the scheduler).
  const log = new LogCollector();
  const logged: RunHooks = { ...hooks, log: (level, msg) => (log.add(level, msg), hooks.log(level, msg)) };
  try {
    const result = await env.runner.run(
      { nodeId: job.nodeId, stage: job.stage, rawParams: job.rawParams, params: job.params, inputs: job.inputs, outDir, workDir, resources: job.resources, upstream: job.upstream },
      logged,
    );
    // A run that finished after an abort may have been cut short: never record it.
    if (hooks.signal.aborted) throw new AbortedError(job.nodeId);
    const { outputs, outputDigest } = await storeOutputs(env.store, outDir);
    if (hooks.signal.aborted) throw new AbortedError(job.nodeId);
    const logEntry = await storeLog(env.store, env.root, log.text(), log.count);
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
      log: logEntry,
    };
    await env.store.putRecord(record);
    journalBuild(job.key, job.nodeId);
    await writePointer(env.root, job.stage.name, job.nodeId, job.key);
    await clearFailure(env.root, job.stage.name, job.nodeId);
    await removeTree(workDir);
    return record;
  } finally {
    await removeTree(outDir);
  }
}
