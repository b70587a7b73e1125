/** Number formats shared by the views and exports, so the page and the files agree. */

/** Explained variance as shown on the scree chart: one decimal and a space before %, e.g. "27.6 %". */
export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)} %`;
}

/** Three decimals, e.g. cos(axis, PC1) "0.818". */
export function format3(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : '–';
}

/** Compact signed numbers for coordinates on cards and lists. */
export function formatCoord(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return x.toExponential(2);
  return x.toFixed(a >= 100 ? 1 : a >= 10 ? 2 : 3);
}

/** Decimal units (1 MB = 10^6 bytes), as the hub and browsers' download lists show sizes. */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** "<files done>/<total> files · <MB> MB" as the progress line reads. */
export function formatProgress(done: number, total: number, bytes: number, totalBytes?: number): string {
  const mb = (bytes / 1e6).toFixed(1);
  const of = totalBytes ? ` of ${(totalBytes / 1e6).toFixed(1)}` : '';
  return `${done}/${total} files · ${mb}${of} MB`;
}
