/**
 * Mean-centred PCA (no variance scaling) of an n x d row-major matrix, exact in float64.
 *
 * Through whichever of the two products is smaller: the n x n Gram matrix Xc Xc^T when n <= d
 * (persona sets: a few hundred members of thousands of dims), otherwise the d x d scatter
 * matrix Xc^T Xc. Either is decomposed by a dense symmetric eigensolver (eigen.ts: all
 * eigenvalues, eigenvectors of the top K only), so the explained-variance ratio is over the total
 * variance (the trace), not over the top K.
 *
 * Cost, m = min(n, d): m^2 max(n, d) / 2 multiply-adds for the product (WebAssembly SIMD kernel,
 * plain JS where that is missing), 2/3 m^3 for the tridiagonal reduction (float64 path; the
 * float32 path's Lanczos costs ~30 m^2 and its rank estimate at most m^3 / 6), K m max(n, d) for
 * the components. 275 x 8192 is ~0.3 G multiply-adds. When n and d are both in the tens of
 * thousands the product itself would be too large; there is no matrix-free method here.
 *
 * Float32 input (every PersonaSet layer) with n <= d takes `fitF32`: the Gram matrix from float32
 * products (f32x4, twice the lanes; relaxed SIMD's multiply-add where the engine has it) only
 * locates the top-K subspace, through Lanczos (eigen.ts `lanczosTop`: a few dozen products with
 * the n x n matrix instead of its tridiagonal reduction); the mean, the total variance, the
 * components (Rayleigh-Ritz), coordinates and variances are then computed in float64 from the
 * input itself. Float64 input keeps the float64 Gram matrix and the full eigensolver (`fitF64`).
 * bench/pca.bench.ts measures both against numpy.
 *
 * Sign convention: when `orient` is given, each component is flipped so that `orient` projects
 * non-negatively on it (persona sets pass the Assistant Axis). Without it (or when the projection
 * is exactly 0) the member with the largest |coordinate| gets a positive coordinate (as
 * scikit-learn's svd_flip); for a component that carries no variance, its largest |entry| is
 * made positive.
 */
import { DataError } from '../errors';
import { gram as gramJs } from './gram';
import { PANEL, wasmGram, type PanelLayout } from './gram-wasm';
import { lanczosTop, psdRank, symmetricEigen, symmetricEigenTop, type LanczosEigen, type TopEigen } from './eigen';
import { wasmGram32, type WasmGram32 } from './gram32-wasm';
import { setHouseholderWasm } from './eigen-wasm';
import type { Vec } from './vector';

export interface PcaOptions {
  /** Number of components (default 3), clamped to min(n, d). */
  components?: number;
  /**
   * Each component is oriented so that this vector (length d) projects non-negatively on it. A
   * function receives the fitted mean first (for vectors defined relative to it, like the axis).
   */
  orient?: Vec | null | ((mean: Float64Array) => Vec | null);
}

export interface PcaResult {
  n: number;
  dim: number;
  /** Components returned (may be fewer than asked: at most min(n, d)). */
  k: number;
  /** Numerical rank of the centred data (components beyond it carry no variance). */
  rank: number;
  /** Mean of the rows (d). */
  mean: Float64Array;
  /** k x d row-major, unit rows, mutually orthogonal. */
  components: Float64Array;
  /** Variance along each component (eigenvalue / (n - 1), as numpy/scikit-learn). */
  explainedVariance: Float64Array;
  /** explainedVariance / totalVariance. */
  explainedVarianceRatio: Float64Array;
  /** Sum of the variances of all d coordinates (trace of the covariance). */
  totalVariance: number;
  /** n x k: coordinates of every row on every component. */
  coords: Float64Array;
}

const EPS = 2 ** -52;

/** Reusable float64 buffers, so a loop over layers does not reallocate ~n*d*8 bytes each time. */
export interface PcaWorkspace {
  centred?: Float64Array;
  product?: Float64Array;
  /**
   * When present, filled with the milliseconds spent in each phase of the last call (for
   * benchmarks). On the float32 path `centre` is the copy into the kernels' memory and `product`
   * the column sums, centring and Gram matrix, done a panel of columns at a time.
   */
  timings?: { centre: number; product: number; eigen: number; components: number };
}

