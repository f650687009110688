// Human messages for schema errors: every message names the key path, what was expected and what was found.
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (key missing)';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** `['llc', 'sampler', 'eps']` → `llc.sampler.eps`; `prefix` names the file or node. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return prefix + (out || '(top level)');
}

function expectation(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') {
        if (min === 0) return issue.inclusive ? 'expected a non-negative number' : 'expected a positive number';
        return `expected a number ${issue.inclusive ? '>=' : '>'} ${min}`;
      }
      const unit = issue.origin === 'string' ? 'characters' : 'items';
      return `expected at least ${issue.inclusive ? min : min + 1} ${unit}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') {
        return `expected a number ${issue.inclusive ? '<=' : '<'} ${max}`;
      }
      const unit = issue.origin === 'string' ? 'characters' : 'items';
      return `expected at most ${issue.inclusive ? max : max - 1} ${unit}`;
    }
    case 'invalid_value':
      return `expected ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`;
    case 'invalid_union':
      return 'expected one of the allowed forms';
    default:
      return issue.message.replace(/^Invalid input: /, '');
  }
}

/** One line per problem: `<prefix><path>: <expected>, got <value>`. */
export function formatIssues(issues: readonly Issue[], input: unknown, prefix = ''): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) lines.push(`${formatPath([...issue.path, k], prefix)}: unknown key`);
      continue;
    }
    const got = describeValue(valueAt(input, issue.path));
    lines.push(`${formatPath(issue.path, prefix)}: ${expectation(issue)}, got ${got}`);
  }
  return lines;
}
