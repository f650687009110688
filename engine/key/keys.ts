// Node keys. A key is sha256 over the canonical JSON of a Fingerprint: every input that can change
// what a node produces, and nothing else. Everything in it is also saved in the node's record, so
// `--explain` can name the field that changed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init as initLexer, parse as lexImports } from 'es-module-lexer';
import { canonicalJson, sha256Hex, toJsonSafe, type JsonValue } from './hash.ts';
import type { CodeDigest, NodeKey, StageDef } from '../types.ts';

/** Bump when the meaning of a key or a record changes: every node then rebuilds once. */
export const FORMAT_VERSION = 1;

/** Wireit-style fingerprint: fixed field order, each field with the reason it is in the key. */
export interface Fingerprint {
  /** Engine format version: a change in key/record semantics must not reuse old records. */
  formatVersion: number;
  /** Stage name: two stages never share a key, even with equal params and inputs. */
  stage: string;
  /** Stage's own version: lets a stage invalidate its nodes without a code change (e.g. output format). */
  stageVersion: number;
  /** Params as parsed by the stage schema: only declared keys, so an unrelated config edit invalidates nothing. */
  params: JsonValue;
  /** Digest of the stage module's local import closure + package versions: a code edit invalidates its users. */
  codeDigest: CodeDigest;
  /** Upstream *output* digests (a file's blob digest for a FileRef): identical upstream bytes keep this node fresh. */
  inputs: Record<string, string | string[]>;
}

export function computeKey(fp: Fingerprint): NodeKey {
  const ordered: JsonValue = {
    formatVersion: fp.formatVersion,
    stage: fp.stage,
    stageVersion: fp.stageVersion,
    params: fp.params,
    codeDigest: fp.codeDigest,
    inputs: fp.inputs,
  };
  return sha256Hex(canonicalJson(ordered)) as NodeKey;
}

export interface CodeInfo {
  codeDigest: CodeDigest;
  /** Project-relative path → sha256 of the file; `npm:<name>` → locked version. */
  codeFiles: Record<string, string>;
  /** Absolute paths of the local files (what watch mode watches). */
  localFiles: string[];
  /** Dynamic imports whose specifier is not a literal: the closure cannot see them. */
  warnings: string[];
}

