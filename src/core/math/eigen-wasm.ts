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
import { emitter, F64, funcBody, I32, V128, moduleBytes, op } from './wasm-asm';

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
    if (!WebAssembly.validate(bytes)) return null;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
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
