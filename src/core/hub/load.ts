/**
 * Sources on the web -> VirtualFile[] for `loadPersonaSet`: a hub folder (listed with the tree API
 * or given as a file list), the official release, or any file URL. Downloads go through
 * `downloadFiles` (progress, cancel, retries) and, when a cache is given, a complete set is read
 * back from the cache without touching the network, so the second visit works offline.
 */
import type { VirtualFile } from '../persona/types';
import type { FileCache } from './cache';
import { checkDownloadedFile } from './content';
import { downloadFiles, type DownloadItem, type DownloadOptions, type DownloadProgress } from './download';
import { HubError, formatLimit, formatMB } from './errors';
import { DEFAULT_MAX_FILE_BYTES } from './fetch';
import { listHubFolder, type HubListedFile, type ListLimits } from './list';
import { RELEASE_REPO, RELEASE_REPO_TYPE, releaseFiles, releaseModel, type ReleaseFileOptions } from './release';
import { DEFAULT_HUB, decodeUrlPart, hubFileUrl, hubFolderPageUrl, parseSourceUrl, type HubLocation, type ParsedSource } from './url';

export interface HubLoadOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  cache?: FileCache;
  concurrency?: number;
  retries?: number;
  retryDelayMs?: number;
  /** Per-read and whole-file timeouts (see FetchOptions). */
  idleTimeoutMs?: number;
  timeoutMs?: number;
  /** Largest single file (default 2 GiB) and largest set (default 8 GiB). */
  maxFileBytes?: number;
  maxTotalBytes?: number;
  /** Most files one folder may hold (default 20,000). */
  maxFiles?: number;
  /** Bounds of the folder walk (see ListLimits). */
  listLimits?: ListLimits;
  fetch?: typeof fetch;
}

export const DEFAULT_MAX_FILES = 20_000;

/** The download options shared by every load: timeouts, caps, and the content check before caching. */
function downloadOptions(opts: HubLoadOptions, setId: string): DownloadOptions {
  return {
    signal: opts.signal,
    onProgress: opts.onProgress,
    cache: opts.cache,
    setId,
    concurrency: opts.concurrency,
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    timeoutMs: opts.timeoutMs,
    // Persona-set files: 2 GiB each whether or not the server announces the size.
    maxBytes: opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    maxTotalBytes: opts.maxTotalBytes,
    fetch: opts.fetch,
    check: (item, bytes) => checkDownloadedFile(item.path, bytes, item.url),
  };
}

export interface HubSetOptions extends HubLocation, HubLoadOptions {
  /** Folder inside the repo ('' or absent = the repo root). */
  path?: string;
  /** Files relative to `path` (strings, or with sizes). Absent: every file under `path` (tree API). */
  files?: (string | { path: string; size?: number })[];
  /** Keep only files for which this is true (paths relative to `path`). Default: no dotfiles, no README. */
  filter?: (path: string) => boolean;
  /** Name shown in the cached-sets list (default `repo/path`). */
  label?: string;
}

/** Stable id of a hub folder, used as the cached-set id. */
export function hubSetId(loc: HubLocation & { path?: string }): string {
  const hub = (loc.hub ?? DEFAULT_HUB).replace(/\/+$/, '');
  return `${hub}/${loc.type ?? 'model'}:${loc.repo}@${loc.revision ?? 'main'}/${loc.path ?? ''}`.replace(/\/+$/, '');
}

const defaultFilter = (p: string): boolean => {
  const base = p.split('/').pop() ?? p;
  return !base.startsWith('.') && !/^readme(\.md)?$/i.test(base);
};

function memoryFile(path: string, bytes: Uint8Array): VirtualFile {
  return { path, size: bytes.length, read: async () => bytes };
}

function joinPath(dir: string, p: string): string {
  return dir ? `${dir.replace(/\/+$/, '')}/${p}` : p;
}

