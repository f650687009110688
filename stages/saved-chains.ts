// SGLD chains kept in a node's work dir (llc, lm-llc), so a killed or failed node resumes with
// the chains it had finished. Written atomically: a kill mid-write leaves no half file. A file
// that cannot be decoded (e.g. written by an older version) is not trusted: the chain is rerun.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { atomicWriteFile } from '../engine/index.ts';
import type { ChainRun } from '../lib/sgld.ts';
import { decodeTensors, encodeTensors } from '../lib/tensorfile.ts';

/** The finished chain saved at `file`, or null when there is none (or none worth trusting). */
export async function loadSavedChain(file: string, warn: (msg: string) => void): Promise<ChainRun | null> {
  if (!existsSync(file)) return null;
  try {
    const { tensors, meta } = decodeTensors(await readFile(file));
    if (!tensors.losses) throw new Error('no losses tensor');
    return { ...(meta as Omit<ChainRun, 'losses'>), losses: tensors.losses.data };
  } catch (err) {
    warn(`${file}: unreadable saved chain (${(err as Error).message}); running the chain again`);
    return null;
  }
}

export function saveChain(file: string, run: ChainRun): Promise<void> {
  const { losses, ...rest } = run;
  return atomicWriteFile(file, encodeTensors({ losses: { shape: [losses.length], data: losses } }, rest));
}
