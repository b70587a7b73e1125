/**
 * Folder listings through the hub's tree API (`/api/<type>s/<repo>/tree/<rev>/<path>`), as HF
 * serves them: a JSON array of `{type: 'file'|'directory', path, size, ...}` where `path` is from the
 * repo root, paginated with a `Link: <...>; rel="next"` header.
 *
 * The whole walk is bounded, whatever the server answers: each folder is listed once and only
 * folders strictly inside the one being listed are entered (a folder that lists itself or a parent
 * is skipped), at most `maxDepth` folders deep, `maxEntries` entries, `maxPages` pages and
 * `maxListingBytes` of listing text in all; every page has the download timeouts and retries.
 */
import { HubError, formatLimit, hostLabel } from './errors';
import { fetchWithProgress } from './fetch';
import { hubTreeUrl, type HubLocation } from './url';

export interface HubListedFile {
  /** Path from the repository root, e.g. `qwen-3-32b/role_vectors/ghost.pt`. */
  path: string;
  size: number;
}

export interface ListLimits {
  /** Folders below the listed one (default 32). */
  maxDepth?: number;
  /** Files and folders in all (default 100,000). */
  maxEntries?: number;
  /** Pages in all (default 1000). */
  maxPages?: number;
  /** Bytes of listing JSON in all (default 64 MiB). */
  maxListingBytes?: number;
}

export interface ListOptions extends HubLocation, ListLimits {
  /** Folder inside the repo ('' = root). */
  path?: string;
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Per-page timeouts and retries (see FetchOptions). */
  idleTimeoutMs?: number;
  timeoutMs?: number;
  retries?: number;
  retryDelayMs?: number;
}

function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1];
  }
  return null;
}

interface Walk {
  opts: ListOptions;
  where: string;
  out: HubListedFile[];
  visited: Set<string>;
  pagesSeen: Set<string>;
  entries: number;
  pages: number;
  bytes: number;
  maxDepth: number;
  maxEntries: number;
  maxPages: number;
  maxBytes: number;
}

const norm = (p: string) => p.replace(/^\/+|\/+$/g, '');

/** Every file under a hub folder (sorted by path). Throws HubError. */
export async function listHubFolder(opts: ListOptions): Promise<HubListedFile[]> {
  const where = `${opts.repo}${opts.path ? '/' + opts.path : ''}`;
  const walk: Walk = {
    opts,
    where,
    out: [],
    visited: new Set(),
    pagesSeen: new Set(),
    entries: 0,
    pages: 0,
    bytes: 0,
    maxDepth: opts.maxDepth ?? 32,
    maxEntries: opts.maxEntries ?? 100_000,
    maxPages: opts.maxPages ?? 1000,
    maxBytes: opts.maxListingBytes ?? 64 * 2 ** 20,
  };
  await listDir(walk, norm(opts.path ?? ''), 0);
  const seen = new Set<string>();
  return walk.out
    .filter((f) => (seen.has(f.path) ? false : (seen.add(f.path), true)))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function page(w: Walk, url: string): Promise<{ body: unknown; link: string | null }> {
  const { opts, where } = w;
  if (++w.pages > w.maxPages) throw new HubError('bad-listing', `The listing of ${where} did not end after ${w.maxPages} pages.`, { url });
  if (w.pagesSeen.has(url)) throw new HubError('bad-listing', `The listing of ${where} repeats itself (a page links back to an earlier one).`, { url });
  w.pagesSeen.add(url);
  let link: string | null = null;
  let bytes: Uint8Array;
  try {
    bytes = await fetchWithProgress(url, {
      signal: opts.signal,
      fetch: opts.fetch,
      headers: { Accept: 'application/json' },
      maxBytes: Math.max(0, w.maxBytes - w.bytes),
      idleTimeoutMs: opts.idleTimeoutMs,
      timeoutMs: opts.timeoutMs,
      retries: opts.retries,
      retryDelayMs: opts.retryDelayMs,
      onHeaders: (h) => (link = h.get('link')),
    });
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
    const host = hostLabel(url);
    if (e.code === 'aborted') throw new HubError('aborted', `Listing ${where} was cancelled.`, { url });
    if (e.code === 'not-found') throw new HubError('not-found', `${where} was not found on ${host} (404): check the repository, revision and folder.`, { status: 404, url });
    if (e.code === 'forbidden') throw new HubError('forbidden', `${host} refused to list ${where} (${e.status}): the repository may be gated or private.`, { status: e.status, url });
    if (e.code === 'http') throw new HubError('http', `${host} answered ${e.status} when listing ${where}.`, { status: e.status, url });
    if (e.code === 'too-large') throw new HubError('bad-listing', `The listing of ${where} is larger than the ${formatLimit(w.maxBytes)} of listing this tool reads.`, { url });
    if (e.code === 'network') {
      throw new HubError(
        'network',
        `Could not reach ${host} to list ${where}: you may be offline, the server may be down, or it does not allow requests from this page (CORS).`,
        { url, cause: e.message },
      );
    }
    if (e.code === 'bad-response') throw new HubError('bad-listing', `${host} did not answer the listing of ${where} with JSON.`, { url, cause: e.message });
    throw e; // timeout: its sentence names the host and says what to do
  }
  w.bytes += bytes.length;
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new HubError('bad-listing', `${hostLabel(url)} did not answer the listing of ${where} with JSON.`, { url });
  }
  return { body, link };
}

async function listDir(w: Walk, dir: string, depth: number): Promise<void> {
  const { opts, where } = w;
  if (depth > w.maxDepth) {
    throw new HubError('bad-listing', `The listing of ${where} goes more than ${w.maxDepth} folders deep; a folder may be listing itself.`, { path: dir });
  }
  if (w.visited.has(dir)) return;
  w.visited.add(dir);
  const recursive = opts.recursive ?? true;
  let url: string | null = hubTreeUrl({ ...opts, path: dir, recursive });
  const prefix = dir ? dir + '/' : '';
  while (url) {
    const { body, link } = await page(w, url);
    if (!Array.isArray(body)) throw new HubError('bad-listing', `${hostLabel(url)} did not answer the listing of ${where} with a list of files.`, { url });
    w.entries += body.length;
    if (w.entries > w.maxEntries) {
      throw new HubError('bad-listing', `The listing of ${where} has more than ${w.maxEntries.toLocaleString('en-US')} entries, more than this tool walks.`, { url });
    }
    const subdirs: string[] = [];
    let nested = false;
    for (const e of body as { type?: string; path?: string; size?: number }[]) {
      if (typeof e?.path !== 'string') continue;
      const p = norm(e.path);
      if (e.type === 'file') {
        const size = typeof e.size === 'number' && Number.isSafeInteger(e.size) && e.size >= 0 ? e.size : 0;
        w.out.push({ path: p, size });
      } else if (e.type === 'directory') {
        // Only folders strictly inside this one: a folder listing itself or a parent is not entered again.
        if (p.startsWith(prefix) && p.length > prefix.length && !w.visited.has(p)) subdirs.push(p);
      }
    }
    for (const e of body as { path?: string }[]) if (typeof e?.path === 'string' && subdirs.some((d) => e.path!.startsWith(d + '/'))) nested = true;
    // A server that ignores ?recursive answers one level: descend ourselves.
    if (recursive && subdirs.length > 0 && !nested) {
      for (const d of subdirs) await listDir(w, d, depth + (d.split('/').length - (dir ? dir.split('/').length : 0)));
    }
    const next = nextLink(link);
    url = next ? new URL(next, url).href : null;
  }
}
