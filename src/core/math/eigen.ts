/**
 * Symmetric eigendecomposition in float64: Householder reduction to tridiagonal form followed by
 * the implicit QL algorithm with Wilkinson-style shifts (the classical tred2/tql2 pair, as in
 * EISPACK and JAMA), written over flat typed arrays.
 *
 * Storage note: the orthogonal matrix is kept transposed (`vt`, row j = column j of V), so every
 * inner loop walks memory contiguously; at the end row k of `vectors` is the k-th eigenvector.
 */
import { householderKernels, krylovKernels, type HouseholderKernels } from './eigen-wasm';

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
  return sortedPairs(d, vt, n);
}

/** Eigenvalues d and eigenvectors (rows of vt) sorted ascending (tql2 leaves them nearly sorted). */
function sortedPairs(d: Float64Array, vt: Float64Array, n: number): SymmetricEigen {
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

export interface LanczosEigen {
  n: number;
  k: number;
  /** The k largest eigenvalues, descending. */
  values: Float64Array;
  /** k x n row-major: row t is the unit eigenvector of values[t]. */
  vectors: Float64Array;
  /** Products with the matrix that were needed. */
  steps: number;
}

export interface LanczosOptions {
  /** Every wanted Ritz pair has |A y - theta y| <= tol * |A| on return (default 1e-11). */
  tol?: number;
  /** Give up (return null) after this many products with the matrix (default n). */
  maxSteps?: number;
}

/**
 * The Lanczos basis (rows of Q, `stride` apart, zero beyond n), the work vector z, and the two
 * operations on them: z = A q_j, and z -= Q Q^T z over the first m rows (coefficients into h).
 * WebAssembly SIMD (eigen-wasm.ts) where available, plain JS otherwise.
 */
interface KrylovSpace {
  stride: number;
  Q: Float64Array;
  z: Float64Array;
  product(j: number): void;
  project(m: number, h: Float64Array): void;
}

function krylovSpace(a: Float64Array, n: number, rows: number): KrylovSpace {
  const kr = krylovKernels();
  if (kr) {
    const { stride, m, a: Q, x: z, y } = kr.alloc(n, rows);
    for (let i = 0; i < n; i++) m.set(a.subarray(i * n, i * n + n), i * stride);
    return {
      stride, Q, z,
      product(j) {
        z.set(Q.subarray(j * stride, j * stride + n));
        kr.gemvM(n);
        z.set(y.subarray(0, n));
      },
      project(mm, h) {
        kr.gemvA(mm);
        for (let i = 0; i < mm; i++) h[i] = y[i];
        kr.axpyA(mm);
      },
    };
  }
  const stride = n;
  const Q = new Float64Array(rows * n);
  const z = new Float64Array(n);
  const q = new Float64Array(n);
  return {
    stride, Q, z,
    product(j) {
      q.set(Q.subarray(j * n, j * n + n));
      for (let i = 0; i < n; i++) {
        const o = i * n;
        let s = 0;
        for (let t = 0; t < n; t++) s += a[o + t] * q[t];
        z[i] = s;
      }
    },
    project(mm, h) {
      for (let i = 0; i < mm; i++) {
        const o = i * n;
        let s = 0;
        for (let t = 0; t < n; t++) s += Q[o + t] * z[t];
        h[i] = s;
      }
      for (let i = 0; i < mm; i++) {
        const o = i * n;
        const s = h[i];
        for (let t = 0; t < n; t++) z[t] -= s * Q[o + t];
      }
    },
  };
}

/**
 * The k largest eigenpairs of a symmetric n x n matrix by Lanczos with full reorthogonalisation:
 * every new Lanczos vector is orthogonalised against all the earlier ones twice (classical
 * Gram-Schmidt, twice), so the tridiagonal's Ritz values carry no spurious copies. A fixed
 * pseudo-random start (reproducible). Converged when each of the k largest Ritz pairs has the
 * residual beta_m |s_m| <= tol |A| (|A| estimated from the tridiagonal); checked every few steps.
 *
 * Multiplicities: single-vector Lanczos sees one copy of a repeated eigenvalue until the Krylov
 * space becomes invariant (beta ~ 0). It then restarts from a new pseudo-random vector orthogonal
 * to all earlier ones; a restarted block that in turn becomes invariant holds every distinct
 * eigenvalue left (with probability 1), so once such a block's largest Ritz value is no larger
 * than the k-th overall, nothing larger remains (after a restart only that, or exhausting the
 * space, ends the run). A repeated eigenvalue that never causes a breakdown (an exactly repeated
 * top eigenvalue of a larger matrix) is seen once: matrices from real, rounded data do not have
 * those, and callers needing certainty use symmetricEigenTop.
 *
 * Cost: one product with A (n^2) and 4 n j multiply-adds of reorthogonalisation at step j; for
 * the top 3 of a 275 x 275 persona Gram matrix 11-25 steps, against the 2/3 n^3 of the
 * tridiagonal reduction. Returns null when not converged within maxSteps (then use
 * symmetricEigenTop); with maxSteps = n it always converges (the Krylov space is then everything).
 */
export function lanczosTop(a: Float64Array, n: number, k: number, opts: LanczosOptions = {}): LanczosEigen | null {
  if (a.length < n * n) throw new RangeError(`lanczosTop: ${a.length} values cannot hold ${n} x ${n}.`);
  k = Math.max(0, Math.min(k, n));
  const tol = opts.tol ?? 1e-11;
  const maxSteps = Math.max(1, Math.min(n, opts.maxSteps ?? n));
  if (k === 0) return { n, k, values: new Float64Array(0), vectors: new Float64Array(0), steps: 0 };
  const space = krylovSpace(a, n, maxSteps);
  const { Q, z, stride } = space;
  const alpha = new Float64Array(maxSteps);
  const beta = new Float64Array(maxSteps); // beta[j] couples Lanczos vectors j and j + 1
  const h = new Float64Array(maxSteps);
  const g = new Float64Array(maxSteps);
  let seed = 0x2545f491;
  const normZ = () => {
    let s = 0;
    for (let i = 0; i < n; i++) s += z[i] * z[i];
    return Math.sqrt(s);
  };
  // z -= Q Q^T z over rows 0..m, twice; h = both passes' coefficients.
  const orthogonalise = (m: number) => {
    space.project(m, h);
    space.project(m, g);
    for (let i = 0; i < m; i++) h[i] += g[i];
  };
  // A unit vector orthogonal to rows 0..m into row m; false when none is left (numerically).
  const newStart = (m: number): boolean => {
    for (let attempt = 0; attempt < 3; attempt++) {
      for (let i = 0; i < n; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        z[i] = seed / 2 ** 32 - 0.5;
      }
      const before = normZ();
      if (m > 0) orthogonalise(m);
      const after = normZ();
      if (after > 1e-3 * before) {
        for (let t = 0; t < n; t++) Q[m * stride + t] = z[t] / after;
        return true;
      }
    }
    return false;
  };
  newStart(0);
  let anorm = 0;
  let blockStart = 0; // first Lanczos vector of the current block (after the last restart)
  let lastCheck = 0;
  for (let j = 0; j < maxSteps; j++) {
    space.product(j);
    orthogonalise(j + 1);
    alpha[j] = h[j];
    let b = normZ();
    anorm = Math.max(anorm, Math.abs(alpha[j]) + b + (j > 0 ? beta[j - 1] : 0));
    if (anorm === 0) break; // the zero matrix
    const m = j + 1;
    const breakdown = b <= anorm * n * EPS;
    if (breakdown) b = 0;
    beta[j] = b;
    const exhausted = m === n;
    // After a restart only an invariant block (or the whole space) ends the run: a restarted
    // block's largest Ritz value may still be rising towards the k-th.
    const check = exhausted || (breakdown ? blockStart > 0 : blockStart === 0 && m >= k + 2 && m - lastCheck >= 3);
    if (check && m >= k) {
      lastCheck = m;
      const ritz = tridiagonalEigen(alpha, beta, m); // ascending; row t = eigenvector of values[t]
      let done = exhausted;
      if (!done && breakdown) {
        // A restarted block became invariant: done when it holds nothing above the k-th value.
        let blockMax = -Infinity;
        for (let t = 0; t < m; t++) {
          let w = 0;
          for (let i = blockStart; i < m; i++) w += ritz.vectors[t * m + i] ** 2;
          if (w > 0.5) blockMax = Math.max(blockMax, ritz.values[t]);
        }
        done = blockMax <= ritz.values[m - k] + tol * anorm;
      } else if (!done) {
        done = true;
        for (let t = m - 1; t >= m - k && done; t--) if (Math.abs(b * ritz.vectors[t * m + m - 1]) > tol * anorm) done = false;
      }
      if (done) return ritzPairs(Q, stride, ritz, n, m, k, m);
    }
    if (exhausted) break;
    if (m === maxSteps) break;
    if (breakdown) {
      if (!newStart(m)) return m >= k ? ritzPairs(Q, stride, tridiagonalEigen(alpha, beta, m), n, m, k, m) : null;
      blockStart = m;
    } else {
      for (let t = 0; t < n; t++) Q[m * stride + t] = z[t] / b;
    }
  }
  if (anorm === 0) {
    // The zero matrix: eigenvalues 0, the standard basis.
    const vectors = new Float64Array(k * n);
    for (let t = 0; t < k; t++) vectors[t * n + t] = 1;
    return { n, k, values: new Float64Array(k), vectors, steps: 1 };
  }
  return null;
}

/** Eigenpairs of the m x m tridiagonal (diagonal alpha, off-diagonal beta[0..m-1)), ascending. */
function tridiagonalEigen(alpha: Float64Array, beta: Float64Array, m: number): SymmetricEigen {
  const vt = new Float64Array(m * m);
  for (let i = 0; i < m; i++) vt[i * m + i] = 1;
  const d = Float64Array.from(alpha.subarray(0, m));
  const e = new Float64Array(m);
  for (let i = 1; i < m; i++) e[i] = beta[i - 1];
  tql2(vt, d, e, m);
  return sortedPairs(d, vt, m);
}

/** The k largest Ritz pairs y = Q s, descending. */
function ritzPairs(Q: Float64Array, stride: number, ritz: SymmetricEigen, n: number, m: number, k: number, steps: number): LanczosEigen {
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * n);
  for (let t = 0; t < k; t++) {
    const src = m - 1 - t;
    values[t] = ritz.values[src];
    const y = vectors.subarray(t * n, t * n + n);
    for (let i = 0; i < m; i++) {
      const s = ritz.vectors[src * m + i];
      if (s === 0) continue;
      const o = i * stride;
      for (let r = 0; r < n; r++) y[r] += s * Q[o + r];
    }
    normalise(y);
  }
  return { n, k, values, vectors, steps };
}

