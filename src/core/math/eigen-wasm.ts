/**
 * The two O(i^2) loops of each Householder step of the tridiagonal reduction (eigen.ts), as
 * WebAssembly SIMD kernels (f64x2). The reduction is 2/3 n^3 multiply-adds, the largest cost of
 * the eigensolver; the JS loops stay as the fallback.
 *
 * The matrix (stored transposed, row j = column j of V) and the d, e work vectors live in the
 * module's memory; `alloc` hands out Float64Array views on them, valid until the next `alloc`.
 *
 *   symv(i):  for j < i:  f = d[j]; V[j][i] = f; g = e[j] + V[j][j] f;
 *                         for j < k < i: g += V[k][j] d[k]; e[k] += V[k][j] f;   e[j] = g
 *   rank2(i): for j < i:  f = d[j]; g = e[j]; for j <= k < i: V[k][j] -= f e[k] + g d[k];
 *                         d[j] = V[i-1][j]; V[i][j] = 0
 */
import { emitter, F64, funcBody, I32, V128, moduleBytes, op, compileModule } from './wasm-asm';

// Parameters shared by both kernels: vt, d, e (byte offsets), n, i.
const [VT, DP, EP, N, I] = [0, 1, 2, 3, 4];

function addr(base: number, index: number): number[] {
  // base + index * 8
  return [...op.get(base), ...op.get(index), ...op.i32(3), ...op.shl, ...op.add];
}

function symvBody(): number[] {
  const [RS, J, CJ, K] = [5, 6, 7, 8]; // i32
  const [F, G] = [9, 10]; // f64
  const [F2, GACC, V2] = [11, 12, 13]; // v128
  const { code: c, e } = emitter();
  e(op.get(N), op.i32(3), op.shl, op.set(RS));
  e(op.i32(0), op.set(J));
  e(op.block, op.loop);
  {
    e(op.get(J), op.get(I), op.geS, op.brIf(1));
    e(op.get(VT), op.get(J), op.get(RS), op.mul, op.add, op.set(CJ));
    e(addr(DP, J), op.f64Load(0), op.set(F));
    // V[j][i] = f  (vt[i * n + j])
    e(op.get(VT), op.get(I), op.get(RS), op.mul, op.add, op.get(J), op.i32(3), op.shl, op.add, op.get(F), op.f64Store(0));
    // g = e[j] + V[j][j] * f
    e(addr(EP, J), op.f64Load(0), addr(CJ, J), op.f64Load(0), op.get(F), op.f64Mul, op.f64Add, op.set(G));
    e(op.get(F), op.splat, op.set(F2), op.v128Zero, op.set(GACC));
    e(op.get(J), op.i32(1), op.add, op.set(K));
    e(op.block, op.loop);
    {
      e(op.get(K), op.i32(2), op.add, op.get(I), op.gtS, op.brIf(1));
      e(addr(CJ, K), op.v128Load(0), op.set(V2));
      e(op.get(GACC), op.get(V2), addr(DP, K), op.v128Load(0), op.f64x2Mul, op.f64x2Add, op.set(GACC));
      e(addr(EP, K), addr(EP, K), op.v128Load(0), op.get(V2), op.get(F2), op.f64x2Mul, op.f64x2Add, op.v128Store(0));
      e(op.get(K), op.i32(2), op.add, op.set(K), op.br(0));
    }
    e(op.end, op.end);
    e(op.get(K), op.get(I), op.ltS, op.if);
    {
      // one column left
      e(op.get(G), addr(CJ, K), op.f64Load(0), addr(DP, K), op.f64Load(0), op.f64Mul, op.f64Add, op.set(G));
      e(addr(EP, K), addr(EP, K), op.f64Load(0), addr(CJ, K), op.f64Load(0), op.get(F), op.f64Mul, op.f64Add, op.f64Store(0));
    }
    e(op.end);
    e(addr(EP, J), op.get(G), op.get(GACC), op.lane(0), op.f64Add, op.get(GACC), op.lane(1), op.f64Add, op.f64Store(0));
    e(op.get(J), op.i32(1), op.add, op.set(J), op.br(0));
  }
  e(op.end, op.end, op.end);
  return funcBody([[4, I32], [2, F64], [3, V128]], c);
}

