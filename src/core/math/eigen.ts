/**
 * Symmetric eigendecomposition in float64: Householder reduction to tridiagonal form followed by
 * the implicit QL algorithm with Wilkinson-style shifts (the classical tred2/tql2 pair, as in
 * EISPACK and JAMA), written over flat typed arrays.
 *
 * Storage note: the orthogonal matrix is kept transposed (`vt`, row j = column j of V), so every
 * inner loop walks memory contiguously; at the end row k of `vectors` is the k-th eigenvector.
 */
import { householderKernels, type HouseholderKernels } from './eigen-wasm';

export interface SymmetricEigen {
  n: number;
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** n x n row-major; row k is the unit eigenvector of values[k]. */
  vectors: Float64Array;
}

const EPS = 2 ** -52;

function hypot(a: number, b: number): number {
  // Math.hypot is slow in V8; scale to avoid overflow/underflow instead.
  const x = Math.abs(a), y = Math.abs(b);
  if (x > y) { const r = y / x; return x * Math.sqrt(1 + r * r); }
  if (y === 0) return 0;
  const r = x / y;
  return y * Math.sqrt(1 + r * r);
}

/**
 * Eigenvalues and eigenvectors of the symmetric n x n matrix `a` (row-major, symmetric;
 * both triangles are used). `a` is not modified.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (a.length < n * n) throw new RangeError(`symmetricEigen: ${a.length} values cannot hold ${n} x ${n}.`);
  // vt[c * n + r] holds V[r][c]; V starts as A, and A is symmetric, so vt starts as A too.
  const vt = Float64Array.from(a.subarray(0, n * n));
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { n, values: d, vectors: vt };
  tred2(vt, d, e, n);
  tql2(vt, d, e, n);
  // Sort ascending (tql2 leaves them nearly sorted; a permutation sort keeps vectors in step).
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[i] - d[j]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    values[k] = d[order[k]];
    vectors.set(vt.subarray(order[k] * n, order[k] * n + n), k * n);
  }
  return { n, values, vectors };
}

/** Householder tridiagonalisation; on return d = diagonal, e = sub-diagonal (e[0] = 0), vt = Q^T. */
function tred2(vt: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  householderReduce(vt, d, e, n);
  accumulate(vt, d, e, n);
}

/**
 * The reduction half of tred2. On return: the tridiagonal has diagonal vt[i * n + i] and
 * sub-diagonal e[i] (coupling i - 1 and i); reflector i (i = 1 .. n-1) is I - u u^T / h with
 * u = vt[i * n .. i * n + i) and h = d[i] (h = 0: identity); Q = P_{n-1} ... P_1.
 */