const SCANNED_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx']);
/** `new URL('../x.ts', import.meta.url)` with a relative, literal module path. */
const MODULE_URL = /new\s+URL\(\s*['"`](\.{1,2}\/[^'"`$]+\.(?:ts|mts|cts|tsx|js|mjs|cjs))['"`]\s*,\s*import\.meta\.url\s*\)/g;
const builtins = new Set(builtinModules);

interface FileScan {
  hash: string;
  localDeps: string[];
  packages: string[];
  warnings: string[];
}

// Per process: a file is read and lexed once however many stages import it. Watch mode clears it.
const fileCache = new Map<string, FileScan>();
const closureCache = new Map<string, CodeInfo>();
const lockCache = new Map<string, Record<string, string> | null>();
let lexerReady: Promise<void> | null = null;

export function clearCodeCache(): void {
  fileCache.clear();
  closureCache.clear();
  lockCache.clear();
}

/** The code digest of a stage: its module's closure and, for the URL form, its run module's closure. */
export function stageCodeInfo(stage: Pick<StageDef, 'module' | 'run'>): Promise<CodeInfo> {
  return codeInfo(stage.module, stage.run instanceof URL ? [stage.run.href] : []);
}

/** Code digest over the local import closure of a module (a file: URL) and any further entry modules. */
export async function codeInfo(moduleUrl: string, alsoRuns: string[] = []): Promise<CodeInfo> {
  const cacheKey = [moduleUrl, ...alsoRuns].join('\n');
  const cached = closureCache.get(cacheKey);
  if (cached) return cached;
  lexerReady ??= initLexer();
  await lexerReady;
  const entry = fileURLToPath(moduleUrl);
  const root = projectRoot(entry);
  const codeFiles: Record<string, string> = {};
  const localFiles: string[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  // The run module is usually also reached through the `new URL(…)` in the stage module; naming it
  // here covers a URL the scanner cannot read literally.
  const stack = [...alsoRuns.map((u) => fileURLToPath(u)).reverse(), entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const scan = scanFile(file);
    codeFiles[relative(root, file).split(sep).join('/')] = scan.hash;
    localFiles.push(file);
    warnings.push(...scan.warnings);
    for (const pkg of scan.packages) codeFiles[`npm:${pkg}`] = packageVersion(root, file, pkg);
    stack.push(...scan.localDeps);
  }
  const info: CodeInfo = {
    codeDigest: sha256Hex(canonicalJson(codeFiles)) as CodeDigest,
    codeFiles,
    localFiles: localFiles.sort(),
    warnings,
  };
  closureCache.set(cacheKey, info);
  return info;
}

function scanFile(file: string): FileScan {
  const cached = fileCache.get(file);
  if (cached) return cached;
  const bytes = readFileSync(file);
  const scan: FileScan = { hash: sha256Hex(bytes), localDeps: [], packages: [], warnings: [] };
  if (SCANNED_EXTENSIONS.has(extname(file))) {
    const source = bytes.toString('utf8');
    let imports;
    try {
      [imports] = lexImports(source, file);
    } catch (err) {
      throw new Error(`code digest: cannot scan the imports of ${file}: ${(err as Error).message}`);
    }
    // A module started by URL — `new Worker(new URL('../chain-worker.ts', import.meta.url))` — runs
    // code this module depends on just as an import does.
    for (const m of source.matchAll(MODULE_URL)) scan.localDeps.push(resolveLocal(file, m[1]));
    for (const imp of imports) {
      if (imp.type === 'import-meta') continue;
      // Type-only imports are erased before running, so they cannot change what a stage computes.
      if (imp.type !== 'dynamic' && imp.typeOnly) continue;
      const spec = imp.specifier;
      if (spec === undefined) {
        scan.warnings.push(`${file}: dynamic import with a computed specifier is not part of the code digest`);
        continue;
      }
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('file:')) {
        scan.localDeps.push(resolveLocal(file, spec));
      } else if (!spec.startsWith('node:') && !builtins.has(spec) && !spec.startsWith('#')) {
        scan.packages.push(packageName(spec));
      }
    }
  }
  fileCache.set(file, scan);
  return scan;
}

/** TypeScript NodeNext style: './x.js' may name '../x.ts'; extensionless and directory imports too. */
function resolveLocal(fromFile: string, spec: string): string {
  const base = spec.startsWith('file:') ? fileURLToPath(spec) : resolve(dirname(fromFile), spec.split(/[?#]/)[0]);
  const candidates = [base];
  const ext = extname(base);
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs' || ext === '.jsx') {
    const stem = base.slice(0, -ext.length);
    candidates.push(stem + ext.replace('j', 't'));
  }
  candidates.push(`${base}.ts`, `${base}.tsx`, `${base}.js`, `${base}.mjs`, join(base, 'index.ts'), join(base, 'index.js'));
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  throw new Error(`code digest: ${fromFile} imports ${JSON.stringify(spec)}, which does not resolve to a file`);
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function projectRoot(file: string): string {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return dirname(file);
  }
}

/** Locked version from package-lock.json; else the installed package.json (e.g. a symlinked node_modules). */
function packageVersion(root: string, fromFile: string, name: string): string {
  const lock = lockfilePackages(root);
  const locked = lock?.[`node_modules/${name}`];
  if (locked) return locked;
  for (let dir = dirname(fromFile); ; dir = dirname(dir)) {
    const pj = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(pj)) return String(JSON.parse(readFileSync(pj, 'utf8')).version ?? 'unknown');
    if (dirname(dir) === dir) break;
  }
  throw new Error(`code digest: ${fromFile} imports package ${JSON.stringify(name)}, which is neither in package-lock.json nor installed`);
}

function lockfilePackages(root: string): Record<string, string> | null {
  if (lockCache.has(root)) return lockCache.get(root)!;
  const file = join(root, 'package-lock.json');
  let result: Record<string, string> | null = null;
  if (existsSync(file)) {
    const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages?: Record<string, { version?: string }> };
    result = {};
    for (const [path, entry] of Object.entries(lock.packages ?? {})) {
      if (entry.version) result[path] = entry.version;
    }
  }
  lockCache.set(root, result);
  return result;
}

/** Params through the same lossless JSON mapping the key uses (Infinity stays distinct from null). */
export function keyParams(parsed: unknown): JsonValue {
  return toJsonSafe(parsed, 'params');
}