/** Download a hub folder (or the listed files of it). Resolves to files with paths relative to `path`. */
export async function loadHubSet(opts: HubSetOptions): Promise<VirtualFile[]> {
  const hub = (opts.hub ?? DEFAULT_HUB).replace(/\/+$/, '');
  const type = opts.type ?? 'model';
  const revision = opts.revision ?? 'main';
  const dir = (opts.path ?? '').replace(/^\/+|\/+$/g, '');
  const loc = { hub, repo: opts.repo, type, revision };
  const setId = hubSetId({ ...loc, path: dir });
  const label = opts.label ?? `${opts.repo}${dir ? '/' + dir : ''}`;
  const source = hubFolderPageUrl({ ...loc, path: dir });
  const cache = opts.cache;

  // Second visit: a complete cached set needs no network at all (not even a listing).
  if (cache) {
    const rec = await cache.getSet(setId);
    const wanted = opts.files ? new Set(opts.files.map((f) => (typeof f === 'string' ? f : f.path))) : null;
    if (rec?.complete && (!wanted || (rec.files.length === wanted.size && rec.files.every((f) => wanted.has(f.path))))) {
      const hits = await Promise.all(rec.files.map((f) => cache.get(f.url)));
      if (hits.every((b) => b != null)) {
        const total = hits.reduce((a, b) => a + b!.length, 0);
        let loaded = 0;
        rec.files.forEach((f, i) => {
          loaded += hits[i]!.length;
          opts.onProgress?.({
            filesDone: i + 1,
            filesTotal: rec.files.length,
            bytesLoaded: loaded,
            bytesTotal: total,
            filesCached: i + 1,
            file: { path: f.path, loaded: hits[i]!.length, total: hits[i]!.length, done: true, cached: true },
          });
        });
        return rec.files.map((f, i) => memoryFile(f.path, hits[i]!));
      }
    }
  }

  let entries: { path: string; size?: number }[];
  if (opts.files) {
    entries = opts.files.map((f) => (typeof f === 'string' ? { path: f } : { ...f }));
  } else {
    const listed: HubListedFile[] = await listHubFolder({
      ...loc, ...opts.listLimits, path: dir, recursive: true, signal: opts.signal, fetch: opts.fetch,
      idleTimeoutMs: opts.idleTimeoutMs, retries: opts.retries, retryDelayMs: opts.retryDelayMs,
    });
    const prefix = dir ? dir + '/' : '';
    entries = listed
      .filter((f) => f.path.startsWith(prefix))
      // A listed size of 0 may mean "not given": only a positive size is held against the download.
      .map((f) => ({ path: f.path.slice(prefix.length), size: f.size > 0 ? f.size : undefined }))
      .filter((f) => (opts.filter ?? defaultFilter)(f.path));
    if (entries.length === 0) {
      throw new HubError('not-found', `${label} on ${new URL(hub).host} holds no files.`, { url: source });
    }
  }
  const maxFiles = opts.maxFiles ?? DEFAULT_MAX_FILES;
  if (entries.length > maxFiles) {
    throw new HubError('too-large', `${label} holds ${entries.length.toLocaleString('en-US')} files, more than the ${maxFiles.toLocaleString('en-US')} one set may have; pick a sub-folder.`, { url: source });
  }
  const maxFile = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const big = entries.find((e) => (e.size ?? 0) > maxFile);
  if (big) {
    throw new HubError('too-large', `${big.path} in ${label} is ${formatMB(big.size!)}, larger than the ${formatLimit(maxFile)} one download may hold; nothing was downloaded.`, { url: source });
  }
  const items: DownloadItem[] = entries.map((e) => ({ path: e.path, size: e.size, url: hubFileUrl({ ...loc, path: joinPath(dir, e.path) }) }));

  if (cache) await cache.recordSet({ id: setId, label, source, files: items.map((it) => ({ path: it.path, url: it.url, size: it.size ?? 0 })), complete: false });
  const bytes = await downloadFiles(items, downloadOptions(opts, setId));
  if (cache) {
    await cache.recordSet({ id: setId, label, source, files: items.map((it, i) => ({ path: it.path, url: it.url, size: bytes[i].length })), complete: true });
  }
  return items.map((it, i) => memoryFile(it.path, bytes[i]));
}

export interface ReleaseLoadOptions extends HubLoadOptions, ReleaseFileOptions {
  /** Hub origin (default https://huggingface.co; tests pass a local server). */
  hub?: string;
  modelId: string;
  revision?: string;
}

/** The official release for one model: VirtualFiles in the release layout (paths relative to the model folder). */
export function loadRelease(opts: ReleaseLoadOptions): Promise<VirtualFile[]> {
  const m = releaseModel(opts.modelId);
  return loadHubSet({
    ...opts,
    repo: RELEASE_REPO,
    type: RELEASE_REPO_TYPE,
    path: m.id,
    files: releaseFiles(m.id, opts),
    label: `${m.label} (official release${opts.traits === false ? ', roles only' : ''})`,
  });
}

/** One file at any URL, as a one-file set (cached under its URL). */
export async function loadUrlFile(url: string, opts: HubLoadOptions & { label?: string } = {}): Promise<VirtualFile[]> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HubError('bad-url', `"${url}" is not a web address (expected https://...).`, { url });
  }
  const name = decodeUrlPart(u.pathname.split('/').filter(Boolean).pop() ?? 'file', url);
  const cache = opts.cache;
  const setId = url;
  if (cache) {
    const rec = await cache.getSet(setId);
    if (rec?.complete) {
      const hit = await cache.get(url);
      if (hit) {
        opts.onProgress?.({ filesDone: 1, filesTotal: 1, bytesLoaded: hit.length, bytesTotal: hit.length, filesCached: 1, file: { path: name, loaded: hit.length, total: hit.length, done: true, cached: true } });
        return [memoryFile(name, hit)];
      }
    }
    await cache.recordSet({ id: setId, label: opts.label ?? name, source: url, files: [{ path: name, url, size: 0 }], complete: false });
  }
  let bytes: Uint8Array;
  try {
    [bytes] = await downloadFiles([{ url, path: name }], downloadOptions(opts, setId));
  } catch (e) {
    // Nothing of a one-file set was kept: leave no empty "incomplete" row behind.
    if (cache) await cache.deleteSet(setId).catch(() => {});
    throw e;
  }
  if (cache) await cache.recordSet({ id: setId, label: opts.label ?? name, source: url, files: [{ path: name, url, size: bytes.length }], complete: true });
  return [memoryFile(name, bytes)];
}

/**
 * Whatever a person pasted (hub folder or file page, `hf://` path, plain file URL) -> files.
 * `hub` resolves `hf://` paths and marks which origin is a hub.
 */
export async function loadFromUrl(input: string, opts: HubLoadOptions & { hub?: string } = {}): Promise<{ source: ParsedSource; files: VirtualFile[] }> {
  const source = parseSourceUrl(input, opts.hub);
  if (source.kind === 'hub-folder') {
    const files = await loadHubSet({ ...opts, hub: source.hub, repo: source.repo, type: source.type, revision: source.revision, path: source.path });
    return { source, files };
  }
  return { source, files: await loadUrlFile(source.url, opts) };
}
