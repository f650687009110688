// Config files: YAML, validated by the pipeline's zod schema. Every error names the file and the key path.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../key/issues.ts';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses YAML text; syntax errors carry line and column. */
export function parseYaml(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? `:${pos.line}:${pos.col}` : '';
        return `${file}${where}: YAML syntax error: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  return doc.toJS({ maxAliasCount: 1000 });
}

export async function readYamlFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`${file}: cannot read config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  return parseYaml(text, file);
}

/** Validates a loaded config; the error lists every problem as `file: key.path: expected …, got …`. */
export function validateConfig<S extends z.ZodTypeAny>(raw: unknown, schema: S, file: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new ConfigError(file, formatIssues(r.error.issues, raw, `${file}: `));
  return r.data;
}

export async function loadConfig<S extends z.ZodTypeAny>(file: string, schema: S): Promise<z.output<S>> {
  return validateConfig(await readYamlFile(file), schema, file);
}
