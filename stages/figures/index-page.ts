// Stage 'figures-index': figures/index.html, one self-contained page with every figure inline,
// the detected stage tables and provenance.
//
// Inputs:
//   figures: string[]  figure node directories (any figure-* stage), shown in this order; each
//                      has its manifest <stage>.figures.json naming its SVGs with titles and captions
//   stages:  string[]  optional: stage-boundaries node directories, one table each
// Params:
//   title        page title
//   stageLabels  one label per `stages` input (default "run 1", …)
//   provenance   { config, backend?, date?, nodes? }: what the pipeline knows (the config file);
//                backend, build date and every upstream node's key and wall time come from the
//                engine (`provenance: true` → ctx.upstream) unless given here.
// Output: index.html.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineStage } from '../../engine/index.ts';
import { reportHtml, type ReportFigure, type StageTable } from '../../lib/plots/report.ts';
import { readJson, readManifest, type StagesJson } from './common.ts';

const STAGE = 'figures-index';

export const figuresIndexParams = z.strictObject({
  title: z.string().default('stagewise: developmental stages of in-context linear regression'),
  stageLabels: z.array(z.string()).optional(),
  provenance: z
    .strictObject({
      config: z.string().optional(),
      backend: z.string().optional(),
      date: z.string().optional(),
      nodes: z.array(z.strictObject({ id: z.string(), key: z.string().optional(), wallSeconds: z.number().optional() })).optional(),
    })
    .default({}),
});

export const figuresIndexStage = defineStage({
  name: STAGE,
  module: import.meta.url,
  params: figuresIndexParams,
  provenance: true,
  inputs: { figures: 'dir[]', stages: 'dir[]?' },
  async run(ctx) {
    const figures: ReportFigure[] = [];
    for (const dir of ctx.inputs.figures) {
      const manifest = await readManifest(STAGE, dir);
      // A table entry is rendered from the manifest itself; its file holds the same numbers as JSON.
      for (const entry of manifest) figures.push({ ...entry, svg: entry.table ? '' : await readFile(path.join(dir, entry.file), 'utf8') });
    }
    const stageDirs = ctx.inputs.stages;
    const labels = ctx.params.stageLabels ?? stageDirs.map((_, i) => `run ${i + 1}`);
    if (labels.length !== stageDirs.length) throw new Error(`${STAGE}: params.stageLabels has ${labels.length} entries, expected one per 'stages' input (${stageDirs.length})`);
    const tables: StageTable[] = [];
    for (let i = 0; i < stageDirs.length; i++) {
      const st = await readJson<StagesJson>(STAGE, path.join(stageDirs[i], 'stages.json'));
      tables.push({ label: labels[i], stages: st.stages, boundaries: st.boundaries.map((b) => ({ step: b.step, llc: b.llc, loss: b.loss })) });
    }
    // The engine's upstream records (provenance: true) give keys, wall times and the backend used.
    const upstream = ctx.upstream ?? [];
    const backends = [...new Set(upstream.map((u) => u.meta.backend).filter((b): b is string => typeof b === 'string'))];
    const provenance = {
      backend: backends.join(', ') || undefined,
      date: new Date().toISOString(),
      nodes: upstream.map((u) => ({ id: u.id, key: u.key, wallSeconds: u.wallSeconds })),
      ...ctx.params.provenance,
    };
    await writeFile(path.join(ctx.outDir, 'index.html'), reportHtml({ title: ctx.params.title, figures, stageTables: tables, provenance }));
    ctx.log.info(`${STAGE}: ${figures.length} figures, ${tables.length} stage tables`);
  },
});
