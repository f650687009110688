// The dashboard's model of the experiment: the graph, each node's state (fresh, stale, running,
// built this run, failed, skipped), live progress and log lines. It is fed by a plan (planNodes)
// and by a run's events (it is a RunEvents sink, teed next to the terminal reporter), and it
// tells subscribers (server-sent event streams) what changed.
import type { Graph } from '../key/graph.ts';
import { LogCollector, type LogLine } from '../store/logs.ts';
import type { Assessment } from '../key/plan.ts';
import type { NodeOutcome, RunEvents, RunSummary } from '../run/scheduler.ts';
import type { BuildRecord, NodeKey } from '../types.ts';
import { groupOf, labelInGroup } from './groups.ts';

export type NodeState = 'fresh' | 'stale' | 'running' | 'built' | 'failed' | 'skipped';

export interface ProgressView {
  done: number;
  total: number;
  unit?: string;
  /** Units per second since the first report (NaN-free: absent until measurable). */
  rate?: number;
  /** Seconds left at that rate. */
  eta?: number;
}

export interface NodeView {
  id: string;
  stage: string;
  group: string;
  label: string;
  tags: string[];
  upstream: string[];
  heavy: boolean;
  state: NodeState;
  /** Why it is stale (or was built). */
  reasons: string[];
  key: NodeKey | null;
  error?: string;
  /** Wall seconds of the build (this run's, or the stored record's). */
  seconds?: number;
  progress?: ProgressView;
  /** ms since epoch when it started running. */
  since?: number;
  /** Who runs it, when another process does (standalone `serve` sees its lock). */
  runner?: string;
}

export interface RunView {
  active: boolean;
  total: number;
  finished: number;
  startedAt: number | null;
  built: number;
  cached: number;
  failed: number;
  skipped: number;
  seconds?: number;
}

export type HubEvent =
  | { type: 'plan'; version: number }
  | { type: 'node'; node: NodeView }
  | { type: 'log'; id: string; line: LogLine }
  | { type: 'run'; run: RunView }
  | { type: 'problem'; message: string | null };

type Listener = (e: HubEvent) => void;

// Progress events reach browsers at most this often per node (a training loop reports every step).
const PROGRESS_EVERY_MS = 250;

function emptyRun(): RunView {
  return { active: false, total: 0, finished: 0, startedAt: null, built: 0, cached: 0, failed: 0, skipped: 0 };
}

export class Hub {
  graph: Graph | null = null;
  plan = new Map<string, Assessment>();
  readonly views = new Map<string, NodeView>();
  /** The record behind each fresh or built node. */
  readonly records = new Map<string, BuildRecord>();
  /** This session's log lines per node (running, or its latest attempt). */
  readonly liveLogs = new Map<string, LogCollector>();
  run: RunView = emptyRun();
  problem: string | null = null;
  version = 0;
  private builtKeys = new Map<string, NodeKey | null>();
  private progressFirst = new Map<string, { t: number; done: number }>();
  private progressSent = new Map<string, number>();
  private listeners = new Set<Listener>();

  constructor(readonly configFile: string) {}

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: HubEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  setProblem(message: string | null): void {
    this.problem = message;
    this.emit({ type: 'problem', message });
  }

  /**
   * A new plan of (all of) `graph`. Nodes running now keep running; nodes built in this session
   * whose key is still current stay 'built'; `seen` (standalone serve) marks stale nodes another
   * process is building (its lock) or whose last attempt at this key failed (its failure file).
   */
  setPlan(graph: Graph, plan: Map<string, Assessment>, seen: Map<string, { state: 'running' | 'queued'; runner: string } | { state: 'failed'; error: string }> = new Map()): void {
    this.graph = graph;
    this.plan = plan;
    this.problem = null;
    const old = new Map(this.views);
    this.views.clear();
    this.records.clear();
    for (const id of graph.order) {
      const node = graph.nodes.get(id)!;
      const a = plan.get(id);
      const prev = old.get(id);
      const other = seen.get(id);
      const base = {
        id,
        stage: node.decl.stage.name,
        group: groupOf(id),
        label: labelInGroup(id),
        tags: [...node.tags],
        upstream: node.upstream,
        heavy: Boolean(node.decl.stage.heavy),
      };
      let view: NodeView;
      if (!a) view = { ...base, state: 'stale', reasons: ['not planned'], key: null };
      else if (a.status === 'fresh') {
        this.records.set(id, a.record!);
        const built = this.builtKeys.has(id) && this.builtKeys.get(id) === a.key;
        view = { ...base, state: built ? 'built' : 'fresh', reasons: [], key: a.key, seconds: a.record!.wallSeconds };
      } else if (prev?.state === 'running' && this.run.active) view = { ...prev, ...base };
      else if (other?.state === 'running') {
        const same = prev?.state === 'running' && prev.key === a.key;
        view = { ...base, state: 'running', reasons: a.reasons, key: a.key, runner: other.runner, since: same ? prev.since : Date.now(), progress: same ? prev.progress : undefined };
      } else if (other?.state === 'queued') view = { ...base, state: 'stale', reasons: [`queued in ${other.runner}`, ...a.reasons], key: a.key };
      else if (other?.state === 'failed') view = { ...base, state: 'failed', reasons: a.reasons, key: a.key, error: other.error };
      else view = { ...base, state: 'stale', reasons: a.reasons, key: a.key };
      this.views.set(id, view);
    }
    this.version++;
    this.emit({ type: 'plan', version: this.version });
  }

