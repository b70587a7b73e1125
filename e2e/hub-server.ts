/**
 * A local stand-in for the Hugging Face hub, for tests and benchmarks (Node only).
 *
 * Serves hub-shaped folders made by the tests (or read-only folders such as
 * ../shared/datasets/...) under HF's URL scheme:
 *   GET|HEAD /datasets/<owner>/<name>/resolve/<rev>/<path>   (dataset repos)
 *   GET|HEAD /<owner>/<name>/resolve/<rev>/<path>            (model repos)
 *   GET      /api/datasets|models/<owner>/<name>/tree/<rev>/<path>[?recursive=true]
 * with Range/206, ETag/If-None-Match, CORS (preflight included), a request log, and fault
 * injection: drop the connection after N bytes, stall, or answer a status, once or k times.
 * The revision in URLs is accepted as given (every revision serves the same folder).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export type RepoType = 'model' | 'dataset';

export interface RepoMount {
  dir: string;
  type?: RepoType;
}

export interface HubFault {
  /** File path inside the repo (e.g. `qwen-3-32b/role_vectors/ghost.pt`), or a RegExp tested against it. */
  path: string | RegExp;
  /** Only for this repo (default: any). */
  repo?: string;
  /** What goes wrong: `drop` closes the socket after `afterBytes` body bytes; `stall` sends
   * `afterBytes` then nothing until the client gives up; `status` answers `status` (e.g. 500). */
  kind?: 'drop' | 'stall' | 'status';
  afterBytes?: number;
  status?: number;
  /** How many requests it hits (default 1); Infinity for always. */
  times?: number;
  /** Extra headers on a `status` answer (e.g. `Retry-After`). */
  headers?: Record<string, string>;
}

export interface HubServerOptions {
  /** A folder holding `<owner>/<name>/...` repos, or a map repo id -> folder (or {dir, type}). */
  root: string | Record<string, string | RepoMount>;
  /** Type of the repos mounted without an explicit type (default 'dataset'). */
  type?: RepoType;
  faults?: HubFault[];
  /** Honour Range requests (default true); false answers 200 with the whole file, as some servers do. */
  ranges?: boolean;
  /** Tree API page size (HF uses 1000); smaller values exercise Link-header pagination. */
  pageSize?: number;
  /** Throttle bodies to about this many bytes per second (default: unthrottled). */
  bytesPerSecond?: number;
  /** Answer 302 to a `/cdn/...` URL for resolve requests, as HF does for LFS files. */
  redirect?: boolean;
  /** Port on 127.0.0.1 (default 0: a free one). */
  port?: number;
}

export interface HubRequestLog {
  method: string;
  /** Decoded URL path (no query). */
  path: string;
  range?: string;
  status: number;
  /** Body bytes actually sent. */
  bytes: number;
  fault?: string;
}

export interface HubServer {
  /** e.g. `http://127.0.0.1:43121` */
  origin: string;
  requests: HubRequestLog[];
  /** Add a fault while running. */
  addFault(f: HubFault): void;
  clearFaults(): void;
  /** Requests whose path contains `part` (all when omitted). */
  count(part?: string): number;
  close(): Promise<void>;
}

interface Mounted {
  repo: string;
  type: RepoType;
  dir: string;
}

const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, If-None-Match, Authorization, Accept, Content-Type',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges, ETag, Link, X-Repo-Commit, X-Error-Code, Retry-After',
  'Access-Control-Max-Age': '600',
};

async function resolveMounts(opts: HubServerOptions): Promise<(type: RepoType, repo: string) => Mounted | null> {
  const defType = opts.type ?? 'dataset';
  if (typeof opts.root === 'string') {
    const root = path.resolve(opts.root);
    return (type, repo) => (type === defType ? { repo, type, dir: path.join(root, repo) } : null);
  }
  const mounts: Mounted[] = Object.entries(opts.root).map(([repo, m]) =>
    typeof m === 'string' ? { repo, type: defType, dir: path.resolve(m) } : { repo, type: m.type ?? defType, dir: path.resolve(m.dir) },
  );
  return (type, repo) => mounts.find((m) => m.repo === repo && m.type === type) ?? null;
}

/** Resolve `rel` inside `dir`, refusing `..` escapes. */
function safeJoin(dir: string, rel: string): string | null {
  const full = path.resolve(dir, rel);
  return full === dir || full.startsWith(dir + path.sep) ? full : null;
}

async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.stat(p);
  } catch {
    return null;
  }
}

async function walk(dir: string, rel: string, recursive: boolean, out: { type: 'file' | 'directory'; path: string; size: number; mtime: number }[]): Promise<void> {
  const entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    const st = await fsp.stat(path.join(dir, p));
    if (st.isDirectory()) {
      out.push({ type: 'directory', path: p, size: 0, mtime: st.mtimeMs });
      if (recursive) await walk(dir, p, true, out);
    } else if (st.isFile()) {
      out.push({ type: 'file', path: p, size: st.size, mtime: st.mtimeMs });
    }
  }
}

