// The WebGPU backend for tests: on a machine without a GPU it runs on Mesa's software OpenGL ES
// adapter (Debian libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri; .ci/services.sh installs them).
// Where those libraries are missing the GPU tests print SKIPPED; where they are present, a backend
// that does not start is a failure, not a skip.
import { existsSync } from 'node:fs';
import { initBackend } from '../../lib/backend.ts';

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];
const MESA_LIBS = ['libEGL_mesa.so.0', 'libGLESv2.so.2'];

/** Why Mesa's software GLES cannot be there, or null if its libraries are installed. */
export function mesaMissing(): string | null {
  const missing = MESA_LIBS.filter((lib) => !LIB_DIRS.some((d) => existsSync(`${d}/${lib}`)));
  return missing.length === 0 ? null : `${missing.join(', ')} not installed (apt-get install libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri; see .ci/services.sh)`;
}

/** Makes WebGPU the current tfjs backend: its description, or why the GPU tests are skipped. */
export async function webgpuBackend(): Promise<{ backend: string } | { skipped: string }> {
  try {
    const backend = await initBackend('gpu');
    if (!backend.startsWith('webgpu')) return { skipped: `the GPU backend here is ${backend}, not WebGPU` };
    return { backend };
  } catch (err) {
    const missing = mesaMissing();
    if (missing) return { skipped: missing };
    throw err;
  }
}

export function printSkipped(file: string, why: string): void {
  console.log(`\n  SKIPPED (${file}: ${why})\n`);
}
