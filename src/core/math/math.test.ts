import { describe, expect, it } from 'vitest';
import { cosine, dot, norm, rowMean, sub } from './vector';
import { mean, pearson, percentile, percentiles, ranks, spearman } from './stats';
import { lanczosTop, psdRank, symmetricEigen, symmetricEigenTop } from './eigen';
import { gram } from './gram';
import { wasmGram } from './gram-wasm';
import { wasmGram32 } from './gram32-wasm';
import { householderKernels, krylovKernels, setHouseholderWasm } from './eigen-wasm';
import { gaussian, rng } from './testing';

function randomSymmetric(n: number, seed: number): Float64Array {
  const g = gaussian(rng(seed));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = g();
  return a;
}

/** max_k |A v_k - lambda_k v_k| / max|lambda|, and max |V V^T - I|. */
function residuals(a: Float64Array, n: number, values: Float64Array, vectors: Float64Array, count: number, valueOf: (t: number) => number) {
  let res = 0, orth = 0, scale = 0;
  for (let t = 0; t < n; t++) scale = Math.max(scale, Math.abs(values[t]));
  for (let t = 0; t < count; t++) {
    const v = vectors.subarray(t * n, t * n + n);
    const lam = valueOf(t);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j] * v[j];
      res = Math.max(res, Math.abs(s - lam * v[i]));
    }
    for (let u = 0; u < count; u++) {
      const w = vectors.subarray(u * n, u * n + n);
      orth = Math.max(orth, Math.abs(dot(v, w) - (t === u ? 1 : 0)));
    }
  }
  return { res: res / (scale || 1), orth };
}

describe('vector', () => {
  it('computes dot, norm, cosine, differences and means in float64', () => {
    const a = new Float32Array([1, 2, 3, 4, 5]);
    const b = new Float32Array([5, 4, 3, 2, 1]);
    expect(dot(a, b)).toBe(35);
    expect(norm([3, 4])).toBe(5);
    expect(cosine(a, a)).toBeCloseTo(1, 15);
    expect(cosine([1, 0], [0, 2])).toBe(0);
    expect(cosine([1, 0], [-3, 0])).toBe(-1);
    expect(cosine([0, 0], [1, 1])).toBe(0);
    expect(Array.from(sub(a, b))).toEqual([-4, -2, 0, 2, 4]);
    expect(Array.from(rowMean([1, 2, 3, 4, 5, 6], 2, 3))).toEqual([2.5, 3.5, 4.5]);
    expect(() => dot([1], [1, 2])).toThrow(RangeError);
  });
});

describe('stats', () => {
  it('percentiles interpolate linearly between closest ranks (numpy default)', () => {
    const v = [15, 20, 35, 40, 50];
    // numpy.percentile([15, 20, 35, 40, 50], [0, 25, 40, 50, 90, 100]) -> 15, 20, 29, 35, 46, 50
    expect(percentiles(v, [0, 25, 40, 50, 90, 100]).map((x) => +x.toFixed(10))).toEqual([15, 20, 29, 35, 46, 50]);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([7], 25)).toBe(7);
    expect(percentile([], 25)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('ranks ties by their average rank', () => {
    expect(Array.from(ranks([10, 20, 20, 5, 20]))).toEqual([2, 4, 4, 1, 4]);
    expect(Array.from(ranks([1, 1]))).toEqual([1.5, 1.5]);
  });

  it('pearson and spearman', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 14);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 14);
    // hand-computed: x = [1,2,3,4], y = [2,1,4,3]: r = 0.6
    expect(pearson([1, 2, 3, 4], [2, 1, 4, 3])).toBeCloseTo(0.6, 14);
    // monotone but non-linear: Spearman 1, Pearson < 1
    const x = [1, 2, 3, 4, 5], y = x.map((t) => Math.exp(t));
    expect(spearman(x, y)).toBeCloseTo(1, 14);
    expect(pearson(x, y)).toBeLessThan(0.95);
    // ties: scipy.stats.spearmanr([1,2,2,3], [1,3,2,4]) = 0.9486832980505138
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).toBeCloseTo(0.9486832980505138, 13);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(mean([1, 2, 3, 6])).toBe(3);
  });
});

