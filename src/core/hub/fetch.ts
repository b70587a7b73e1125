/**
 * Streamed downloads with byte progress, cancel, typed errors and resuming retries.
 *
 * A retry after a dropped connection asks for the missing bytes with `Range: bytes=<have>-`;
 * when the server answers 206 with a matching Content-Range the bytes are appended, otherwise
 * (200) the download starts over. 404/401/403 are final; 5xx and drops are retried. A 429/5xx
 * answer's `Retry-After` (seconds or an HTTP-date) sets the wait before the next attempt, at most
 * `maxRetryAfterMs` (30 s), never past the overall timeout, and a cancel ends it.
 */
import { PersonaSpaceError } from '../errors';
import { HubError, fileLabel, formatLimit, formatMB, formatSeconds, hostLabel } from './errors';
import type { FileCache } from './cache';

export interface ByteProgress {
  loaded: number;
  /** Total bytes when the server said (Content-Length / Content-Range), else null. */
  total: number | null;
  /** True when the bytes came from the cache (no network). */
  cached?: boolean;
}

/**
 * Largest body one download may hold when the server did not announce its size (chunked, or
 * compressed with Content-Encoding, so a gzip bomb or an endless body stops here), and the cap
 * the persona-set loaders use for every file.
 */
export const DEFAULT_MAX_FILE_BYTES = 2 * 2 ** 30;
/** Largest announced size (Content-Length, Content-Range) a plain download accepts (model weights). */
export const DEFAULT_MAX_ANNOUNCED_BYTES = 16 * 2 ** 30;
/** Longest wait for the answer's headers or for the next piece of its body. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Longest a whole download may take, retries included. */
export const DEFAULT_TIMEOUT_MS = 60 * 60_000;
/** Longest wait a server's `Retry-After` may ask for before the next attempt (a longer ask waits this long). */
export const DEFAULT_MAX_RETRY_AFTER_MS = 30_000;

