// Every shipped config validates, and an unknown key at ANY object path of it is refused, naming
// the file and that path: a misspelt `calibraton:` or `nbta:` must never be silently ignored.
// Table-driven over the configs themselves, so a new section or config file is covered as it lands.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, readYamlFile, validateConfig } from '../../engine/cli/config.ts';
import { configSchema } from '../../configs/schema.ts';

const CONFIGS = path.resolve(import.meta.dirname, '../../configs');
const files = readdirSync(CONFIGS, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => path.join(CONFIGS, f))
  .sort();

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every path (list of keys) to a plain object inside `v`, the root included; `sweep` grids too. */
function objectPaths(v: unknown, at: string[] = []): string[][] {
  if (!isObject(v)) return [];
  return [at, ...Object.entries(v).flatMap(([k, child]) => objectPaths(child, [...at, k]))];
}

function withKey(v: Json, at: string[], key: string): Json {
  const copy = structuredClone(v);
  let o: Json = copy;
  for (const k of at) o = o[k] as Json;
  o[key] = 1;
  return copy;
}

test('the table covers every shipped config', () => {
  assert.ok(files.length >= 4, `found ${files.length} configs under configs/`);
});

for (const file of files) {
  const rel = path.relative(CONFIGS, file);
  test(`${rel}: valid as shipped; an unknown key at every object path is an error naming file and path`, async () => {
    const raw = (await readYamlFile(file)) as Json;
    validateConfig(raw, configSchema, file);
    const paths = objectPaths(raw);
    assert.ok(paths.length > 3, `${rel}: expected nested sections`);
    for (const at of paths) {
      const key = 'zz_misspelt';
      const where = [...at, key].join('.');
      try {
        validateConfig(withKey(raw, at, key), configSchema, file);
        assert.unreachable(`${rel}: unknown key ${where} was accepted`);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        assert.ok(e.message.includes(`${file}: ${where}`), `${rel}: error for ${where} should name it:\n${e.message}`);
      }
    }
  });
}

test.run();
