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

/**
 * How a stage declares one input: 'file' (a fileRef → the file's path), 'dir' (a ref → a read-only
 * directory holding the upstream node's outputs), 'file[]' / 'dir[]' (lists of those, in the
 * declared order). A trailing '?' makes the input optional: absent → undefined (lists: []).
 */
export type InputKind = 'file' | 'dir' | 'file[]' | 'dir[]';
export type InputDecl = InputKind | `${InputKind}?`;
export type InputDecls = Record<string, InputDecl>;

/** The value run() sees for an input declared as D. */
export type InputValue<D extends InputDecl> = D extends `${string}[]` | `${string}[]?` ? string[] : D extends 'file' | 'dir' ? string : string | undefined;

/** ctx.inputs of a stage that declares I. */
export type InputsOf<I extends InputDecls> = { [K in keyof I]: InputValue<I[K]> };

/** Untyped inputs (the engine's view; a stage sees InputsOf<its declaration>). */
export type AnyInputs = Record<string, string | string[] | undefined>;

/** What a stage's run() receives. */
export interface RunContext<P, I = AnyInputs> {
  /** Validated params: exactly the stage's schema output. */
  params: P;
  /**
   * Upstream outputs, by declared input name: absolute paths, typed from the stage's `inputs`
   * declaration (checked against the pipeline's refs when the graph is built).
   */
  inputs: I;
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
  /**
   * The engine's worker threads, for a stage's own parallel jobs (e.g. one SGLD chain per thread):
   * at most `resources.cpu` at once; aborted with the node.
   */
  threads: StageThreads;
}

/** ctx.threads: run `handle(payload, io)` of a handler module in a worker thread. */
export interface StageThreads {
  run<R>(handler: URL, payload: unknown, opts?: { onMessage?: (data: unknown) => void }): Promise<R>;
}

/** What a worker-thread handler receives besides its payload. */
export interface ThreadIO {
  /** Sends an interim message (progress) to the caller's onMessage. */
  post(data: unknown): void;
  /** Aborted when the caller's job is; a handler that ignores it is terminated after a grace period. */
  signal: AbortSignal;
  /** Hands these buffers over with the result instead of copying them. */
  transfer(...buffers: ArrayBuffer[]): void;
}

/** A handler module's export: `export const handle: ThreadHandler<Job, Result> = async (job, io) => …`. */
export type ThreadHandler<J = unknown, R = unknown> = (payload: J, io: ThreadIO) => Promise<R>;

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
export type RunResult = (Record<string, unknown> & { series?: SeriesPoints[] }) | void;

/**
 * Numeric series a stage may return as `meta.series`, for charts in the dashboard. Points with the
 * same `chart` and `line` from every node's record are merged (sorted by x), so one node may give a
 * whole curve (a loss curve) or one point of a curve that fills in as nodes finish (λ̂ at a step).
 * Without `line`, the line is named by the node id with its `x` coordinate removed
 * (`llc[seed=0,step=40]` with x 'step' → `llc[seed=0]`).
 */
export interface SeriesPoints {
  chart: string;
  line?: string;
  /** Name of the x coordinate (e.g. 'step'); also the axis label. */
  x: string;
  /** Axis label of y (default: the chart name). */
  y?: string;
  logX?: boolean;
  logY?: boolean;
  points: [number, number][];
}

/** A stage's computation. (Method-style so a StageDef<S, I> is usable where a StageDef is expected.) */
export type RunFunction<P, I> = { bivariance(ctx: RunContext<P, I>): Promise<RunResult> }['bivariance'];

export interface StageDef<S extends z.ZodTypeAny = z.ZodTypeAny, I extends InputDecls = InputDecls> {
  /** Unique stage name, e.g. 'train'. */
  name: string;
  /** `import.meta.url` of the module that defines the stage: its import closure is the code digest. */
  module: string;
  /** zod schema for the params (strict objects); only the keys it declares enter the node key. */
  params: S;
  /**
   * The inputs this stage consumes, name → kind. The graph builder rejects a node whose inputs
   * differ (unknown or missing name, wrong kind) before anything runs; absent = no inputs.
   */
  inputs?: I;
  /** Resources one node of this stage takes while running; default { cpu: 1 }. */
  resources?: Resources | ((params: z.output<S>) => Resources);
  /**
   * Rough relative work of one node (default 1), for scheduling only: when resources are short,
   * the node with the most work on its longest downstream path starts first (the critical path).
   * Never part of the key.
   */
  cost?: number | ((params: z.output<S>) => number);
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
  /**
   * The computation: a function, or `new URL(<run module path>, import.meta.url)` naming a module that
   * exports `run: StageRun<typeof thisStage>`. The URL form keeps heavy imports (TensorFlow.js,
   * kernels) out of planning: the module is imported only where a node runs. Its import closure is
   * part of the stage's code digest either way.
   */
  run: URL | RunFunction<z.output<S>, InputsOf<I>>;
}

/** The type of a run module's `run` export: `export const run: StageRun<typeof myStage> = async (ctx) => …`. */
export type StageRun<D> = D extends StageDef<infer S, infer I> ? (ctx: RunContext<z.output<S>, InputsOf<I>>) => Promise<RunResult> : never;

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
  /** The build's log lines (log.txt), a blob outside `outputs`: it never enters a downstream key. */
  log?: OutputEntry & { lines: number };
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
