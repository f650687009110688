// Which device the heavy stages compute on: read from DEVICE (the shell or .env), decided without
// loading TensorFlow.js, because planning imports this module (lib/backend.ts does the loading).
//
//   DEVICE=gpu      train and llc nodes each request one unit of the engine's gpu pool and compute
//                   on a GPU backend; a gpu pool of 0 (--gpus 0) is an error, and so is a machine
//                   where no GPU backend starts — nothing moves to the CPU unless DEVICE says so.
//   DEVICE=cpu, or unset   every node computes on the CPU (wasm with the fused kernel).
//
// A node computes on the device it was granted (ctx.resources.gpu), not on DEVICE directly, so
// evaluate (which requests no GPU) stays on the CPU beside a training run on the GPU.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

export type Device = 'gpu' | 'cpu';

// DEVICE=gpu in the shell: prepare now, before any worker thread (an engine or queue worker) starts.
// (DEVICE from .env arrives later, when the CLI loads it; deviceResources() prepares then.)
if (isMainThread && process.env.DEVICE === 'gpu') prepareGpuEnvironment();

/** DEVICE from the environment; unset or empty = cpu. */
export function requestedDevice(env: NodeJS.ProcessEnv = process.env): Device {
  const value = env.DEVICE;
  if (value === undefined || value === '' || value === 'cpu') return 'cpu';
  if (value === 'gpu') return 'gpu';
  throw new Error(`DEVICE must be 'gpu', 'cpu' or unset, got '${value}'`);
}

/** The device a node computes on, from what the scheduler granted it (a stage's ctx.resources). */
export function grantedDevice(resources: { gpu: number }): Device {
  return resources.gpu > 0 ? 'gpu' : 'cpu';
}

/**
 * A GPU-heavy stage's resource request: one GPU under DEVICE=gpu. Called where the node is planned
 * (the main thread), which is also the last point at which the GPU environment can still reach
 * worker threads started later.
 */
export function deviceResources(cpu: number): { cpu: number; gpu?: number } {
  if (requestedDevice() !== 'gpu') return { cpu };
  prepareGpuEnvironment();
  return { cpu, gpu: 1 };
}

/**
 * Dawn finds Mesa's software OpenGL ES adapter (the only one on a machine without a GPU) only with
 * EGL_PLATFORM=surfaceless and a private XDG_RUNTIME_DIR. Native code reads the real process
 * environment, which only the main thread can change: a worker thread's process.env is a copy.
 * So this must run on the main thread before workers start; values the user set are kept.
 * Returns the names it could not set (in a worker thread, when they are missing).
 */
export function prepareGpuEnvironment(): string[] {
  const missing: string[] = [];
  if (!process.env.EGL_PLATFORM) {
    if (isMainThread) process.env.EGL_PLATFORM = 'surfaceless';
    else missing.push('EGL_PLATFORM=surfaceless');
  }
  if (!process.env.XDG_RUNTIME_DIR) {
    if (isMainThread) {
      // Per user, mode 0700 as the XDG spec asks (Mesa ignores a directory others can read).
      const dir = path.join(os.tmpdir(), `stagewise-xdg-${process.getuid?.() ?? 'user'}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    } else missing.push('XDG_RUNTIME_DIR=<a 0700 directory>');
  }
  return missing;
}
