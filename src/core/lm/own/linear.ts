/**
 * The own decoder's linears: one linear (or several sharing one input, fused along N) on our int8
 * kernel (../int8-gemv-wasm.ts), exactly onnxruntime's DynamicQuantizeLinear + MatMulInteger +
 * Cast + Mul (+ Add bias); see ./decoder.ts for the numbers it follows.
 *
 * With a `KernelPool` of T > 1 threads (./pool.ts) a linear's output columns are split into T
 * slices (multiples of 16 columns): the calling thread keeps slice 0 and the pool's helpers hold
 * the others; each column's numbers are computed by the same `ColumnSlice` code whichever thread
 * runs it, so the result is bit for bit the one-thread result. Without a pool (or with one thread)
 * the whole linear runs on the calling thread.
 */
import { DataError, FormatError } from '../../errors';
import { int8GemvWasm, integerKernel, LOAD_STEP_BYTES, type Int8Arena, type Int8Linear, type Int8LoadProgress } from '../int8-gemv-wasm';
import { mapSteps, runSteps } from '../../steps';
import type { DynamicQuant } from './decoder';
import type { QLinear } from './weights';
import type { KernelPool, PooledLinear, SliceWeights } from './pool';

export type { KernelPool } from './pool';

const f = Math.fround;

/** Where ColumnSlice.run's Cast + Mul (+ Add) is done: 'fused' in the kernel's last step (default), or 'js' after it. */
export type SliceEpilogue = 'fused' | 'js';
let epilogue: SliceEpilogue = 'fused';

/**
 * A/B switch for this thread's ColumnSlices (module state: a pool's helpers keep their own,
 * 'fused'): 'js' runs the float epilogue as a JS loop over matmulInteger's int32 sums (copied out
 * of the kernel's memory), as before the kernels had float epilogues; 'fused' has the kernel store
 * the float outputs (Int8Linear.matmulIntegerScaled). The same numbers bit for bit either way.
 */
export function setSliceEpilogue(e: SliceEpilogue): void {
  if (e !== 'fused' && e !== 'js') throw new DataError('own-epilogue', `The slice epilogue is ${String(e)}; it must be 'fused' or 'js'.`);
  epilogue = e;
}

/** Columns split at multiples of this (the kernel's column groups are 4 wide). */
export const SLICE_ALIGN = 16;

/**
 * Where T slices of N columns start ([0, s1, .., s_{T-1}], multiples of SLICE_ALIGN), or null
 * when N is too narrow to give every thread at least SLICE_ALIGN columns.
 */
export function sliceStarts(N: number, T: number): number[] | null {
  if (!(T > 1) || N < T * SLICE_ALIGN) return null;
  const starts = [0];
  for (let t = 1; t < T; t++) starts.push(Math.max(starts[t - 1] + SLICE_ALIGN, Math.round((t * N) / T / SLICE_ALIGN) * SLICE_ALIGN));
  return starts[T - 1] < N ? starts : null;
}

/** A slice's weights in this thread's int8 kernel, and which kernel. */
interface LoadedSlice {
  kernel: 'dot' | 'u8dot';
  lin: Int8Linear;
}

/** Load a slice's weights (see ColumnSlice for the kernel's choice), `stepBytes` of codes a step. */
function* sliceLoad(w: SliceWeights, arena: Int8Arena | undefined, stepBytes: number): Generator<Int8LoadProgress, LoadedSlice, void> {
  const gemv = int8GemvWasm();
  if (!gemv) throw new DataError('no-wasm-simd', 'This WebAssembly engine has no SIMD, which our decoder needs.');
  const kernel = w.kernel === 'dot' ? 'dot' : w.kernel === 'u8dot' ? (gemv.u8Exact ? 'u8dot' : 'dot') : integerKernel();
  // u8dot: packed by 4 (SLICE_ALIGN), the step per pass by its rows (U8_AUTO_COLS)
  const opts = kernel === 'u8dot' ? { kernel, zeroPoint: w.zeroPoint, arena, bias: w.bias, stepBytes } : { kernel, cols: 4 as const, zeroPoint: w.zeroPoint, arena, bias: w.bias, stepBytes };
  return { kernel, lin: yield* gemv.loadSteps(w.codes, w.N, w.K, w.scale, opts) };
}

/**
 * Some of a linear's output columns on this thread's int8 kernel: for M rows of uint8 codes,
 * out[m * stride + n] = float(MatMulInteger sum) * (xs * ws[n]) (+ b[n]) for its N columns.
 *
 * The kernel: `w.kernel` where given (a pool's helper gets the caller's choice with the weights;
 * 'u8dot' falls back to 'dot' where this thread's engine did not find it exact), else this thread's
 * `integerKernel()` (u8dot where the probe found it exact and the preference is 'auto') at
 * construction: `setInt8KernelPreference` takes effect for slices built after it. Both kernels
 * give the same int32 sums, so the outputs are the same bit for bit whichever runs.
 *
 * `arena` (this thread's `int8GemvWasm().arena()`): the weights go into its shared WebAssembly
 * memory rather than one of their own (same numbers; see Int8Arena).
 *
 * The float epilogue runs in the kernel's last step (`matmulIntegerScaled`: the column scales and
 * bias are loaded with the weights), bit for bit the JS loop it replaced (see the kernels' header,
 * Epilogue), which `setSliceEpilogue('js')` brings back for A/B runs.
 */
