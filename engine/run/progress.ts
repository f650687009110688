// Progress output. On a TTY: one live line per running node plus an overall [done/total] line.
// Otherwise: plain lines, progress throttled per node. Always exactly one summary at the end.
import type { NodeOutcome, RunEvents, RunSummary } from './scheduler.ts';

const PLAIN_PROGRESS_EVERY_MS = 10_000;

/** log-update's createLogUpdate; loaded only for a TTY (see loadLiveRenderer), which keeps start-up fast. */
export type LiveRenderer = (stream: NodeJS.WriteStream) => ((text: string) => void) & { clear(): void; done(): void };

export async function loadLiveRenderer(stream: NodeJS.WritableStream): Promise<LiveRenderer | undefined> {
  if (!(stream as NodeJS.WriteStream).isTTY) return undefined;
  return (await import('log-update')).createLogUpdate as LiveRenderer;
}

export interface ReporterOptions {
  total: number;
  stream: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Live lines (a TTY) instead of plain ones. */
  live?: LiveRenderer;
  /** Also print a line for every cached node. */
  verbose?: boolean;
}

interface Running {
  started: number;
  done: number;
  total: number;
  unit: string;
  /** First progress report: rate is measured from here so start-up time does not skew it. */
  first?: { t: number; done: number };
  lastPrinted: number;
}

export interface Reporter extends RunEvents {
  /** Stops live rendering (call before printing the summary). */
  close(): void;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function rateAndEta(r: Running, now: number): { rate: number; eta: number } {
  if (!r.first || now <= r.first.t || r.done <= r.first.done) return { rate: NaN, eta: NaN };
  const rate = (r.done - r.first.done) / ((now - r.first.t) / 1000);
  return { rate, eta: (r.total - r.done) / rate };
}

function progressText(id: string, r: Running, now: number, barWidth: number): string {
  const { rate, eta } = rateAndEta(r, now);
  const frac = r.total > 0 ? Math.min(1, r.done / r.total) : 0;
  const bar = barWidth > 0 ? `[${'#'.repeat(Math.round(frac * barWidth)).padEnd(barWidth, '-')}] ` : '';
  const rateText = Number.isFinite(rate) ? ` ${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)}/s ETA ${formatSeconds(eta)}` : '';
  return `${id} ${bar}${r.done}/${r.total}${r.unit ? ` ${r.unit}` : ''}${rateText}`;
}

export function summaryLine(s: RunSummary): string {
  return `built ${s.built}, cached ${s.cached}, failed ${s.failed}, skipped ${s.skipped} in ${s.seconds.toFixed(2)} s`;
}

export function summaryJson(s: RunSummary): string {
  return JSON.stringify({
    built: s.built,
    cached: s.cached,
    failed: s.failed,
    skipped: s.skipped,
    seconds: s.seconds,
    nodes: s.nodes.map((n) => ({ id: n.id, stage: n.stage, status: n.status, key: n.key, seconds: n.seconds, ...(n.error ? { error: n.error } : {}) })),
  });
}

export function createReporter(opts: ReporterOptions): Reporter {
  const running = new Map<string, Running>();
  let finished = 0;
  const live = opts.live ? opts.live(opts.stream as NodeJS.WriteStream) : null;
  let renderTimer: NodeJS.Timeout | null = null;
  const counter = () => `[${finished}/${opts.total}]`;

  const render = () => {
    renderTimer = null;
    if (!live) return;
    const now = Date.now();
    const lines = [...running.entries()].map(([id, r]) => `  ${r.total > 0 ? progressText(id, r, now, 20) : `${id} running ${formatSeconds((now - r.started) / 1000)}`}`);
    live(`${counter()} ${running.size} running\n${lines.join('\n')}`);
  };
  const scheduleRender = () => {
    if (live && !renderTimer) renderTimer = setTimeout(render, 100);
  };
  /** A permanent line: above the live block on a TTY. */
  const line = (text: string) => {
    if (live) {
      live.clear();
      opts.stream.write(`${text}\n`);
      render();
    } else opts.stream.write(`${text}\n`);
  };

  return {
    start(id, reasons) {
      running.set(id, { started: Date.now(), done: 0, total: 0, unit: '', lastPrinted: Date.now() });
      line(`${counter()} start ${id}${reasons.length ? `: ${reasons.join('; ')}` : ''}`);
    },
    log(id, level, msg) {
      line(`  ${id}: ${level === 'warn' ? 'warning: ' : ''}${msg}`);
    },
    progress(id, done, total, unit) {
      const r = running.get(id);
      if (!r) return;
      const now = Date.now();
      r.done = done;
      r.total = total;
      r.unit = unit ?? r.unit;
      r.first ??= { t: now, done };
      if (live) scheduleRender();
      else if (now - r.lastPrinted >= PLAIN_PROGRESS_EVERY_MS) {
        r.lastPrinted = now;
        line(`${counter()} ${progressText(id, r, now, 0)}`);
      }
    },
    waiting(id, msg) {
      line(`${counter()} ${id}: ${msg}`);
    },
    finish(o: NodeOutcome, err?: unknown) {
      running.delete(o.id);
      finished++;
      if (o.status === 'built') line(`${counter()} built ${o.id} ${formatSeconds(o.seconds)}`);
      else if (o.status === 'cached') {
        if (opts.verbose) line(`${counter()} cached ${o.id}`);
        else scheduleRender();
      } else if (o.status === 'skipped') line(`${counter()} skipped ${o.id}: ${o.error}`);
      else {
        line(`${counter()} FAILED ${o.id}: ${o.error}`);
        const stack = (err as Error | undefined)?.stack;
        if (stack) line(stack.split('\n').map((l) => `    ${l}`).join('\n'));
      }
    },
    close() {
      if (renderTimer) clearTimeout(renderTimer);
      renderTimer = null;
      if (live) {
        live.clear();
        live.done();
      }
    },
  };
}