function householderReduce(vt: Float64Array, d: Float64Array, e: Float64Array, n: number, hk: HouseholderKernels | null = null): void {
  // V[r][c] === vt[c * n + r]
  for (let j = 0; j < n; j++) d[j] = vt[j * n + (n - 1)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = vt[j * n + (i - 1)];
        vt[j * n + i] = 0;
        vt[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // e = A d (A symmetric, lower triangle held in column j of V = row j of vt).
      if (hk) hk.symv(n, i);
      else for (let j = 0; j < i; j++) {
        const cj = j * n;
        f = d[j];
        vt[i * n + j] = f;
        g = e[j] + vt[cj + j] * f;
        for (let k = j + 1; k < i; k++) {
          const v = vt[cj + k];
          g += v * d[k];
          e[k] += v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      if (hk) hk.rank2(n, i);
      else for (let j = 0; j < i; j++) {
        const cj = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k < i; k++) vt[cj + k] -= f * e[k] + g * d[k];
        d[j] = vt[cj + (i - 1)];
        vt[cj + i] = 0;
      }
    }
    d[i] = h;
  }
}

/** The accumulation half of tred2: builds Q (transposed, in vt) and moves the diagonal into d. */
function accumulate(vt: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 0; i < n - 1; i++) {
    const ci = i * n;
    const ci1 = (i + 1) * n;
    vt[ci + (n - 1)] = vt[ci + i];
    vt[ci + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = vt[ci1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const cj = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += vt[ci1 + k] * vt[cj + k];
        for (let k = 0; k <= i; k++) vt[cj + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) vt[ci1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = vt[j * n + (n - 1)];
    vt[j * n + (n - 1)] = 0;
  }
  vt[(n - 1) * n + (n - 1)] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e), accumulating rotations into vt (eigenvalues only when vt is null). */
function tql2(vt: Float64Array | null, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const maxIter = 60;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= EPS * tst1) break;
      m++;
    }
    if (m === n) m = n - 1; // e[n-1] is 0, so this only guards against NaN input
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > maxIter) throw new RangeError('symmetricEigen: the QL iteration did not converge (is the matrix finite?).');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = 1, c3 = 1;
        const el1 = e[l + 1];
        let s = 0, s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          // Rotate columns i and i+1 of V = rows i and i+1 of vt.
          if (!vt) continue;
          const ci = i * n, ci1 = ci + n;
          for (let k = 0; k < n; k++) {
            const vk1 = vt[ci1 + k];
            const vk = vt[ci + k];
            vt[ci1 + k] = s * vk + c * vk1;
            vt[ci + k] = c * vk - s * vk1;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > EPS * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

export interface TopEigen {
  n: number;
  /** All eigenvalues, ascending. */
  values: Float64Array;
  /** k x n row-major: row t is the unit eigenvector of the t-th largest eigenvalue. */
  vectors: Float64Array;
  k: number;
}

/**
 * All eigenvalues and the eigenvectors of the k largest, for a symmetric n x n matrix: Householder
 * tridiagonalisation (without forming Q), QL for the eigenvalues, inverse iteration on the
 * tridiagonal for the k wanted eigenvectors (re-orthogonalised inside clusters of close
 * eigenvalues, as LAPACK's dstein does) and the reflectors applied to those k vectors only.
 * About 2/3 n^3 multiply-adds instead of the ~4 n^3 that forming every eigenvector costs.
 */
export function symmetricEigenTop(a: Float64Array, n: number, k: number): TopEigen {
  if (a.length < n * n) throw new RangeError(`symmetricEigenTop: ${a.length} values cannot hold ${n} x ${n}.`);
  k = Math.max(0, Math.min(k, n));
  if (n === 0) return { n, values: new Float64Array(0), vectors: new Float64Array(0), k: 0 };
  // With WebAssembly SIMD the work arrays live in the kernels' memory (views valid for this call).
  const hk = householderKernels();
  let vt: Float64Array, h: Float64Array, sub: Float64Array;
  if (hk) {
    ({ vt, d: h, e: sub } = hk.alloc(n));
    vt.set(a.subarray(0, n * n));
    h.fill(0);
    sub.fill(0);
  } else {
    vt = Float64Array.from(a.subarray(0, n * n));
    h = new Float64Array(n);
    sub = new Float64Array(n);
  }
  householderReduce(vt, h, sub, n, hk);
  const diag = new Float64Array(n);
  for (let i = 0; i < n; i++) diag[i] = vt[i * n + i];
  sub[0] = 0;

  // Eigenvalues of the tridiagonal (tql2 wants the sub-diagonal in e[1..n-1], as left by the reduction).
  const ev = Float64Array.from(diag);
  const ee = Float64Array.from(sub);
  tql2(null, ev, ee, n);
  const values = ev.sort();

  // Inverse iteration, on the tridiagonal scaled to unit max entry (keeps the iterates in range).
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(diag[i]), Math.abs(sub[i]));
  const vectors = new Float64Array(k * n);
  if (scale === 0) {
    // The zero matrix: any orthonormal basis; take the standard one.
    for (let t = 0; t < k; t++) vectors[t * n + t] = 1;
    return { n, values, vectors, k };
  }
  const ds = new Float64Array(n), bs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ds[i] = diag[i] / scale;
    bs[i] = sub[i] / scale;
  }
  const lu = new TridiagonalLU(n);
  const x = new Float64Array(n);
  const clusterTol = 1e-3; // relative to the scaled matrix's max entry, as dstein's ORTOL
  for (let t = 0; t < k; t++) {
    const lam = values[n - 1 - t] / scale;
    // Earlier vectors in the same chain of close eigenvalues: keep orthogonal to them.
    let first = t;
    while (first > 0 && Math.abs(values[n - first] - values[n - 1 - first]) / scale <= clusterTol) first--;
    lu.factor(ds, bs, lam);
    let seed = 0x9e3779b9 ^ (t * 0x85ebca6b);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      x[i] = seed / 2 ** 32 - 0.5;
    }
    for (let it = 0; it < 4; it++) {
      normalise(x);
      lu.solve(x);
      for (let pass = 0; pass < 2; pass++) {
        for (let q = first; q < t; q++) {
          const v = vectors.subarray(q * n, q * n + n);
          let s = 0;
          for (let i = 0; i < n; i++) s += v[i] * x[i];
          for (let i = 0; i < n; i++) x[i] -= s * v[i];
        }
      }
    }
    normalise(x);
    vectors.set(x, t * n);
  }
  // Back to the original basis: z <- P_{n-1} ... P_1 z.
  for (let t = 0; t < k; t++) {
    const z = vectors.subarray(t * n, t * n + n);
    for (let i = 1; i < n; i++) {
      const hi = h[i];
      if (hi === 0) continue;
      const u = i * n;
      let g = 0;
      for (let j = 0; j < i; j++) g += vt[u + j] * z[j];
      g /= hi;
      for (let j = 0; j < i; j++) z[j] -= g * vt[u + j];
    }
    normalise(z);
  }
  return { n, values, vectors, k };
}