export interface FetchOptions {
  signal?: AbortSignal;
  onProgress?: (p: ByteProgress) => void;
  /** Extra attempts after a dropped connection, a stall or a 5xx/429 answer (default 2). */
  retries?: number;
  /** Wait before retry k (1-based) is `retryDelayMs * 2^(k-1)` (default 300), at most `maxRetryDelayMs`. */
  retryDelayMs?: number;
  /** Longest wait between attempts (default 10 s). */
  maxRetryDelayMs?: number;
  /** Longest wait a 429/5xx answer's `Retry-After` may ask for (default 30 s; a longer ask waits this long). */
  maxRetryAfterMs?: number;
  /** Told before each wait between attempts: which attempt failed, how long the wait is, and the server's `Retry-After` in ms (null when it gave none). */
  onRetry?: (r: { attempt: number; waitMs: number; retryAfterMs: number | null }) => void;
  /** Longest wait for the headers or the next chunk before the attempt counts as stalled (default 30 s). */
  idleTimeoutMs?: number;
  /** Longest the whole download may take, retries included (default 1 hour). */
  timeoutMs?: number;
  /**
   * Most bytes the file may have: a larger Content-Length is refused before reading, a body stops
   * at it. Default: 16 GiB when the size is announced (a body never outgrows what it announced),
   * 2 GiB when it is not (chunked or compressed bodies).
   */
  maxBytes?: number;
  /** The size a listing gave; a body of another size is refused (and not cached). */
  expectedSize?: number;
  /**
   * Checks the complete bytes before they are cached or returned (e.g. that they parse as the
   * file's format); throw to refuse them. A throw that is not a PersonaSpaceError becomes
   * HubError `bad-response`.
   */
  validate?: (bytes: Uint8Array) => void | Promise<void>;
  /** Read from / write to this cache, keyed by URL. */
  cache?: FileCache;
  /** The cached set the file belongs to (recorded in the cache index). */
  setId?: string;
  /** Replace the global fetch (tests, instrumented clients). */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Sees the headers of each answer whose body is read (e.g. a listing's `Link`). */
  onHeaders?: (headers: Headers) => void;
}

function abortedError(url: string): HubError {
  return new HubError('aborted', `The download of ${fileLabel(url)} was cancelled.`, { url });
}

function statusError(url: string, status: number, statusText: string, retryAfter: number | null = null, attempts = 1): HubError {
  const file = fileLabel(url);
  if (status === 404) {
    return new HubError('not-found', `${file} was not found at ${hostLabel(url)} (404): check the repository, revision and path.`, { status, url });
  }
  if (status === 401 || status === 403) {
    return new HubError('forbidden', `${hostLabel(url)} refused access to ${file} (${status}): the repository may be gated or private.`, { status, url });
  }
  const busy = status === 429 || status === 503;
  const later = retryAfter !== null && retryAfter > 0 ? ` It asked to wait ${formatSeconds(retryAfter)} before trying again; try again later.` : busy ? ' The server is busy; try again later.' : '';
  return new HubError('http', `${hostLabel(url)} answered ${status}${statusText ? ' ' + statusText : ''} for ${file}${tries(attempts)}.${later}`, { status, url, attempts, ...(retryAfter !== null ? { retryAfterMs: retryAfter } : {}) });
}

function unreachableError(url: string, cause: unknown): HubError {
  // Node's fetch names protocol violations (an unreadable Content-Length, a broken chunk) in the
  // cause; browsers reject with a bare TypeError for those, DNS failures, refused connections and
  // CORS refusals alike, so the sentence names all three.
  const c = (cause as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (typeof c?.code === 'string' && /^HPE_/.test(c.code)) {
    return new HubError('bad-response', `${hostLabel(url)} sent a malformed HTTP answer for ${fileLabel(url)} (${String(c.message ?? c.code)}).`, { url, cause: c.code });
  }
  return new HubError(
    'network',
    `Could not reach ${hostLabel(url)} for ${fileLabel(url)}: you may be offline, the server may be down, or it does not allow requests from this page (CORS).`,
    { url, cause: String(cause) },
  );
}

function droppedError(url: string, loaded: number, total: number | null, attempts: number): HubError {
  const of = total != null ? ` of ${formatMB(total)}` : '';
  return new HubError(
    'network',
    `The connection to ${hostLabel(url)} dropped after ${formatMB(loaded)}${of} of ${fileLabel(url)}${tries(attempts)}; try again.`,
    { url, loaded, total, attempts },
  );
}

function tries(attempts: number): string {
  return attempts > 1 ? ` (${attempts} attempts)` : '';
}

function badResponse(url: string, what: string, details: Record<string, unknown> = {}): HubError {
  return new HubError('bad-response', `${hostLabel(url)} ${what}; nothing was kept.`, { url, ...details });
}

function tooLarge(url: string, size: number | null, max: number): HubError {
  const sz = size != null ? ` (${formatMB(size)})` : '';
  return new HubError('too-large', `${fileLabel(url)}${sz} is larger than the ${formatLimit(max)} one download may hold; it was not downloaded.`, { url, size, max });
}

class Stall extends Error {
  constructor(readonly kind: 'idle' | 'total') {
    super(kind);
  }
}

function timeoutError(url: string, kind: 'idle' | 'total', ms: number, loaded: number, attempts: number): HubError {
  const got = loaded > 0 ? ` after ${formatMB(loaded)}` : '';
  const msg =
    kind === 'idle'
      ? `${hostLabel(url)} stopped sending ${fileLabel(url)}${got}: nothing arrived for ${formatSeconds(ms)}${tries(attempts)}; the server may be overloaded, try again later.`
      : `Downloading ${fileLabel(url)} from ${hostLabel(url)} took longer than ${formatSeconds(ms)}${got}${tries(attempts)}; try again on a faster connection.`;
  return new HubError('timeout', msg, { url, kind, ms, loaded, attempts });
}

/**
 * A `Retry-After` header as milliseconds from `now`: delay-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`; a past date is 0). Null when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header == null) return null;
  const t = header.trim();
  if (/^\d{1,12}$/.test(t)) return Number(t) * 1000;
  // An HTTP-date names its weekday and zone; Date.parse alone would take "1" or "2026" as dates.
  if (!/^[A-Za-z]{3},? /.test(t) || !/(GMT|UTC|[+-]\d{4})$/i.test(t)) return null;
  const at = Date.parse(t);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
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

/**
 * `p`, unless `ms` pass first (then `onTimeout` runs and it rejects with Stall) or `signal` aborts
 * (it rejects with an AbortError). Does not rely on the fetch implementation honouring its signal.
 */
function within<T>(p: Promise<T>, ms: number, kind: 'idle' | 'total', onTimeout: () => void, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(new DOMException('aborted', 'AbortError'));
    };
    const t = setTimeout(() => {
      done();
      onTimeout();
      reject(new Stall(kind));
    }, Math.max(0, ms));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e) => {
        done();
        reject(e);
      },
    );
  });
}

