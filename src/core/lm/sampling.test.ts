import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { argmax, argmaxFinite, Pcg32, sampleToken, validateSampling } from './sampling';
import { props } from '../formats/test-props';

describe('Pcg32', () => {
  it('matches the reference pcg32-demo sequence for seed 42, stream 54', () => {
    const r = new Pcg32(42, 54);
    const got = Array.from({ length: 6 }, () => r.next());
    expect(got).toEqual([0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]);
  });
  it('gives floats in [0, 1)', () => {
    const r = new Pcg32(7);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
  });
  it('refuses negative or fractional seeds', () => {
    expect(() => new Pcg32(-1)).toThrow(/seed/);
    expect(() => new Pcg32(1.5)).toThrow(/seed/);
  });
});

function softmax(l: number[], t: number): number[] {
  const m = Math.max(...l);
  const e = l.map((x) => Math.exp((x - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Reference: the allowed set after top-k then top-p, by full sorting (HF semantics). */
function allowedSet(l: number[], t: number, k: number, p: number): Set<number> {
  let order = l.map((_, i) => i).sort((a, b) => l[b] - l[a] || a - b);
  if (k > 0) order = order.slice(0, k);
  const probs = softmax(order.map((i) => l[i]), t);
  const keep: number[] = [];
  let s = 0;
  for (let j = 0; j < order.length; j++) {
    keep.push(order[j]);
    s += probs[j];
    if (s >= p - 1e-12) break;
  }
  return new Set(keep);
}

describe('sampleToken', () => {
  it('is greedy at temperature 0 and picks the first maximum on ties', () => {
    const l = new Float32Array([0.1, 3, -2, 3]);
    expect(sampleToken(l, { temperature: 0, topK: 0, topP: 1 }, new Pcg32(1))).toBe(1);
    expect(argmax([1, 5, 5, 2])).toBe(1);
  });

  it('reads one row at an offset', () => {
    const l = new Float32Array([9, 9, 9, 0, 1, 5, 2]);
    expect(sampleToken(l, { temperature: 0, topK: 0, topP: 1 }, new Pcg32(1), 3, 4)).toBe(2);
  });

  it('only ever returns tokens inside the top-k / top-p set', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -8, max: 8, noNaN: true }), { minLength: 2, maxLength: 40 }),
        fc.integer({ min: 0, max: 10 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.double({ min: 0.2, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        (vals, k, p, t, seed) => {
          const l = new Float32Array(vals);
          const allowed = allowedSet(Array.from(l), t, k, p);
          const rng = new Pcg32(seed);
          for (let i = 0; i < 20; i++) expect(allowed.has(sampleToken(l, { temperature: t, topK: k, topP: p }, rng))).toBe(true);
        },
      ),
      props({ numRuns: 200 }),
    );
  });

  it('samples with the softmax frequencies (chi-square-ish check)', () => {
    const l = new Float32Array([0, Math.log(2), Math.log(3), Math.log(4)]);
    const counts = [0, 0, 0, 0];
    const rng = new Pcg32(123);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(l, { temperature: 1, topK: 0, topP: 1 }, rng)]++;
    [0.1, 0.2, 0.3, 0.4].forEach((p, i) => expect(Math.abs(counts[i] / n - p)).toBeLessThan(0.015));
  });

  it('is reproducible for a seed and differs across seeds on a large vocabulary', () => {
    const r = new Pcg32(5);
    const l = new Float32Array(151936);
    for (let i = 0; i < l.length; i++) l[i] = (r.float() - 0.5) * 6;
    const draw = (seed: number) => {
      const rng = new Pcg32(seed);
      return Array.from({ length: 8 }, () => sampleToken(l, { temperature: 0.7, topK: 0, topP: 0.9 }, rng));
    };
    expect(draw(11)).toEqual(draw(11));
    expect(draw(11)).not.toEqual(draw(12));
  });

  it('validates parameters with readable errors', () => {
    expect(() => validateSampling({ temperature: -1, topK: 0, topP: 1 })).toThrow(/Temperature/);
    expect(() => validateSampling({ temperature: 1, topK: 1.5, topP: 1 })).toThrow(/top-k/);
    expect(() => validateSampling({ temperature: 1, topK: 0, topP: 0 })).toThrow(/top-p/);
  });
});

describe('argmaxFinite (the engine\'s fused greedy pass)', () => {
  /** The old pair: argmax, and the first non-finite index (conversation.ts's scan) refusing the row. */
  const reference = (x: Float32Array, start: number, end: number): number => {
    for (let i = start; i < end; i++) if (!Number.isFinite(x[i])) return -1;
    return argmax(x, start, end);
  };
  const rows = (): Float32Array[] => {
    const rng = new Pcg32(3);
    const out: Float32Array[] = [];
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 1001]) {
      // random values, few distinct values (many ties), all equal, and special values at various positions
      out.push(Float32Array.from({ length: n }, () => rng.float() * 4 - 2));
      out.push(Float32Array.from({ length: n }, () => Math.floor(rng.float() * 3)));
      out.push(new Float32Array(n).fill(-1.5));
      out.push(Float32Array.from({ length: n }, (_, i) => (i % 2 ? -0 : 0)));
      for (const special of [NaN, Infinity, -Infinity, 3.4e38, -3.4e38]) {
        for (const at of new Set([0, 1, 2, 3, 4, n >> 1, n - 2, n - 1].filter((i) => i >= 0 && i < n))) {
          const x = Float32Array.from({ length: n }, () => Math.floor(rng.float() * 5));
          x[at] = special;
          out.push(x);
        }
      }
    }
    return out;
  };
  it('gives argmax and the non-finite check\'s result on whole rows and sub-ranges', () => {
    for (const x of rows()) {
      const n = x.length;
      for (const [a, b] of [[0, n], [1, n], [0, n - 1], [Math.min(2, n), n], [n >> 1, n]]) {
        if (b <= a) continue;
        expect(argmaxFinite(x, a, b)).toBe(reference(x, a, b));
      }
    }
  });
  it('agrees with the pair on random rows (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.float(), fc.constantFrom(0, 1, NaN, Infinity, -Infinity)), { minLength: 1, maxLength: 80 }),
        fc.nat(10),
        (vals, cut) => {
          const x = Float32Array.from(vals);
          const a = Math.min(cut, x.length - 1);
          expect(argmaxFinite(x, a, x.length)).toBe(reference(x, a, x.length));
        },
      ),
      props(),
    );
  });
  it('an empty range is 0 (as argmax), and sampleToken greedy is argmax', () => {
    expect(argmaxFinite(new Float32Array([1, 2]), 1, 1)).toBe(0);
    const x = Float32Array.from([0, 5, 5, 1, 9, 9, 2]);
    expect(sampleToken(x, { temperature: 0, topK: 0, topP: 1 }, new Pcg32(1), 1, 5)).toBe(argmax(x, 1, 6));
  });
});