  /** Run events for a run over `total` nodes: feed them next to the terminal reporter (see tee). */
  runEvents(total: number): RunEvents {
    this.run = { ...emptyRun(), active: true, total, startedAt: Date.now() };
    this.builtKeys.clear();
    // Last run's 'built' become plain 'fresh': 'built' means built by this run.
    for (const v of this.views.values()) {
      if (v.state === 'built') this.update({ ...v, state: 'fresh' });
    }
    this.emit({ type: 'run', run: this.run });
    return {
      start: (id, reasons) => {
        const log = new LogCollector();
        this.liveLogs.set(id, log);
        this.progressFirst.delete(id);
        const v = this.views.get(id);
        if (v) this.update({ ...v, state: 'running', reasons, since: Date.now(), progress: undefined, error: undefined, runner: undefined });
      },
      log: (id, level, msg) => {
        let log = this.liveLogs.get(id);
        if (!log) this.liveLogs.set(id, (log = new LogCollector()));
        log.add(level, msg);
        this.emit({ type: 'log', id, line: log.lines().at(-1)! });
      },
      progress: (id, done, total, unit) => this.showProgress(id, done, total, unit),
      waiting: (id, msg) => {
        const log = this.liveLogs.get(id) ?? new LogCollector();
        this.liveLogs.set(id, log);
        log.add('info', msg);
      },
      finish: (o: NodeOutcome) => this.finish(o),
    };
  }

  /**
   * A running node's progress: from this process's run, or read from another process's build lock
   * (standalone serve). Rate and ETA are measured from the first report seen.
   */
  showProgress(id: string, done: number, total: number, unit?: string, now = Date.now()): void {
    const v = this.views.get(id);
    if (!v || v.state !== 'running') return;
    let first = this.progressFirst.get(id);
    if (!first || done < first.done) this.progressFirst.set(id, (first = { t: now, done }));
    const p: ProgressView = { done, total, unit };
    if (now > first.t && done > first.done) {
      p.rate = (done - first.done) / ((now - first.t) / 1000);
      p.eta = (total - done) / p.rate;
    }
    v.progress = p;
    if (now - (this.progressSent.get(id) ?? 0) < PROGRESS_EVERY_MS && done < total) return;
    this.progressSent.set(id, now);
    this.emit({ type: 'node', node: v });
  }

  private finish(o: NodeOutcome): void {
    this.run.finished++;
    this.run[o.status]++;
    const v = this.views.get(o.id);
    if (v) {
      const state: NodeState = o.status === 'cached' ? 'fresh' : o.status;
      const next: NodeView = { ...v, state, key: o.key ?? v.key, progress: undefined, since: undefined, runner: undefined, seconds: o.record?.wallSeconds ?? v.seconds };
      if (o.status === 'built') next.reasons = o.reasons ?? v.reasons;
      if (o.status === 'failed' || o.status === 'skipped') next.error = o.error;
      else next.error = undefined;
      if (o.status === 'built' || o.status === 'cached') next.reasons = o.status === 'cached' ? [] : next.reasons;
      if (o.record) this.records.set(o.id, o.record);
      if (o.status === 'built') this.builtKeys.set(o.id, o.key);
      this.update(next);
    }
    this.emit({ type: 'run', run: this.run });
  }

  /** The end of a run (its summary). */
  runFinished(summary: RunSummary): void {
    this.run = { ...this.run, active: false, seconds: summary.seconds };
    this.emit({ type: 'run', run: this.run });
  }

  private update(v: NodeView): void {
    this.views.set(v.id, v);
    this.emit({ type: 'node', node: v });
  }
}

/** One RunEvents feeding several sinks (the terminal reporter and the dashboard). */
export function teeEvents<T extends RunEvents>(main: T, ...others: RunEvents[]): T {
  const all = [main, ...others];
  return {
    ...main,
    start: (id, reasons) => all.forEach((e) => e.start(id, reasons)),
    log: (id, level, msg) => all.forEach((e) => e.log(id, level, msg)),
    progress: (id, d, t, u) => all.forEach((e) => e.progress(id, d, t, u)),
    waiting: (id, msg) => all.forEach((e) => e.waiting(id, msg)),
    finish: (o, err) => all.forEach((e) => e.finish(o, err)),
  };
}
