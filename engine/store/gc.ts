// Garbage collection: delete what the current config's nodes cannot reach. Dry run by default.
import { promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree, safeSegment } from './fsutil.ts';
import type { Graph } from '../key/graph.ts';
import { liveLocks } from './lock.ts';
import { planNodes, readPointer } from '../key/plan.ts';
import type { BlobDigest, NodeKey, Store } from '../types.ts';

export interface GcResult {
  /** One line per thing deleted (or that would be). */
  items: string[];
  records: number;
  blobs: number;
  views: number;
  workDirs: number;
  bytes: number;
  deleted: boolean;
}

async function treeBytes(path: string): Promise<number> {
  const st = await fsp.lstat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let sum = 0;
  for (const name of await fsp.readdir(path)) sum += await treeBytes(join(path, name));
  return sum;
}

export async function collectGarbage(opts: { graph: Graph; store: Store; root: string; yes: boolean }): Promise<GcResult> {
  const { graph, store, root } = opts;
  const locks = await liveLocks(root);
  if (locks.length > 0) throw new Error(`gc: ${locks.length} build(s) are running on this cache (${locks[0]}); try again when they finish`);

  // Reachable = each node's current key; where that key is not yet known (an upstream is stale),
  // the node's last successful build, so pending rebuilds can still cut off early against it.
  const plan = await planNodes({ store, root, graph, force: new Set() }, graph.order);
  const keepRecords = new Set<string>();
  const keepWork = new Set<string>();
  const keepWorkPrefixes: string[] = [];
  for (const [id, a] of plan) {
    const stage = graph.nodes.get(id)!.decl.stage.name;
    const key = a.key ?? readPointer(root, stage, id);
    if (key) keepRecords.add(`${stage}/${key}`);
    if (a.key) keepWork.add(`${stage}/${safeSegment(id)}-${a.key.slice(0, 16)}`);
    else keepWorkPrefixes.push(`${stage}/${safeSegment(id)}-`);
  }

  const result: GcResult = { items: [], records: 0, blobs: 0, views: 0, workDirs: 0, bytes: 0, deleted: opts.yes };
  const keepBlobs = new Set<string>();
  const keepViews = new Set<string>();
  for await (const { stage, key } of store.listRecords()) {
    const rec = await store.getRecord(stage, key);
    if (keepRecords.has(`${stage}/${key}`)) {
      if (rec) {
        Object.values(rec.outputs).forEach((o) => keepBlobs.add(o.digest));
        if (rec.log) keepBlobs.add(rec.log.digest);
        keepViews.add(rec.outputDigest);
      }
      continue;
    }
    result.records++;
    result.items.push(`record ${stage}/${key}${rec ? ` (${rec.nodeId})` : ''}`);
    if (opts.yes) await store.deleteRecord(stage, key as NodeKey);
  }
  for await (const digest of store.listBlobs()) {
    if (keepBlobs.has(digest)) continue;
    let size = 0;
    try {
      size = statSync(join(root, 'blobs', digest.slice(0, 2), digest.slice(2))).size;
    } catch {
      /* remote-only blob */
    }
    result.blobs++;
    result.bytes += size;
    result.items.push(`blob ${digest} ${size} bytes`);
    if (opts.yes) await store.deleteBlob(digest as BlobDigest);
  }
  for (const name of await fsp.readdir(join(root, 'views')).catch(() => [] as string[])) {
    if (keepViews.has(name)) continue;
    result.views++;
    result.items.push(`view ${name}`);
    if (opts.yes) await removeTree(join(root, 'views', name));
  }
  const workRoot = join(root, 'work');
  for (const stage of await fsp.readdir(workRoot).catch(() => [] as string[])) {
    for (const dir of await fsp.readdir(join(workRoot, stage)).catch(() => [] as string[])) {
      const rel = `${stage}/${dir}`;
      if (keepWork.has(rel) || keepWorkPrefixes.some((p) => rel.startsWith(p))) continue;
      const bytes = await treeBytes(join(workRoot, rel));
      result.workDirs++;
      result.bytes += bytes;
      result.items.push(`work ${rel} ${bytes} bytes`);
      if (opts.yes) await removeTree(join(workRoot, rel));
    }
  }
  // Failure files (store/logs.ts) of nodes the config no longer declares.
  const failRoot = join(root, 'failures');
  for (const stage of await fsp.readdir(failRoot).catch(() => [] as string[])) {
    for (const name of await fsp.readdir(join(failRoot, stage)).catch(() => [] as string[])) {
      const file = join(failRoot, stage, name);
      const nodeId = (JSON.parse(await fsp.readFile(file, 'utf8').catch(() => '{}')) as { nodeId?: string }).nodeId;
      if (nodeId && graph.nodes.has(nodeId)) continue;
      result.items.push(`failure log ${stage}/${name}`);
      if (opts.yes) await fsp.rm(file, { force: true });
    }
  }
  // Scratch dirs of crashed runs: no build is running (checked above), so none is in use.
  for (const name of await fsp.readdir(join(root, 'tmp')).catch(() => [] as string[])) {
    const bytes = await treeBytes(join(root, 'tmp', name));
    result.bytes += bytes;
    result.items.push(`scratch tmp/${name} ${bytes} bytes`);
    if (opts.yes) await removeTree(join(root, 'tmp', name));
  }
  return result;
}

export function gcSummary(r: GcResult): string {
  const mb = (r.bytes / 1e6).toFixed(1);
  const what = `${r.records} records, ${r.blobs} blobs, ${r.views} views, ${r.workDirs} work dirs (${mb} MB)`;
  return r.deleted ? `gc: deleted ${what}` : `gc (dry run): would delete ${what}; run with --yes to delete`;
}
