/**
 * Failures of hub access, each with a sentence a person can act on. `code` is one of:
 * - `not-found`: the server answered 404 (wrong repo, revision or file name);
 * - `forbidden`: 401/403 (a gated or private repo);
 * - `http`: any other non-success status (after retries for 5xx);
 * - `network`: the server could not be reached, or the connection dropped mid-download;
 * - `aborted`: the person cancelled;
 * - `bad-url`: an address that cannot be understood;
 * - `bad-listing`: the tree API answered something that is not a file listing, or a walk that
 *   does not end (a folder listing itself, too deep, too many entries);
 * - `bad-response`: the answer is not the file: a web page instead of it, a size header that
 *   cannot be true, a range we did not ask for, fewer or more bytes than promised, or bytes that
 *   do not parse as the file's format (nothing of it is cached);
 * - `too-large`: the file (or set) is over the size this tool downloads, refused before or
 *   while reading, never after holding it all;
 * - `timeout`: the server stopped sending (per-read idle timeout) or the whole download took
 *   longer than allowed, after the retries.
 */
import { PersonaSpaceError } from '../errors';

export type HubErrorCode =
  | 'not-found'
  | 'forbidden'
  | 'http'
  | 'network'
  | 'aborted'
  | 'bad-url'
  | 'bad-listing'
  | 'bad-response'
  | 'too-large'
  | 'timeout';

export class HubError extends PersonaSpaceError {
  declare readonly code: HubErrorCode;
  /** HTTP status when the server answered, else undefined. */
  readonly status?: number;
  readonly url?: string;
  constructor(code: HubErrorCode, message: string, details?: Record<string, unknown> & { status?: number; url?: string }) {
    super(code, message, details);
    this.name = 'HubError';
    this.status = details?.status;
    this.url = details?.url;
  }
}

export function isAbortError(e: unknown): boolean {
  return (
    (e instanceof HubError && e.code === 'aborted') ||
    (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'AbortError')
  );
}

/** The last path segment of a URL, for messages ("ghost.pt" rather than a 120-character address). */
export function fileLabel(url: string): string {
  try {
    const u = new URL(url);
    const seg = u.pathname.split('/').filter(Boolean);
    return decodeURIComponent(seg[seg.length - 1] ?? u.host);
  } catch {
    return url;
  }
}

export function hostLabel(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function formatMB(bytes: number): string {
  return (bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1) + ' MB';
}

/** Sizes for limits: "2 GiB", "512 MiB", "64 kB". */
export function formatLimit(bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes >= 2 ** 20) return `${Math.round(bytes / 2 ** 20)} MiB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

/** Seconds for messages: "30 s", "0.2 s". */
export function formatSeconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${Number((ms / 1000).toPrecision(2))} s`;
}
