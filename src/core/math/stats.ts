/**
 * Descriptive statistics over plain numbers: percentiles as numpy's default (linear
 * interpolation between closest ranks), Pearson and Spearman correlation (average ranks for ties).
 */
export type Numbers = ArrayLike<number>;

function sortedCopy(values: Numbers): Float64Array {
  const s = Float64Array.from(values as ArrayLike<number>);
  s.sort();
  return s;
}

function percentileOfSorted(s: Float64Array, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be in [0, 100], got ${p}.`);
  const h = ((s.length - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/** The p-th percentile (p in [0, 100]); NaN for no values. Same as numpy.percentile(values, p). */
export function percentile(values: Numbers, p: number): number {
  if (values.length === 0) return NaN;
  return percentileOfSorted(sortedCopy(values), p);
}

/** Several percentiles at once (sorts once). */
export function percentiles(values: Numbers, ps: readonly number[]): number[] {
  if (values.length === 0) return ps.map(() => NaN);
  const s = sortedCopy(values);
  return ps.map((p) => percentileOfSorted(s, p));
}

export function mean(values: Numbers): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length ? s / values.length : NaN;
}

/** Pearson correlation; NaN when fewer than two pairs or either side is constant. */
export function pearson(a: Numbers, b: Numbers): number {
  const n = a.length;
  if (b.length !== n) throw new RangeError(`pearson: lengths differ (${n} vs ${b.length}).`);
  if (n < 2) return NaN;
  const ma = mean(a), mb = mean(b);
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] - ma, y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa === 0 || sbb === 0) return NaN;
  const r = sab / Math.sqrt(saa * sbb);
  return Math.max(-1, Math.min(1, r));
}

/** 1-based ranks; tied values share the average of their ranks (as scipy.stats.rankdata). */
export function ranks(values: Numbers): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const r = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && values[order[j]] === values[order[i]]) j++;
    const avg = (i + 1 + j) / 2; // mean of ranks i+1 .. j
    for (let k = i; k < j; k++) r[order[k]] = avg;
    i = j;
  }
  return r;
}

/** Spearman rank correlation: Pearson of the average ranks. */
export function spearman(a: Numbers, b: Numbers): number {
  if (b.length !== a.length) throw new RangeError(`spearman: lengths differ (${a.length} vs ${b.length}).`);
  return pearson(ranks(a), ranks(b));
}
