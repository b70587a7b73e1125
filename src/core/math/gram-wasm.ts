/**
 * The Gram kernel as a small WebAssembly SIMD module (f64x2), assembled from opcodes
 * (wasm-asm.ts). Twice the throughput of the plain-JS kernel
 * in V8 (two lanes per instruction and no bounds checks); the JS kernel (gram.ts) is the fallback
 * where WebAssembly SIMD is missing.
 *
 * Two functions: `gram` (G = X X^T) and `xtv` (u = X^T v, for the components).
 *
 * Layout: the centred data is packed into panels of PANEL columns (rows padded to a multiple of 4,
 * columns to a multiple of PANEL, with zeros that add nothing to any dot product). Inside a panel
 * row r starts at r * PANEL * 8 bytes, so rows i..i+3 and j..j+1 are reached with constant load
 * offsets from two moving pointers. Each 4 x 2 tile keeps 8 f64x2 accumulators in registers.
 */
export const PANEL = 256;
const ROW_BYTES = PANEL * 8;

import { emitter, funcBody, I32, V128, moduleBytes, op, compileModule } from './wasm-asm';

function gramBody(): number[] {
  // params: 0 base, 1 n4, 2 panels, 3 out ; i32 locals 4.. ; v128 locals after.
  const [BASE, N4, NP, OUT] = [0, 1, 2, 3];
  const [P, I, J, PA, PB, END, PANELP, O, RS] = [4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ACC = 13; // 8 accumulators: ACC + a*2 + b
  const XA = 21; // 4
  const YB = 25; // 2
  const { code, e } = emitter();
  // RS = n4 * 8 (row stride of out in bytes)
  e(op.get(N4), op.i32(8), op.mul, op.set(RS));
  e(op.i32(0), op.set(P));
  e(op.loop); // panels
  {
    // PANELP = base + p * n4 * ROW_BYTES
    e(op.get(BASE), op.get(P), op.get(N4), op.mul, op.i32(ROW_BYTES), op.mul, op.add, op.set(PANELP));
    e(op.i32(0), op.set(I));
    e(op.loop); // rows i (step 4)
    {
      e(op.get(I), op.set(J));
      e(op.loop); // rows j (step 2), j >= i
      {
        for (let a = 0; a < 8; a++) e(op.v128Zero, op.set(ACC + a));
        e(op.get(PANELP), op.get(I), op.i32(ROW_BYTES), op.mul, op.add, op.tee(PA), op.i32(ROW_BYTES), op.add, op.set(END));
        e(op.get(PANELP), op.get(J), op.i32(ROW_BYTES), op.mul, op.add, op.set(PB));
        e(op.loop); // k, two columns per step
        {
          for (let a = 0; a < 4; a++) e(op.get(PA), op.v128Load(a * ROW_BYTES), op.set(XA + a));
          for (let b = 0; b < 2; b++) e(op.get(PB), op.v128Load(b * ROW_BYTES), op.set(YB + b));
          for (let a = 0; a < 4; a++)
            for (let b = 0; b < 2; b++)
              e(op.get(ACC + a * 2 + b), op.get(XA + a), op.get(YB + b), op.f64x2Mul, op.f64x2Add, op.set(ACC + a * 2 + b));
          e(op.get(PB), op.i32(16), op.add, op.set(PB));
          e(op.get(PA), op.i32(16), op.add, op.tee(PA), op.get(END), op.ltU, op.brIf(0));
        }
        e(op.end);
        // out[(i + a) * n4 + j + b] += lane0 + lane1
        e(op.get(OUT), op.get(I), op.get(N4), op.mul, op.get(J), op.add, op.i32(8), op.mul, op.add, op.set(O));
        for (let a = 0; a < 4; a++) {
          for (let b = 0; b < 2; b++) {
            e(op.get(O), op.get(O), op.f64Load(b * 8));
            e(op.get(ACC + a * 2 + b), op.lane(0), op.get(ACC + a * 2 + b), op.lane(1), op.f64Add, op.f64Add, op.f64Store(b * 8));
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
  e(op.end); // function body
  return funcBody([[9, I32], [14, V128]], code);
}

function xtvBody(): number[] {
  // u[c] += sum_r v[r] * X[r][c]: four rows at a time, u read and written once per four rows.
  // params: 0 base, 1 n4, 2 panels, 3 v, 4 u ; i32 locals 5..10 ; v128 locals 11..15.
  const [BASE, N4, NP, V, U] = [0, 1, 2, 3, 4];
  const [P, R, PANELP, ROW, UP, END] = [5, 6, 7, 8, 9, 10];
  const S = 11; // 4 splatted weights
  const ACC = 15;
  const { code, e } = emitter();
  e(op.i32(0), op.set(P));
  e(op.loop); // panels
  {
    e(op.get(BASE), op.get(P), op.get(N4), op.mul, op.i32(ROW_BYTES), op.mul, op.add, op.set(PANELP));
    e(op.i32(0), op.set(R));
    e(op.loop); // rows, four at a time
    {
      for (let a = 0; a < 4; a++) e(op.get(V), op.get(R), op.i32(8), op.mul, op.add, op.f64Load(a * 8), op.splat, op.set(S + a));
      e(op.get(PANELP), op.get(R), op.i32(ROW_BYTES), op.mul, op.add, op.set(ROW));
      e(op.get(U), op.get(P), op.i32(ROW_BYTES), op.mul, op.add, op.tee(UP), op.i32(ROW_BYTES), op.add, op.set(END));
      e(op.loop); // columns, two per step
      {
        e(op.get(UP), op.v128Load(0), op.set(ACC));
        for (let a = 0; a < 4; a++) e(op.get(ACC), op.get(S + a), op.get(ROW), op.v128Load(a * ROW_BYTES), op.f64x2Mul, op.f64x2Add, op.set(ACC));
        e(op.get(UP), op.get(ACC), op.v128Store(0));
        e(op.get(ROW), op.i32(16), op.add, op.set(ROW));
        e(op.get(UP), op.i32(16), op.add, op.tee(UP), op.get(END), op.ltU, op.brIf(0));
      }
      e(op.end);
      e(op.get(R), op.i32(4), op.add, op.tee(R), op.get(N4), op.ltU, op.brIf(0));
    }
    e(op.end);
    e(op.get(P), op.i32(1), op.add, op.tee(P), op.get(NP), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[6, I32], [5, V128]], code);
}

function buildModule(): Uint8Array<ArrayBuffer> {
  return moduleBytes([
    { name: 'gram', params: 4, body: gramBody() },
    { name: 'xtv', params: 5, body: xtvBody() },
  ]);
}

/**
 * An n x d matrix laid out in panels inside the module's memory, with room for the Gram matrix
 * and for one X^T v product. Views are valid until the next `layout` call.
 */
export interface PanelLayout {
  n: number;
  d: number;
  /** Rows padded to a multiple of 4. */
  n4: number;
  /** Number of panels; columns padded to np * PANEL. */
  np: number;
  /** Float64 elements per panel (n4 * PANEL); element (r, c) is at panels[floor(c / PANEL) * panelLen + r * PANEL + c % PANEL]. */
  panelLen: number;
  /** The packed matrix (padding is zero after layout; the rest holds whatever was there before). */
  panels: Float64Array;
  /** G = X X^T: n x n row-major, filled by gram(). */
  gram(out?: Float64Array): Float64Array;
  /** u = X^T v (v of length n) into `out` (length d). */
  xtv(v: ArrayLike<number>, out?: Float64Array): Float64Array;
}

export interface WasmGram {
  /** Reserve a panel layout for an n x d matrix (padding zeroed); the caller fills every element (r < n, c < d) of `panels`. */
  layout(n: number, d: number): PanelLayout;
  /** G = X X^T (n x n) of the n x d row-major matrix x (packs x, then runs the kernel). */
  gram(x: Float64Array, n: number, d: number, out?: Float64Array): Float64Array;
}

let cached: WasmGram | null | undefined;

/** The WebAssembly kernels, or null where WebAssembly SIMD is not available. */
export function wasmGram(): WasmGram | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (typeof WebAssembly === 'undefined') return null;
    const bytes = buildModule();
    const mod = compileModule(bytes);
    if (!mod) return null;
    const inst = new WebAssembly.Instance(mod, {});
    const memory = inst.exports.memory as WebAssembly.Memory;
    const gramFn = inst.exports.gram as (base: number, n4: number, np: number, out: number) => void;
    const xtvFn = inst.exports.xtv as (base: number, n4: number, np: number, v: number, u: number) => void;
    const layout = (n: number, d: number): PanelLayout => {
      const n4 = Math.ceil(n / 4) * 4;
      const np = Math.ceil(d / PANEL);
      const dPad = np * PANEL;
      const panelLen = n4 * PANEL;
      const panelBytes = np * panelLen * 8;
      const gOff = panelBytes;
      const vOff = gOff + n4 * n4 * 8;
      const uOff = vOff + n4 * 8;
      const need = uOff + dPad * 8;
      const have = memory.buffer.byteLength;
      if (need > have) memory.grow(Math.ceil((need - have) / 65536));
      const buf = memory.buffer;
      const panels = new Float64Array(buf, 0, np * panelLen);
      // Zero only the padding (rows n..n4 of every panel, columns d..dPad of the last one); the
      // caller writes every other element.
      for (let p = 0; p < np; p++) panels.fill(0, p * panelLen + n * PANEL, (p + 1) * panelLen);
      if (dPad > d) for (let r = 0; r < n; r++) panels.fill(0, (np - 1) * panelLen + r * PANEL + (d - (np - 1) * PANEL), (np - 1) * panelLen + (r + 1) * PANEL);
      const g = new Float64Array(buf, gOff, n4 * n4);
      const v = new Float64Array(buf, vOff, n4);
      const u = new Float64Array(buf, uOff, dPad);
      return {
        n, d, n4, np, panelLen, panels,
        gram(out = new Float64Array(n * n)) {
          g.fill(0);
          gramFn(0, n4, np, gOff);
          for (let i = 0; i < n; i++) {
            for (let j = i; j < n; j++) {
              const x = g[i * n4 + j];
              out[i * n + j] = x;
              out[j * n + i] = x;
            }
          }
          return out;
        },
        xtv(vec, out = new Float64Array(d)) {
          v.fill(0);
          for (let i = 0; i < n; i++) v[i] = vec[i];
          u.fill(0);
          xtvFn(0, n4, np, vOff, uOff);
          out.set(u.subarray(0, d));
          return out;
        },
      };
    };
    cached = {
      layout,
      gram(x, n, d, out) {
        if (x.length < n * d) throw new RangeError(`gram: ${x.length} values cannot hold ${n} x ${d}.`);
        const l = layout(n, d);
        for (let r = 0; r < n; r++) {
          const row = r * d;
          for (let p = 0; p < l.np; p++) {
            const c0 = p * PANEL;
            const c1 = Math.min(d, c0 + PANEL);
            l.panels.set(x.subarray(row + c0, row + c1), p * l.panelLen + r * PANEL);
          }
        }
        return l.gram(out);
      },
    };
  } catch {
    cached = null;
  }
  return cached;
}
