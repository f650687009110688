// Resource pools (cpu, gpu). A node takes all of its request at once or waits: taking units
// piecemeal (as one p-queue slot per unit would) lets two multi-unit nodes deadlock each other.
import type { ResourceName, Resources } from '../types.ts';

interface Waiter {
  req: Required<Resources>;
  priority: number;
  grant: () => void;
}

/** What a release may ask: keep the units for the node that is about to ask for them. */
export interface Hold {
  /** Only waiters of at least this priority may take units while the hold lasts. */
  minPriority: number;
  ms: number;
}

export type Release = (hold?: Hold) => void;

export class ResourcePools {
  private readonly free: Record<ResourceName, number>;
  private readonly waiters: Waiter[] = [];
  private hold: { minPriority: number; until: number; timer: NodeJS.Timeout } | null = null;

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

  /**
   * Resolves with a release function once every unit of `req` is granted. Waiters are served in
   * order of `priority` (higher first; ties first come first served).
   */
  acquire(req: Required<Resources>, signal?: AbortSignal, priority = 0): Promise<Release> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        req,
        priority,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.free.cpu -= req.cpu;
          this.free.gpu -= req.gpu;
          let released = false;
          resolve((hold?: Hold) => {
            if (released) return;
            released = true;
            this.free.cpu += req.cpu;
            this.free.gpu += req.gpu;
            if (hold && hold.ms > 0) this.setHold(hold);
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
      // Insert after every waiter of equal or higher priority: stable, highest first.
      const at = this.waiters.findIndex((w) => w.priority < priority);
      this.waiters.splice(at < 0 ? this.waiters.length : at, 0, waiter);
      this.dispatch();
    });
  }

  /**
   * A critical-path node's successor becomes ready only after its inputs are assessed, by which time
   * a waiting lower-priority node would have taken the freed core (and the chain would wait for that
   * node to finish). A hold keeps free units for waiters of at least `minPriority` for `ms`; it ends
   * when such a waiter is served or the time is up (so a successor that never asks blocks nothing).
   */
  private setHold(hold: Hold): void {
    if (this.hold && this.hold.minPriority >= hold.minPriority) return; // a more important hold stands
    if (this.hold) clearTimeout(this.hold.timer);
    const timer = setTimeout(() => {
      this.hold = null;
      this.dispatch();
    }, hold.ms); // not unref'd: a waiter held back must be served even if nothing else is pending
    this.hold = { minPriority: hold.minPriority, until: Date.now() + hold.ms, timer };
  }

  /** Ends a hold now (a run that has finished has no successor left to wait for). */
  endHold(): void {
    if (!this.hold) return;
    clearTimeout(this.hold.timer);
    this.hold = null;
    this.dispatch();
  }

  /** By priority, but a waiter that fits may pass one that does not (no idle units); a hold holds back lower priorities. */
  private dispatch(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i];
      const heldBack = this.hold !== null && w.priority < this.hold.minPriority;
      if (!heldBack && this.fits(w.req)) {
        this.waiters.splice(i, 1);
        if (this.hold) {
          clearTimeout(this.hold.timer);
          this.hold = null;
        }
        w.grant();
      } else i++;
    }
  }
}
