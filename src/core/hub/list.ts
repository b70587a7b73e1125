/**
 * Folder listings through the hub's tree API (`/api/<type>s/<repo>/tree/<rev>/<path>`), as HF
 * serves them: a JSON array of `{type: 'file'|'directory', path, size, ...}` where `path` is from the
 * repo root, paginated with a `Link: <...>; rel="next"` header.
 */
import { HubError, hostLabel } from './errors';
import { hubTreeUrl, type HubLocation } from './url';

export interface HubListedFile {
  /** Path from the repository root, e.g. `qwen-3-32b/role_vectors/ghost.pt`. */
  path: string;
  size: number;
}

export interface ListOptions extends HubLocation {
  /** Folder inside the repo ('' = root). */
  path?: string;
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1];
  }
  return null;
}

/** Every file under a hub folder (sorted by path). Throws HubError. */
export async function listHubFolder(opts: ListOptions): Promise<HubListedFile[]> {
  const doFetch = opts.fetch ?? fetch;
  const recursive = opts.recursive ?? true;
  let url: string | null = hubTreeUrl({ ...opts, recursive });
  const out: HubListedFile[] = [];
  const where = `${opts.repo}${opts.path ? '/' + opts.path : ''}`;
  let pages = 0;
  while (url) {
    if (++pages > 1000) throw new HubError('bad-listing', `The listing of ${where} did not end after 1000 pages.`, { url });
    let res: Response;
    try {
      res = await doFetch(url, { signal: opts.signal, headers: { Accept: 'application/json' } });
    } catch (e) {
      if (opts.signal?.aborted) throw new HubError('aborted', `Listing ${where} was cancelled.`, { url });
      throw new HubError(
        'network',
        `Could not reach ${hostLabel(url)} to list ${where}: you may be offline, the server may be down, or it does not allow requests from this page (CORS).`,
        { url, cause: String(e) },
      );
    }
    if (res.status === 404) {
      throw new HubError('not-found', `${where} was not found on ${hostLabel(url)} (404): check the repository, revision and folder.`, { status: 404, url });
    }
    if (res.status === 401 || res.status === 403) {
      throw new HubError('forbidden', `${hostLabel(url)} refused to list ${where} (${res.status}): the repository may be gated or private.`, { status: res.status, url });
    }
    if (!res.ok) throw new HubError('http', `${hostLabel(url)} answered ${res.status} when listing ${where}.`, { status: res.status, url });
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      throw new HubError('bad-listing', `${hostLabel(url)} did not answer the listing of ${where} with JSON.`, { url });
    }
    if (!Array.isArray(body)) throw new HubError('bad-listing', `${hostLabel(url)} did not answer the listing of ${where} with a list of files.`, { url });
    const subdirs: string[] = [];
    for (const e of body as { type?: string; path?: string; size?: number }[]) {
      if (typeof e?.path !== 'string') continue;
      if (e.type === 'file') out.push({ path: e.path, size: typeof e.size === 'number' ? e.size : 0 });
      else if (e.type === 'directory') subdirs.push(e.path);
    }
    // A server that ignores ?recursive answers one level: descend ourselves.
    if (recursive && subdirs.length > 0 && !body.some((e: { path?: string }) => typeof e?.path === 'string' && subdirs.some((d) => e.path!.startsWith(d + '/')))) {
      for (const d of subdirs) out.push(...(await listHubFolder({ ...opts, path: d, recursive: true })));
    }
    const next = nextLink(res.headers.get('link'));
    url = next ? new URL(next, url).href : null;
  }
  const seen = new Set<string>();
  return out.filter((f) => (seen.has(f.path) ? false : (seen.add(f.path), true))).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