describe('symmetric eigensolver', () => {
  it('full decomposition: residual and orthogonality at rounding level', () => {
    for (const n of [1, 2, 3, 17, 60]) {
      const a = randomSymmetric(n, n);
      const e = symmetricEigen(a, n);
      for (let t = 1; t < n; t++) expect(e.values[t]).toBeGreaterThanOrEqual(e.values[t - 1]);
      const r = residuals(a, n, e.values, e.vectors, n, (t) => e.values[t]);
      expect(r.res).toBeLessThan(1e-12);
      expect(r.orth).toBeLessThan(1e-12);
      let tr = 0, sum = 0;
      for (let i = 0; i < n; i++) tr += a[i * n + i];
      for (let i = 0; i < n; i++) sum += e.values[i];
      expect(Math.abs(tr - sum)).toBeLessThan(1e-11 * n);
    }
  });

  it('top-k by inverse iteration agrees with the full decomposition', () => {
    for (const n of [2, 5, 40, 131]) {
      const a = randomSymmetric(n, 100 + n);
      const full = symmetricEigen(a, n);
      const k = Math.min(6, n);
      const top = symmetricEigenTop(a, n, k);
      for (let t = 0; t < n; t++) expect(Math.abs(top.values[t] - full.values[t])).toBeLessThan(1e-12 * n);
      const r = residuals(a, n, top.values, top.vectors, k, (t) => top.values[n - 1 - t]);
      expect(r.res).toBeLessThan(1e-12);
      expect(r.orth).toBeLessThan(1e-12);
      for (let t = 0; t < k; t++) {
        const c = dot(top.vectors.subarray(t * n, t * n + n), full.vectors.subarray((n - 1 - t) * n, (n - t) * n));
        expect(Math.abs(c)).toBeGreaterThan(1 - 1e-10);
      }
    }
  });

  it('the WebAssembly Householder kernels and the JS loops give the same decomposition', () => {
    expect(householderKernels()).not.toBeNull();
    for (const n of [2, 3, 4, 5, 64, 97]) {
      const a = randomSymmetric(n, 500 + n);
      const w = symmetricEigenTop(a, n, Math.min(4, n));
      setHouseholderWasm(false);
      let j;
      try {
        expect(householderKernels()).toBeNull();
        j = symmetricEigenTop(a, n, Math.min(4, n));
      } finally {
        setHouseholderWasm(true);
      }
      for (let t = 0; t < n; t++) expect(Math.abs(w.values[t] - j.values[t])).toBeLessThan(1e-12 * n);
      for (let t = 0; t < w.k; t++) {
        expect(Math.abs(dot(w.vectors.subarray(t * n, t * n + n), j.vectors.subarray(t * n, t * n + n)))).toBeGreaterThan(1 - 1e-12);
      }
      const r = residuals(a, n, w.values, w.vectors, w.k, (t) => w.values[n - 1 - t]);
      expect(r.res).toBeLessThan(1e-12);
    }
  });

  it('handles repeated eigenvalues, the identity, zero and rank-deficient matrices', () => {
    const n = 30;
    // Q diag(5,5,5,2,2,0,...) Q^T: a triple and a double eigenvalue, rank 5.
    const q = symmetricEigen(randomSymmetric(n, 9), n).vectors; // an orthogonal matrix
    const lam = new Float64Array(n);
    lam.set([5, 5, 5, 2, 2]);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += q[t * n + i] * lam[t] * q[t * n + j];
      a[i * n + j] = s;
    }
    const top = symmetricEigenTop(a, n, 6);
    const r = residuals(a, n, top.values, top.vectors, 6, (t) => top.values[n - 1 - t]);
    expect(r.res).toBeLessThan(1e-12);
    expect(r.orth).toBeLessThan(1e-12);
    expect(top.values[n - 1]).toBeCloseTo(5, 12);
    expect(top.values[n - 3]).toBeCloseTo(5, 12);
    expect(top.values[n - 4]).toBeCloseTo(2, 12);
    expect(Math.abs(top.values[n - 6])).toBeLessThan(1e-12);

    const id = new Float64Array(n * n);
    for (let i = 0; i < n; i++) id[i * n + i] = 1;
    const ti = symmetricEigenTop(id, n, 4);
    const ri = residuals(id, n, ti.values, ti.vectors, 4, () => 1);
    expect(ri.res).toBeLessThan(1e-14);
    expect(ri.orth).toBeLessThan(1e-14);

    const z = symmetricEigenTop(new Float64Array(9), 3, 2);
    expect(Array.from(z.values)).toEqual([0, 0, 0]);
    expect(residuals(new Float64Array(9), 3, z.values, z.vectors, 2, () => 0).orth).toBeLessThan(1e-15);
  });
});

