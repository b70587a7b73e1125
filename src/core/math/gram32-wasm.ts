/**
 * Float32 kernels of the PCA fast path for float32 input (pca.ts), WebAssembly SIMD assembled from
 * opcodes (wasm-asm.ts). f32x4 products give twice the lanes of the float64 kernel (gram-wasm.ts).
 *
 * `raw` holds the n x d input exactly (it is float32 already), row-major with rows padded to a
 * multiple of PANEL32 columns and the row count to a multiple of 4 (padding zero), so a layer is
 * copied in with one `set`. Every kernel walks it a panel of PANEL32 columns at a time (2 KB of
 * each row; a panel of 275 rows is 563 KB, so it stays in the L2 cache between kernels), and
 * `centredGram` / `ritzInputs` run their kernels panel by panel: each panel is read from memory once.
 *
 *   colsum32: s += the column sums of one panel of raw, in float64 (four rows per step)
 *   centre32: cen = f32(raw - mean) for one panel, computed in float64 (cen holds one panel,
 *             n4 x PANEL32 row-major); ss += (raw - mean)^2 in float64
 *   gram32:   G += cen cen^T (upper triangle, 4 x 2 tiles). Each lane sums PANEL32 / 4 = 128
 *             products in float32, then the panel's sums go into G in float64.
 *   xtvK, xuK: u_t += raw^T v_t and raw u_t in float64 (exact products of the float32 inputs) for
 *             K = 1..4 vectors in one pass over raw (xtvMany, xuMany, ritzInputs; xtv is K = 1)
 *
 * The Gram matrix is only float32-accurate (~1e-7 relative); pca.ts uses it to find the subspace
 * of the top components, then recomputes everything it returns from `raw` in float64.
 */
import { emitter, funcBody, HIGH_HALF, I32, LOW_HALVES, V128, moduleBytes, op, compileModule } from './wasm-asm';

export const PANEL32 = 512;
const RB = PANEL32 * 4; // bytes of one row inside a panel

/** Push the f64x2 of lanes 0, 1 (hi = false) or 2, 3 (hi = true) of the f32x4 in local `l`. */
const widen = (l: number, hi: boolean) => (hi ? [...op.get(l), ...op.get(l), ...op.shuffle(HIGH_HALF), ...op.promoteLow] : [...op.get(l), ...op.promoteLow]);

