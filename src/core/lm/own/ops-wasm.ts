/**
 * The own decoder's (./decoder.ts) work between its int8 linears, in WebAssembly SIMD128 (built with
 * ../../math/wasm-asm.ts, like ../int8-gemv-wasm.ts): what OwnDecoder.step runs with `ops: 'wasm'`
 * (the default where the engine has SIMD). The JavaScript functions of ./decoder.ts stay the reference.
 *
 *   quantize  DynamicQuantizeLinear, bit for bit `dynamicQuantizeLinear`: min / max over the input
 *             with 0 (f32x4.min / max, which carry a NaN into the result, so non-finite input is still
 *             seen), scale and zero point computed in JavaScript by the same expressions, then per
 *             value q = sat_u8(trunc_sat(nearest(x / scale)) + zero): f32x4.div is IEEE float32
 *             division (= Math.fround of the float64 quotient of two float32s: double rounding is
 *             innocuous for division at 53 >= 2 * 24 + 2 bits), f32x4.nearest is round-half-even,
 *             and the saturating narrows (i32 -> i16 signed, i16 -> u8) are the clamp to [0, 255]
 *             (|x| <= max - min and scale >= (max - min) / 255 less two float32 roundings, so
 *             |x / scale| < 256 for a normal finite scale: trunc_sat and the i32 add cannot
 *             overflow; a scale that is 0, subnormal or infinite goes through the JavaScript code
 *             instead). Values past the last multiple of 16 are done in JavaScript, by the
 *             same formula.
 *   attention one query head over a row's visible slots, bit for bit the scalar code: scores
 *             q . k with the q values in float64 and each f64x2 lane one slot (8 slots a pass),
 *             its products exact and summed in dimension order, as the scalar `a += q[i] * k[i]`;
 *             the scale, max, exp and sum in JavaScript as the scalar code does them; then
 *             sum_u p_u v_u in f64x2 lanes of dimensions, summed in slot order, rounded to float32
 *             at the end. (Float32 lanes would be ~2x faster but not the same numbers: their
 *             different rounding moved a quantisation step in a weights.test.ts case, 2e-3 off
 *             onnxruntime.) The row's keys and values for one KV head are copied into the
 *             module's memory once per layer and used by every query head of its group and every
 *             new token of the row.
 *   argmax    f32x4.max over the logits (a NaN anywhere gives a NaN: refused as `argmax` does), then
 *             the first index equal to the maximum (f32x4.eq; -0 = +0 as for `>`): `argmax` exactly.
 *
 * One module, compiled once; each WasmOps has its own instance and memory (grown as asked, never
 * shrunk), so it must not be shared between threads. Inputs are copied into its memory and
 * results out of it (a copy is ~0.1 ns a value; the scalar code took ~17 ns a value to quantise).
 */
import { DataError } from '../../errors';
import { emitter, funcBody, HIGH_HALF, I32, V128, moduleBytes, op } from '../../math/wasm-asm';

const f = Math.fround;
const MIN_NORMAL = 2 ** -126;
const F32_MAX = 3.4028234663852886e38;

/** One quantised tensor: its codes, scale and zero point (./decoder.ts's DynamicQuant). */
export interface Quantized {
  codes: Uint8Array;
  scale: number;
  zeroPoint: number;
}