export class ColumnSlice {
  readonly N: number;
  readonly K: number;
  readonly kernel: 'dot' | 'u8dot';
  private readonly lin: Int8Linear;
  private readonly scale: Float32Array;
  private readonly bias: Float32Array | null;
  private ints = new Int32Array(0);
  /** Per-column scale of the last call's input (its scale times the weight column's). */
  private readonly colScale: Float32Array;

  /** `loaded`: the weights already in the kernel (ColumnSlice.steps'); left out, they are loaded here, at once. */
  constructor(w: SliceWeights, arena?: Int8Arena, loaded: LoadedSlice = runSteps(sliceLoad(w, arena, LOAD_STEP_BYTES))) {
    this.N = w.N;
    this.K = w.K;
    this.kernel = loaded.kernel;
    this.lin = loaded.lin;
    this.scale = w.scale;
    this.bias = w.bias ?? null;
    this.colScale = new Float32Array(w.N);
  }

  /** The slice built in steps: its weights loaded `stepBytes` of codes a step (Int8Gemv.loadSteps; a yield between chunks of columns only). */
  static *steps(w: SliceWeights, arena?: Int8Arena, stepBytes = LOAD_STEP_BYTES): Generator<Int8LoadProgress, ColumnSlice, void> {
    return new ColumnSlice(w, arena, yield* sliceLoad(w, arena, stepBytes));
  }

  /** M rows with one zero point and scale for all, or one per row (`Int32Array` / `Float32Array` of M). */
  run(codes: Uint8Array, zeroPoint: number | Int32Array, xScale: number | Float32Array, M: number, out: Float32Array, stride: number): void {
    const { N } = this;
    const z = typeof zeroPoint === 'number' ? zeroPoint : zeroPoint.subarray(0, M);
    if (epilogue === 'fused') {
      this.lin.matmulIntegerScaled(codes, z, xScale, M, out, stride);
      return;
    }
    if (this.ints.length < M * N) this.ints = new Int32Array(M * N);
    const ints = this.lin.matmulInteger(codes, z, M, this.ints);
    const s = this.colScale;
    const b = this.bias;
    let last = NaN;
    for (let m = 0; m < M; m++) {
      const xs = typeof xScale === 'number' ? xScale : xScale[m];
      if (!Object.is(xs, last)) for (let n = 0; n < N; n++) s[n] = f(xs * this.scale[n]);
      last = xs;
      const i = m * N, o = m * stride;
      if (b) for (let n = 0; n < N; n++) out[o + n] = f(f(f(ints[i + n]) * s[n]) + b[n]);
      else for (let n = 0; n < N; n++) out[o + n] = f(f(ints[i + n]) * s[n]);
    }
  }
}

/** How far building a linear got: bytes of its codes (N x K) handled, of all (a pool's slices count once sent). */
export interface LinearBuildProgress {
  codesDone: number;
  codes: number;
}

/** A linear's parts, built (what Linear.build hands its constructor). */
export interface BuiltLinear {
  N: number;
  K: number;
  local: ColumnSlice;
  remote: PooledLinear | null;
}

/** Build a linear's slices (see Linear), this thread's `stepBytes` of codes a step. */
function* assemble(parts: QLinear[], pool: KernelPool | undefined, arena: Int8Arena | undefined, stepBytes: number): Generator<LinearBuildProgress, BuiltLinear, void> {
  if (!int8GemvWasm()) throw new DataError('no-wasm-simd', 'This WebAssembly engine has no SIMD, which our decoder needs.');
  const K = parts[0].K;
  const N = parts.reduce((a, p) => a + p.N, 0);
  const signed = parts[0].codes instanceof Int8Array;
  if (parts.some((p) => p.K !== K || p.codes instanceof Int8Array !== signed)) throw new FormatError('own-weights', 'Fused linears must share K and code type.');
  const codes = parts.length === 1 ? parts[0].codes : signed ? new Int8Array(N * K) : new Uint8Array(N * K);
  const scale = new Float32Array(N), zero = new Int32Array(N);
  let bias: Float32Array | null = parts.some((p) => p.bias) ? new Float32Array(N) : null;
  let o = 0;
  for (const p of parts) {
    if (parts.length > 1) codes.set(p.codes, o * K);
    scale.set(p.scale, o);
    zero.set(p.zeroPoint, o);
    if (bias && p.bias) bias.set(p.bias, o);
    o += p.N;
  }
  if (bias && parts.some((p) => !p.bias)) bias = null;
  if (parts.some((p) => p.bias) && !bias) throw new FormatError('own-weights', 'Fused linears must all have a bias or none.');
  const starts = pool && pool.threads > 1 ? sliceStarts(N, pool.threads) : null;
  // one kernel for every slice, this thread's choice (the helpers get it with their weights)
  const kernel = integerKernel();
  /** The codes done once `before` columns' are and this thread's slice's load has done `p`. */
  const local = (w: SliceWeights, before: number) => mapSteps(ColumnSlice.steps(w, arena, stepBytes), (p) => ({ codesDone: (before + p.columnsDone) * K, codes: N * K }));
  if (!pool || !starts) return { N, K, local: yield* local({ codes, N, K, scale, zeroPoint: zero, bias: bias ?? undefined, kernel }, 0), remote: null };
  const end = (t: number) => (t + 1 < starts.length ? starts[t + 1] : N);
  // the helpers' slices are copies (their buffers are transferred), made before slice 0 is loaded here
  const slices: SliceWeights[] = [];
  for (let t = 1; t < starts.length; t++) {
    const a = starts[t], b = end(t);
    slices.push({ codes: codes.slice(a * K, b * K), N: b - a, K, scale: scale.slice(a, b), zeroPoint: zero.slice(a, b), bias: bias?.slice(a, b), kernel });
  }
  const remote = pool.load(N, K, starts, slices);
  const n0 = end(0);
  if (N * K > stepBytes) yield { codesDone: (N - n0) * K, codes: N * K };
  return { N, K, local: yield* local({ codes: codes.subarray(0, n0 * K), N: n0, K, scale: scale.subarray(0, n0), zeroPoint: zero.subarray(0, n0), bias: bias?.subarray(0, n0), kernel }, N - n0), remote };
}

