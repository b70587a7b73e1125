/**
 * A minimal WebAssembly assembler: just the opcodes our SIMD kernels use, so the repository holds
 * no binary and needs no toolchain. Function bodies are arrays of bytes (locals vector first).
 */
export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
export function sleb(v: number): number[] {
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
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
export const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
export const str = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

export const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;

/** A code buffer and `e(...instructions)` that appends to it: how each kernel body is written. */
export function emitter(): { code: number[]; e: (...parts: number[][]) => void } {
  const code: number[] = [];
  return { code, e: (...parts) => { for (const p of parts) code.push(...p); } };
}

/** A function body: its locals as runs of [count, type], then the code. */
export const funcBody = (locals: [number, number][], code: number[]) => [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...code];
export const op = {
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
  splat: [0xfd, 0x14],
  v128Store: (off: number) => [0xfd, 0x0b, 0x03, ...uleb(off)],
  // used by the Householder kernels
  br: (d: number) => [0x0c, ...uleb(d)],
  if: [0x04, 0x40],
  geS: [0x4e], gtS: [0x4a], ltS: [0x48], sub: [0x6b], shl: [0x74],
  f64Sub: [0xa1], f64Mul: [0xa2], f64Zero: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  f64x2Sub: [0xfd, ...uleb(241)],
  // used by the float32 Gram kernels (gram32-wasm.ts)
  f32x4Add: [0xfd, ...uleb(228)], f32x4Mul: [0xfd, ...uleb(230)],
  /** f64x2.promote_low_f32x4: lanes 0, 1 of an f32x4 as an f64x2. */
  promoteLow: [0xfd, ...uleb(95)],
  /** f32x4.demote_f64x2_zero: an f64x2 as lanes 0, 1 of an f32x4 (lanes 2, 3 zero). */
  demoteZero: [0xfd, ...uleb(94)],
  /** i8x16.shuffle of the two v128 on the stack by 16 byte indices (0-15 first, 16-31 second). */
  shuffle: (lanes: number[]) => [0xfd, 0x0d, ...lanes],
  /** f32x4.relaxed_madd (a * b + c, fused or not): relaxed SIMD, where the engine has it. */
  f32x4RelaxedMadd: [0xfd, ...uleb(0x105)],
  // used by the int8 GEMV kernels (lm/int8-gemv-wasm.ts)
  i32Store: (off: number) => [0x36, 0x02, ...uleb(off)],
  i32x4Add: [0xfd, ...uleb(174)], i16x8Add: [0xfd, ...uleb(142)],
  i32x4ExtractLane: (l: number) => [0xfd, 0x1b, l],
  /** i16x8.extmul_low_i8x16_s / _high_: lanes 0-7 (8-15) of two i8x16 multiplied into i16x8. */
  i16x8ExtmulLowI8x16S: [0xfd, ...uleb(156)], i16x8ExtmulHighI8x16S: [0xfd, ...uleb(157)],
  /** i32x4.extadd_pairwise_i16x8_s: neighbouring i16 lanes summed into i32 lanes. */
  i32x4ExtaddPairwiseI16x8S: [0xfd, ...uleb(126)],
  i16x8ExtendLowI8x16S: [0xfd, ...uleb(135)], i16x8ExtendHighI8x16S: [0xfd, ...uleb(136)],
  /** i32x4.dot_i16x8_s: products of i16 lanes, neighbouring pairs summed into i32 lanes. */
  i32x4DotI16x8S: [0xfd, ...uleb(186)],
  /** i32x4.relaxed_dot_i8x16_i7x16_add_s (a i8x16, b 7-bit i8x16, c i32x4): relaxed SIMD. */
  i32x4RelaxedDotI8x16I7x16AddS: [0xfd, ...uleb(0x113)],
  i32Eqz: [0x45],
  /** v128.load8x8_s: 8 bytes at the address, sign-extended to i16x8 (one pmovsxbw with a memory operand on x64). */
  v128Load8x8S: (off: number) => [0xfd, 0x01, 0x03, ...uleb(off)],
  /** i32.load with a byte offset (alignment 4). */
  i32Load: (off: number) => [0x28, 0x02, ...uleb(off)],
  /** i16x8.relaxed_dot_i8x16_i7x16_s (a i8x16, b 7-bit i8x16: neighbouring products summed into i16 lanes): relaxed SIMD. */
  i16x8RelaxedDotI8x16I7x16S: [0xfd, ...uleb(0x112)],
  // used by the own decoder's float ops (lm/own/ops-wasm.ts)
  return: [0x0f],
  f32Add: [0x92],
  /** f32.store with a byte offset (alignment 4). */
  f32Store: (off: number) => [0x38, 0x02, ...uleb(off)],
  /** v128.load32_splat: the 4 bytes at the address in every 32-bit lane. */
  v128Load32Splat: (off: number) => [0xfd, 0x09, 0x02, ...uleb(off)],
  f32x4ExtractLane: (l: number) => [0xfd, 0x1f, l],
  f32x4Div: [0xfd, ...uleb(231)], f32x4Min: [0xfd, ...uleb(232)], f32x4Max: [0xfd, ...uleb(233)],
  /** f32x4.nearest: round to the nearest integer, ties to even. */
  f32x4Nearest: [0xfd, ...uleb(106)],
  /** i32x4.trunc_sat_f32x4_s: towards zero, saturating (NaN to 0). */
  i32x4TruncSatF32x4S: [0xfd, ...uleb(248)],
  /** i16x8.narrow_i32x4_s (two i32x4, signed saturation) and i8x16.narrow_i16x8_u (two i16x8, signed in, saturated to [0, 255]). */
  i16x8NarrowI32x4S: [0xfd, ...uleb(133)], i8x16NarrowI16x8U: [0xfd, ...uleb(102)],
  f32x4Eq: [0xfd, ...uleb(65)],
  v128Or: [0xfd, ...uleb(80)],
  v128AnyTrue: [0xfd, ...uleb(83)],
  /** v128.load64_splat: the 8 bytes at the address in both 64-bit lanes. */
  v128Load64Splat: (off: number) => [0xfd, 0x0a, 0x03, ...uleb(off)],
};
/** Shuffle lanes: the high 8 bytes moved low (then promoteLow reads f32 lanes 2, 3). */
export const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Shuffle lanes: the low 8 bytes of the first operand, then the low 8 of the second. */
export const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** The bytes of a module with one memory (exported as "memory") and the given functions, all exported. */
export function moduleBytes(funcs: { name: string; params: number; body: number[] }[]): Uint8Array<ArrayBuffer> {
  // One type per distinct arity: (i32 x params) -> ().
  const arities = [...new Set(funcs.map((f) => f.params))];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(arities.map((a) => [0x60, ...vec(Array.from({ length: a }, () => [I32])), 0x00]))),
    ...section(3, vec(funcs.map((f) => uleb(arities.indexOf(f.params))))),
    ...section(5, vec([[0x00, 0x01]])), // memory: min 1 page, grown by the caller
    ...section(7, vec([...funcs.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]), [...str('memory'), 0x02, 0x00]])),
    ...section(10, vec(funcs.map((f) => [...uleb(f.body.length), ...f.body]))),
  ];
  return new Uint8Array(bytes);
}

/** The compiled module of `bytes`, or null where the engine has no WebAssembly or refuses them (no SIMD, say). */
export function compileModule(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module | null {
  if (typeof WebAssembly === 'undefined') return null;
  try {
    return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    return null;
  }
}

/** Grows `memory` to hold at least `bytes` bytes (whole 64 KiB pages); its buffer after (a new one where it grew). */
export function growMemory(memory: WebAssembly.Memory, bytes: number): ArrayBuffer {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
  return memory.buffer;
}
