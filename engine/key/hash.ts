// Canonical JSON and sha256: the two primitives every key, record and blob name is built from.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Streams the file so multi-GB checkpoints never sit in memory at once. */
export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: hash.digest('hex'), size };
}

/**
 * Converts a params-like value to plain JSON without losing information. JSON.stringify would turn
 * Infinity, -Infinity and NaN into null (M=∞ and M=null would then share a key), so non-finite
 * numbers become tagged objects; anything else that JSON cannot represent exactly is an error.
 */
export function toJsonSafe(value: unknown, path = '$'): JsonValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      if (Number.isFinite(value)) return Object.is(value, -0) ? 0 : value;
      return { $number: String(value) };
    case 'bigint':
      return { $bigint: value.toString() };
    case 'object': {
      if (Array.isArray(value)) return value.map((v, i) => toJsonSafe(v === undefined ? null : v, `${path}[${i}]`));
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new Error(`${path}: cannot be part of a key (a ${proto?.constructor?.name ?? 'non-plain'} object; expected plain JSON data)`);
      }
      const out: { [key: string]: JsonValue } = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v === undefined) continue; // same as JSON: an absent optional key
        out[k] = toJsonSafe(v, `${path}.${k}`);
      }
      return out;
    }
    default:
      throw new Error(`${path}: cannot be part of a key (a ${typeof value}; expected plain JSON data)`);
  }
}

/** Inverse of toJsonSafe for the tags it introduces (used to show params in explanations). */
export function fromJsonSafe(value: JsonValue): unknown {
  if (Array.isArray(value)) return value.map(fromJsonSafe);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$number' && typeof value.$number === 'string') return Number(value.$number);
    if (keys.length === 1 && keys[0] === '$bigint' && typeof value.$bigint === 'string') return BigInt(value.$bigint);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromJsonSafe(v);
    return out;
  }
  return value;
}

/** JSON with object keys sorted at every level, so equal values always serialise to equal bytes. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(toJsonSafe(value)));
}
