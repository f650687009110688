// Runs the selected part of the graph: each node waits for its upstream nodes, is re-assessed with
// their actual outputs (early cutoff), and is built under a per-key lock and its resource request.
import { setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildNode, workDirFor } from './build.ts';
import { upstreamClosure, type Graph, type GraphNode } from '../key/graph.ts';
import type { Fingerprint } from '../key/keys.ts';
import { removeTree } from '../store/fsutil.ts';
import { acquireLock, type Lock } from '../store/lock.ts';
import { badOutputs, materialiseView, publishOutputs } from '../store/outputs.ts';
import { assess, writePointer, type AssessContext } from '../key/plan.ts';
import { LogCollector, writeFailure } from '../store/logs.ts';
import type { ResourcePools } from './pools.ts';
import { AbortedError, type RunHooks, type StageRunner } from './runner.ts';
import type { BuildRecord, InputRef, NodeKey, Resources, Store, UpstreamBuild } from '../types.ts';

/** How long a finished node's units wait for its most important successor (see ResourcePools.setHold). */
const HANDOVER_MS = 3000;

export type NodeStatus = 'built' | 'cached' | 'failed' | 'skipped';

export interface NodeOutcome {
  id: string;
  stage: string;
  status: NodeStatus;
  key: NodeKey | null;
  seconds: number;
  error?: string;
  /** Why it was (or would have been) built. */
  reasons?: string[];
  record?: BuildRecord;
}

export interface RunSummary {
  built: number;
  cached: number;
  failed: number;
  skipped: number;
  seconds: number;
  nodes: NodeOutcome[];
}

export interface RunEvents {
  start(id: string, reasons: string[]): void;
  log(id: string, level: 'info' | 'warn', msg: string): void;
  progress(id: string, done: number, total: number, unit?: string): void;
  waiting(id: string, msg: string): void;
  finish(outcome: NodeOutcome, err?: unknown): void;
}

export interface ScheduleOptions {
  graph: Graph;
  /** Nodes to bring up to date, upstream-closed, in topological order. */
  ids: string[];
  store: Store;
  root: string;
  runner: StageRunner;
  pools: ResourcePools;
  force?: Set<string>;
  /** A reason not to build this stale node now (heavy in watch mode, outside --only), or null. */
  holdBack?: (node: GraphNode) => string | null;
  signal: AbortSignal;
  events: RunEvents;
  /** Distributed mode (engine/dispatch.ts): stale nodes are built elsewhere instead of in `pools` here. */
  remote?: RemoteBuild;
}

/** What a remote worker needs to build one node: its key and everything that went into it. */
export interface RemoteBuildRequest {
  node: GraphNode;
  key: NodeKey;
  fingerprint: Fingerprint;
  codeFiles: Record<string, string>;
  /** The records of the node's upstream nodes (their output manifests become the job's inputs). */
  upstream: Map<string, BuildRecord>;
  /** The stage's request, unclamped: the worker clamps it to its own pools. */
  request: Resources | undefined;
  /** --force: build even if the store already holds a record for the key. */
  force: boolean;
  /** For stages with `provenance: true`: every upstream build. */
  provenance?: UpstreamBuild[];
}

/** Builds one node elsewhere; resolves with its record once that record is in the shared store. */
export type RemoteBuild = (req: RemoteBuildRequest, hooks: RunHooks) => Promise<BuildRecord>;

export async function runGraph(opts: ScheduleOptions): Promise<RunSummary> {
  const t0 = performance.now();
  // Every waiting node listens for abort: thousands of listeners on one signal are expected here.
  setMaxListeners(0, opts.signal);
  const ctx: AssessContext = { store: opts.store, root: opts.root, graph: opts.graph, force: opts.force ?? new Set() };
  const priorities = criticalPaths(opts.graph, opts.ids);
  const outcomes = new Map<string, Promise<NodeOutcome>>();
  for (const id of opts.ids) {
    const node = opts.graph.nodes.get(id)!;
    outcomes.set(
      id,
      runNode(opts, ctx, node, outcomes, priorities).then((o) => {
        opts.events.finish(o, failureCause.get(o));
        return o;
      }),
    );
  }
  const nodes = await Promise.all(outcomes.values());
  opts.pools.endHold();
  const count = (s: NodeStatus) => nodes.filter((n) => n.status === s).length;
  return { built: count('built'), cached: count('cached'), failed: count('failed'), skipped: count('skipped'), seconds: (performance.now() - t0) / 1000, nodes };
}

