// Picks the TensorFlow.js backend once per process (notes/environment.md):
//   DEVICE=gpu → tfjs-node-gpu, then WebGPU; neither usable is an error (never a silent CPU run).
//   otherwise  → tfjs-node if importable → wasm → pure-JS cpu.
// The tfjs-node packages are optionalDependencies: they cannot install everywhere.
import * as tf from '@tensorflow/tfjs';

let chosen: Promise<string> | null = null;

async function tryImport(specifier: string): Promise<boolean> {
  try {
    await import(specifier);
    return true;
  } catch {
    return false;
  }
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

async function selectGpu(): Promise<string> {
  if ((await tryImport('@tensorflow/tfjs-node-gpu')) && (await trySetBackend('tensorflow'))) return 'tensorflow-gpu';
  if ((await tryImport('webgpu')) && (await tryImport('@tensorflow/tfjs-backend-webgpu'))) {
    try {
      const { create, globals } = (await import('webgpu')) as { create: (o: string[]) => unknown; globals: Record<string, unknown> };
      Object.assign(globalThis, globals);
      (globalThis as { navigator?: unknown }).navigator ??= { gpu: create([]) };
    } catch {
      /* fall through to the error below */
    }
    if (await trySetBackend('webgpu')) return 'webgpu';
  }
  throw new Error(
    'DEVICE=gpu: no usable GPU backend (tried @tensorflow/tfjs-node-gpu, then WebGPU via the `webgpu` package). ' +
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
