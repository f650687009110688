// Builds the self-contained bundle of the GPU path for a machine that gets only a copy of the
// working tree (no node_modules, no package registry): tools/gpu-check.ts and everything it imports
// (TensorFlow.js, its WebGPU backend, the model, the oracle fixture) in one ES module, plus Dawn's
// linux-x64 binary next to it. Run on the GPU machine with `node dist/gpu-check.mjs`.
//
//   npx tsx tools/gpu-bundle.ts [OUT_DIR]        (default dist/; prints the size)
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What the GPU machine may receive besides the working tree. */
export const BUNDLE_LIMIT_BYTES = 60 * 2 ** 20;

/** Dawn's Node binding for linux-x64, from the installed `webgpu` package. */
function dawnBinary(): string {
  const require = createRequire(path.join(REPO, 'package.json'));
  return path.join(path.dirname(require.resolve('webgpu/package.json')), 'dist', 'linux-x64', 'dawn.node');
}

/**
 * The `webgpu` package finds dawn.node under its own dist/<platform>-<arch>/; in the bundle it sits
 * next to the bundle. This stands in for the package's index.js (its extra unmap-on-destroy patch
 * is for code that destroys devices, which tfjs never does).
 */
const dawnNextToBundle: esbuild.Plugin = {
  name: 'dawn-next-to-bundle',
  setup(build) {
    build.onResolve({ filter: /^webgpu$/ }, () => ({ path: 'webgpu', namespace: 'dawn' }));
    build.onLoad({ filter: /.*/, namespace: 'dawn' }, () => ({
      contents: `import { createRequire } from 'node:module';
const { create, globals } = createRequire(import.meta.url)('./dawn.node');
export { create, globals };`,
      loader: 'js',
    }));
  },
};

export interface BundleResult {
  outDir: string;
  entry: string;
  files: { name: string; bytes: number }[];
  totalBytes: number;
}

export async function buildGpuBundle(outDir: string): Promise<BundleResult> {
  mkdirSync(outDir, { recursive: true });
  const entry = path.join(outDir, 'gpu-check.mjs');
  await esbuild.build({
    entryPoints: [path.join(REPO, 'tools/gpu-check.ts')],
    outfile: entry,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    // Not installed here, and not wanted there: the check runs on WebGPU only.
    external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-backend-wasm'],
    plugins: [dawnNextToBundle],
    // CommonJS modules inside an ES module bundle still call require() for Node built-ins.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
  copyFileSync(dawnBinary(), path.join(outDir, 'dawn.node'));
  const files = readdirSync(outDir).map((name) => ({ name, bytes: statSync(path.join(outDir, name)).size }));
  const totalBytes = files.reduce((n, f) => n + f.bytes, 0);
  if (totalBytes > BUNDLE_LIMIT_BYTES) throw new Error(`GPU bundle is ${(totalBytes / 2 ** 20).toFixed(1)} MiB, over the ${BUNDLE_LIMIT_BYTES / 2 ** 20} MiB limit`);
  return { outDir, entry, files, totalBytes };
}

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(REPO, 'dist'));
  const r = await buildGpuBundle(outDir);
  for (const f of r.files) console.log(`${(f.bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${path.join(path.relative(process.cwd(), r.outDir) || '.', f.name)}`);
  console.log(`${(r.totalBytes / 2 ** 20).toFixed(1).padStart(6)} MiB  total (limit ${BUNDLE_LIMIT_BYTES / 2 ** 20} MiB)`);
  console.log(`run on the GPU machine: node ${path.relative(process.cwd(), r.entry)} [--out gpu-results.md]`);
}

// No top-level await: tests load this file through uvu's CommonJS hook.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`gpu-bundle: ${(err as Error).message}`);
    process.exit(1);
  });
}
