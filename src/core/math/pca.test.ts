import { describe, expect, it } from 'vitest';
import { DataError } from '../errors';
import { pca, projectOnComponents, setPcaBackend, pcaBackend } from './pca';
import { dot } from './vector';
import { gaussian, plantedMatrix, rng } from './testing';
import { props } from '../formats/test-props';

function row(m: Float64Array, i: number, d: number) {
  return m.subarray(i * d, i * d + d);
}

describe('pca', () => {
  it('recovers a planted spectrum exactly (1e-10 relative), through the Gram matrix (n <= d)', () => {
    const n = 40, d = 300;
    const s = [50, 20, 10, 3];
    const { x, mean, b } = plantedMatrix(n, d, s, 1);
    const r = pca(x, n, d, { components: 4 });
    expect(r.k).toBe(4);
    expect(r.rank).toBe(4);
    const total = s.reduce((acc, v) => acc + v * v, 0);
    expect(Math.abs(r.totalVariance - total / (n - 1)) / r.totalVariance).toBeLessThan(1e-12);
    for (let t = 0; t < 4; t++) {
      expect(Math.abs(r.explainedVariance[t] - (s[t] * s[t]) / (n - 1)) / r.explainedVariance[t]).toBeLessThan(1e-10);
      expect(Math.abs(r.explainedVarianceRatio[t] - (s[t] * s[t]) / total)).toBeLessThan(1e-12);
      expect(Math.abs(dot(row(r.components, t, d), b[t]))).toBeGreaterThan(1 - 1e-12);
    }
    for (let j = 0; j < d; j++) expect(Math.abs(r.mean[j] - mean[j])).toBeLessThan(1e-12);
  });

  it('gives the same answer through the d x d scatter matrix (n > d)', () => {
    const n = 60, d = 12;
    const g = gaussian(rng(5));
    const x = Float64Array.from({ length: n * d }, g);
    const wide = pca(x, n, d, { components: 5 });
    // The same data padded with zero columns goes through the Gram path.
    const dp = 80;
    const xp = new Float64Array(n * dp);
    for (let i = 0; i < n; i++) xp.set(x.subarray(i * d, i * d + d), i * dp);
    const tall = pca(xp, n, dp, { components: 5 });
    for (let t = 0; t < 5; t++) {
      expect(Math.abs(wide.explainedVariance[t] - tall.explainedVariance[t]) / wide.explainedVariance[t]).toBeLessThan(1e-10);
      expect(Math.abs(wide.explainedVarianceRatio[t] - tall.explainedVarianceRatio[t])).toBeLessThan(1e-12);
      expect(Math.abs(dot(row(wide.components, t, d), tall.components.subarray(t * dp, t * dp + d)))).toBeGreaterThan(1 - 1e-10);
    }
  });

  it('components are orthonormal and coordinates are the centred rows projected on them', () => {
    const n = 25, d = 70;
    const g = gaussian(rng(11));
    const x = Float32Array.from({ length: n * d }, g);
    const r = pca(x, n, d, { components: 6 });
    for (let a = 0; a < 6; a++) {
      for (let c = 0; c < 6; c++) expect(Math.abs(dot(row(r.components, a, d), row(r.components, c, d)) - (a === c ? 1 : 0))).toBeLessThan(1e-12);
    }
    for (let i = 0; i < n; i++) {
      const p = projectOnComponents(r, x.subarray(i * d, i * d + d));
      for (let c = 0; c < 6; c++) expect(Math.abs(p[c] - r.coords[i * 6 + c])).toBeLessThan(1e-10);
    }
    // variance along a component = sum of squared coordinates / (n - 1)
    for (let c = 0; c < 6; c++) {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += r.coords[i * 6 + c] ** 2;
      expect(Math.abs(ss / (n - 1) - r.explainedVariance[c]) / r.explainedVariance[c]).toBeLessThan(1e-10);
    }
    for (let c = 1; c < 6; c++) expect(r.explainedVariance[c]).toBeLessThanOrEqual(r.explainedVariance[c - 1]);
  });

  it('rank-deficient data: ratios sum to 1 over the rank, extra components are orthonormal with zero variance', () => {
    const n = 20, d = 50;
    const { x } = plantedMatrix(n, d, [4, 2], 21);
    const r = pca(x, n, d, { components: 5 });
    expect(r.rank).toBe(2);
    expect(r.explainedVarianceRatio[0] + r.explainedVarianceRatio[1]).toBeCloseTo(1, 12);
    for (let c = 2; c < 5; c++) {
      expect(r.explainedVariance[c]).toBe(0);
      for (let i = 0; i < n; i++) expect(r.coords[i * 5 + c]).toBe(0);
    }
    for (let a = 0; a < 5; a++) {
      for (let c = 0; c < 5; c++) expect(Math.abs(dot(row(r.components, a, d), row(r.components, c, d)) - (a === c ? 1 : 0))).toBeLessThan(1e-12);
    }
    // identical rows: nothing to explain
    const same = new Float64Array(4 * 3).fill(2);
    const z = pca(same, 4, 3, { components: 2 });
    expect(z.rank).toBe(0);
    expect(z.totalVariance).toBe(0);
    expect(Array.from(z.explainedVarianceRatio)).toEqual([0, 0]);
  });

  it('orients each component so the orientation vector projects non-negatively; else the largest |coordinate| is positive', () => {
    const n = 30, d = 40;
    const { x, b } = plantedMatrix(n, d, [9, 4, 2], 8);
    const neg = Float64Array.from(b[0], (v, j) => -v + 0.1 * b[1][j] - 0.2 * b[2][j]);
    const r = pca(x, n, d, { components: 3, orient: neg });
    for (let c = 0; c < 3; c++) expect(dot(row(r.components, c, d), neg)).toBeGreaterThan(0);
    expect(dot(row(r.components, 0, d), b[0])).toBeLessThan(0);
    const f = pca(x, n, d, { components: 3 });
    for (let c = 0; c < 3; c++) {
      let best = 0;
      for (let i = 0; i < n; i++) if (Math.abs(f.coords[i * 3 + c]) > Math.abs(best)) best = f.coords[i * 3 + c];
      expect(best).toBeGreaterThan(0);
    }
  });

  it('clamps K, rejects NaN and bad shapes', () => {
    const x = new Float64Array([1, 2, 3, 4, 5, 7]);
    expect(pca(x, 3, 2, { components: 10 }).k).toBe(2);
    expect(() => pca(new Float64Array([1, NaN, 2, 3]), 2, 2)).toThrow(DataError);
    expect(() => pca(new Float64Array([1, Infinity, 2, 3]), 2, 2)).toThrow(/NaN or infinite/);
    expect(() => pca(x, 4, 2)).toThrow(RangeError);
  });

  it('the JS fallback kernels give the same result as WebAssembly (Gram and scatter paths)', () => {
    expect(pcaBackend()).toBe('wasm');
    for (const [n, d] of [[23, 517], [70, 9]]) {
      const { x } = plantedMatrix(n, d, [7, 5, 3], 2);
      const a = pca(x, n, d, { components: 3 });
      setPcaBackend('js');
      try {
        expect(pcaBackend()).toBe('js');
        const b = pca(x, n, d, { components: 3 });
        for (let t = 0; t < 3; t++) {
          expect(Math.abs(a.explainedVariance[t] - b.explainedVariance[t]) / a.explainedVariance[t]).toBeLessThan(1e-12);
          expect(dot(row(a.components, t, d), row(b.components, t, d))).toBeGreaterThan(1 - 1e-12);
          for (let i = 0; i < n; i++) expect(Math.abs(a.coords[i * 3 + t] - b.coords[i * 3 + t])).toBeLessThan(1e-10);
        }
      } finally {
        setPcaBackend('wasm');
      }
    }
  });
});

