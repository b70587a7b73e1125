/**
 * The SIMD argmax + finite check (logits-wasm.ts) against sampling.ts's argmaxFinite, which it must
 * equal exactly: random rows, ties (the first wins, -0 and +0 tie), NaN / +-Infinity at every lane
 * and block position, lengths around the 16-float blocks, sub-ranges at every alignment, the
 * vocabulary's size, and a memory that grows between calls.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { props } from '../../formats/test-props';
import { argmaxFinite, Pcg32 } from '../sampling';
import { LogitsWasm, logitsWasmAvailable, sharedLogitsWasm } from './logits-wasm';


describe('logits SIMD argmax (argmaxFinite exactly)', () => {
  expect(logitsWasmAvailable()).toBe(true);
  const w = new LogitsWasm();
  const rng = new Pcg32(5);
  const same = (x: Float32Array, a: number, b: number, what: string) => {
    const got = w.argmaxFinite(x, a, b), want = argmaxFinite(x, a, b);
    if (got !== want) expect(`${what} [${a}, ${b}) of ${x.length}: ${got}, argmaxFinite ${want}`).toBe('');
  };

  it('random, few-valued, constant and signed-zero rows of every length 0-100, at every start', () => {
    for (let n = 0; n <= 100; n++) {
      const kinds: [string, Float32Array][] = [
        ['random', Float32Array.from({ length: n }, () => rng.float() * 8 - 4)],
        ['few values', Float32Array.from({ length: n }, () => Math.floor(rng.float() * 3))],
        ['constant', new Float32Array(n).fill(-2.5)],
        ['zeros', Float32Array.from({ length: n }, () => (rng.float() < 0.5 ? -0 : 0))],
        ['negative zeros first', Float32Array.from({ length: n }, (_, i) => (i < n / 2 ? -0 : 0))],
      ];
      for (const [what, x] of kinds) for (let a = 0; a <= Math.min(n, 20); a++) same(x, a, n, what);
    }
  });

  it('NaN, +Infinity, -Infinity and extremes at every position of rows up to 70 and near the ends of long ones', () => {
    for (const special of [NaN, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45]) {
      for (const n of [1, 15, 16, 17, 31, 32, 33, 48, 64, 65, 70]) {
        for (let at = 0; at < n; at++) {
          const x = Float32Array.from({ length: n }, () => Math.floor(rng.float() * 5) - 2);
          x[at] = special;
          same(x, 0, n, `${special} at ${at}`);
          same(x, 1, n, `${special} at ${at}`);
        }
      }
      for (const n of [151936, 4099]) {
        const x = Float32Array.from({ length: n }, () => rng.float() * 20 - 10);
        for (const at of [0, 3, 15, 16, 63, 64, n >> 1, n - 65, n - 17, n - 16, n - 4, n - 1]) {
          const y = x.slice();
          y[at] = special;
          same(y, 0, n, `${special} at ${at}`);
        }
      }
    }
  });

  it('ties across lanes and blocks: the first index of the maximum', () => {
    for (let rep = 0; rep < 200; rep++) {
      const n = 16 + Math.floor(rng.float() * 300);
      const x = Float32Array.from({ length: n }, () => Math.floor(rng.float() * 4));
      const m = Math.floor(rng.float() * 3) + 5;
      const k = 1 + Math.floor(rng.float() * 5);
      for (let j = 0; j < k; j++) x[Math.floor(rng.float() * n)] = m;
      same(x, 0, n, `ties ${rep}`);
      same(x, Math.floor(rng.float() * 16), n, `ties ${rep}`);
    }
    // the maximum is 0 with -0 and +0 in different lanes and blocks
    const z = new Float32Array(64).fill(-1);
    z[37] = 0;
    z[5] = -0;
    same(z, 0, 64, 'zeros');
    z[5] = -1;
    z[2] = -0;
    z[1] = 0;
    same(z, 0, 64, 'zeros');
  });

  it('rows of a batch (sub-ranges of one buffer) at the vocabulary\'s size, the memory grown and reused', () => {
    const V = 151936, B = 3;
    const x = Float32Array.from({ length: B * V }, () => rng.float() * 30 - 15);
    x[V + 7] = 40;
    x[V + 100000] = 40;
    x[2 * V + V - 1] = 41;
    for (let b = 0; b < B; b++) same(x, b * V, (b + 1) * V, `row ${b}`);
    // a fresh instance: a small row, then one that grows its memory, then a small one again
    const fresh = new LogitsWasm();
    for (const [a, b] of [[0, 40], [0, B * V], [5, 45], [V - 3, 2 * V + 9]]) {
      expect(fresh.argmaxFinite(x, a, b)).toBe(argmaxFinite(x, a, b));
    }
    expect(sharedLogitsWasm()).toBe(sharedLogitsWasm());
  });

  it('allFinite: false exactly when some value of the range is NaN or +-Infinity (every position, lengths around the blocks, sub-ranges)', () => {
    for (const n of [0, 1, 15, 16, 17, 33, 64, 100, 1030]) {
      const x = Float32Array.from({ length: n }, () => (rng.float() - 0.5) * 3.4e38);
      for (let a = 0; a <= Math.min(n, 17); a += 4) expect(w.allFinite(x, a, n)).toBe(true);
      for (const special of [NaN, Infinity, -Infinity]) {
        for (let at = 0; at < n; at += n > 100 ? 7 : 1) {
          const y = x.slice();
          y[at] = special;
          expect(w.allFinite(y, 0, n), `${special} at ${at} of ${n}`).toBe(false);
          expect(w.allFinite(y, at + 1, n), `${special} before [${at + 1}, ${n})`).toBe(true);
        }
      }
    }
  });

  it('agrees with argmaxFinite on random rows (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.float(), fc.constantFrom(0, -0, 1, NaN, Infinity, -Infinity)), { minLength: 0, maxLength: 200 }),
        fc.nat(40),
        (vals, cut) => {
          const x = Float32Array.from(vals);
          const a = Math.min(cut, x.length);
          expect(w.argmaxFinite(x, a, x.length)).toBe(argmaxFinite(x, a, x.length));
        },
      ),
      props(),
    );
  });
});
