/** Number formats shared by the views and exports, so the page and the files agree. */

/** Explained variance as shown on the scree chart: one decimal and a space before %, e.g. "27.6 %". */
export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)} %`;
}

/** Three decimals, e.g. cos(axis, PC1) "0.818". */
export function format3(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : '–';
}

/**
 * Signed numbers for coordinates on cards and lists with `sig` significant digits (at least 4),
 * in plain notation up to 10^7, so a large-norm model's values (Gemma's are in the thousands)
 * keep their digits: 12345.6 reads "12346", not "1.23e+4".
 */
export function formatCoord(x: number, sig = 4): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1e7 || a < 1e-4) return x.toExponential(Math.max(2, sig - 1));
  const decimals = Math.max(0, Math.min(9, sig - 1 - Math.floor(Math.log10(a))));
  return x.toFixed(decimals);
}

/**
 * The fewest significant digits (from `min`, at most 9) with which the distinct values of one
 * column print as distinct strings, so a ranked list never shows ties that are not there.
 */
export function digitsToSeparate(values: ArrayLike<number>, min = 4): number {
  const v = Array.from(values).filter(Number.isFinite).sort((p, q) => p - q);
  for (let sig = min; sig < 9; sig++) {
    let ok = true;
    for (let i = 1; i < v.length && ok; i++) if (v[i] !== v[i - 1] && formatCoord(v[i], sig) === formatCoord(v[i - 1], sig)) ok = false;
    if (ok) return sig;
  }
  return 9;
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