/** Every node upstream of `node` (all finished by now), in topological order, as provenance. */
async function upstreamBuilds(opts: ScheduleOptions, node: GraphNode, outcomes: Map<string, Promise<NodeOutcome>>): Promise<UpstreamBuild[]> {
  const builds: UpstreamBuild[] = [];
  for (const id of upstreamClosure(opts.graph, [node.id])) {
    const record = id === node.id ? undefined : (await outcomes.get(id))?.record;
    if (record) builds.push({ id, stage: record.stage, key: record.key, startedAt: record.startedAt, wallSeconds: record.wallSeconds, meta: record.meta });
  }
  return builds;
}

/** The thrown error behind a failed outcome (its stack goes to the log, not into the JSON summary). */
const failureCause = new WeakMap<NodeOutcome, unknown>();

/**
 * For each node of `ids`, the work on its longest path to a sink within `ids` (its own included),
 * from the stages' cost estimates: the scheduling priority (critical path first).
 */
export function criticalPaths(graph: Graph, ids: string[]): Map<string, number> {
  const selected = new Set(ids);
  const out = new Map<string, number>();
  for (const id of [...ids].reverse()) {
    // ids are in topological order, so every downstream node is done before its upstream ones.
    const node = graph.nodes.get(id)!;
    const c = node.decl.stage.cost;
    const own = typeof c === 'function' ? c(node.params) : c ?? 1;
    let longest = 0;
    for (const d of node.downstream) if (selected.has(d)) longest = Math.max(longest, out.get(d) ?? 0);
    out.set(id, (Number.isFinite(own) && own > 0 ? own : 1) + longest);
  }
  return out;
}