function normalise(x: Float64Array): void {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  if (s === 0) {
    x[0] = 1;
    return;
  }
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < x.length; i++) x[i] *= inv;
}

/** LU with partial pivoting of T - lambda I, T tridiagonal (diag d, sub-diagonal b[i] between i-1 and i). */
class TridiagonalLU {
  private readonly u0: Float64Array;
  private readonly u1: Float64Array;
  private readonly u2: Float64Array;
  private readonly m: Float64Array;
  private readonly swap: Uint8Array;
  constructor(private readonly n: number) {
    this.u0 = new Float64Array(n);
    this.u1 = new Float64Array(n);
    this.u2 = new Float64Array(n);
    this.m = new Float64Array(n);
    this.swap = new Uint8Array(n);
  }

  factor(d: Float64Array, b: Float64Array, lambda: number): void {
    const { n, u0, u1, u2, m, swap } = this;
    // A zero pivot is replaced by a tiny one: the solve then returns a huge multiple of the
    // eigenvector, which is exactly what inverse iteration wants.
    const tiny = EPS * 4;
    let cD = d[0] - lambda;
    let cU = n > 1 ? b[1] : 0;
    for (let i = 0; i < n - 1; i++) {
      const nL = b[i + 1], nD = d[i + 1] - lambda, nU = i + 2 < n ? b[i + 2] : 0;
      if (Math.abs(nL) > Math.abs(cD)) {
        swap[i] = 1;
        u0[i] = nL; u1[i] = nD; u2[i] = nU;
        const f = cD / nL;
        m[i] = f;
        cD = cU - f * nD;
        cU = -f * nU;
      } else {
        swap[i] = 0;
        if (Math.abs(cD) < tiny) cD = cD < 0 ? -tiny : tiny;
        u0[i] = cD; u1[i] = cU; u2[i] = 0;
        const f = nL / cD;
        m[i] = f;
        cD = nD - f * cU;
        cU = nU;
      }
    }
    if (Math.abs(cD) < tiny) cD = cD < 0 ? -tiny : tiny;
    u0[n - 1] = cD;
  }

  /** Solves in place. */
  solve(y: Float64Array): void {
    const { n, u0, u1, u2, m, swap } = this;
    for (let i = 0; i < n - 1; i++) {
      if (swap[i]) { const t = y[i]; y[i] = y[i + 1]; y[i + 1] = t; }
      y[i + 1] -= m[i] * y[i];
    }
    y[n - 1] /= u0[n - 1];
    if (n > 1) y[n - 2] = (y[n - 2] - u1[n - 2] * y[n - 1]) / u0[n - 2];
    for (let i = n - 3; i >= 0; i--) y[i] = (y[i] - u1[i] * y[i + 1] - u2[i] * y[i + 2]) / u0[i];
  }
}
