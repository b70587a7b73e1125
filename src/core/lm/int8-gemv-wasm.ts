/**
 * int8 x int8 GEMV / small GEMM in WebAssembly SIMD128, outside onnxruntime: y[m, n] = x[m, :] . W[n, :]
 * for a few rows m (decode: 1 row, or a batch of 3 or 8), weights int8 with one scale per output
 * column, activations quantised per row to int8. A measuring stick for the question "would our own
 * WASM decoder reach native speed?" (bench/int8-gemv.bench.ts), and the own decoder's linears (src/core/lm/own/).
 *
 * Weights are repacked at load for the kernels' access order: groups of P = `cols` (1, 2 or 4;
 * default 4) output columns, and within a group, for each 16 values along K, the group's columns'
 * 16 bytes one after another (one sequential stream; K padded to 16, N to P, with zeros; the dot
 * kernel stores a chunk's 8 even-position codes first, then the 8 odd ones). A kernel may step C < P
 * columns at a time (the P / C slices of a group one after another). Activation rows are packed the
 * same way per call; a pass takes R = 1..MAX_ROWS rows over the weights (`rowsPerPass`, or by M:
 * `passRows` with AUTO_MAX_ROWS, C from AUTO_COLS; u8dot: U8_AUTO_*). One row's codes stay in
 * registers; with several, each row's are read from L1 at each use. Four kernels:
 *
 *   extmul  per 16 values: i16x8.extmul_low/high_i8x16_s, i16x8.add of the two halves, then
 *           i32x4.extadd_pairwise_i16x8_s into the i32x4 accumulator. The i16 sum of two products
 *           cannot overflow while codes stay in [-127, 127] (2 * 127 * 127 < 2^15), which
 *           `quantizeRow` and the caller's weights must keep (-128 is refused at load).
 *   dot     activations widened to i16 once per call; weights widened per 16 values
 *           (i16x8.extend_low/high_i8x16_s), then i32x4.dot_i16x8_s (any int8 codes). One row:
 *           two dots per 16 values (x_lo . w_lo + x_hi . w_hi). Several rows (the widening shared):
 *           Winograd's inner product, with e = the even-position codes, o = the odd ones,
 *             x . w = sum_j (x_e + w_o)_j (x_o + w_e)_j - sum_j x_ej x_oj - sum_j w_ej w_oj,
 *           two i16x8.add and ONE dot per row and 16 values (the multiply-add port is the scarce
 *           one), the last two sums per row (xi, per call) and per column (eta, at load) taken off
 *           in the kernel's last step; |x + w| <= 383, so every product fits the dot's i16 lanes
 *           and i32 sums, all arithmetic wrapping mod 2^32 (exact wherever the true sum fits).
 *   relaxed relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s (4-way int8 dot product added
 *           into i32 lanes), weights as the int8 operand and activations as the
 *           7-bit one: activation codes must be in [0, 127], so rows are quantised asymmetrically
 *           (`quantizeRowU7`, zero point per row; the column sums of W correct for it). Only where
 *           the engine has relaxed SIMD (browsers since 2023; Node 20 behind
 *           --experimental-wasm-relaxed-simd): `int8GemvWasm().relaxed` says.
 *   u8dot   the same relaxed dot for `matmulInteger` only, uint8 activation codes fed raw as its
 *           "7-bit" operand and the weights as the int8 one: ONE instruction per row and 16 weight
 *           bytes. Exact only where the engine computes the dot as unsigned x signed 8-bit products
 *           summed into i32 without saturation (x64 with AVX-VNNI: vpdpbusd; Chromium 156 here),
 *           which `probeU8Dot` checks at instantiate (`int8GemvWasm().u8Exact`); Node 20's V8
 *           (pmaddubsw: saturating i16 pair sums) and ARM's sdot (signed) fail it, and there the
 *           dot kernel runs. Raw sums S[r][n] = sum_k a_rk w_nk give
 *             sum_k (a_rk - az_r)(w_nk - wz_n) = S[r][n] - az_r colsum(w)_n - wz_n (sum_k a_rk - K az_r),
 *           the last two terms taken off in the kernel's last step (colsum per column at load, the
 *           row sums per call), all int32 arithmetic wrapping mod 2^32 as the dot kernel's does, so
 *           the two kernels' results are the same bit for bit (|S| < 2^31 for K < 65,793).
 *           `setInt8KernelPreference('dot')` makes `integerKernel()` (what the own decoder loads
 *           with) name the dot kernel even where u8dot is exact, for A/B runs.
 *
 * Memories: `load` alone gives each linear an instance with a WebAssembly memory of its own, and
 * V8 reserves ~8 GiB of address space per memory (a Chromium renderer, page and workers together,
 * holds ~124; a 28-layer model's 113 linears per thread did not load on 2 threads). An arena
 * (`int8GemvWasm().arena()`, passed as `load(.., { arena })`) holds one instance per module (extmul
 * and dot; relaxed and u8dot) for all the linears loaded into it, each a fixed region (its packed
 * weights, zw, and one pass's scratch: activations, zs and int32 outputs for MAX_ROWS rows, since
 * `run` goes in passes of at most MAX_ROWS rows and copies each pass's outputs out), a new instance
 * once the memory would pass `capBytes` (1 GiB). Grows detach the memory's old buffer, so every
 * view is made from `memory.buffer` at its use. The own decoder gives each engine one arena, and
 * each pool helper one for its slices: O(1) memories a thread, freed with their owner by GC.
 *
 * onnxruntime's MatMulInteger (what DynamicQuantizeLinear + MatMulInteger files compute, and what
 * src/core/lm/own/ runs them with): `matmulInteger` takes uint8 activation codes with their zero
 * point and weights loaded with zero points (int8 codes, or uint8 ones: shifted by -128 at load,
 * zero points with them, which leaves every w - zero unchanged), on the dot kernel: uint8 codes
 * go into its int16 lanes centred, a - az in [-255, 255] (255 * 128 * 2 fits an i32 lane), and
 *   sum_k (a_k - az)(w_nk - wz_n) = sum_k (a_k - az) w_nk - wz_n sum_k (a_k - az),
 * the second term taken off per row and column in the kernel's last step.
 *
 * `matmulIntegerScaled` (what the own decoder's ColumnSlice runs) adds onnxruntime's Cast + Mul (+ Add
 * bias) in the kernel's last step (the dot and u8dot kernels packed by 4; column scales and biases
 * loaded with the weights, the rows' scales per call): float32 outputs bit for bit the JS epilogue
 * the decoder had (see Epilogue), 4 columns a step in f32x4 / f64x2 where the step is 4, which in
 * Chromium 156 on the lm_head takes ColumnSlice.run to ~0.93-0.95x (u8dot) and ~0.89-0.95x (dot)
 * of the JS epilogue's time at M = 1, 3, 8 (Node 20, dot: ~0.93x at M = 1, ~0.98x at M = 3, 8,
 * where the scalar form measured ~0.80x: V8 there spills more around the Winograd passes). Steps of
 * 1 or 2 columns (passes of 2 or more rows) take 4 rows at a time the same way (a transpose of the
 * rows' accumulators instead of the columns'): the lm_head at M = 8 (u8dot, 1 column a step) went
 * from 14.4 to 13.0 ms in Chromium (matmulInteger alone: 12.8; BENCH_SCALED=1 in
 * bench/int8-kernel-browser.bench.ts).
 *
 * Sums are exact int32 (K * 128 * 128 < 2^31 for K < 131,072; K * 255 * 128 < 2^31 for uint8 activations, K < 65,793). bench/int8-gemv.bench.ts measures them
 * against onnxruntime-web and -node; at one row they stream weights at ~18-20 GB/s on one thread,
 * which on this Zen 4 core is already the dot kernel's compute speed (not memory's): one row costs
 * ~7 SIMD operations per 16 weight bytes, each further row at least 4 (Winograd: 2 i16x8.add, one
 * dot, one i32x4.add) however passes and columns are blocked, so batching saves little: M = 3 runs
 * ~1.5-2.8x and M = 8 ~4-7x the time of M = 1 (`--section rows`; a busy 2-core machine), against
 * ~1.8-3.1x and ~5.6-8.5x at one pass per row. Relaxed SIMD does not help uint8 activations in
 * Node 20: its V8 lowers i32x4.relaxed_dot_i8x16_i7x16_add_s to pmaddubsw + pmaddwd + paddd,
 * exact only for a 7-bit operand, so codes split as lo7 + 128 * hi1 would take two per row (6
 * operations), more than the dot kernel's 4. Chromium 156 on this AVX-VNNI core lowers it to one
 * vpdpbusd, exact for uint8 (the u8dot kernel): there, on the lm_head (1024 -> 151936, 156 MB),
 * M = 1 streams ~35 GB/s (dot ~30) and M = 3 / 8 cost ~1.3x / ~2.8x of M = 1 (dot: ~2.1x / ~5.5x);
 * a 6 MB linear (L3-resident when hot) runs at ~73 GB/s (dot ~37) (bench/int8-kernel-browser.bench.ts).
 */
import { DataError } from '../errors';
import { emitter, funcBody, I32, V128, moduleBytes, op, uleb } from '../math/wasm-asm';
import { runSteps } from '../steps';

