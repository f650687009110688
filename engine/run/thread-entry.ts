// Worker-thread side of run/threads.ts: imports a job's handler module (cached for the worker's
// lifetime) and calls its `handle(payload, io)`; one job at a time.
import { parentPort } from 'node:worker_threads';
import type { ThreadHandler } from '../types.ts';

interface RunMessage {
  type: 'run';
  id: number;
  module: string;
  payload: unknown;
}

const port = parentPort!;
const running = new Map<number, AbortController>();

async function run(msg: RunMessage): Promise<void> {
  const controller = new AbortController();
  running.set(msg.id, controller);
  const transfer: ArrayBuffer[] = [];
  try {
    const mod = (await import(msg.module)) as { handle?: ThreadHandler };
    if (typeof mod.handle !== 'function') throw new Error(`${msg.module} exports no handle(payload, io) function for worker threads`);
    const result = await mod.handle(msg.payload, {
      post: (data) => port.postMessage({ id: msg.id, type: 'message', data }),
      signal: controller.signal,
      transfer: (...buffers) => transfer.push(...buffers),
    });
    port.postMessage({ id: msg.id, type: 'result', data: result }, transfer);
  } catch (err) {
    const e = err as Error;
    port.postMessage({ id: msg.id, type: 'error', message: e?.message ?? String(err), stack: e?.stack });
  } finally {
    running.delete(msg.id);
  }
}

port.on('message', (msg: RunMessage | { type: 'abort'; id: number }) => {
  if (msg.type === 'abort') running.get(msg.id)?.abort();
  else void run(msg);
});