function rank2Body(): number[] {
  const [RS, J, CJ, K, P] = [5, 6, 7, 8, 9]; // i32
  const [F, G] = [10, 11]; // f64
  const [F2, G2] = [12, 13]; // v128
  const { code: c, e } = emitter();
  e(op.get(N), op.i32(3), op.shl, op.set(RS));
  e(op.i32(0), op.set(J));
  e(op.block, op.loop);
  {
    e(op.get(J), op.get(I), op.geS, op.brIf(1));
    e(op.get(VT), op.get(J), op.get(RS), op.mul, op.add, op.set(CJ));
    e(addr(DP, J), op.f64Load(0), op.tee(F), op.splat, op.set(F2));
    e(addr(EP, J), op.f64Load(0), op.tee(G), op.splat, op.set(G2));
    e(op.get(J), op.set(K));
    e(op.block, op.loop);
    {
      e(op.get(K), op.i32(2), op.add, op.get(I), op.gtS, op.brIf(1));
      e(addr(CJ, K), op.tee(P), op.get(P), op.v128Load(0));
      e(op.get(F2), addr(EP, K), op.v128Load(0), op.f64x2Mul, op.get(G2), addr(DP, K), op.v128Load(0), op.f64x2Mul, op.f64x2Add);
      e(op.f64x2Sub, op.v128Store(0));
      e(op.get(K), op.i32(2), op.add, op.set(K), op.br(0));
    }
    e(op.end, op.end);
    e(op.get(K), op.get(I), op.ltS, op.if);
    {
      e(addr(CJ, K), op.tee(P), op.get(P), op.f64Load(0));
      e(op.get(F), addr(EP, K), op.f64Load(0), op.f64Mul, op.get(G), addr(DP, K), op.f64Load(0), op.f64Mul, op.f64Add);
      e(op.f64Sub, op.f64Store(0));
    }
    e(op.end);
    // P = &vt[j * n + i]; d[j] = V[i-1][j] = vt[j * n + i - 1]; V[i][j] = vt[j * n + i] = 0
    e(op.get(CJ), op.get(I), op.i32(3), op.shl, op.add, op.set(P));
    e(addr(DP, J), op.get(P), op.i32(8), op.sub, op.f64Load(0), op.f64Store(0));
    e(op.get(P), op.f64Zero, op.f64Store(0));
    e(op.get(J), op.i32(1), op.add, op.set(J), op.br(0));
  }
  e(op.end, op.end, op.end);
  return funcBody([[5, I32], [2, F64], [2, V128]], c);
}

export interface HouseholderKernels {
  /** Views on module memory for an n x n reduction: vt (n*n), d (n), e (n). */
  alloc(n: number): { vt: Float64Array; d: Float64Array; e: Float64Array };
  symv(n: number, i: number): void;
  rank2(n: number, i: number): void;
}

let cached: HouseholderKernels | null | undefined;
let forceJs = false;

/** Tests: run the JS loops even where WebAssembly SIMD exists. */
export function setHouseholderWasm(on: boolean): void {
  forceJs = !on;
}

export function householderKernels(): HouseholderKernels | null {
  if (forceJs) return null;
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (typeof WebAssembly === 'undefined') return null;
    const bytes = moduleBytes([
      { name: 'symv', params: 5, body: symvBody() },
      { name: 'rank2', params: 5, body: rank2Body() },
    ]);
    const mod = compileModule(bytes);
    if (!mod) return null;
    const inst = new WebAssembly.Instance(mod, {});
    const memory = inst.exports.memory as WebAssembly.Memory;
    const symv = inst.exports.symv as (vt: number, d: number, e: number, n: number, i: number) => void;
    const rank2 = inst.exports.rank2 as (vt: number, d: number, e: number, n: number, i: number) => void;
    let dOff = 0, eOff = 0;
    cached = {
      alloc(n) {
        dOff = n * n * 8;
        eOff = dOff + n * 8;
        const need = eOff + n * 8;
        const have = memory.buffer.byteLength;
        if (need > have) memory.grow(Math.ceil((need - have) / 65536));
        const buf = memory.buffer;
        return { vt: new Float64Array(buf, 0, n * n), d: new Float64Array(buf, dOff, n), e: new Float64Array(buf, eOff, n) };
      },
      symv: (n, i) => symv(0, dOff, eOff, n, i),
      rank2: (n, i) => rank2(0, dOff, eOff, n, i),
    };
  } catch {
    cached = null;
  }
  return cached;
}

