// Picks and initialises the TensorFlow.js backend for a device (notes on the device policy in
// lib/device.ts):
//   gpu → tfjs-node-gpu, then WebGPU through Dawn (a hardware adapter, else Mesa's software OpenGL ES
//         adapter); neither usable is an error, never a silent CPU run.
//   cpu → tfjs-node if importable → wasm → pure-JS cpu.
// The tfjs-node packages and webgpu are optionalDependencies: they cannot install everywhere.
// Each device is initialised once per thread; asking for the other device switches tfjs's global
// backend, so a persistent worker thread can run a GPU node after a CPU node.
import * as tf from '@tensorflow/tfjs';
import { prepareGpuEnvironment, requestedDevice, type Device } from './device.ts';

interface Selected {
  /** tfjs's backend name. */
  name: string;
  /** What the log and each record say, e.g. "webgpu (software: llvmpipe …)". */
  description: string;
}

const selected = new Map<Device, Promise<Selected>>();

/** Runs an import; returns null on success, else why it failed (one line). */
async function importError(load: () => Promise<unknown>): Promise<string | null> {
  try {
    await load();
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

// Every import is a literal, so a bundler (tools/gpu-bundle.ts) sees it. The tfjs-node packages
// usually are not installed: `as string` keeps the type checker from resolving them.
const load = {
  tfjsNodeGpu: () => import('@tensorflow/tfjs-node-gpu' as string),
  tfjsNode: () => import('@tensorflow/tfjs-node' as string),
  wasm: () => import('@tensorflow/tfjs-backend-wasm'),
  dawn: () => import('webgpu'),
  tfjsWebgpu: () => import('@tensorflow/tfjs-backend-webgpu'),
};

async function trySetBackend(name: string): Promise<boolean> {
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
}
interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
}
interface Dawn {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** Mesa's and Google's CPU rasterisers, as adapters name themselves. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

export function describeAdapter(info: AdapterLike['info']): string {
  const name = [info?.vendor, info?.device, info?.description].filter((s) => s && s.trim() !== '').join(', ') || 'unnamed adapter';
  const software = info?.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(`${info?.device} ${info?.description}`);
  return `${software ? 'software' : 'hardware'}: ${name.replace(/-+(,|$)/g, '$1')}`;
}

/**
 * Dawn in Node: expose its WebGPU globals and a navigator.gpu whose requestAdapter returns the
 * adapter chosen here. First Dawn's default request (a hardware Vulkan adapter); when that finds
 * nothing, Mesa's software OpenGL ES adapter, which Dawn offers only through its 'opengles' backend
 * at the 'compatibility' feature level (tfjs never asks for either). Must run before
 * @tensorflow/tfjs-backend-webgpu is imported: that package registers itself only if navigator.gpu
 * exists at import time. Returns the adapter's description, or throws why there is none.
 */
async function installDawn(): Promise<string> {
  const missingEnv = prepareGpuEnvironment();
  const dawn = (await load.dawn()) as unknown as Dawn;
  Object.assign(globalThis, dawn.globals);
  const attempts: { flags: string[]; options: Record<string, unknown> }[] = [
    { flags: [], options: {} },
    { flags: ['backend=opengles'], options: { featureLevel: 'compatibility' } },
  ];
  for (const { flags, options } of attempts) {
    const gpu = dawn.create(flags);
    const adapter = await gpu.requestAdapter(options);
    if (!adapter) continue;
    const request = gpu.requestAdapter.bind(gpu);
    gpu.requestAdapter = (extra = {}) => request({ ...extra, ...options });
    const nav = ((globalThis as { navigator?: { gpu?: GpuLike } }).navigator ??= {} as { gpu?: GpuLike });
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    return describeAdapter(adapter.info);
  }
  const hint = missingEnv.length > 0
    ? `this worker thread's process environment lacks ${missingEnv.join(' and ')} (set them before starting node, or plan the node on the main thread)`
    : 'no Vulkan GPU, and no software OpenGL ES adapter (install Debian libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)';
  throw new Error(`Dawn found no adapter: ${hint}`);
}

async function selectGpu(): Promise<Selected> {
  const reasons: string[] = [];
  const nodeGpu = await importError(load.tfjsNodeGpu);
  if (nodeGpu === null && (await trySetBackend('tensorflow'))) return { name: 'tensorflow', description: 'tensorflow-gpu' };
  reasons.push(`@tensorflow/tfjs-node-gpu: ${nodeGpu ?? 'installed, but its backend did not initialise'}`);
  let adapter: string | null = null;
  let webgpuError: string | null = null;
  try {
    adapter = await installDawn();
    webgpuError = await importError(load.tfjsWebgpu);
  } catch (err) {
    webgpuError = (err as Error).message.split('\n')[0];
  }
  if (webgpuError === null && (await trySetBackend('webgpu'))) return { name: 'webgpu', description: `webgpu (${adapter})` };
  reasons.push(`WebGPU (npm webgpu + @tensorflow/tfjs-backend-webgpu): ${webgpuError ?? `an adapter was found (${adapter}), but the tfjs webgpu backend did not initialise`}`);
  throw new Error(
    `no usable GPU backend. Tried, in order:\n  - ${reasons.join('\n  - ')}\n` +
      'Install one of them on a machine with a GPU, or set DEVICE=cpu (or unset it) to run on the CPU.',
  );
}

async function selectCpu(): Promise<Selected> {
  if ((await importError(load.tfjsNode)) === null && (await trySetBackend('tensorflow'))) return { name: 'tensorflow', description: 'tensorflow' };
  if ((await importError(load.wasm)) === null && (await trySetBackend('wasm'))) return { name: 'wasm', description: 'wasm' };
  if (await trySetBackend('cpu')) return { name: 'cpu', description: 'cpu' };
  throw new Error('no TensorFlow.js backend could be initialised (tried tfjs-node, wasm, cpu)');
}

/**
 * Makes `device`'s backend tfjs's current one, selecting and logging it the first time; returns
 * its description (stored in records). The default device is DEVICE's (stages pass the granted one).
 */
export async function initBackend(device: Device = requestedDevice()): Promise<string> {
  let pending = selected.get(device);
  if (!pending) {
    pending = (async () => {
      let chosen: Selected;
      try {
        chosen = device === 'gpu' ? await selectGpu() : await selectCpu();
      } catch (err) {
        throw new Error(`${device === 'gpu' ? 'GPU' : 'CPU'} backend: ${(err as Error).message}`);
      }
      console.error(`[stagewise] tfjs backend: ${chosen.description}`);
      return chosen;
    })();
    selected.set(device, pending);
  }
  const { name, description } = await pending;
  if (tf.getBackend() !== name && !(await trySetBackend(name))) throw new Error(`could not switch TensorFlow.js back to its ${name} backend`);
  return description;
}