function etagOf(st: Stats): string {
  return `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

/** Parse one `bytes=a-b` range against a size; null = unsatisfiable, undefined = no/unsupported range. */
function parseRange(h: string | undefined, size: number): { start: number; end: number } | null | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

export async function startHubServer(opts: HubServerOptions): Promise<HubServer> {
  const lookup = await resolveMounts(opts);
  const faults: (HubFault & { left: number })[] = (opts.faults ?? []).map((f) => ({ ...f, left: f.times ?? 1 }));
  const requests: HubRequestLog[] = [];
  const pageSize = opts.pageSize ?? 1000;
  const ranges = opts.ranges ?? true;

  const takeFault = (repo: string, file: string): (HubFault & { left: number }) | null => {
    for (const f of faults) {
      if (f.left <= 0) continue;
      if (f.repo && f.repo !== repo) continue;
      const hit = typeof f.path === 'string' ? f.path === file : f.path.test(file);
      if (hit) {
        f.left--;
        return f;
      }
    }
    return null;
  };

  const sendJson = (res: ServerResponse, log: HubRequestLog, status: number, body: unknown, extra: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    log.status = status;
    log.bytes = Buffer.byteLength(text);
    res.writeHead(status, { ...CORS_HEADERS, 'Content-Type': 'application/json', 'Content-Length': String(log.bytes), ...extra });
    res.end(text);
  };
  const notFound = (res: ServerResponse, log: HubRequestLog, what: string) =>
    sendJson(res, log, 404, { error: `${what} not found` }, { 'X-Error-Code': what === 'Repository' ? 'RepoNotFound' : 'EntryNotFound' });

  /** Parse `[datasets/]owner/name/<verb>/<rev>/<path...>` from segments. */
  const parseRepoPath = (segs: string[], verb: string): { type: RepoType; repo: string; rev: string; file: string } | null => {
    let type: RepoType = 'model';
    let i = 0;
    if (segs[0] === 'datasets') {
      type = 'dataset';
      i = 1;
    }
    if (segs.length < i + 4 || segs[i + 2] !== verb) return null;
    return { type, repo: `${segs[i]}/${segs[i + 1]}`, rev: segs[i + 3], file: segs.slice(i + 4).join('/') };
  };

  const serveTree = async (req: IncomingMessage, res: ServerResponse, url: URL, log: HubRequestLog, segs: string[]) => {
    // /api/<datasets|models>/<owner>/<name>/tree/<rev>/<path>
    const kind = segs[1];
    const type: RepoType | null = kind === 'datasets' ? 'dataset' : kind === 'models' ? 'model' : null;
    if (!type || segs.length < 6 || segs[4] !== 'tree') return notFound(res, log, 'Route');
    const repo = `${segs[2]}/${segs[3]}`;
    const m = lookup(type, repo);
    if (!m || !(await statOrNull(m.dir))?.isDirectory()) return notFound(res, log, 'Repository');
    const rel = segs.slice(6).join('/');
    const full = safeJoin(m.dir, rel);
    const st = full ? await statOrNull(full) : null;
    if (!st || !st.isDirectory()) return notFound(res, log, 'Entry');
    const recursive = ['1', 'true'].includes(url.searchParams.get('recursive') ?? '');
    const all: { type: 'file' | 'directory'; path: string; size: number; mtime: number }[] = [];
    await walk(m.dir, rel, recursive, all);
    const offset = Number(url.searchParams.get('cursor') ?? '0') || 0;
    const page = all.slice(offset, offset + pageSize).map((e) =>
      e.type === 'file' ? { type: 'file', oid: `${e.size.toString(16)}${Math.floor(e.mtime).toString(16)}`, size: e.size, path: e.path } : { type: 'directory', oid: '0', size: 0, path: e.path },
    );
    const extra: Record<string, string> = {};
    if (offset + pageSize < all.length) {
      const next = new URL(url.href);
      next.searchParams.set('cursor', String(offset + pageSize));
      extra.Link = `<${next.href}>; rel="next"`;
    }
    void req;
    sendJson(res, log, 200, page, extra);
  };

  const serveFile = async (req: IncomingMessage, res: ServerResponse, log: HubRequestLog, p: { type: RepoType; repo: string; rev: string; file: string }, viaCdn: boolean) => {
    const m = lookup(p.type, p.repo);
    if (!m || !(await statOrNull(m.dir))?.isDirectory()) return notFound(res, log, 'Repository');
    const full = p.file ? safeJoin(m.dir, p.file) : null;
    const st = full ? await statOrNull(full) : null;
    if (!full || !st || !st.isFile()) return notFound(res, log, 'Entry');
    if (opts.redirect && !viaCdn) {
      const loc = `/cdn/${p.type}/${p.repo}/${p.rev}/${p.file.split('/').map(encodeURIComponent).join('/')}`;
      log.status = 302;
      res.writeHead(302, { ...CORS_HEADERS, Location: loc, 'Content-Length': '0' });
      return res.end();
    }
    const etag = etagOf(st);
    const base: Record<string, string> = {
      ...CORS_HEADERS,
      'Content-Type': 'application/octet-stream',
      ETag: etag,
      'X-Repo-Commit': '0000000000000000000000000000000000000000',
      'Cache-Control': 'no-cache',
    };
    if (ranges) base['Accept-Ranges'] = 'bytes';
    if (req.headers['if-none-match'] === etag) {
      log.status = 304;
      res.writeHead(304, base);
      return res.end();
    }
    const fault = req.method === 'GET' ? takeFault(p.repo, p.file) : null;
    if (fault?.kind === 'status') {
      log.fault = `status ${fault.status ?? 500}`;
      return sendJson(res, log, fault.status ?? 500, { error: 'Injected failure' }, fault.headers);
    }
    const r = ranges ? parseRange(req.headers.range, st.size) : undefined;
    if (r === null) {
      log.status = 416;
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${st.size}`, 'Content-Length': '0' });
      return res.end();
    }
    const start = r ? r.start : 0;
    const end = r ? r.end : st.size - 1;
    const len = Math.max(0, end - start + 1);
    const headers: Record<string, string> = { ...base, 'Content-Length': String(len) };
    if (r) headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
    log.status = r ? 206 : 200;
    res.writeHead(log.status, headers);
    if (req.method === 'HEAD' || len === 0) return res.end();

    const limit = fault ? Math.min(fault.afterBytes ?? 0, len) : len;
    if (fault) log.fault = `${fault.kind ?? 'drop'} after ${limit}`;
    const chunkSize = 64 * 1024;
    const delayPerChunk = opts.bytesPerSecond ? (chunkSize * 1000) / opts.bytesPerSecond : 0;
    if (limit > 0) {
      const stream = createReadStream(full, { start, end: start + limit - 1, highWaterMark: chunkSize });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (res.destroyed) break;
          log.bytes += chunk.length;
          const ok = res.write(chunk);
          if (!ok) {
            // whichever comes first; the other listener is removed (one pair per wait, not one more 'close' each time)
            await new Promise<void>((resolve) => {
              const done = () => {
                res.off('drain', done);
                res.off('close', done);
                resolve();
              };
              res.once('drain', done);
              res.once('close', done);
            });
          }
          if (delayPerChunk) await new Promise((resolve) => setTimeout(resolve, delayPerChunk));
        }
      } finally {
        stream.destroy();
      }
    }
    if (!fault) return res.end();
    if ((fault.kind ?? 'drop') === 'drop') {
      // Let the bytes already written reach the client, then cut the connection mid-body.
      await new Promise<void>((resolve) => res.write('', () => resolve()));
      setTimeout(() => res.socket?.destroy(), 20);
    }
    // 'stall': leave the response open; the client's abort (or close()) ends it.
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const pathname = decodeURIComponent(url.pathname);
    const log: HubRequestLog = { method: req.method ?? 'GET', path: pathname, status: 0, bytes: 0 };
    if (req.headers.range) log.range = String(req.headers.range);
    requests.push(log);
    if (req.method === 'OPTIONS') {
      log.status = 204;
      res.writeHead(204, CORS_HEADERS);
      return res.end();
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, log, 405, { error: 'Method not allowed' });
    const segs = url.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    const work = async () => {
      if (segs[0] === 'api') return serveTree(req, res, url, log, segs);
      if (segs[0] === 'cdn' && segs.length >= 6) {
        const type = segs[1] as RepoType;
        return serveFile(req, res, log, { type, repo: `${segs[2]}/${segs[3]}`, rev: segs[4], file: segs.slice(5).join('/') }, true);
      }
      const p = parseRepoPath(segs, 'resolve');
      if (!p) return notFound(res, log, 'Route');
      return serveFile(req, res, log, p, false);
    };
    work().catch((e) => {
      if (!res.headersSent) sendJson(res, log, 500, { error: String(e) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    addFault: (f) => faults.push({ ...f, left: f.times ?? 1 }),
    clearFaults: () => {
      faults.length = 0;
    },
    count: (part) => requests.filter((r) => r.method !== 'OPTIONS' && (!part || r.path.includes(part))).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Serve folders by hand, e.g. to try the release buttons offline:
 *   npx tsx e2e/hub-server.ts lu-christina/assistant-axis-vectors=/path/to/release [--model org/name=dir] [--port 5555]
 * then open the app with `?hub=http://127.0.0.1:5555`.
 */
async function cli(argv: string[]): Promise<void> {
  const root: Record<string, RepoMount> = {};
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') port = Number(argv[++i]);
    else {
      const type: RepoType = a === '--model' ? 'model' : 'dataset';
      const spec = a === '--model' || a === '--dataset' ? argv[++i] : a;
      const eq = spec?.indexOf('=') ?? -1;
      if (eq <= 0) throw new Error(`expected owner/name=dir, got ${spec}`);
      root[spec.slice(0, eq)] = { dir: spec.slice(eq + 1), type };
    }
  }
  if (Object.keys(root).length === 0) throw new Error('usage: hub-server.ts owner/name=dir [--model owner/name=dir] [--port N]');
  const s = await startHubServer({ root, port });
  console.log(`hub at ${s.origin} serving ${Object.entries(root).map(([r, m]) => `${m.type} ${r} <- ${m.dir}`).join(', ')}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).catch((e) => {
    console.error(String(e?.message ?? e));
    process.exit(1);
  });
}
