/**
 * The float epilogue fused into the int8 kernels' last step (../int8-gemv-wasm.ts Epilogue,
 * Int8Linear.matmulIntegerScaled) against the JS loop the own decoder ran on matmulInteger's int32
 * sums (./linear.ts ColumnSlice, `setSliceEpilogue('js')`): bit for bit (Object.is on every
 * output, so -0 / +0, subnormals and infinities too), with and without a bias, one scale for all
 * rows or one per row (float32 values and plain doubles), N and K not multiples of 4 / 16, M = 1..9
 * and 17, output rows further apart than N (the gaps untouched), in arenas over several instances.
 * The dot kernel here; the u8dot kernel only where Node's lowering is exact (one row a pass, |w| <=
 * 64: see ../int8-gemv-wasm.test.ts), the rest in Chromium (e2e/int8-kernel.spec.ts).
 */
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { int8GemvWasm, type Int8LoadOptions } from '../int8-gemv-wasm';
import { Pcg32 } from '../sampling';
import { ColumnSlice, setSliceEpilogue } from './linear';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const gemv = int8GemvWasm();
const f = Math.fround;

/** The JS epilogue ColumnSlice ran: out[m * stride + n] = f(f(f(int) * f(xs * ws[n])) (+ b[n])). */
function jsEpilogue(ints: Int32Array, xScale: number | ArrayLike<number>, ws: Float32Array, b: Float32Array | undefined, M: number, N: number, out: Float32Array, stride: number) {
  for (let m = 0; m < M; m++) {
    const xs = typeof xScale === 'number' ? xScale : xScale[m];
    for (let n = 0; n < N; n++) {
      const s = f(xs * ws[n]);
      const y = f(f(ints[m * N + n]) * s);
      out[m * stride + n] = b ? f(y + b[n]) : y;
    }
  }
  return out;
}

/** Indices where a and b differ (Object.is), at most a few. */
function differ(a: Float32Array, b: Float32Array): number[] {
  const bad: number[] = [];
  if (a.length !== b.length) return [-1];
  for (let i = 0; i < a.length && bad.length < 5; i++) if (!Object.is(a[i], b[i])) bad.push(i);
  return bad;
}

/** Column scales of several magnitudes and signs (some subnormal products, some overflowing). */
function colScales(rng: Pcg32, N: number): Float32Array {
  return Float32Array.from({ length: N }, (_, n) => {
    const r = rng.float();
    if (n % 11 === 5) return -(1e-38 * r); // times a small row scale: subnormal
    if (n % 13 === 7) return 3e37 * (r + 1); // times a large row scale: infinite
    return (rng.float() < 0.2 ? -1 : 1) * (0.001 + r * 0.05);
  });
}

/** Row scales: float32 values and plain doubles, a negative one, a tiny and a huge one. */
function rowScales(rng: Pcg32, M: number): number[] {
  return Array.from({ length: M }, (_, m) => [0.013 + rng.float() * 0.1, f(0.02 + rng.float()), -0.07, 1e-9, 1e6][m % 5]);
}

/** Activation codes; every 4th row all equal to its zero point (sums 0: outputs +-0). */
function acts(rng: Pcg32, M: number, K: number, az: Int32Array) {
  const a = Uint8Array.from({ length: M * K }, () => Math.floor(rng.float() * 256));
  for (let m = 3; m < M; m += 4) a.fill(az[m], m * K, (m + 1) * K);
  return a;
}

type Lin = NonNullable<typeof gemv>['load'] extends (...a: never[]) => infer L ? L : never;