function gram32Body(fused: boolean): number[] {
  // params: 0 base, 1 n4, 2 panels, 3 out
  const [BASE, N4, NP, OUT] = [0, 1, 2, 3];
  const [P, I, J, PA, PB, END, PANELP, O, RS] = [4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ACC = 13; // 8
  const XA = 21; // 4
  const YB = 25; // 2
  const T = 27;
  const { code, e } = emitter();
  e(op.get(N4), op.i32(8), op.mul, op.set(RS));
  e(op.i32(0), op.set(P));
  e(op.loop);
  {
    e(op.get(BASE), op.get(P), op.get(N4), op.mul, op.i32(RB), op.mul, op.add, op.set(PANELP));
    e(op.i32(0), op.set(I));
    e(op.loop);
    {
      e(op.get(I), op.set(J));
      e(op.loop);
      {
        for (let a = 0; a < 8; a++) e(op.v128Zero, op.set(ACC + a));
        e(op.get(PANELP), op.get(I), op.i32(RB), op.mul, op.add, op.tee(PA), op.i32(RB), op.add, op.set(END));
        e(op.get(PANELP), op.get(J), op.i32(RB), op.mul, op.add, op.set(PB));
        e(op.loop); // four columns per step
        {
          for (let a = 0; a < 4; a++) e(op.get(PA), op.v128Load(a * RB), op.set(XA + a));
          for (let b = 0; b < 2; b++) e(op.get(PB), op.v128Load(b * RB), op.set(YB + b));
          for (let a = 0; a < 4; a++)
            for (let b = 0; b < 2; b++)
              if (fused) e(op.get(XA + a), op.get(YB + b), op.get(ACC + a * 2 + b), op.f32x4RelaxedMadd, op.set(ACC + a * 2 + b));
              else e(op.get(ACC + a * 2 + b), op.get(XA + a), op.get(YB + b), op.f32x4Mul, op.f32x4Add, op.set(ACC + a * 2 + b));
          e(op.get(PB), op.i32(16), op.add, op.set(PB));
          e(op.get(PA), op.i32(16), op.add, op.tee(PA), op.get(END), op.ltU, op.brIf(0));
        }
        e(op.end);
        // out[(i + a) * n4 + j + b] += the four lanes, summed in float64
        e(op.get(OUT), op.get(I), op.get(N4), op.mul, op.get(J), op.add, op.i32(8), op.mul, op.add, op.set(O));
        for (let a = 0; a < 4; a++) {
          for (let b = 0; b < 2; b++) {
            const acc = ACC + a * 2 + b;
            e(widen(acc, false), widen(acc, true), op.f64x2Add, op.set(T));
            e(op.get(O), op.get(O), op.f64Load(b * 8), op.get(T), op.lane(0), op.get(T), op.lane(1), op.f64Add, op.f64Add, op.f64Store(b * 8));
          }
          if (a < 3) e(op.get(O), op.get(RS), op.add, op.set(O));
        }
        e(op.get(J), op.i32(2), op.add, op.tee(J), op.get(N4), op.ltU, op.brIf(0));
      }
      e(op.end);
      e(op.get(I), op.i32(4), op.add, op.tee(I), op.get(N4), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(P), op.i32(1), op.add, op.tee(P), op.get(NP), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[9, I32], [15, V128]], code);
}

/**
 * K vectors at once, one pass over raw (at d = 8192 raw is 9 MB: one pass instead of K), two rows
 * per step. Vectors are interleaved: v[r * K + t]; u holds column pairs, u[((c >> 1) * K + t) * 2 + (c & 1)].
 *   xtvK: u_t += raw^T v_t        xuK: out[r * K + t] += raw[r] . u_t
 */

/**
 * K vectors at once, one pass over raw (at d = 8192 raw is 9 MB: one pass instead of K), two rows
 * per step, a panel of PANEL32 columns at a time. Vectors are interleaved: v[r * K + t]; u holds
 * column pairs, u[((c >> 1) * K + t) * 2 + (c & 1)].
 *   xtvK: u_t += raw^T v_t        xuK: out[r * K + t] += raw[r] . u_t
 */
function xtvKBody(K: number): number[] {
  // params: 0 base, 1 n4, 2 panels, 3 v, 4 u, 5 row stride of raw (bytes)
  const [BASE, N4, NP, V, U, STRIDE] = [0, 1, 2, 3, 4, 5];
  const [P, R, ROW, ROW2, UP, END, UB, VR] = [6, 7, 8, 9, 10, 11, 12, 13];
  const S = 14; // 2K splatted weights: S + a * K + t
  const [X, L0, H0, L1, H1, T] = [14 + 2 * K, 15 + 2 * K, 16 + 2 * K, 17 + 2 * K, 18 + 2 * K, 19 + 2 * K];
  const PANEL_U = (PANEL32 / 2) * K * 16; // bytes of u per panel
  const { code, e } = emitter();
  e(op.i32(0), op.set(P));
  e(op.loop);
  {
    e(op.get(U), op.get(P), op.i32(PANEL_U), op.mul, op.add, op.set(UB));
    e(op.i32(0), op.set(R));
    e(op.loop);
    {
      e(op.get(V), op.get(R), op.i32(K * 8), op.mul, op.add, op.set(VR));
      for (let a = 0; a < 2; a++) for (let t = 0; t < K; t++) e(op.get(VR), op.f64Load((a * K + t) * 8), op.splat, op.set(S + a * K + t));
      e(op.get(BASE), op.get(P), op.i32(RB), op.mul, op.add, op.get(R), op.get(STRIDE), op.mul, op.add, op.tee(ROW), op.get(STRIDE), op.add, op.set(ROW2));
      e(op.get(UB), op.tee(UP), op.i32(PANEL_U), op.add, op.set(END));
      e(op.loop);
      {
        e(op.get(ROW), op.v128Load(0), op.set(X), widen(X, false), op.set(L0), widen(X, true), op.set(H0));
        e(op.get(ROW2), op.v128Load(0), op.set(X), widen(X, false), op.set(L1), widen(X, true), op.set(H1));
        for (let t = 0; t < K; t++) {
          for (const [off, A, B] of [[t * 16, L0, L1], [K * 16 + t * 16, H0, H1]]) {
            e(op.get(UP), op.v128Load(off), op.get(S + t), op.get(A), op.f64x2Mul, op.f64x2Add, op.get(S + K + t), op.get(B), op.f64x2Mul, op.f64x2Add, op.set(T));
            e(op.get(UP), op.get(T), op.v128Store(off));
          }
        }
        e(op.get(ROW), op.i32(16), op.add, op.set(ROW), op.get(ROW2), op.i32(16), op.add, op.set(ROW2));
        e(op.get(UP), op.i32(2 * K * 16), op.add, op.tee(UP), op.get(END), op.ltU, op.brIf(0));
      }
      e(op.end);
      e(op.get(R), op.i32(2), op.add, op.tee(R), op.get(N4), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(P), op.i32(1), op.add, op.tee(P), op.get(NP), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[8, I32], [2 * K + 6, V128]], code);
}

function xuKBody(K: number): number[] {
  // params: 0 base, 1 n4, 2 panels, 3 u, 4 out, 5 row stride of raw (bytes)
  const [BASE, N4, NP, U, OUT, STRIDE] = [0, 1, 2, 3, 4, 5];
  const [P, R, ROW, ROW2, UP, END, UB, O] = [6, 7, 8, 9, 10, 11, 12, 13];
  const ACC = 14; // 2K: ACC + a * K + t
  const [X, L0, H0, L1, H1, UL, UH] = [14 + 2 * K, 15 + 2 * K, 16 + 2 * K, 17 + 2 * K, 18 + 2 * K, 19 + 2 * K, 20 + 2 * K];
  const PANEL_U = (PANEL32 / 2) * K * 16;
  const { code, e } = emitter();
  e(op.i32(0), op.set(P));
  e(op.loop);
  {
    e(op.get(U), op.get(P), op.i32(PANEL_U), op.mul, op.add, op.set(UB));
    e(op.i32(0), op.set(R));
    e(op.loop);
    {
      for (let a = 0; a < 2 * K; a++) e(op.v128Zero, op.set(ACC + a));
      e(op.get(BASE), op.get(P), op.i32(RB), op.mul, op.add, op.get(R), op.get(STRIDE), op.mul, op.add, op.tee(ROW), op.get(STRIDE), op.add, op.set(ROW2));
      e(op.get(UB), op.tee(UP), op.i32(PANEL_U), op.add, op.set(END));
      e(op.loop);
      {
        e(op.get(ROW), op.v128Load(0), op.set(X), widen(X, false), op.set(L0), widen(X, true), op.set(H0));
        e(op.get(ROW2), op.v128Load(0), op.set(X), widen(X, false), op.set(L1), widen(X, true), op.set(H1));
        for (let t = 0; t < K; t++) {
          e(op.get(UP), op.v128Load(t * 16), op.set(UL), op.get(UP), op.v128Load(K * 16 + t * 16), op.set(UH));
          e(op.get(ACC + t), op.get(L0), op.get(UL), op.f64x2Mul, op.f64x2Add, op.get(H0), op.get(UH), op.f64x2Mul, op.f64x2Add, op.set(ACC + t));
          e(op.get(ACC + K + t), op.get(L1), op.get(UL), op.f64x2Mul, op.f64x2Add, op.get(H1), op.get(UH), op.f64x2Mul, op.f64x2Add, op.set(ACC + K + t));
        }
        e(op.get(ROW), op.i32(16), op.add, op.set(ROW), op.get(ROW2), op.i32(16), op.add, op.set(ROW2));
        e(op.get(UP), op.i32(2 * K * 16), op.add, op.tee(UP), op.get(END), op.ltU, op.brIf(0));
      }
      e(op.end);
      e(op.get(OUT), op.get(R), op.i32(K * 8), op.mul, op.add, op.set(O));
      for (let a = 0; a < 2 * K; a++) {
        e(op.get(O), op.get(O), op.f64Load(a * 8), op.get(ACC + a), op.lane(0), op.get(ACC + a), op.lane(1), op.f64Add, op.f64Add, op.f64Store(a * 8));
      }
      e(op.get(R), op.i32(2), op.add, op.tee(R), op.get(N4), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(P), op.i32(1), op.add, op.tee(P), op.get(NP), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[8, I32], [2 * K + 7, V128]], code);
}

/** The most vectors one pass of xtvK / xuK takes. */
const KMAX = 4;

function colSumPanelBody(): number[] {
  // out[c] += sum over rows r < n4 of raw[r][c] for the PANEL32 columns of one panel (float64),
  // four rows per step. params: 0 raw (the panel's first column), 1 n4, 2 row stride (bytes), 3 out
  const [RAW, N4, STRIDE, OUT] = [0, 1, 2, 3];
  const [R, ROW, UP, END, S2, S3] = [4, 5, 6, 7, 8, 9];
  const [X, LO, HI] = [10, 11, 12];
  const { code, e } = emitter();
  e(op.get(STRIDE), op.get(STRIDE), op.add, op.tee(S2), op.get(STRIDE), op.add, op.set(S3));
  e(op.i32(0), op.set(R));
  e(op.loop);
  {
    e(op.get(RAW), op.get(R), op.get(STRIDE), op.mul, op.add, op.set(ROW));
    e(op.get(OUT), op.tee(UP), op.i32(PANEL32 * 8), op.add, op.set(END));
    e(op.loop);
    {
      for (const [a, off] of [[0, -1], [1, STRIDE], [2, S2], [3, S3]] as const) {
        if (off < 0) e(op.get(ROW), op.v128Load(0), op.set(X));
        else e(op.get(ROW), op.get(off), op.add, op.v128Load(0), op.set(X));
        if (a === 0) e(widen(X, false), op.set(LO), widen(X, true), op.set(HI));
        else e(op.get(LO), widen(X, false), op.f64x2Add, op.set(LO), op.get(HI), widen(X, true), op.f64x2Add, op.set(HI));
      }
      e(op.get(UP), op.get(UP), op.v128Load(0), op.get(LO), op.f64x2Add, op.v128Store(0));
      e(op.get(UP), op.get(UP), op.v128Load(16), op.get(HI), op.f64x2Add, op.v128Store(16));
      e(op.get(ROW), op.i32(16), op.add, op.set(ROW));
      e(op.get(UP), op.i32(32), op.add, op.tee(UP), op.get(END), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(R), op.i32(4), op.add, op.tee(R), op.get(N4), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[6, I32], [3, V128]], code);
}

function centrePanelBody(): number[] {
  // One panel: cen[r][c] = f32(raw[r][c] - mean[c]) for rows r < n (cen: n4 x PANEL32, row-major);
  // *ss += sum (raw - mean)^2 in float64.
  // params: 0 raw (the panel's first column), 1 cen, 2 n, 3 row stride of raw (bytes), 4 mean, 5 ss
  const [RAW, CEN, N, STRIDE, MEAN, SS] = [0, 1, 2, 3, 4, 5];
  const [R, SRC, DST, MP, END] = [6, 7, 8, 9, 10];
  const [ACC, X, LO, HI] = [11, 12, 13, 14];
  const { code, e } = emitter();
  e(op.v128Zero, op.set(ACC));
  e(op.get(CEN), op.set(DST));
  e(op.i32(0), op.set(R));
  e(op.loop);
  {
    e(op.get(RAW), op.get(R), op.get(STRIDE), op.mul, op.add, op.set(SRC));
    e(op.get(MEAN), op.tee(MP), op.i32(PANEL32 * 8), op.add, op.set(END));
    e(op.loop);
    {
      e(op.get(SRC), op.v128Load(0), op.set(X));
      e(widen(X, false), op.get(MP), op.v128Load(0), op.f64x2Sub, op.set(LO));
      e(widen(X, true), op.get(MP), op.v128Load(16), op.f64x2Sub, op.set(HI));
      e(op.get(ACC), op.get(LO), op.get(LO), op.f64x2Mul, op.f64x2Add, op.get(HI), op.get(HI), op.f64x2Mul, op.f64x2Add, op.set(ACC));
      e(op.get(DST), op.get(LO), op.demoteZero, op.get(HI), op.demoteZero, op.shuffle(LOW_HALVES), op.v128Store(0));
      e(op.get(SRC), op.i32(16), op.add, op.set(SRC));
      e(op.get(DST), op.i32(16), op.add, op.set(DST));
      e(op.get(MP), op.i32(32), op.add, op.tee(MP), op.get(END), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(R), op.i32(1), op.add, op.tee(R), op.get(N), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.get(SS), op.get(SS), op.f64Load(0), op.get(ACC), op.lane(0), op.get(ACC), op.lane(1), op.f64Add, op.f64Add, op.f64Store(0));
  e(op.end);
  return funcBody([[5, I32], [4, V128]], code);
}

/** An n x d float32 matrix inside the module's memory; views valid until the next `layout`. */
export interface Panel32Layout {
  n: number;
  d: number;
  n4: number;
  np: number;
  /** Row length of `raw` (d rounded up to a multiple of PANEL32). */
  stride: number;
  /** The input, exactly: n4 x stride, row-major (padding zero). Fill it with `load`. */
  raw: Float32Array;
  /** Copy the n x d row-major input into raw (one copy when d is a multiple of PANEL32). */
  load(x: Float32Array): void;
  /**
   * The centred Gram matrix G ~ Xc Xc^T (n x n into out; float32 products, float64 sums across
   * panels), with the column means (float64) and ss = sum (raw - mean)^2 (float64). A panel at a
   * time: its column sums, its centred float32 copy, its products, while it is in cache.
   */
  centredGram(out?: Float64Array): { mean: Float64Array; ss: number; gram: Float64Array };
  /** raw^T v in float64 (v of length n) into out (length d). */
  xtv(v: ArrayLike<number>, out?: Float64Array): Float64Array;
  /** raw^T v_t for every v_t (length n) into outs[t] (length d), up to 4 vectors per pass over raw. */
  xtvMany(vs: readonly ArrayLike<number>[], outs: readonly Float64Array[]): void;
  /** raw u_t for every u_t (length d) into outs[t] (length n), up to 4 vectors per pass over raw. */
  xuMany(us: readonly ArrayLike<number>[], outs: readonly Float64Array[]): void;
  /**
   * Rayleigh-Ritz inputs for up to 4 vectors v_t (length n), Xc = raw - 1 mean^T: U_t = Xc^T v_t
   * (length d, kept in the module's memory) and W_t = Xc U_t (length n, returned), float64, two
   * passes over raw. `combine(coefs, k, out)` then writes row c of out (k x d) as
   * sum_t coefs[c * K + t] U_t; views valid until the next call on this layout.
   */
  ritzInputs(vs: readonly ArrayLike<number>[], mean: Float64Array): { W: Float64Array[]; combine(coefs: Float64Array, k: number, out: Float64Array): void };
}

export interface WasmGram32 {
  layout(n: number, d: number): Panel32Layout;
  /** Whether the Gram kernel uses relaxed SIMD's multiply-add (one instruction instead of two). */
  readonly fused: boolean;
}

const cached: { plain?: WasmGram32 | null; fused?: WasmGram32 | null } = {};
let relaxed = true;

/** Tests and benchmarks: use relaxed SIMD's multiply-add where the engine has it (default), or not. */
export function setRelaxedSimd(on: boolean): void {
  relaxed = on;
}

/** The float32 kernels, or null where WebAssembly SIMD is not available. */
export function wasmGram32(): WasmGram32 | null {
  const key = relaxed ? 'fused' : 'plain';
  let w = cached[key];
  if (w === undefined) w = cached[key] = instantiate(relaxed);
  return w;
}

function instantiate(wantFused: boolean): WasmGram32 | null {
  try {
    if (typeof WebAssembly === 'undefined') return null;
    const build = (fused: boolean) =>
      moduleBytes([
        { name: 'gram32', params: 4, body: gram32Body(fused) },
        ...Array.from({ length: KMAX }, (_, i) => ({ name: `xtv${i + 1}`, params: 6, body: xtvKBody(i + 1) })),
        ...Array.from({ length: KMAX }, (_, i) => ({ name: `xu${i + 1}`, params: 6, body: xuKBody(i + 1) })),
        { name: 'centre32', params: 6, body: centrePanelBody() },
        { name: 'colsum32', params: 4, body: colSumPanelBody() },
      ]);
    // Relaxed SIMD where the engine has it (Chrome 114+, Firefox 120+; Node 20 only behind
    // --experimental-wasm-relaxed-simd), else plain SIMD.
    let fused = wantFused;
    let mod = fused ? compileModule(build(true)) : null;
    if (!mod) {
      fused = false;
      mod = compileModule(build(false));
    }
    if (!mod) return null;
    const inst = new WebAssembly.Instance(mod, {});
    const memory = inst.exports.memory as WebAssembly.Memory;
    type F4 = (a: number, b: number, c: number, d: number) => void;
    type F6 = (a: number, b: number, c: number, d: number, e: number, f: number) => void;
    const gramFn = inst.exports.gram32 as F4;
    const colSumFn = inst.exports.colsum32 as F4;
    const xtvK = Array.from({ length: KMAX }, (_, i) => inst.exports[`xtv${i + 1}`] as F6);
    const xuK = Array.from({ length: KMAX }, (_, i) => inst.exports[`xu${i + 1}`] as F6);
    const centreFn = inst.exports.centre32 as (raw: number, cen: number, n: number, stride: number, mean: number, ss: number) => void;
    return {
      fused,
      layout(n, d) {
        const n4 = Math.ceil(n / 4) * 4;
        const np = Math.ceil(d / PANEL32);
        const dPad = np * PANEL32;
        const panelLen = n4 * PANEL32;
        const matBytes = np * panelLen * 4;
        const cenOff = matBytes; // one panel
        const gOff = cenOff + panelLen * 4;
        const uOff = gOff + n4 * n4 * 8;
        const ssOff = uOff + dPad * 8;
        const sOff = ssOff + 16;
        const mvOff = sOff + PANEL32 * 8;
        const mwOff = mvOff + n4 * KMAX * 8;
        const muOff = mwOff + n4 * KMAX * 8;
        const need = muOff + dPad * KMAX * 8;
        const have = memory.buffer.byteLength;
        if (need > have) memory.grow(Math.ceil((need - have) / 65536));
        const buf = memory.buffer;
        const raw = new Float32Array(buf, 0, n4 * dPad);
        const cen = new Float32Array(buf, cenOff, panelLen);
        // Padding: rows n..n4 of both, and the columns beyond d of raw's rows (load never writes them).
        raw.fill(0, n * dPad);
        cen.fill(0, n * PANEL32);
        if (dPad > d) for (let r = 0; r < n; r++) raw.fill(0, r * dPad + d, (r + 1) * dPad);
        const g = new Float64Array(buf, gOff, n4 * n4);
        const u = new Float64Array(buf, uOff, dPad);
        const ss = new Float64Array(buf, ssOff, 1);
        const sums = new Float64Array(buf, sOff, PANEL32);
        const mv = new Float64Array(buf, mvOff, n4 * KMAX);
        const mw = new Float64Array(buf, mwOff, n4 * KMAX);
        const mu = new Float64Array(buf, muOff, dPad * KMAX);
        const xtvMany = (vs: readonly ArrayLike<number>[], outs: readonly Float64Array[]) => {
          for (let t0 = 0; t0 < vs.length; t0 += KMAX) {
            const K = Math.min(KMAX, vs.length - t0);
            mv.fill(0, 0, n4 * K);
            for (let t = 0; t < K; t++) {
              const vec = vs[t0 + t];
              for (let i = 0; i < n; i++) mv[i * K + t] = vec[i];
            }
            mu.fill(0, 0, dPad * K);
            xtvK[K - 1](0, n4, np, mvOff, muOff, dPad * 4);
            for (let t = 0; t < K; t++) {
              const out = outs[t0 + t];
              for (let c = 0; c < d; c++) out[c] = mu[((c >> 1) * K + t) * 2 + (c & 1)];
            }
          }
        };
        const xuMany = (us: readonly ArrayLike<number>[], outs: readonly Float64Array[]) => {
          for (let t0 = 0; t0 < us.length; t0 += KMAX) {
            const K = Math.min(KMAX, us.length - t0);
            mu.fill(0, 0, dPad * K);
            for (let t = 0; t < K; t++) {
              const vec = us[t0 + t];
              for (let c = 0; c < d; c++) mu[((c >> 1) * K + t) * 2 + (c & 1)] = vec[c];
            }
            mv.fill(0, 0, n4 * K);
            xuK[K - 1](0, n4, np, muOff, mvOff, dPad * 4);
            for (let t = 0; t < K; t++) {
              const out = outs[t0 + t];
              for (let i = 0; i < n; i++) out[i] = mv[i * K + t];
            }
          }
        };
        return {
          n, d, n4, np, stride: dPad, raw,
          load(x) {
            if (x.length < n * d) throw new RangeError(`load: ${x.length} values cannot hold ${n} x ${d}.`);
            if (dPad === d) raw.set(x.subarray(0, n * d));
            else for (let r = 0; r < n; r++) raw.set(x.subarray(r * d, r * d + d), r * dPad);
          },
          centredGram(out = new Float64Array(n * n)) {
            const mean = new Float64Array(d);
            u.fill(0);
            g.fill(0);
            ss[0] = 0;
            for (let p = 0; p < np; p++) {
              const rawP = p * RB;
              sums.fill(0);
              colSumFn(rawP, n4, dPad * 4, sOff);
              const c0 = p * PANEL32;
              for (let c = 0; c < PANEL32 && c0 + c < d; c++) u[c0 + c] = mean[c0 + c] = sums[c] / n;
              centreFn(rawP, cenOff, n, dPad * 4, uOff + c0 * 8, ssOff);
              gramFn(cenOff, n4, 1, gOff);
            }
            for (let i = 0; i < n; i++) {
              for (let j = i; j < n; j++) {
                const x = g[i * n4 + j];
                out[i * n + j] = x;
                out[j * n + i] = x;
              }
            }
            return { mean, ss: ss[0], gram: out };
          },
          xtv(vec, out = new Float64Array(d)) {
            xtvMany([vec], [out]);
            return out;
          },
          xtvMany,
          ritzInputs(vs, mean) {
            const K = vs.length;
            if (K > KMAX) {
              // More than one pass's worth: U as plain rows (groups of KMAX per pass).
              const us = vs.map(() => new Float64Array(d));
              xtvMany(vs, us);
              const mU = vs.map((v, t) => {
                let sv = 0;
                for (let i = 0; i < n; i++) sv += v[i];
                let m = 0;
                for (let c = 0; c < d; c++) {
                  us[t][c] -= mean[c] * sv;
                  m += mean[c] * us[t][c];
                }
                return m;
              });
              const W = vs.map(() => new Float64Array(n));
              xuMany(us, W);
              W.forEach((w, t) => { for (let i = 0; i < n; i++) w[i] -= mU[t]; });
              return {
                W,
                combine(coefs, k, out) {
                  out.fill(0, 0, k * d);
                  for (let r = 0; r < k; r++) for (let t = 0; t < K; t++) {
                    const f = coefs[r * K + t];
                    for (let c = 0; c < d; c++) out[r * d + c] += f * us[t][c];
                  }
                },
              };
            }
            mv.fill(0, 0, n4 * K);
            const sv = new Float64Array(K);
            for (let t = 0; t < K; t++) {
              const vec = vs[t];
              for (let i = 0; i < n; i++) {
                mv[i * K + t] = vec[i];
                sv[t] += vec[i];
              }
            }
            mu.fill(0, 0, dPad * K);
            mw.fill(0, 0, n4 * K);
            const mU = new Float64Array(K);
            // A panel at a time, so the second pass reads the panel from cache: U_t = raw^T v_t -
            // mean (1^T v_t) (in mu's layout, column pairs), then W_t += raw U_t; mean . U_t.
            for (let p = 0; p < np; p++) {
              const uP = muOff + p * PANEL32 * K * 8;
              xtvK[K - 1](p * RB, n4, 1, mvOff, uP, dPad * 4);
              const c0 = p * PANEL32, c1 = Math.min(d, c0 + PANEL32);
              for (let t = 0; t < K; t++) {
                const st = sv[t];
                let acc = 0;
                // column c of U_t sits at ((c >> 1) * K + t) * 2 + (c & 1)
                for (let c = c0, b = c0 * K + 2 * t; c < c1; c += 2, b += 2 * K) {
                  const m0 = mean[c], v0 = mu[b] - m0 * st;
                  mu[b] = v0;
                  acc += m0 * v0;
                  if (c + 1 < c1) {
                    const m1 = mean[c + 1], v1 = mu[b + 1] - m1 * st;
                    mu[b + 1] = v1;
                    acc += m1 * v1;
                  }
                }
                mU[t] += acc;
              }
              xuK[K - 1](p * RB, n4, 1, uP, mwOff, dPad * 4);
            }
            const W = Array.from({ length: K }, (_, t) => {
              const w = new Float64Array(n);
              for (let i = 0; i < n; i++) w[i] = mw[i * K + t] - mU[t];
              return w;
            });
            return {
              W,
              combine(coefs, k, out) {
                out.fill(0, 0, k * d);
                const pairs = d >> 1;
                for (let r = 0; r < k; r++) {
                  const o = r * d;
                  for (let t = 0; t < K; t++) {
                    const f = coefs[r * K + t];
                    let b = 2 * t;
                    for (let q = 0; q < pairs; q++, b += 2 * K) {
                      out[o + 2 * q] += f * mu[b];
                      out[o + 2 * q + 1] += f * mu[b + 1];
                    }
                    if (d & 1) out[o + d - 1] += f * mu[b];
                  }
                }
              },
            };
          },
          xuMany,
        };
      },
    };
  } catch {
    return null;
  }
}
