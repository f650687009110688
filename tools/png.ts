// PNG previews of SVG figures: `npx tsx tools/png.ts figures/ [more dirs or .svg files] [--scale 2]`.
// Each x.svg gets an x.png beside it (white background, DejaVu Sans as in the SVGs; 2× by
// default because the SVGs are sized in paper inches at 96 px/in).
import { Resvg } from '@resvg/resvg-js';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

async function svgFiles(target: string): Promise<string[]> {
  const info = await stat(target).catch(() => null);
  if (!info) throw new Error(`png: '${target}' does not exist (expected a directory of .svg files or an .svg file)`);
  if (info.isFile()) return target.endsWith('.svg') ? [target] : [];
  const out: string[] = [];
  for (const entry of (await readdir(target)).sort()) out.push(...(await svgFiles(join(target, entry))));
  return out;
}

async function main(argv: string[]) {
  let scale = 2;
  const targets: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--scale') {
      scale = Number(argv[++i]);
      if (!(scale > 0)) throw new Error(`png: --scale expects a positive number, got '${argv[i]}'`);
    } else targets.push(argv[i]);
  }
  if (targets.length === 0) targets.push('figures');
  let count = 0;
  for (const target of targets) {
    for (const file of await svgFiles(target)) {
      const png = await svgToPng(await readFile(file, 'utf8'), scale);
      await writeFile(file.replace(/\.svg$/, '.png'), png);
      count++;
    }
  }
  console.log(`png: rendered ${count} SVG file(s) at ${scale}×`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
