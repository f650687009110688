// `pipeline.ts worker --queue URL`: builds queued nodes until SIGINT/SIGTERM (engine/distributed/worker.ts).
import { availableParallelism } from 'node:os';
import { errorLines, exitCodeOf, type ParsedArgs } from './args.ts';
import type { CliOptions } from './main.ts';
import { handleSignals } from './signals.ts';

export async function workerCommand(args: ParsedArgs, opts: CliOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const signals = handleSignals(opts, (sig) => stderr.write(`\n${sig}: stopping; running nodes go back to the queue…\n`));
  const { controller } = signals;
  try {
    const { runQueueWorker } = await import('../distributed/worker.ts');
    await runQueueWorker({
      url: args.queue!,
      cpus: args.jobs ?? availableParallelism(),
      gpus: args.gpus ?? 1,
      inProcess: args.inProcess,
      env,
      print: (line) => stdout.write(`${line}\n`),
      signal: controller.signal,
    });
    return signals.exitCode() ?? 0;
  } catch (e) {
    stderr.write(`${errorLines(e)}\n`);
    return exitCodeOf(e);
  } finally {
    signals.dispose();
  }
}