async function runNode(opts: ScheduleOptions, ctx: AssessContext, node: GraphNode, outcomes: Map<string, Promise<NodeOutcome>>, priorities: Map<string, number>): Promise<NodeOutcome> {
  const ups = await Promise.all(node.upstream.map((u) => outcomes.get(u)!));
  const t0 = performance.now();
  const base = { id: node.id, stage: node.decl.stage.name };
  const done = (status: NodeStatus, extra: Partial<NodeOutcome> = {}): NodeOutcome => ({
    ...base,
    status,
    key: null,
    seconds: (performance.now() - t0) / 1000,
    ...extra,
  });
  const blocked = ups.find((o) => o.status === 'failed' || o.status === 'skipped');
  if (blocked) return done('skipped', { error: `upstream ${blocked.id} ${blocked.status}` });
  if (opts.signal.aborted) return done('skipped', { error: 'interrupted before it started' });

  let key: NodeKey | null = null;
  let reasons: string[] | undefined;
  let started = false;
  // The lines of this attempt: kept in a failure file if it fails (a success keeps its own, in the record).
  const log = new LogCollector();
  const startedAt = new Date();
  try {
    const upRecords = new Map<string, BuildRecord | null>(ups.map((o) => [o.id, o.record ?? null]));
    const a = await assess(ctx, node, upRecords);
    key = a.key;
    if (a.status === 'fresh') return done('cached', { key, record: await settleCached(opts, node, a.record!) });
    reasons = a.reasons;
    const hold = opts.holdBack?.(node);
    if (hold) return done('skipped', { key, error: hold, reasons });
    const request = typeof node.decl.stage.resources === 'function' ? node.decl.stage.resources(node.params) : node.decl.stage.resources;
    let lock: Lock | undefined; // once held, it also shows the progress to other processes (serve)
    const hooks: RunHooks = {
      signal: opts.signal,
      log: (level, msg) => {
        log.add(level, msg);
        opts.events.log(node.id, level, msg);
      },
      progress: (d, t, u) => {
        opts.events.progress(node.id, d, t, u);
        lock?.progress(d, t, u);
      },
    };
    if (opts.remote) {
      // No build lock here: the worker that builds takes it where it builds (holding it here would
      // block a worker sharing this LOCAL_ROOT until we gave up).
      started = true;
      opts.events.start(node.id, reasons);
      const tBuild = performance.now();
      const upstream = upRecords as Map<string, BuildRecord>;
      const provenance = node.decl.stage.provenance ? await upstreamBuilds(opts, node, outcomes) : undefined;
      const record = await opts.remote({ node, key: key!, fingerprint: a.fingerprint!, codeFiles: a.code.codeFiles, upstream, provenance, request, force: ctx.force.has(node.id) }, hooks);
      if (node.decl.publishTo) await publishOutputs(opts.store, record, node.decl.publishTo);
      return { ...done('built', { key, record, reasons }), seconds: (performance.now() - tBuild) / 1000 };
    }
    lock = await acquireLock(opts.root, key!, opts.signal, () => opts.events.waiting(node.id, 'another process holds its build lock; waiting'));
    try {
      if (!ctx.force.has(node.id)) {
        // Someone may have built it while we waited for the lock.
        const rec = await opts.store.getRecord(node.decl.stage.name, key!);
        if (rec && (await badOutputs(opts.store, rec)).length === 0) return done('cached', { key, record: await settleCached(opts, node, rec) });
      }
      const resources = opts.pools.clamp(request);
      const release = await opts.pools.acquire(resources, opts.signal, priorities.get(node.id) ?? 0);
      const tBuild = performance.now();
      try {
        started = true;
        opts.events.start(node.id, reasons);
        await lock.started();
        const inputs = await resolveInputs(opts, node, upRecords as Map<string, BuildRecord>);
        const upstream = node.decl.stage.provenance ? await upstreamBuilds(opts, node, outcomes) : undefined;
        const record = await buildNode(
          { nodeId: node.id, stage: node.decl.stage, rawParams: node.decl.params, params: node.params, key: key!, fingerprint: a.fingerprint!, codeFiles: a.code.codeFiles, inputs, resources, upstream },
          { store: opts.store, root: opts.root, runner: opts.runner },
          hooks,
        );
        if (node.decl.publishTo) await publishOutputs(opts.store, record, node.decl.publishTo);
        return { ...done('built', { key, record, reasons }), seconds: (performance.now() - tBuild) / 1000 };
      } finally {
        // Hold the freed units briefly for the most important node this one unblocks (the next
        // training segment, say), which asks only after its inputs are assessed.
        const next = Math.max(0, ...node.downstream.map((d) => priorities.get(d) ?? 0));
        release(next > 0 ? { minPriority: next, ms: HANDOVER_MS } : undefined);
      }
    } finally {
      await lock.release();
    }
  } catch (err) {
    const aborted = err instanceof AbortedError || opts.signal.aborted;
    if (aborted && !started) return done('skipped', { key, reasons, error: 'interrupted before it started' });
    const outcome = done('failed', { key, reasons, error: aborted ? 'interrupted' : ((err as Error)?.message ?? String(err)) });
    if (!aborted) failureCause.set(outcome, err);
    const stack = aborted ? undefined : (err as Error)?.stack || undefined;
    log.add('error', aborted ? 'interrupted' : outcome.error!);
    await writeFailure(opts.root, {
      nodeId: node.id,
      stage: node.decl.stage.name,
      key,
      startedAt: startedAt.toISOString(),
      wallSeconds: outcome.seconds,
      interrupted: aborted,
      error: outcome.error!,
      ...(stack ? { stack } : {}),
      log: log.text(),
    }).catch(() => {});
    return outcome;
  }
}

async function settleCached(opts: ScheduleOptions, node: GraphNode, record: BuildRecord): Promise<BuildRecord> {
  await writePointer(opts.root, node.decl.stage.name, node.id, record.key);
  // A build killed between its record and the removal of its work dir leaves resumable state that
  // nothing will read again: the record is there, so nobody builds this key any more.
  const workDir = workDirFor(opts.root, node.decl.stage.name, node.id, record.key);
  if (existsSync(workDir)) await removeTree(workDir);
  if (node.decl.publishTo) await publishOutputs(opts.store, record, node.decl.publishTo);
  return record;
}

async function resolveInputs(opts: ScheduleOptions, node: GraphNode, upRecords: Map<string, BuildRecord>): Promise<Record<string, string | string[]>> {
  const views = new Map<string, string>();
  const viewOf = async (nodeId: string): Promise<string> => {
    let v = views.get(nodeId);
    if (!v) {
      const got = await materialiseView(opts.root, opts.store, upRecords.get(nodeId)!);
      if (got === null) throw new Error(`the outputs of ${nodeId} vanished from the store while ${node.id} was starting`);
      v = got;
      views.set(nodeId, v);
    }
    return v;
  };
  const one = async (r: InputRef) => (r.kind === 'node' ? viewOf(r.node) : join(await viewOf(r.node), r.path));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(node.decl.inputs)) {
    out[name] = Array.isArray(value) ? await Promise.all(value.map(one)) : await one(value);
  }
  return out;
}
