/**
 * The engine's per-step pass over each sampled logits row (../conversation.ts checkFinite), in
 * WebAssembly SIMD128 (built with ../../math/wasm-asm.ts, as ./ops-wasm.ts is): `argmaxFinite`
 * returns exactly what ../sampling.ts's argmaxFinite returns — the first index of the largest value
 * (`>` order: -0 and +0 tie, so the first of them wins), or -1 when any value is NaN or +-Infinity
 * (an empty range: 0). A decode step of B rows scans B x vocab values (151936 for Qwen3): ~0.18 ms a
 * row in JavaScript, the largest part of a step outside the decoder at B = 8.
 *
 *   extremes  one pass: the lanes' max (f32x4.pmax) and the OR of every v - v (0 only when all
 *             values are finite); JavaScript takes the largest lane (m) and refuses a non-finite row.
 *   first     the first 16-float block holding a value equal to m (f32x4.eq: -0 = +0, as `>` ties
 *             them), stopping there; JavaScript finds the first equal value in that block: the first
 *             index of the maximum. Values past the last multiple of 16 are done in JavaScript after
 *             the blocks (larger indices, so `>` keeps the first maximum).
 *
 * `allFinite` runs `extremes` alone (checkFinite's residual check). Node, a 151936-value row:
 * ~0.009 ms copy + ~0.009 extremes + up to ~0.007 first, against ~0.09-0.18 ms for argmaxFinite.
 *
 * The row is copied into the module's memory first (~0.01 ms a row; the scan reads it there). One
 * module, compiled once, and one instance (one WebAssembly memory) a thread, made at the first call.
 */
import { emitter, funcBody, I32, compileModule, growMemory, moduleBytes, op, V128 } from '../../math/wasm-asm';

// opcodes wasm-asm.ts does not name
const I32_SHR_U = [0x76];
/** f32x4.pmax(a, b) = a < b ? b : a (x64 maxps; f32x4.max's NaN and signed-zero rules cost several instructions). */
const F32X4_PMAX = [0xfd, 0xeb, 0x01];
const F32X4_SUB = [0xfd, 0xe5, 0x01];
/** Floats a kernel iteration takes (4 f32x4 vectors). */
const BLOCK = 16;
/** Byte offset of the row in the module's memory (the kernels' results sit below it). */
const XO = 64;

/**
 * extremes(x, n, out): n a multiple of 16 (>= 16); out: at 0 the lanes' max (f32x4.pmax, one maxps:
 * a NaN may be skipped, and of -0 and +0 either may stay: a value equal to the max), at 16 the
 * bitwise OR of every v - v (+0 for a finite v, a NaN otherwise: the lanes read 0 exactly when every
 * value is finite; an OR's one-cycle chain, not an add's four, so the pass is not latency-bound).
 */
function extremesBody(): number[] {
  const [X, N, OUT, P, END] = [0, 1, 2, 3, 4];
  const MX = 5, FIN = 9, V = 13; // 4 + 4 + 1 v128
  const { code, e } = emitter();
  e(op.get(X), op.get(N), op.i32(4), op.mul, op.add, op.set(END), op.get(X), op.set(P));
  for (let k = 0; k < 4; k++) e(op.get(X), op.v128Load(16 * k), op.set(MX + k), op.v128Zero, op.set(FIN + k));
  e(op.loop);
  for (let k = 0; k < 4; k++) {
    e(op.get(P), op.v128Load(16 * k), op.set(V));
    e(op.get(MX + k), op.get(V), F32X4_PMAX, op.set(MX + k));
    e(op.get(FIN + k), op.get(V), op.get(V), F32X4_SUB, op.v128Or, op.set(FIN + k));
  }
  e(op.get(P), op.i32(4 * BLOCK), op.add, op.tee(P), op.get(END), op.ltU, op.brIf(0));
  e(op.end);
  e(op.get(OUT), op.get(MX), op.get(MX + 1), F32X4_PMAX, op.get(MX + 2), op.get(MX + 3), F32X4_PMAX, F32X4_PMAX, op.v128Store(0));
  e(op.get(OUT), op.get(FIN), op.get(FIN + 1), op.v128Or, op.get(FIN + 2), op.get(FIN + 3), op.v128Or, op.v128Or, op.v128Store(16));
  e(op.end);
  return funcBody([[2, I32], [9, V128]], code);
}

/**
 * first(x, n, out): the index (i32 at out + 4) of the first 16-float block of x that holds a value
 * equal (f32x4.eq: -0 = +0) to the f32 at out, or -1; n a multiple of 16 (>= 16).
 */