/**
 * Growable byte buffer, never past `max`. With a known total it preallocates up to 256 MiB of it
 * (a Content-Length that lies costs at most that) and grows to exactly the total beyond.
 */
class Bytes {
  private buf: Uint8Array;
  private hint = 0;
  length = 0;
  constructor(readonly max: number) {
    this.buf = new Uint8Array(0);
  }
  push(chunk: Uint8Array): void {
    const need = this.length + chunk.length;
    if (need > this.buf.length) {
      let grown = Math.max(this.buf.length * 2, need, 65536);
      if (this.hint >= need) grown = Math.min(grown, this.hint);
      const next = new Uint8Array(Math.min(this.max, grown));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(chunk, this.length);
    this.length = need;
  }
  /** Empty it, expecting `total` bytes (0: unknown). */
  reset(total: number): void {
    this.length = 0;
    this.hint = total;
    const want = Math.min(total, 256 * 2 ** 20, this.max);
    if (want > this.buf.length) this.buf = new Uint8Array(want);
  }
  result(): Uint8Array {
    return this.buf.length === this.length ? this.buf : this.buf.slice(0, this.length);
  }
  head(n: number): Uint8Array {
    return this.buf.subarray(0, Math.min(n, this.length));
  }
}

interface ContentRange {
  start: number;
  end: number;
  total: number | null;
}

/** `Content-Range: bytes a-b/total` (null when absent or not of that shape, or not self-consistent). */
function parseContentRange(h: string | null): ContentRange | null {
  if (!h) return null;
  const m = /^bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/i.exec(h.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (!Number.isSafeInteger(end) || end < start || (total != null && (!Number.isSafeInteger(total) || end >= total))) return null;
  return { start, end, total };
}

/**
 * The Content-Length header as a number of bytes: null when absent; HubError `bad-response` when it
 * is not a plain non-negative integer or is beyond 2^53 (no real file is), `too-large` over `max`.
 */
function contentLength(res: Response, url: string, max: number): number | null {
  const raw = res.headers.get('content-length');
  if (raw == null) return null;
  const t = raw.trim();
  if (!/^\d+$/.test(t)) {
    throw badResponse(url, `announced an impossible size for ${fileLabel(url)} (Content-Length "${t.slice(0, 40)}")`, { contentLength: t.slice(0, 40) });
  }
  const n = Number(t);
  if (!Number.isSafeInteger(n)) {
    throw badResponse(url, `announced an impossible size for ${fileLabel(url)} (Content-Length ${t.length > 24 ? t.slice(0, 24) + '…' : t}, beyond 2^53 bytes)`, { contentLength: t.slice(0, 40) });
  }
  if (n > max) throw tooLarge(url, n, max);
  return n;
}

function encoded(res: Response): boolean {
  const enc = res.headers.get('content-encoding');
  return !!enc && enc.trim().toLowerCase() !== 'identity';
}

/** File names for which an HTML page is a plausible answer (everything else refuses one). */
const HTML_OK = /\.(html?|xhtml|xml|svg|md)$/i;

function looksLikeHtml(head: Uint8Array): boolean {
  let i = 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0xef || head[i] === 0xbb || head[i] === 0xbf)) i++;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(i, i + 64)).toLowerCase();
  return text.startsWith('<!doctype html') || text.startsWith('<html') || text.startsWith('<head') || text.startsWith('<body') || text.startsWith('<!-- ');
}

function htmlInstead(url: string, contentType: string | null): HubError {
  const ct = contentType ? ` (${contentType.split(';')[0].trim()})` : '';
  return badResponse(url, `answered with a web page${ct} instead of ${fileLabel(url)}: the address may lead to a sign-in, error or index page rather than the file`);
}

/**
 * Download `url` to memory with progress. Returns the file's bytes, complete and checked; only
 * those are cached. Throws HubError (`not-found`, `forbidden`, `http`, `network`, `aborted`,
 * `bad-response`, `too-large`, `timeout`) or what `validate` throws.
 */
