// The contract between the engine and the stages that plug into it.
// engine/ knows nothing of ML: a stage is params → inputs → files in a directory.
import type { z } from 'zod';

/** sha256 (hex) of a blob's bytes. */
export type BlobDigest = string & { readonly __brand: 'BlobDigest' };
/** sha256 (hex) identifying one node build: see engine/keys.ts for what goes into it. */
export type NodeKey = string & { readonly __brand: 'NodeKey' };
/** sha256 (hex) over a stage module's local import closure and its packages' lockfile versions. */
export type CodeDigest = string & { readonly __brand: 'CodeDigest' };

export type ResourceName = 'cpu' | 'gpu';
export type Resources = Partial<Record<ResourceName, number>>;

/** What a cluster scheduler asks for beyond cpu/gpu (Slurm: --mem, --time); local runs ignore it. */
export interface ClusterLimits {
  /** Memory one node of the stage needs, in MB. */
  memoryMB?: number;
  /** Wall-time limit of one node, in minutes (a killed node resumes from its work dir when resubmitted). */
  minutes?: number;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface Progress {
  /** Report `done` of `total` units (e.g. steps); the engine derives rate and ETA. */
  update(done: number, total: number, unit?: string): void;
}

/** What a stage's run() receives. */
export interface RunContext<P> {
  /** Validated params: exactly the stage's schema output. */
  params: P;
  /**
   * Upstream outputs, by input name. Each value is an absolute path: a read-only directory
   * holding the upstream node's outputs (for a NodeRef) or a single file (for a FileRef).
   * An input declared as a list maps to a list of paths, in declaration order.
   */
  inputs: Record<string, string | string[]>;
  /** Empty scratch directory. Every regular file written under it becomes an output. */
  outDir: string;
  /** Per-node-key directory that survives failures and kills: resumable progress lives here. */
  workDir: string;
  log: Logger;
  progress: Progress;
  signal: AbortSignal;
  /** The resources granted (equal to the stage's request). */
  resources: Required<Resources>;
  /** Only for stages with `provenance: true`: every node upstream of this one, in topological order. */
  upstream?: UpstreamBuild[];
}

/** Provenance of one upstream build (for reports); not part of the consumer's key. */
export interface UpstreamBuild {
  id: string;
  stage: string;
  key: NodeKey;
  startedAt: string;
  wallSeconds: number;
  meta: Record<string, unknown>;
}

/** Optional metadata a stage returns; stored in the record (e.g. { backend: 'wasm' }). */
export type RunResult = Record<string, unknown> | void;

export interface StageDef<S extends z.ZodTypeAny = z.ZodTypeAny> {
  /** Unique stage name, e.g. 'train'. */
  name: string;
  /** `import.meta.url` of the module that defines the stage: its import closure is the code digest. */
  module: string;
  /** zod schema for the params; only the keys it declares enter the node key. */
  params: S;
  /** Resources one node of this stage takes while running; default { cpu: 1 }. */
  resources?: Resources | ((params: z.output<S>) => Resources);
  /** Cluster executors only (engine/distributed/slurm.ts): memory and time limit of one node. */
  limits?: ClusterLimits | ((params: z.output<S>) => ClusterLimits);
  /** Heavy nodes (training) are reported stale but not started by watch mode unless asked. */
  heavy?: boolean;
  /** Bump to invalidate every node of this stage without a code change (e.g. output format). */
  version?: number;
  /**
   * Give run() `ctx.upstream`: the records of every upstream node (keys, wall times, meta such as
   * the backend). For report stages; it does not enter the key, so it shows the builds that
   * produced the consumed outputs as of this node's last build.
   */
  provenance?: boolean;
  run(ctx: RunContext<z.output<S>>): Promise<RunResult>;
}

/** A reference to a node's whole output directory. */
export interface NodeRef {
  kind: 'node';
  node: string; // node id
}
/** A reference to one output file of a node: only that file's digest enters the consumer's key. */
export interface FileRef {
  kind: 'file';
  node: string; // node id
  path: string; // relative path inside the node's outputs
}
export type InputRef = NodeRef | FileRef;

/** One node of the declared graph. */
export interface NodeDecl {
  /** Unique, human-readable id, e.g. 'train[seed=0,M=inf]' or 'llc[seed=0,step=123]'. */
  id: string;
  stage: StageDef;
  /** Raw params; validated by stage.params. */
  params: unknown;
  inputs: Record<string, InputRef | InputRef[]>;
  /** Copy (hard-link) this node's outputs into this directory after it is built or found cached. */
  publishTo?: string;
  /** Tags for target selection (e.g. 'figure'); the stage name is always a tag. */
  tags?: string[];
}

/** One output file of a build. */
export interface OutputEntry {
  digest: BlobDigest;
  size: number;
}

/**
 * The record of one successful build, written last (after all its blobs).
 * It carries every input of the key, so `--explain` can say what changed.
 */
export interface BuildRecord {
  formatVersion: number;
  key: NodeKey;
  nodeId: string;
  stage: string;
  /** The params as declared by the stage schema (after validation). */
  params: Record<string, unknown>;
  /** StageDef.version at build time (absent = 0). Added by the engine; optional for older records. */
  stageVersion?: number;
  codeDigest: CodeDigest;
  /** Per local module of the import closure: path relative to the project root → sha256. */
  codeFiles: Record<string, string>;
  /** Input name → digest of what was consumed (a file's blob digest, or a node's manifest digest). */
  inputDigests: Record<string, string | string[]>;
  /** Relative path → blob. */
  outputs: Record<string, OutputEntry>;
  /** sha256 over the canonical JSON of `outputs`: what downstream keys consume. */
  outputDigest: string;
  startedAt: string;
  wallSeconds: number;
  host: string;
  meta: Record<string, unknown>;
}

/**
 * Content-addressed storage. The local store (engine/store-local.ts) and the S3 store
 * (engine/store-s3.ts, local store as read-through cache) implement the same interface.
 * Invariants: blobs are immutable and verified by digest on read (a mismatch is a miss);
 * a record is written only after all the blobs it references are durable.
 */
export interface Store {
  /** Absolute local path of a verified blob, fetching it if remote; null when missing or corrupt. */
  blobPath(digest: BlobDigest): Promise<string | null>;
  /** Store the file at `path` (already hashed to `digest`); atomic; idempotent. */
  putBlob(path: string, digest: BlobDigest): Promise<void>;
  getRecord(stage: string, key: NodeKey): Promise<BuildRecord | null>;
  /** Atomic; the caller has already put every blob the record references. */
  putRecord(record: BuildRecord): Promise<void>;
  /** Every record in the store (for gc and for `--explain` of a node's previous build). */
  listRecords(): AsyncIterable<{ stage: string; key: NodeKey }>;
  listBlobs(): AsyncIterable<BlobDigest>;
  deleteRecord(stage: string, key: NodeKey): Promise<void>;
  deleteBlob(digest: BlobDigest): Promise<void>;
}