/** Round half to even (as ./decoder.ts's roundHalfEven). */
function rhe(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---- kernels ------------------------------------------------------------------------------------

/** minmax(x, n, out): n a multiple of 16 (>= 16); out: v128 min (with 0) at 0, v128 max at 16. */
function minmaxBody(): number[] {
  const [X, N, OUT, P, END] = [0, 1, 2, 3, 4];
  const [MN0, MN1, MX0, MX1, V] = [5, 6, 7, 8, 9];
  const { code, e } = emitter();
  e(op.get(X), op.get(N), op.i32(4), op.mul, op.add, op.set(END), op.get(X), op.set(P));
  for (const a of [MN0, MN1, MX0, MX1]) e(op.v128Zero, op.set(a));
  e(op.loop);
  for (let k = 0; k < 4; k++) {
    const mn = k % 2 ? MN1 : MN0, mx = k % 2 ? MX1 : MX0;
    e(op.get(P), op.v128Load(k * 16), op.set(V));
    e(op.get(mn), op.get(V), op.f32x4Min, op.set(mn), op.get(mx), op.get(V), op.f32x4Max, op.set(mx));
  }
  e(op.get(P), op.i32(64), op.add, op.tee(P), op.get(END), op.ltU, op.brIf(0));
  e(op.end);
  e(op.get(OUT), op.get(MN0), op.get(MN1), op.f32x4Min, op.v128Store(0));
  e(op.get(OUT), op.get(MX0), op.get(MX1), op.f32x4Max, op.v128Store(16));
  e(op.end);
  return funcBody([[2, I32], [5, V128]], code);
}

/** quant(x, n, codes, params): n a multiple of 16 (>= 16); params: f32 scale at 0, i32 zero point at 4. */
function quantBody(): number[] {
  const [X, N, C, PAR, P, END, O] = [0, 1, 2, 3, 4, 5, 6];
  const [S, Z] = [7, 8];
  const { code, e } = emitter();
  e(op.get(PAR), op.v128Load32Splat(0), op.set(S), op.get(PAR), op.v128Load32Splat(4), op.set(Z));
  e(op.get(X), op.get(N), op.i32(4), op.mul, op.add, op.set(END), op.get(X), op.set(P), op.get(C), op.set(O));
  e(op.loop);
  e(op.get(O));
  for (let k = 0; k < 4; k++) {
    e(op.get(P), op.v128Load(k * 16), op.get(S), op.f32x4Div, op.f32x4Nearest, op.i32x4TruncSatF32x4S, op.get(Z), op.i32x4Add);
    if (k % 2) e(op.i16x8NarrowI32x4S);
  }
  e(op.i8x16NarrowI16x8U, op.v128Store(0));
  e(op.get(O), op.i32(16), op.add, op.set(O));
  e(op.get(P), op.i32(64), op.add, op.tee(P), op.get(END), op.ltU, op.brIf(0));
  e(op.end);
  e(op.end);
  return funcBody([[3, I32], [2, V128]], code);
}

/** Bytes 0-3 of a, of b, 4-7 of a, of b (f32 lanes a0 b0 a1 b1), and the same for bytes 8-15. */
const INTERLEAVE_LO = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
const INTERLEAVE_HI = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
/** Slots a pass of `dots` takes (four f64x2 accumulators, two slots each). */
export const DOT_SLOTS = 8;

/**
 * dots(q, k, idx, passes, rowBytes, out): out[i] (f64) = sum_j q[j] k_row(idx[i])[j] for
 * i < passes * DOT_SLOTS, q as float64 [hd], rows of float32 (rowBytes = 4 hd, a multiple of 16).
 * Each f64x2 lane is one slot, its sum taken in j order (an exact product, then a float64 add):
 * the scalar code's `a += q[j] * k[j]`, bit for bit.
 */
function dotsBody(): number[] {
  const [Q, K, IDX, PASSES, RB, OUT] = [0, 1, 2, 3, 4, 5];
  const [J, QP, QEND, IP, OP] = [6, 7, 8, 9, 10];
  const KA = 11; // DOT_SLOTS row addresses
  const ACC = 0, QV = 4, A = 8, B = 9, S1 = 10, S2 = 11; // v128 locals after the i32 ones
  const nI = 5 + DOT_SLOTS;
  const v = (i: number) => 6 + nI + i;
  const { code, e } = emitter();
  e(op.i32(0), op.set(J), op.get(IDX), op.set(IP), op.get(OUT), op.set(OP));
  e(op.loop);
  {
    for (let s = 0; s < DOT_SLOTS; s++) e(op.get(IP), op.i32Load(4 * s), op.get(RB), op.mul, op.get(K), op.add, op.set(KA + s));
    for (let p = 0; p < 4; p++) e(op.v128Zero, op.set(v(ACC + p)));
    e(op.get(Q), op.tee(QP), op.get(RB), op.i32(2), op.mul, op.add, op.set(QEND));
    e(op.loop);
    {
      for (let t = 0; t < 4; t++) e(op.get(QP), op.v128Load64Splat(8 * t), op.set(v(QV + t)));
      for (let p = 0; p < 4; p++) {
        e(op.get(KA + 2 * p), op.v128Load(0), op.set(v(A)), op.get(KA + 2 * p + 1), op.v128Load(0), op.set(v(B)));
        e(op.get(v(A)), op.get(v(B)), op.shuffle(INTERLEAVE_LO), op.set(v(S1)));
        e(op.get(v(A)), op.get(v(B)), op.shuffle(INTERLEAVE_HI), op.set(v(S2)));
        const acc = v(ACC + p);
        e(op.get(acc), op.get(v(QV)), op.get(v(S1)), op.promoteLow, op.f64x2Mul, op.f64x2Add);
        e(op.get(v(QV + 1)), op.get(v(S1)), op.get(v(S1)), op.shuffle(HIGH_HALF), op.promoteLow, op.f64x2Mul, op.f64x2Add);
        e(op.get(v(QV + 2)), op.get(v(S2)), op.promoteLow, op.f64x2Mul, op.f64x2Add);
        e(op.get(v(QV + 3)), op.get(v(S2)), op.get(v(S2)), op.shuffle(HIGH_HALF), op.promoteLow, op.f64x2Mul, op.f64x2Add, op.set(acc));
      }
      for (let s = 0; s < DOT_SLOTS; s++) e(op.get(KA + s), op.i32(16), op.add, op.set(KA + s));
      e(op.get(QP), op.i32(32), op.add, op.tee(QP), op.get(QEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    for (let p = 0; p < 4; p++) e(op.get(OP), op.get(v(ACC + p)), op.v128Store(16 * p));
    e(op.get(OP), op.i32(8 * DOT_SLOTS), op.add, op.set(OP), op.get(IP), op.i32(4 * DOT_SLOTS), op.add, op.set(IP));
    e(op.get(J), op.i32(1), op.add, op.tee(J), op.get(PASSES), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[nI, I32], [12, V128]], code);
}

/**
 * wsum(p, v, idx, n, rowBytes, out, blocks): out[j] (f64) = sum_i p[i] v_row(idx[i])[j] over
 * i < n in order (p float64, rows float32), for `blocks` blocks of 4 * VB values from the row's
 * start (n >= 1, blocks >= 1): each value's sum in slot order, the scalar code's
 * `acc[j] += p * v[j]` bit for bit.
 */
function wsumKernel(VB: number): number[] {
  const [P, V, IDX, N, RB, OUT, BL] = [0, 1, 2, 3, 4, 5, 6];
  const [B, IP, PP, PEND, RA, BO] = [7, 8, 9, 10, 11, 12];
  const W = 13, X = 14;
  const ACC = 15; // 2 * VB f64x2
  const { code, e } = emitter();
  e(op.get(P), op.get(N), op.i32(8), op.mul, op.add, op.set(PEND), op.i32(0), op.set(B));
  e(op.loop);
  {
    e(op.get(B), op.i32(16 * VB), op.mul, op.set(BO));
    for (let k = 0; k < 2 * VB; k++) e(op.v128Zero, op.set(ACC + k));
    e(op.get(IDX), op.set(IP), op.get(P), op.set(PP));
    e(op.loop);
    {
      e(op.get(PP), op.v128Load64Splat(0), op.set(W));
      e(op.get(IP), op.i32Load(0), op.get(RB), op.mul, op.get(V), op.add, op.get(BO), op.add, op.set(RA));
      for (let k = 0; k < VB; k++) {
        e(op.get(RA), op.v128Load(k * 16), op.set(X));
        e(op.get(ACC + 2 * k), op.get(W), op.get(X), op.promoteLow, op.f64x2Mul, op.f64x2Add, op.set(ACC + 2 * k));
        e(op.get(ACC + 2 * k + 1), op.get(W), op.get(X), op.get(X), op.shuffle(HIGH_HALF), op.promoteLow, op.f64x2Mul, op.f64x2Add, op.set(ACC + 2 * k + 1));
      }
      e(op.get(IP), op.i32(4), op.add, op.set(IP));
      e(op.get(PP), op.i32(8), op.add, op.tee(PP), op.get(PEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    for (let k = 0; k < 2 * VB; k++) e(op.get(OUT), op.get(BO), op.i32(2), op.mul, op.add, op.get(ACC + k), op.v128Store(k * 16));
    e(op.get(B), op.i32(1), op.add, op.tee(B), op.get(BL), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[6, I32], [2 + 2 * VB, V128]], code);
}

/** vmax(x, n, out): n a multiple of 16 (>= 16); out: the lanes' max (a NaN anywhere: NaN lanes) at 0. */
function vmaxBody(): number[] {
  const [X, N, OUT, P, END] = [0, 1, 2, 3, 4];
  const A = 5;
  const { code, e } = emitter();
  e(op.get(X), op.get(N), op.i32(4), op.mul, op.add, op.set(END), op.get(X), op.set(P));
  for (let k = 0; k < 4; k++) e(op.get(X), op.v128Load(k * 16), op.set(A + k));
  e(op.loop);
  for (let k = 0; k < 4; k++) e(op.get(A + k), op.get(P), op.v128Load(k * 16), op.f32x4Max, op.set(A + k));
  e(op.get(P), op.i32(64), op.add, op.tee(P), op.get(END), op.ltU, op.brIf(0));
  e(op.end);
  e(op.get(OUT), op.get(A), op.get(A + 1), op.f32x4Max, op.get(A + 2), op.get(A + 3), op.f32x4Max, op.f32x4Max, op.v128Store(0));
  e(op.end);
  return funcBody([[2, I32], [4, V128]], code);
}

/**
 * findeq(x, n, out): the byte address of the first 16-float block of x holding a value equal to the
 * f32 at out (i32 at out + 4), or -1 (n a multiple of 16, >= 16).
 */
function findeqBody(): number[] {
  const [X, N, OUT, P, END] = [0, 1, 2, 3, 4];
  const M = 5;
  const { code, e } = emitter();
  e(op.get(X), op.get(N), op.i32(4), op.mul, op.add, op.set(END), op.get(X), op.set(P));
  e(op.get(OUT), op.v128Load32Splat(0), op.set(M));
  e(op.get(OUT), op.i32(-1), op.i32Store(4));
  e(op.block, op.loop);
  for (let k = 0; k < 4; k++) {
    e(op.get(P), op.v128Load(k * 16), op.get(M), op.f32x4Eq);
    if (k) e(op.v128Or);
  }
  e(op.v128AnyTrue, op.if, op.get(OUT), op.get(P), op.i32Store(4), op.br(2), op.end);
  e(op.get(P), op.i32(64), op.add, op.tee(P), op.get(END), op.ltU, op.brIf(0));
  e(op.end, op.end);
  e(op.end);
  return funcBody([[2, I32], [1, V128]], code);
}

let compiled: WebAssembly.Module | null | undefined;

function opsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (typeof WebAssembly === 'undefined') return null;
  const bytes = moduleBytes([
    { name: 'minmax', params: 3, body: minmaxBody() },
    { name: 'quant', params: 4, body: quantBody() },
    { name: 'dots', params: 6, body: dotsBody() },
    { name: 'wsum4', params: 7, body: wsumKernel(4) },
    { name: 'wsum1', params: 7, body: wsumKernel(1) },
    { name: 'vmax', params: 3, body: vmaxBody() },
    { name: 'findeq', params: 3, body: findeqBody() },
  ]);
  try {
    if (WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
  } catch {
    compiled = null;
  }
  return compiled;
}

/** Whether the engine runs the SIMD ops (WebAssembly with SIMD128). */
export function wasmOpsAvailable(): boolean {
  return opsModule() !== null;
}

type Fn = (...a: number[]) => void;

/** Scratch layout of the attention calls: offsets (bytes) into the memory. */
interface KvLayout {
  idx: number;
  k: number;
  v: number;
  q: number;
  p: number;
  out: number;
  hd: number;
  /** Slots (and indices) loaded. */
  n: number;
}

/** The SIMD ops on one instance (one memory); see the file's header. */
export class WasmOps {
  private readonly memory: WebAssembly.Memory;
  private readonly fn: Record<'minmax' | 'quant' | 'dots' | 'wsum4' | 'wsum1' | 'vmax' | 'findeq', Fn>;
  private buf: ArrayBuffer | null = null;
  private f32 = new Float32Array(0);
  private i32 = new Int32Array(0);
  private u8 = new Uint8Array(0);
  private f64 = new Float64Array(0);
  private kv: KvLayout | null = null;

  /** Throws where the engine has no WebAssembly SIMD (see wasmOpsAvailable). */
  constructor() {
    const mod = opsModule();
    if (!mod) throw new DataError('no-wasm-simd', 'This WebAssembly engine has no SIMD, which the decoder\'s SIMD ops need.');
    const inst = new WebAssembly.Instance(mod, {});
    this.memory = inst.exports.memory as WebAssembly.Memory;
    this.fn = inst.exports as unknown as WasmOps['fn'];
  }

  /** Room for `bytes` bytes (64-byte aligned offsets are the caller's); views refreshed. */
  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / 65536));
    if (this.buf !== this.memory.buffer) {
      const b = this.memory.buffer;
      this.buf = b;
      this.f32 = new Float32Array(b);
      this.i32 = new Int32Array(b);
      this.u8 = new Uint8Array(b);
      this.f64 = new Float64Array(b);
    }
  }

  /**
   * DynamicQuantizeLinear of x into `codes` (x.length of them), bit for bit ./decoder.ts's
   * dynamicQuantizeLinear; null where x holds a non-finite value.
   */
  quantize(x: Float32Array, codes: Uint8Array): Quantized | null {
    const n = x.length, n16 = n & ~15;
    const xo = 128, co = align64(xo + 4 * n);
    this.ensure(co + n);
    const { f32, u8 } = this;
    let mn = 0, mx = 0;
    if (n16) {
      f32.set(n16 === n ? x : x.subarray(0, n16), xo >> 2);
      this.fn.minmax(xo, n16, 0);
      for (let i = 0; i < 8; i++) {
        const v = f32[i];
        if (v !== v) return null;
        if (v < mn) mn = v;
        else if (v > mx) mx = v;
      }
    }
    for (let i = n16; i < n; i++) {
      const v = x[i];
      if (v < mn) mn = v;
      else if (v > mx) mx = v;
      else if (v !== v) return null;
    }
    if (!Number.isFinite(mn) || !Number.isFinite(mx)) return null;
    const scale = mx === mn ? 1 : f(f(mx - mn) / 255);
    const z0 = f(0 - f(mn / scale));
    const zeroPoint = rhe(Math.max(0, Math.min(255, z0)));
    let from = 0;
    if (n16 && scale >= MIN_NORMAL && scale <= F32_MAX) {
      f32[16] = scale;
      this.i32[17] = zeroPoint;
      this.fn.quant(xo, n16, co, 64);
      codes.set(u8.subarray(co, co + n16));
      from = n16;
    }
    for (let i = from; i < n; i++) {
      const v = rhe(f(x[i] / scale)) + zeroPoint;
      codes[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    return { codes, scale, zeroPoint };
  }

  /**
   * Load one KV head of a row for attention: `idx` (n visible slots, ascending) and that head's
   * keys and values at slots [0, visible) from `K` / `V` at `off` (slot j at off + j * hd). hd must
   * be a multiple of 4 (see `attentionFits`).
   */
  loadKv(K: Float32Array, V: Float32Array, off: number, visible: number, hd: number, idx: Int32Array, n: number): void {
    const padded = Math.ceil(n / DOT_SLOTS) * DOT_SLOTS;
    const io = 128;
    const k = align64(io + 4 * padded), v = align64(k + 4 * visible * hd), q = align64(v + 4 * visible * hd);
    const p = align64(q + 8 * hd), out = align64(p + 8 * padded);
    this.ensure(out + 8 * hd);
    const { f32, i32 } = this;
    i32.set(n === idx.length ? idx : idx.subarray(0, n), io >> 2);
    // the last pass's extra lanes read the last slot again (their sums are not used)
    i32.fill(idx[n - 1], (io >> 2) + n, (io >> 2) + padded);
    f32.set(K.subarray(off, off + visible * hd), k >> 2);
    f32.set(V.subarray(off, off + visible * hd), v >> 2);
    this.kv = { idx: io, k, v, q, p, out, hd, n };
  }

  /**
   * Attention of one query head (q at qo, hd values) over the first n loaded slots, into out at ao:
   * the scalar code of ./decoder.ts bit for bit (scores q . k summed in float64 in dimension order,
   * s = f32(f32(a) * scale), softmax as exp(s - max) * (1 / sum), sum_u p_u v_u in float64 in slot
   * order, then rounded to float32). n >= 1.
   */
  attend(q: Float32Array, qo: number, n: number, scale: number, out: Float32Array, ao: number): void {
    const L = this.kv!, hd = L.hd, { f64 } = this;
    f64.set(q.subarray(qo, qo + hd), L.q >> 3);
    this.fn.dots(L.q, L.k, L.idx, Math.ceil(n / DOT_SLOTS), 4 * hd, L.p);
    const p0 = L.p >> 3;
    let max = -Infinity;
    for (let u = p0; u < p0 + n; u++) {
      const s = f(f(f64[u]) * scale);
      f64[u] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let u = p0; u < p0 + n; u++) {
      const ex = f(Math.exp(f(f64[u] - max)));
      f64[u] = ex;
      sum += ex;
    }
    const inv = f(1 / f(sum));
    for (let u = p0; u < p0 + n; u++) f64[u] = f(f64[u] * inv);
    const b16 = hd >> 4;
    if (b16) this.fn.wsum4(L.p, L.v, L.idx, n, 4 * hd, L.out, b16);
    const rest = (hd - 16 * b16) >> 2;
    if (rest) this.fn.wsum1(L.p, L.v + 64 * b16, L.idx, n, 4 * hd, L.out + 128 * b16, rest);
    const o0 = L.out >> 3;
    for (let i = 0; i < hd; i++) out[ao + i] = f64[o0 + i];
  }

  /** Index of the largest value, the first on ties (./decoder.ts's argmax); NaN refused with the same DataError. */
  argmax(x: Float32Array): number {
    const n = x.length, n16 = n & ~15;
    if (n16 < 16) return jsArgmax(x);
    const xo = 64;
    this.ensure(xo + 4 * n16);
    const { f32 } = this;
    f32.set(n16 === n ? x : x.subarray(0, n16), xo >> 2);
    this.fn.vmax(xo, n16, 0);
    let m = f32[0];
    for (let i = 0; i < 4; i++) {
      const v = f32[i];
      if (v !== v) throw nanLogit();
      if (v > m) m = v;
    }
    for (let i = n16; i < n; i++) if (x[i] !== x[i]) throw nanLogit();
    f32[0] = m;
    this.fn.findeq(xo, n16, 0);
    const at = this.i32[1];
    if (at >= 0) {
      for (let i = (at - xo) >> 2; i < n16; i++) if (x[i] === m) {
        // the first of the tail's values above m would still win (m is the max of the first n16)
        return tailBeats(x, n16, m) ?? i;
      }
    }
    return tailBeats(x, n16, m) ?? 0;
  }
}

function align64(v: number): number {
  return Math.ceil(v / 64) * 64;
}

function nanLogit(): DataError {
  return new DataError('non-finite', 'A logit is not a finite number.');
}

/** The first index at or after `from` whose value is above m (and the first of the largest of those), or null. */
function tailBeats(x: Float32Array, from: number, m: number): number | null {
  let best = -1, bv = m;
  for (let i = from; i < x.length; i++) if (x[i] > bv) { bv = x[i]; best = i; }
  return best >= 0 ? best : null;
}

function jsArgmax(x: Float32Array): number {
  let best = 0, bv = x[0];
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== v) throw nanLogit();
    if (v > bv) { bv = v; best = i; }
  }
  return best;
}

/** Whether `attend` takes heads of this size (a multiple of 4 values). */
export function attentionFits(hd: number): boolean {
  return hd >= 4 && hd % 4 === 0;
}