describe('float32 input: the float32 Gram path', () => {
  it('matches the float64 Gram path; components orthonormal, coordinates and variances from the data to float64 precision', () => {
    // n = 61 and 150 take Lanczos for the top eigenvectors and pivoted Cholesky for the rank.
    for (const [n, d] of [[40, 516], [9, 1030], [61, 64], [150, 600]]) {
      const p = plantedMatrix(n, d, [30, 12, 5, 2], n + d);
      const x = Float32Array.from(p.x);
      expect(pcaBackend()).toBe('wasm');
      const a = pca(x, n, d, { components: 4 });
      setPcaBackend('wasm-f64');
      let b;
      try {
        b = pca(x, n, d, { components: 4 });
      } finally {
        setPcaBackend('wasm');
      }
      expect(a.rank).toBe(b.rank);
      expect(Math.abs(a.totalVariance - b.totalVariance) / b.totalVariance).toBeLessThan(1e-13);
      for (let j = 0; j < d; j++) expect(Math.abs(a.mean[j] - b.mean[j])).toBeLessThan(1e-13 * (1 + Math.abs(b.mean[j])));
      for (let t = 0; t < 4; t++) {
        expect(Math.abs(a.explainedVariance[t] - b.explainedVariance[t]) / b.explainedVariance[t]).toBeLessThan(1e-10);
        expect(dot(row(a.components, t, d), row(b.components, t, d))).toBeGreaterThan(1 - 1e-10);
        for (let c = 0; c < 4; c++) expect(Math.abs(dot(row(a.components, t, d), row(a.components, c, d)) - (t === c ? 1 : 0))).toBeLessThan(1e-13);
        let ss = 0;
        for (let i = 0; i < n; i++) ss += a.coords[i * 4 + t] ** 2;
        expect(Math.abs(ss / (n - 1) - a.explainedVariance[t]) / a.explainedVariance[t]).toBeLessThan(1e-12);
      }
      for (let i = 0; i < n; i++) {
        const q = projectOnComponents(a, x.subarray(i * d, i * d + d));
        for (let t = 0; t < 4; t++) {
          expect(Math.abs(q[t] - a.coords[i * 4 + t])).toBeLessThan(1e-11 * 30);
          expect(Math.abs(a.coords[i * 4 + t] - b.coords[i * 4 + t])).toBeLessThan(1e-8 * 30);
        }
      }
    }
  });

  it('exactly repeated and zero variances (n > 48: Lanczos): a square of four clusters gives both directions, identical rows none', () => {
    const n = 100, d = 64;
    const sq = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const q = i % 4;
      sq[i * d] = q === 0 ? 1 : q === 1 ? -1 : 0;
      sq[i * d + 1] = q === 2 ? 1 : q === 3 ? -1 : 0;
    }
    const r = pca(sq, n, d, { components: 3 });
    expect(r.rank).toBe(2);
    expect(r.explainedVarianceRatio[0]).toBeCloseTo(0.5, 12);
    expect(r.explainedVarianceRatio[1]).toBeCloseTo(0.5, 12);
    expect(r.explainedVariance[2]).toBe(0);
    // PC1 and PC2 span the first two coordinates.
    for (let c = 0; c < 2; c++) expect(r.components[c * d] ** 2 + r.components[c * d + 1] ** 2).toBeCloseTo(1, 12);
    const same = pca(new Float32Array(n * d).fill(2), n, d, { components: 3 });
    expect(same.rank).toBe(0);
    expect(same.totalVariance).toBe(0);
  });

  it('NaN in float32 input is refused; values whose float32 products would overflow or underflow take the float64 path', () => {
    expect(() => pca(new Float32Array([1, NaN, 2, 3, 4, 5, 6, 7]), 2, 4)).toThrow(DataError);
    const n = 12, d = 40;
    const { x } = plantedMatrix(n, d, [5, 2], 3);
    const ref = pca(Float32Array.from(x), n, d, { components: 2 });
    for (const scale of [1e19, 1e-22]) {
      const r = pca(Float32Array.from(x, (v) => v * scale), n, d, { components: 2 });
      for (let t = 0; t < 2; t++) {
        expect(Math.abs(r.explainedVarianceRatio[t] - ref.explainedVarianceRatio[t])).toBeLessThan(1e-6);
        expect(Math.abs(dot(row(r.components, t, d), row(ref.components, t, d)))).toBeGreaterThan(1 - 1e-6);
      }
    }
  });

  it('float32 data whose centred values do not fit float32 (a mean 1e4 times the spread) still matches the float64 path', () => {
    const n = 30, d = 600;
    const g = gaussian(rng(17));
    const dirs = [Float64Array.from({ length: d }, g), Float64Array.from({ length: d }, g)];
    const base = Float64Array.from({ length: d }, () => 1e4 * (1 + g()));
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const w = [3 * g(), g()];
      for (let j = 0; j < d; j++) x[i * d + j] = base[j] + w[0] * dirs[0][j] + w[1] * dirs[1][j] + 0.01 * g();
    }
    const a = pca(x, n, d, { components: 2 });
    setPcaBackend('wasm-f64');
    let b;
    try {
      b = pca(x, n, d, { components: 2 });
    } finally {
      setPcaBackend('wasm');
    }
    for (let t = 0; t < 2; t++) {
      expect(Math.abs(a.explainedVarianceRatio[t] - b.explainedVarianceRatio[t])).toBeLessThan(1e-9);
      expect(dot(row(a.components, t, d), row(b.components, t, d))).toBeGreaterThan(1 - 1e-9);
    }
  });
});

