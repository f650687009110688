// Worker-thread handler for LLC jobs (stages/llc-chain.ts), run through ctx.threads by llc-run.ts.
import type { ThreadHandler } from '../engine/index.ts';
import { runLlcJob, type LlcJob, type LlcJobResult } from './llc-chain.ts';

export const handle: ThreadHandler<LlcJob, LlcJobResult> = async (job, io) => {
  const result = await runLlcJob(job, (data) => io.post(data));
  // Hand the chain's loss buffer over instead of copying it.
  if (result.kind === 'chain') io.transfer(result.run.losses.buffer as ArrayBuffer);
  return result;
};
