/**
 * Test and bench page for the int8 GEMV kernels in a real browser (e2e/int8-kernel.spec.ts and
 * bench/int8-kernel-browser.bench.ts drive it with page.evaluate): the u8dot kernel's probe, its
 * matmulInteger against the dot kernel's bit for bit, the own decoder's ColumnSlice choosing it,
 * the float epilogue fused into the kernels (matmulIntegerScaled) against the JS one, and timings
 * of both kernels on one linear, and of ColumnSlice.run with either epilogue (rounds interleaved).
 */
import { int8GemvWasm, integerKernel, setInt8KernelPreference, type Int8Linear, type Int8KernelPreference } from '../../src/core/lm/int8-gemv-wasm';
import { ColumnSlice, setSliceEpilogue } from '../../src/core/lm/own/linear';
import { emitter, funcBody, moduleBytes, op } from '../../src/core/math/wasm-asm';

/**
 * The engine's relaxed dot alone (one instruction, no kernel): whether it computes signed x
 * unsigned 8-bit products into i32 exactly (127 and -128 against 255 in every lane, 1 against 128).
 * Tells "this engine cannot" (skip) apart from "our kernel is wrong" (fail).
 */
function rawDotExact(): boolean {
  try {
    const { code, e } = emitter();
    e(op.get(2), op.get(0), op.v128Load(0), op.get(1), op.v128Load(0), op.v128Zero, op.i32x4RelaxedDotI8x16I7x16AddS, op.v128Store(0), op.end);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes([{ name: 'dot', params: 3, body: funcBody([], code) }])), {});
    const mem = new Uint8Array((inst.exports.memory as WebAssembly.Memory).buffer);
    const dot = inst.exports.dot as (a: number, b: number, out: number) => void;
    const run = (a: number, b: number) => {
      mem.fill(a & 255, 0, 16);
      mem.fill(b, 16, 32);
      dot(0, 16, 32);
      return Array.from(new Int32Array(mem.buffer, 32, 4));
    };
    return [[127, 255], [-128, 255], [1, 128]].every(([a, b]) => run(a, b).every((v) => v === 4 * a * b));
  } catch {
    return false;
  }
}

/** xorshift32: fast seeded codes for big inputs. */
function random(seed: number) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function fillRandom(out: Uint8Array | Int8Array, seed: number): void {
  const r = random(seed);
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length >> 2);
  for (let i = 0; i < u.length; i++) u[i] = r();
  for (let i = u.length * 4; i < out.length; i++) out[i] = r();
}

interface CompareCase { N: number; K: number; M: number; u8w: boolean; perCol: boolean; perRow: boolean; kind: 'random' | 'extreme'; rowsPerPass?: number; cols?: 1 | 2 | 4; k2?: boolean }

const t0 = performance.now();
const gemv = int8GemvWasm();
/** The kernels' instantiation, the u8dot probe included (ms). */
const instantiateMs = performance.now() - t0;

/** One case: weights, zero points, activations (random, or extremes: 0 / 255 against -128 / 127 and 0 / 255). */
function makeCase(c: CompareCase, seed: number) {
  const r = random(seed);
  const { N, K, M } = c;
  const w = c.u8w ? new Uint8Array(N * K) : new Int8Array(N * K);
  const a = new Uint8Array(M * K);
  if (c.kind === 'random') {
    fillRandom(w, seed * 7 + 1);
    fillRandom(a, seed * 7 + 2);
  } else {
    const lo = c.u8w ? 0 : -128, hi = c.u8w ? 255 : 127;
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) w[n * K + k] = [lo, hi, k % 2 ? lo : hi, r() % 2 ? lo : hi][n % 4];
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) a[m * K + k] = [255, 0, k % 2 ? 0 : 255, r() % 2 ? 255 : 0, 128 + (r() % 128)][m % 5];
  }
  const zrange = () => (c.u8w ? r() % 256 : (r() % 256) - 128);
  const wz = c.perCol ? Int32Array.from({ length: N }, zrange) : c.kind === 'extreme' ? (c.u8w ? 255 : -128) : zrange();
  const az = c.perRow ? Int32Array.from({ length: M }, (_, m) => (c.kind === 'extreme' ? [0, 255][m % 2] : r() % 256)) : c.kind === 'extreme' ? 0 : r() % 256;
  return { w, a, wz, az };
}

