// Worker-thread entry: imports stage modules by URL (cached for the worker's lifetime) and runs one node at a time.
import { parentPort } from 'node:worker_threads';
import type { AnyInputs, StageDef, UpstreamBuild } from '../types.ts';
import { invokeStage } from './invoke.ts';

interface RunMessage {
  type: 'run';
  nodeId: string;
  moduleUrl: string;
  stageName: string;
  rawParams: unknown;
  inputs: AnyInputs;
  outDir: string;
  workDir: string;
  resources: { cpu: number; gpu: number };
  upstream?: UpstreamBuild[];
}

const port = parentPort!;
let controller: AbortController | null = null;

async function findStage(moduleUrl: string, name: string): Promise<StageDef> {
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  for (const value of Object.values(mod)) {
    const def = value as StageDef | null;
    if (def && typeof def === 'object' && def.name === name && (typeof def.run === 'function' || def.run instanceof URL)) return def;
  }
  throw new Error(`module ${moduleUrl} exports no stage named ${JSON.stringify(name)}`);
}

async function run(msg: RunMessage): Promise<void> {
  controller = new AbortController();
  try {
    const stage = await findStage(msg.moduleUrl, msg.stageName);
    const parsed = stage.params.safeParse(msg.rawParams);
    if (!parsed.success) throw new Error(`params rejected by ${msg.stageName} in the worker: ${parsed.error.message}`);
    const result = await invokeStage(stage, {
      params: parsed.data,
      inputs: msg.inputs,
      outDir: msg.outDir,
      workDir: msg.workDir,
      log: {
        info: (m) => port.postMessage({ type: 'log', level: 'info', msg: String(m) }),
        warn: (m) => port.postMessage({ type: 'log', level: 'warn', msg: String(m) }),
      },
      progress: { update: (done, total, unit) => port.postMessage({ type: 'progress', done, total, unit }) },
      signal: controller.signal,
      resources: msg.resources,
      upstream: msg.upstream,
    });
    port.postMessage({ type: 'done', result: result ?? undefined });
  } catch (err) {
    const e = err as Error;
    port.postMessage({ type: 'error', message: e?.message ?? String(err), stack: e?.stack });
  } finally {
    controller = null;
  }
}

port.on('message', (msg: RunMessage | { type: 'abort' }) => {
  if (msg.type === 'abort') controller?.abort();
  else void run(msg);
});