/** PCA of the n rows of `x` (n x d, row-major; float32 or float64), top `opts.components` components. */
export function pca(x: Vec, n: number, d: number, opts: PcaOptions = {}, ws: PcaWorkspace = {}): PcaResult {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 1 || d < 1) throw new RangeError(`pca: bad shape ${n} x ${d}.`);
  if (x.length < n * d) throw new RangeError(`pca: ${x.length} values cannot hold ${n} x ${d}.`);
  const k = Math.max(0, Math.min(opts.components ?? 3, n, d));

  const clock = ws.timings ? () => performance.now() : null;
  let t0 = clock?.() ?? 0;
  const lap = (phase: keyof NonNullable<PcaWorkspace['timings']>) => {
    if (!clock || !ws.timings) return;
    const t = clock();
    ws.timings[phase] = t - t0;
    t0 = t;
  };
  const w32 = backend === 'wasm' && n <= d && k > 0 && x instanceof Float32Array ? wasmGram32() : null;
  const fit = (w32 && fitF32(x as Float32Array, n, d, k, w32, ws, lap)) || fitF64(x, n, d, k, ws, lap);
  const { mean, components, coords, lambda, ss, rank, real } = fit;
  const dof = Math.max(n - 1, 1);
  const totalVariance = ss / dof;
  for (let c = real; c < k; c++) completeBasis(components, c, d);
  lap('components');

  // Orientation.
  const orient = typeof opts.orient === 'function' ? opts.orient(mean) : (opts.orient ?? null);
  if (orient && orient.length !== d) throw new RangeError(`pca: orientation vector has length ${orient.length}, expected ${d}.`);
  for (let c = 0; c < k; c++) {
    const u = components.subarray(c * d, c * d + d);
    let sign = 0;
    if (orient) {
      let s = 0;
      for (let j = 0; j < d; j++) s += u[j] * orient[j];
      sign = Math.sign(s);
    }
    if (sign === 0) {
      let best = 0;
      for (let i = 0; i < n; i++) if (Math.abs(coords[i * k + c]) > Math.abs(best)) best = coords[i * k + c];
      if (best === 0) for (let j = 0; j < d; j++) if (Math.abs(u[j]) > Math.abs(best)) best = u[j];
      sign = best < 0 ? -1 : 1;
    }
    if (sign < 0) {
      for (let j = 0; j < d; j++) u[j] = -u[j];
      for (let i = 0; i < n; i++) coords[i * k + c] = -coords[i * k + c];
    }
  }

  const explainedVariance = new Float64Array(k);
  const explainedVarianceRatio = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    explainedVariance[c] = lambda[c] / dof;
    explainedVarianceRatio[c] = ss > 0 ? lambda[c] / ss : 0;
  }
  return { n, dim: d, k, rank, mean, components, explainedVariance, explainedVarianceRatio, totalVariance, coords };
}


interface Fit {
  mean: Float64Array;
  /** k x d, rows 0..real-1 filled (unit, orthogonal). */
  components: Float64Array;
  /** n x k. */
  coords: Float64Array;
  /** Eigenvalues of the centred Gram / scatter matrix for the first `real` components (0 after). */
  lambda: Float64Array;
  /** Sum of squares of the centred data. */
  ss: number;
  rank: number;
  real: number;
}
type Lap = (phase: keyof NonNullable<PcaWorkspace['timings']>) => void;

