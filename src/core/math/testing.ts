/** Deterministic helpers for tests and benchmarks (no Math.random, so failures reproduce). */

/** A small fast PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller). */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = 1 - rand();
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** `count` orthonormal vectors of length `len` (rows, modified Gram-Schmidt twice), optionally also orthogonal to `avoid`. */
export function orthonormalRows(count: number, len: number, rand: () => number, avoid: Float64Array[] = []): Float64Array[] {
  const g = gaussian(rand);
  const rows: Float64Array[] = [];
  const against = [...avoid];
  while (rows.length < count) {
    const v = Float64Array.from({ length: len }, g);
    for (let pass = 0; pass < 2; pass++) {
      for (const q of against) {
        let s = 0;
        for (let j = 0; j < len; j++) s += q[j] * v[j];
        for (let j = 0; j < len; j++) v[j] -= s * q[j];
      }
    }
    let nn = 0;
    for (let j = 0; j < len; j++) nn += v[j] * v[j];
    const inv = 1 / Math.sqrt(nn);
    for (let j = 0; j < len; j++) v[j] *= inv;
    rows.push(v);
    against.push(v);
  }
  return rows;
}

/**
 * An n x d matrix with a known PCA: mean + sum_k s_k a_k b_k^T, where the a_k (length n) are
 * orthonormal and orthogonal to the all-ones vector (so the columns are already centred) and the
 * b_k (length d) are orthonormal. The eigenvalues of the centred Gram matrix are exactly s_k^2.
 */
export function plantedMatrix(n: number, d: number, singular: number[], seed: number): { x: Float64Array; mean: Float64Array; a: Float64Array[]; b: Float64Array[] } {
  const rand = rng(seed);
  const ones = new Float64Array(n).fill(1 / Math.sqrt(n));
  const a = orthonormalRows(singular.length, n, rand, [ones]);
  const b = orthonormalRows(singular.length, d, rand);
  const g = gaussian(rand);
  const mean = Float64Array.from({ length: d }, () => 3 * g());
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let v = mean[j];
      for (let t = 0; t < singular.length; t++) v += singular[t] * a[t][i] * b[t][j];
      x[i * d + j] = v;
    }
  }
  return { x, mean, a, b };
}