/**
 * Numerical rank of a symmetric positive semi-definite n x n matrix (row-major, lower triangle
 * read): the number of steps of a Cholesky factorisation with diagonal pivoting (LAPACK's dpstrf)
 * before every diagonal entry of the remaining Schur complement is <= tol; for a Gram matrix each
 * such entry is the squared distance of one member to the span of the members already taken.
 * `a` is not modified. Cost about n^3 / 6 multiply-adds at full rank (a quarter of a tridiagonal
 * reduction; the update is a WebAssembly SIMD kernel where available), less at lower rank.
 */
export function psdRank(a: Float64Array, n: number, tol: number): number {
  if (a.length < n * n) throw new RangeError(`psdRank: ${a.length} values cannot hold ${n} x ${n}.`);
  const kr = krylovKernels();
  let s: Float64Array, c: Float64Array, stride: number;
  if (kr) {
    ({ stride, m: s, x: c } = kr.alloc(n, 0));
    for (let i = 0; i < n; i++) s.set(a.subarray(i * n, i * n + n), i * stride);
  } else {
    stride = n;
    s = Float64Array.from(a.subarray(0, n * n));
    c = new Float64Array(n);
  }
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (s[i * stride + i] > s[p * stride + p]) p = i;
    const piv = s[p * stride + p];
    if (!(piv > tol)) return k;
    if (p !== k) {
      // Symmetric swap of k and p in the lower triangle, rows/columns beyond k only (the factor
      // itself is not kept).
      s[p * stride + p] = s[k * stride + k];
      s[k * stride + k] = piv;
      for (let i = k + 1; i < p; i++) {
        const t = s[i * stride + k];
        s[i * stride + k] = s[p * stride + i];
        s[p * stride + i] = t;
      }
      for (let i = p + 1; i < n; i++) {
        const t = s[i * stride + k];
        s[i * stride + k] = s[i * stride + p];
        s[i * stride + p] = t;
      }
    }
    const inv = 1 / Math.sqrt(piv);
    for (let i = k + 1; i < n; i++) c[i] = s[i * stride + k] * inv;
    if (kr) kr.syrM(n, k);
    else {
      for (let i = k + 1; i < n; i++) {
        const ci = c[i];
        const o = i * stride;
        for (let j = k + 1; j <= i; j++) s[o + j] -= ci * c[j];
      }
    }
  }
  return n;
}