/** The float64 path: exact centred Gram (or scatter) matrix, its top eigenvectors. */
function fitF64(x: Vec, n: number, d: number, k: number, ws: PcaWorkspace, lap: Lap): Fit {
  // Mean, in float64.
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) mean[j] += x[o + j];
  }
  for (let j = 0; j < d; j++) mean[j] /= n;

  const components = new Float64Array(k * d);
  const coords = new Float64Array(n * k);
  const lambda = new Float64Array(k);
  const viaGram = n <= d;
  const m = viaGram ? n : d;
  if (!ws.product || ws.product.length < m * m) ws.product = new Float64Array(m * m);
  const w = backend === 'js' ? null : wasmGram();
  let ss = 0;
  let xc: Float64Array | null = null;
  let panels: PanelLayout | null = null;
  if (w && viaGram) {
    // Centre straight into the WebAssembly panel layout (no row-major copy is kept).
    panels = w.layout(n, d);
    const buf = panels.panels;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let p0 = 0, q = 0; p0 < d; p0 += PANEL, q += panels.panelLen) {
        const base = q + i * PANEL - p0;
        const p1 = Math.min(d, p0 + PANEL);
        for (let j = p0; j < p1; j++) {
          const v = x[o + j] - mean[j];
          buf[base + j] = v;
          ss += v * v;
        }
      }
    }
  } else if (w) {
    // n > d: the scatter matrix Xc^T Xc is the Gram matrix of Xc^T, so lay Xc out transposed
    // (row j = feature j over all n members), centring on the way.
    panels = w.layout(d, n);
    const buf = panels.panels;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      const p = Math.floor(i / PANEL);
      const base = p * panels.panelLen + (i - p * PANEL);
      for (let j = 0; j < d; j++) {
        const v = x[o + j] - mean[j];
        buf[base + j * PANEL] = v;
        ss += v * v;
      }
    }
  } else {
    if (!ws.centred || ws.centred.length < n * d) ws.centred = new Float64Array(n * d);
    xc = ws.centred;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let j = 0; j < d; j++) {
        const v = x[o + j] - mean[j];
        xc[o + j] = v;
        ss += v * v;
      }
    }
  }
  if (!Number.isFinite(ss)) throw new DataError('not-finite', 'The vectors hold NaN or infinite values, so no PCA can be computed.');
  lap('centre');

  let product: Float64Array;
  if (panels) {
    product = panels.gram(ws.product);
  } else if (viaGram) {
    product = gramJs(xc!, n, d, ws.product);
  } else {
    const xt = new Float64Array(d * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xt[j * n + i] = xc![i * d + j];
    product = gramJs(xt, d, n, ws.product);
  }
  lap('product');
  const eig = symmetricEigenTop(product, m, k);
  lap('eigen');
  const lmax = Math.max(0, eig.values[m - 1]);
  const tol = lmax * Math.max(n, d) * EPS * 16;
  let rank = 0;
  for (let t = 0; t < m; t++) if (eig.values[t] > tol) rank++;

  // Components whose eigenvalue is numerically zero carry no variance: any unit vector orthogonal
  // to the others will do (their coordinates are 0).
  const real = Math.min(k, rank);
  for (let c = 0; c < real; c++) lambda[c] = eig.values[m - 1 - c];
  // Through the Gram matrix: u_c = Xc^T v_c / sqrt(lambda_c) and the coordinates are
  // sqrt(lambda_c) v_c (= Xc u_c). Through the scatter matrix the eigenvectors are the components.
  if (panels && viaGram) {
    for (let c = 0; c < real; c++) panels.xtv(eig.vectors.subarray(c * m, c * m + m), components.subarray(c * d, c * d + d));
  } else if (viaGram) {
    // One pass over the rows for all components (each row stays in cache across them).
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let c = 0; c < real; c++) {
        const wt = eig.vectors[c * m + i];
        const u = c * d;
        for (let j = 0; j < d; j++) components[u + j] += wt * xc![o + j];
      }
    }
  } else {
    components.set(eig.vectors.subarray(0, real * d));
  }
  for (let c = 0; c < real; c++) {
    const u = components.subarray(c * d, c * d + d);
    let nn = 0;
    for (let j = 0; j < d; j++) nn += u[j] * u[j];
    const inv = 1 / Math.sqrt(nn);
    for (let j = 0; j < d; j++) u[j] *= inv;
    if (viaGram) {
      const s = Math.sqrt(lambda[c]);
      for (let i = 0; i < n; i++) coords[i * k + c] = s * eig.vectors[c * m + i];
    } else {
      // (x_i - mean) . u, from the input rows (the WebAssembly path keeps no row-major centred copy)
      for (let i = 0; i < n; i++) {
        const o = i * d;
        let s = 0;
        for (let j = 0; j < d; j++) s += (x[o + j] - mean[j]) * u[j];
        coords[i * k + c] = s;
      }
    }
  }
  return { mean, components, coords, lambda, ss, rank, real };
}

/**
 * The float32 path (float32 input, n <= d): the centred Gram matrix from float32 products (twice
 * the SIMD lanes of float64) gives the subspace of the top components; then Rayleigh-Ritz in
 * float64 on the input itself: U = Xc^T V and W = Xc U (exact products of the float32 inputs), the
 * k' x k' matrix V^T W = U^T U = V^T G V diagonalised, components = U Q normalised, coordinates
 * Xc u = W Q normalised and the variance along each component = |Xc u|^2 — all from the data, not
 * from the float32 Gram. So the
 * components are orthonormal and the coordinates are the projections to float64 precision; only
 * the direction of each component carries the float32 Gram's error (~1e-7 / relative eigengap).
 * The top eigenvectors of the Gram come from Lanczos (symmetricEigenTop for n <= 48 or when
 * Lanczos has not converged in 96 steps). `rank` beyond the components returned is estimated from
 * the float32 Gram by pivoted Cholesky (psdRank) with a float32 tolerance: the number of members
 * taken before every other one lies within that tolerance (squared distance) of their span.
 */
