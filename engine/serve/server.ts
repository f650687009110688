// The dashboard's HTTP server (node:http). Safe by default:
// - binds 127.0.0.1 unless told otherwise, and answers only requests whose Host names that address
//   (a page on another site cannot reach it through DNS rebinding);
// - read-only: GET and HEAD only, and no endpoint starts, stops or deletes anything;
// - serves only known things: a fixed table of pages and assets, and output files looked up by
//   node id and manifest path in the node's build record — no URL path ever becomes a file path,
//   and paths carrying encoded dots, slashes or backslashes are refused outright;
// - everything it serves is local (the client bundle includes its layout library): works offline.
import { createReadStream, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import type { Store } from '../types.ts';
import { nodeDetails, nodeLog, results, shownRecord } from './details.ts';
import type { Hub, HubEvent } from './hub.ts';

export interface ServeOptions {
  hub: Hub;
  store: Store;
  root: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** The client bundle and stylesheet (see assets.ts). */
  assets: { js: string; css: string; html: string };
}

export interface Dashboard {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
// Output files are the experiment's own, but still never run script in the dashboard's origin.
const FILE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:";

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

/** Refuses paths that try to step outside: raw or encoded dot segments, encoded slashes, backslashes. */
export function suspiciousPath(rawPath: string): boolean {
  if (rawPath.includes('\\') || rawPath.includes('\0')) return true;
  // %2e = '.', %2f = '/', %5c = '\', %25 = '%' (double encoding), %00 = NUL.
  if (/%(2e|2f|5c|25|00)/i.test(rawPath)) return true;
  return rawPath.split('/').some((seg) => seg === '..' || seg === '.');
}

export async function startDashboard(opts: ServeOptions): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  const env = { hub: opts.hub, store: opts.store, root: opts.root };
  const streams = new Set<ServerResponse>();
  let allowedHosts = new Set<string>();
  // Bound to every interface on purpose (--host 0.0.0.0): then any Host header is accepted.
  const anyHost = host === '0.0.0.0' || host === '::';

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store', ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
  const json = (res: ServerResponse, body: unknown) => send(res, 200, 'application/json; charset=utf-8', JSON.stringify(body));
  const notFound = (res: ServerResponse, what = 'not found') => send(res, 404, 'text/plain; charset=utf-8', `${what}\n`);
  const page = (res: ServerResponse) => send(res, 200, 'text/html; charset=utf-8', opts.assets.html, { 'Content-Security-Policy': PAGE_CSP });

  const knownNode = (id: string | null): id is string => id !== null && Boolean(opts.hub.graph?.nodes.has(id));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!anyHost && !allowedHosts.has((req.headers.host ?? '').toLowerCase())) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden: unexpected Host header\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'read-only: GET and HEAD only\n', { Allow: 'GET, HEAD' });
    const raw = req.url ?? '/';
    const rawPath = raw.split('?')[0];
    if (!rawPath.startsWith('/') || suspiciousPath(rawPath)) return notFound(res);
    const url = new URL(raw, 'http://dashboard.invalid');
    const q = url.searchParams;
    switch (url.pathname) {
      case '/':
      case '/results':
      case '/node':
        return page(res);
      case '/assets/app.js':
        return send(res, 200, 'text/javascript; charset=utf-8', opts.assets.js, { 'Cache-Control': 'no-cache' });
      case '/assets/style.css':
        return send(res, 200, 'text/css; charset=utf-8', opts.assets.css, { 'Cache-Control': 'no-cache' });
      case '/api/state':
        return json(res, {
          config: opts.hub.configFile,
          version: opts.hub.version,
          run: opts.hub.run,
          problem: opts.hub.problem,
          nodes: [...opts.hub.views.values()],
        });
      case '/api/node': {
        const id = q.get('id');
        if (!knownNode(id)) return notFound(res, 'no such node');
        return json(res, await nodeDetails(env, id));
      }
      case '/api/log': {
        const id = q.get('id');
        if (!knownNode(id)) return notFound(res, 'no such node');
        const log = await nodeLog({ ...env, graph: opts.hub.graph! }, id);
        return send(res, 200, 'text/plain; charset=utf-8', `# ${log.header}\n${log.text}`);
      }
      case '/api/results':
        return json(res, await results(env));
      case '/api/file': {
        // An output file: the node must exist and the path must be a key of its record's manifest.
        const id = q.get('node');
        const path = q.get('path');
        if (!knownNode(id) || path === null) return notFound(res);
        const shown = await shownRecord(env, id);
        const entry = shown && Object.hasOwn(shown.record.outputs, path) ? shown.record.outputs[path] : undefined;
        if (!entry) return notFound(res, 'no such output');
        const blob = await opts.store.blobPath(entry.digest);
        if (!blob) return notFound(res, 'output missing from the store');
        const type = TYPES[extname(path).toLowerCase()];
        res.writeHead(200, {
          'Content-Type': type ?? 'application/octet-stream',
          'Content-Length': String(entry.size),
          'Content-Security-Policy': FILE_CSP,
          'X-Content-Type-Options': 'nosniff',
          'Cache-Control': 'no-cache',
          ...(type ? {} : { 'Content-Disposition': 'attachment' }),
        });
        if (req.method === 'HEAD') return void res.end();
        createReadStream(blob).pipe(res);
        return;
      }
      case '/api/events': {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Content-Type-Options': 'nosniff' });
        res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ version: opts.hub.version })}\n\n`);
        streams.add(res);
        req.on('close', () => streams.delete(res));
        return;
      }
      default:
        return notFound(res);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  const unsubscribe = opts.hub.subscribe((e: HubEvent) => {
    const text = `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
    for (const s of streams) s.write(text);
  });
  // Keeps idle streams (and proxies) alive; a comment line is ignored by EventSource.
  const heartbeat = setInterval(() => streams.forEach((s) => s.write(': keep-alive\n\n')), 15_000);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  allowedHosts = new Set([`${hostInUrl}:${port}`, ...(isLoopback(host) ? [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`] : [])]);
  return {
    url: `http://${anyHost ? '127.0.0.1' : hostInUrl}:${port}/`,
    server,
    async close() {
      clearInterval(heartbeat);
      unsubscribe();
      for (const s of streams) s.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The page template and stylesheet, read once. */
export function readAsset(name: 'index.html' | 'style.css'): string {
  return readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
}
