// Picks the TensorFlow.js backend once per process (notes/environment.md):
//   DEVICE=gpu → tfjs-node-gpu, then WebGPU; neither usable is an error (never a silent CPU run).
//   otherwise  → tfjs-node if importable → wasm → pure-JS cpu.
// The tfjs-node packages are optionalDependencies: they cannot install everywhere.
import * as tf from '@tensorflow/tfjs';

let chosen: Promise<string> | null = null;

/** Imports a module; returns null on success, else why it failed (one line). */
async function importError(specifier: string): Promise<string | null> {
  try {
    await import(specifier);
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

async function tryImport(specifier: string): Promise<boolean> {
  return (await importError(specifier)) === null;
}

async function trySetBackend(name: string): Promise<boolean> {
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<unknown>;
}

/**
 * Dawn in Node: expose its WebGPU globals and navigator.gpu. When the default adapter request finds
 * nothing (a CPU-only machine offers at most a software OpenGL ES adapter, notes/environment.md),
 * retry at the 'compatibility' feature level, which tfjs itself never asks for.
 */
async function installDawn(): Promise<string | null> {
  try {
    const { create, globals } = (await import('webgpu')) as unknown as { create: (o: string[]) => GpuLike; globals: Record<string, unknown> };
    Object.assign(globalThis, globals);
    const gpu = create([]);
    const request = gpu.requestAdapter.bind(gpu);
    gpu.requestAdapter = async (options = {}) => (await request(options)) ?? (await request({ ...options, featureLevel: 'compatibility' }));
    const nav = ((globalThis as { navigator?: { gpu?: GpuLike } }).navigator ??= {});
    if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    return (await gpu.requestAdapter()) ? null : 'Dawn found no adapter (no Vulkan GPU; a software adapter needs Mesa EGL and EGL_PLATFORM=surfaceless)';
  } catch (err) {
    return `Dawn failed to start: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function selectGpu(): Promise<string> {
  const reasons: string[] = [];
  const nodeGpu = await importError('@tensorflow/tfjs-node-gpu');
  if (nodeGpu === null && (await trySetBackend('tensorflow'))) return 'tensorflow-gpu';
  reasons.push(`@tensorflow/tfjs-node-gpu: ${nodeGpu ?? 'installed, but its backend did not initialise'}`);
  const webgpu = (await importError('webgpu')) ?? (await importError('@tensorflow/tfjs-backend-webgpu')) ?? (await installDawn());
  if (webgpu === null && (await trySetBackend('webgpu'))) return 'webgpu';
  reasons.push(`WebGPU (npm webgpu + @tensorflow/tfjs-backend-webgpu): ${webgpu ?? 'an adapter was found, but the tfjs webgpu backend did not initialise'}`);
  throw new Error(
    `DEVICE=gpu: no usable GPU backend. Tried, in order:\n  - ${reasons.join('\n  - ')}\n` +
      'Install one of them on a machine with a GPU, or unset DEVICE to run on the CPU.',
  );
}

async function selectCpu(): Promise<string> {
  if ((await tryImport('@tensorflow/tfjs-node')) && (await trySetBackend('tensorflow'))) return 'tensorflow';
  if ((await tryImport('@tensorflow/tfjs-backend-wasm')) && (await trySetBackend('wasm'))) return 'wasm';
  if (await trySetBackend('cpu')) return 'cpu';
  throw new Error('no TensorFlow.js backend could be initialised (tried tfjs-node, wasm, cpu)');
}

/** Idempotent: selects, initialises and logs the backend once; returns its name. */
export function initBackend(): Promise<string> {
  chosen ??= (async () => {
    const device = process.env.DEVICE;
    if (device !== undefined && device !== '' && device !== 'gpu' && device !== 'cpu') {
      throw new Error(`DEVICE must be 'gpu', 'cpu' or unset, got '${device}'`);
    }
    const name = device === 'gpu' ? await selectGpu() : await selectCpu();
    console.error(`[stagewise] tfjs backend: ${name}`);
    return name;
  })();
  return chosen;
}
