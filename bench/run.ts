// `npm run bench`: every benchmark in one run, each printing ratios against a reference
// measured in the same run. `npm run bench -- engine` runs only the named ones.
const suites = {
  engine: () => import('./engine.ts'),
  ml: () => import('./ml.ts'),
  sgld: () => import('./sgld.ts'),
  startup: () => import('./startup.ts'),
  lm: () => import('./lm.ts'),
  'default-run': () => import('./default-run.ts'),
} as const;

const wanted = process.argv.slice(2);
for (const name of Object.keys(suites) as (keyof typeof suites)[]) {
  if (wanted.length && !wanted.includes(name)) continue;
  console.log(`\n=== bench: ${name} ===`);
  const mod = (await suites[name]()) as { main: () => Promise<void> };
  await mod.main();
}