/**
 * A linear (or several sharing one input, fused along N) on the int8 kernel, on one thread or a pool's.
 * `arena`: where the calling thread's slice is loaded (an engine passes one arena to all its
 * linears: a WebAssembly memory per module and thread, not one per linear); a pool's helpers load
 * their slices into an arena of their own (./pool.ts).
 */
export class Linear {
  readonly N: number;
  readonly K: number;
  /** The columns computed on the calling thread (all of them without a pool). */
  private readonly local: ColumnSlice;
  /** The other columns, on the pool's helpers. */
  private readonly remote: PooledLinear | null;

  /** `built`: Linear.build's (callers leave it out: the linear is then built here, at once). */
  constructor(parts: QLinear[], readonly pool?: KernelPool, arena?: Int8Arena, built: BuiltLinear = runSteps(assemble(parts, pool, arena, LOAD_STEP_BYTES))) {
    this.N = built.N;
    this.K = built.K;
    this.local = built.local;
    this.remote = built.remote;
  }

  /**
   * The linear built in steps (../../steps.ts), the same linear as `new Linear(parts, pool, arena)`:
   * this thread's slice loaded `stepBytes` of codes a step (default LOAD_STEP_BYTES); with a pool,
   * the helpers' slices copied and sent in one step before it (a yield after it where the linear is
   * bigger than a step). A yield between two steps only: a linear of one step does not yield.
   */
  static *build(parts: QLinear[], pool?: KernelPool, arena?: Int8Arena, stepBytes = LOAD_STEP_BYTES): Generator<LinearBuildProgress, Linear, void> {
    return new Linear(parts, pool, arena, yield* assemble(parts, pool, arena, stepBytes));
  }

  /** y [M, N] = the dynamic-quantised x [M, K] . W^T. */
  run(q: DynamicQuant, M: number, out = new Float32Array(M * this.N)): Float32Array {
    return this.rows(q.codes, q.zeroPoint, q.scale, M, out);
  }

  /**
   * y [M, N] for M rows of uint8 codes, row m quantised on its own (zero point zeroPoints[m], scale
   * scales[m]), in one kernel call: bit for bit what M one-row `run` calls give.
   */
  runRows(codes: Uint8Array, zeroPoints: Int32Array, scales: Float32Array, M: number, out = new Float32Array(M * this.N)): Float32Array {
    if (zeroPoints.length < M || scales.length < M) throw new DataError('own-rows', `There are ${Math.min(zeroPoints.length, scales.length)} row zero points or scales; expected ${M}.`);
    return this.rows(codes, zeroPoints, scales, M, out);
  }

  private rows(codes: Uint8Array, zero: number | Int32Array, scale: number | Float32Array, M: number, out: Float32Array): Float32Array {
    const { N, K } = this;
    const r = this.remote;
    if (!r) {
      this.local.run(codes, zero, scale, M, out, N);
      return out;
    }
    for (let m0 = 0; m0 < M; m0 += r.rowsCap) {
      const R = Math.min(r.rowsCap, M - m0);
      const c = m0 === 0 ? codes : codes.subarray(m0 * K);
      const o = m0 === 0 ? out : out.subarray(m0 * N);
      const z = typeof zero === 'number' ? zero : zero.subarray(m0, m0 + R);
      const s = typeof scale === 'number' ? scale : scale.subarray(m0, m0 + R);
      r.start(c, z, s, R);
      try {
        this.local.run(c, z, s, R, o, N);
      } finally {
        r.finish(o, R);
      }
    }
    return out;
  }
}