/** X X^T for X n x r with column t scaled by 3 / (t + 1): a decaying spectrum, rank min(n, r). */
function gramOfDecaying(n: number, r: number, seed: number): Float64Array {
  const g = gaussian(rng(seed));
  const x = Float64Array.from({ length: n * r }, (_, i) => (g() * 3) / ((i % r) + 1));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < r; t++) s += x[i * r + t] * x[j * r + t];
    a[i * n + j] = s;
  }
  return a;
}

/** Q diag(lam) Q^T for a random orthogonal Q. */
function withSpectrum(n: number, lam: number[], seed: number): Float64Array {
  const q = symmetricEigen(randomSymmetric(n, seed), n).vectors;
  const l = new Float64Array(n);
  l.set(lam);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < n; t++) s += q[t * n + i] * l[t] * q[t * n + j];
    a[i * n + j] = s;
  }
  return a;
}

/** Run f with the WebAssembly kernels, then with the JS loops. */
function bothKernels(f: (wasm: boolean) => void): void {
  expect(krylovKernels()).not.toBeNull();
  f(true);
  setHouseholderWasm(false);
  try {
    expect(krylovKernels()).toBeNull();
    f(false);
  } finally {
    setHouseholderWasm(true);
  }
}

describe('Lanczos top-k and the pivoted-Cholesky rank (float32 PCA path)', () => {
  it('lanczosTop agrees with the full decomposition on indefinite and persona-like matrices, with both kernels', () => {
    bothKernels(() => {
      for (const [n, a] of [[3, randomSymmetric(3, 1)], [40, randomSymmetric(40, 2)], [131, gramOfDecaying(131, 60, 3)], [275, gramOfDecaying(275, 274, 4)]] as const) {
        const full = symmetricEigen(a, n);
        const k = Math.min(4, n);
        const lz = lanczosTop(a, n, k);
        expect(lz).not.toBeNull();
        expect(lz!.k).toBe(k);
        const scale = Math.max(Math.abs(full.values[0]), Math.abs(full.values[n - 1]));
        for (let t = 0; t < k; t++) {
          expect(Math.abs(lz!.values[t] - full.values[n - 1 - t])).toBeLessThan(1e-12 * scale);
          const c = dot(lz!.vectors.subarray(t * n, t * n + n), full.vectors.subarray((n - 1 - t) * n, (n - t) * n));
          expect(Math.abs(c)).toBeGreaterThan(1 - 1e-10);
        }
        const r = residuals(a, n, full.values, lz!.vectors, k, (t) => lz!.values[t]);
        expect(r.res).toBeLessThan(1e-10);
        expect(r.orth).toBeLessThan(1e-13);
        // A decaying spectrum converges in a few dozen products, not n.
        if (n === 275) expect(lz!.steps).toBeLessThan(40);
      }
    });
  });

  it('finds every copy of repeated eigenvalues (breakdown, restart); identity, zero; null when not converged in maxSteps', () => {
    bothKernels(() => {
      for (const n of [30, 120]) {
        const a = withSpectrum(n, [5, 5, 5, 2, 2], 9);
        const lz = lanczosTop(a, n, 6)!;
        expect(Array.from(lz.values, (v) => +v.toFixed(10))).toEqual([5, 5, 5, 2, 2, 0]);
        const r = residuals(a, n, new Float64Array([5]), lz.vectors, 6, (t) => lz.values[t]);
        expect(r.res).toBeLessThan(1e-10);
        expect(r.orth).toBeLessThan(1e-12);
        const id = new Float64Array(n * n);
        for (let i = 0; i < n; i++) id[i * n + i] = 1;
        const li = lanczosTop(id, n, 4)!;
        expect(Array.from(li.values)).toEqual([1, 1, 1, 1]);
        expect(residuals(id, n, new Float64Array([1]), li.vectors, 4, () => 1).orth).toBeLessThan(1e-14);
        const z = lanczosTop(new Float64Array(n * n), n, 3)!;
        expect(Array.from(z.values)).toEqual([0, 0, 0]);
        expect(residuals(new Float64Array(n * n), n, new Float64Array(1), z.vectors, 3, () => 0).orth).toBe(0);
      }
      // A flat (semicircle) spectrum needs most of the space: with too few steps, null.
      expect(lanczosTop(randomSymmetric(120, 5), 120, 3, { maxSteps: 10 })).toBeNull();
      expect(lanczosTop(randomSymmetric(120, 5), 120, 3)).not.toBeNull();
    });
  });

  it('psdRank counts what a pivoted Cholesky keeps above the tolerance', () => {
    bothKernels(() => {
      for (const [n, r] of [[1, 1], [7, 3], [64, 64], [131, 60], [275, 137]]) {
        const a = gramOfDecaying(n, r, n + r);
        let tr = 0;
        for (let i = 0; i < n; i++) tr += a[i * n + i];
        expect(psdRank(a, n, 1e-10 * tr)).toBe(Math.min(n, r));
        expect(psdRank(a, n, 2 * tr)).toBe(0);
      }
      expect(psdRank(new Float64Array(16), 4, 0)).toBe(0);
      expect(psdRank(withSpectrum(30, [5, 5, 5, 2, 2], 9), 30, 1e-9)).toBe(5);
      // Two members of squared norms 4 and 1, product 1: the second lies at squared distance 1 - 1/4 from the first's span.
      expect(psdRank(Float64Array.of(4, 1, 1, 1), 2, 0.7)).toBe(2);
      expect(psdRank(Float64Array.of(4, 1, 1, 1), 2, 0.8)).toBe(1);
    });
  });
});

