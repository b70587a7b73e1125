import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { argmax, argmaxFinite, bucketOf, keptCandidates, Pcg32, sampleToken, validateSampling, type SamplingParams } from './sampling';
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

/**
 * Reference kept set, straightforwardly: weights exp((l - max) * (1/T)) (zero weights cannot be drawn and
 * are left out), a full sort by logit descending then index ascending, top-k's prefix, then top-p's
 * prefix whose mass first reaches p times the total (the token crossing it included).
 */
function referenceKept(l: Float32Array, p: SamplingParams): Map<number, number> {
  const max = l.reduce((a, b) => Math.max(a, b), -Infinity);
  let order = Array.from(l, (_, i) => i).sort((a, b) => l[b] - l[a] || a - b);
  if (p.topK > 0) order = order.slice(0, p.topK);
  const invT = 1 / p.temperature;
  order = order.filter((i) => Math.exp((l[i] - max) * invT) > 0);
  const w = order.map((i) => Math.exp((l[i] - max) * invT));
  const need = p.topP * w.reduce((a, b) => a + b, 0);
  const kept = new Map<number, number>();
  let s = 0;
  for (let j = 0; j < order.length; j++) {
    kept.set(order[j], w[j]);
    s += w[j];
    if (p.topP < 1 && s >= need) break;
  }
  return kept;
}

/** The kept set as token -> weight, copied out of keptCandidates' scratch. */
function kept(l: Float32Array, p: SamplingParams, offset = 0, vocab = l.length - offset): Map<number, number> {
  const c = keptCandidates(l, p, offset, vocab);
  if (c === null) throw new Error('no candidates');
  const m = new Map<number, number>();
  for (let j = 0; j < c.n; j++) m.set(c.idx[j], c.w[j]);
  let s = 0;
  for (let j = 0; j < c.n; j++) s += c.w[j];
  expect(c.total).toBeCloseTo(s, 9);
  return m;
}

/** Row generators: flat, Zipf-like (shuffled ranks), few distinct values (ties), one dominant token, -Infinity entries. */
function rowsOf(rng: Pcg32, n: number): Array<[string, Float32Array]> {
  const u = () => rng.float();
  const zipf = new Float32Array(n);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  for (let k = 0; k < n; k++) zipf[perm[k]] = 8 - 1.1 * Math.log(k + 1) + (u() - 0.5) * 0.1;
  const dominant = Float32Array.from({ length: n }, () => u() * 2);
  dominant[Math.floor(u() * n)] = 30;
  const negInf = Float32Array.from({ length: n }, () => (u() < 0.3 ? -Infinity : (u() - 0.5) * 6));
  negInf[Math.floor(u() * n)] = 1;
  return [
    ['flat', Float32Array.from({ length: n }, () => (u() - 0.5) * 6)],
    ['zipf', zipf],
    ['ties', Float32Array.from({ length: n }, () => Math.floor(u() * 4) * 0.75)],
    ['zero ties', Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -0 : i % 3 === 1 ? 0 : -1))],
    ['dominant', dominant],
    ['-Infinity', negInf],
  ];
}

describe('keptCandidates (the kept set sampling draws from)', () => {
  const settings: SamplingParams[] = [];
  for (const temperature of [0.3, 0.7, 1.5])
    for (const [topK, topP] of [[0, 1], [7, 1], [50, 1], [0, 0.6180339], [0, 0.9137], [0, 0.33], [12, 0.7734], [200, 0.9137]])
      settings.push({ temperature, topK, topP });

  it('equals the full-sort reference on many rows and settings, at offsets into a multi-row buffer', () => {
    const rng = new Pcg32(2024);
    for (const n of [1, 2, 5, 64, 1000, 5003]) {
      const rows = rowsOf(rng, n);
      // all rows one after another, read at their offsets
      const buf = new Float32Array(rows.length * n + 3);
      rows.forEach(([, r], q) => buf.set(r, 3 + q * n));
      rows.forEach(([name, r], q) => {
        for (const p of settings) {
          const want = referenceKept(r, p);
          const got = kept(buf, p, 3 + q * n, n);
          const label = `${name} n=${n} ${JSON.stringify(p)}`;
          expect([...got.keys()].sort((a, b) => a - b), label).toEqual([...want.keys()].sort((a, b) => a - b));
          for (const [i, w] of want) expect(got.get(i), label).toBe(w);
        }
      });
    }
  });

  it('is null when the largest logit is not finite (sampleToken then gives the argmax)', () => {
    const allNeg = new Float32Array(4).fill(-Infinity);
    expect(keptCandidates(allNeg, { temperature: 1, topK: 0, topP: 0.9 })).toBeNull();
    expect(sampleToken(Float32Array.from([0, Infinity, 1]), { temperature: 1, topK: 0, topP: 1 }, new Pcg32(1))).toBe(1);
  });
});

