/**
 * The decoder's SIMD RMSNorm and q/k preparation (ops-wasm.ts rms, qkPrep) against the scalar
 * code of decoder.ts they replace (rmsNorm, applyRope), bit for bit (Object.is on every value):
 * group sizes 4-1024, 1-9 groups (odd counts run with a spare group), magnitudes from subnormal to
 * near overflow, zero groups; q/k heads with and without Qwen3's per-head norm, odd and even head
 * counts, several positions' tables; SwiGLU (ops-wasm.ts swiglu) bit for bit decoder.ts's swiglu
 * over 1-9 rows, widths 4-3072, gates from subnormal to past exp's overflow, zeros, infinities.
 */
import { describe, expect, it } from 'vitest';
import { Pcg32 } from '../sampling';
import { applyRope, rmsNorm, swiglu } from './decoder';
import { rmsFits, ropeFits, WasmOps, wasmOpsAvailable } from './ops-wasm';

const f = Math.fround;

describe('decoder SIMD RMSNorm and q/k prep', () => {
  expect(wasmOpsAvailable()).toBe(true);
  const ops = new WasmOps();
  const rng = new Pcg32(23);
  const rand = (n: number, g: () => number) => Float32Array.from({ length: n }, g);
  const same = (got: Float32Array, ref: Float32Array, what: string) => {
    expect(got.length, what).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) if (!Object.is(got[i], ref[i])) expect(`${what}: value ${i} is ${got[i]}, scalar ${ref[i]}`).toBe('');
  };
  /** Values of a wide spread of magnitudes (the sum's order matters for these). */
  const spread = (n: number, lo: number, hi: number) => rand(n, () => (rng.float() < 0.5 ? -1 : 1) * 2 ** (lo + rng.float() * (hi - lo)));

  it('rms: bit for bit rmsNorm over group sizes, group counts and magnitudes, in place and into another array', () => {
    expect(rmsFits(4) && rmsFits(1024) && !rmsFits(6) && !rmsFits(0)).toBe(true);
    const eps = f(1e-6);
    for (const dim of [4, 8, 12, 64, 128, 132, 1024]) {
      for (const n of [1, 2, 3, 4, 5, 7, 8, 9]) {
        const w = rand(dim, () => (rng.float() - 0.3) * 3);
        const inputs: [string, Float32Array][] = [
          ['uniform', rand(n * dim, () => rng.float() - 0.5)],
          ['spread', spread(n * dim, -30, 30)],
          ['large', spread(n * dim, 50, 62)],
          ['tiny', spread(n * dim, -140, -120)],
        ];
        const zeros = rand(n * dim, () => rng.float() - 0.5);
        zeros.fill(0, 0, dim); // a zero group: inv = 1 / sqrt(eps)
        inputs.push(['zero group', zeros]);
        if (dim >= 12) {
          // squares 1, 2^-24 (1 + 2^-24: a float32 tie), then 2^-54 each: added one by one after the
          // 1, each is lost (f32(ss) = 1); summed among themselves first, they would tip the tie up
          const order = new Float32Array(n * dim);
          for (let g = 0; g < n; g++) {
            const o = g * dim + (g % 3);
            order[o] = 1;
            order[o + 1] = 2 ** -12;
            for (let i = 2; i < 10; i++) order[o + i] = 2 ** -27;
          }
          inputs.push(['summation order', order]);
        }
        for (const [name, x] of inputs) {
          const what = `${name}, dim ${dim}, ${n} groups`;
          const ref = rmsNorm(x, dim, w, eps, new Float32Array(x.length));
          same(ops.rms(x, dim, w, eps, new Float32Array(x.length)), ref, what);
          const y = x.slice();
          same(ops.rms(y, dim, w, eps, y), ref, `${what}, in place`);
        }
      }
    }
    // another eps
    const x = rand(5 * 16, () => (rng.float() - 0.5) * 1e-3), w = rand(16, () => rng.float());
    same(ops.rms(x, 16, w, f(1e-5), new Float32Array(x.length)), rmsNorm(x, 16, w, f(1e-5), new Float32Array(x.length)), 'eps 1e-5');
  });

  it('qkPrep: bit for bit the scalar per-head rmsNorm and applyRope, with and without q/k norm, odd and even head counts', () => {
    expect(ropeFits(8) && ropeFits(128) && !ropeFits(4) && !ropeFits(12)).toBe(true);
    const eps = f(1e-6);
    for (const hd of [8, 16, 64, 128]) {
      for (const [nq, nk] of [[1, 1], [2, 1], [4, 2], [6, 3], [16, 8], [14, 2], [9, 9]]) {
        const qNorm = rand(hd, () => rng.float() + 0.5), kNorm = rand(hd, () => rng.float() * 2);
        const T = 3, width = (nq + 2 * nk) * hd;
        const cos = new Float32Array(T * hd), sin = new Float32Array(T * hd);
        for (let t = 0; t < T; t++) {
          const pos = [0, 7, 30000][t];
          for (let i = 0; i < hd / 2; i++) {
            const a = f(pos * f(1 / 10000 ** ((2 * i) / hd)));
            cos[t * hd + i] = cos[t * hd + i + hd / 2] = f(Math.cos(a));
            sin[t * hd + i] = sin[t * hd + i + hd / 2] = f(Math.sin(a));
          }
        }
        for (const norm of [true, false]) {
          const x = rng.float() < 0.5 ? rand(T * width, () => (rng.float() - 0.5) * 8) : spread(T * width, -20, 20);
          const ref = x.slice(), got = x.slice();
          const tmp = new Float32Array(hd);
          for (let t = 0; t < T; t++) {
            const o = t * width;
            if (norm) {
              rmsNorm(ref.subarray(o, o + nq * hd), hd, qNorm, eps, ref.subarray(o, o + nq * hd));
              rmsNorm(ref.subarray(o + nq * hd, o + (nq + nk) * hd), hd, kNorm, eps, ref.subarray(o + nq * hd, o + (nq + nk) * hd));
            }
            for (let h = 0; h < nq + nk; h++) applyRope(ref, o + h * hd, hd, cos, sin, t * hd, tmp);
            ops.qkPrep(got, o, nq, nk, hd, norm ? qNorm : null, norm ? kNorm : null, eps, cos, sin, t * hd);
          }
          same(got, ref, `hd ${hd}, ${nq} q and ${nk} k heads, norm ${norm}`);
        }
      }
    }
  });

  it('swiglu: bit for bit the scalar SiLU(gate) * up over rows, widths and gate magnitudes (exp overflow and underflow, infinities)', () => {
    for (const I of [4, 8, 12, 100, 3072]) {
      for (const M of [1, 2, 3, 8, 9]) {
        const gu = rand(M * 2 * I, () => (rng.float() - 0.5) * 10);
        for (let m = 0; m < M; m++) {
          const g = gu.subarray(m * 2 * I, m * 2 * I + I);
          for (let i = 0; i < I; i++) {
            const r = rng.float();
            if (r < 0.1) g[i] = (rng.float() - 0.5) * 2000; // exp(-g) overflows or underflows
            else if (r < 0.15) g[i] = (rng.float() - 0.5) * 2 ** -130; // subnormal
            else if (r < 0.2) g[i] = spread(1, -40, 40)[0];
          }
          if (I >= 8) [g[0], g[1], g[2], g[3]] = [0, -0, Infinity, -Infinity];
        }
        const ref = new Float32Array(M * I), got = new Float32Array(M * I).fill(7);
        swiglu(gu, M, I, ref);
        ops.swiglu(gu, M, I, got);
        same(got, ref, `I ${I}, ${M} rows`);
      }
    }
  });
});