describe('gram kernels', () => {
  it('JS and WebAssembly kernels equal the naive product, for sizes not multiple of the blocks', () => {
    const g = gaussian(rng(3));
    for (const [n, d] of [[1, 1], [3, 5], [7, 300], [13, 257], [33, 1030]]) {
      const x = Float64Array.from({ length: n * d }, g);
      const ref = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += x[i * d + k] * x[j * d + k];
        ref[i * n + j] = s;
      }
      const js = gram(x, n, d);
      const w = wasmGram();
      expect(w).not.toBeNull(); // Node 20 has WebAssembly SIMD
      const ws = w!.gram(x, n, d);
      for (let i = 0; i < n * n; i++) {
        expect(Math.abs(js[i] - ref[i])).toBeLessThan(1e-12 * d);
        expect(Math.abs(ws[i] - ref[i])).toBeLessThan(1e-12 * d);
        expect(js[i]).toBe(js[Math.floor(i / n) + (i % n) * n]); // symmetric
      }
    }
  });
});

describe('float32 kernels (gram32-wasm.ts)', () => {
  it('column sums, X^T v and X u are float64-exact on float32 input; the centred Gram is float32-accurate; padding adds nothing', () => {
    const g = gaussian(rng(9));
    const w = wasmGram32();
    expect(w).not.toBeNull();
    for (const [n, d] of [[1, 3], [6, 513], [13, 1030]]) {
      const x = Float32Array.from({ length: n * d }, () => 5 + g());
      const L = w!.layout(n, d);
      L.load(x);
      const { mean: got, ss, gram: G } = L.centredGram();
      const mean = new Float64Array(d);
      let ssRef = 0;
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += x[i * d + j];
        mean[j] = s / n;
        expect(Math.abs(got[j] - mean[j])).toBeLessThan(1e-13 * 6);
        for (let i = 0; i < n; i++) ssRef += (x[i * d + j] - mean[j]) ** 2;
      }
      expect(Math.abs(ss - ssRef)).toBeLessThanOrEqual(1e-12 * ssRef);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0, abs = 0;
          for (let k = 0; k < d; k++) {
            const p = (x[i * d + k] - mean[k]) * (x[j * d + k] - mean[k]);
            s += p;
            abs += Math.abs(p);
          }
          expect(Math.abs(G[i * n + j] - s)).toBeLessThanOrEqual(1e-6 * abs);
          expect(G[i * n + j]).toBe(G[j * n + i]);
        }
      }
      // X^T v for K = 1..5 vectors at once (groups of up to 4 per pass), and X u likewise.
      for (const K of [1, 3, 5]) {
        const vs = Array.from({ length: K }, () => Float64Array.from({ length: n }, g));
        const us = vs.map(() => new Float64Array(d));
        L.xtvMany(vs, us);
        vs.forEach((v, t) => {
          const single = L.xtv(v);
          for (let j = 0; j < d; j++) {
            let s = 0, abs = 0;
            for (let i = 0; i < n; i++) {
              s += v[i] * x[i * d + j];
              abs += Math.abs(v[i] * x[i * d + j]);
            }
            expect(Math.abs(us[t][j] - s)).toBeLessThanOrEqual(1e-14 * abs);
            expect(Math.abs(single[j] - s)).toBeLessThanOrEqual(1e-14 * abs);
          }
        });
        const ys = Array.from({ length: K }, () => Float64Array.from({ length: d }, g));
        const os = ys.map(() => new Float64Array(n));
        L.xuMany(ys, os);
        ys.forEach((y, t) => {
          for (let i = 0; i < n; i++) {
            let s = 0, abs = 0;
            for (let j = 0; j < d; j++) {
              s += x[i * d + j] * y[j];
              abs += Math.abs(x[i * d + j] * y[j]);
            }
            expect(Math.abs(os[t][i] - s)).toBeLessThanOrEqual(1e-14 * abs);
          }
        });
        // Rayleigh-Ritz inputs: U_t = Xc^T v_t, W_t = Xc U_t, and combinations of the U_t.
        const { W, combine } = L.ritzInputs(vs, mean);
        const U = vs.map((v) => {
          const u = new Float64Array(d);
          for (let j = 0; j < d; j++) for (let i = 0; i < n; i++) u[j] += v[i] * (x[i * d + j] - mean[j]);
          return u;
        });
        // sum_i |v_i (x_ij - mean_j)|: the scale of U's rounding
        const absU = vs.map((v) => Float64Array.from({ length: d }, (_, j) => {
          let a = 0;
          for (let i = 0; i < n; i++) a += Math.abs(v[i] * (x[i * d + j] - mean[j]));
          return a;
        }));
        W.forEach((w, t) => {
          for (let i = 0; i < n; i++) {
            let s = 0, abs = 0;
            for (let j = 0; j < d; j++) {
              const p = (x[i * d + j] - mean[j]) * U[t][j];
              s += p;
              abs += Math.abs(p);
            }
            expect(Math.abs(w[i] - s)).toBeLessThanOrEqual(1e-12 * abs);
          }
        });
        const coefs = Float64Array.from({ length: 2 * K }, g);
        const out = new Float64Array(2 * d).fill(NaN);
        combine(coefs, 2, out);
        for (let r = 0; r < 2; r++) {
          for (let j = 0; j < d; j++) {
            let s = 0, abs = 0;
            for (let t = 0; t < K; t++) {
              s += coefs[r * K + t] * U[t][j];
              abs += Math.abs(coefs[r * K + t]) * absU[t][j];
            }
            expect(Math.abs(out[r * d + j] - s)).toBeLessThanOrEqual(1e-13 * abs);
          }
        }
      }
    }
  });
});
