// Stage 'ed-variants': essential dynamics of one run with five fingerprints per checkpoint
// (docs/figures.md "ED variants"): f = the raw outputs on the probe set, w = the weights, g = the
// validation gradient, m and v = Adam's moments. Each is centred over checkpoints and reduced by
// PCA (lib/pca.ts), unsmoothed, so the five trajectories are comparable.
//
// Inputs (one entry per checkpoint, the same order everywhere):
//   checkpoints: file[]  train checkpoints (w)        moments: file[]  their .adam.swt files (m, v)
//   gradients:   dir[]   gradient node outputs (g)    evals:   dir[]   evaluate outputs (f: outputs.swt)
// Output: ed-variants.json.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { pca } from '../../lib/pca.ts';
import { decodeTensors } from '../../lib/tensorfile.ts';

const STAGE = 'ed-variants';

export const edVariantsParams = z.strictObject({ components: z.number().int().positive().default(4) });

export interface EdVariant {
  name: 'f' | 'w' | 'g' | 'm' | 'v';
  /** Features per checkpoint. */
  features: number;
  /** [checkpoint][component]. */
  projections: number[][];
  explainedVarianceRatio: number[];
}

export interface EdVariantsJson {
  steps: number[];
  variants: EdVariant[];
}

async function tensorsOf(file: string) {
  try {
    return decodeTensors(await readFile(file));
  } catch (err) {
    throw new Error(`${STAGE}: cannot read ${file}: ${(err as Error).message}`);
  }
}

export const edVariantsStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: edVariantsParams,
  inputs: { checkpoints: 'file[]', moments: 'file[]', gradients: 'dir[]', evals: 'dir[]' },
  async run(ctx) {
    const checkpoints = ctx.inputs.checkpoints;
    const lists = { moments: ctx.inputs.moments, gradients: ctx.inputs.gradients, evals: ctx.inputs.evals };
    for (const [name, list] of Object.entries(lists)) {
      if (list.length !== checkpoints.length) throw new Error(`${STAGE}: input '${name}' has ${list.length} entries, expected one per checkpoint (${checkpoints.length})`);
    }
    const rows: Record<EdVariant['name'], Float32Array[]> = { f: [], w: [], g: [], m: [], v: [] };
    const steps: number[] = [];
    for (let i = 0; i < checkpoints.length; i++) {
      const ck = await tensorsOf(checkpoints[i]);
      steps.push(ck.meta.step as number);
      const names = Object.keys(ck.tensors);
      const w = new Float32Array(names.reduce((n, k) => n + ck.tensors[k].data.length, 0));
      let at = 0;
      for (const k of names) (w.set(ck.tensors[k].data, at), (at += ck.tensors[k].data.length));
      rows.w.push(w);
      const mom = await tensorsOf(lists.moments[i]);
      rows.m.push(mom.tensors.m.data);
      rows.v.push(mom.tensors.v.data);
      rows.g.push((await tensorsOf(path.join(lists.gradients[i], 'gradient.swt'))).tensors.gradient.data);
      rows.f.push((await tensorsOf(path.join(lists.evals[i], 'outputs.swt'))).tensors.outputs.data);
      for (const [name, r] of Object.entries(rows)) {
        if (r[i].length !== r[0].length) throw new Error(`${STAGE}: checkpoint ${i} (step ${steps[i]}) has ${r[i].length} ${name}-features, checkpoint 0 has ${r[0].length}`);
      }
    }
    const order = steps.map((_, i) => i).sort((a, b) => steps[a] - steps[b]);
    const count = Math.min(ctx.params.components, checkpoints.length);
    const variants: EdVariant[] = (['f', 'w', 'g', 'm', 'v'] as const).map((name) => {
      const result = pca(order.map((i) => rows[name][i]), count);
      return { name, features: rows[name][0].length, projections: result.projections, explainedVarianceRatio: result.explainedVarianceRatio.slice(0, count) };
    });
    const out: EdVariantsJson = { steps: order.map((i) => steps[i]), variants };
    await writeFile(path.join(ctx.outDir, 'ed-variants.json'), JSON.stringify(out) + '\n');
  },
});
