// The Slurm executor's two ends in the CLI: `--executor slurm` on a build (the coordinator), and
// `pipeline.ts build-node --node ID --key KEY` (what each job runs). The work is in
// engine/distributed/slurm.ts.
import { buildNodeCommand, openSlurmExecutor, parseSlurmFlags, type SlurmExecutor } from '../distributed/slurm.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './main.ts';

/** Jobs re-run this very command line (node, its flags, the script) as `build-node`. */
export async function openSlurm(c: CommandContext): Promise<SlurmExecutor> {
  let slurm;
  try {
    slurm = parseSlurmFlags(c.args.slurm, process.env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const env = process.env;
  return openSlurmExecutor({
    slurm,
    store: c.store,
    root: c.root,
    remoteStore: c.store !== c.local, // S3: the local store is only this machine's cache
    configFile: c.configFile,
    env,
    launcher: [process.execPath, ...process.execArgv, process.argv[1]],
    warn: (m) => c.err(`warning: ${m}`),
  });
}

export async function buildNodeCliCommand(c: CommandContext): Promise<number> {
  const runner = c.makeRunner();
  try {
    return await buildNodeCommand({
      graph: c.graph,
      store: c.store,
      root: c.root,
      nodeId: c.args.node,
      key: c.args.key,
      check: c.args.check,
      force: c.args.force.length > 0,
      runner,
      signal: c.signals.controller.signal,
      out: c.stdout,
    });
  } finally {
    await runner.close();
    await c.local.flush();
  }
}
