/**
 * The own decoder's linears: one linear (or several sharing one input, fused along N) on our int8
 * kernel (../int8-gemv-wasm.ts), exactly onnxruntime's DynamicQuantizeLinear + MatMulInteger +
 * Cast + Mul (+ Add bias); see ./decoder.ts for the numbers it follows.
 *
 * `KernelPool` is the seam for running a linear's output columns on several threads; without a
 * pool (or with one thread) the whole linear runs on the calling thread.
 */
import { DataError, FormatError } from '../../errors';
import { int8GemvWasm, type Int8Linear } from '../int8-gemv-wasm';
import type { DynamicQuant } from './decoder';
import type { QLinear } from './weights';
import type { KernelPool } from './pool';

const f = Math.fround;

export type { KernelPool } from './pool';

/** A linear (or several sharing one input, fused along N) on the int8 kernel. */
export class Linear {
  readonly N: number;
  readonly K: number;
  private readonly lin: Int8Linear;
  private readonly scale: Float32Array;
  private readonly bias: Float32Array | null;
  private ints = new Int32Array(0);
  /** Per-column scale of the last call's input (its scale times the weight column's). */
  private readonly colScale: Float32Array;

  constructor(parts: QLinear[], readonly pool?: KernelPool) {
    const gemv = int8GemvWasm();
    if (!gemv) throw new DataError('no-wasm-simd', 'This WebAssembly engine has no SIMD, which our decoder needs.');
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
    this.N = N;
    this.K = K;
    this.lin = gemv.load(codes, N, K, 1, { kernel: 'dot', cols: 4, zeroPoint: zero });
    this.scale = scale;
    this.bias = bias;
    this.colScale = new Float32Array(N);
  }

  /** y [M, N] = the dynamic-quantised x [M, K] . W^T. */
  run(q: DynamicQuant, M: number, out = new Float32Array(M * this.N)): Float32Array {
    const { N } = this;
    if (this.ints.length < M * N) this.ints = new Int32Array(M * N);
    const ints = this.lin.matmulInteger(q.codes, q.zeroPoint, M, this.ints);
    const s = this.colScale;
    for (let n = 0; n < N; n++) s[n] = f(q.scale * this.scale[n]);
    const b = this.bias;
    for (let m = 0; m < M; m++) {
      const o = m * N;
      if (b) for (let n = 0; n < N; n++) out[o + n] = f(f(f(ints[o + n]) * s[n]) + b[n]);
      else for (let n = 0; n < N; n++) out[o + n] = f(f(ints[o + n]) * s[n]);
    }
    return out;
  }
}

