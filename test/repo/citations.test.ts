// Every `.md` file a source comment or string names exists in the repository: the method is
// documented under docs/, not in files a reader does not have.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = path.resolve(import.meta.dirname, '../..');

test('every .md named in a .ts file exists in the repository (relative to the root or to the file, or as a tracked path suffix)', () => {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.ok(files.length > 50, `found ${files.length} .ts files`);
  // Also accepted: a name that is some tracked file's path suffix (output names such as 'gpu-results.md').
  const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  const known = (cited: string) => tracked.some((t) => t === cited || t.endsWith(`/${cited.replace(/^\.\//, '')}`));
  const missing: string[] = [];
  for (const file of files) {
    if (!existsSync(path.join(root, file))) continue;
    readFileSync(path.join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const cited of line.match(/[\w./-]*\w\.md\b/g) ?? []) {
          if (![path.join(root, cited), path.join(root, path.dirname(file), cited)].some((p) => existsSync(p)) && !known(cited)) missing.push(`${file}:${i + 1}: ${cited}`);
        }
      });
  }
  assert.equal(missing, [], `cited but not in the repository:\n${missing.join('\n')}`);
});

test.run();
