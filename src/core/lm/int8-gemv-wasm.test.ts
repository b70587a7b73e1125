import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { int8GemvWasm, int8KernelPreference, integerKernel, LOAD_STEP_BYTES, MAX_ROWS, passRows, probeU8Dot, quantizeRow, quantizeRowU7, setInt8KernelPreference, type Int8Kernel, type Int8LoadOptions, type Int8LoadProgress, type Int8Linear, type MatmulIntegerFn } from './int8-gemv-wasm';
import { ColumnSlice } from './own/linear';
import { Pcg32 } from './sampling';
import { runSteps } from '../steps';

// Relaxed SIMD (browsers' default) is behind a flag in Node 20; set before the kernels are built.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

/** Plain JS reference: exact int32 sums of int8 codes. */
function refInt32(x: Int8Array, w: Int8Array, M: number, N: number, K: number): Int32Array {
  const out = new Int32Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
    out[m * N + n] = s;
  }
  return out;
}

function codes(rng: Pcg32, n: number, lo = -127, hi = 127): Int8Array {
  return Int8Array.from({ length: n }, () => lo + Math.floor(rng.float() * (hi - lo + 1)));
}

const gemv = int8GemvWasm();
const kernels: Int8Kernel[] = ['extmul', 'dot', ...(gemv?.relaxed ? (['relaxed'] as const) : [])];
/** Activation codes each kernel takes: [-127, 127], or [0, 127] for the relaxed kernel's 7-bit operand. */
const xRange = (k: Int8Kernel): [number, number] => (k === 'relaxed' ? [0, 127] : [-127, 127]);

