/**
 * Several files at once, a few in flight, with per-file and total progress (bytes and count).
 * The first failure cancels the rest and is thrown; a cancel by the caller throws HubError 'aborted'.
 * The whole batch is bounded (`maxTotalBytes`, checked against the known sizes before anything is
 * fetched and against the bytes as they arrive); each file is checked (`check`) before it is cached.
 */
import { PersonaSpaceError } from '../errors';
import { HubError, fileLabel, formatLimit, formatMB } from './errors';
import { fetchWithProgress, type FetchOptions } from './fetch';

export interface DownloadItem {
  url: string;
  /** Path inside the set (what VirtualFile.path will be). */
  path: string;
  /** Expected size when known (from a listing), so the total is known from the start. */
  size?: number;
}

export interface DownloadProgress {
  filesDone: number;
  filesTotal: number;
  bytesLoaded: number;
  /** Sum of known sizes; null while some file's size is still unknown. */
  bytesTotal: number | null;
  /** Files served from the cache so far. */
  filesCached: number;
  /** The file that just progressed. */
  file: { path: string; loaded: number; total: number | null; done: boolean; cached?: boolean };
}

/** Most bytes one batch (one set) may download in all. */
export const DEFAULT_MAX_TOTAL_BYTES = 8 * 2 ** 30;

export interface DownloadOptions extends Omit<FetchOptions, 'onProgress' | 'validate' | 'expectedSize'> {
  /** Most bytes all files together may take (default 8 GiB). */
  maxTotalBytes?: number;
  /** Checks each file's complete bytes before it is cached; throw to refuse it. */
  check?: (item: DownloadItem, bytes: Uint8Array) => void | Promise<void>;
  /** Files in flight at once (default 6, as browsers allow per host on HTTP/1.1). */
  concurrency?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Called as each file completes (in completion order). */
  onFile?: (item: DownloadItem, bytes: Uint8Array) => void;
}

/** Download every item; results in the order of `items`. */
export async function downloadFiles(items: DownloadItem[], opts: DownloadOptions = {}): Promise<Uint8Array[]> {
  const concurrency = Math.max(1, opts.concurrency ?? 6);
  const maxTotal = opts.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  const known = items.reduce((a, it) => a + (it.size ?? 0), 0);
  if (known > maxTotal) {
    throw new HubError('too-large', `These ${items.length.toLocaleString('en-US')} files hold ${formatMB(known)}, more than the ${formatLimit(maxTotal)} one set may download; nothing was downloaded.`, { bytes: known, max: maxTotal });
  }
  const inner = new AbortController();
  const outer = opts.signal;
  const onOuterAbort = () => inner.abort();
  if (outer?.aborted) throw new HubError('aborted', 'The download was cancelled.');
  outer?.addEventListener('abort', onOuterAbort, { once: true });

  const loaded = new Array<number>(items.length).fill(0);
  const totals = items.map((it) => (it.size != null ? it.size : null));
  const results = new Array<Uint8Array>(items.length);
  let filesDone = 0;
  let filesCached = 0;
  let bytesLoaded = 0;
  const report = (i: number, done: boolean, cached?: boolean) => {
    if (!opts.onProgress) return;
    let known = 0;
    let allKnown = true;
    for (const t of totals) {
      if (t == null) allKnown = false;
      else known += t;
    }
    opts.onProgress({
      filesDone,
      filesTotal: items.length,
      bytesLoaded,
      bytesTotal: allKnown ? known : null,
      filesCached,
      file: { path: items[i].path, loaded: loaded[i], total: totals[i], done, cached },
    });
  };

  let next = 0;
  let firstError: unknown = null;
  const worker = async () => {
    while (next < items.length && !inner.signal.aborted) {
      const i = next++;
      const it = items[i];
      let wasCached = false;
      try {
        const { check, maxTotalBytes: _max, ...fetchOpts } = opts;
        const bytes = await fetchWithProgress(it.url, {
          ...fetchOpts,
          signal: inner.signal,
          expectedSize: it.size,
          validate: check ? (b) => check(it, b) : undefined,
          onProgress: (p) => {
            bytesLoaded += p.loaded - loaded[i];
            loaded[i] = p.loaded;
            if (bytesLoaded > maxTotal) {
              if (firstError == null) {
                firstError = new HubError('too-large', `The set grew past the ${formatLimit(maxTotal)} one set may download (at ${it.path}); the download was stopped.`, { max: maxTotal });
              }
              inner.abort();
              return;
            }
            if (p.total != null) totals[i] = p.total;
            if (p.cached) {
              wasCached = true;
              filesCached++;
              return; // reported once below, as a completed file
            }
            report(i, false);
          },
        });
        results[i] = bytes;
        totals[i] = bytes.length;
        bytesLoaded += bytes.length - loaded[i];
        loaded[i] = bytes.length;
        filesDone++;
        opts.onFile?.(it, bytes);
        report(i, true, wasCached);
      } catch (e) {
        if (firstError == null) firstError = e;
        inner.abort();
        return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (outer?.aborted) throw new HubError('aborted', 'The download was cancelled.');
  if (firstError != null) {
    if (firstError instanceof PersonaSpaceError) throw firstError;
    throw new HubError('network', `Downloading failed: ${String((firstError as Error)?.message ?? firstError)}`);
  }
  for (let i = 0; i < items.length; i++) {
    if (!results[i]) throw new HubError('network', `${fileLabel(items[i].url)} was not downloaded.`);
  }
  return results;
}
