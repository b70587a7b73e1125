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
 *   attention one query head over a row's visible slots, bit for bit ./decoder.ts's attendScalar,
 *             in float32 throughout (`attend`): q . k in f32x4 lanes of dimensions, 4 slots a pass
 *             (their key loads shared by up to 4 query heads of the group), the lanes combined
 *             as f32(f32(l0 + l2) + f32(l1 + l3)) by shuffles, times the scale; the softmax in
 *             the module too (max, exp32: an exp of float32 ops that JavaScript repeats with
 *             Math.fround, the sum in 4 lanes); then sum_u e_u v_u in f32x4 lanes of
 *             dimensions in slot order, times 1 / sum. Within ~7e-7 of float64 (the tests); the
 *             earlier float64 path (f64x2 sums, the softmax in JavaScript; `attendF64`, ~1.9x
 *             slower at 256-1024 slots, bench/attention.bench.ts) stays for A/B behind
 *             decoder.ts's setAttentionPath('f64'). The row's keys and values for one KV head
 *             are copied into the module's memory once per layer (`loadKv`; at 1024 slots
 *             ~40% of the attention's time) and used by every query head of its group and every
 *             new token of the row.
 *   rms       RMSNorm of groups (a layer's tokens, or Qwen3's q / k heads), two groups a f64x2 (4
 *             pairs a pass, so the float64 adds' latency overlaps): squares in f32x4 (= f(v * v)),
 *             each lane summed in float64 in the group's order as the scalar `ss += f(v * v)`;
 *             f32(1 / sqrt(f32(f32(ss) / n) + eps)) by f32x4 div / add / sqrt (IEEE float32 ops,
 *             = Math.fround of the float64 op on float32 operands), then f32(w * f32(x * inv)).
 *   rope      rotate-half RoPE in f32x4 (f32(f32(x cos) + f32(r sin)), r = -x_{j+half} / x_{j-half}),
 *             run with q/k norm per token by `qkPrep` (one copy in and out for all its heads).
 *   swiglu    SiLU(gate) * up: exp(-g) by Math.exp in JavaScript (its bits cannot be reproduced in
 *             wasm), written as float64 into the memory; f32(1 / (1 + e)) by f64x2 add / div and
 *             f32x4.demote, f32(f32(g * sig) * u) by f32x4.mul.
 *   argmax    f32x4.max over the logits (a NaN anywhere gives a NaN: refused as `argmax` does), then
 *             the first index equal to the maximum (f32x4.eq; -0 = +0 as for `>`): `argmax` exactly.
 *
 * One module, compiled once; each WasmOps has its own instance and memory (grown as asked, never
 * shrunk). `sharedWasmOps` is the one every decoder of a thread uses (a page has a budget of
 * WebAssembly memories, and the int8 linears already take one each): its calls never interleave,
 * since each decoder step runs to its end synchronously. Inputs are copied into its memory and
 * results out of it (a copy is ~0.1 ns a value; the scalar code took ~17 ns a value to quantise).
 */
import { DataError } from '../../errors';
import { emitter, funcBody, HIGH_HALF, I32, LOW_HALVES, V128, compileModule, growMemory, moduleBytes, op, uleb } from '../../math/wasm-asm';

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
/** Slot lists are padded to a multiple of this (a pass of `dots` takes 8 / G slots). */
export const DOT_SLOTS = 8;
/** Query heads one kernel call takes together (the heads of a KV group share its key and value loads). */
export const GROUPS = [4, 2, 1] as const;

/** The heads of the next kernel call when `left` heads remain: the largest of GROUPS that fits. */
function groupSize(left: number): 4 | 2 | 1 {
  return left >= 4 ? 4 : left >= 2 ? 2 : 1;
}

/**
 * dotsG(q, k, idx, passes, rowBytes, out, outStride): for each of G query heads g (q + g * 2 *
 * rowBytes: float64 [hd]) and slot i < passes * 8 / G, out[g * outStride + 8 i] (f64) =
 * sum_j q_g[j] k_row(idx[i])[j], rows float32 (rowBytes = 4 hd, a multiple of 16). Each f64x2
 * lane is one slot, its sum taken in j order (an exact product, then a float64 add): the scalar
 * code's `a += q[j] * k[j]`, bit for bit. The two slots' keys are interleaved and widened once for
 * all G heads.
 */
function dotsBody(G: number): number[] {
  const [Q, K, IDX, PASSES, RB, OUT, OS] = [0, 1, 2, 3, 4, 5, 6];
  const [J, QP, QEND, IP, OP, QS] = [7, 8, 9, 10, 11, 12];
  const PAIRS = 4 / G, SLOTS = 2 * PAIRS;
  const KA = 13; // SLOTS row addresses
  const nI = 6 + SLOTS;
  const v = (i: number) => 7 + nI + i;
  const ACC = 0, A = G * PAIRS, B = A + 1, S1 = A + 2, S2 = A + 3, T = A + 4; // v128 locals
  const { code, e } = emitter();
  e(op.i32(0), op.set(J), op.get(IDX), op.set(IP), op.get(OUT), op.set(OP), op.get(RB), op.i32(2), op.mul, op.set(QS));
  e(op.loop);
  {
    for (let s = 0; s < SLOTS; s++) e(op.get(IP), op.i32Load(4 * s), op.get(RB), op.mul, op.get(K), op.add, op.set(KA + s));
    for (let a = 0; a < G * PAIRS; a++) e(op.v128Zero, op.set(v(ACC + a)));
    e(op.get(Q), op.tee(QP), op.get(QS), op.add, op.set(QEND));
    e(op.loop);
    {
      for (let p = 0; p < PAIRS; p++) {
        e(op.get(KA + 2 * p), op.v128Load(0), op.set(v(A)), op.get(KA + 2 * p + 1), op.v128Load(0), op.set(v(B)));
        e(op.get(v(A)), op.get(v(B)), op.shuffle(INTERLEAVE_LO), op.set(v(S1)));
        e(op.get(v(A)), op.get(v(B)), op.shuffle(INTERLEAVE_HI), op.set(v(S2)));
        // the four dimensions' (slot a, slot b) pairs as f64x2: S1 low, S1 high, S2 low, S2 high
        const dims = [
          () => e(op.get(v(S1)), op.promoteLow),
          () => e(op.get(v(S1)), op.get(v(S1)), op.shuffle(HIGH_HALF), op.promoteLow),
          () => e(op.get(v(S2)), op.promoteLow),
          () => e(op.get(v(S2)), op.get(v(S2)), op.shuffle(HIGH_HALF), op.promoteLow),
        ];
        for (let t = 0; t < 4; t++) {
          dims[t]();
          e(op.set(v(T)));
          for (let g = 0; g < G; g++) {
            // acc += (k_a[j], k_b[j]) * splat(q_g[j]), q_g at QP + g * QS
            const acc = v(ACC + g * PAIRS + p);
            e(op.get(acc), op.get(v(T)), op.get(QP));
            if (g) e(op.get(QS), op.i32(g), op.mul, op.add);
            e(op.v128Load64Splat(8 * t), op.f64x2Mul, op.f64x2Add, op.set(acc));
          }
        }
      }
      for (let s = 0; s < SLOTS; s++) e(op.get(KA + s), op.i32(16), op.add, op.set(KA + s));
      e(op.get(QP), op.i32(32), op.add, op.tee(QP), op.get(QEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    for (let g = 0; g < G; g++) for (let p = 0; p < PAIRS; p++) e(op.get(OP), op.get(OS), op.i32(g), op.mul, op.add, op.get(v(ACC + g * PAIRS + p)), op.v128Store(16 * p));
    e(op.get(OP), op.i32(8 * SLOTS), op.add, op.set(OP), op.get(IP), op.i32(4 * SLOTS), op.add, op.set(IP));
    e(op.get(J), op.i32(1), op.add, op.tee(J), op.get(PASSES), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[nI, I32], [G * PAIRS + 5, V128]], code);
}

/**
 * wsum(p, v, idx, n, rowBytes, out, blocks, pStride), G heads, VB vectors a block: for each head g
 * (probabilities float64 at p + g * pStride, output float64 at out + g * 2 * rowBytes) and
 * dimension j in `blocks` blocks of 4 * VB from the row's start, out_g[j] = sum_i p_g[i]
 * v_row(idx[i])[j] over i < n in order (n >= 1, blocks >= 1): each value's sum in slot order, the
 * scalar code's `acc[j] += p * v[j]` bit for bit. The widened values are shared by the G heads.
 */
function wsumKernel(VB: number, G: number): number[] {
  const [P, V, IDX, N, RB, OUT, BL, PS] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [B, IP, PP, PEND, RA, BO] = [8, 9, 10, 11, 12, 13];
  const X = 14, LO = 15, HI = 16;
  const W = 17; // G splats
  const ACC = W + G; // G * 2 * VB f64x2: head g, vector k, half h at ACC + (g * VB + k) * 2 + h
  const { code, e } = emitter();
  e(op.get(P), op.get(N), op.i32(8), op.mul, op.add, op.set(PEND), op.i32(0), op.set(B));
  e(op.loop);
  {
    e(op.get(B), op.i32(16 * VB), op.mul, op.set(BO));
    for (let k = 0; k < 2 * VB * G; k++) e(op.v128Zero, op.set(ACC + k));
    e(op.get(IDX), op.set(IP), op.get(P), op.set(PP));
    e(op.loop);
    {
      for (let g = 0; g < G; g++) {
        e(op.get(PP));
        if (g) e(op.get(PS), op.i32(g), op.mul, op.add);
        e(op.v128Load64Splat(0), op.set(W + g));
      }
      e(op.get(IP), op.i32Load(0), op.get(RB), op.mul, op.get(V), op.add, op.get(BO), op.add, op.set(RA));
      for (let k = 0; k < VB; k++) {
        e(op.get(RA), op.v128Load(k * 16), op.tee(X), op.promoteLow, op.set(LO));
        e(op.get(X), op.get(X), op.shuffle(HIGH_HALF), op.promoteLow, op.set(HI));
        for (let g = 0; g < G; g++) {
          const a = ACC + (g * VB + k) * 2;
          e(op.get(a), op.get(W + g), op.get(LO), op.f64x2Mul, op.f64x2Add, op.set(a));
          e(op.get(a + 1), op.get(W + g), op.get(HI), op.f64x2Mul, op.f64x2Add, op.set(a + 1));
        }
      }
      e(op.get(IP), op.i32(4), op.add, op.set(IP));
      e(op.get(PP), op.i32(8), op.add, op.tee(PP), op.get(PEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    for (let g = 0; g < G; g++) {
      for (let k = 0; k < VB; k++) for (let h = 0; h < 2; h++) {
        e(op.get(OUT), op.get(BO), op.i32(2), op.mul, op.add);
        if (g) e(op.get(RB), op.i32(2 * g), op.mul, op.add);
        e(op.get(ACC + (g * VB + k) * 2 + h), op.v128Store(k * 32 + h * 16));
      }
    }
    e(op.get(B), op.i32(1), op.add, op.tee(B), op.get(BL), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[6, I32], [3 + G + 2 * VB * G, V128]], code);
}

/** Vectors a block of `wsum` takes for G heads (its accumulators: 2 VB G f64x2), and the remainder's. */
const WSUM_VB: Record<number, number> = { 1: 4, 2: 2, 4: 1 };

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

/**
 * exp in float32 arithmetic, the same in JavaScript (`exp32`) and in the softmax kernel: x clamped
 * at -87 (so 2^n stays normal), n = nearest(f32(x log2 e)), r = f32(f32(x - f32(n ln2hi)) -
 * f32(n ln2lo)), p = 1 + r (c1 + r (c2 + .. r c6)) by Horner in float32 (Taylor coefficients:
 * ~1 float32 ulp on |r| <= ln2 / 2), result f32(p 2^n). NaN stays NaN.
 */
export const EXP32 = {
  log2e: f(Math.LOG2E),
  ln2hi: 0.693359375,
  ln2lo: f(Math.LN2 - 0.693359375),
  clamp: -87,
  /** c6, c5, .., c1 (Horner's order). */
  poly: [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1].map(f),
} as const;

/** exp(x) as the softmax kernel computes it (EXP32), for x <= 0 (a score less the max) or NaN. */
export function exp32(x: number): number {
  const { log2e, ln2hi, ln2lo, clamp, poly } = EXP32;
  const c = Math.max(x, clamp);
  const n = rhe(f(c * log2e));
  const r = f(f(c - f(n * ln2hi)) - f(n * ln2lo));
  let p = poly[0];
  for (let k = 1; k < 6; k++) p = f(f(p * r) + poly[k]);
  p = f(f(p * r) + 1);
  return f(p * 2 ** n);
}

// ---- float32 attention (the path `attend` runs; decoder.ts's attendScalar is its scalar twin) ----

/** Byte shuffles: the high halves of a then b; f32 lanes 0, 2 of a then of b; lanes 1, 3. */
const HIGH_HALVES = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
const EVEN_LANES = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
const ODD_LANES = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];
/** f32 lanes 2 3 0 1, and 1 0 3 2, of one vector. */
const SWAP64 = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const SWAP32 = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11];
/**
 * The constants block of the float32 attention (bytes from its start; see ATTN_CONSTS): f32
 * log2(e), ln2 high and low parts, the exp clamp, exp's polynomial c6..c1, 1; i32 127; the last
 * score vector's lane mask; the scale; each head's 1 / sum (a vector each).
 */
const C_LOG2E = 0, C_LN2HI = 4, C_LN2LO = 8, C_CLAMP = 12, C_POLY = 16, C_ONE = 40, C_BIAS = 44, C_MASK = 48, C_SCALE = 64, C_INV = 80;
const C_BYTES = C_INV + 16 * 4;

/**
 * dotsF(q, k, idx, passes, rowBytes, out, outStride, consts), G heads: for each pass of 4 slots
 * (idx[4 i ..]) and head g (q at q + g * rowBytes, float32), the 4 scores f32(dot * scale) as one
 * vector at out + g * outStride + 16 i. A dot is summed in f32x4 lanes of dimensions (lane r: the
 * dimensions j = r mod 4 in order, f32(a + f32(q k))), then f32(f32(l0 + l2) + f32(l1 + l3)). The
 * 4 slots' key loads are shared by the G heads.
 */
function dotsF32Body(G: number): number[] {
  const [Q, K, IDX, PASSES, RB, OUT, OS, CON] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [J, QP, QEND, IP, OP] = [8, 9, 10, 11, 12];
  const KA = 13; // 4 row addresses
  const nI = 5 + 4;
  const v = (i: number) => 8 + nI + i;
  const ACC = 0, KV = 4 * G, QV = KV + 4, S1 = QV + 1, S2 = QV + 2, SC = QV + 3; // v128 locals
  const { code, e } = emitter();
  e(op.get(CON), op.v128Load32Splat(C_SCALE), op.set(v(SC)));
  e(op.i32(0), op.set(J), op.get(IDX), op.set(IP), op.get(OUT), op.set(OP));
  e(op.loop);
  {
    for (let s = 0; s < 4; s++) e(op.get(IP), op.i32Load(4 * s), op.get(RB), op.mul, op.get(K), op.add, op.set(KA + s));
    for (let a = 0; a < 4 * G; a++) e(op.v128Zero, op.set(v(ACC + a)));
    e(op.get(Q), op.tee(QP), op.get(RB), op.add, op.set(QEND));
    e(op.loop);
    {
      for (let s = 0; s < 4; s++) e(op.get(KA + s), op.v128Load(0), op.set(v(KV + s)));
      for (let g = 0; g < G; g++) {
        e(op.get(QP));
        if (g) e(op.get(RB), op.i32(g), op.mul, op.add);
        e(op.v128Load(0), op.set(v(QV)));
        for (let s = 0; s < 4; s++) {
          const acc = v(ACC + 4 * g + s);
          e(op.get(acc), op.get(v(KV + s)), op.get(v(QV)), op.f32x4Mul, op.f32x4Add, op.set(acc));
        }
      }
      for (let s = 0; s < 4; s++) e(op.get(KA + s), op.i32(16), op.add, op.set(KA + s));
      e(op.get(QP), op.i32(16), op.add, op.tee(QP), op.get(QEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    for (let g = 0; g < G; g++) {
      const a = (s: number) => v(ACC + 4 * g + s);
      // [A0+A2, A1+A3, B0+B2, B1+B3], the same for C, D; then lanes (0+2) + (1+3) of each slot
      e(op.get(a(0)), op.get(a(1)), op.shuffle(LOW_HALVES), op.get(a(0)), op.get(a(1)), op.shuffle(HIGH_HALVES), op.f32x4Add, op.set(v(S1)));
      e(op.get(a(2)), op.get(a(3)), op.shuffle(LOW_HALVES), op.get(a(2)), op.get(a(3)), op.shuffle(HIGH_HALVES), op.f32x4Add, op.set(v(S2)));
      e(op.get(OP));
      if (g) e(op.get(OS), op.i32(g), op.mul, op.add);
      e(op.get(v(S1)), op.get(v(S2)), op.shuffle(EVEN_LANES), op.get(v(S1)), op.get(v(S2)), op.shuffle(ODD_LANES), op.f32x4Add, op.get(v(SC)), op.f32x4Mul, op.v128Store(0));
    }
    e(op.get(OP), op.i32(16), op.add, op.set(OP), op.get(IP), op.i32(16), op.add, op.set(IP));
    e(op.get(J), op.i32(1), op.add, op.tee(J), op.get(PASSES), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[nI, I32], [4 * G + 8, V128]], code);
}

/**
 * softmaxF(p, nv, consts, inv): one head's nv score vectors at p (the last one's lanes past the
 * mask at consts + C_MASK unused) replaced by e = exp32(f32(s - max)) (0 in the unused lanes),
 * and the vector splat(f32(1 / sum)) stored at inv: max over the used scores, sum in f32x4 lanes
 * (lane r: the scores u = r mod 4 in order), then f32(f32(l0 + l2) + f32(l1 + l3)). exp32 is
 * decoder.ts's: clamp at -87, n = nearest(f32(x log2 e)), r = x - n ln2 (two parts), a degree-6
 * polynomial by Horner, times 2^n (exponent bits).
 */
function softmaxF32Body(): number[] {
  const [P, NV, CON, INV] = [0, 1, 2, 3];
  const [PP, LAST] = [4, 5];
  const [M, X, S, MASK, T, N, R, Y] = [6, 7, 8, 9, 10, 11, 12, 13];
  const { code, e } = emitter();
  const splat = (o: number) => e(op.get(CON), op.v128Load32Splat(o));
  /** Y = exp32(X - M) (X consumed). */
  const exp = () => {
    e(op.get(X), op.get(M), xop.f32x4Sub);
    splat(C_CLAMP);
    e(op.f32x4Max, op.set(X));
    e(op.get(X));
    splat(C_LOG2E);
    e(op.f32x4Mul, op.f32x4Nearest, op.set(N));
    e(op.get(X), op.get(N));
    splat(C_LN2HI);
    e(op.f32x4Mul, xop.f32x4Sub, op.get(N));
    splat(C_LN2LO);
    e(op.f32x4Mul, xop.f32x4Sub, op.set(R));
    splat(C_POLY);
    for (let k = 1; k < 6; k++) {
      e(op.get(R), op.f32x4Mul);
      splat(C_POLY + 4 * k);
      e(op.f32x4Add);
    }
    e(op.get(R), op.f32x4Mul);
    splat(C_ONE);
    e(op.f32x4Add);
    e(op.get(N), op.i32x4TruncSatF32x4S);
    splat(C_BIAS);
    e(op.i32x4Add, op.i32(23), xop.i32x4Shl, op.f32x4Mul, op.set(Y));
  };
  e(op.get(CON), op.v128Load(C_MASK), op.set(MASK));
  e(op.get(P), op.get(NV), op.i32(1), op.sub, op.i32(16), op.mul, op.add, op.set(LAST));
  // max: the last vector's unused lanes replaced by its lane 0
  e(op.get(LAST), op.v128Load(0), op.tee(X), op.get(X), op.get(X), op.shuffle(SPLAT0), op.get(MASK), xop.v128Bitselect, op.set(M));
  e(op.get(P), op.set(PP));
  e(op.block, op.loop, op.get(PP), op.get(LAST), op.ltU, op.i32Eqz, op.brIf(1));
  e(op.get(M), op.get(PP), op.v128Load(0), op.f32x4Max, op.set(M));
  e(op.get(PP), op.i32(16), op.add, op.set(PP), op.br(0), op.end, op.end);
  e(op.get(M), op.get(M), op.get(M), op.shuffle(SWAP64), op.f32x4Max, op.tee(M), op.get(M), op.get(M), op.shuffle(SWAP32), op.f32x4Max, op.set(M));
  // exp and the lane sums
  e(op.v128Zero, op.set(S), op.get(P), op.set(PP));
  e(op.block, op.loop, op.get(PP), op.get(LAST), op.ltU, op.i32Eqz, op.brIf(1));
  e(op.get(PP), op.v128Load(0), op.set(X));
  exp();
  e(op.get(PP), op.get(Y), op.v128Store(0), op.get(S), op.get(Y), op.f32x4Add, op.set(S));
  e(op.get(PP), op.i32(16), op.add, op.set(PP), op.br(0), op.end, op.end);
  e(op.get(LAST), op.v128Load(0), op.set(X));
  exp();
  e(op.get(Y), op.get(MASK), xop.v128And, op.set(Y));
  e(op.get(LAST), op.get(Y), op.v128Store(0), op.get(S), op.get(Y), op.f32x4Add, op.set(S));
  e(op.get(S), op.get(S), op.get(S), op.shuffle(SWAP64), op.f32x4Add, op.tee(S), op.get(S), op.get(S), op.shuffle(SWAP32), op.f32x4Add, op.set(T));
  e(op.get(INV));
  splat(C_ONE);
  e(op.get(T), op.f32x4Div, op.v128Store(0));
  e(op.end);
  return funcBody([[2, I32], [8, V128]], code);
}

/**
 * wsumF(e, v, idx, n, rowBytes, out, blocks, eStride, inv), G heads, VB vectors a block: for head
 * g (weights e float32 at e + g * eStride, 1 / sum splat at inv + 16 g, output float32 at out + g
 * * rowBytes) and dimension j in `blocks` blocks of 4 VB from the row's start, out_g[j] =
 * f32(acc * inv_g), acc = sum_i f32(e_g[i] v_row(idx[i])[j]) in slot order in float32 (n >= 1).
 */
function wsumF32Body(VB: number, G: number): number[] {
  const [P, V, IDX, N, RB, OUT, BL, PS, INV] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [B, IP, PP, PEND, RA, BO] = [9, 10, 11, 12, 13, 14];
  const X = 15;
  const W = 16; // G splats
  const ACC = W + G; // G * VB f32x4: head g, vector k at ACC + g * VB + k
  const { code, e } = emitter();
  e(op.get(P), op.get(N), op.i32(4), op.mul, op.add, op.set(PEND), op.i32(0), op.set(B));
  e(op.loop);
  {
    e(op.get(B), op.i32(16 * VB), op.mul, op.set(BO));
    for (let k = 0; k < VB * G; k++) e(op.v128Zero, op.set(ACC + k));
    e(op.get(IDX), op.set(IP), op.get(P), op.set(PP));
    e(op.loop);
    {
      for (let g = 0; g < G; g++) {
        e(op.get(PP));
        if (g) e(op.get(PS), op.i32(g), op.mul, op.add);
        e(op.v128Load32Splat(0), op.set(W + g));
      }
      e(op.get(IP), op.i32Load(0), op.get(RB), op.mul, op.get(V), op.add, op.get(BO), op.add, op.set(RA));
      for (let k = 0; k < VB; k++) {
        e(op.get(RA), op.v128Load(k * 16), op.set(X));
        for (let g = 0; g < G; g++) {
          const a = ACC + g * VB + k;
          e(op.get(a), op.get(X), op.get(W + g), op.f32x4Mul, op.f32x4Add, op.set(a));
        }
      }
      e(op.get(IP), op.i32(4), op.add, op.set(IP));
      e(op.get(PP), op.i32(4), op.add, op.tee(PP), op.get(PEND), op.ltU, op.brIf(0));
    }
    e(op.end);
    for (let g = 0; g < G; g++) {
      e(op.get(INV), op.v128Load(16 * g), op.set(X));
      for (let k = 0; k < VB; k++) {
        e(op.get(OUT), op.get(BO), op.add);
        if (g) e(op.get(RB), op.i32(g), op.mul, op.add);
        e(op.get(ACC + g * VB + k), op.get(X), op.f32x4Mul, op.v128Store(k * 16));
      }
    }
    e(op.get(B), op.i32(1), op.add, op.tee(B), op.get(BL), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[6, I32], [1 + G + VB * G, V128]], code);
}

/** The constants block's float32 values from 0 (C_BIAS, an i32, is written apart). */
const ATTN_CONSTS = Float32Array.of(EXP32.log2e, EXP32.ln2hi, EXP32.ln2lo, EXP32.clamp, ...EXP32.poly, 1);

/** Vectors a block of `wsumF` takes for G heads (its accumulators: VB G f32x4). */
const WSUMF_VB: Record<number, number> = { 1: 8, 2: 4, 4: 2 };

/** SIMD ops that ../../math/wasm-asm.ts's `op` does not name. */
const xop = {
  f32x4Neg: [0xfd, ...uleb(225)],
  f32x4Sqrt: [0xfd, ...uleb(227)],
  i32ShrU: [0x76],
  f64x2Div: [0xfd, ...uleb(243)],
  f32x4Sub: [0xfd, ...uleb(229)],
  i32x4Shl: [0xfd, ...uleb(171)],
  v128And: [0xfd, ...uleb(78)],
  v128Bitselect: [0xfd, ...uleb(82)],
};
/** f32 lane 0 (1) of a vector in every lane. */
const SPLAT0 = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3];
const SPLAT1 = [4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7];
/** Rows of gate / up one `swiglu` kernel call takes (a batch's decode step: one call). */
const SWIGLU_ROWS = 8;
/** Groups (pairs of groups) one pass of `rmsP` takes: 4 pairs hide the float64 adds' latency. */
const RMS_PAIRS = [4, 1] as const;

/**
 * rmsP(x, passes, gb, w, par): RMSNorm in place of passes * 2P groups of gb bytes (gb a multiple
 * of 16) from x, weights w (gb bytes), par: f32 eps, f32 group size, f32 1. Each f64x2 lane is one
 * group (two a pair, P pairs a pass): ss += f32(v * v) in the group's order (f32x4.mul, promoted:
 * the scalar `ss += f(v * v)` in float64), then f32(1 / sqrt(f32(ss) / n + eps)) in f32x4 (each
 * IEEE float32 op is Math.fround of the float64 one for these operands), out = f32(w * f32(x * inv)).
 */
function rmsBody(P: number): number[] {
  const [X, PASSES, GB, W, PAR] = [0, 1, 2, 3, 4];
  const [J, OFF] = [5, 6];
  const G0 = 7; // 2P group addresses
  const nI = 2 + 2 * P;
  const v = (i: number) => 5 + nI + i;
  const ACC = 0, VA = P, VB = P + 1, S1 = P + 2, S2 = P + 3, EPS = P + 4, DIM = P + 5, ONE = P + 6, INV = P + 7, WV = P + 8;
  const IA = P + 9; // 2P splats of the inverses
  const { code, e } = emitter();
  e(op.get(PAR), op.v128Load32Splat(0), op.set(v(EPS)), op.get(PAR), op.v128Load32Splat(4), op.set(v(DIM)), op.get(PAR), op.v128Load32Splat(8), op.set(v(ONE)));
  e(op.i32(0), op.set(J));
  e(op.loop);
  {
    for (let k = 0; k < 2 * P; k++) e(op.get(X), op.get(GB), op.i32(k), op.mul, op.add, op.set(G0 + k));
    for (let p = 0; p < P; p++) e(op.v128Zero, op.set(v(ACC + p)));
    e(op.i32(0), op.set(OFF));
    e(op.loop);
    for (let p = 0; p < P; p++) {
      e(op.get(G0 + 2 * p), op.get(OFF), op.add, op.v128Load(0), op.tee(v(VA)), op.get(v(VA)), op.f32x4Mul, op.set(v(VA)));
      e(op.get(G0 + 2 * p + 1), op.get(OFF), op.add, op.v128Load(0), op.tee(v(VB)), op.get(v(VB)), op.f32x4Mul, op.set(v(VB)));
      e(op.get(v(VA)), op.get(v(VB)), op.shuffle(INTERLEAVE_LO), op.set(v(S1)));
      e(op.get(v(VA)), op.get(v(VB)), op.shuffle(INTERLEAVE_HI), op.set(v(S2)));
      const a = v(ACC + p);
      e(op.get(a), op.get(v(S1)), op.promoteLow, op.f64x2Add, op.set(a));
      e(op.get(a), op.get(v(S1)), op.get(v(S1)), op.shuffle(HIGH_HALF), op.promoteLow, op.f64x2Add, op.set(a));
      e(op.get(a), op.get(v(S2)), op.promoteLow, op.f64x2Add, op.set(a));
      e(op.get(a), op.get(v(S2)), op.get(v(S2)), op.shuffle(HIGH_HALF), op.promoteLow, op.f64x2Add, op.set(a));
    }
    e(op.get(OFF), op.i32(16), op.add, op.tee(OFF), op.get(GB), op.ltU, op.brIf(0));
    e(op.end);
    for (let p = 0; p < P; p++) {
      e(op.get(v(ONE)), op.get(v(ACC + p)), op.demoteZero, op.get(v(DIM)), op.f32x4Div, op.get(v(EPS)), op.f32x4Add, xop.f32x4Sqrt, op.f32x4Div, op.set(v(INV)));
      e(op.get(v(INV)), op.get(v(INV)), op.shuffle(SPLAT0), op.set(v(IA + 2 * p)));
      e(op.get(v(INV)), op.get(v(INV)), op.shuffle(SPLAT1), op.set(v(IA + 2 * p + 1)));
    }
    e(op.i32(0), op.set(OFF));
    e(op.loop);
    e(op.get(W), op.get(OFF), op.add, op.v128Load(0), op.set(v(WV)));
    for (let k = 0; k < 2 * P; k++) {
      e(op.get(G0 + k), op.get(OFF), op.add);
      e(op.get(v(WV)), op.get(G0 + k), op.get(OFF), op.add, op.v128Load(0), op.get(v(IA + k)), op.f32x4Mul, op.f32x4Mul, op.v128Store(0));
    }
    e(op.get(OFF), op.i32(16), op.add, op.tee(OFF), op.get(GB), op.ltU, op.brIf(0));
    e(op.end);
    e(op.get(X), op.get(GB), op.i32(2 * P), op.mul, op.add, op.set(X));
    e(op.get(J), op.i32(1), op.add, op.tee(J), op.get(PASSES), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[nI, I32], [9 + 3 * P, V128]], code);
}

/**
 * rope(x, heads, hb, cos, sin): rotate-half RoPE in place of `heads` heads of hb bytes (a multiple
 * of 32) from x, cos / sin hb bytes each: x_j <- f32(f32(x_j cos_j) + f32(r_j sin_j)), r = -x_{j+half}
 * below half and x_{j-half} above (decoder.ts's applyRope: each f32x4 op is the scalar fround'ed one).
 */
function ropeBody(): number[] {
  const [X, HEADS, HB, COS, SIN] = [0, 1, 2, 3, 4];
  const [J, OFF, HH, XA, XB, CA, SA] = [5, 6, 7, 8, 9, 10, 11];
  const [A, B] = [0, 1].map((i) => 12 + i);
  const { code, e } = emitter();
  e(op.get(HB), op.i32(1), xop.i32ShrU, op.set(HH), op.i32(0), op.set(J));
  e(op.loop);
  {
    e(op.i32(0), op.set(OFF));
    e(op.loop);
    e(op.get(X), op.get(OFF), op.add, op.tee(XA), op.get(HH), op.add, op.set(XB));
    e(op.get(COS), op.get(OFF), op.add, op.set(CA), op.get(SIN), op.get(OFF), op.add, op.set(SA));
    e(op.get(XA), op.v128Load(0), op.set(A), op.get(XB), op.v128Load(0), op.set(B));
    // cos / sin of the upper half at CA + HH, SA + HH
    e(op.get(XA), op.get(A), op.get(CA), op.v128Load(0), op.f32x4Mul, op.get(B), xop.f32x4Neg, op.get(SA), op.v128Load(0), op.f32x4Mul, op.f32x4Add, op.v128Store(0));
    e(op.get(XB), op.get(B), op.get(CA), op.get(HH), op.add, op.v128Load(0), op.f32x4Mul, op.get(A), op.get(SA), op.get(HH), op.add, op.v128Load(0), op.f32x4Mul, op.f32x4Add, op.v128Store(0));
    e(op.get(OFF), op.i32(16), op.add, op.tee(OFF), op.get(HH), op.ltU, op.brIf(0));
    e(op.end);
    e(op.get(X), op.get(HB), op.add, op.set(X));
    e(op.get(J), op.i32(1), op.add, op.tee(J), op.get(HEADS), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[7, I32], [2, V128]], code);
}

/** demote(src, n, dst): n float64 (n a multiple of 4) rounded to float32 (Math.fround), dst <= src allowed (in place). */
function demoteBody(): number[] {
  const [SRC, N, DST, END] = [0, 1, 2, 3];
  const { code, e } = emitter();
  e(op.get(SRC), op.get(N), op.i32(8), op.mul, op.add, op.set(END));
  e(op.loop);
  e(op.get(DST), op.get(SRC), op.v128Load(0), op.demoteZero, op.get(SRC), op.v128Load(16), op.demoteZero, op.shuffle(LOW_HALVES), op.v128Store(0));
  e(op.get(DST), op.i32(16), op.add, op.set(DST));
  e(op.get(SRC), op.i32(32), op.add, op.tee(SRC), op.get(END), op.ltU, op.brIf(0));
  e(op.end);
  e(op.end);
  return funcBody([[1, I32]], code);
}

/**
 * swiglu(e, gu, I, M, out, par): for M rows of gate / up (gu: row m's I gate values then its I up
 * values, float32; I a multiple of 4) and e = exp(-gate) (float64, [M, I], JavaScript's Math.exp),
 * out[m, i] = f32(f32(g * f32(1 / (1 + e))) * u): f64x2 add and div (IEEE float64, as the scalar
 * code's), f32x4.demote (Math.fround), f32x4.mul (fround'ed float32 products). par: f64 1.
 */
function swigluBody(): number[] {
  const [E, GU, I, M, OUT, PAR] = [0, 1, 2, 3, 4, 5];
  const [J, GP, UP, END] = [6, 7, 8, 9];
  const [ONE, S] = [10, 11];
  const { code, e } = emitter();
  e(op.get(PAR), op.v128Load64Splat(0), op.set(ONE), op.get(GU), op.set(GP), op.i32(0), op.set(J));
  e(op.loop);
  {
    e(op.get(GP), op.get(I), op.i32(4), op.mul, op.add, op.tee(END), op.set(UP));
    e(op.loop);
    e(op.get(ONE), op.get(ONE), op.get(E), op.v128Load(0), op.f64x2Add, xop.f64x2Div, op.demoteZero);
    e(op.get(ONE), op.get(ONE), op.get(E), op.v128Load(16), op.f64x2Add, xop.f64x2Div, op.demoteZero);
    e(op.shuffle(LOW_HALVES), op.set(S));
    e(op.get(OUT), op.get(GP), op.v128Load(0), op.get(S), op.f32x4Mul, op.get(UP), op.v128Load(0), op.f32x4Mul, op.v128Store(0));
    e(op.get(E), op.i32(32), op.add, op.set(E), op.get(UP), op.i32(16), op.add, op.set(UP), op.get(OUT), op.i32(16), op.add, op.set(OUT));
    e(op.get(GP), op.i32(16), op.add, op.tee(GP), op.get(END), op.ltU, op.brIf(0));
    e(op.end);
    // the next row's gate values follow this row's up values
    e(op.get(UP), op.set(GP));
    e(op.get(J), op.i32(1), op.add, op.tee(J), op.get(M), op.ltU, op.brIf(0));
  }
  e(op.end);
  e(op.end);
  return funcBody([[4, I32], [2, V128]], code);
}

let compiled: WebAssembly.Module | null | undefined;

function opsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = compileModule(moduleBytes([
    { name: 'minmax', params: 3, body: minmaxBody() },
    { name: 'quant', params: 4, body: quantBody() },
    ...GROUPS.flatMap((G) => [
      { name: `dots${G}`, params: 7, body: dotsBody(G) },
      { name: `wsum${G}`, params: 8, body: wsumKernel(WSUM_VB[G], G) },
      { name: `wsum${G}r`, params: 8, body: wsumKernel(1, G) },
      { name: `dotsF${G}`, params: 8, body: dotsF32Body(G) },
      { name: `wsumF${G}`, params: 9, body: wsumF32Body(WSUMF_VB[G], G) },
      { name: `wsumF${G}r`, params: 9, body: wsumF32Body(1, G) },
    ]),
    ...RMS_PAIRS.map((P) => ({ name: `rms${P}`, params: 5, body: rmsBody(P) })),
    { name: 'rope', params: 5, body: ropeBody() },
    { name: 'demote', params: 3, body: demoteBody() },
    { name: 'swiglu', params: 6, body: swigluBody() },
    { name: 'vmax', params: 3, body: vmaxBody() },
    { name: 'findeq', params: 3, body: findeqBody() },
    { name: 'softmaxF', params: 4, body: softmaxF32Body() },
  ]));
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
  /** Bytes between two heads' scores / probabilities (the padded slot list, as float64). */
  pStride: number;
  /** The float32 attention's constants block (C_*). */
  c: number;
}

/** The SIMD ops on one instance (one memory); see the file's header. */
export class WasmOps {
  private readonly memory: WebAssembly.Memory;
  private readonly fn: Record<string, Fn>;
  /** The attention kernels by heads a call (G), looked up once (not by a built name each call). */
  private readonly dots: Fn[] = [];
  private readonly wsum: Fn[] = [];
  private readonly wsumR: Fn[] = [];
  private readonly rmsP: Fn[] = [];
  private readonly dotsF: Fn[] = [];
  private readonly wsumF: Fn[] = [];
  private readonly wsumFR: Fn[] = [];
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
    for (const G of GROUPS) {
      this.dots[G] = this.fn[`dots${G}`];
      this.wsum[G] = this.fn[`wsum${G}`];
      this.wsumR[G] = this.fn[`wsum${G}r`];
      this.dotsF[G] = this.fn[`dotsF${G}`];
      this.wsumF[G] = this.fn[`wsumF${G}`];
      this.wsumFR[G] = this.fn[`wsumF${G}r`];
    }
    for (const P of RMS_PAIRS) this.rmsP[P] = this.fn[`rms${P}`];
  }

  /** Room for `bytes` bytes (64-byte aligned offsets are the caller's); views refreshed. */
  private ensure(bytes: number): void {
    if (this.buf !== growMemory(this.memory, bytes)) {
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
    const G = GROUPS[0];
    const io = 128;
    const k = align64(io + 4 * padded), v = align64(k + 4 * visible * hd), q = align64(v + 4 * visible * hd);
    const p = align64(q + 8 * G * hd), out = align64(p + 8 * G * padded), c = align64(out + 8 * G * hd);
    this.ensure(c + C_BYTES);
    const { f32, i32 } = this;
    f32.set(ATTN_CONSTS, c >> 2);
    i32[(c + C_BIAS) >> 2] = 127;
    i32.set(n === idx.length ? idx : idx.subarray(0, n), io >> 2);
    // the last pass's extra lanes read the last slot again (their sums are not used)
    i32.fill(idx[n - 1], (io >> 2) + n, (io >> 2) + padded);
    f32.set(K.subarray(off, off + visible * hd), k >> 2);
    f32.set(V.subarray(off, off + visible * hd), v >> 2);
    this.kv = { idx: io, k, v, q, p, out, hd, pStride: 8 * padded, c };
  }

  /**
   * Attention of `heads` consecutive query heads (q at qo, qo + hd, ..; hd values each) over the
   * first n loaded slots, into out at ao, ao + hd, ..: the scalar code of ./decoder.ts bit for bit
   * (scores q . k summed in float64 in dimension order, s = f32(f32(a) * scale), softmax as
   * exp(s - max) * (1 / sum), sum_u p_u v_u in float64 in slot order, then rounded to float32).
   * n >= 1, at most the loaded slots.
   */
  attendF64(q: Float32Array, qo: number, heads: number, n: number, scale: number, out: Float32Array, ao: number): void {
    const hd = this.kv!.hd;
    for (let h = 0; h < heads;) {
      const G = groupSize(heads - h);
      this.attendGroup(q, qo + h * hd, G, n, scale, out, ao + h * hd);
      h += G;
    }
  }

  /**
   * Attention of `heads` consecutive query heads (q at qo, qo + hd, ..; hd values each) over the
   * first n loaded slots, into out at ao, ao + hd, ..: ./decoder.ts's attendScalar bit for bit
   * (float32 throughout: the dots in f32x4 lanes of dimensions, exp32, the weighted sum of values
   * in slot order, times 1 / sum at the end). n >= 1, at most the loaded slots.
   */
  attend(q: Float32Array, qo: number, heads: number, n: number, scale: number, out: Float32Array, ao: number): void {
    const L = this.kv!, hd = L.hd, { f32, i32 } = this;
    const nv = Math.ceil(n / 4), used = n - 4 * (nv - 1), m = (L.c + C_MASK) >> 2;
    for (let r = 0; r < 4; r++) i32[m + r] = r < used ? -1 : 0;
    f32[(L.c + C_SCALE) >> 2] = scale;
    for (let h = 0; h < heads;) {
      const G = groupSize(heads - h);
      this.attendGroupF32(q, qo + h * hd, G, n, nv, out, ao + h * hd);
      h += G;
    }
  }

  private attendGroupF32(q: Float32Array, qo: number, G: number, n: number, nv: number, out: Float32Array, ao: number): void {
    const L = this.kv!, hd = L.hd, rb = 4 * hd, fn = this.fn;
    this.f32.set(q.subarray(qo, qo + G * hd), L.q >> 2);
    this.dotsF[G](L.q, L.k, L.idx, nv, rb, L.p, L.pStride, L.c);
    for (let g = 0; g < G; g++) fn.softmaxF(L.p + g * L.pStride, nv, L.c, L.c + C_INV + 16 * g);
    const per = 4 * WSUMF_VB[G], blocks = Math.floor(hd / per);
    if (blocks) this.wsumF[G](L.p, L.v, L.idx, n, rb, L.out, blocks, L.pStride, L.c + C_INV);
    const rest = (hd - per * blocks) >> 2;
    if (rest) this.wsumFR[G](L.p, L.v + 4 * per * blocks, L.idx, n, rb, L.out + 4 * per * blocks, rest, L.pStride, L.c + C_INV);
    out.set(this.f32.subarray(L.out >> 2, (L.out >> 2) + G * hd), ao);
  }

  private attendGroup(q: Float32Array, qo: number, G: number, n: number, scale: number, out: Float32Array, ao: number): void {
    const L = this.kv!, hd = L.hd, { f64 } = this, fn = this.fn;
    f64.set(q.subarray(qo, qo + G * hd), L.q >> 3);
    this.dots[G](L.q, L.k, L.idx, Math.ceil((n * G) / DOT_SLOTS), 4 * hd, L.p, L.pStride);
    for (let g = 0; g < G; g++) {
      const p0 = (L.p + g * L.pStride) >> 3;
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
    }
    const per = 4 * WSUM_VB[G], blocks = Math.floor(hd / per);
    if (blocks) this.wsum[G](L.p, L.v, L.idx, n, 4 * hd, L.out, blocks, L.pStride);
    const rest = (hd - per * blocks) >> 2;
    if (rest) this.wsumR[G](L.p, L.v + 4 * per * blocks, L.idx, n, 4 * hd, L.out + 8 * per * blocks, rest, L.pStride);
    // rounded to float32 in place (f32x4.demote: Math.fround), copied out as one block
    fn.demote(L.out, G * hd, L.out);
    out.set(this.f32.subarray(L.out >> 2, (L.out >> 2) + G * hd), ao);
  }

  /**
   * RMSNorm of x's x.length / dim groups of dim values into out (x itself allowed), weights w [dim],
   * eps a float32: ./decoder.ts's rmsNorm bit for bit. dim a multiple of 4 (see `rmsFits`).
   */
  rms(x: Float32Array, dim: number, w: Float32Array, eps: number, out: Float32Array): Float32Array {
    const n = x.length / dim, gb = 4 * dim;
    // an odd last group is run paired with a spare one after it (its result unused)
    const xo = 128, wo = align64(xo + gb * (n + 1));
    this.ensure(wo + gb);
    const { f32 } = this;
    f32.set(x, xo >> 2);
    f32.set(w.length === dim ? w : w.subarray(0, dim), wo >> 2);
    this.runRms(xo, Math.ceil(n / 2), gb, wo, eps, dim);
    out.set(f32.subarray(xo >> 2, (xo >> 2) + n * dim));
    return out;
  }

  /** rms of `pairs` pairs of groups of gb bytes from xo, weights at wo (par at 96). */
  private runRms(xo: number, pairs: number, gb: number, wo: number, eps: number, dim: number): void {
    const { f32 } = this;
    f32[24] = eps;
    f32[25] = dim;
    f32[26] = 1;
    let at = xo, left = pairs;
    for (const P of RMS_PAIRS) {
      const passes = Math.floor(left / P);
      if (!passes) continue;
      this.rmsP[P](at, passes, gb, wo, 96);
      at += passes * 2 * P * gb;
      left -= passes * P;
    }
  }

  /**
   * One token's q and k heads at x[o ..] (nq heads of hd, then nk): RMSNorm per head with qNorm /
   * kNorm when given (Qwen3), then RoPE with cos / sin at c .. c + hd, in place; ./decoder.ts's
   * rmsNorm and applyRope bit for bit. hd a multiple of 8 (see `ropeFits`).
   */
  qkPrep(x: Float32Array, o: number, nq: number, nk: number, hd: number, qNorm: Float32Array | null, kNorm: Float32Array | null, eps: number, cos: Float32Array, sin: Float32Array, c: number): void {
    const hb = 4 * hd;
    const qo = 128, ko = align64(qo + hb * (nq + 1)), wq = align64(ko + hb * (nk + 1)), wk = wq + hb, co = wk + hb, so = co + hb;
    this.ensure(so + hb);
    const { f32, fn } = this;
    f32.set(x.subarray(o, o + nq * hd), qo >> 2);
    f32.set(x.subarray(o + nq * hd, o + (nq + nk) * hd), ko >> 2);
    f32.set(cos.subarray(c, c + hd), co >> 2);
    f32.set(sin.subarray(c, c + hd), so >> 2);
    if (qNorm && kNorm) {
      f32.set(qNorm.subarray(0, hd), wq >> 2);
      f32.set(kNorm.subarray(0, hd), wk >> 2);
      this.runRms(qo, Math.ceil(nq / 2), hb, wq, eps, hd);
      this.runRms(ko, Math.ceil(nk / 2), hb, wk, eps, hd);
    }
    fn.rope(qo, nq, hb, co, so);
    fn.rope(ko, nk, hb, co, so);
    x.set(f32.subarray(qo >> 2, (qo >> 2) + nq * hd), o);
    x.set(f32.subarray(ko >> 2, (ko >> 2) + nk * hd), o + nq * hd);
  }

  /**
   * SwiGLU of M rows of gate / up (gu: per row I gate values then I up values) into act [M, I]:
   * ./decoder.ts's swiglu bit for bit (exp(-g) by Math.exp here, the rest in SIMD). I a multiple of 4.
   */
  swiglu(gu: Float32Array, M: number, I: number, act: Float32Array): void {
    // SWIGLU_ROWS rows a call: a prefill's thousands of rows would grow the memory by 20 bytes a value for good
    for (let m0 = 0; m0 < M; m0 += SWIGLU_ROWS) {
      const c = Math.min(SWIGLU_ROWS, M - m0);
      this.swigluRows(gu.subarray(m0 * 2 * I, (m0 + c) * 2 * I), c, I, act.subarray(m0 * I, (m0 + c) * I));
    }
  }

  private swigluRows(gu: Float32Array, M: number, I: number, act: Float32Array): void {
    const eo = 128, go = align64(eo + 8 * M * I), oo = align64(go + 8 * M * I);
    this.ensure(oo + 4 * M * I);
    const { f32, f64 } = this;
    f32.set(gu.subarray(0, 2 * M * I), go >> 2);
    for (let m = 0; m < M; m++) {
      const g0 = m * 2 * I, e0 = (eo >> 3) + m * I;
      for (let i = 0; i < I; i++) f64[e0 + i] = Math.exp(-gu[g0 + i]);
    }
    f64[14] = 1;
    this.fn.swiglu(eo, go, I, M, oo, 112);
    act.set(f32.subarray(oo >> 2, (oo >> 2) + M * I));
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

let shared: WasmOps | null | undefined;

/** This thread's WasmOps (created at the first call), or null where the engine has no WebAssembly SIMD. */
export function sharedWasmOps(): WasmOps | null {
  if (shared === undefined) shared = wasmOpsAvailable() ? new WasmOps() : null;
  return shared;
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

/** Whether `rms` takes groups of this size (a multiple of 4 values). */
export function rmsFits(dim: number): boolean {
  return dim >= 4 && dim % 4 === 0;
}

/** Whether `qkPrep` takes heads of this size (a multiple of 8 values: each half whole vectors). */
export function ropeFits(hd: number): boolean {
  return hd >= 8 && hd % 8 === 0;
}
