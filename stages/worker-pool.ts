// A small, lazily created pool of worker threads that run TypeScript modules (via tsx), one job at
// a time per worker. Workers are expensive to start (a tfjs backend per thread, ≈1.3 s), so the
// pool is kept for the life of the process; idle workers are unref'd so they never keep it alive.
//
// Protocol: main → worker { id, job }; worker → main { id, type: 'progress', data } |
// { id, type: 'result', data } | { id, type: 'error', message }. The worker side is serveJobs().
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, parentPort } from 'node:worker_threads';

interface Pending<J, R> {
  id: number;
  job: J;
  onProgress?: (data: unknown) => void;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

interface Slot<J, R> {
  worker: Worker;
  current: Pending<J, R> | null;
}

type Reply = { id: number; type: 'progress' | 'result'; data: unknown } | { id: number; type: 'error'; message: string };

/**
 * URL of tsx's ESM register API. import.meta.resolve is missing when tsx loads this file as
 * CommonJS (uvu -r tsx); there, resolve the package's "import" export by hand.
 */
function tsxEsmApi(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('tsx/package.json');
  const pkg = require(pkgFile) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports['./esm/api'].import.default)).href;
}

export class WorkerPool<J, R> {
  private slots: Slot<J, R>[] = [];
  private queue: Pending<J, R>[] = [];
  private nextId = 0;

  constructor(private readonly moduleUrl: string) {}

  /** Run `job` on a free worker, starting workers until there are `size`. */
  run(job: J, size: number, onProgress?: (data: unknown) => void): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, onProgress, resolve, reject });
      while (this.slots.length < size && this.slots.every((s) => s.current !== null)) this.spawn();
      this.dispatch();
    });
  }

  /** Stop every worker now (e.g. on abort): in-flight and queued jobs reject with `reason`. */
  async terminate(reason: Error): Promise<void> {
    const slots = this.slots;
    const queued = this.queue;
    this.slots = [];
    this.queue = [];
    for (const p of queued) p.reject(reason);
    for (const s of slots) s.current?.reject(reason);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(): void {
    const api = tsxEsmApi();
    const bootstrap = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(this.moduleUrl)}); })`;
    const worker = new Worker(bootstrap, { eval: true });
    const slot: Slot<J, R> = { worker, current: null };
    worker.unref();
    worker.on('message', (msg: Reply) => {
      const p = slot.current;
      if (!p || msg.id !== p.id) return;
      if (msg.type === 'progress') {
        p.onProgress?.(msg.data);
        return;
      }
      slot.current = null;
      worker.unref();
      if (msg.type === 'error') p.reject(new Error(msg.message));
      else p.resolve(msg.data as R);
      this.dispatch();
    });
    const fail = (err: Error) => {
      this.slots = this.slots.filter((s) => s !== slot);
      slot.current?.reject(err);
      slot.current = null;
      if (this.queue.length > 0 && this.slots.length === 0) this.spawn();
      this.dispatch();
    };
    worker.on('error', (err) => fail(new Error(`worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) fail(new Error(`worker exited with code ${code}`));
    });
    this.slots.push(slot);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.current || this.queue.length === 0) continue;
      const p = this.queue.shift()!;
      slot.current = p;
      slot.worker.ref(); // a busy worker keeps the process alive until its result arrives
      slot.worker.postMessage({ id: p.id, job: p.job });
    }
  }
}

/**
 * The worker side: answer each { id, job } with handler(job)'s result. `progress(data)` sends
 * interim updates. Results may carry `transfer` buffers to avoid copying large arrays.
 */
export function serveJobs<J, R>(handler: (job: J, progress: (data: unknown) => void) => Promise<{ result: R; transfer?: ArrayBuffer[] }>): void {
  if (!parentPort) throw new Error('serveJobs: not running in a worker thread');
  const port = parentPort;
  port.on('message', async ({ id, job }: { id: number; job: J }) => {
    try {
      const { result, transfer } = await handler(job, (data) => port.postMessage({ id, type: 'progress', data }));
      port.postMessage({ id, type: 'result', data: result }, transfer ?? []);
    } catch (err) {
      const e = err as Error;
      port.postMessage({ id, type: 'error', message: e.stack ?? e.message ?? String(err) });
    }
  });
}
