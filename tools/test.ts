// `npm test`: every test/**/*.test.ts under uvu (helpers and fixtures are not suites), then one
// closing line in the runner-neutral form "N passed, N failed, N skipped". Extra arguments are
// passed to uvu (e.g. `npm test -- --bail`).
import { spawn } from 'node:child_process';
import path from 'node:path';

// uvu's package exports hide bin.js; its CLI lives at a fixed place in node_modules.
const uvu = path.resolve(import.meta.dirname, '../node_modules/uvu/bin.js');
const child = spawn(process.execPath, [uvu, '-r', 'tsx', 'test', '\\.test\\.ts$', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});
child.on('close', (code, signal) => {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const count = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN);
  const [total, passed, skipped] = [count('Total'), count('Passed'), count('Skipped')];
  if (Number.isFinite(total) && Number.isFinite(passed) && Number.isFinite(skipped)) {
    console.log(`${passed} passed, ${total - passed - skipped} failed, ${skipped} skipped`);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