/** Every M case on one linear: matmulIntegerScaled against the JS epilogue of its own matmulInteger. */
function check(lin: Lin, ws: Float32Array, b: Float32Array | undefined, rng: Pcg32, Ms: number[]) {
  const { N, K } = lin;
  for (const M of Ms) {
    const az = Int32Array.from({ length: M }, () => Math.floor(rng.float() * 256));
    const a = acts(rng, M, K, az);
    const rows = rowScales(rng, M);
    for (const [zero, scale] of [[az, rows], [az, Float32Array.from(rows)], [az[0], rows[0]], [az[0], Float32Array.from(rows)[0]]] as const) {
      const z = typeof zero === 'number' ? zero : zero;
      const ints = lin.matmulInteger(a, z, M);
      for (const stride of [N, N + 3]) {
        const len = (M - 1) * stride + N;
        const want = jsEpilogue(ints, scale, ws, b, M, N, new Float32Array(len).fill(NaN), stride);
        const got = lin.matmulIntegerScaled(a, z, scale, M, new Float32Array(len).fill(NaN), stride);
        expect(differ(got, want), `N ${N} K ${K} M ${M} stride ${stride} bias ${!!b}`).toEqual([]);
      }
      // the output made for the caller
      expect(differ(lin.matmulIntegerScaled(a, z, scale, M), jsEpilogue(ints, scale, ws, b, M, N, new Float32Array(M * N), N))).toEqual([]);
    }
  }
}

const SHAPES = [[1, 1], [7, 33], [37, 1000], [130, 64], [61, 257]] as const;
const ALL_M = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17];