describe('pca properties (fast-check)', () => {
  it('with every component kept: orthonormal basis, ratios sum to 1, coordinates reconstruct the centred data', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer(),
        (n, d, lowRank, seed) => {
          const g = gaussian(rng(seed));
          // Optionally low rank: rows are combinations of `lowRank` directions (0 = full rank).
          const dirs = Array.from({ length: lowRank }, () => Float64Array.from({ length: d }, g));
          const x = new Float64Array(n * d);
          for (let i = 0; i < n; i++) {
            const w = dirs.map(() => g());
            for (let j = 0; j < d; j++) x[i * d + j] = lowRank ? dirs.reduce((s, v, t) => s + w[t] * v[j], 0) : g();
          }
          const k = Math.min(n, d);
          const r = pca(x, n, d, { components: k });
          let sum = 0;
          for (let c = 0; c < k; c++) sum += r.explainedVarianceRatio[c];
          if (r.totalVariance > 0) expect(sum).toBeCloseTo(1, 9);
          for (let a = 0; a < k; a++)
            for (let c = 0; c < k; c++) expect(Math.abs(dot(row(r.components, a, d), row(r.components, c, d)) - (a === c ? 1 : 0))).toBeLessThan(1e-9);
          const scale = Math.sqrt(r.totalVariance) + 1;
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < d; j++) {
              let v = r.mean[j];
              for (let c = 0; c < k; c++) v += r.coords[i * k + c] * r.components[c * d + j];
              expect(Math.abs(v - x[i * d + j])).toBeLessThan(1e-8 * scale);
            }
          }
        },
      ),
      props({ numRuns: 150 }),
    );
  });
});