function fitF32(x: Float32Array, n: number, d: number, k: number, w: WasmGram32, ws: PcaWorkspace, lap: Lap): Fit | null {
  const L = w.layout(n, d);
  L.load(x);
  lap('centre');
  if (!ws.product || ws.product.length < n * n) ws.product = new Float64Array(n * n);
  const { mean, ss, gram: product } = L.centredGram(ws.product);
  if (!Number.isFinite(ss)) throw new DataError('not-finite', 'The vectors hold NaN or infinite values, so no PCA can be computed.');
  // Float32 products of centred values beyond ~1e15 in mean square could overflow, below ~1e-15
  // lose the subspace to underflow: such data takes the float64 path.
  const ms = ss / (n * d);
  if (ss > 0 && (ms > 1e15 || ms < 1e-15)) return null;
  lap('product');
  const kk = Math.min(n, k + RITZ_EXTRA);
  // The top kk eigenvectors of the float32 Gram: Lanczos (a few dozen products with the matrix),
  // or the full tridiagonal reduction for small n or when Lanczos does not settle.
  const lz = n > LANCZOS_MIN_N ? lanczosTop(product, n, kk, { maxSteps: LANCZOS_MAX_STEPS }) : null;
  const eig = lz ?? topAsLanczos(symmetricEigenTop(product, n, kk));
  lap('eigen');

  // Rayleigh-Ritz with the exact Gram matrix G = Xc Xc^T on span(V): U = Xc^T V, W = Xc U = G V
  // (two passes over the data), B = V^T G V = V^T W = Q diag(theta) Q^T. Components
  // u_c = U q_c / sqrt(theta_c) (unit, orthogonal), coordinates Xc u_c = W q_c / sqrt(theta_c).
  const vs = Array.from({ length: kk }, (_, t) => eig.vectors.subarray(t * n, t * n + n));
  const { W, combine } = L.ritzInputs(vs, mean);
  const B = new Float64Array(kk * kk);
  for (let a = 0; a < kk; a++) {
    for (let b = a; b < kk; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += vs[a][i] * W[b][i] + vs[b][i] * W[a][i];
      B[a * kk + b] = B[b * kk + a] = s / 2;
    }
  }
  const ritz = symmetricEigen(B, kk);
  const lmax = Math.max(0, ritz.values[kk - 1]);
  const tol = lmax * Math.max(n, d) * EPS * 16;
  let real = 0;
  while (real < k && ritz.values[kk - 1 - real] > tol) real++;
  const coefs = new Float64Array(real * kk);
  for (let c = 0; c < real; c++) {
    const src = kk - 1 - c;
    const inv = 1 / Math.sqrt(ritz.values[src]);
    for (let t = 0; t < kk; t++) coefs[c * kk + t] = ritz.vectors[src * kk + t] * inv;
  }
  const components = new Float64Array(k * d);
  const coords = new Float64Array(n * k);
  const lambda = new Float64Array(k);
  combine(coefs, real, components);
  for (let c = 0; c < real; c++) {
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let t = 0; t < kk; t++) v += W[t][i] * coefs[c * kk + t];
      coords[i * k + c] = v;
      s2 += v * v;
    }
    lambda[c] = s2;
  }
  // In exact arithmetic the components are orthonormal; when rounding left them less so than
  // 1e-14 (components of very unequal variance), orthonormalise (twice) and project the data again.
  if (!orthonormal(components, real, d, 1e-14)) {
    for (let c = 0; c < real; c++) {
      const u = components.subarray(c * d, c * d + d);
      for (let pass = 0; pass < 2; pass++) {
        for (let p = 0; p < c; p++) {
          const o = p * d;
          let s = 0;
          for (let j = 0; j < d; j++) s += components[o + j] * u[j];
          for (let j = 0; j < d; j++) u[j] -= s * components[o + j];
        }
        let nn = 0;
        for (let j = 0; j < d; j++) nn += u[j] * u[j];
        const inv = 1 / Math.sqrt(nn);
        for (let j = 0; j < d; j++) u[j] *= inv;
      }
    }
    const comps = Array.from({ length: real }, (_, c) => components.subarray(c * d, c * d + d));
    const projs = Array.from({ length: real }, () => new Float64Array(n));
    L.xuMany(comps, projs);
    for (let c = 0; c < real; c++) {
      const u = comps[c];
      let mu = 0;
      for (let j = 0; j < d; j++) mu += mean[j] * u[j];
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const v = projs[c][i] - mu;
        coords[i * k + c] = v;
        s2 += v * v;
      }
      lambda[c] = s2;
    }
  }
  let rank = real;
  if (real === k && k < n) {
    // Beyond the components returned: pivoted Cholesky of the float32 Gram, with a float32
    // tolerance relative to its largest eigenvalue.
    const tol32 = Math.max(0, eig.values[0]) * n * F32_EPS * 16;
    rank = Math.max(real, psdRank(product, n, tol32));
  }
  return { mean, components, coords, lambda, ss, rank, real };
}

