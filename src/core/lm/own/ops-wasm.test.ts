/**
 * The decoder's SIMD ops (ops-wasm.ts) against the scalar code of decoder.ts they replace:
 * DynamicQuantizeLinear and argmax bit for bit (random, extreme, tie, constant and non-finite
 * inputs, every length around the kernels' 16-value blocks), attention bit for bit decoder.ts's
 * attendScalar (float32, exp32) and the earlier float64 loop (attendF64), both within float32
 * rounding of a float64 reference, over masked slot lists, slot counts around the 4-slot passes
 * and head sizes with and without a remainder block; exp32 against Math.exp.
 */
import { describe, expect, it } from 'vitest';
import { DataError } from '../../errors';
import { Pcg32 } from '../sampling';
import { argmax, attendScalar, dynamicQuantizeLinear } from './decoder';
import { attentionFits, DOT_SLOTS, exp32, WasmOps, wasmOpsAvailable } from './ops-wasm';

const f = Math.fround;
const F32_MAX = 3.4028234663852886e38;

describe('decoder SIMD ops', () => {
  expect(wasmOpsAvailable()).toBe(true);
  const ops = new WasmOps();
  const rng = new Pcg32(11);
  const rand = (n: number, g: () => number) => Float32Array.from({ length: n }, g);

  const sameQuant = (x: Float32Array, what: string) => {
    const codes = new Uint8Array(x.length).fill(77);
    const q = ops.quantize(x, codes);
    let ref: ReturnType<typeof dynamicQuantizeLinear> | null = null;
    try {
      ref = dynamicQuantizeLinear(x);
    } catch (e) {
      expect(e, what).toBeInstanceOf(DataError);
    }
    if (!ref) {
      expect(q, what).toBeNull();
      return;
    }
    expect(q, what).not.toBeNull();
    expect(Object.is(q!.scale, ref.scale), `${what}: scale ${q!.scale} vs ${ref.scale}`).toBe(true);
    expect(Object.is(q!.zeroPoint, ref.zeroPoint), `${what}: zero point ${q!.zeroPoint} vs ${ref.zeroPoint}`).toBe(true);
    expect(q!.codes).toBe(codes);
    for (let i = 0; i < x.length; i++) if (codes[i] !== ref.codes[i]) expect(`${what}: code ${i} of ${x.length} (x ${x[i]}) is ${codes[i]}, scalar ${ref.codes[i]}`).toBe('');
  };

  it('DynamicQuantizeLinear: bit for bit the scalar code on random inputs of every length 1-100 and model widths', () => {
    for (let n = 1; n <= 100; n++) sameQuant(rand(n, () => (rng.float() - 0.4) * 10), `random ${n}`);
    for (const n of [1024, 2048, 3072, 7 * 1024 + 5]) {
      sameQuant(rand(n, () => (rng.float() - 0.5) * 3), `random ${n}`);
      // heavy tails, as activations have: a few large values, most near 0
      sameQuant(rand(n, () => (rng.float() - 0.5) * (rng.float() < 0.01 ? 200 : 1)), `outliers ${n}`);
    }
  });

  it('DynamicQuantizeLinear: ties (x / scale = k + 0.5 exactly) round half to even, for positive and negative k', () => {
    // scale = 1/16 exactly: max - min = 255/16
    for (const [mn, mx] of [[0, 255 / 16], [-128 / 16, 127 / 16], [-255 / 16, 0], [-100 / 16, 155 / 16]]) {
      const x = new Float32Array(80);
      x[0] = mn;
      x[1] = mx;
      for (let i = 2; i < x.length; i++) {
        const k = Math.floor(mn * 16) + Math.floor(rng.float() * 254);
        x[i] = (k + 0.5) / 16; // exact in float32
      }
      expect(f(f(mx - mn) / 255)).toBe(1 / 16);
      sameQuant(x, `ties in [${mn}, ${mx}]`);
      const q = ops.quantize(x, new Uint8Array(x.length))!;
      // an even code for every tie (zero point even or odd: the rounding is of x / scale, before it)
      for (let i = 2; i < x.length; i++) expect(q.codes[i] - q.zeroPoint === Math.round(x[i] * 16) || q.codes[i] - q.zeroPoint === Math.round(x[i] * 16) - 1).toBe(true);
      for (let i = 2; i < x.length; i++) expect((q.codes[i] - q.zeroPoint) % 2 === 0).toBe(true);
    }
    // ties at a scale that is not a power of two: x = f((k + 0.5) * s) where that divides back exactly
    const x = rand(64, () => (rng.float() - 0.5) * 6);
    const ref = dynamicQuantizeLinear(x);
    let ties = 0;
    for (let i = 2; i < x.length && ties < 40; i++) {
      const k = Math.floor(rng.float() * 200) - 100;
      const v = f((k + 0.5) * ref.scale);
      if (v > x[0] && v < x[1] && f(v / ref.scale) === k + 0.5) { x[i] = v; ties++; }
    }
    sameQuant(x, 'ties at a general scale');
  });

  it('DynamicQuantizeLinear: constant, zero, -0, extreme and subnormal inputs; non-finite ones are refused (null)', () => {
    for (const n of [1, 15, 16, 17, 48, 50]) {
      sameQuant(new Float32Array(n), `zeros ${n}`);
      sameQuant(new Float32Array(n).fill(-0), `-0 ${n}`);
      for (const c of [1, -1, 3.7, -1e-3, 1e30, -1e30, F32_MAX, -F32_MAX, 1e-40, -1e-45]) sameQuant(new Float32Array(n).fill(c), `constant ${c} x ${n}`);
      sameQuant(rand(n, () => (rng.float() < 0.5 ? -1 : 1) * F32_MAX * rng.float()), `near +-max ${n}`); // max - min overflows: scale Infinity
      sameQuant(rand(n, () => (rng.float() - 0.5) * 1e38), `large ${n}`);
      sameQuant(rand(n, () => (rng.float() - 0.5) * 1e-38), `tiny ${n}`);
      sameQuant(rand(n, () => (rng.float() - 0.5) * 1e-43), `subnormal ${n}`); // scale 0 or subnormal
      sameQuant(rand(n, () => (rng.float() < 0.5 ? -0 : 0)), `signed zeros ${n}`);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of [0, Math.floor(n / 2), n - 1]) {
          const x = rand(n, () => rng.float() - 0.5);
          x[at] = bad;
          expect(ops.quantize(x, new Uint8Array(n)), `${bad} at ${at} of ${n}`).toBeNull();
          sameQuant(x, `${bad} at ${at} of ${n}`);
        }
      }
    }
  });

  it('argmax: the scalar argmax exactly (first of ties, -0 = +0, -Infinity, the max in the tail), NaN refused', () => {
    for (const n of [1, 5, 15, 16, 17, 31, 32, 33, 100, 4099, 151936]) {
      const x = rand(n, () => rng.float());
      expect(ops.argmax(x), `random ${n}`).toBe(argmax(x));
      const t = rand(n, () => Math.floor(rng.float() * 3)); // many ties of the max
      expect(ops.argmax(t), `ties ${n}`).toBe(argmax(t));
      const lo = new Float32Array(n).fill(-Infinity);
      expect(ops.argmax(lo)).toBe(0);
      lo[n - 1] = -1e30;
      expect(ops.argmax(lo)).toBe(n - 1);
      const z = rand(n, () => (rng.float() < 0.5 ? -0 : 0));
      expect(ops.argmax(z), `signed zeros ${n}`).toBe(argmax(z));
      const tail = rand(n, () => rng.float());
      tail[n - 1] = 2;
      expect(ops.argmax(tail)).toBe(n - 1);
      if (n > 1) {
        tail[n - 2] = 2;
        expect(ops.argmax(tail)).toBe(n - 2);
      }
      for (const at of [0, n >> 1, n - 1]) {
        const bad = rand(n, () => rng.float());
        bad[at] = NaN;
        expect(() => argmax(bad)).toThrow(/finite/);
        expect(() => ops.argmax(bad), `NaN at ${at} of ${n}`).toThrow(DataError);
        expect(() => ops.argmax(bad)).toThrow(/finite/);
      }
    }
  });

  /** The decoder's earlier float64 attention for one query head over slots `idx` (setAttentionPath('f64'): its loop, verbatim in effect). */
  const scalarAttention = (q: Float32Array, K: Float32Array, V: Float32Array, idx: number[], hd: number, scale: number): Float32Array => {
    const scores = new Float64Array(idx.length), acc = new Float64Array(hd);
    let max = -Infinity;
    idx.forEach((u, j) => {
      let a = 0;
      for (let i = 0; i < hd; i++) a += q[i] * K[u * hd + i];
      const s = f(f(a) * scale);
      scores[j] = s;
      if (s > max) max = s;
    });
    let sum = 0;
    for (let j = 0; j < idx.length; j++) {
      const ex = f(Math.exp(f(scores[j] - max)));
      scores[j] = ex;
      sum += ex;
    }
    const inv = f(1 / f(sum));
    idx.forEach((u, j) => {
      const p = f(scores[j] * inv);
      for (let i = 0; i < hd; i++) acc[i] += p * V[u * hd + i];
    });
    return Float32Array.from(acc);
  };
  /** Attention in float64 throughout (no float32 rounding anywhere). */
  const f64Attention = (q: Float32Array, K: Float32Array, V: Float32Array, idx: number[], hd: number, scale: number): Float64Array => {
    const s = idx.map((u) => {
      let a = 0;
      for (let i = 0; i < hd; i++) a += q[i] * K[u * hd + i];
      return a * scale;
    });
    const mx = Math.max(...s);
    const e = s.map((v) => Math.exp(v - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    const out = new Float64Array(hd);
    idx.forEach((u, j) => { for (let i = 0; i < hd; i++) out[i] += (e[j] / sum) * V[u * hd + i]; });
    return out;
  };

  it('attention: bit for bit attendScalar (float32) and the float64 loop (attendF64), and near float64, over masked slot lists, head sizes 4-128, 1-70 slots, 1-7 heads a call', () => {
    expect(attentionFits(128) && attentionFits(16) && attentionFits(4)).toBe(true);
    expect(attentionFits(6) || attentionFits(0)).toBe(false);
    let worst = 0, worst64 = 0;
    for (const hd of [4, 8, 12, 16, 20, 48, 64, 128]) {
      for (const visible of [1, 2, 7, DOT_SLOTS, DOT_SLOTS + 1, 33, 70]) {
        const off = 3 * hd; // the head's slots start inside a larger buffer
        const K = rand(off + visible * hd + hd, () => (rng.float() - 0.5) * 4), V = rand(off + visible * hd + hd, () => rng.float() - 0.5);
        const Kh = K.subarray(off), Vh = V.subarray(off);
        const heads = 7; // attended 1, 2, 3, 4 and 7 at a time (the kernels take 4, 2 or 1 heads a call)
        const q = rand(heads * hd, () => (rng.float() - 0.5) * 4);
        const scale = f(1 / Math.sqrt(hd));
        for (const masked of [false, true]) {
          const idx = Array.from({ length: visible }, (_, u) => u).filter((u) => !masked || u === visible - 1 || rng.float() < 0.6);
          ops.loadKv(K, V, off, visible, hd, Int32Array.from(idx), idx.length);
          // every prefix of the slot list (the row's earlier new tokens see fewer slots)
          for (const n of new Set([1, Math.ceil(idx.length / 2), idx.length])) {
            for (const [h0, count] of [[0, 1], [1, 2], [3, 4], [0, 3], [0, 7]]) {
              const out = new Float32Array(heads * hd + 2).fill(9), out64 = out.slice();
              ops.attend(q, h0 * hd, count, n, scale, out, h0 * hd + 1);
              ops.attendF64(q, h0 * hd, count, n, scale, out64, h0 * hd + 1);
              for (const o of [out, out64]) {
                expect(o[h0 * hd], 'nothing written before').toBe(9);
                expect(o[(h0 + count) * hd + 1], 'nothing written after').toBe(9);
              }
              for (let h = h0; h < h0 + count; h++) {
                const got = out.subarray(h * hd + 1, (h + 1) * hd + 1), got64 = out64.subarray(h * hd + 1, (h + 1) * hd + 1);
                const ref = new Float32Array(hd + 3).fill(7);
                attendScalar(q, h * hd, Kh, Vh, 0, hd, idx, n, scale, new Float64Array(n), new Float64Array(hd), ref, 2);
                expect([ref[1], ref[hd + 2]]).toEqual([7, 7]);
                const ref64 = scalarAttention(q.subarray(h * hd), Kh, Vh, idx.slice(0, n), hd, scale);
                const what = `hd ${hd}, visible ${visible}, masked ${masked}, n ${n}, head ${h} of ${h0}..${h0 + count - 1}`;
                for (let i = 0; i < hd; i++) if (!Object.is(got[i], ref[i + 2])) expect(`${what}: value ${i} is ${got[i]}, attendScalar ${ref[i + 2]}`).toBe('');
                for (let i = 0; i < hd; i++) if (!Object.is(got64[i], ref64[i])) expect(`${what}: value ${i} is ${got64[i]} (attendF64), scalar ${ref64[i]}`).toBe('');
                const exact = f64Attention(q.subarray(h * hd), Kh, Vh, idx.slice(0, n), hd, scale);
                let big = 0;
                for (let i = 0; i < hd; i++) big = Math.max(big, Math.abs(exact[i]));
                for (let i = 0; i < hd; i++) {
                  worst = Math.max(worst, Math.abs(got[i] - exact[i]) / big);
                  worst64 = Math.max(worst64, Math.abs(got64[i] - exact[i]) / big);
                }
              }
            }
          }
        }
      }
    }
    // float32 scores, probabilities and output (float64 sums or not): a few float32 ulps of the
    // largest value (float32 sums ~7e-7 here, float64 ones ~2e-7)
    expect(worst64).toBeLessThan(1e-5);
    expect(worst).toBeLessThan(1e-5);
  });

  it('attention: bit for bit attendScalar where scores are far apart (exp32 at its clamp, weights near 1e-38), near and all equal', () => {
    const hd = 16, visible = 13;
    for (const [label, qScale] of [['far apart', 3000], ['near', 1e-3], ['equal', 0]] as const) {
      const K = rand(visible * hd, () => rng.float() - 0.5), V = rand(visible * hd, () => rng.float() - 0.5);
      const q = rand(4 * hd, () => (rng.float() - 0.5) * qScale);
      const idx = Array.from({ length: visible }, (_, u) => u);
      ops.loadKv(K, V, 0, visible, hd, Int32Array.from(idx), visible);
      for (const n of [1, 4, 5, visible]) {
        const out = new Float32Array(4 * hd);
        ops.attend(q, 0, 4, n, f(1 / 4), out, 0);
        const ref = new Float32Array(4 * hd);
        for (let h = 0; h < 4; h++) attendScalar(q, h * hd, K, V, 0, hd, idx, n, f(1 / 4), new Float64Array(n), new Float64Array(hd), ref, h * hd);
        for (let i = 0; i < 4 * hd; i++) if (!Object.is(out[i], ref[i])) expect(`${label}, n ${n}: value ${i} is ${out[i]}, attendScalar ${ref[i]}`).toBe('');
        expect(out.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('exp32: within 2 float32 ulps of Math.exp over [-87, 0], 1 at 0 and -0, NaN kept, tiny below the clamp', () => {
    let worst = 0;
    for (let i = 0; i <= 20000; i++) {
      const x = f(-87 * (i / 20000) ** 2);
      const ref = Math.exp(x), got = exp32(x);
      expect(Object.is(got, f(got))).toBe(true);
      worst = Math.max(worst, Math.abs(got - ref) / ref);
    }
    expect(worst).toBeLessThan(2 * 2 ** -23);
    expect([exp32(0), exp32(-0)]).toEqual([1, 1]);
    expect(exp32(NaN)).toBeNaN();
    expect(exp32(-Infinity)).toBe(exp32(-87));
    expect(exp32(-1000)).toBeLessThan(1e-37);
  });

  it('attendScalar at head sizes the kernels do not take (5, 6, 7, 10): near float64', () => {
    for (const hd of [5, 6, 7, 10]) {
      const visible = 9;
      const K = rand(visible * hd, () => (rng.float() - 0.5) * 4), V = rand(visible * hd, () => rng.float() - 0.5), q = rand(hd, () => (rng.float() - 0.5) * 4);
      const idx = [0, 2, 3, 5, 8], scale = f(1 / Math.sqrt(hd));
      const got = new Float32Array(hd);
      attendScalar(q, 0, K, V, 0, hd, idx, idx.length, scale, new Float64Array(idx.length), new Float64Array(hd), got, 0);
      const exact = f64Attention(q, K, V, idx, hd, scale);
      let big = 0;
      for (let i = 0; i < hd; i++) big = Math.max(big, Math.abs(exact[i]));
      for (let i = 0; i < hd; i++) expect(Math.abs(got[i] - exact[i]) / big, `hd ${hd}, value ${i}`).toBeLessThan(1e-5);
    }
  });

  it('one instance serves inputs larger than its memory (it grows) and keeps its results apart', () => {
    const big = rand(300_000, () => rng.float() - 0.5);
    sameQuant(big, 'grown');
    sameQuant(rand(40, () => rng.float() * 2), 'after growing');
    expect(ops.argmax(big)).toBe(argmax(big));
  });
});