describe.skipIf(!gemv)('the float epilogue in the kernels (matmulIntegerScaled) = the JS epilogue, bit for bit', () => {
  it('dot kernel, int8 and uint8 weights with zero points, with and without a bias, every rows per pass, M = 1..9 and 17, strided outputs', () => {
    const rng = new Pcg32(41);
    for (const [N, K] of SHAPES) {
      for (const u8 of [false, true]) {
        const w = u8 ? Uint8Array.from({ length: N * K }, () => Math.floor(rng.float() * 256)) : Int8Array.from({ length: N * K }, () => Math.floor(rng.float() * 256) - 128);
        const wz = Int32Array.from({ length: N }, () => Math.floor(rng.float() * 256) - (u8 ? 0 : 128));
        const ws = colScales(rng, N);
        for (const b of [undefined, Float32Array.from({ length: N }, (_, n) => (n % 3 ? rng.float() - 0.5 : 0))]) {
          for (const opts of [{}, { cols: 4 }, { rowsPerPass: 1 }, { rowsPerPass: 3 }, { rowsPerPass: 8 }] as Int8LoadOptions[]) {
            const lin = gemv!.load(w, N, K, ws, { kernel: 'dot', zeroPoint: wz, bias: b, ...opts });
            check(lin, ws, b, rng, opts.rowsPerPass ? [1, opts.rowsPerPass, 9, 17] : ALL_M);
          }
        }
      }
    }
  });

  // (its two-accumulator-set form is checked in Chromium, e2e/int8-kernel.spec.ts: Node 20's lowering gets it wrong)
  it('u8dot kernel (unprobed) where Node 20 lowers it exactly: one row a pass, |w| <= 64', () => {
    const rng = new Pcg32(43);
    for (const [N, K] of SHAPES) {
      const w = Int8Array.from({ length: N * K }, () => Math.floor(rng.float() * 129) - 64);
      const wz = Int32Array.from({ length: N }, () => Math.floor(rng.float() * 256) - 128);
      const ws = colScales(rng, N);
      for (const b of [undefined, Float32Array.from({ length: N }, () => rng.float() - 0.5)]) {
        const lin = gemv!.load(w, N, K, ws, { kernel: 'u8dot', unprobed: true, rowsPerPass: 1, zeroPoint: wz, bias: b, k2: false });
        check(lin, ws, b, rng, [1, 2, 5, 9]);
      }
    }
  });

  it('in arenas (default cap, 64 KiB, 1 byte: one instance a linear): the same, before and after later loads grew the memory', () => {
    for (const capBytes of [undefined, 64 * 1024, 1]) {
      const rng = new Pcg32(47);
      const arena = gemv!.arena({ capBytes });
      const made: { lin: Lin; ws: Float32Array; b?: Float32Array }[] = [];
      for (let copy = 0; copy < 2; copy++) {
        for (const [N, K] of SHAPES) {
          const w = Int8Array.from({ length: N * K }, () => Math.floor(rng.float() * 256) - 128);
          const ws = colScales(rng, N);
          const b = copy ? Float32Array.from({ length: N }, () => rng.float() - 0.5) : undefined;
          made.push({ lin: gemv!.load(w, N, K, ws, { kernel: 'dot', cols: 4, zeroPoint: 3, bias: b, arena }), ws, b });
          check(made[made.length - 1].lin, ws, b, rng, [1, 3, 8]);
        }
      }
      for (const m of made) check(m.lin, m.ws, m.b, rng, [1, 9, 17]);
      if (capBytes === 1) expect(arena.instances).toBe(made.length);
    }
  });

  it('ColumnSlice.run: fused (default) = the JS epilogue (setSliceEpilogue("js")) bit for bit, shared and per-row zero points and scales, strided, with and without bias', () => {
    const rng = new Pcg32(53);
    const arena = gemv!.arena({ capBytes: 64 * 1024 });
    try {
      for (const [N, K] of SHAPES) {
        for (const bias of [undefined, Float32Array.from({ length: N }, () => rng.float() - 0.5)]) {
          const w = { codes: Uint8Array.from({ length: N * K }, () => Math.floor(rng.float() * 256)), N, K, scale: colScales(rng, N), zeroPoint: Int32Array.from({ length: N }, () => Math.floor(rng.float() * 256)), bias };
          const slices = [new ColumnSlice(w), new ColumnSlice(w, arena)];
          for (const M of ALL_M) {
            const az = Int32Array.from({ length: M }, () => Math.floor(rng.float() * 256));
            const a = acts(rng, M, K, az);
            const rows = Float32Array.from(rowScales(rng, M));
            const stride = N + 5;
            for (const [z, s] of [[az, rows], [az[0], rows[0]], [az[1 % M], 0.0123456789]] as const) {
              const outs: Float32Array[] = [];
              for (const e of ['js', 'fused'] as const) {
                setSliceEpilogue(e);
                for (const sl of slices) {
                  const out = new Float32Array((M - 1) * stride + N + 2).fill(NaN);
                  sl.run(a, z, s, M, out, stride);
                  outs.push(out);
                }
              }
              for (const o of outs.slice(1)) expect(differ(o, outs[0]), `N ${N} K ${K} M ${M}`).toEqual([]);
            }
          }
        }
      }
    } finally {
      setSliceEpilogue('fused');
    }
    expect(() => setSliceEpilogue('wasm' as never)).toThrow(/'fused' or 'js'/);
  });

  it('refused with a sentence: packings other than 4, a short output, a stride under N, too few row scales, the other kernels', () => {
    const w = new Int8Array(8 * 16);
    const a = new Uint8Array(2 * 16);
    expect(() => gemv!.load(w, 8, 16, 1, { cols: 2 }).matmulIntegerScaled(a, 0, 1, 1)).toThrow(/packed by 4/);
    const lin = gemv!.load(w, 8, 16, 1);
    expect(() => lin.matmulIntegerScaled(a, 0, 1, 2, new Float32Array(15))).toThrow(/need 16/);
    expect(() => lin.matmulIntegerScaled(a, 0, 1, 2, undefined, 7)).toThrow(/stride/);
    expect(() => lin.matmulIntegerScaled(a, 0, [1], 2)).toThrow(/1 activation scales/);
    expect(() => gemv!.load(w, 8, 16, 1, { kernel: 'extmul' }).matmulIntegerScaled(a, 0, 1, 1)).toThrow(/dot or u8dot/);
    expect(() => gemv!.load(w, 8, 16, 1, { bias: new Float32Array(3) })).toThrow(/3 biases/);
  });
});