describe.skipIf(!gemv)('int8 GEMV (WebAssembly SIMD)', () => {
  it.each(kernels)('%s: exact int32 sums for 1..9 rows, every column step and rows per pass (and the automatic ones), K and N not multiples of 16 / 4', (kernel) => {
    const rng = new Pcg32(3);
    for (const [N, K] of [[1, 1], [7, 33], [12, 64], [37, 1000]]) {
      const w = codes(rng, N * K);
      for (const cols of [undefined, 1, 2, 4] as const) {
        for (const rowsPerPass of [undefined, 1, 2, 3, 4, 5, 6, 7, 8]) {
          const lin = gemv!.load(w, N, K, 1, { kernel, cols, rowsPerPass });
          for (const M of rowsPerPass === undefined ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 3, rowsPerPass, 9]) {
            const x = codes(rng, M * K, ...xRange(kernel));
            expect(Array.from(lin.matmulInt32(x, M))).toEqual(Array.from(refInt32(x, w, M, N, K)));
          }
        }
      }
    }
  });

  it.each(kernels)('%s: extreme codes (all +-127) sum without overflow', (kernel) => {
    const N = 5, K = 4096;
    const w = new Int8Array(N * K).fill(-127);
    for (let k = 0; k < K; k++) w[2 * K + k] = k % 2 ? 127 : -127; // a column that cancels
    const x = new Int8Array(2 * K).fill(kernel === 'relaxed' ? 127 : -127);
    const got = gemv!.load(w, N, K, 1, { kernel }).matmulInt32(x, 2);
    expect(Array.from(got)).toEqual(Array.from(refInt32(x, w, 2, N, K)));
    expect(Math.abs(got[0])).toBe(127 * 127 * K);
    expect(got[2]).toBe(0);
  });

  it('relaxed SIMD is there to test (Node 20 with the V8 flag)', () => {
    expect(gemv!.relaxed).toBe(true);
  });

  it('the dot kernel takes -128; the extmul kernel refuses it with a clear error', () => {
    const w = Int8Array.from([-128, 1, 2, 3]);
    const x = Int8Array.from([-128, -128, 0, 0]);
    expect(Array.from(gemv!.load(w, 1, 4, 1, { kernel: 'dot' }).matmulInt32(x, 1))).toEqual([16384 - 128]);
    expect(() => gemv!.load(w, 1, 4, 1, { kernel: 'extmul' })).toThrow(/\[-127, 127\]/);
  });

  it.each(kernels)('%s float path: per-row activation scale (and zero point) times per-column weight scale, close to the float product', (kernel) => {
    const rng = new Pcg32(9);
    const N = 40, K = 256, M = 3;
    const w = codes(rng, N * K);
    const ws = Float32Array.from({ length: N }, () => 0.001 + rng.float() * 0.01);
    const x = Float32Array.from({ length: M * K }, () => rng.float() * 2 - 1);
    const y = gemv!.load(w, N, K, ws, { kernel }).matmul(x, M);
    // the same quantisation by hand, then exact sums (less the zero point times the column sum)
    const xq = new Int8Array(M * K), sx: number[] = [], zx: number[] = [];
    for (let m = 0; m < M; m++) {
      const q = new Int8Array(K);
      const xm = x.subarray(m * K, (m + 1) * K);
      if (kernel === 'relaxed') {
        const r = quantizeRowU7(xm, q);
        sx.push(r.scale);
        zx.push(r.zero);
      } else {
        sx.push(quantizeRow(xm, q));
        zx.push(0);
      }
      xq.set(q, m * K);
    }
    const sums = refInt32(xq, w, M, N, K);
    const colSum = (n: number) => w.subarray(n * K, (n + 1) * K).reduce((a, b) => a + b, 0);
    let maxErr = 0, ss = 0;
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      expect(y[m * N + n]).toBeCloseTo((sums[m * N + n] - zx[m] * colSum(n)) * sx[m] * ws[n], 4);
      let f = 0;
      for (let k = 0; k < K; k++) f += x[m * K + k] * w[n * K + k] * ws[n];
      maxErr = Math.max(maxErr, Math.abs(y[m * N + n] - f));
      ss += f * f;
    }
    // 8-bit (relaxed: 7-bit) activations: the worst output within 2% (4%) of the outputs' rms off the float product
    expect(maxErr).toBeLessThan((kernel === 'relaxed' ? 0.04 : 0.02) * Math.sqrt(ss / (M * N)));
  });

  it('matmulInteger: onnxruntime MatMulInteger exactly, uint8 activations with a zero point x int8 or uint8 weights with per-tensor or per-column zero points', () => {
    const rng = new Pcg32(11);
    const ref = (a: Uint8Array, az: number, w: ArrayLike<number>, wz: (n: number) => number, M: number, N: number, K: number) => {
      const out = new Int32Array(M * N);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += (a[m * K + k] - az) * (w[n * K + k] - wz(n));
        out[m * N + n] = s;
      }
      return out;
    };
    for (const [N, K] of [[1, 1], [7, 33], [37, 1000]]) {
      for (const u8w of [false, true]) {
        const w = u8w ? Uint8Array.from({ length: N * K }, () => Math.floor(rng.float() * 256)) : codes(rng, N * K, -128, 127);
        const perCol = Int32Array.from({ length: N }, () => (u8w ? Math.floor(rng.float() * 256) : -128 + Math.floor(rng.float() * 256)));
        for (const wz of [u8w ? 128 : 0, perCol] as const) {
          for (const opts of [{}, { rowsPerPass: 1, cols: 4 }, { rowsPerPass: 3 }, { rowsPerPass: 8 }, { cols: 1 }, { cols: 2, rowsPerPass: 5 }] as Int8LoadOptions[]) {
            const lin = gemv!.load(w, N, K, 1, { zeroPoint: wz, ...opts });
            for (const M of opts.rowsPerPass || opts.cols ? [1, 5, 9] : [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
              const a = Uint8Array.from({ length: M * K }, () => Math.floor(rng.float() * 256));
              for (const az of [0, 77, 255]) {
                const want = ref(a, az, w, (n) => (typeof wz === 'number' ? wz : wz[n]), M, N, K);
                expect(Array.from(lin.matmulInteger(a, az, M))).toEqual(Array.from(want));
              }
              // one zero point per row (rows quantised on their own): each row as that row alone with its zero point
              const azs = Int32Array.from({ length: M }, (_, m) => [0, 77, 255, 128][m % 4]);
              const rows = lin.matmulInteger(a, azs, M);
              for (let m = 0; m < M; m++) {
                const want = ref(a.subarray(m * K, (m + 1) * K), azs[m], w, (n) => (typeof wz === 'number' ? wz : wz[n]), 1, N, K);
                expect(Array.from(rows.subarray(m * N, (m + 1) * N))).toEqual(Array.from(want));
              }
            }
          }
        }
      }
    }
  });

  it('matmulInteger: extreme codes (255 against -128, K = 4096) sum exactly at 1..8 rows; bad zero points and kernels refused', () => {
    const N = 2, K = 4096;
    const w = new Int8Array(N * K).fill(-128);
    const a = new Uint8Array(K).fill(255);
    expect(Array.from(gemv!.load(w, N, K, 1).matmulInteger(a, 0, 1))).toEqual([-255 * 128 * K, -255 * 128 * K]);
    expect(Array.from(gemv!.load(w, N, K, 1, { zeroPoint: 127 }).matmulInteger(a, 255, 1))).toEqual([0, 0]);
    expect(() => gemv!.load(w, N, K, 1).matmulInteger(a, [0, 0], 1)).toThrow(/2 activation zero points; expected 1 or one per row \(1\)/);
    expect(() => gemv!.load(w, N, K, 1).matmulInteger(a, [256], 1)).toThrow(/zero point is 256/);
    // several rows (Winograd's product: (x + w)(x' + w') up to 383^2): 255 or 0 against -128 or 127,
    // zero points 0 and 255 (centred codes +-255), a column of each
    const w2 = new Int8Array(N * K);
    for (let k = 0; k < K; k++) [w2[k], w2[K + k]] = [-128, k % 3 ? 127 : -128];
    for (const M of [2, 3, 4, 5, 8]) {
      const am = Uint8Array.from({ length: M * K }, (_, i) => (Math.floor(i / K) % 2 ? 0 : 255));
      for (const az of [0, 255]) {
        const want: number[] = [];
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
          let t = 0;
          for (let k = 0; k < K; k++) t += (am[m * K + k] - az) * w2[n * K + k];
          want.push(t);
        }
        for (const rowsPerPass of [undefined, M]) expect(Array.from(gemv!.load(w2, N, K, 1, { rowsPerPass }).matmulInteger(am, az, M))).toEqual(want);
      }
    }
    expect(() => gemv!.load(w, N, K, 1, { zeroPoint: 200 })).toThrow(/\[-128, 127\]/);
    expect(() => gemv!.load(new Uint8Array(N * K), N, K, 1, { zeroPoint: -1 })).toThrow(/\[0, 255\]/);
    expect(() => gemv!.load(w, N, K, 1, { zeroPoint: [1, 2, 3] })).toThrow(/zero points/);
    expect(() => gemv!.load(w, N, K, 1).matmulInteger(a, 256, 1)).toThrow(/\[0, 255\]/);
    expect(() => gemv!.load(codes(new Pcg32(1), N * K), N, K, 1, { kernel: 'extmul' }).matmulInteger(a, 0, 1)).toThrow(/dot kernel/);
  });

  it('refuses wrong shapes and non-finite activations with a typed error', () => {
    expect(() => gemv!.load(new Int8Array(5), 2, 3, 1)).toThrow(/2 x 3/);
    expect(() => gemv!.load(new Int8Array(6), 2, 3, new Float32Array(3))).toThrow(/column scales/);
    expect(() => gemv!.load(new Int8Array(6), 2, 3, 1, { rowsPerPass: MAX_ROWS + 1 })).toThrow(/rowsPerPass/);
    expect(() => gemv!.load(new Int8Array(6), 2, 3, 1, { rowsPerPass: 2.5 })).toThrow(/rowsPerPass/);
    const lin = gemv!.load(new Int8Array(6), 2, 3, 1);
    expect(() => lin.matmulInteger(new Uint8Array(6), 0, 0)).toThrow(/whole number/);
    expect(() => lin.matmulInt32(new Int8Array(6), 1.5)).toThrow(/whole number/);
    expect(() => lin.matmul(Float32Array.from([1, NaN, 0]), 1)).toThrow(/finite/);
    expect(() => lin.matmulInt32(new Int8Array(2), 1)).toThrow(/1 x 3/);
    if (gemv!.relaxed) expect(() => gemv!.load(new Int8Array(6), 2, 3, 1, { kernel: 'relaxed' }).matmulInt32(Int8Array.from([0, -1, 0]), 1)).toThrow(/\[0, 127\]/);
  });

  it('passes by rows: as even as they go, none over the most', () => {
    expect(passRows(1)).toEqual([1]);
    expect(passRows(8)).toEqual([8]);
    expect(passRows(9)).toEqual([5, 4]);
    expect(passRows(8, 4)).toEqual([4, 4]);
    expect(passRows(5, 4)).toEqual([3, 2]);
    expect(passRows(7, 3)).toEqual([3, 2, 2]);
    for (let M = 1; M <= 40; M++) {
      const p = passRows(M, 4);
      expect(p.reduce((a, b) => a + b, 0)).toBe(M);
      expect(Math.max(...p) - Math.min(...p)).toBeLessThanOrEqual(1);
      expect(p.length).toBe(Math.ceil(M / 4));
    }
  });

  describe('u8dot (uint8 activations as relaxed SIMD dot\'s unsigned operand)', () => {
    /** MatMulInteger's reference: sum (a - az)(w - wz), exact. */
    const refInteger = (w: ArrayLike<number>, wz: number | ArrayLike<number>, N: number, K: number, a: Uint8Array, az: number | ArrayLike<number>, M: number) => {
      const out = new Int32Array(M * N);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        let t = 0;
        const z = typeof az === 'number' ? az : az[m], y = typeof wz === 'number' ? wz : wz[n];
        for (let k = 0; k < K; k++) t += (a[m * K + k] - z) * (w[n * K + k] - y);
        out[m * N + n] = t;
      }
      return out;
    };

    /**
     * A JS model of the u8dot kernel on one lowering of the relaxed dot: 'vnni' (u8 x s8 into i32,
     * exact), 'pmaddubsw' (pairs of u8 x s8 products summed into i16 with saturation: Node 20's V8
     * without AVX-VNNI) or 'sdot' (both operands signed: ARM), then the kernel's epilogue.
     */
    const model = (lowering: 'vnni' | 'pmaddubsw' | 'sdot'): MatmulIntegerFn => (wIn, wzIn, N, K, a, az, M) => {
      const u8w = wIn instanceof Uint8Array;
      const w = Int8Array.from(wIn, (v) => (u8w ? v - 128 : v));
      const wz = (n: number) => (typeof wzIn === 'number' ? wzIn : wzIn[n]) - (u8w ? 128 : 0);
      const out = new Int32Array(M * N);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        let s = 0, colsum = 0, rowsum = 0;
        for (let k = 0; k < K; k += 2) {
          const x = (i: number) => (i < K ? (lowering === 'sdot' ? (a[m * K + i] << 24) >> 24 : a[m * K + i]) : 0);
          const y = (i: number) => (i < K ? w[n * K + i] : 0);
          let p = x(k) * y(k) + x(k + 1) * y(k + 1);
          if (lowering === 'pmaddubsw') p = Math.max(-32768, Math.min(32767, p));
          s = (s + p) | 0;
        }
        for (let k = 0; k < K; k++) {
          colsum += w[n * K + k];
          rowsum += a[m * K + k];
        }
        out[m * N + n] = (s - az[m] * colsum - wz(n) * (rowsum - K * az[m])) | 0;
      }
      return out;
    };

    it('the probe passes an exact dot (a model of vpdpbusd, and the dot kernel) and rejects the saturating (pmaddubsw) and signed (sdot) lowerings', () => {
      expect(probeU8Dot(model('vnni'))).toBe(true);
      expect(probeU8Dot((w, wz, N, K, a, az, M) => gemv!.load(w, N, K, 1, { kernel: 'dot', zeroPoint: wz }).matmulInteger(a, az, M))).toBe(true);
      expect(probeU8Dot(model('pmaddubsw'))).toBe(false);
      expect(probeU8Dot(model('sdot'))).toBe(false);
      // an implementation that throws, or returns too little, is not exact either
      expect(probeU8Dot(() => { throw new Error('no'); })).toBe(false);
      expect(probeU8Dot(() => new Int32Array(0))).toBe(false);
    });

    it("Node 20's V8 (relaxed SIMD behind its flag) saturates: the probe finds u8dot not exact, so it is refused and the dot kernel is what the own decoder loads", () => {
      expect(gemv!.relaxed).toBe(true);
      expect(gemv!.u8Exact).toBe(false);
      // the real kernel on this engine, probed again: rejected (the saturating lowering is caught)
      expect(probeU8Dot((w, wz, N, K, a, az, M) => gemv!.load(w, N, K, 1, { kernel: 'u8dot', zeroPoint: wz, unprobed: true }).matmulInteger(a, az, M))).toBe(false);
      expect(() => gemv!.load(new Int8Array(4), 1, 4, 1, { kernel: 'u8dot' })).toThrow(/not exact for uint8 activations/);
      expect(integerKernel()).toBe('dot');
      const base = { codes: new Int8Array(20 * 40), N: 20, K: 40, scale: new Float32Array(20).fill(1), zeroPoint: new Int32Array(20) };
      expect(new ColumnSlice(base).kernel).toBe('dot');
      // a helper told 'u8dot' by its caller falls back to dot where its engine did not find it exact
      expect(new ColumnSlice({ ...base, kernel: 'u8dot' }).kernel).toBe('dot');
    });

    it('the kernel preference: auto by default, dot forces the dot kernel, anything else refused', () => {
      expect(int8KernelPreference()).toBe('auto');
      try {
        setInt8KernelPreference('dot');
        expect(int8KernelPreference()).toBe('dot');
        expect(integerKernel()).toBe('dot');
        expect(() => setInt8KernelPreference('u8' as never)).toThrow(/'auto' or 'dot'/);
      } finally {
        setInt8KernelPreference('auto');
      }
    });

    it("the kernel's packing, passes and epilogue (unprobed, on weights where even the saturating lowering is exact: |w| <= 64): MatMulInteger exactly for 1..9 rows", () => {
      // pmaddubsw's i16 pair sums stay within 2 * 255 * 64 < 2^15, so this engine's lowering is exact
      // here, but only where each dot's activation vector feeds one dot: with one row's vector used
      // for 2 or 4 columns, Node 20's V8 returns doubled sums for the later rows of a pass (its
      // lowering reuses the operand's register). So: one row a pass at any step, several at one
      // column a step; the other functions are checked in Chromium (e2e/int8-kernel.spec.ts). So is
      // the two-accumulator-set form (k2: one row's vector into 4 columns, two chunks a loop pass),
      // where Node 20's lowering gives wrong sums for some columns; the one-set form runs here.
      const rng = new Pcg32(21);
      for (const [N, K] of [[1, 1], [7, 33], [37, 1000], [5, 4099]]) {
        for (const u8w of [false, true]) {
          const w = u8w ? Uint8Array.from(codes(rng, N * K, -64, 64), (v) => v + 128) : codes(rng, N * K, -64, 64);
          const wz = Int32Array.from({ length: N }, () => Math.floor(rng.float() * 256) - (u8w ? 0 : 128));
          for (const opts of [{ rowsPerPass: 1 }, { rowsPerPass: 1, cols: 2 }, { rowsPerPass: 1, cols: 1 }, { cols: 1 }, { rowsPerPass: 3, cols: 1 }, { rowsPerPass: 4, cols: 1 }, { rowsPerPass: 8, cols: 1 }] as Int8LoadOptions[]) {
            const lin = gemv!.load(w, N, K, 1, { kernel: 'u8dot', unprobed: true, zeroPoint: wz, k2: false, ...opts });
            for (const M of [1, 2, 3, 5, 8, 9]) {
              const a = Uint8Array.from({ length: M * K }, () => Math.floor(rng.float() * 256));
              const az = Int32Array.from({ length: M }, (_, m) => [0, 255, 77, 128][m % 4]);
              expect(Array.from(lin.matmulInteger(a, az, M))).toEqual(Array.from(refInteger(w, wz, N, K, a, az, M)));
              expect(Array.from(lin.matmulInteger(a, 200, M))).toEqual(Array.from(refInteger(w, wz, N, K, a, 200, M)));
            }
          }
        }
      }
      const lin = gemv!.load(new Int8Array(6), 2, 3, 1, { kernel: 'u8dot', unprobed: true });
      expect(() => lin.matmulInt32(new Int8Array(3), 1)).toThrow(/matmulInteger only/);
      expect(() => lin.matmul(new Float32Array(3), 1)).toThrow(/matmulInteger only/);
    });
  });
});

