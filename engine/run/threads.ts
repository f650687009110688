// The one worker-thread pool. Stage nodes (run/runner.ts) and a stage's own parallel jobs (ctx.threads,
// e.g. the llc stage's SGLD chains) both run here: persistent tsx-registered workers, each serving
// one job at a time and keeping what it imported (a tfjs backend costs ≈1.3 s per thread).
//
// A job is (handler module URL, payload). The worker imports the module once and calls its
// `handle(payload, io)` export (see thread-entry.ts); `io.post(data)` sends interim messages
// (logs, progress) and the return value is the result. Idle workers are unref'd, so the pool never
// keeps a process alive; a busy one does until its job ends.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface ThreadJobOptions {
  /** Interim messages posted by the handler (io.post). */
  onMessage?: (data: unknown) => void;
  /** Aborting asks the handler to stop (io.signal); after `abortGraceMs` its worker is terminated. */
  signal?: AbortSignal;
  abortGraceMs?: number;
  /** Workers to start at most for this pool's jobs (default: the pool's size). */
  size?: number;
}

export interface ThreadPoolOptions {
  /** Workers kept at most (more jobs wait). */
  size: number;
  /** Where worker stdout goes (console.log in a handler); default: not captured. */
  stdout?: NodeJS.WritableStream;
}

/** Rejection of a job whose signal fired. */
export class ThreadAbortError extends Error {
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : 'aborted');
    this.name = 'ThreadAbortError';
  }
}

type Reply = { id: number; type: 'message'; data: unknown } | { id: number; type: 'result'; data: unknown } | { id: number; type: 'error'; message: string; stack?: string };

interface Pending {
  id: number;
  module: string;
  payload: unknown;
  opts: ThreadJobOptions;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  current: Pending | null;
  killTimer?: NodeJS.Timeout;
}

/** tsx's ESM register API; import.meta.resolve is missing when this file is loaded through require (uvu -r tsx). */
function tsxApiUrl(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  // require resolves the CommonJS build; its ESM twin sits next to it (the CJS register() cannot load the hooks).
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const esm = cjs.replace(/\.cjs$/, '.mjs');
  return pathToFileURL(existsSync(esm) ? esm : cjs).href;
}

const ENTRY = new URL('./thread-entry.ts', import.meta.url).href;

export class ThreadPool {
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private nextId = 0;
  private closed = false;

  constructor(private readonly opts: ThreadPoolOptions) {}

  /** Runs handler module `module`'s `handle(payload)` on a free worker. */
  run<R>(module: string, payload: unknown, opts: ThreadJobOptions = {}): Promise<R> {
    if (this.closed) return Promise.reject(new Error('thread pool closed'));
    if (opts.signal?.aborted) return Promise.reject(new ThreadAbortError(opts.signal.reason));
    return new Promise<R>((resolve, reject) => {
      const p: Pending = { id: this.nextId++, module, payload, opts, resolve: resolve as (r: unknown) => void, reject };
      this.queue.push(p);
      opts.signal?.addEventListener('abort', () => this.abort(p), { once: true });
      const limit = Math.min(this.opts.size, opts.size ?? this.opts.size);
      while (this.slots.length < limit && this.slots.every((s) => s.current !== null)) this.spawn();
      this.dispatch();
    });
  }

  get size(): number {
    return this.slots.length;
  }

  /** Stops every worker now: running and queued jobs reject with `reason`. */
  async close(reason: Error = new Error('thread pool closed')): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    const queued = this.queue;
    this.slots = [];
    this.queue = [];
    for (const p of queued) p.reject(reason);
    for (const s of slots) {
      clearTimeout(s.killTimer);
      s.current?.reject(reason);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private abort(p: Pending): void {
    const queued = this.queue.indexOf(p);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      p.reject(new ThreadAbortError(p.opts.signal?.reason));
      return;
    }
    const slot = this.slots.find((s) => s.current === p);
    if (!slot) return;
    slot.worker.postMessage({ type: 'abort', id: p.id });
    // A handler that ignores its signal loses its worker after the grace period.
    slot.killTimer = setTimeout(() => {
      if (slot.current !== p) return;
      this.drop(slot);
      p.reject(new ThreadAbortError(p.opts.signal?.reason));
      void slot.worker.terminate();
      this.dispatch();
    }, p.opts.abortGraceMs ?? 2000);
  }

  private drop(slot: Slot): void {
    clearTimeout(slot.killTimer);
    this.slots = this.slots.filter((s) => s !== slot);
    slot.current = null;
  }

  private spawn(): void {
    // Workers do not inherit the tsx loader, so each registers it before importing the entry.
    const api = tsxApiUrl();
    const bootstrap = `import(${JSON.stringify(api)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(ENTRY)}); })`;
    // Capturing stdout keeps a handle open, so only a pool with somewhere to send it does; otherwise
    // a worker's console.log goes where this thread's would (for a stage's job threads: to the
    // stage worker's stream, which the runner's pool captures).
    const capture = this.opts.stdout !== undefined;
    const worker = new Worker(bootstrap, { eval: true, stdout: capture });
    if (capture) worker.stdout.pipe(this.opts.stdout!, { end: false });
    worker.unref();
    const slot: Slot = { worker, current: null };
    worker.on('message', (msg: Reply) => {
      const p = slot.current;
      if (!p || msg.id !== p.id) return;
      if (msg.type === 'message') {
        p.opts.onMessage?.(msg.data);
        return;
      }
      clearTimeout(slot.killTimer);
      slot.current = null;
      worker.unref();
      if (p.opts.signal?.aborted) {
        // The handler stopped (or finished) after an abort: the job counts as aborted, and the
        // worker may be reused.
        p.reject(new ThreadAbortError(p.opts.signal.reason));
      } else if (msg.type === 'error') {
        const err = new Error(msg.message);
        if (msg.stack) err.stack = msg.stack;
        p.reject(err);
      } else p.resolve(msg.data);
      this.dispatch();
    });
    const fail = (err: Error) => {
      if (!this.slots.includes(slot)) return;
      const p = slot.current;
      this.drop(slot);
      p?.reject(p.opts.signal?.aborted ? new ThreadAbortError(p.opts.signal.reason) : err);
      if (this.queue.length > 0 && this.slots.length === 0 && !this.closed) this.spawn();
      this.dispatch();
    };
    worker.on('error', (err) => fail(new Error(`worker thread crashed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`worker thread exited with code ${code}`)));
    this.slots.push(slot);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.current || this.queue.length === 0) continue;
      const p = this.queue.shift()!;
      slot.current = p;
      slot.worker.ref(); // a busy worker keeps the process alive until its result arrives
      slot.worker.postMessage({ type: 'run', id: p.id, module: p.module, payload: p.payload });
    }
  }
}
