// Shared glue of the figure stages: reading upstream artifacts, the figure-style params, and
// writing SVGs with a `<stage>.figures.json` manifest that the index page reads for titles and
// captions (docs/figures.md, "The manifest").
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { FigureOptions } from '../../lib/plots/style.ts';
import type { EvalResult } from '../evaluate.ts';

const hexColor = z.string().regex(/^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$/, 'expected a hex colour such as "#fdba7d"');

/**
 * Figure-only settings. They enter only the figure nodes' keys, so changing a colour or a size
 * rebuilds figures and nothing upstream. Same fields as the config's `figures:` block.
 */
export const figureStyleSchema = z.strictObject({
  /** Single-column width in CSS px (the paper's 3.25 in at 96 px/in = 312). */
  width: z.number().positive().default(312),
  /** Tick/legend text in px; axis labels and titles are 1 px larger. */
  fontSize: z.number().min(6).max(32).default(11),
  /** Stage colour overrides by stage label, e.g. { LR1: "#fdba7d" }. */
  stageColors: z.record(z.string(), hexColor).optional(),
});
export type FigureStyle = z.output<typeof figureStyleSchema>;

/** Limits of the training-step axis, e.g. [100, 500000] as the paper; default the data's extent. */
export const xLimitsSchema = z.tuple([z.number().positive(), z.number().positive()]).optional();

export function figureOptions(id: string, style: FigureStyle, xLimits?: [number, number]): FigureOptions {
  return { id, width: style.width, fontSize: style.fontSize, stageColors: style.stageColors, xLimits };
}

export async function readJson<T>(stage: string, file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${stage}: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${stage}: ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

export async function readJsonl<T>(stage: string, file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`${stage}: cannot read ${file}: ${err.message}`);
  });
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line, i) => {
      try {
        return JSON.parse(line) as T;
      } catch (err) {
        throw new Error(`${stage}: ${file} line ${i + 1} is not valid JSON: ${(err as Error).message}`);
      }
    });
}

/** One entry of a figure node's manifest (docs/figures.md, "The manifest"). */
export interface ManifestEntry {
  file: string;
  title: string;
  /** Computed from this run's data. */
  caption?: string;
  /** Groups the index page, e.g. 'Linear regression: mechanisms'. */
  section?: string;
  /** A table instead of a figure (then `file` names its JSON): the index renders it as HTML. */
  table?: { columns: string[]; rows: string[][] };
}

const MANIFEST_SUFFIX = '.figures.json';

/**
 * The manifest file of a figure stage, e.g. `figure-collapse.figures.json`: named after the stage
 * so that figure nodes publishing into one folder each leave their own (docs/figures.md, "The manifest").
 */
export const manifestName = (stage: string) => `${stage}${MANIFEST_SUFFIX}`;

/** Write the manifest of `stage` into outDir (entries in the order the index page shows them). */
export async function writeManifest(stage: string, outDir: string, entries: ManifestEntry[]): Promise<void> {
  const manifest: ManifestEntry[] = entries.map(({ file, title, caption, section, table }) => ({ file, title, ...(caption ? { caption } : {}), ...(section ? { section } : {}), ...(table ? { table } : {}) }));
  await writeFile(path.join(outDir, manifestName(stage)), JSON.stringify(manifest, null, 2) + '\n');
}

/** Write each SVG plus the manifest of `stage` (in this order of figures), which the index page reads. */
export async function writeFigures(stage: string, outDir: string, figures: (ManifestEntry & { svg: string })[]): Promise<void> {
  for (const f of figures) await writeFile(path.join(outDir, f.file), f.svg);
  await writeManifest(stage, outDir, figures);
}

/** The manifest in one figure node's output directory: its one file named `*.figures.json`. */
export async function readManifest(stage: string, dir: string): Promise<ManifestEntry[]> {
  const names = (await readdir(dir).catch((err: Error) => {
    throw new Error(`${stage}: cannot read figure directory ${dir}: ${err.message}`);
  })).filter((name) => name.endsWith(MANIFEST_SUFFIX));
  if (names.length !== 1) {
    throw new Error(`${stage}: expected one manifest *${MANIFEST_SUFFIX} in figure directory ${dir}, found ${names.length ? names.sort().join(', ') : 'none'}`);
  }
  return readJson<ManifestEntry[]>(stage, path.join(dir, names[0]));
}

/** stages.json as stage-boundaries writes it (docs/artifacts.md). */
export interface StagesJson {
  steps: number[];
  llc: number[];
  llcSmoothed: number[];
  slope: number[];
  boundaries: { step: number; index: number; llc: number; loss: number }[];
  stages: { label: string; start: number; end: number; type: 'A' | 'B' | 'Other' }[];
}

/** eval.json as evaluate writes it (docs/artifacts.md). */
export type EvalJson = EvalResult;

export interface BaselinesJson {
  pretrain: Record<'zero' | 'ridge' | 'dmmse' | 'taskAverage', { mse: number; msePerPos: number[] }>;
}

/** Read eval.json of every dir and return them, with their dir, sorted by step (steps must be distinct). */
export async function readEvals(stage: string, dirs: string[]): Promise<(EvalJson & { dir: string })[]> {
  const evals = await Promise.all(dirs.map(async (d) => ({ ...(await readJson<EvalJson>(stage, path.join(d, 'eval.json'))), dir: d })));
  evals.forEach((e, i) => {
    if (typeof e.step !== 'number') throw new Error(`${stage}: ${path.join(dirs[i], 'eval.json')} has no numeric 'step'`);
  });
  const sorted = [...evals].sort((a, b) => a.step - b.step);
  const dup = sorted.find((e, i) => i > 0 && e.step === sorted[i - 1].step);
  if (dup) throw new Error(`${stage}: two evaluate inputs have step ${dup.step} (expected one per checkpoint)`);
  return sorted;
}

/** One JSON file from each per-checkpoint node directory, sorted by its `step` (steps must be distinct). */
export async function readStepJsons<T extends { step: number }>(stage: string, dirs: string[], file: string): Promise<T[]> {
  const all = await Promise.all(dirs.map((d) => readJson<T>(stage, path.join(d, file))));
  all.forEach((e, i) => {
    if (typeof e.step !== 'number') throw new Error(`${stage}: ${path.join(dirs[i], file)} has no numeric 'step'`);
  });
  const sorted = [...all].sort((a, b) => a.step - b.step);
  const dup = sorted.find((e, i) => i > 0 && e.step === sorted[i - 1].step);
  if (dup) throw new Error(`${stage}: two ${file} inputs have step ${dup.step} (expected one per checkpoint)`);
  return sorted;
}

export const MECHANISMS_SECTION = 'Linear regression: mechanisms';

/** A number in a caption or table: three significant digits, whole from 100 up; '–' for none. */
export const sig3 = (v: number | null) => (v === null ? '–' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
