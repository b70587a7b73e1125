/**
 * The Gram kernel as a small WebAssembly SIMD module (f64x2), assembled here from opcodes so the
 * repository holds no binary and needs no toolchain. Twice the throughput of the plain-JS kernel
 * in V8 (two lanes per instruction and no bounds checks); the JS kernel (gram.ts) is the fallback
 * where WebAssembly SIMD is missing.
 *
 * Layout: the centred data is packed into panels of PANEL columns (rows padded to a multiple of 4,
 * columns to a multiple of PANEL, with zeros that add nothing to any dot product). Inside a panel
 * row r starts at r * PANEL * 8 bytes, so rows i..i+3 and j..j+1 are reached with constant load
 * offsets from two moving pointers. Each 4 x 2 tile keeps 8 f64x2 accumulators in registers.
 */
export const PANEL = 256;
const ROW_BYTES = PANEL * 8;

// --- a minimal assembler -----------------------------------------------------------------------
function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const str = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f, V128 = 0x7b;
const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  get: (l: number) => [0x20, ...uleb(l)], set: (l: number) => [0x21, ...uleb(l)], tee: (l: number) => [0x22, ...uleb(l)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a], mul: [0x6c], ltU: [0x49],
  f64Load: (off: number) => [0x2b, 0x03, ...uleb(off)], f64Store: (off: number) => [0x39, 0x03, ...uleb(off)],
  f64Add: [0xa0],
  v128Load: (off: number) => [0xfd, 0x00, 0x03, ...uleb(off)],
  v128Zero: [0xfd, 0x0c, ...new Array(16).fill(0)],
  f64x2Add: [0xfd, ...uleb(240)], f64x2Mul: [0xfd, ...uleb(242)],
  lane: (l: number) => [0xfd, 0x21, l],
};

function buildModule(): Uint8Array<ArrayBuffer> {
  // params: 0 base, 1 n4, 2 panels, 3 out ; i32 locals 4.. ; v128 locals after.
  const [BASE, N4, NP, OUT] = [0, 1, 2, 3];
  const [P, I, J, PA, PB, END, PANELP, O, RS] = [4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ACC = 13; // 8 accumulators: ACC + a*2 + b
  const XA = 21; // 4
  const YB = 25; // 2
  const code: number[] = [];
  const e = (...parts: number[][]) => { for (const p of parts) code.push(...p); };
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
  const locals = [[...uleb(9), I32], [...uleb(14), V128]];
  const body = [...vec(locals), ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), 0x00]])), // type: (i32 x4) -> ()
    ...section(3, vec([[0x00]])), // function 0 has type 0
    ...section(5, vec([[0x00, 0x01]])), // memory: min 1 page
    ...section(7, vec([[...str('gram'), 0x00, 0x00], [...str('memory'), 0x02, 0x00]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ];
  return new Uint8Array(bytes);
}

export interface WasmGram {
  /** G = X X^T (n x n) of the n x d row-major matrix x. */
  gram(x: Float64Array, n: number, d: number, out?: Float64Array): Float64Array;
}

let cached: WasmGram | null | undefined;

/** The WebAssembly kernel, or null where WebAssembly SIMD is not available. */
export function wasmGram(): WasmGram | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (typeof WebAssembly === 'undefined') return null;
    const bytes = buildModule();
    if (!WebAssembly.validate(bytes)) return null;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const memory = inst.exports.memory as WebAssembly.Memory;
    const fn = inst.exports.gram as (base: number, n4: number, np: number, out: number) => void;
    cached = {
      gram(x, n, d, out = new Float64Array(n * n)) {
        if (x.length < n * d) throw new RangeError(`gram: ${x.length} values cannot hold ${n} x ${d}.`);
        const n4 = Math.ceil(n / 4) * 4;
        const np = Math.ceil(d / PANEL);
        const panelLen = n4 * PANEL;
        const panelBytes = np * panelLen * 8;
        const need = panelBytes + n4 * n4 * 8;
        const have = memory.buffer.byteLength;
        if (need > have) memory.grow(Math.ceil((need - have) / 65536));
        const panels = new Float64Array(memory.buffer, 0, np * panelLen);
        if (n4 !== n || np * PANEL !== d) panels.fill(0);
        for (let r = 0; r < n; r++) {
          const row = r * d;
          for (let p = 0; p < np; p++) {
            const c0 = p * PANEL;
            const c1 = Math.min(d, c0 + PANEL);
            panels.set(x.subarray(row + c0, row + c1), p * panelLen + r * PANEL);
          }
        }
        const g = new Float64Array(memory.buffer, panelBytes, n4 * n4);
        g.fill(0);
        fn(0, n4, np, panelBytes);
        for (let i = 0; i < n; i++) {
          for (let j = i; j < n; j++) {
            const v = g[i * n4 + j];
            out[i * n + j] = v;
            out[j * n + i] = v;
          }
        }
        return out;
      },
    };
  } catch {
    cached = null;
  }
  return cached;
}