export const MAX_ROWS = 8;
/** Output columns per step of the kernels (the weights' packing follows it). */
export const COL_CHOICES = [1, 2, 4] as const;
export type Int8Kernel = 'extmul' | 'dot' | 'relaxed' | 'u8dot';
/** The packing whose dot and u8dot kernels have the float epilogue (`matmulIntegerScaled`). */
const FLOAT_P = 4;
type Cols = (typeof COL_CHOICES)[number];

/**
 * Columns per step that the dot kernel takes by default for a pass of R rows (weights packed by 4),
 * as measured (x64, Node 20's V8, CPU time, weights streamed from memory): C = 2 keeps a pass's
 * R * 2 accumulators, 4 widened weight vectors and 2 activation vectors within x64's 16 xmm
 * registers up to R = 4 (beyond, they spill; C = 4 spills from R = 2).
 */
export const AUTO_COLS: readonly Cols[] = [4, 4, 2, 2, 2, 2, 2, 2, 2];
/**
 * Rows per pass when `rowsPerPass` is omitted: on the lm_head at M = 8, passes of 3 + 3 + 2 rows
 * measured 36 ms, 4 + 2 + 2 38, 8 rows at once 39, 4 + 4 (4 columns a step) 50, one row a pass 48.
 */
export const AUTO_MAX_ROWS = 3;
/**
 * The u8dot kernel's step by rows of a pass (weights packed by 4): a pass keeps R * C accumulators,
 * C weight vectors and one activation vector in registers (R = 3 at C = 4 spills: 17 of x64's 16
 * xmm). Measured in Chromium 156 (bench/int8-kernel-browser.bench.ts, lm_head 1024 -> 151936, one
 * pass of R rows, ms): R = 1 C = 4 4.4, C = 2 4.8, C = 1 5.6; R = 2 C = 4 5.0; R = 3 C = 2 5.6,
 * C = 4 8.7; R = 4 C = 2 5.9, C = 1 8.2; R = 5 C = 2 7.0; R = 6 C = 2 8.2; R = 8 C = 1 12.3, C = 2 17.8.
 */
export const U8_AUTO_COLS: readonly Cols[] = [4, 4, 4, 2, 2, 2, 2, 1, 1];
/**
 * Rows per pass for the u8dot kernel: one pass up to 8 rows. Past ~4 rows a pass is bound by the
 * dots (~7 a ns here, one per row and 16 weight bytes), not by the weights' stream, so splitting
 * gains nothing and streams the weights again (which threads of a pool share). Measured on the
 * lm_head in Chromium (ms, 5 rounds, best): M = 5 one pass 9.2, 4 + 1 10.7; M = 6 one pass 8.3,
 * 4 + 2 11.1; M = 7 one pass (C = 1) 11.2, 4 + 3 12.2; M = 8 one pass 12.5, 4 + 4 12.9; M = 9
 * 6 + 3 14.0, 5 + 4 16.0, 4 + 4 + 1 17.2 (a busy 2-core machine: +-15% between runs).
 */
export const U8_AUTO_MAX_ROWS = 8;
/**
 * The u8dot kernel places the branch-never-taken register barrier every second row (see gemvBody):
 * measured faster at R = 2..4 (6 MB linear, R = 4 C = 2: 0.21 ms against 0.41 without).
 */
const U8_BARRIER = true;
/**
 * Whether the u8dot kernel has a form for R rows and C columns a step taking two chunks (16 values
 * along K) a loop pass into two sets of accumulators: 2 R C accumulators, C weight vectors and one
 * activation vector within x64's 16 xmm registers.
 */
const k2Fits = (R: number, C: number) => 2 * R * C + C + 1 <= 16;
/**
 * Whether a module holds that form for R rows, step C, packing P: the u8dot kernel packed by 4, at
 * the steps such a load reaches (the pass's automatic one, or 4 with cols: 4), where it fits.
 */
const hasK2 = (kernel: Int8Kernel, R: number, C: number, P: number) => kernel === 'u8dot' && P === FLOAT_P && k2Fits(R, C) && (C === U8_AUTO_COLS[R] || C === P);
/**
 * Rows of a pass whose u8dot kernel takes the two-set form by default (`Int8LoadOptions.k2`
 * omitted; index R). A relaxed dot's result feeds the next one on the same accumulator, so with
 * fewer accumulators than the dot's latency times its throughput (R * C < 8 here) a pass waits on
 * them; two sets double the dots in flight. Measured in Chromium 156 (bench/int8-kernel-browser.bench.ts,
 * BENCH_KERNELS=u8dot-k1,u8dot-k2 BENCH_SCALED=1, medians of 9 interleaved rounds, ms, one set / two):
 * 1024 x 6144 (hot) M = 1 0.111 / 0.084, M = 3 0.251 / 0.191; 3072 x 1024 M = 1 0.059 / 0.043,
 * M = 3 0.133 / 0.104; the lm_head M = 1 5.20 / 5.09, M = 3 8.85 / 6.77. At M = 7 (one column a
 * step, 14 accumulators) two sets were slower (0.64 / 0.86 on 1024 x 6144): off there.
 */
export const U8_K2_ROWS: readonly boolean[] = [false, true, false, true, false, false, false, false, false];

/** Scalar float instructions the float epilogue needs, beyond ../math/wasm-asm's. */
const fop = {
  /** f32.load with a byte offset (alignment 4). */
  f32Load: (off: number) => [0x2a, 0x02, ...uleb(off)],
  f32Mul: [0x94],
  /** f32.convert_i32_s: an int32 to the nearest float32, ties to even (Math.fround of it). */
  f32ConvertI32S: [0xb2],
  f64PromoteF32: [0xbb],
  /** f32.demote_f64: to the nearest float32, ties to even (Math.fround). */
  f32DemoteF64: [0xb6],
  select: [0x1b],
  i32And: [0x71],
  i32x4Sub: [0xfd, ...uleb(177)],
  i32x4Mul: [0xfd, ...uleb(181)],
  /** f32x4.convert_i32x4_s: each lane to the nearest float32, ties to even. */
  f32x4ConvertI32x4S: [0xfd, ...uleb(250)],
  /** i8x16.shuffle by 32-bit lanes (0-3 the first operand's, 4-7 the second's). */
  shuffle32: (lanes: number[]) => op.shuffle(lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])),
};
const F32 = 0x7d;

/**
 * A kernel's last step: 'i32' stores the exact int32 sums; 'f32' the float outputs of
 * `matmulIntegerScaled`: per output (r, n), with sum its int32 sum,
 *   s = f32.demote_f64(f64.mul(xs[r], f64.promote_f32(ws[n])))     (xs[r] a float64)
 *   y = f32.mul(f32.convert_i32_s(sum), s), or with a bias f32.add(y, b[n])
 * (a select on the linear's flag: adding b = 0 would turn -0 into +0, which the JS did not).
 * That is
 * bit for bit the JS epilogue y = fround(fround(fround(sum) * fround(xs * ws[n])) + b[n]):
 * xs * ws[n] is the same float64 product in both and demote rounds it as fround does (to nearest,
 * ties to even); an int32 is exact in a float64, so fround(sum) is one rounding, as convert's;
 * the float64 product of two float32s is exact (24 + 24 <= 53 bits), so fround of it is the one
 * rounding IEEE's single-precision multiply does; and the float64 sum of two float32s, rounded
 * again to float32, is the correctly rounded single sum, since double rounding is innocuous for
 * + - * / when the wider format has p' >= 2p + 2 bits (53 >= 50; Figueroa, "When is double
 * rounding innocuous?", 1995). WebAssembly's scalar float ops are IEEE's (no flush to zero).
 */
type Epilogue = 'i32' | 'f32';

/**
 * One kernel: R activation rows, C output columns per step, weights packed in groups of P >= C
 * columns (C < P: the P / C column slices of a group one after another, each reading every
 * (P / C)-th 16 bytes of the group's stream).
 */
