// Resource pools (cpu, gpu). A node takes all of its request at once or waits: taking units
// piecemeal (as one p-queue slot per unit would) lets two multi-unit nodes deadlock each other.
import type { ResourceName, Resources } from '../types.ts';

interface Waiter {
  req: Required<Resources>;
  grant: () => void;
}

export class ResourcePools {
  private readonly free: Record<ResourceName, number>;
  private readonly waiters: Waiter[] = [];

  constructor(readonly capacity: Required<Resources>) {
    for (const [name, n] of Object.entries(capacity)) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`resource pool ${name}: expected a non-negative integer, got ${n}`);
    }
    this.free = { ...capacity };
  }

  /**
   * A stage's request, defaulted to { cpu: 1 } and clamped to the pool size so it can always run.
   * One exception: a GPU request against an empty gpu pool is an error, not a request for nothing —
   * the node would otherwise run without the GPU it asked for (and beside other GPU nodes).
   */
  clamp(req: Resources | undefined): Required<Resources> {
    const r = req ?? { cpu: 1 };
    const out = { cpu: 0, gpu: 0 };
    for (const name of ['cpu', 'gpu'] as const) {
      const n = r[name] ?? 0;
      if (!Number.isFinite(n) || n < 0) throw new Error(`resources.${name}: expected a non-negative number, got ${n}`);
      out[name] = Math.min(Math.ceil(n), this.capacity[name]);
    }
    if (out.gpu === 0 && (r.gpu ?? 0) > 0) {
      throw new Error(`needs ${r.gpu} gpu, but the gpu pool is empty (--gpus 0): give the pool a GPU (--gpus 1), or configure the stage not to request one`);
    }
    return out;
  }

  private fits(req: Required<Resources>): boolean {
    return req.cpu <= this.free.cpu && req.gpu <= this.free.gpu;
  }

  /** Resolves with a release function once every unit of `req` is granted. */
  acquire(req: Required<Resources>, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        req,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.free.cpu -= req.cpu;
          this.free.gpu -= req.gpu;
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.free.cpu += req.cpu;
            this.free.gpu += req.gpu;
            this.dispatch();
          });
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  /** First come first served, but a waiter that fits may pass one that does not (no idle units). */
  private dispatch(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i];
      if (this.fits(w.req)) {
        this.waiters.splice(i, 1);
        w.grant();
      } else i++;
    }
  }
}
