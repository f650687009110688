// Crash points for the fault-tolerance tests (test/engine/faults.test.ts): with
// STAGEWISE_FAULT=<point>, the process SIGKILLs itself the first time it reaches <point>, so a test
// can prove what a real kill at exactly that moment leaves behind. Unset, it costs one env lookup.

export type FaultPoint =
  /** storeOutputs: after the first output blob is stored, before the others. */
  | 'mid-blobs'
  /** buildNode: every blob stored, the record not yet written. */
  | 'after-blobs'
  /** S3 store putRecord: the remote record uploaded, the local cached copy not yet written. */
  | 'after-remote-record';

export function faultPoint(point: FaultPoint): void {
  if (process.env.STAGEWISE_FAULT === point) process.kill(process.pid, 'SIGKILL');
}