function gemvBody(R: number, C: number, P: number, kernel: Int8Kernel, epi: Epilogue = 'i32', k2 = false): number[] {
  // params: 0 w (packed), 1 x (packed rows), 2 out (int32, row stride n4), 3 k16 (K padded), 4 n4 (N padded),
  // 5 zw (int32 pairs per column: zero point, eta), 6 zs (int32 per row: S at 0, xi at 32; 64: scratch;
  // float epilogue: the row's scale xs, float64, at 128):
  // out[r][n] = sum - zw[n] * S[r] - eta[n] - xi[r]; float epilogue (see Epilogue): 7 fs (float32
  // pairs per column: scale ws, bias b), 8 hasBias (0 or 1), out float32
  const fl = epi !== 'i32';
  const [W, X, OUT, K16, N4, ZW, ZS, FS, HB] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const L = fl ? 9 : 7; // the first local
  const [WP, XP, XEND, N, O, RS, ZP, GB, FP] = [L, L + 1, L + 2, L + 3, L + 4, L + 5, L + 6, L + 7, L + 8];
  const ACC = L + (fl ? 9 : 8); // R * C: ACC + r * C + c
  const XV = ACC + R * C; // one row's codes (dot: lo, hi), or the activation half of the multi-row dot
  const WV = XV + 2; // dot, several rows: the C widened weight halves WV .. WV + C - 1
  const nV = R * C + 2 + Math.max(3, 2 * C);
  const [TU, TV, TZ, TW] = [ACC + nV, ACC + nV + 1, ACC + nV + 2, ACC + nV + 3]; // float epilogue, 4 columns a step: v128 temporaries
  const u8 = kernel === 'u8dot';
  // u8dot, two chunks a loop pass (see U8_K2_ROWS): a second set of R * C accumulators after the temporaries
  const two = u8 && k2;
  const ACC2 = ACC + nV + (fl ? 4 : 0);
  const nV2 = two ? R * C : 0;
  const YF = ACC2 + nV2; // float epilogue: one output (an f32 local after the v128s)
  const xb = kernel === 'dot' ? 32 : 16; // bytes of one row's 16 values in the packed activations
  const wino = kernel === 'dot' && R > 1;
  const { code, e } = emitter();
  /**
   * u8dot, one chunk (16 values along K) of the R rows and C columns into the accumulators from
   * `acc0` (then WP and XP advanced, unless the loop does it): the C weight vectors (the relaxed
   * dot's signed operand) in locals, then per row its 16 raw uint8 codes (the unsigned operand;
   * through a local, see 'relaxed' below) into C dots.
   */
  const u8Chunk = (acc0: number, advance = true) => {
    for (let c = 0; c < C; c++) e(op.get(WP), op.v128Load(c * 16), op.set(WV + c));
    for (let r = 0; r < R; r++) {
      e(op.get(XP), op.v128Load(r * 16), op.set(XV));
      for (let c = 0; c < C; c++) {
        const acc = acc0 + r * C + c;
        e(op.get(WV + c), op.get(XV), op.get(acc), op.i32x4RelaxedDotI8x16I7x16AddS, op.set(acc));
      }
      if (U8_BARRIER) barrier(r, acc0);
    }
    if (!advance) return;
    e(op.get(WP), op.i32(16 * P), op.add, op.set(WP));
    e(op.get(XP), op.i32(16 * R), op.add, op.set(XP));
  };
  const barrier = (r: number, acc0 = ACC) => {
    if (r % 2 === 0 || r === R - 1) return;
    // a branch never taken (zs is never 0) whose arm stores the rows' accumulators: without it
    // TurboFan hoists every row's activation loads to the top of the loop body, and the loaded
    // values push the accumulators out of the 16 xmm registers (spilled to the stack)
    e(op.get(ZS), op.i32Eqz, op.if);
    for (let q = r - 1; q <= r; q++) for (let c = 0; c < C; c++) e(op.get(ZS), op.get(acc0 + q * C + c), op.v128Store(64));
    e(op.end);
  };
  e(op.get(N4), op.i32(4), op.mul, op.set(RS));
  e(op.get(W), op.set(GB));
  e(op.i32(0), op.set(N));
  e(op.loop);
  for (let s = 0; s < P / C; s++) {
    e(op.get(GB), op.i32(s * C * 16), op.add, op.set(WP));
    for (let a = 0; a < R * C; a++) e(op.v128Zero, op.set(ACC + a));
    if (two) {
      // pairs of chunks into the two accumulator sets (XEND first at the last whole pair), then a
      // last odd chunk into the first set, then the sets summed (int32 sums mod 2^32: any order)
      for (let a = 0; a < R * C; a++) e(op.v128Zero, op.set(ACC2 + a));
      e(op.get(X), op.tee(XP), op.get(K16), op.i32(~31), fop.i32And, op.i32(R), op.mul, op.add, op.set(XEND));
      e(op.block, op.get(XP), op.get(XEND), op.ltU, op.i32Eqz, op.brIf(0), op.loop);
      u8Chunk(ACC);
      u8Chunk(ACC2);
      e(op.get(XP), op.get(XEND), op.ltU, op.brIf(0), op.end, op.end);
      e(op.get(X), op.get(K16), op.i32(R), op.mul, op.add, op.set(XEND));
      e(op.block, op.get(XP), op.get(XEND), op.ltU, op.i32Eqz, op.brIf(0));
      u8Chunk(ACC);
      e(op.end);
      for (let a = 0; a < R * C; a++) e(op.get(ACC + a), op.get(ACC2 + a), op.i32x4Add, op.set(ACC + a));
    } else {
    e(op.get(X), op.tee(XP), op.get(K16), op.i32((xb / 16) * R), op.mul, op.add, op.set(XEND));
    e(op.loop);
    {
      // one row: its 16 codes stay in locals; more rows: read at each use (L1 hits), so that the
      // accumulators keep the registers
      const xIn = R === 1;
      if (xIn && !u8) {
        if (kernel === 'dot') e(op.get(XP), op.v128Load(0), op.set(XV), op.get(XP), op.v128Load(16), op.set(XV + 1));
        else e(op.get(XP), op.v128Load(0), op.set(XV));
      }
      const x8 = (r: number) => (xIn ? op.get(XV) : [...op.get(XP), ...op.v128Load(r * 16)]);
      if (u8) u8Chunk(ACC, false);
      else if (wino) {
        // Winograd's inner product: per 16 values, the 8 even-position codes and the 8 odd-position
        // ones (the packing puts them in the low and high 8 bytes); x . w = sum_j (x_2j + w_2j+1)
        // (x_2j+1 + w_2j) - sum_j x_2j x_2j+1 - sum_j w_2j w_2j+1, the last two per row and per
        // column (the epilogue's xi and eta): one i32x4.dot_i16x8_s per row and 16 weight bytes
        // instead of two (two i16x8.add for it), the widening shared by the R rows
        for (let c = 0; c < C; c++) {
          e(op.get(WP), op.v128Load8x8S(c * 16), op.set(WV + 2 * c));
          e(op.get(WP), op.v128Load8x8S(c * 16 + 8), op.set(WV + 2 * c + 1));
        }
        for (let r = 0; r < R; r++) {
          e(op.get(XP), op.v128Load(r * 32), op.set(XV), op.get(XP), op.v128Load(r * 32 + 16), op.set(XV + 1));
          for (let c = 0; c < C; c++) {
            const acc = ACC + r * C + c;
            e(op.get(acc), op.get(XV), op.get(WV + 2 * c + 1), op.i16x8Add, op.get(XV + 1), op.get(WV + 2 * c), op.i16x8Add, op.i32x4DotI16x8S, op.i32x4Add, op.set(acc));
          }
          barrier(r);
        }
      } else {
        for (let c = 0; c < C; c++) {
          const wv = WV;
          if (kernel !== 'dot') e(op.get(WP), op.v128Load(c * 16), op.set(wv));
          if (kernel === 'relaxed') {
            for (let r = 0; r < R; r++) {
              const acc = ACC + r * C + c;
              // the activation goes through a local first: with it read straight from memory into the
              // relaxed dot, Node 20's V8 returned doubled sums for some lanes
              if (!xIn) e(x8(r), op.set(XV));
              e(op.get(wv), op.get(XV), op.get(acc), op.i32x4RelaxedDotI8x16I7x16AddS, op.set(acc));
            }
          } else if (kernel === 'dot') {
            const acc = ACC + c;
            // the two halves widened as they are loaded (v128.load8x8_s: one pmovsxbw from memory
            // each, where extend_high takes two operations on a register)
            e(op.get(acc), op.get(XV), op.get(WP), op.v128Load8x8S(c * 16), op.i32x4DotI16x8S, op.get(XV + 1), op.get(WP), op.v128Load8x8S(c * 16 + 8), op.i32x4DotI16x8S, op.i32x4Add, op.i32x4Add, op.set(acc));
          } else {
            for (let r = 0; r < R; r++) {
              const acc = ACC + r * C + c;
              e(op.get(acc), x8(r), op.get(wv), op.i16x8ExtmulLowI8x16S, x8(r), op.get(wv), op.i16x8ExtmulHighI8x16S, op.i16x8Add);
              e(op.i32x4ExtaddPairwiseI16x8S, op.i32x4Add, op.set(acc));
            }
          }
        }
      }
      e(op.get(WP), op.i32(16 * P), op.add, op.set(WP));
      e(op.get(XP), op.i32(xb * R), op.add, op.tee(XP), op.get(XEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    }
    // out[r * n4 + n + c] = the four lanes of acc[r][c], summed, less zw[n + c] * zs[r]
    e(op.get(N), op.i32(s * C), op.add, op.i32(4), op.mul, op.tee(O), op.get(O), op.add, op.get(ZW), op.add, op.set(ZP));
    if (fl) e(op.get(O), op.get(O), op.add, op.get(FS), op.add, op.set(FP));
    e(op.get(O), op.get(OUT), op.add, op.set(O));
    if (fl && C < 4 && R >= 2) {
      // the float epilogue of a step of 1 or 2 columns, 4 rows at once: per column, four rows'
      // accumulators summed by a transpose (lane i = row r0 + i; a block of 2 or 3 rows pads with
      // zeros, its extra lanes computed from the zs area's next rows, < MAX_ROWS, and not stored),
      // the corrections with the rows' zero points as vectors, then convert, scale and bias as the
      // 4-column epilogue does, stored lane by lane (rows are a stride apart); a last single row
      // as the scalar epilogue below
      const rowAt = (r: number) => [...op.get(O), ...op.get(RS), ...op.i32(r), ...op.mul, ...op.add];
      for (let r0 = 0; r0 < R; r0 += 4) {
        const k = Math.min(4, R - r0);
        for (let c = 0; c < C; c++) {
          if (k === 1) {
            const acc = ACC + r0 * C + c;
            e(rowAt(r0), op.get(acc), op.i32x4ExtractLane(0), op.get(acc), op.i32x4ExtractLane(1), op.add, op.get(acc), op.i32x4ExtractLane(2), op.get(acc), op.i32x4ExtractLane(3), op.add, op.add);
            e(op.get(ZP), op.i32Load(c * 8), op.get(ZS), op.i32Load(r0 * 4), op.mul, op.sub);
            if (wino) e(op.get(ZP), op.i32Load(c * 8 + 4), op.sub, op.get(ZS), op.i32Load(32 + r0 * 4), op.sub);
            if (u8) e(op.get(ZP), op.i32Load(c * 8 + 4), op.get(ZS), op.i32Load(32 + r0 * 4), op.mul, op.sub);
            e(fop.f32ConvertI32S, op.get(FP), fop.f32Load(c * 8), fop.f64PromoteF32, op.get(ZS), op.f64Load(128 + r0 * 8), op.f64Mul, fop.f32DemoteF64, fop.f32Mul, op.tee(YF));
            e(op.get(FP), fop.f32Load(c * 8 + 4), op.f32Add, op.get(YF), op.get(HB), fop.select, op.f32Store(c * 4));
            continue;
          }
          const a = (i: number) => (i < k ? op.get(ACC + (r0 + i) * C + c) : op.v128Zero);
          e(a(0), a(1), fop.shuffle32([0, 4, 1, 5]), a(0), a(1), fop.shuffle32([2, 6, 3, 7]), op.i32x4Add, op.set(TU));
          e(a(2), a(3), fop.shuffle32([0, 4, 1, 5]), a(2), a(3), fop.shuffle32([2, 6, 3, 7]), op.i32x4Add, op.set(TV));
          e(op.get(TU), op.get(TV), fop.shuffle32([0, 1, 4, 5]), op.get(TU), op.get(TV), fop.shuffle32([2, 3, 6, 7]), op.i32x4Add);
          // less zw's zero of the column times each row's zero point (and the eta / weight-sum terms)
          e(op.get(ZP), op.v128Load32Splat(c * 8), op.get(ZS), op.v128Load(r0 * 4), fop.i32x4Mul, fop.i32x4Sub);
          if (wino) e(op.get(ZP), op.v128Load32Splat(c * 8 + 4), fop.i32x4Sub, op.get(ZS), op.v128Load(32 + r0 * 4), fop.i32x4Sub);
          if (u8) e(op.get(ZP), op.v128Load32Splat(c * 8 + 4), op.get(ZS), op.v128Load(32 + r0 * 4), fop.i32x4Mul, fop.i32x4Sub);
          e(fop.f32x4ConvertI32x4S, op.set(TZ));
          // s = demote(xs[r] * promote(ws)) for the 4 rows (two f64x2 halves), y = float(sum) * s
          e(op.get(FP), op.v128Load32Splat(c * 8), op.promoteLow, op.set(TW));
          e(op.get(ZS), op.v128Load(128 + r0 * 8), op.get(TW), op.f64x2Mul, op.demoteZero);
          e(op.get(ZS), op.v128Load(128 + r0 * 8 + 16), op.get(TW), op.f64x2Mul, op.demoteZero);
          e(fop.shuffle32([0, 1, 4, 5]), op.get(TZ), op.f32x4Mul, op.tee(TZ));
          e(op.get(FP), op.v128Load32Splat(c * 8 + 4), op.f32x4Add, op.get(TZ), op.get(HB), fop.select, op.set(TZ));
          for (let i = 0; i < k; i++) e(rowAt(r0 + i), op.get(TZ), op.f32x4ExtractLane(i), op.f32Store(c * 4));
        }
      }
      continue;
    }
    for (let r = 0; r < R; r++) {
      if (fl && C === 4) {
        // the float epilogue 4 columns at once (the scalar one below, lane by lane; int32 sums mod
        // 2^32 in any order, f32x4 / f64x2 arithmetic IEEE's as the scalar ops are): the four
        // accumulators' lanes summed by a transpose, less the corrections, then convert, scale, bias
        const a0 = ACC + r * C;
        e(op.get(O));
        e(op.get(a0), op.get(a0 + 1), fop.shuffle32([0, 4, 1, 5]), op.get(a0), op.get(a0 + 1), fop.shuffle32([2, 6, 3, 7]), op.i32x4Add, op.set(TU));
        e(op.get(a0 + 2), op.get(a0 + 3), fop.shuffle32([0, 4, 1, 5]), op.get(a0 + 2), op.get(a0 + 3), fop.shuffle32([2, 6, 3, 7]), op.i32x4Add, op.set(TV));
        e(op.get(TU), op.get(TV), fop.shuffle32([0, 1, 4, 5]), op.get(TU), op.get(TV), fop.shuffle32([2, 3, 6, 7]), op.i32x4Add);
        // zw: [zero, eta] pairs of the 4 columns
        const zwv = (odd: number) => [...op.get(ZP), ...op.v128Load(0), ...op.get(ZP), ...op.v128Load(16), ...fop.shuffle32(odd ? [1, 3, 5, 7] : [0, 2, 4, 6])];
        e(zwv(0), op.get(ZS), op.v128Load32Splat(r * 4), fop.i32x4Mul, fop.i32x4Sub);
        if (wino) e(zwv(1), fop.i32x4Sub, op.get(ZS), op.v128Load32Splat(32 + r * 4), fop.i32x4Sub);
        if (u8) e(zwv(1), op.get(ZS), op.v128Load32Splat(32 + r * 4), fop.i32x4Mul, fop.i32x4Sub);
        e(fop.f32x4ConvertI32x4S, op.set(TZ));
        // fs: [ws, b] pairs; s = demote(xs * promote(ws)) by halves
        const fsv = (odd: number) => [...op.get(FP), ...op.v128Load(0), ...op.get(FP), ...op.v128Load(16), ...fop.shuffle32(odd ? [1, 3, 5, 7] : [0, 2, 4, 6])];
        e(fsv(0), op.set(TW));
        e(op.get(TW), op.promoteLow, op.get(ZS), op.v128Load64Splat(128 + r * 8), op.f64x2Mul, op.demoteZero);
        e(op.get(TW), op.get(TW), fop.shuffle32([2, 3, 0, 1]), op.promoteLow, op.get(ZS), op.v128Load64Splat(128 + r * 8), op.f64x2Mul, op.demoteZero);
        e(fop.shuffle32([0, 1, 4, 5]), op.get(TZ), op.f32x4Mul, op.tee(TZ));
        e(fsv(1), op.f32x4Add, op.get(TZ), op.get(HB), fop.select, op.v128Store(0));
        if (r < R - 1) e(op.get(O), op.get(RS), op.add, op.set(O));
        continue;
      }
      for (let c = 0; c < C; c++) {
        const acc = ACC + r * C + c;
        e(op.get(O), op.get(acc), op.i32x4ExtractLane(0), op.get(acc), op.i32x4ExtractLane(1), op.add, op.get(acc), op.i32x4ExtractLane(2), op.get(acc), op.i32x4ExtractLane(3), op.add, op.add);
        e(op.get(ZP), op.i32Load(c * 8), op.get(ZS), op.i32Load(r * 4), op.mul, op.sub);
        if (wino) e(op.get(ZP), op.i32Load(c * 8 + 4), op.sub, op.get(ZS), op.i32Load(32 + r * 4), op.sub);
        // u8dot: less the column's weight sum times the row's activation zero point
        if (u8) e(op.get(ZP), op.i32Load(c * 8 + 4), op.get(ZS), op.i32Load(32 + r * 4), op.mul, op.sub);
        if (!fl) e(op.i32Store(c * 4));
        else {
          // y, then (y + b) or y by the bias flag (no branch)
          e(fop.f32ConvertI32S, op.get(FP), fop.f32Load(c * 8), fop.f64PromoteF32, op.get(ZS), op.f64Load(128 + r * 8), op.f64Mul, fop.f32DemoteF64, fop.f32Mul, op.tee(YF));
          e(op.get(FP), fop.f32Load(c * 8 + 4), op.f32Add, op.get(YF), op.get(HB), fop.select, op.f32Store(c * 4));
        }
      }
      if (r < R - 1) e(op.get(O), op.get(RS), op.add, op.set(O));
    }
  }
  e(op.get(GB), op.get(K16), op.i32(P), op.mul, op.add, op.set(GB));
  e(op.get(N), op.i32(P), op.add, op.tee(N), op.get(N4), op.ltU, op.brIf(0));
  e(op.end);
  e(op.end);
  return funcBody(fl ? [[9, I32], [nV + 4 + nV2, V128], [1, F32]] : [[8, I32], [nV + nV2, V128]], code);
}

/**
 * The kernels a module holds: every kernel, packing P, step C <= P (the dot and u8dot kernels; the
 * others C = P), rows 1..MAX_ROWS; the dot and u8dot kernels packed by 4 (what the own decoder
 * loads) also with the float epilogue (`${name}f`: see Epilogue; not for every packing, which
 * would triple the module and its compile time).
 */
function kernelSet(kernel: Int8Kernel) {
  const out: { name: string; params: number; body: number[] }[] = [];
  const integer = kernel === 'dot' || kernel === 'u8dot';
  for (const P of COL_CHOICES) for (const C of COL_CHOICES) {
    if (C > P || (!integer && C !== P)) continue;
    for (let R = 1; R <= MAX_ROWS; R++) {
      out.push({ name: `${kernel}${R}x${C}p${P}`, params: 7, body: gemvBody(R, C, P, kernel) });
      if (integer && P === FLOAT_P) out.push({ name: `${kernel}${R}x${C}p${P}f`, params: 9, body: gemvBody(R, C, P, kernel, 'f32') });
      if (hasK2(kernel, R, C, P)) {
        out.push({ name: `${kernel}${R}x${C}p${P}k2`, params: 7, body: gemvBody(R, C, P, kernel, 'i32', true) });
        out.push({ name: `${kernel}${R}x${C}p${P}fk2`, params: 9, body: gemvBody(R, C, P, kernel, 'f32', true) });
      }
    }
  }
  return out;
}

/** What a kernel preference picks for `matmulInteger`: 'auto' = u8dot where the probe found it exact, else dot. */
export type Int8KernelPreference = 'auto' | 'dot';
let preference: Int8KernelPreference = 'auto';

/**
 * Which kernel `integerKernel()` names from now on in this thread (module state: every thread,
 * worker or page, holds its own). The own decoder's ColumnSlice reads it when it is constructed and
 * hands its choice to the pool's helpers with the slice's weights (SliceWeights.kernel), so an A/B
 * run sets it once, in the thread that loads the model, before loading. Results are the same bit
 * for bit either way (exact int32 sums); only speed differs.
 */
export function setInt8KernelPreference(p: Int8KernelPreference): void {
  if (p !== 'auto' && p !== 'dot') throw new DataError('gemv-kernel', `The int8 kernel preference is ${String(p)}; it must be 'auto' or 'dot'.`);
  preference = p;
}

export function int8KernelPreference(): Int8KernelPreference {
  return preference;
}

/** The kernel for `matmulInteger` by this thread's preference: 'u8dot' where it is exact here and preferred, else 'dot'. */
export function integerKernel(): 'u8dot' | 'dot' {
  return preference === 'auto' && int8GemvWasm()?.u8Exact ? 'u8dot' : 'dot';
}

/** Weights of one linear, resident in a WebAssembly memory: their own, or a region of an arena's (`Int8LoadOptions.arena`). */
export interface Int8Linear {
  readonly N: number;
  readonly K: number;
  readonly kernel: Int8Kernel;
  /** Bytes of packed weights one call reads (N and K padded). */
  readonly weightBytes: number;
  /** Exact int32 sums: out[m * N + n] = sum_k xq[m * K + k] * w[n * K + k], for M rows of int8 codes ([0, 127] for 'relaxed'; not on 'u8dot'). */
  matmulInt32(xq: Int8Array, M: number, out?: Int32Array): Int32Array;
  /** y = x . W^T in float: each row of x quantised to int8 (`quantizeRow`), sums times row scale times column scale. */
  matmul(x: Float32Array, M: number, out?: Float32Array): Float32Array;
  /**
   * onnxruntime's MatMulInteger, exactly: out[m * N + n] = sum_k (a[m * K + k] - aZero) * (w[n * K + k] - wZero[n]),
   * for M rows of uint8 codes with one zero point (DynamicQuantizeLinear's per-tensor one) or one per
   * row (`aZero[m]`: rows quantised on their own, as the own decoder's batch rows are); the weights'
   * zero points are the load option `zeroPoint`. The dot and u8dot kernels only (u8dot: nothing else).
   */
  matmulInteger(a: Uint8Array, aZero: number | ArrayLike<number>, M: number, out?: Int32Array): Int32Array;
  /**
   * `matmulInteger` with onnxruntime's Cast + Mul (+ Add) fused into the kernel's last step, in
   * float32 as the own decoder's JS did it: out[m * outStride + n] = fround(fround(fround(sum[m][n])
   * * fround(xs_m * scale[n])) + bias[n]), sum[m][n] matmulInteger's, xs_m = xScale (one for all
   * rows) or xScale[m], scale the load's per-column scales and bias the load option `bias` (no
   * addition without one), bit for bit (see Epilogue). The dot and u8dot kernels only.
   */
  matmulIntegerScaled(a: Uint8Array, aZero: number | ArrayLike<number>, xScale: number | ArrayLike<number>, M: number, out?: Float32Array, outStride?: number): Float32Array;
}

/**
 * Symmetric per-row quantisation to [-127, 127]: codes and the scale (max |x| / 127; 1 for a zero
 * row). Non-finite values are refused.
 */
export function quantizeRow(x: Float32Array, codes: Int8Array): number {
  let mx = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (!(a <= 3.4e38)) throw new DataError('non-finite', 'An activation to quantise is not a finite number.');
    if (a > mx) mx = a;
  }
  const scale = mx > 0 ? mx / 127 : 1;
  const inv = 1 / scale;
  for (let i = 0; i < x.length; i++) codes[i] = Math.round(x[i] * inv);
  return scale;
}

/**
 * Asymmetric per-row quantisation to [0, 127] (the relaxed kernel's 7-bit operand): x ~ (code - zero) * scale,
 * over [min(x, 0), max(x, 0)]. Non-finite values are refused.
 */
export function quantizeRowU7(x: Float32Array, codes: Int8Array): { scale: number; zero: number } {
  let mn = 0, mx = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!(Math.abs(v) <= 3.4e38)) throw new DataError('non-finite', 'An activation to quantise is not a finite number.');
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const scale = mx > mn ? (mx - mn) / 127 : 1;
  const zero = Math.min(127, Math.max(0, Math.round(-mn / scale)));
  const inv = 1 / scale;
  for (let i = 0; i < x.length; i++) {
    const q = Math.round(x[i] * inv) + zero;
    codes[i] = q < 0 ? 0 : q > 127 ? 127 : q;
  }
  return { scale, zero };
}

export interface Int8LoadOptions {
  kernel?: Int8Kernel;
  /**
   * Output columns per kernel step (1, 2 or 4), which the weights' packing follows. Omitted: weights
   * packed by 4 and, for the dot kernel, the step picked per pass by its rows (`AUTO_COLS`).
   */
  cols?: Cols;
  /**
   * Activation rows per pass over the weights (1-8). Omitted: picked per call by M, passes of up
   * to AUTO_MAX_ROWS rows, as even as they go (M = 8: 3 + 3 + 2; M = 4: 2 + 2).
   */
  rowsPerPass?: number;
  /**
   * The weights' zero point, one for all or one per output column (`matmulInteger`; default 0), as
   * stored with the codes: in [-128, 127] for int8 codes, [0, 255] for uint8 ones.
   */
  zeroPoint?: number | ArrayLike<number>;
  /**
   * Tests only: the u8dot kernel even where the probe did not find it exact (its results are then
   * the engine's lowering's, e.g. exact on pmaddubsw only while i16 pair sums fit: |w| <= 64).
   */
  unprobed?: boolean;
  /** One float per output column that `matmulIntegerScaled` adds (none: no addition). */
  bias?: ArrayLike<number>;
  /**
   * u8dot only: take two chunks along K a loop pass into two accumulator sets (true: wherever the
   * registers allow it; false: never); omitted, by the pass's rows (U8_K2_ROWS). Same sums either way.
   */
  k2?: boolean;
  /**
   * Place the linear in this arena's shared instance and memory (`Int8Gemv.arena()`) instead of an
   * instance and memory of its own (each WebAssembly memory reserves ~8 GiB of address space; a
   * process holds ~124 of them).
   */
  arena?: Int8Arena;
}

/**
 * Most weight codes (bytes) one step of `loadSteps` repacks: 16 MiB, a whole number of columns a
 * step (at least one). Node 20 repacks ~110 MB/s on one thread (the Qwen3-0.6B lm_head's 155 MB in
 * ~1.1-1.4 s), so a step is ~0.15 s: a cancel or a progress message waits no longer than that,
 * while a 0.6B layer's linears (at most 6.3 MB, gate/up fused) stay one step each and the lm_head
 * takes 10 (a turn of the event loop between steps costs well under a millisecond).
 */
export const LOAD_STEP_BYTES = 16 * 2 ** 20;

/** How far a stepwise load got: the weights' columns repacked, of all. */
export interface Int8LoadProgress {
  columnsDone: number;
  columns: number;
}

export interface Int8LoadStepsOptions extends Int8LoadOptions {
  /** Most codes (bytes) a step repacks (default LOAD_STEP_BYTES; whole columns, at least one a step). */
  stepBytes?: number;
}

/** Default `Int8ArenaOptions.capBytes`: 1 GiB per instance. */
export const ARENA_CAP_BYTES = 1 << 30;

export interface Int8ArenaOptions {
  /**
   * Most bytes one instance's memory holds: a linear that would take it past this starts a new
   * instance of its module (a linear bigger than the cap gets one of its own). Default ARENA_CAP_BYTES.
   */
  capBytes?: number;
}

/**
 * One WebAssembly instance and memory per module (extmul / dot; relaxed / u8dot), shared by every
 * linear loaded into it (`load(.., { arena })`): each linear's weights, zero points and per-pass
 * scratch are a fixed region of it, allocated once at load (a new instance of the module when the
 * memory would pass the cap). Owned by whoever made it (an engine, a pool's helper): once it and
 * its linears are unreachable, GC frees the memories. Not shared across threads.
 */
export interface Int8Arena {
  /** Instances (so WebAssembly memories) this arena has made, of both modules. */
  readonly instances: number;
  /** Bytes allocated to linears, over all its instances. */
  readonly bytes: number;
  /** Linears loaded into it. */
  readonly linears: number;
}

/** Rows per pass for M rows, none more than `most`, as even as they go (M = 9, most 8: 5 + 4). */
export function passRows(M: number, most = MAX_ROWS): number[] {
  const passes = Math.ceil(M / most);
  return Array.from({ length: passes }, (_, i) => Math.floor(M / passes) + (i < M % passes ? 1 : 0));
}

export interface Int8Gemv {
  /**
   * Weights W [N, K] as int8 codes (row n = output column n, as an HF Linear or a tied embedding
   * stores them), with one float scale per output column (or one for all). Codes must be in
   * [-127, 127] for the extmul kernel.
   */
  load(w: Int8Array | Uint8Array, N: number, K: number, scales: Float32Array | number, options?: Int8LoadOptions): Int8Linear;
  /**
   * `load` in steps (../steps.ts): the checks and the region's allocation come with the first step,
   * then the columns are repacked `stepBytes` of codes at a time, a yield (the columns done) between
   * two chunks (none after the last: a linear of one chunk is one step). The same linear, bytes and
   * numbers bit for bit, as `load` (which runs these steps at once).
   */
  loadSteps(w: Int8Array | Uint8Array, N: number, K: number, scales: Float32Array | number, options?: Int8LoadStepsOptions): Generator<Int8LoadProgress, Int8Linear, void>;
  /** A new arena for loads of this thread (see Int8Arena): O(1) WebAssembly memories for many linears. */
  arena(options?: Int8ArenaOptions): Int8Arena;
  /** Whether the engine runs relaxed SIMD (the 'relaxed' kernel). */
  readonly relaxed: boolean;
  /**
   * Whether the u8dot kernel is exact here: relaxed SIMD's i8x16 x "i7"x16 dot computed as signed
   * times unsigned 8-bit, summed into i32 without saturation (x64 with AVX-VNNI: vpdpbusd), as
   * `probeU8Dot` found at instantiate. Only then does `load` take kernel 'u8dot'.
   */
  readonly u8Exact: boolean;
}

/** A matmulInteger to probe: weights [N, K] with zero points, M rows of uint8 codes [M, K] with one zero point per row. */
export type MatmulIntegerFn = (w: Int8Array | Uint8Array, wZero: number | Int32Array, N: number, K: number, a: Uint8Array, aZero: Int32Array, M: number) => Int32Array;

/** A small deterministic generator for the probe's vectors (xorshift32). */
function probeRandom(seed: number) {
  let x = seed | 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/**
 * Whether `mm` computes MatMulInteger exactly on vectors that expose each non-exact lowering of
 * relaxed SIMD's dot: activation codes 255 against weights 127 and -128 in every lane (i16 pair
 * sums of u8 x s8 products saturate: pmaddubsw), codes 128..255 (read as signed: ARM's sdot, or a
 * 7-bit-only lowering), K = 1029 of extremes (sums up to 255 * 128 * 1029 > 2^25: far beyond i16, and beyond float32 integers), random
 * codes with random zero points (int8 and uint8 weights, N and K not multiples of 16), and each
 * rows-per-pass 1..MAX_ROWS (so every kernel function the automatic passes use), against a plain
 * JS reference. The u8dot kernel is used only where this holds.
 */
export function probeU8Dot(mm: MatmulIntegerFn): boolean {
  const rnd = probeRandom(0x9e3779b9);
  const ref = (w: ArrayLike<number>, wz: number | Int32Array, N: number, K: number, a: Uint8Array, az: Int32Array, M: number) => {
    const out = new Int32Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      const z = typeof wz === 'number' ? wz : wz[n];
      let t = 0;
      for (let k = 0; k < K; k++) t += (a[m * K + k] - az[m]) * (w[n * K + k] - z);
      out[m * N + n] = t;
    }
    return out;
  };
  const same = (w: Int8Array | Uint8Array, wz: number | Int32Array, N: number, K: number, a: Uint8Array, az: Int32Array, M: number) => {
    let got: Int32Array;
    try {
      got = mm(w, wz, N, K, a, az, M);
    } catch {
      return false;
    }
    const want = ref(w, wz, N, K, a, az, M);
    if (got.length < want.length) return false;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return false;
    return true;
  };
  // extremes, K = 1029: columns all 127, all -128, alternating, 127 / -128 in pairs; rows all 255,
  // codes 128..255, all 0, and 255 / 0 alternating; zero points 0 (the raw sums show) and 255
  {
    const N = 5, K = 1029;
    const w = new Int8Array(N * K);
    for (let k = 0; k < K; k++) {
      w[k] = 127;
      w[K + k] = -128;
      w[2 * K + k] = k % 2 ? 127 : -128;
      w[3 * K + k] = k & 2 ? 127 : -128;
      w[4 * K + k] = rnd(256) - 128;
    }
    const rows = [() => 255, () => 128 + rnd(128), () => 0, (k: number) => (k % 2 ? 0 : 255)];
    for (let M = 1; M <= MAX_ROWS; M++) {
      const a = new Uint8Array(M * K), az = new Int32Array(M);
      for (let m = 0; m < M; m++) {
        for (let k = 0; k < K; k++) a[m * K + k] = rows[m % rows.length](k);
        az[m] = m % 3 === 2 ? 255 : 0;
      }
      if (!same(w, 0, N, K, a, az, M)) return false;
    }
  }
  // random codes and zero points, uint8 and int8 weights
  for (const [N, K, M, u8w] of [[37, 1000, 9, false], [13, 77, 3, true], [6, 1, 2, false]] as const) {
    const w = u8w ? Uint8Array.from({ length: N * K }, () => rnd(256)) : Int8Array.from({ length: N * K }, () => rnd(256) - 128);
    const wz = Int32Array.from({ length: N }, () => (u8w ? rnd(256) : rnd(256) - 128));
    const a = Uint8Array.from({ length: M * K }, () => rnd(256));
    const az = Int32Array.from({ length: M }, () => rnd(256));
    if (!same(w, wz, N, K, a, az, M)) return false;
  }
  return true;
}

let cached: Int8Gemv | null | undefined;

/** The int8 kernels, or null where WebAssembly SIMD is not available. */
export function int8GemvWasm(): Int8Gemv | null {
  if (cached === undefined) cached = instantiate();
  return cached;
}

function instantiate(): Int8Gemv | null {
  if (typeof WebAssembly === 'undefined') return null;
  const build = (kernels: Int8Kernel[]) => moduleBytes(kernels.flatMap(kernelSet));
  const valid = (b: Uint8Array<ArrayBuffer>) => {
    try {
      return WebAssembly.validate(b);
    } catch {
      return false;
    }
  };
  const base = build(['extmul', 'dot']);
  if (!valid(base)) return null;
  const mod = new WebAssembly.Module(base);
  const relaxedBytes = build(['relaxed', 'u8dot']);
  const relaxedMod = valid(relaxedBytes) ? new WebAssembly.Module(relaxedBytes) : null;
  type F7 = (w: number, x: number, out: number, k16: number, n4: number, zw: number, zs: number) => void;
  type F9 = (w: number, x: number, out: number, k16: number, n4: number, zw: number, zs: number, fs: number, hasBias: number) => void;
  let u8Exact = false;
  /** A region of `bytes` at `base` (a multiple of 64) in `inst`'s memory, which holds it from now on. */
  type Region = { inst: WebAssembly.Instance; memory: WebAssembly.Memory; base: number };
  const PAGE = 65536;
  const grown = (memory: WebAssembly.Memory, end: number) => {
    const have = memory.buffer.byteLength;
    if (end > have) memory.grow(Math.ceil((end - have) / PAGE));
  };
  const fresh = (m: WebAssembly.Module) => {
    const inst = new WebAssembly.Instance(m, {});
    return { inst, memory: inst.exports.memory as WebAssembly.Memory, used: 0 };
  };
  const arenas = new WeakMap<Int8Arena, (relaxed: boolean, bytes: number) => Region>();
  const arena = ({ capBytes = ARENA_CAP_BYTES }: Int8ArenaOptions = {}): Int8Arena => {
    if (!(capBytes > 0)) throw new DataError('gemv-arena', `An arena's cap is ${capBytes} bytes; it must be positive.`);
    const current: { base?: ReturnType<typeof fresh>; relaxed?: ReturnType<typeof fresh> } = {};
    const stats = { instances: 0, bytes: 0, linears: 0 };
    const alloc = (relaxed: boolean, bytes: number): Region => {
      const key = relaxed ? 'relaxed' : 'base';
      let c = current[key];
      if (!c || (c.used > 0 && c.used + bytes > capBytes)) {
        c = current[key] = fresh(relaxed ? relaxedMod! : mod);
        stats.instances++;
      }
      const base = c.used;
      grown(c.memory, base + bytes);
      c.used = Math.ceil((base + bytes) / 64) * 64;
      stats.bytes += bytes;
      stats.linears++;
      return { inst: c.inst, memory: c.memory, base };
    };
    const a: Int8Arena = {
      get instances() { return stats.instances; },
      get bytes() { return stats.bytes; },
      get linears() { return stats.linears; },
    };
    arenas.set(a, alloc);
    return a;
  };
  function* loadSteps(wIn: Int8Array | Uint8Array, N: number, K: number, scales: Float32Array | number, { kernel = 'dot', cols, rowsPerPass, zeroPoint = 0, unprobed = false, arena: into, bias, k2, stepBytes = LOAD_STEP_BYTES }: Int8LoadStepsOptions = {}): Generator<Int8LoadProgress, Int8Linear, void> {
    if ((kernel === 'relaxed' || kernel === 'u8dot') && !relaxedMod) throw new DataError('no-relaxed-simd', `This WebAssembly engine has no relaxed SIMD, which the ${kernel} kernel needs.`);
    if (kernel === 'u8dot' && !u8Exact && !unprobed) throw new DataError('no-u8-dot', "This WebAssembly engine's relaxed dot product is not exact for uint8 activations (no AVX-VNNI, or it saturates); use the dot kernel.");
    if ((cols !== undefined && !COL_CHOICES.includes(cols)) || (rowsPerPass !== undefined && !(rowsPerPass >= 1 && rowsPerPass <= MAX_ROWS && Number.isInteger(rowsPerPass)))) {
      throw new DataError('gemv-shape', `cols must be 1, 2 or 4 and rowsPerPass 1 to ${MAX_ROWS}.`);
    }
    if (!(N > 0 && K > 0 && Number.isInteger(N) && Number.isInteger(K)) || wIn.length !== N * K) {
      throw new DataError('gemv-shape', `The weights hold ${wIn.length} codes; expected N x K = ${N} x ${K}.`);
    }
    if (!(stepBytes > 0)) throw new DataError('gemv-shape', `A load step's bytes are ${stepBytes}; they must be positive.`);
    // uint8 codes (and their zero points) shifted by -128: w - zero is unchanged (a chunk of columns at a time, below)
    const u8 = wIn instanceof Uint8Array;
    const [zlo, zhi] = u8 ? [0, 255] : [-128, 127];
    if (typeof zeroPoint !== 'number' && zeroPoint.length !== N) throw new DataError('gemv-shape', `There are ${zeroPoint.length} weight zero points; expected 1 or ${N}.`);
    const wZero = Int32Array.from({ length: N }, (_, n) => {
      const z = typeof zeroPoint === 'number' ? zeroPoint : zeroPoint[n];
      if (!(Number.isInteger(z) && z >= zlo && z <= zhi)) throw new DataError('gemv-range', `A weight zero point is ${z}; ${u8 ? 'uint8' : 'int8'} codes need one in [${zlo}, ${zhi}].`);
      return u8 ? z - 128 : z;
    });
    if (K >= 131_072) throw new DataError('gemv-shape', `K = ${K} is too long for exact int32 sums (under 131,072).`);
    if (typeof scales !== 'number' && scales.length !== N) throw new DataError('gemv-shape', `There are ${scales.length} column scales; expected ${N}.`);
    if (bias && bias.length !== N) throw new DataError('gemv-shape', `There are ${bias.length} biases; expected ${N}.`);
    // (shifted uint8 code -128: a code 0)
    if (kernel === 'extmul') for (let i = 0; i < wIn.length; i++) if (wIn[i] === (u8 ? 0 : -128)) throw new DataError('gemv-range', 'The extmul kernel needs weight codes in [-127, 127]; one is -128.');
    const ud = kernel === 'u8dot';
    const alloc = into ? arenas.get(into) : undefined;
    if (into && !alloc) throw new DataError('gemv-arena', "The arena was not made by this thread's int8GemvWasm().arena().");
    const P: Cols = cols ?? 4;
    /** The step for a pass of R rows: the given cols, else (dot) AUTO_COLS, else the packing. */
    const stepFor = (R: number): Cols => (cols ?? (kernel === 'dot' ? AUTO_COLS[R] : ud ? U8_AUTO_COLS[R] : P));
    const k16 = Math.ceil(K / 16) * 16;
    const n4 = Math.ceil(N / P) * P;
    const xb = kernel === 'dot' ? 2 : 1;
    const wBytes = n4 * k16;
    const align = (v: number) => Math.ceil(v / 64) * 64;
    // the linear's region, fixed at load: packed weights, activations for a pass (<= MAX_ROWS rows),
    // zw, fs (dot, u8dot: float32 scale and bias per column, for the float epilogues), zs, and a
    // pass's outputs, int32 or float32 (MAX_ROWS rows: run copies each pass's out before the next)
    const integer = kernel === 'dot' || ud;
    const xRel = align(wBytes);
    const zwRel = xRel + align(MAX_ROWS * k16 * xb);
    const fsRel = zwRel + align(n4 * 8);
    const zsRel = fsRel + (integer ? align(n4 * 8) : 0);
    const outRel = zsRel + 192;
    const regionBytes = outRel + MAX_ROWS * n4 * 4;
    let region: Region;
    if (alloc) region = alloc(kernel === 'relaxed' || ud, regionBytes);
    else {
      const own = fresh(kernel === 'relaxed' || ud ? relaxedMod! : mod);
      grown(own.memory, regionBytes);
      region = { inst: own.inst, memory: own.memory, base: 0 };
    }
    const { inst, memory, base } = region;
    // u8dot's two-accumulator-set form where it exists and is wanted (k2, else U8_K2_ROWS)
    const two = (R: number) => (hasK2(kernel, R, stepFor(R), P) && (k2 ?? U8_K2_ROWS[R]) ? 'k2' : '');
    const fns = Array.from({ length: MAX_ROWS + 1 }, (_, R) => (R ? (inst.exports[`${kernel}${R}x${stepFor(R)}p${P}${two(R)}`] as F7) : null));
    const ffns = Array.from({ length: MAX_ROWS + 1 }, (_, R) => (R && integer && P === FLOAT_P ? (inst.exports[`${kernel}${R}x${stepFor(R)}p${P}f${two(R)}`] as F9) : null));
    const [wOff, xOff, zwOff, fsOff, zsOff, outOff] = [base, base + xRel, base + zwRel, base + fsRel, base + zsRel, base + outRel];
    // repack: group g, chunk j, column c -> ((g * (k16 / 16) + j) * P + c) * 16; the dot kernel
    // (Winograd's product) puts a chunk's even-position codes in its low 8 bytes, the odd ones high
    const dot = kernel === 'dot';
    const lane = Int32Array.from({ length: 16 }, (_, t) => (dot ? (t >> 1) + (t & 1) * 8 : t));
    const chunks = k16 / 16;
    const colScale = typeof scales === 'number' ? new Float32Array(N).fill(scales) : Float32Array.from(scales);
    // relaxed: sum (q - zero) w = sum q w - zero * sum w
    const colSum = new Int32Array(kernel === 'relaxed' ? N : 0);
    // columns a step, and (uint8 codes) a step's shifted codes
    const stepCols = Math.max(1, Math.floor(stepBytes / K));
    const shifted = u8 ? new Int8Array(Math.min(N, stepCols) * K) : null;
    for (let n0 = 0; n0 < N; n0 += stepCols) {
      const n1 = Math.min(N, n0 + stepCols);
      if (n0 > 0) yield { columnsDone: n0, columns: N };
      // views from memory.buffer made now, after the region's grow (a grow detaches the old
      // buffer: between two steps another load may have grown this memory); run makes its views
      // per pass (another linear's load may have grown the memory since)
      const packed = new Int8Array(memory.buffer, wOff, wBytes);
      // per column: its zero point, and (dot) eta = sum_j w_2j w_2j+1, or (u8dot) its sum of codes
      const zw = new Int32Array(memory.buffer, zwOff, 2 * n4);
      // w: the chunk's codes, column n0 at 0
      let w: Int8Array;
      if (shifted) {
        w = shifted;
        for (let i = 0, i0 = n0 * K, len = (n1 - n0) * K; i < len; i++) w[i] = wIn[i0 + i] - 128;
      } else w = (wIn as Int8Array).subarray(n0 * K, n1 * K);
      for (let n = n0; n < n1; n++) {
        const g = Math.floor(n / P), c = n % P;
        const src = (n - n0) * K;
        for (let j = 0; j < chunks; j++) {
          const dst = ((g * chunks + j) * P + c) * 16;
          const len = Math.min(16, K - j * 16);
          for (let t = 0; t < len; t++) packed[dst + lane[t]] = w[src + j * 16 + t];
        }
        let eta = 0;
        if (dot) for (let k = 0; k + 1 < K; k += 2) eta += w[src + k] * w[src + k + 1];
        if (ud) for (let k = 0; k < K; k++) eta += w[src + k];
        zw[2 * n] = wZero[n];
        zw[2 * n + 1] = eta;
        if (kernel === 'relaxed') {
          let t = 0;
          for (let k = 0; k < K; k++) t += w[src + k];
          colSum[n] = t;
        }
      }
      if (integer) {
        const fs = new Float32Array(memory.buffer, fsOff, 2 * n4);
        for (let n = n0; n < n1; n++) {
          fs[2 * n] = colScale[n];
          fs[2 * n + 1] = bias ? bias[n] : 0;
        }
      }
    }
    const qrow = new Int8Array(K);
    /**
     * Exact sums for M rows: out[m * N + n] = sum_k (xq[m * K + k] - xZero) * w[n * K + k], less
     * (matmulInteger, xZero given) the weights' zero point times the row's sum of (xq - xZero).
     */
    /** `scaled`: the float epilogue (matmulIntegerScaled) with the rows' scales, out float32 with rows `stride` apart. */
    const run = <T extends Int32Array | Float32Array>(xq: Int8Array | Uint8Array, M: number, out: T, xZero: number | ArrayLike<number> | null, scaled: { xScale: number | ArrayLike<number>; stride: number } | null = null): T => {
      let m0 = 0;
      const passes = rowsPerPass ? Array.from({ length: Math.ceil(M / rowsPerPass) }, (_, i) => Math.min(rowsPerPass, M - i * rowsPerPass)) : passRows(M, ud ? U8_AUTO_MAX_ROWS : AUTO_MAX_ROWS);
      for (const R of passes) {
        // pack rows m0 .. m0 + R - 1: chunk j, row r -> (j * R + r) * 16 codes (i8 or i16)
        // per row: S = its sum of (codes - zero) (matmulInteger), xi = sum_j x_2j x_2j+1 (dot)
        const zs = new Int32Array(memory.buffer, zsOff, 2 * MAX_ROWS);
        zs.fill(0);
        if (ud) {
          // raw uint8 codes (the relaxed dot's unsigned operand); per row T = sum_k a - K * az at
          // 0 and az at 32: sum (a - az)(w - wz) = sum a w - az * colsum(w) - wz * T
          const xs = new Uint8Array(memory.buffer, xOff, R * k16);
          xs.fill(0);
          for (let r = 0; r < R; r++) {
            let sum = 0;
            const z = xZero === null ? 0 : typeof xZero === 'number' ? xZero : xZero[m0 + r];
            for (let k = 0, s = (m0 + r) * K; k < K; k++) {
              const v = xq[s + k];
              xs[((k >> 4) * R + r) * 16 + (k & 15)] = v;
              sum += v;
            }
            zs[r] = sum - K * z;
            zs[MAX_ROWS + r] = z;
          }
        } else if (xb === 1) {
          const xs = new Int8Array(memory.buffer, xOff, R * k16);
          xs.fill(0);
          for (let r = 0; r < R; r++) for (let k = 0, s = (m0 + r) * K; k < K; k++) xs[((k >> 4) * R + r) * 16 + lane[k & 15]] = xq[s + k];
        } else {
          const xs = new Int16Array(memory.buffer, xOff, R * k16);
          xs.fill(0);
          for (let r = 0; r < R; r++) {
            let sum = 0, xi = 0;
            const z = xZero === null ? 0 : typeof xZero === 'number' ? xZero : xZero[m0 + r];
            for (let k = 0, s = (m0 + r) * K; k < K; k++) {
              const v = xq[s + k] - z;
              xs[((k >> 4) * R + r) * 16 + lane[k & 15]] = v;
              sum += v;
            }
            if (R > 1) for (let k = 0, s = (m0 + r) * K; k + 1 < K; k += 2) xi += (xq[s + k] - z) * (xq[s + k + 1] - z);
            if (xZero !== null) zs[r] = sum;
            zs[MAX_ROWS + r] = xi;
          }
        }
        if (!scaled) {
          fns[R]!(wOff, xOff, outOff, k16, n4, zwOff, zsOff);
          const res = new Int32Array(memory.buffer, outOff, R * n4);
          for (let r = 0; r < R; r++) out.set(res.subarray(r * n4, r * n4 + N), (m0 + r) * N);
        } else {
          const xs = new Float64Array(memory.buffer, zsOff + 128, MAX_ROWS);
          const sc = scaled.xScale;
          for (let r = 0; r < R; r++) xs[r] = typeof sc === 'number' ? sc : sc[m0 + r];
          ffns[R]!(wOff, xOff, outOff, k16, n4, zwOff, zsOff, fsOff, bias ? 1 : 0);
          const res = new Float32Array(memory.buffer, outOff, R * n4);
          const st = scaled.stride;
          // rows n4 apart there: one copy for the pass where the output's rows are too (and nothing padded)
          if (st === N && N === n4) out.set(res.subarray(0, (R - 1) * n4 + N), m0 * st);
          else for (let r = 0; r < R; r++) out.set(res.subarray(r * n4, r * n4 + N), (m0 + r) * st);
        }
        m0 += R;
      }
      return out;
    };
    const checkM = (M: number) => {
      if (!(Number.isInteger(M) && M >= 1)) throw new DataError('gemv-shape', `The number of activation rows is ${M}; it must be a whole number, 1 or more.`);
    };
    const checkInteger = (a: Uint8Array, aZero: number | ArrayLike<number>, M: number) => {
      checkM(M);
      if (kernel !== 'dot' && !ud) throw new DataError('gemv-kernel', 'matmulInteger runs on the dot or u8dot kernel (uint8 activations need int16 lanes or an exact u8 x i8 dot).');
      if (a.length < M * K) throw new DataError('gemv-shape', `The activations hold ${a.length} codes; expected ${M} x ${K}.`);
      if (K >= 65_793) throw new DataError('gemv-shape', `K = ${K} is too long for exact int32 sums of uint8 x int8 codes (under 65,793).`);
      const zeros = typeof aZero === 'number' ? [aZero] : aZero;
      if (typeof aZero !== 'number' && aZero.length !== M) throw new DataError('gemv-shape', `There are ${aZero.length} activation zero points; expected 1 or one per row (${M}).`);
      for (let i = 0; i < zeros.length; i++) {
        const z = zeros[i];
        if (!(Number.isInteger(z) && z >= 0 && z <= 255)) throw new DataError('gemv-range', `The activation zero point is ${z}; uint8 codes need one in [0, 255].`);
      }
    };
    return {
      N, K, kernel, weightBytes: wBytes,
      matmulInt32(xq, M, out = new Int32Array(M * N)) {
        checkM(M);
        if (ud) throw new DataError('gemv-kernel', 'The u8dot kernel runs matmulInteger only.');
        if (xq.length < M * K) throw new DataError('gemv-shape', `The activations hold ${xq.length} codes; expected ${M} x ${K}.`);
        if (kernel === 'relaxed') for (let i = 0; i < M * K; i++) if (xq[i] < 0) throw new DataError('gemv-range', 'The relaxed kernel needs activation codes in [0, 127].');
        return run(xq, M, out, null);
      },
      matmulInteger(a, aZero, M, out = new Int32Array(M * N)) {
        checkInteger(a, aZero, M);
        // dot: sum_k (a - az)(w - wz) = sum_k (a - az) w - wz sum_k (a - az): the kernel's sums of centred
        // codes (in [-255, 255]: int16 lanes), less the second term in its last step; u8dot: see run
        return run(a, M, out, aZero);
      },
      matmulIntegerScaled(a, aZero, xScale, M, out?: Float32Array, outStride = N) {
        checkInteger(a, aZero, M);
        if (P !== FLOAT_P) throw new DataError('gemv-kernel', `matmulIntegerScaled needs weights packed by ${FLOAT_P} (cols ${FLOAT_P} or omitted); these are packed by ${P}.`);
        if (typeof xScale !== 'number' && xScale.length < M) throw new DataError('gemv-shape', `There are ${xScale.length} activation scales; expected 1 or one per row (${M}).`);
        if (!(Number.isInteger(outStride) && outStride >= N)) throw new DataError('gemv-shape', `The output's row stride is ${outStride}; it must be a whole number, ${N} or more.`);
        const o = out ?? new Float32Array((M - 1) * outStride + N);
        if (o.length < (M - 1) * outStride + N) throw new DataError('gemv-shape', `The output holds ${o.length} numbers; ${M} rows ${outStride} apart need ${(M - 1) * outStride + N}.`);
        return run(a, M, o, aZero, { xScale, stride: outStride });
      },
      matmul(x, M, out = new Float32Array(M * N)) {
        checkM(M);
        if (ud) throw new DataError('gemv-kernel', 'The u8dot kernel runs matmulInteger only.');
        if (x.length < M * K) throw new DataError('gemv-shape', `The activations hold ${x.length} numbers; expected ${M} x ${K}.`);
        const xq = new Int8Array(M * K);
        const rowScale = new Float32Array(M), rowZero = new Int32Array(M);
        for (let m = 0; m < M; m++) {
          const xm = x.subarray(m * K, (m + 1) * K);
          if (kernel === 'relaxed') {
            const q = quantizeRowU7(xm, qrow);
            rowScale[m] = q.scale;
            rowZero[m] = q.zero;
          } else {
            rowScale[m] = quantizeRow(xm, qrow);
          }
          xq.set(qrow, m * K);
        }
        const sums = run(xq, M, new Int32Array(M * N), null);
        for (let m = 0; m < M; m++) {
          const s = rowScale[m], z = rowZero[m], o = m * N;
          if (z) for (let n = 0; n < N; n++) out[o + n] = (sums[o + n] - z * colSum[n]) * s * colScale[n];
          else for (let n = 0; n < N; n++) out[o + n] = sums[o + n] * s * colScale[n];
        }
        return out;
      },
    };
  }
  const load = (w: Int8Array | Uint8Array, N: number, K: number, scales: Float32Array | number, options?: Int8LoadOptions): Int8Linear => runSteps(loadSteps(w, N, K, scales, options));
  if (relaxedMod) {
    try {
      // one arena for the probe's linears: one memory for all of them (dropped with it)
      const probe = arena();
      u8Exact = probeU8Dot((w, wz, N, K, a, az, M) => load(w, N, K, 1, { kernel: 'u8dot', zeroPoint: wz, unprobed: true, arena: probe }).matmulInteger(a, az, M));
    } catch {
      u8Exact = false;
    }
  }
  return {
    relaxed: relaxedMod !== null,
    u8Exact,
    load,
    loadSteps,
    arena,
  };
}