function refInteger(w: ArrayLike<number>, wz: number | Int32Array, N: number, K: number, a: Uint8Array, az: number | Int32Array, M: number): Int32Array {
  const out = new Int32Array(M * N);
  for (let m = 0; m < M; m++) {
    const z = typeof az === 'number' ? az : az[m];
    for (let n = 0; n < N; n++) {
      const y = typeof wz === 'number' ? wz : wz[n];
      let t = 0;
      for (let k = 0; k < K; k++) t += (a[m * K + k] - z) * (w[n * K + k] - y);
      out[m * N + n] = t;
    }
  }
  return out;
}

const f = Math.fround;

/** The JS epilogue ColumnSlice ran before the kernels had float ones: f(f(f(int) * f(xs * ws[n])) (+ b[n])), rows `stride` apart. */
function jsEpilogue(ints: Int32Array, xScale: number | Float32Array, ws: Float32Array, b: Float32Array | undefined, M: number, N: number, out: Float32Array, stride: number) {
  for (let m = 0; m < M; m++) {
    const xs = typeof xScale === 'number' ? xScale : xScale[m];
    for (let n = 0; n < N; n++) {
      const y = f(f(ints[m * N + n]) * f(xs * ws[n]));
      out[m * stride + n] = b ? f(y + b[n]) : y;
    }
  }
  return out;
}

