// Worker-thread handler for LM LLC jobs (lm-llc-chain.ts), run through ctx.threads by lm-llc-run.ts.
import type { ThreadHandler } from '../../engine/index.ts';
import { runLmLlcJob, type LmLlcJob, type LmLlcJobResult } from './lm-llc-chain.ts';

export const handle: ThreadHandler<LmLlcJob, LmLlcJobResult> = async (job, io) => {
  const result = await runLmLlcJob(job, (data) => io.post(data));
  // Hand the chain's loss buffer over instead of copying it.
  if (result.kind === 'chain') io.transfer(result.run.losses.buffer as ArrayBuffer);
  return result;
};