describe('sampleToken draws', () => {
  class CountingRng extends Pcg32 {
    floats = 0;
    override float(): number {
      this.floats++;
      return super.float();
    }
  }

  it('draws exactly one float per call, and the same rng state gives the same token', () => {
    const rows = rowsOf(new Pcg32(9), 3000);
    for (const [name, l] of rows)
      for (const p of [{ temperature: 0.7, topK: 0, topP: 0.9 }, { temperature: 1, topK: 0, topP: 1 }, { temperature: 1.5, topK: 20, topP: 0.8 }, { temperature: 0.3, topK: 5, topP: 1 }]) {
        const a = new CountingRng(77), b = new CountingRng(77);
        for (let t = 0; t < 10; t++) {
          expect(sampleToken(l, p, a), name).toBe(sampleToken(l, p, b));
          expect(a.floats).toBe(t + 1);
        }
      }
  });

  it('keeps the token choices of the previous implementation for a seed (150k vocabulary)', () => {
    const V = 151936;
    const r = new Pcg32(5);
    const flat = new Float32Array(V);
    for (let i = 0; i < V; i++) flat[i] = (r.float() - 0.5) * 6;
    const zipf = new Float32Array(V);
    for (let i = 0; i < V; i++) zipf[i] = -1.1 * Math.log(1 + ((i * 7919) % V)) + r.float() * 0.2;
    const want: Record<string, number[]> = {
      'flat 0.7 0 0.9': [39279, 53106, 103659, 44287, 103798, 58350, 123417, 58541],
      'flat 1 0 1': [39507, 53457, 103696, 44571, 103835, 58613, 123401, 58815],
      'flat 0.7 40 0.9': [141533, 99362, 99907, 119522, 99907, 89078, 14018, 89078],
      'zipf 0.7 0 0.9': [0, 0, 43572, 0, 43572, 0, 83230, 0],
      'zipf 1 0 1': [24597, 41615, 91538, 31005, 91878, 41615, 117631, 41615],
      'zipf 0.7 40 0.9': [0, 0, 83230, 0, 83230, 0, 124845, 0],
    };
    for (const key of Object.keys(want)) {
      const [d, t, k, p] = key.split(' ');
      const rng = new Pcg32(11);
      const l = d === 'flat' ? flat : zipf;
      expect(Array.from({ length: 8 }, () => sampleToken(l, { temperature: +t, topK: +k, topP: +p }, rng)), key).toEqual(want[key]);
    }
  });

  it('samples with the exact nucleus probabilities (chi-square, fixed seed)', () => {
    // 12 tokens, ties included; T 0.8, top-k 10, top-p 0.85
    const l = Float32Array.from([2.1, 0.3, 1.7, 1.7, -0.4, 0.9, 2.6, -1.2, 0.9, 1.1, -3, 0.05]);
    const cases: SamplingParams[] = [
      { temperature: 0.8, topK: 0, topP: 0.85 },
      { temperature: 0.8, topK: 10, topP: 1 },
      { temperature: 1.5, topK: 6, topP: 0.9 },
      { temperature: 0.3, topK: 0, topP: 1 },
    ];
    for (const p of cases) {
      const ref = referenceKept(l, p);
      const total = [...ref.values()].reduce((a, b) => a + b, 0);
      const counts = new Map<number, number>();
      const rng = new Pcg32(31337);
      const n = 6000;
      for (let i = 0; i < n; i++) {
        const t = sampleToken(l, p, rng);
        expect(ref.has(t)).toBe(true);
        counts.set(t, (counts.get(t) ?? 0) + 1);
      }
      let chi2 = 0;
      for (const [i, w] of ref) {
        const e = (n * w) / total;
        chi2 += ((counts.get(i) ?? 0) - e) ** 2 / e;
      }
      // p = 0.001 critical value for up to 11 degrees of freedom is 31.3
      expect(chi2, JSON.stringify(p)).toBeLessThan(31.3);
      // and the check can fail: against uniform weights it would be far above
      if (ref.size > 2) {
        let chiU = 0;
        for (const i of ref.keys()) chiU += ((counts.get(i) ?? 0) - n / ref.size) ** 2 / (n / ref.size);
        expect(chiU).toBeGreaterThan(31.3);
      }
    }
  });
});

describe('bucketOf (top-p buckets without a log2 per token)', () => {
  // the old code stored this in a Uint16Array (-0 became 0)
  const exact = (e: number) => Math.min(2047, Math.floor(-Math.log2(e) * 16)) | 0;
  it('equals floor(-log2(exp(x)) * 16), capped at 2047, for random x and x at bucket edges', () => {
    const rng = new Pcg32(4);
    const xs: number[] = [0, -0, -1e-300, -745, -800, -Infinity];
    for (let i = 0; i < 20000; i++) xs.push(-rng.float() * 120, -rng.float() * 1e-3, Math.fround(rng.float() * 6 - 3) - 3);
    // bucket edges: x = -k ln2 / 16, and a few ulps either side
    for (let k = 0; k < 2100; k++) {
      const x = (-k * Math.LN2) / 16;
      xs.push(x, x * (1 + 2e-16), x * (1 - 2e-16), x * (1 + 1e-12), x * (1 - 1e-12));
    }
    for (const x of xs) {
      const e = Math.exp(x);
      if (!(e > 0)) continue;
      expect(bucketOf(x, e), `x = ${x}`).toBe(exact(e));
    }
  });
});
