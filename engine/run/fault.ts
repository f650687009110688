// Crash points for the fault-tolerance tests (test/engine/faults.test.ts): with
// STAGEWISE_FAULT=<point>, the process SIGKILLs itself the first time it reaches <point>, so a test
// can prove what a real kill at exactly that moment leaves behind. Unset, it costs one env lookup.

import { appendFileSync } from 'node:fs';

export type FaultPoint =
  /** storeOutputs: after the first output blob is stored, before the others. */
  | 'mid-blobs'
  /** buildNode: every blob stored, the record not yet written. */
  | 'after-blobs'
  /** S3 store putRecord: the remote record uploaded, the local cached copy not yet written. */
  | 'after-remote-record'
  /** S3 store putBlob: a multipart upload under way, some parts sent, not completed. */
  | 'mid-multipart';

export function faultPoint(point: FaultPoint): void {
  if (process.env.STAGEWISE_FAULT === point) process.kill(process.pid, 'SIGKILL');
}

/**
 * The build journal for the chaos soak (tools/soak.ts): with STAGEWISE_BUILD_JOURNAL=<file>, one line
 * `key nodeId pid` is appended right after a node's record is written, so the soak can prove that no
 * node was built twice to completion across kills and concurrent invocations. Unset: one env lookup.
 */
export function journalBuild(key: string, nodeId: string): void {
  const file = process.env.STAGEWISE_BUILD_JOURNAL;
  if (file) appendFileSync(file, `${key} ${JSON.stringify(nodeId)} ${process.pid}\n`);
}
