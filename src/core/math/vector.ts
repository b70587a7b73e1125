/**
 * Small vector helpers over typed arrays. Sums are accumulated in float64 (JS numbers), whatever
 * the storage type, so a dot product of two float32 vectors is exact to float64 rounding.
 */
export type Vec = Float32Array | Float64Array | readonly number[];

export function dot(a: Vec, b: Vec): number {
  const n = a.length;
  if (b.length !== n) throw new RangeError(`dot: lengths differ (${n} vs ${b.length}).`);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return s0 + s1 + s2 + s3;
}

export function norm(a: Vec): number {
  return Math.sqrt(dot(a, a));
}

/** Cosine similarity; 0 when either vector is zero (there is no direction to compare). */
export function cosine(a: Vec, b: Vec): number {
  const na = norm(a), nb = norm(b);
  if (na === 0 || nb === 0) return 0;
  return dot(a, b) / (na * nb);
}

/** a - b, in float64. */
export function sub(a: Vec, b: Vec): Float64Array {
  const n = a.length;
  if (b.length !== n) throw new RangeError(`sub: lengths differ (${n} vs ${b.length}).`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i] - b[i];
  return out;
}

/** Mean of the rows of an n x d row-major matrix, in float64. */
export function rowMean(x: Vec, n: number, d: number): Float64Array {
  if (x.length < n * d) throw new RangeError(`rowMean: ${x.length} values cannot hold ${n} x ${d}.`);
  const m = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) m[j] += x[o + j];
  }
  if (n > 0) for (let j = 0; j < d; j++) m[j] /= n;
  return m;
}

/** Mean of the listed rows of an n x d row-major matrix, in float64. */
export function meanOfRows(x: Vec, d: number, rows: readonly number[]): Float64Array {
  const m = new Float64Array(d);
  for (const r of rows) {
    const o = r * d;
    for (let j = 0; j < d; j++) m[j] += x[o + j];
  }
  if (rows.length > 0) for (let j = 0; j < d; j++) m[j] /= rows.length;
  return m;
}