export async function fetchWithProgress(url: string, opts: FetchOptions = {}): Promise<Uint8Array> {
  const { signal, onProgress, cache } = opts;
  const retries = Math.max(0, opts.retries ?? 2);
  const retryDelayMs = opts.retryDelayMs ?? 300;
  const maxRetryDelayMs = opts.maxRetryDelayMs ?? 10_000;
  const maxRetryAfterMs = Math.max(0, opts.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS);
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const totalMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const announcedMax = opts.maxBytes ?? DEFAULT_MAX_ANNOUNCED_BYTES;
  const unannouncedMax = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  /** The cap for the body being read: what was announced may be larger than what was not. */
  let maxBytes: number;
  const doFetch = opts.fetch ?? fetch;
  const htmlOk = HTML_OK.test(fileLabel(url));
  if (signal?.aborted) throw abortedError(url);
  if (opts.expectedSize != null && opts.expectedSize > announcedMax) throw tooLarge(url, opts.expectedSize, announcedMax);

  if (cache) {
    const hit = await cache.get(url);
    if (hit) {
      onProgress?.({ loaded: hit.length, total: hit.length, cached: true });
      return hit;
    }
  }

  const deadline = Date.now() + totalMs;
  const bytes = new Bytes(announcedMax);
  let total: number | null = null;
  let etag: string | null = null;
  let attempt = 0;
  let lastStall: 'idle' | 'total' | null = null;

  /**
   * Wait before the next attempt (exponential backoff; what the server's Retry-After asks, up to
   * maxRetryAfterMs, when it is longer), or throw when there is none left.
   */
  const retryOr = async (fail: () => HubError, after: number | null = null): Promise<void> => {
    if (attempt > retries) throw fail();
    const backoff = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** (attempt - 1));
    const wait = after === null ? backoff : Math.max(backoff, Math.min(after, maxRetryAfterMs));
    if (Date.now() + wait >= deadline) throw timeoutError(url, 'total', totalMs, bytes.length, attempt);
    opts.onRetry?.({ attempt, waitMs: wait, retryAfterMs: after });
    await sleep(wait, signal).catch(() => {
      throw abortedError(url);
    });
  };

  for (;;) {
    attempt++;
    const resumeFrom = bytes.length;
    const headers: Record<string, string> = { ...opts.headers };
    if (resumeFrom > 0) headers.Range = `bytes=${resumeFrom}-`;
    // One controller per attempt, so a stalled attempt can be cut without cancelling the download.
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const wait = <T>(p: Promise<T>): Promise<T> => {
      const left = deadline - Date.now();
      return within(p, Math.min(idleMs, left), idleMs < left ? 'idle' : 'total', () => ctl.abort(), ctl.signal);
    };
    try {
      let res: Response;
      try {
        res = await wait(doFetch(url, { signal: ctl.signal, headers }));
      } catch (e) {
        if (signal?.aborted) throw abortedError(url);
        if (e instanceof Stall) {
          lastStall = e.kind;
          if (e.kind === 'total') throw timeoutError(url, 'total', totalMs, bytes.length, attempt);
          await retryOr(() => timeoutError(url, 'idle', idleMs, bytes.length, attempt));
          continue;
        }
        const err = unreachableError(url, e);
        if (err.code === 'bad-response') throw err;
        await retryOr(() => (lastStall ? timeoutError(url, lastStall, idleMs, bytes.length, attempt) : err));
        continue;
      }

      let expectBody: number | null;
      if (res.status === 206 && resumeFrom > 0) {
        const cr = parseContentRange(res.headers.get('content-range'));
        const tag = res.headers.get('etag');
        const changed = (etag && tag && tag !== etag) || (cr && total != null && cr.total != null && cr.total !== total);
        if (!cr || cr.start !== resumeFrom || changed) {
          // A range we did not ask for, or the file changed on the server: start over from zero.
          await res.body?.cancel().catch(() => {});
          bytes.reset(0);
          total = null;
          await retryOr(() =>
            badResponse(url, changed ? `changed ${fileLabel(url)} while it was being downloaded` : `answered the request for the rest of ${fileLabel(url)} (from byte ${resumeFrom}) with ${cr ? `bytes ${cr.start}-${cr.end}` : 'no valid Content-Range'}`, { attempts: attempt }),
          );
          continue;
        }
        if (cr.total != null) total = cr.total;
        if (total != null && total > announcedMax) throw tooLarge(url, total, announcedMax);
        maxBytes = total != null ? announcedMax : unannouncedMax;
        expectBody = cr.end - cr.start + 1;
        const cl = contentLength(res, url, announcedMax);
        if (cl != null && !encoded(res) && cl !== expectBody) {
          throw badResponse(url, `sent a Content-Length of ${cl} for the ${expectBody} bytes ${cr.start}-${cr.end} of ${fileLabel(url)}`);
        }
      } else if (res.ok) {
        bytes.reset(0);
        const cl = contentLength(res, url, announcedMax);
        if (res.status === 206) {
          // Part of a file for a request without Range: only the whole file, as a range, is fine.
          const cr = parseContentRange(res.headers.get('content-range'));
          if (!cr || cr.start !== 0 || cr.total == null || cr.end + 1 !== cr.total) {
            await res.body?.cancel().catch(() => {});
            throw badResponse(url, `answered with part of ${fileLabel(url)} (${cr ? `bytes ${cr.start}-${cr.end} of ${cr.total ?? 'unknown'}` : 'no valid Content-Range'}) although the whole file was asked for`);
          }
          total = cr.total;
          if (total > announcedMax) throw tooLarge(url, total, announcedMax);
        } else {
          total = encoded(res) ? null : cl;
        }
        expectBody = total;
        maxBytes = total != null ? announcedMax : unannouncedMax;
        etag = res.headers.get('etag');
        const ct = res.headers.get('content-type');
        if (!htmlOk && ct && /^\s*(text\/html|application\/xhtml\+xml)\b/i.test(ct)) {
          await res.body?.cancel().catch(() => {});
          throw htmlInstead(url, ct);
        }
        if (total != null) bytes.reset(total);
      } else if (res.status === 416 && resumeFrom > 0 && total != null && resumeFrom >= total) {
        break; // we already have every byte
      } else {
        await res.body?.cancel().catch(() => {});
        if (res.status >= 500 || res.status === 429) {
          const after = retryAfterMs(res.headers.get('retry-after'));
          await retryOr(() => statusError(url, res.status, res.statusText, after, attempt), after);
          continue;
        }
        throw statusError(url, res.status, res.statusText);
      }

      opts.onHeaders?.(res.headers);
      onProgress?.({ loaded: bytes.length, total });
      let dropped = false;
      const startLen = bytes.length;
      if (res.body) {
        const reader = res.body.getReader();
        try {
          for (;;) {
            const { done, value } = await wait(reader.read());
            if (done) break;
            if (bytes.length + value.length > maxBytes) throw tooLarge(url, total, maxBytes);
            if (expectBody != null && bytes.length - startLen + value.length > expectBody) {
              throw badResponse(url, `sent more than the ${expectBody} bytes it announced for ${fileLabel(url)}`);
            }
            bytes.push(value);
            onProgress?.({ loaded: bytes.length, total });
          }
        } catch (e) {
          if (signal?.aborted) throw abortedError(url);
          if (e instanceof HubError) throw e;
          if (e instanceof Stall) {
            lastStall = e.kind;
            if (e.kind === 'total') throw timeoutError(url, 'total', totalMs, bytes.length, attempt);
            await retryOr(() => timeoutError(url, 'idle', idleMs, bytes.length, attempt));
            continue;
          }
          dropped = true;
        } finally {
          void reader.cancel().catch(() => {});
        }
      } else {
        const all = new Uint8Array(await wait(res.arrayBuffer()));
        if (bytes.length + all.length > maxBytes) throw tooLarge(url, total, maxBytes);
        bytes.push(all);
      }
      if (signal?.aborted) throw abortedError(url);
      // A body shorter than announced is a drop too (some stacks end the stream quietly).
      if (!dropped && total != null && bytes.length < total) dropped = true;
      if (!dropped) break;
      lastStall = null;
      await retryOr(() => droppedError(url, bytes.length, total, attempt));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  if (total != null && bytes.length !== total) {
    throw badResponse(url, `sent ${bytes.length} bytes of ${fileLabel(url)} where it announced ${total}`);
  }
  if (opts.expectedSize != null && bytes.length !== opts.expectedSize) {
    throw badResponse(url, `sent ${bytes.length} bytes of ${fileLabel(url)} where the folder listing says ${opts.expectedSize}`, { expected: opts.expectedSize, got: bytes.length });
  }
  if (!htmlOk && looksLikeHtml(bytes.head(256))) throw htmlInstead(url, null);
  const out = bytes.result();
  if (opts.validate) {
    try {
      await opts.validate(out);
    } catch (e) {
      if (e instanceof PersonaSpaceError) throw e;
      throw badResponse(url, `sent bytes for ${fileLabel(url)} that could not be read (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (cache) await cache.put(url, out, opts.setId);
  return out;
}
