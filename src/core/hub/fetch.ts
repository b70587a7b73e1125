/**
 * Streamed downloads with byte progress, cancel, typed errors and resuming retries.
 *
 * A retry after a dropped connection asks for the missing bytes with `Range: bytes=<have>-`;
 * when the server answers 206 with a matching Content-Range the bytes are appended, otherwise
 * (200) the download starts over. 404/401/403 are final; 5xx and drops are retried.
 */
import { HubError, fileLabel, formatMB, hostLabel } from './errors';
import type { FileCache } from './cache';

export interface ByteProgress {
  loaded: number;
  /** Total bytes when the server said (Content-Length / Content-Range), else null. */
  total: number | null;
  /** True when the bytes came from the cache (no network). */
  cached?: boolean;
}

export interface FetchOptions {
  signal?: AbortSignal;
  onProgress?: (p: ByteProgress) => void;
  /** Extra attempts after a dropped connection or a 5xx answer (default 2). */
  retries?: number;
  /** Wait before retry k (1-based) is `retryDelayMs * k` (default 300). */
  retryDelayMs?: number;
  /** Read from / write to this cache, keyed by URL. */
  cache?: FileCache;
  /** The cached set the file belongs to (recorded in the cache index). */
  setId?: string;
  /** Replace the global fetch (tests, instrumented clients). */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

function abortedError(url: string): HubError {
  return new HubError('aborted', `The download of ${fileLabel(url)} was cancelled.`, { url });
}

function statusError(url: string, status: number, statusText: string): HubError {
  const file = fileLabel(url);
  if (status === 404) {
    return new HubError('not-found', `${file} was not found at ${hostLabel(url)} (404): check the repository, revision and path.`, { status, url });
  }
  if (status === 401 || status === 403) {
    return new HubError('forbidden', `${hostLabel(url)} refused access to ${file} (${status}): the repository may be gated or private.`, { status, url });
  }
  return new HubError('http', `${hostLabel(url)} answered ${status}${statusText ? ' ' + statusText : ''} for ${file}.`, { status, url });
}

function unreachableError(url: string, cause: unknown): HubError {
  // fetch() rejects with a bare TypeError for DNS failures, refused connections and CORS refusals
  // alike; the browser does not tell them apart, so the sentence names all three.
  return new HubError(
    'network',
    `Could not reach ${hostLabel(url)} for ${fileLabel(url)}: you may be offline, the server may be down, or it does not allow requests from this page (CORS).`,
    { url, cause: String(cause) },
  );
}

function droppedError(url: string, loaded: number, total: number | null, attempts: number): HubError {
  const of = total != null ? ` of ${formatMB(total)}` : '';
  const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
  return new HubError(
    'network',
    `The connection to ${hostLabel(url)} dropped after ${formatMB(loaded)}${of} of ${fileLabel(url)}${tries}; try again.`,
    { url, loaded, total, attempts },
  );
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new DOMException('aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Growable byte buffer; preallocated when the total is known. */
class Bytes {
  private buf: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(capacity, 0));
  }
  push(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + chunk.length, 65536));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(chunk, this.length);
    this.length += chunk.length;
  }
  reset(capacity: number): void {
    this.length = 0;
    if (capacity > this.buf.length) this.buf = new Uint8Array(capacity);
  }
  result(): Uint8Array {
    return this.buf.length === this.length ? this.buf : this.buf.slice(0, this.length);
  }
}

/** Total size from `Content-Range: bytes a-b/total`. */
function parseContentRange(h: string | null): { start: number; total: number | null } | null {
  if (!h) return null;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(h.trim());
  if (!m) return null;
  return { start: Number(m[1]), total: m[3] === '*' ? null : Number(m[3]) };
}

/** Size of the body as sent, when it is the decoded size too (no Content-Encoding). */
function bodyLength(res: Response): number | null {
  const enc = res.headers.get('content-encoding');
  if (enc && enc !== 'identity') return null;
  const cl = res.headers.get('content-length');
  return cl != null && /^\d+$/.test(cl) ? Number(cl) : null;
}

/**
 * Download `url` to memory with progress. Returns the file's bytes.
 * Throws HubError (`not-found`, `forbidden`, `http`, `network`, `aborted`).
 */
export async function fetchWithProgress(url: string, opts: FetchOptions = {}): Promise<Uint8Array> {
  const { signal, onProgress, cache } = opts;
  const retries = opts.retries ?? 2;
  const retryDelayMs = opts.retryDelayMs ?? 300;
  const doFetch = opts.fetch ?? fetch;
  if (signal?.aborted) throw abortedError(url);

  if (cache) {
    const hit = await cache.get(url);
    if (hit) {
      onProgress?.({ loaded: hit.length, total: hit.length, cached: true });
      return hit;
    }
  }

  const bytes = new Bytes(0);
  let total: number | null = null;
  let attempt = 0;
  for (;;) {
    attempt++;
    const resumeFrom = bytes.length;
    const headers: Record<string, string> = { ...opts.headers };
    if (resumeFrom > 0) headers.Range = `bytes=${resumeFrom}-`;
    let res: Response;
    try {
      res = await doFetch(url, { signal, headers });
    } catch (e) {
      if (signal?.aborted) throw abortedError(url);
      if (attempt <= retries) {
        await sleep(retryDelayMs * attempt, signal).catch(() => {
          throw abortedError(url);
        });
        continue;
      }
      throw unreachableError(url, e);
    }
    if (res.status === 206 && resumeFrom > 0) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== resumeFrom) {
        // A range we did not ask for: start over with a plain request.
        await res.body?.cancel().catch(() => {});
        bytes.reset(0);
        if (attempt <= retries) continue;
        throw droppedError(url, 0, total, attempt);
      }
      if (cr.total != null) total = cr.total;
    } else if (res.ok) {
      // 200 (or a 206 for a request without Range, which we treat as the whole body).
      bytes.reset(0);
      const cr = res.status === 206 ? parseContentRange(res.headers.get('content-range')) : null;
      total = cr?.total ?? bodyLength(res);
      if (total != null) bytes.reset(total);
    } else if (res.status === 416 && resumeFrom > 0 && total != null && resumeFrom >= total) {
      break; // we already have every byte
    } else {
      await res.body?.cancel().catch(() => {});
      if (res.status >= 500 && attempt <= retries) {
        await sleep(retryDelayMs * attempt, signal).catch(() => {
          throw abortedError(url);
        });
        continue;
      }
      throw statusError(url, res.status, res.statusText);
    }

    onProgress?.({ loaded: bytes.length, total });
    let dropped = false;
    if (res.body) {
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes.push(value);
          onProgress?.({ loaded: bytes.length, total });
        }
      } catch (e) {
        if (signal?.aborted) throw abortedError(url);
        dropped = true;
        void e;
      } finally {
        reader.releaseLock?.();
      }
    } else {
      bytes.push(new Uint8Array(await res.arrayBuffer()));
    }
    if (signal?.aborted) throw abortedError(url);
    // A body shorter than announced is a drop too (some stacks end the stream quietly).
    if (!dropped && total != null && bytes.length < total) dropped = true;
    if (!dropped) break;
    if (attempt > retries) throw droppedError(url, bytes.length, total, attempt);
    await sleep(retryDelayMs * attempt, signal).catch(() => {
      throw abortedError(url);
    });
  }

  const out = bytes.result();
  if (cache) await cache.put(url, out, opts.setId);
  return out;
}