/**
 * Kernels for the Krylov eigensolver and the rank estimate (eigen.ts: lanczosTop, psdRank), f64x2.
 * Every row has a length that is a multiple of 4 (zero padding), so there are no tails.
 *
 *   gemv(A, x, y, rows, cols):    y[i] = A[i, :] . x                  (A rows x cols, row-major)
 *   axpyRows(Q, h, z, rows, cols): z -= sum_i h[i] Q[i, :]
 *   syrLower(S, c, n, stride, k):  S[i, j] -= c[i] c[j] for k < j <= i < n (in pairs of j: the
 *                                  entry just above the diagonal may change too; it is not read)
 */
function gemvBody(): number[] {
  const [A, X, Y, ROWS, COLS] = [0, 1, 2, 3, 4];
  const [I, RP, XP, END] = [5, 6, 7, 8];
  const [S0, S1] = [9, 10];
  const { code: c, e } = emitter();
  e(op.i32(0), op.set(I));
  e(op.get(A), op.set(RP));
  e(op.block, op.loop);
  {
    e(op.get(I), op.get(ROWS), op.geS, op.brIf(1));
    e(op.v128Zero, op.set(S0), op.v128Zero, op.set(S1));
    e(op.get(X), op.tee(XP), op.get(COLS), op.i32(3), op.shl, op.add, op.set(END));
    e(op.loop);
    {
      e(op.get(S0), op.get(RP), op.v128Load(0), op.get(XP), op.v128Load(0), op.f64x2Mul, op.f64x2Add, op.set(S0));
      e(op.get(S1), op.get(RP), op.v128Load(16), op.get(XP), op.v128Load(16), op.f64x2Mul, op.f64x2Add, op.set(S1));
      e(op.get(RP), op.i32(32), op.add, op.set(RP));
      e(op.get(XP), op.i32(32), op.add, op.tee(XP), op.get(END), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(addr(Y, I), op.get(S0), op.get(S1), op.f64x2Add, op.tee(S0), op.lane(0), op.get(S0), op.lane(1), op.f64Add, op.f64Store(0));
    e(op.get(I), op.i32(1), op.add, op.set(I), op.br(0));
  }
  e(op.end, op.end, op.end);
  return funcBody([[4, I32], [2, V128]], c);
}

function axpyRowsBody(): number[] {
  const [Q, H, Z, ROWS, COLS] = [0, 1, 2, 3, 4];
  const [I, RP, ZP, END] = [5, 6, 7, 8];
  const [HS] = [9];
  const { code: c, e } = emitter();
  e(op.i32(0), op.set(I));
  e(op.get(Q), op.set(RP));
  e(op.block, op.loop);
  {
    e(op.get(I), op.get(ROWS), op.geS, op.brIf(1));
    e(addr(H, I), op.f64Load(0), op.splat, op.set(HS));
    e(op.get(Z), op.tee(ZP), op.get(COLS), op.i32(3), op.shl, op.add, op.set(END));
    e(op.loop);
    {
      e(op.get(ZP), op.get(ZP), op.v128Load(0), op.get(HS), op.get(RP), op.v128Load(0), op.f64x2Mul, op.f64x2Sub, op.v128Store(0));
      e(op.get(ZP), op.get(ZP), op.v128Load(16), op.get(HS), op.get(RP), op.v128Load(16), op.f64x2Mul, op.f64x2Sub, op.v128Store(16));
      e(op.get(RP), op.i32(32), op.add, op.set(RP));
      e(op.get(ZP), op.i32(32), op.add, op.tee(ZP), op.get(END), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(I), op.i32(1), op.add, op.set(I), op.br(0));
  }
  e(op.end, op.end, op.end);
  return funcBody([[4, I32], [1, V128]], c);
}

function syrLowerBody(): number[] {
  const [S, CV, N, STRIDE, KK] = [0, 1, 2, 3, 4];
  const [I, RP, CP, END] = [5, 6, 7, 8];
  const [CS] = [9];
  const { code: c, e } = emitter();
  e(op.get(KK), op.i32(1), op.add, op.set(I));
  e(op.block, op.loop);
  {
    e(op.get(I), op.get(N), op.geS, op.brIf(1));
    e(addr(CV, I), op.f64Load(0), op.splat, op.set(CS));
    // RP = &S[i][k + 1], CP = &c[k + 1], END = &c[i + 1]
    e(op.get(S), op.get(I), op.get(STRIDE), op.mul, op.get(KK), op.add, op.i32(1), op.add, op.i32(3), op.shl, op.add, op.set(RP));
    e(op.get(CV), op.get(KK), op.i32(1), op.add, op.i32(3), op.shl, op.add, op.set(CP));
    e(op.get(CV), op.get(I), op.i32(1), op.add, op.i32(3), op.shl, op.add, op.set(END));
    e(op.loop);
    {
      e(op.get(RP), op.get(RP), op.v128Load(0), op.get(CS), op.get(CP), op.v128Load(0), op.f64x2Mul, op.f64x2Sub, op.v128Store(0));
      e(op.get(RP), op.i32(16), op.add, op.set(RP));
      e(op.get(CP), op.i32(16), op.add, op.tee(CP), op.get(END), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(I), op.i32(1), op.add, op.set(I), op.br(0));
  }
  e(op.end, op.end, op.end);
  return funcBody([[4, I32], [1, V128]], c);
}

export interface KrylovKernels {
  /**
   * Views on module memory, valid until the next `alloc`: a (rows x stride: n x n or the Lanczos
   * basis), x, y (stride each; y also holds up to `rows` coefficients), with stride = n rounded up to
   * a multiple of 4 and everything zeroed.
   */
  alloc(n: number, rows: number): { stride: number; a: Float64Array; x: Float64Array; y: Float64Array; m: Float64Array };
  /** y[0..rows) = m[0..rows) . x  (m: the n x n matrix or the basis, by rows). */
  gemvM(rows: number): void;
  /** y[0..rows) = a[0..rows) . x. */
  gemvA(rows: number): void;
  /** x -= sum_i y[i] a[i]. */
  axpyA(rows: number): void;
  /** m[i][j] -= x[i] x[j] for k < j <= i < n. */
  syrM(n: number, k: number): void;
}

let krylov: KrylovKernels | null | undefined;

/** The Krylov kernels, or null without WebAssembly SIMD (or after setHouseholderWasm(false)). */
export function krylovKernels(): KrylovKernels | null {
  if (forceJs) return null;
  if (krylov !== undefined) return krylov;
  krylov = null;
  try {
    if (typeof WebAssembly === 'undefined') return null;
    const bytes = moduleBytes([
      { name: 'gemv', params: 5, body: gemvBody() },
      { name: 'axpy', params: 5, body: axpyRowsBody() },
      { name: 'syr', params: 5, body: syrLowerBody() },
    ]);
    const mod = compileModule(bytes);
    if (!mod) return null;
    const inst = new WebAssembly.Instance(mod, {});
    const memory = inst.exports.memory as WebAssembly.Memory;
    type F5 = (a: number, b: number, c: number, d: number, e: number) => void;
    const gemv = inst.exports.gemv as F5;
    const axpy = inst.exports.axpy as F5;
    const syr = inst.exports.syr as F5;
    let stride = 0, mOff = 0, aOff = 0, xOff = 0, yOff = 0;
    krylov = {
      alloc(n, rows) {
        stride = Math.ceil(n / 4) * 4;
        mOff = 0;
        aOff = mOff + (n * stride + 4) * 8; // + a pair beyond the last row (syrLower may touch it)
        xOff = aOff + rows * stride * 8;
        yOff = xOff + stride * 8;
        const need = yOff + Math.max(stride, rows) * 8;
        const have = memory.buffer.byteLength;
        if (need > have) memory.grow(Math.ceil((need - have) / 65536));
        const buf = memory.buffer;
        new Uint8Array(buf, 0, need).fill(0);
        return {
          stride,
          m: new Float64Array(buf, mOff, n * stride),
          a: new Float64Array(buf, aOff, rows * stride),
          x: new Float64Array(buf, xOff, stride),
          y: new Float64Array(buf, yOff, Math.max(stride, rows)),
        };
      },
      gemvM: (rows) => gemv(mOff, xOff, yOff, rows, stride),
      gemvA: (rows) => gemv(aOff, xOff, yOff, rows, stride),
      axpyA: (rows) => axpy(aOff, yOff, xOff, rows, stride),
      syrM: (n, k) => syr(mOff, xOff, n, stride, k),
    };
  } catch {
    krylov = null;
  }
  return krylov;
}
