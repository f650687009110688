// Store factory: the engine talks to the Store interface only, so the S3 store can be swapped in by env.
import { openLocalStore, type LocalStore } from './local.ts';
import type { Store } from '../types.ts';

export interface OpenedStore {
  /** What the engine reads and writes through (local, or S3 with the local store as read-through cache). */
  store: Store;
  /** The local store underneath: views, work dirs, locks and node pointers live under its root. */
  local: LocalStore;
}

/** The store's settings (LOCAL_ROOT, AWS_*) are wrong or the remote store cannot be reached: a setup error, not a build failure. */
export class StoreOpenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}

export async function openStore(env: NodeJS.ProcessEnv = process.env): Promise<OpenedStore> {
  try {
    const local = openLocalStore(env.LOCAL_ROOT || './artifacts');
    // ── S3 plugs in here: a remote store with `local` as its read-through cache. ──
    if (env.AWS_BUCKET_NAME) {
      const s3 = (await import('./s3.ts')) as { openS3Store(local: Store & { root: string }, env: NodeJS.ProcessEnv): Promise<Store> };
      return { store: await s3.openS3Store(local, env), local };
    }
    return { store: local, local };
  } catch (err) {
    throw new StoreOpenError((err as Error).message, { cause: err });
  }
}