export interface FusedCase extends CompareCase { bias: boolean; stride: number }

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const api = {
  info: () => ({ rawDotExact: rawDotExact(), simd: gemv !== null, relaxed: gemv?.relaxed ?? false, u8Exact: gemv?.u8Exact ?? false, integerKernel: integerKernel(), instantiateMs, crossOriginIsolated: self.crossOriginIsolated }),
  setPreference: (p: Int8KernelPreference) => setInt8KernelPreference(p),
  /** The kernel a ColumnSlice picks now (by this thread's preference), and the one it takes when told. */
  sliceKernels(): { auto: string; toldDot: string; toldU8: string } {
    const N = 20, K = 40;
    const base = { codes: new Int8Array(N * K), N, K, scale: new Float32Array(N).fill(1), zeroPoint: new Int32Array(N) };
    return { auto: new ColumnSlice(base).kernel, toldDot: new ColumnSlice({ ...base, kernel: 'dot' }).kernel, toldU8: new ColumnSlice({ ...base, kernel: 'u8dot' }).kernel };
  },
  /**
   * A ColumnSlice of uint8 weights (per-column zero points, scales, bias) on each kernel, run on
   * M rows with per-row zero points and scales: whether the float outputs are the same bit for bit.
   */
  sliceSame(M: number): { kernels: string[]; same: boolean } {
    const N = 300, K = 1000;
    const codes = new Uint8Array(N * K);
    fillRandom(codes, 11);
    const r = random(12);
    const w = { codes, N, K, scale: Float32Array.from({ length: N }, () => (r() % 1000) / 1e5), zeroPoint: Int32Array.from({ length: N }, () => r() % 256), bias: Float32Array.from({ length: N }, () => (r() % 2000) / 1000 - 1) };
    const a = new Uint8Array(M * K);
    fillRandom(a, 13);
    const az = Int32Array.from({ length: M }, () => r() % 256), as = Float32Array.from({ length: M }, () => (r() % 1000) / 1e4);
    const outs = (['dot', 'u8dot'] as const).map((kernel) => {
      const slice = new ColumnSlice({ ...w, kernel });
      const out = new Float32Array(M * N);
      slice.run(a, az, as, M, out, N);
      return { kernel: slice.kernel, bits: new Uint32Array(out.buffer) };
    });
    return { kernels: outs.map((o) => o.kernel), same: outs[0].bits.every((v, i) => v === outs[1].bits[i]) };
  },
  /**
   * Every case on both kernels: the u8dot kernel's matmulInteger against the dot kernel's (and, where
   * small enough, a JS reference). Returns the cases run and the first mismatches.
   */
  compare(cases: CompareCase[]): { run: number; refChecked: number; mismatches: string[] } {
    if (!gemv) throw new Error('no WebAssembly SIMD');
    const mismatches: string[] = [];
    let refChecked = 0;
    cases.forEach((c, i) => {
      const { w, a, wz, az } = makeCase(c, 1000 + i);
      const dot = gemv.load(w, c.N, c.K, 1, { kernel: 'dot', zeroPoint: wz });
      const u8 = gemv.load(w, c.N, c.K, 1, { kernel: 'u8dot', zeroPoint: wz, rowsPerPass: c.rowsPerPass, cols: c.cols, k2: c.k2 });
      const want = dot.matmulInteger(a, az, c.M);
      // twice: the second call may run tiered-up code
      for (let rep = 0; rep < 2; rep++) {
        const got = u8.matmulInteger(a, az, c.M);
        for (let j = 0; j < want.length; j++) {
          if (got[j] !== want[j]) {
            if (mismatches.length < 10) mismatches.push(`${JSON.stringify(c)} rep ${rep} [${Math.floor(j / c.N)}, ${j % c.N}]: u8dot ${got[j]}, dot ${want[j]}`);
            break;
          }
        }
      }
      if (c.M * c.N * c.K <= 2_000_000) {
        refChecked++;
        const ref = refInteger(w, wz, c.N, c.K, a, az, c.M);
        for (let j = 0; j < ref.length; j++) {
          if (ref[j] !== want[j]) {
            if (mismatches.length < 10) mismatches.push(`${JSON.stringify(c)} [${j}]: dot ${want[j]}, reference ${ref[j]}`);
            break;
          }
        }
      }
    });
    return { run: cases.length, refChecked, mismatches };
  },
  /**
   * The fused float epilogue: per case, the u8dot and dot kernels' matmulIntegerScaled (column
   * scales of several magnitudes and signs, a bias or none, per-row or shared scales, output rows
   * `stride` apart) against the JS epilogue of the dot kernel's matmulInteger, bit for bit (the
   * float32 words, gaps between rows included); then a u8dot ColumnSlice's run with each epilogue.
   */
  fusedCompare(cases: FusedCase[]): { run: number; mismatches: string[] } {
    if (!gemv) throw new Error('no WebAssembly SIMD');
    const mismatches: string[] = [];
    const same = (got: Float32Array, want: Float32Array, what: string) => {
      const g = new Uint32Array(got.buffer, got.byteOffset, got.length), w = new Uint32Array(want.buffer, want.byteOffset, want.length);
      for (let j = 0; j < w.length; j++) {
        if (g[j] !== w[j]) {
          if (mismatches.length < 10) mismatches.push(`${what} [${j}]: ${got[j]} against ${want[j]}`);
          return;
        }
      }
    };
    cases.forEach((c, i) => {
      const { w, a, wz, az } = makeCase(c, 2000 + i);
      const r = random(3000 + i);
      const ws = Float32Array.from({ length: c.N }, (_, n) => (n % 11 === 5 ? -1e-38 : n % 13 === 7 ? 3e37 : ((r() % 2000) - 1000) / 1e5));
      const bias = c.bias ? Float32Array.from({ length: c.N }, (_, n) => (n % 3 ? ((r() % 2000) - 1000) / 1000 : 0)) : undefined;
      const xs = c.perRow ? Float32Array.from({ length: c.M }, (_, m) => [f(0.013 + (r() % 1000) / 1e4), -0.07, 1e-9, 1e6][m % 4]) : f((r() % 1000) / 1e4);
      const dot = gemv.load(w, c.N, c.K, ws, { kernel: 'dot', zeroPoint: wz, bias });
      const u8 = gemv.load(w, c.N, c.K, ws, { kernel: 'u8dot', zeroPoint: wz, rowsPerPass: c.rowsPerPass, cols: c.cols, bias, k2: c.k2 });
      const len = (c.M - 1) * c.stride + c.N;
      const want = jsEpilogue(dot.matmulInteger(a, az, c.M), xs, ws, bias, c.M, c.N, new Float32Array(len).fill(NaN), c.stride);
      const tag = JSON.stringify(c);
      for (let rep = 0; rep < 2; rep++) {
        same(u8.matmulIntegerScaled(a, az, xs, c.M, new Float32Array(len).fill(NaN), c.stride), want, `u8dot ${tag} rep ${rep}`);
        same(dot.matmulIntegerScaled(a, az, xs, c.M, new Float32Array(len).fill(NaN), c.stride), want, `dot ${tag} rep ${rep}`);
      }
      const slice = new ColumnSlice({ codes: w, N: c.N, K: c.K, scale: ws, zeroPoint: typeof wz === 'number' ? new Int32Array(c.N).fill(wz) : wz, bias, kernel: 'u8dot' });
      const outs = (['js', 'fused'] as const).map((e) => {
        setSliceEpilogue(e);
        const out = new Float32Array(len).fill(NaN);
        slice.run(a, az, xs, c.M, out, c.stride);
        return out;
      });
      setSliceEpilogue('fused');
      same(outs[1], outs[0], `ColumnSlice u8dot fused / js ${tag}`);
      same(outs[0], want, `ColumnSlice u8dot js / dot's JS epilogue ${tag}`);
    });
    return { run: cases.length, mismatches };
  },
  /**
   * ColumnSlice.run on one N x K linear (the lm_head: 151936 x 1024) with the JS epilogue and the
   * fused one, rounds interleaved (order alternating): per epilogue and M the median over rounds
   * (ms a call), per-row zero points and scales as the batched decoder passes them.
   */
  sliceBench(o: { N: number; K: number; Ms: number[]; rounds: number; kernel?: 'dot' | 'u8dot' }) {
    const { N, K } = o;
    const codes = new Int8Array(N * K);
    fillRandom(codes, 7);
    const slice = new ColumnSlice({ codes, N, K, scale: Float32Array.from({ length: N }, (_, n) => 0.01 + (n % 100) / 1e4), zeroPoint: new Int32Array(N), kernel: o.kernel });
    const Mmax = Math.max(...o.Ms);
    const a = new Uint8Array(Mmax * K);
    fillRandom(a, 8);
    const az = Int32Array.from({ length: Mmax }, (_, m) => (m * 91) % 256), as = Float32Array.from({ length: Mmax }, (_, m) => 0.01 + m / 1000);
    const out = new Float32Array(Mmax * N);
    const eps = ['js', 'fused'] as const;
    const times: Record<string, Record<number, number[]>> = Object.fromEntries(eps.map((e) => [e, Object.fromEntries(o.Ms.map((M) => [M, [] as number[]]))]));
    for (const M of o.Ms) for (const e of eps) { setSliceEpilogue(e); slice.run(a, az.subarray(0, M), as, M, out, N); }
    for (let round = 0; round < o.rounds; round++) {
      for (const M of o.Ms) {
        for (const e of round % 2 ? [...eps].reverse() : eps) {
          setSliceEpilogue(e);
          const s = performance.now();
          slice.run(a, az.subarray(0, M), as, M, out, N);
          times[e][M].push(performance.now() - s);
        }
      }
    }
    setSliceEpilogue('fused');
    const ms = Object.fromEntries(eps.map((e) => [e, Object.fromEntries(o.Ms.map((M) => [M, median(times[e][M])]))]));
    return { kernel: slice.kernel, ms, ratio: Object.fromEntries(o.Ms.map((M) => [M, ms.fused[M] / ms.js[M]])) };
  },
  /**
   * Timings on one linear of N x K random int8 weights (per-column zero points): per round, each
   * kernel (order alternating) runs each M `reps` times `inner` calls after `warm` calls; the
   * round's figure is the median of those (ms a call). Returns per kernel and M the median over rounds (ms), and whether every
   * u8dot output equalled dot's.
   */
  bench(o: { N: number; K: number; Ms: number[]; rounds: number; reps: number; warm: number; inner?: number; rowsPerPass?: number; cols?: 1 | 2 | 4; kernels?: ('dot' | 'u8dot' | 'u8dot-k1' | 'u8dot-k2')[]; scaled?: boolean; copies?: number }) {
    if (!gemv) throw new Error('no WebAssembly SIMD');
    const { N, K } = o;
    // copies > 1: that many linears of the same weights in one arena, called in turn, so that each
    // call streams its weights from memory (cold) as a decode step's layers do
    const copies = Math.max(1, Math.floor(o.copies ?? 1));
    const arena = copies > 1 ? gemv.arena() : undefined;
    const kernels = o.kernels ?? ['dot', 'u8dot'];
    const w = new Int8Array(N * K);
    fillRandom(w, 5);
    const wz = Int32Array.from({ length: N }, (_, n) => (n * 37) % 256 - 128);
    const t0 = performance.now();
    const lins: Record<string, Int8Linear> = {};
    const ws = Float32Array.from({ length: N }, (_, n) => 1e-3 * (1 + (n % 7)));
    const all: Record<string, Int8Linear[]> = {};
    for (const k of kernels) {
      // u8dot-k1 / -k2: the u8dot kernel with one accumulator set / two wherever they fit (Int8LoadOptions.k2)
      const k2 = k === 'u8dot-k1' ? false : k === 'u8dot-k2' ? true : undefined;
      all[k] = Array.from({ length: copies }, () => gemv.load(w, N, K, o.scaled ? ws : 1, k === 'dot' ? { kernel: 'dot', cols: o.cols ?? 4, zeroPoint: wz, rowsPerPass: o.rowsPerPass, arena } : { kernel: 'u8dot', cols: o.cols, zeroPoint: wz, rowsPerPass: o.rowsPerPass, arena, k2 }));
      lins[k] = all[k][0];
    }
    let turn = 0;
    const loadMs = performance.now() - t0;
    const Mmax = Math.max(...o.Ms);
    const a = new Uint8Array(Mmax * K);
    fillRandom(a, 6);
    const az = Int32Array.from({ length: Mmax }, (_, m) => (m * 91) % 256);
    const outs: Record<string, Int32Array> = Object.fromEntries(kernels.map((k) => [k, new Int32Array(Mmax * N)]));
    const fouts: Record<string, Float32Array> = Object.fromEntries(kernels.map((k) => [k, new Float32Array(Mmax * N)]));
    const xs = Float32Array.from({ length: Mmax }, (_, m) => 0.01 * (m + 1));
    // scaled: the float epilogue too (matmulIntegerScaled, what the own decoder's ColumnSlice runs)
    const call = (first: Int8Linear, k: string, zr: Int32Array, M: number) => {
      const lin = copies > 1 ? all[k][turn++ % copies] : first;
      return o.scaled ? lin.matmulIntegerScaled(a, zr, xs.subarray(0, M), M, fouts[k], N) : lin.matmulInteger(a, zr, M, outs[k]);
    };
    let same = true;
    const times: Record<string, Record<number, number[]>> = Object.fromEntries(kernels.map((k) => [k, Object.fromEntries(o.Ms.map((M) => [M, [] as number[]]))]));
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 ? [...kernels].reverse() : kernels;
      for (const M of o.Ms) {
        for (const k of order) {
          const lin = lins[k];
          const zr = az.subarray(0, M);
          for (let i = 0; i < (round === 0 ? o.warm : 0); i++) call(lin, k, zr, M);
          const ts: number[] = [];
          const inner = o.inner ?? 1;
          for (let i = 0; i < o.reps; i++) {
            const s = performance.now();
            for (let j = 0; j < inner; j++) call(lin, k, zr, M);
            ts.push((performance.now() - s) / inner);
          }
          times[k][M].push(median(ts));
        }
        if (kernels.length === 2) {
          const [p, q] = kernels.map((k) => (o.scaled ? fouts[k] : outs[k]));
          for (let j = 0; j < M * N; j++) if (p[j] !== q[j]) { same = false; break; }
        }
      }
    }
    const ms: Record<string, Record<number, number>> = {};
    const best: Record<string, Record<number, number>> = {};
    for (const k of kernels) {
      ms[k] = Object.fromEntries(o.Ms.map((M) => [M, median(times[k][M])]));
      best[k] = Object.fromEntries(o.Ms.map((M) => [M, Math.min(...times[k][M])]));
    }
    return { N, K, weightBytes: lins[kernels[0]].weightBytes, loadMs, ms, best, perRound: times, same };
  },
};

(window as unknown as { kernel: typeof api }).kernel = api;
document.getElementById('status')!.textContent = 'ready';
