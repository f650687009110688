// Worker-thread entry for LLC jobs (see stages/llc-chain.ts and stages/worker-pool.ts).
import { runLlcJob, type LlcJob, type LlcJobResult } from './llc-chain.ts';
import { serveJobs } from './worker-pool.ts';

serveJobs<LlcJob, LlcJobResult>(async (job, progress) => {
  const result = await runLlcJob(job, progress);
  // Hand the chain's loss buffer over instead of copying it.
  return { result, transfer: result.kind === 'chain' ? [result.run.losses.buffer as ArrayBuffer] : [] };
});
