// Worker-thread entry for LM LLC jobs (see lm-llc-chain.ts and stages/worker-pool.ts).
import { runLmLlcJob, type LmLlcJob, type LmLlcJobResult } from './lm-llc-chain.ts';
import { serveJobs } from '../worker-pool.ts';

serveJobs<LmLlcJob, LmLlcJobResult>(async (job, progress) => {
  const result = await runLmLlcJob(job, progress);
  return { result, transfer: result.kind === 'chain' ? [result.run.losses.buffer as ArrayBuffer] : [] };
});