function firstBody(): number[] {
  const [X, N, OUT, P, END] = [0, 1, 2, 3, 4];
  const M = 5;
  const { code, e } = emitter();
  e(op.get(OUT), op.v128Load32Splat(0), op.set(M), op.get(OUT), op.i32(-1), op.i32Store(4));
  e(op.get(X), op.get(N), op.i32(4), op.mul, op.add, op.set(END), op.get(X), op.set(P));
  e(op.block, op.loop);
  e(op.get(M), op.get(P), op.v128Load(0), op.f32x4Eq, op.get(M), op.get(P), op.v128Load(16), op.f32x4Eq, op.v128Or);
  e(op.get(M), op.get(P), op.v128Load(32), op.f32x4Eq, op.get(M), op.get(P), op.v128Load(48), op.f32x4Eq, op.v128Or, op.v128Or);
  e(op.v128AnyTrue, op.if);
  e(op.get(OUT), op.get(P), op.get(X), op.sub, op.i32(6), I32_SHR_U, op.i32Store(4), op.br(2));
  e(op.end);
  e(op.get(P), op.i32(4 * BLOCK), op.add, op.tee(P), op.get(END), op.ltU, op.brIf(0));
  e(op.end, op.end);
  e(op.end);
  return funcBody([[2, I32], [1, V128]], code);
}

let compiled: WebAssembly.Module | null | undefined;

function logitsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = compileModule(moduleBytes([
    { name: 'extremes', params: 3, body: extremesBody() },
    { name: 'first', params: 3, body: firstBody() },
  ]));
  return compiled;
}

/** Whether the engine runs the SIMD scan (WebAssembly with SIMD128). */
export function logitsWasmAvailable(): boolean {
  return logitsModule() !== null;
}

/** The kernels on one instance (one memory, grown as rows need, never shrunk). */
export class LogitsWasm {
  private readonly memory: WebAssembly.Memory;
  private readonly fn: Record<'extremes' | 'first', (x: number, n: number, out: number) => void>;
  private buf: ArrayBuffer | null = null;
  private f32 = new Float32Array(0);
  private i32 = new Int32Array(0);

  /** Throws where the engine has no WebAssembly SIMD (see logitsWasmAvailable). */
  constructor() {
    const mod = logitsModule();
    if (!mod) throw new Error('This WebAssembly engine has no SIMD.');
    const inst = new WebAssembly.Instance(mod, {});
    this.memory = inst.exports.memory as WebAssembly.Memory;
    this.fn = inst.exports as unknown as LogitsWasm['fn'];
  }

  private ensure(bytes: number): void {
    if (this.buf !== growMemory(this.memory, bytes)) {
      this.buf = this.memory.buffer;
      this.f32 = new Float32Array(this.buf);
      this.i32 = new Int32Array(this.buf);
    }
  }

  /** Whether every value of x[start .. end) is finite (the same pass: its v - v sum). */
  allFinite(x: Float32Array, start: number, end: number): boolean {
    const n = end - start;
    const n16 = n > 0 ? n - (n % BLOCK) : 0;
    let bad = 0;
    if (n16) {
      this.ensure(XO + 4 * n16);
      const { f32 } = this;
      f32.set(x.subarray(start, start + n16), XO >> 2);
      this.fn.extremes(XO, n16, 0);
      bad = f32[4] + f32[5] + f32[6] + f32[7];
    }
    for (let i = start + n16; i < end; i++) bad += x[i] - x[i];
    return bad === 0;
  }

  /** ../sampling.ts's argmaxFinite(x, start, end), exactly (see the file's header). */
  argmaxFinite(x: Float32Array, start: number, end: number): number {
    const n = end - start;
    if (n <= 0) return 0;
    const n16 = n - (n % BLOCK);
    if (n16 === 0) return relative(tail(x, start, end, start, x[start], x[start] - x[start]), start);
    this.ensure(XO + 4 * n16);
    const { f32, i32 } = this;
    f32.set(x.subarray(start, start + n16), XO >> 2);
    this.fn.extremes(XO, n16, 0);
    let m = f32[0], bad = 0;
    for (let l = 0; l < 4; l++) {
      bad += f32[4 + l];
      if (f32[l] > m) m = f32[l];
    }
    if (bad !== 0) return -1;
    f32[0] = m;
    this.fn.first(XO, n16, 0);
    const block = i32[1];
    let best = start;
    for (let i = block * BLOCK, o = XO >> 2; i < (block + 1) * BLOCK; i++) {
      if (f32[o + i] === m) {
        best = start + i;
        break;
      }
    }
    return relative(tail(x, start + n16, end, best, m, 0), start);
  }
}

/** The scalar pass over x[from .. end) continuing from best value `bv` at index `best` (its finite check `bad`); -1 when non-finite. */
function tail(x: Float32Array, from: number, end: number, best: number, bv: number, bad: number): number {
  for (let i = from; i < end; i++) {
    const v = x[i];
    bad += v - v;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return bad === 0 ? best : -1;
}

const relative = (i: number, start: number) => (i < 0 ? -1 : i - start);

let shared: LogitsWasm | null | undefined;

/** This thread's LogitsWasm (made at the first call), or null where the engine has no WebAssembly SIMD. */
export function sharedLogitsWasm(): LogitsWasm | null {
  if (shared === undefined) {
    shared = null;
    try {
      // (an engine that refuses the instance, or its memory, leaves the callers on the JavaScript pass)
      if (logitsWasmAvailable()) shared = new LogitsWasm();
    } catch {
      shared = null;
    }
  }
  return shared;
}