/** Extra Ritz vectors beyond the k asked for: a larger subspace makes the top k more accurate. */
const RITZ_EXTRA = 0;
/** Lanczos for the float32 path's Gram above this n (below it the full reduction costs little). */
const LANCZOS_MIN_N = 48;
const LANCZOS_MAX_STEPS = 96;

/** Whether rows 0..count of m (count x d) are orthonormal to within tol. */
function orthonormal(m: Float64Array, count: number, d: number, tol: number): boolean {
  for (let a = 0; a < count; a++) {
    for (let b = a; b < count; b++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += m[a * d + j] * m[b * d + j];
      if (Math.abs(s - (a === b ? 1 : 0)) > tol) return false;
    }
  }
  return true;
}

/** symmetricEigenTop's answer in lanczosTop's shape (values of the top k, descending). */
function topAsLanczos(t: TopEigen): LanczosEigen {
  const values = new Float64Array(t.k);
  for (let c = 0; c < t.k; c++) values[c] = t.values[t.n - 1 - c];
  return { n: t.n, k: t.k, values, vectors: t.vectors, steps: 0 };
}
const F32_EPS = 2 ** -23;

export type PcaBackend = 'wasm' | 'wasm-f64' | 'js';
let backend: PcaBackend = 'wasm';

/**
 * Which kernels run: 'wasm' (WebAssembly SIMD; float32 input takes the float32 Gram path),
 * 'wasm-f64' (WebAssembly SIMD, float64 Gram for every input), or plain JS where WebAssembly SIMD
 * is missing or 'js' was set.
 */
export function pcaBackend(): PcaBackend {
  if (backend === 'js' || !wasmGram()) return 'js';
  return backend === 'wasm' && !wasmGram32() ? 'wasm-f64' : backend;
}

/** Tests and benchmarks: choose the kernels ('js': plain-JS Gram, X^T v, Householder even where WebAssembly SIMD exists). */
export function setPcaBackend(b: PcaBackend): void {
  backend = b;
  setHouseholderWasm(b !== 'js');
}


/** Fill row c with a unit vector orthogonal to rows 0..c-1 (Gram-Schmidt on the standard basis). */
function completeBasis(components: Float64Array, c: number, d: number): void {
  const u = components.subarray(c * d, c * d + d);
  for (let e = 0; e < d; e++) {
    u.fill(0);
    u[e] = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < c; p++) {
        const q = components.subarray(p * d, p * d + d);
        let s = 0;
        for (let j = 0; j < d; j++) s += q[j] * u[j];
        for (let j = 0; j < d; j++) u[j] -= s * q[j];
      }
    }
    let nn = 0;
    for (let j = 0; j < d; j++) nn += u[j] * u[j];
    if (nn > 1e-6) {
      const inv = 1 / Math.sqrt(nn);
      for (let j = 0; j < d; j++) u[j] *= inv;
      return;
    }
  }
}

/** Coordinates of a vector (length d) on the components of `r`: (v - mean) . u_k. */
export function projectOnComponents(r: PcaResult, v: Vec): Float64Array {
  if (v.length !== r.dim) throw new RangeError(`projectOnComponents: vector has length ${v.length}, expected ${r.dim}.`);
  const out = new Float64Array(r.k);
  for (let c = 0; c < r.k; c++) {
    const o = c * r.dim;
    let s = 0;
    for (let j = 0; j < r.dim; j++) s += (v[j] - r.mean[j]) * r.components[o + j];
    out[c] = s;
  }
  return out;
}