describe.skipIf(!gemv)('int8 arenas (many linears in one instance and memory)', () => {
  type Case = { w: Int8Array | Uint8Array; N: number; K: number; opts: Int8LoadOptions; int: boolean };
  /** Linears of every kernel, packing, step and zero point kind; u8dot only where Node's lowering is exact (see above). */
  function cases(rng: Pcg32, copies: number): Case[] {
    const out: Case[] = [];
    for (let c = 0; c < copies; c++) {
      for (const [N, K] of [[1, 1], [7, 33], [37, 1000], [130, 64]]) {
        for (const kernel of kernels) for (const cols of [undefined, 2] as const) out.push({ w: codes(rng, N * K, ...(kernel === 'extmul' ? [-127, 127] as const : [-128, 127] as const)), N, K, opts: { kernel, cols }, int: false });
        const wz = Int32Array.from({ length: N }, () => Math.floor(rng.float() * 256));
        out.push({ w: Uint8Array.from(codes(rng, N * K), (v) => v + 128), N, K, opts: { kernel: 'dot', zeroPoint: wz }, int: true });
        out.push({ w: codes(rng, N * K, -64, 64), N, K, opts: { kernel: 'u8dot', unprobed: true, rowsPerPass: 1, zeroPoint: 3, k2: false }, int: true });
        out.push({ w: codes(rng, N * K, -64, 64), N, K, opts: { kernel: 'u8dot', unprobed: true, cols: 1 }, int: true });
      }
    }
    return out;
  }
  /** Every result a linear gives for some inputs (int32 sums, matmulInteger with per-row zero points, floats). */
  function results(lin: ReturnType<NonNullable<typeof gemv>['load']>, c: Case, seed: number): number[][] {
    const rng = new Pcg32(seed);
    const got: number[][] = [];
    for (const M of [1, 3, 8, 9, 17]) {
      if (c.int) {
        const a = Uint8Array.from({ length: M * c.K }, () => Math.floor(rng.float() * 256));
        const az = Int32Array.from({ length: M }, (_, m) => [0, 255, 77, 128][m % 4]);
        got.push(Array.from(lin.matmulInteger(a, az, M)));
      } else {
        got.push(Array.from(lin.matmulInt32(codes(rng, M * c.K, ...xRange(c.opts.kernel!)), M)));
        got.push(Array.from(lin.matmul(Float32Array.from({ length: M * c.K }, () => rng.float() * 2 - 1), M)));
      }
    }
    return got;
  }

  it('linears in one arena: the standalone results bit for bit, over several instances (tiny cap) and after later loads grew the memory; instances counted per module', () => {
    const all = cases(new Pcg32(31), 2);
    const want = all.map((c, i) => results(gemv!.load(c.w, c.N, c.K, 1, c.opts), c, 100 + i));
    for (const capBytes of [undefined, 64 * 1024, 1]) {
      const arena = gemv!.arena({ capBytes });
      const half = all.length >> 1;
      const lins = all.slice(0, half).map((c) => gemv!.load(c.w, c.N, c.K, 1, { ...c.opts, arena }));
      // the first half run before and after the second half is loaded (grows, new instances)
      lins.forEach((l, i) => expect(results(l, all[i], 100 + i)).toEqual(want[i]));
      lins.push(...all.slice(half).map((c) => gemv!.load(c.w, c.N, c.K, 1, { ...c.opts, arena })));
      for (let i = lins.length - 1; i >= 0; i--) expect(results(lins[i], all[i], 100 + i)).toEqual(want[i]);
      expect(arena.linears).toBe(all.length);
      if (capBytes === undefined) expect(arena.instances).toBe(2); // one per module: dot / extmul, relaxed / u8dot
      else if (capBytes === 1) expect(arena.instances).toBe(all.length); // every linear past the cap: one each
      else {
        expect(arena.instances).toBeGreaterThan(2);
        expect(arena.instances).toBeLessThanOrEqual(Math.ceil(arena.bytes / (capBytes / 2)) + 2);
      }
    }
  });

  it('a linear bigger than the cap gets an instance of its own; refused: a cap that is not positive, an arena not made by int8GemvWasm().arena()', () => {
    const rng = new Pcg32(5);
    const arena = gemv!.arena({ capBytes: 4096 });
    const N = 64, K = 256;
    const w = codes(rng, N * K);
    const x = codes(rng, 2 * K);
    const small = gemv!.load(codes(rng, 4 * 16), 4, 16, 1, { arena });
    const big = gemv!.load(w, N, K, 1, { arena });
    expect(arena.instances).toBe(2);
    expect(Array.from(big.matmulInt32(x, 2))).toEqual(Array.from(refInt32(x, w, 2, N, K)));
    expect(small.matmulInt32(new Int8Array(16), 1).length).toBe(4);
    expect(() => gemv!.arena({ capBytes: 0 })).toThrow(/cap/);
    expect(() => gemv!.load(w, N, K, 1, { arena: { instances: 0, bytes: 0, linears: 0 } })).toThrow(/arena/);
  });

  it('200 linears of a model-like shape in one arena: one memory, not 200', () => {
    const rng = new Pcg32(8);
    const arena = gemv!.arena();
    const w = codes(rng, 64 * 32);
    const lins = Array.from({ length: 200 }, () => gemv!.load(w, 64, 32, 1, { arena }));
    const x = codes(rng, 32);
    const want = Array.from(refInt32(x, w, 1, 64, 32));
    for (const l of lins) expect(Array.from(l.matmulInt32(x, 1))).toEqual(want);
    expect(arena.instances).toBe(1);
  });

  describe('loadSteps: load in steps of a few columns', () => {
    // N not a multiple of the step's columns (5) nor of the packing (4), K not of 16
    const N = 37, K = 40, STEP = 5 * K + 3;
    /** Run the steps, keeping their progress. */
    const stepped = (steps: Generator<Int8LoadProgress, Int8Linear, void>) => {
      const seen: Int8LoadProgress[] = [];
      for (;;) {
        const r = steps.next();
        if (r.done) return { lin: r.value, seen };
        seen.push(r.value);
      }
    };
    /** Every output the kernel gives, for a few row counts. */
    const outputs = (lin: Int8Linear, kernel: Int8Kernel, rng: Pcg32, bias: boolean) => {
      const out: number[][] = [];
      for (const M of [1, 3, 8]) {
        if (kernel === 'dot' || kernel === 'u8dot') {
          const a = Uint8Array.from({ length: M * K }, () => Math.floor(rng.float() * 256));
          const az = Int32Array.from({ length: M }, (_, m) => [0, 77, 255][m % 3]);
          const xs = Float32Array.from({ length: M }, () => 0.01 + rng.float());
          out.push(Array.from(lin.matmulIntegerScaled(a, az, xs, M)), Array.from(lin.matmulInteger(a, 13, M)));
        } else if (!bias) {
          const x = Float32Array.from({ length: M * K }, () => rng.float() * 2 - 1);
          out.push(Array.from(lin.matmul(x, M)));
        }
      }
      return out;
    };
    // the kernels this engine has (u8dot where the probe failed too: the same kernel either way, so the same numbers)
    const all: Int8Kernel[] = ['dot', 'extmul', ...(gemv?.relaxed ? (['relaxed', 'u8dot'] as const) : [])];

    it('the same numbers bit for bit as load, int8 and uint8 codes, per-column zero points, a bias; a yield between every two chunks of columns, progress growing', () => {
      expect(LOAD_STEP_BYTES).toBe(16 * 2 ** 20);
      for (const kernel of all) {
        for (const u8w of [false, true]) {
          const rng = new Pcg32(21);
          const w = u8w ? Uint8Array.from({ length: N * K }, () => 1 + Math.floor(rng.float() * 255)) : codes(rng, N * K);
          const wz = Int32Array.from({ length: N }, () => (kernel === 'extmul' || kernel === 'relaxed' ? (u8w ? 128 : 0) : (u8w ? Math.floor(rng.float() * 256) : -128 + Math.floor(rng.float() * 256))));
          const scale = Float32Array.from({ length: N }, () => 0.001 + rng.float() / 50);
          const bias = kernel === 'dot' || kernel === 'u8dot' ? Float32Array.from({ length: N }, () => rng.float() - 0.5) : undefined;
          const opts: Int8LoadOptions = { kernel, zeroPoint: wz, bias, unprobed: true };
          const once = gemv!.load(w, N, K, scale, opts);
          const { lin, seen } = stepped(gemv!.loadSteps(w, N, K, scale, { ...opts, stepBytes: STEP }));
          expect(seen).toEqual([5, 10, 15, 20, 25, 30, 35].map((columnsDone) => ({ columnsDone, columns: N })));
          expect(lin.weightBytes).toBe(once.weightBytes);
          expect(outputs(lin, kernel, new Pcg32(3), !!bias)).toEqual(outputs(once, kernel, new Pcg32(3), !!bias));
          // one column a step; one step for the whole (the default: no yield at all)
          const ones = stepped(gemv!.loadSteps(w, N, K, scale, { ...opts, stepBytes: 1 }));
          expect(ones.seen.map((p) => p.columnsDone)).toEqual(Array.from({ length: N - 1 }, (_, i) => i + 1));
          expect(outputs(ones.lin, kernel, new Pcg32(4), !!bias)).toEqual(outputs(once, kernel, new Pcg32(4), !!bias));
          expect(stepped(gemv!.loadSteps(w, N, K, scale, opts)).seen).toEqual([]);
          expect(outputs(runSteps(gemv!.loadSteps(w, N, K, scale, { ...opts, stepBytes: N * K })), kernel, new Pcg32(5), !!bias)).toEqual(outputs(once, kernel, new Pcg32(5), !!bias));
        }
      }
    });

    it('another linear loaded into the arena between two steps (its memory grown): the same numbers; refused: a step of no bytes, and the load\'s own checks at the first step', () => {
      const rng = new Pcg32(22);
      const w = codes(rng, N * K, -128, 127);
      const arena = gemv!.arena();
      const steps = gemv!.loadSteps(w, N, K, 0.5, { arena, stepBytes: STEP });
      expect(steps.next().done).toBe(false);
      const big = codes(rng, 512 * 1024, -128, 127);
      gemv!.load(big, 512, 1024, 1, { arena });
      const lin = runSteps(steps);
      expect(arena.instances).toBe(1);
      const ref = gemv!.load(w, N, K, 0.5);
      const a = Uint8Array.from({ length: 3 * K }, () => Math.floor(rng.float() * 256));
      expect(Array.from(lin.matmulIntegerScaled(a, 9, 0.25, 3))).toEqual(Array.from(ref.matmulIntegerScaled(a, 9, 0.25, 3)));
      expect(() => gemv!.loadSteps(w, N, K, 1, { stepBytes: 0 }).next()).toThrow(/step/);
      const bad = gemv!.loadSteps(new Int8Array(5), 2, 3, 1);
      expect(() => bad.next()).toThrow(/2 x 3/);
    });
  });
});
