/**
 * A decoder of our own for the WASM backend: pure TypeScript plus our WebAssembly SIMD128 int8
 * kernel (../int8-gemv-wasm.ts), running an 8-bit hub-shaped decoder file (`model_quantized.onnx`
 * and its `_int8` / `_uint8` siblings, as src/core/lm/builder writes them; weights read by
 * ./weights.ts) for the Llama / Qwen2 / Qwen3 families of config.ts. `step` runs a batch of rows
 * (each with its new tokens, positions, cache slots and visible-slot mask, its own steering and
 * capping) in one pass; `forward` / `greedy` are one row over it with an `OwnCache`; ./session.ts
 * puts it behind the session seam for LmEngine.
 *
 * Numbers follow the optimum-style graph op by op, in float32 (each op's result rounded to float32;
 * sums inside an op in float64, then rounded once):
 *   - every linear is onnxruntime's dynamic quantisation exactly: DynamicQuantizeLinear over the
 *     whole [tokens, K] input of a row (in a batch, each row's tokens on their own, i.e. what the
 *     graph computes for the row alone; onnxruntime would quantise the whole [batch, seq, K]
 *     tensor, padding included, so that a row's numbers move with the other rows' by about 1/255
 *     of the range) (uint8, per tensor: scale = (max(0, max x) - min(0, min x)) / 255,
 *     zero point = round-half-even(clamp(-min / scale, 0, 255)), codes = clamp(rhe(x / scale) + zero)),
 *     MatMulInteger with exact integer sums, then float(sum) * (xs * ws) (+ bias). q/k/v share one
 *     quantisation of their input (as their three DynamicQuantizeLinear nodes compute the same one),
 *     and so do gate/up: they run as one fused linear each;
 *   - RMSNorm as Pow, ReduceMean, Add eps, Sqrt, Div(1, .), Mul, Mul weight; q/k norm per head (Qwen3);
 *   - RoPE rotate-half from float32 inv_freq (or the genai file's cos/sin caches); grouped-query
 *     attention with the causal mask; softmax as exp(s - max) * (1 / sum); SiLU as x * sigmoid(x).
 * So the only difference from onnxruntime is float rounding (summation order, exp/sigmoid/cos
 * approximations), except where an activation lands within that rounding of a quantisation step
 * (then one code differs and that linear's output moves by a step: 1e-3 to 2e-2 relative in the
 * logits on tiny models; onnxruntime's own builds and optimisation levels differ among themselves
 * in the same way, see session.test.ts refSession).
 *
 * The work between the linears runs on ./ops-wasm.ts's WebAssembly SIMD kernels by default
 * (OwnDecoderOptions.ops; 'js' runs this file's scalar code, the reference): DynamicQuantizeLinear,
 * RMSNorm, Qwen3's q/k norm with RoPE, attention and greedy's argmax there give the scalar code's
 * numbers bit for bit.
 *
 * Taps and steering at resid_post (the residual stream after block L), as the instrumented graph
 * (core/onnx/instrument.ts) does them: h <- h + steer[L]; h <- h + relu(cap_tau[L] - h.cap_axis[L]) cap_axis[L].
 */
import { DataError } from '../../errors';
import { int8GemvWasm, LOAD_STEP_BYTES } from '../int8-gemv-wasm';
import type { DecoderConfig } from '../config';
import { ropeInvFreq } from '../config';
import type { Interventions } from '../interventions';
import { argmax as firstArgmax } from '../sampling';
import type { ExternalFile } from '../../onnx/rewrite/externalize';
import { Linear, type KernelPool } from './linear';
import { findOwnWeights, linearShapes, readTotals, type OwnReadProgress, type OwnWeights, type PendingLinear, type QLinear } from './weights';
import { mapSteps, runSteps, runStepsAsync, type StepsOptions } from '../../steps';
import { attentionFits, exp32, rmsFits, ropeFits, sharedWasmOps, type WasmOps } from './ops-wasm';

const f = Math.fround;

/** Round half to even (onnxruntime's std::nearbyint under the default rounding mode). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface DynamicQuant {
  codes: Uint8Array;
  scale: number;
  zeroPoint: number;
}

/** onnxruntime's DynamicQuantizeLinear (uint8, one scale and zero point for the whole tensor). Non-finite input is refused. */
export function dynamicQuantizeLinear(x: Float32Array, codes: Uint8Array = new Uint8Array(x.length)): DynamicQuant {
  let mn = 0, mx = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < mn) mn = v;
    else if (v > mx) mx = v;
    else if (v !== v) throw new DataError('non-finite', 'An activation in the decoder is not a finite number (NaN).');
  }
  if (!Number.isFinite(mn) || !Number.isFinite(mx)) throw new DataError('non-finite', 'An activation in the decoder is not a finite number (overflow).');
  const scale = mx === mn ? 1 : f(f(mx - mn) / 255);
  const z0 = f(0 - f(mn / scale));
  const zeroPoint = roundHalfEven(Math.max(0, Math.min(255, z0)));
  for (let i = 0; i < x.length; i++) {
    const q = roundHalfEven(f(x[i] / scale)) + zeroPoint;
    codes[i] = q < 0 ? 0 : q > 255 ? 255 : q;
  }
  return { codes, scale, zeroPoint };
}

/**
 * RMSNorm (Pow, ReduceMean, Add eps, Sqrt, Div(1, .), Mul, Mul weight) over groups of `dim` values
 * of x into `out` (x itself allowed): the sum of squares in float64 in order, every op rounded to float32.
 */
export function rmsNorm(x: Float32Array, dim: number, w: Float32Array, eps: number, out: Float32Array): Float32Array {
  for (let o = 0; o < x.length; o += dim) {
    let ss = 0;
    for (let i = 0; i < dim; i++) { const v = x[o + i]; ss += f(v * v); }
    const inv = f(1 / f(Math.sqrt(f(f(f(ss) / dim) + eps))));
    for (let i = 0; i < dim; i++) out[o + i] = f(w[i] * f(x[o + i] * inv));
  }
  return out;
}

/** Rotate-half RoPE of the head at x[o ..] in place, with cos / sin at c .. c + hd (tmp: hd values of scratch). */
export function applyRope(x: Float32Array, o: number, hd: number, cos: Float32Array, sin: Float32Array, c: number, tmp: Float32Array): void {
  const half = hd / 2;
  for (let j = 0; j < hd; j++) tmp[j] = x[o + j];
  for (let j = 0; j < hd; j++) {
    const rot = j < half ? -tmp[j + half] : tmp[j - half];
    x[o + j] = f(f(tmp[j] * cos[c + j]) + f(rot * sin[c + j]));
  }
}

/** SiLU(gate) * up of M rows (gu: per row I gate values then I up values) into act [M, I]: x * sigmoid(x), sigmoid as 1 / (1 + exp(-x)). */
export function swiglu(gu: Float32Array, M: number, I: number, act: Float32Array): void {
  for (let m = 0; m < M; m++) {
    const g0 = m * 2 * I, u0 = g0 + I;
    for (let i = 0; i < I; i++) {
      const g = gu[g0 + i];
      const sig = f(1 / (1 + Math.exp(-g)));
      act[m * I + i] = f(f(g * sig) * gu[u0 + i]);
    }
  }
}

/** dynamicQuantizeLinear, or null where x holds a non-finite value (nothing thrown). */
function quantizeOrNull(x: Float32Array, codes: Uint8Array): DynamicQuant | null {
  let mn = 0, mx = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < mn) mn = v;
    else if (v > mx) mx = v;
    else if (v !== v) return null;
  }
  if (!Number.isFinite(mn) || !Number.isFinite(mx)) return null;
  return dynamicQuantizeLinear(x, codes);
}

interface Layer {
  qkv: Linear;
  o: Linear;
  gateUp: Linear;
  down: Linear;
  inNorm: Float32Array;
  postNorm: Float32Array;
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
}

/**
 * Where one row's keys and values live: per layer a buffer in [kvHeads, stride, headDim] layout from
 * `base` (slot j of head h at base + (h * stride + j) * headDim), keys after RoPE.
 */
export interface RowKv {
  keys: Float32Array[];
  values: Float32Array[];
  base: number;
  stride: number;
}

/** The KV cache of one row: per layer, keys (after RoPE) and values [kvHeads, capacity, headDim]. */
export class OwnCache implements RowKv {
  length = 0;
  keys: Float32Array[];
  values: Float32Array[];
  readonly base = 0;
  /** Slots per head (the capacity). */
  stride = 0;

  constructor(private readonly layers: number, private readonly heads: number, private readonly headDim: number) {
    this.keys = Array.from({ length: layers }, () => new Float32Array(0));
    this.values = Array.from({ length: layers }, () => new Float32Array(0));
  }

  /** Room for `total` tokens. */
  reserve(total: number): void {
    if (total <= this.stride) return;
    const cap = Math.max(total, this.stride * 2, 16);
    const { heads: H, headDim: D, stride: old, length: n } = this;
    const grow = (a: Float32Array) => {
      const b = new Float32Array(H * cap * D);
      for (let h = 0; h < H; h++) b.set(a.subarray(h * old * D, (h * old + n) * D), h * cap * D);
      return b;
    };
    for (let l = 0; l < this.layers; l++) {
      this.keys[l] = grow(this.keys[l]);
      this.values[l] = grow(this.values[l]);
    }
    this.stride = cap;
  }

  /** Forget everything from token `length` on (undo / edit). */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new DataError('own-cache', `The cache holds ${this.length} tokens; cannot truncate to ${length}.`);
    this.length = length;
  }
}

/** One row's steering and capping in graph-input form: steer [L, d], capAxis [L, d], capTau [L] (-Infinity = off). */
export interface RowInterventions {
  steer: Float32Array;
  capAxis: Float32Array;
  capTau: Float32Array;
}

/** One row of a batched step: its new tokens, their positions, their cache slots, what they see. */
export interface BatchRow {
  /** Token ids of the row's new tokens (at least one). */
  ids: ArrayLike<number>;
  /** Their positions (RoPE). */
  positions: ArrayLike<number>;
  /** Their slots in `kv` (where their keys and values are written), ascending. */
  slots: ArrayLike<number>;
  kv: RowKv;
  /**
   * Slots the row may attend to (1 = visible), at least up to its last new slot; null = all. A new
   * token at slot t sees slot j iff j <= t and (mask null or mask[j] = 1).
   */
  mask: Uint8Array | null;
  iv?: RowInterventions | null;
}

export interface BatchOptions {
  /** Return resid_post of every layer (after the interventions) and the cap's lift. */
  taps?: boolean;
  /**
   * 'all' (default): logits of every new token; 'last': each row's last token only (the lm_head's
   * input quantised on that token alone); 'rowLast': each row's last token only, bit for bit what
   * 'all' gives at that token (the lm_head's input quantised over the row's new tokens, as 'all'
   * does, then the lm_head run on the last one): a prefill's logits without the lm_head's cost
   * for every prompt token (at 45 prompt tokens a row, 4 layers, most of the prefill).
   */
  logits?: 'all' | 'last' | 'rowLast';
  /**
   * Buffers to write the outputs into instead of fresh arrays (each at least the size it needs; the
   * result's arrays are views of them from 0): a caller that reuses them saves allocating (and
   * the first touch of fresh pages of) ~600 KB of logits a row every step.
   */
  into?: { logits?: Float32Array; residPost?: Float32Array; capLift?: Float32Array };
}

export interface BatchResult {
  /** [tokens (rows for 'last'), vocab], the rows' tokens in order. */
  logits: Float32Array;
  /** [L, tokens, d], with taps. */
  residPost: Float32Array | null;
  /** [L, tokens], with taps: relu(cap_tau - h.cap_axis) at each layer (0 where the cap is off). */
  capLift: Float32Array | null;
  /**
   * Per row, the first layer whose resid_post (or an activation before it) was not finite, or -1.
   * Such a row stops being computed there: its later resid_post, lifts and its logits are NaN.
   */
  failedAt: Int32Array;
}

export interface OwnDecoderOptions {
  /** Threads for the linears (./linear.ts); without it every linear runs on the calling thread. */
  pool?: KernelPool;
  /**
   * The work between the linears: 'wasm' (default where the engine has WebAssembly SIMD) runs
   * DynamicQuantizeLinear, attention and greedy's argmax on ./ops-wasm.ts, bit for bit what 'js',
   * the scalar code of this file, computes (kept for A/B and as the tests' reference).
   */
  ops?: 'js' | 'wasm';
}

export interface ForwardOptions {
  /** Steering and capping (rows = 1), as for the instrumented graph. */
  interventions?: Interventions;
  /** Return resid_post of every layer (after the interventions). */
  taps?: boolean;
  /**
   * 'all' (default): logits of every fed token, the lm_head's input quantised over all of them as
   * the ONNX graph does; 'last': the last token's only (its own quantisation; the same at one token).
   */
  logits?: 'all' | 'last';
}

export interface ForwardResult {
  /** [rows, vocab]: every fed token, or the last one. */
  logits: Float32Array;
  /** Per layer [tokens, d], when asked for. */
  residPost?: Float32Array[];
}

export interface GreedyResult {
  ids: number[];
  prefillMs: number;
  decodeMs: number;
  /** Tokens after the first per second of decoding (the loop's own timer, as LmEngine reports it). */
  decodeTokensPerSecond: number;
}

/**
 * What a batched step uses of a linear when it has it (./linear.ts does not yet): y [M, N] for M
 * rows of uint8 codes, row m quantised on its own (its zero point and scale), in one call (the
 * kernel's multi-row passes), bit for bit what M one-row `run` calls give. Without it a batch of
 * rows runs one `run` call per row.
 */
export interface RowsLinear {
  runRows(codes: Uint8Array, zeroPoints: Int32Array, scales: Float32Array, M: number, out: Float32Array): Float32Array;
}

/** Scratch buffers of a step, kept between steps (grown, never shrunk). */
interface Work {
  M: number;
  h: Float32Array;
  xn: Float32Array;
  codes: Uint8Array;
  qkv: Float32Array;
  attn: Float32Array;
  gu: Float32Array;
  act: Float32Array;
  tmpO: Float32Array;
  scores: Float64Array;
  /** Per token: its row's activation zero point and scale (the batched linears). */
  rowZero: Int32Array;
  rowScale: Float32Array;
  /** Each row's last token of h ('last' logits). */
  last: Float32Array;
  /** The wasm attention's visible slots of a row, and per new token how many of them it sees. */
  idx: Int32Array;
  seen: Int32Array;
  /** Each token's RoPE cos / sin [M, hd] (one per step, not per layer). */
  cos: Float32Array;
  sin: Float32Array;
}

const F32_MAX = 3.4028234663852886e38;

/**
 * Phases of a step that `setStepProfile` times (ms summed into the array at these indices).
 * 'attn_prep' is the attention's q/k norm, RoPE and KV writes; 'attention' the scores, softmax and
 * weighted sum (with the wasm path's loads of the row's keys and values).
 */
export const STEP_PHASES = ['embed_rope', 'rms', 'quantize', 'qkv', 'attention', 'o', 'residual', 'gate_up', 'swiglu', 'down', 'intervene', 'lm_head', 'attn_prep', 'step', 'steps'] as const;
const PH_PREP = 12, PH_STEP = 13, PH_STEPS = 14;
let stepProfile: Float64Array | null = null;
/** Time every decode step's (one token a row) phases into `p` (STEP_PHASES.length entries, summed; the last counts steps), or stop (null). For benches. */
export function setStepProfile(p: Float64Array | null): void {
  stepProfile = p;
}

/**
 * The attention's numerics: 'f32' (default) float32 throughout (attendScalar; ./ops-wasm.ts
 * `attend`), 'f64' the earlier float64 sums (`attendF64`), kept for bench/attention.bench.ts's A/B.
 * Both paths (js, wasm) follow it, so they stay the same bit for bit either way.
 */
let attentionPath: 'f32' | 'f64' = 'f32';
/** Select the attention's numerics for later steps (for benches; see attentionPath). */
export function setAttentionPath(p: 'f32' | 'f64'): void {
  attentionPath = p;
}

/**
 * One query head's attention (q at qo, hd values) over the slots idx[0 .. n) of K / V (slot u at
 * kvo + u * hd) into out at ao, in float32 as ./ops-wasm.ts's kernels compute it: each dot summed
 * in 4 lanes of dimensions (lane r: j = r mod 4, in order, f32(a + f32(q k))), then
 * f32(f32(l0 + l2) + f32(l1 + l3)), s = f32(dot * scale); e = exp32(f32(s - max)), their sum in 4
 * lanes of slots (the k-th of idx in lane k mod 4) combined the same way, inv = f32(1 / sum);
 * out = f32(acc * inv), acc = sum_k f32(e_k v_k) in slot order. n = 0 gives zeros. `e` (n values)
 * and `acc` (hd values) are scratch.
 */
export function attendScalar(q: Float32Array, qo: number, K: Float32Array, V: Float32Array, kvo: number, hd: number, idx: ArrayLike<number>, n: number, scale: number, e: Float64Array, acc: Float64Array, out: Float32Array, ao: number): void {
  if (n === 0) {
    out.fill(0, ao, ao + hd);
    return;
  }
  const h4 = hd & ~3;
  let max = -Infinity;
  for (let k = 0; k < n; k++) {
    const ko = kvo + idx[k] * hd;
    let l0 = 0, l1 = 0, l2 = 0, l3 = 0, i = 0;
    for (; i < h4; i += 4) {
      l0 = f(l0 + f(q[qo + i] * K[ko + i]));
      l1 = f(l1 + f(q[qo + i + 1] * K[ko + i + 1]));
      l2 = f(l2 + f(q[qo + i + 2] * K[ko + i + 2]));
      l3 = f(l3 + f(q[qo + i + 3] * K[ko + i + 3]));
    }
    // a head size that is not a multiple of 4 (the JavaScript path only): the rest's lanes as if padded with 0
    if (i < hd) l0 = f(l0 + f(q[qo + i] * K[ko + i]));
    if (i + 1 < hd) l1 = f(l1 + f(q[qo + i + 1] * K[ko + i + 1]));
    if (i + 2 < hd) l2 = f(l2 + f(q[qo + i + 2] * K[ko + i + 2]));
    const s = f(f(f(l0 + l2) + f(l1 + l3)) * scale);
    e[k] = s;
    max = Math.max(max, s);
  }
  const lanes = [0, 0, 0, 0];
  for (let k = 0; k < n; k++) {
    const x = exp32(f(e[k] - max));
    e[k] = x;
    lanes[k & 3] = f(lanes[k & 3] + x);
  }
  const inv = f(1 / f(f(lanes[0] + lanes[2]) + f(lanes[1] + lanes[3])));
  acc.fill(0, 0, hd);
  for (let k = 0; k < n; k++) {
    const p = e[k], vo = kvo + idx[k] * hd;
    for (let i = 0; i < hd; i++) acc[i] = f(acc[i] + f(p * V[vo + i]));
  }
  for (let i = 0; i < hd; i++) out[ao + i] = f(acc[i] * inv);
}

/**
 * How far opening a decoder got: linears read and built of all (q/k/v and gate/up count one each,
 * fused), and their weight bytes. A linear's steps lay its codes out from the file's bytes and
 * build it, at most LOAD_STEP_BYTES of codes' work a step (see linearSteps): a linear of more
 * (the lm_head) takes several, `linearsDone` counting it once its last is done and `bytesDone`
 * growing within it (its laying out counting half its bytes, its build the other half). The file's
 * parse and checks come with the first step after progress 0.
 */
export type OwnOpenProgress = OwnReadProgress;

export interface OwnOpenOptions extends OwnDecoderOptions, StepsOptions<OwnOpenProgress> {
  /** Most codes (bytes) laid out or loaded a step (default LOAD_STEP_BYTES; tests pass a few hundred). */
  stepBytes?: number;
}

/** A decoder's linears, built (the constructor's or linearSteps'). */
export interface OwnLinears {
  layers: Pick<Layer, 'qkv' | 'o' | 'gateUp' | 'down'>[];
  lmHead: Linear;
  /** Bytes of weight codes held in the kernels' memories (every linear's N x K). */
  weightBytes: number;
}

/** What opening a decoder for `cfg` will build: its linears and their weight bytes (from the config's shapes, which findOwnWeights checks the file against). */
function openTotals(cfg: DecoderConfig): { linears: number; bytes: number } {
  return { linears: 4 * cfg.numLayers + 1, bytes: readTotals(cfg).bytes };
}

/**
 * Build the decoder's linears (their codes into the kernels' memories: this thread's arena and the
 * pool's helpers); `take(key)` gives a part's codes [N, K], or a linear found in the file that lays
 * them out (and lets go of them). A linear of at most `stepBytes` codes is one step (laid out and
 * built); a bigger one is laid out `stepBytes` a step, then built `stepBytes` a step (Linear.build),
 * `linearsDone` unchanged until its last step.
 */
function* linearSteps(cfg: DecoderConfig, take: (key: string) => QLinear | PendingLinear, pool?: KernelPool, stepBytes = LOAD_STEP_BYTES): Generator<OwnOpenProgress, OwnLinears, void> {
  // one int8 arena for all this decoder's linears: a WebAssembly memory per kernel module, not one per linear
  const arena = int8GemvWasm()?.arena();
  const { linears, bytes } = openTotals(cfg);
  const shapes = linearShapes(cfg);
  let done = 0, weightBytes = 0;
  /** One linear (parts fused along N), then its last step's progress. */
  function* build(...keys: string[]): Generator<OwnOpenProgress, Linear, void> {
    /** Progress within this linear: `b` of twice its codes (laid out, then built). */
    const at = (b: number): OwnOpenProgress => ({ linearsDone: done, linears, bytesDone: weightBytes + Math.floor(b / 2), bytes });
    const big = keys.reduce((a, k) => a + shapes.get(k)![0] * shapes.get(k)![1], 0) > stepBytes;
    const parts: QLinear[] = [];
    let laid = 0;
    for (const key of keys) {
      if (big && laid > 0) yield at(laid);
      const p = take(key);
      const q = 'codes' in p ? p : yield* mapSteps(p.layOutSteps(stepBytes), (c) => at(laid + c));
      parts.push(q);
      laid += q.N * q.K;
    }
    if (big) yield at(laid);
    const lin = yield* mapSteps(Linear.build(parts, pool, arena, stepBytes), (p) => at(p.codes + p.codesDone));
    weightBytes += lin.N * lin.K;
    yield { linearsDone: ++done, linears, bytesDone: weightBytes, bytes };
    return lin;
  }
  const layers: OwnLinears['layers'] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `layers.${i}.`;
    const qkv = yield* build(p + 'q', p + 'k', p + 'v');
    const o = yield* build(p + 'o');
    const gateUp = yield* build(p + 'gate', p + 'up');
    layers.push({ qkv, o, gateUp, down: yield* build(p + 'down') });
  }
  const lmHead = yield* build('lm_head');
  return { layers, lmHead, weightBytes };
}

/** A linear out of `linears` (it no longer holds it). */
function taker<T>(linears: Map<string, T>): (key: string) => T {
  return (key) => {
    const q = linears.get(key)!;
    linears.delete(key);
    return q;
  };
}

/**
 * Open a decoder: progress 0; the file parsed and checked (findOwnWeights: every FormatError
 * before any linear is built); then linearSteps, each step laying its linear's codes out [N, K]
 * from the file's bytes before building it (so reading's transposing copies are spread over the
 * steps, and only one linear's copy is held at a time).
 */
function* openSteps(onnx: Uint8Array, cfg: DecoderConfig, externalData: ExternalFile[] | undefined, options: OwnDecoderOptions & Pick<OwnOpenOptions, 'stepBytes'>): Generator<OwnOpenProgress, OwnDecoder, void> {
  const { linears, bytes } = openTotals(cfg);
  yield { linearsDone: 0, linears, bytesDone: 0, bytes };
  const found = findOwnWeights(onnx, cfg, externalData);
  const built = yield* linearSteps(cfg, taker(found.linears), options.pool, options.stepBytes);
  return new OwnDecoder(cfg, { ...found, linears: new Map() }, options, built);
}

export class OwnDecoder {
  private readonly layers: Layer[];
  private readonly lmHead: Linear;
  private readonly finalNorm: Float32Array;
  private readonly invFreq: Float32Array;
  private readonly ropeCache: { cos: Float32Array; sin: Float32Array; rows: number } | null;
  private readonly eps: number;
  /** Bytes of weight codes held in the kernels' memories (every linear's N x K). */
  readonly weightBytes: number;
  private work: Work | null = null;
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;
  private readonly ropeTmp: Float32Array;
  private readonly acc: Float64Array;
  /** Which code runs the work between the linears (OwnDecoderOptions.ops; 'js' where there is no SIMD). */
  readonly ops: 'js' | 'wasm';
  private readonly wasm: WasmOps | null;

  /** `linears`: the linears `linearSteps` built (fromOnnxAsync); without them they are built here, at once. */
  constructor(readonly cfg: DecoderConfig, private readonly w: OwnWeights, options: OwnDecoderOptions = {}, linears?: OwnLinears) {
    const built = linears ?? runSteps(linearSteps(cfg, taker(w.linears), options.pool));
    this.weightBytes = built.weightBytes;
    const n = (k: string) => w.norms.get(k)!;
    this.layers = built.layers.map((lin, i) => ({
      ...lin,
      inNorm: n(`model.layers.${i}.input_layernorm.weight`),
      postNorm: n(`model.layers.${i}.post_attention_layernorm.weight`),
      qNorm: cfg.qkNorm ? n(`model.layers.${i}.self_attn.q_norm.weight`) : null,
      kNorm: cfg.qkNorm ? n(`model.layers.${i}.self_attn.k_norm.weight`) : null,
    }));
    this.lmHead = built.lmHead;
    this.finalNorm = n('model.norm.weight');
    const r = w.rotary;
    this.invFreq = r && 'invFreq' in r ? r.invFreq : Float32Array.from(ropeInvFreq(cfg));
    this.ropeCache = r && 'cos' in r ? r : null;
    this.eps = f(cfg.rmsNormEps);
    const hd = cfg.headDim;
    this.cos = new Float32Array(hd);
    this.sin = new Float32Array(hd);
    this.ropeTmp = new Float32Array(hd);
    this.acc = new Float64Array(hd);
    this.wasm = (options.ops ?? 'wasm') === 'wasm' ? sharedWasmOps() : null;
    this.ops = this.wasm ? 'wasm' : 'js';
    // the codes now live in the kernels' memories
    w.linears.clear();
  }

  /** Read an 8-bit decoder file (and its external data) for `cfg`. */
  static fromOnnx(onnx: Uint8Array, cfg: DecoderConfig, externalData?: ExternalFile[], options: OwnDecoderOptions = {}): OwnDecoder {
    return runSteps(openSteps(onnx, cfg, externalData, options));
  }

  /**
   * fromOnnx in steps (the same steps, see openSteps), the event loop's turn after each: progress
   * before reading the file and after each linear (its codes laid out from the file and built), and
   * within a linear of more than `stepBytes` codes (see OwnOpenProgress), a cancel seen between them (an AbortError; what was built is dropped: a pool's helpers keep their
   * slices until the caller closes the pool). Parsing and checking the file comes with the first
   * linear's step.
   */
  static fromOnnxAsync(onnx: Uint8Array, cfg: DecoderConfig, externalData?: ExternalFile[], options: OwnOpenOptions = {}): Promise<OwnDecoder> {
    return runStepsAsync(openSteps(onnx, cfg, externalData, options), options, 'Opening the model on our int8 decoder was cancelled.');
  }

  newCache(): OwnCache {
    return new OwnCache(this.cfg.numLayers, this.cfg.numKvHeads, this.cfg.headDim);
  }

  /** Positions the file's rotary tables cover (the config's max_position_embeddings, or fewer for a genai cos/sin cache). */
  get maxPosition(): number {
    return Math.min(this.cfg.maxPositionEmbeddings, this.ropeCache ? this.ropeCache.rows : Infinity);
  }

  /** RMSNorm over groups of `dim` values into `out` (x itself allowed): rmsNorm, on ./ops-wasm.ts where it runs. */
  private rms(x: Float32Array, dim: number, w: Float32Array, out: Float32Array): Float32Array {
    if (this.wasm && rmsFits(dim)) return this.wasm.rms(x, dim, w, this.eps, out);
    return rmsNorm(x, dim, w, this.eps, out);
  }

  /** cos / sin [hd] of one position. */
  private rope(pos: number, cos: Float32Array, sin: Float32Array): void {
    const half = this.cfg.headDim / 2;
    const rc = this.ropeCache;
    if (rc) {
      if (pos >= rc.rows) throw new DataError('own-position', `Position ${pos} is past the file's rotary cache (${rc.rows} positions).`);
      for (let i = 0; i < half; i++) {
        cos[i] = cos[i + half] = rc.cos[pos * half + i];
        sin[i] = sin[i + half] = rc.sin[pos * half + i];
      }
      return;
    }
    for (let i = 0; i < half; i++) {
      const a = f(pos * this.invFreq[i]);
      cos[i] = cos[i + half] = f(Math.cos(a));
      sin[i] = sin[i + half] = f(Math.sin(a));
    }
  }

  private workFor(M: number): Work {
    const w = this.work;
    if (w && w.M >= M) return w;
    const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: I } = this.cfg;
    const qDim = H * hd, kvDim = KV * hd;
    const m = Math.max(M, w ? w.M * 2 : 1);
    this.work = {
      M: m,
      h: new Float32Array(m * d),
      xn: new Float32Array(m * d),
      codes: new Uint8Array(m * Math.max(d, I, qDim)),
      qkv: new Float32Array(m * (qDim + 2 * kvDim)),
      attn: new Float32Array(m * qDim),
      gu: new Float32Array(m * 2 * I),
      act: new Float32Array(m * I),
      tmpO: new Float32Array(m * d),
      scores: new Float64Array(0),
      rowZero: new Int32Array(m),
      rowScale: new Float32Array(m),
      last: new Float32Array(m * d),
      idx: w ? w.idx : new Int32Array(0),
      seen: new Int32Array(m),
      cos: new Float32Array(m * hd),
      sin: new Float32Array(m * hd),
    };
    return this.work;
  }

  /**
   * One batched step: every row's new tokens go through the model together; each linear runs over
   * the rows' tokens with each row's activations quantised on their own (DynamicQuantizeLinear
   * over that row's new tokens, exactly what the ONNX graph computes for the row alone), so a row's
   * numbers do not depend on the other rows of the batch. Attention, steering and capping per row.
   * Keys and values of the new tokens are written into each row's `kv` at its `slots`.
   * Ids and positions are not checked here (see forward and ./session.ts).
   */
  step(rows: readonly BatchRow[], options: BatchOptions = {}): BatchResult {
    return this.run(rows, options, null);
  }

  /** step, the logits written into `into` (R x vocab) where given (greedy's reused buffer), else a fresh array. */
  private run(rows: readonly BatchRow[], options: BatchOptions, into: Float32Array | null): BatchResult {
    const { cfg } = this;
    const d = cfg.hiddenSize, H = cfg.numHeads, KV = cfg.numKvHeads, hd = cfg.headDim, I = cfg.intermediateSize, V = cfg.vocabSize;
    const nL = cfg.numLayers;
    const B = rows.length;
    const start = new Int32Array(B + 1);
    for (let b = 0; b < B; b++) {
      const k = rows[b].ids.length;
      if (k === 0 || rows[b].positions.length !== k || rows[b].slots.length !== k) throw new DataError('own-empty', `Row ${b} of the step has no tokens, or its positions or slots do not match them.`);
      start[b + 1] = start[b] + k;
    }
    const M = start[B];
    const P = stepProfile && M === B ? stepProfile : null; // decode steps only (one token a row)
    const tStep = P ? performance.now() : 0;
    let tp = tStep;
    const mark = P ? (k: number) => { const n = performance.now(); P[k] += n - tp; tp = n; } : null;
    const wk = this.workFor(M);
    const h = wk.h.subarray(0, M * d), xn = wk.xn.subarray(0, M * d);
    const qDim = H * hd, kvDim = KV * hd, width = qDim + 2 * kvDim;
    const qkv = wk.qkv, attn = wk.attn, gu = wk.gu, act = wk.act, tmpO = wk.tmpO, codes = wk.codes;
    const cos = wk.cos, sin = wk.sin, tmp = this.ropeTmp, acc = this.acc;
    const scale = f(1 / Math.sqrt(hd));
    const group = H / KV;
    const taps = !!options.taps;
    const bufs = options.into;
    const residPost = taps ? (bufs?.residPost ? bufs.residPost.subarray(0, nL * M * d) : new Float32Array(nL * M * d)) : null;
    // lifts are written only where a cap is on: a reused buffer starts at 0 as a fresh one does
    const capLift = taps ? (bufs?.capLift ? bufs.capLift.subarray(0, nL * M).fill(0) : new Float32Array(nL * M)) : null;
    if (bufs && ((residPost && residPost.length < nL * M * d) || (capLift && capLift.length < nL * M))) throw new DataError('own-into', 'The buffers given for resid_post or cap_lift are too small for this step.');
    const failedAt = new Int32Array(B).fill(-1);
    const alive = (b: number) => failedAt[b] < 0;

    // embedding
    const e = this.w.embedding;
    for (let b = 0; b < B; b++) {
      const ids = rows[b].ids;
      for (let t = 0; t < ids.length; t++) {
        const m = start[b] + t, row = ids[t] * d;
        if ('table' in e) h.set(e.table.subarray(row, row + d), m * d);
        else for (let i = 0; i < d; i++) h[m * d + i] = f((e.codes[row + i] - e.zeroPoint) * e.scale);
      }
    }

    // RoPE tables of every new token, for all layers
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < rows[b].ids.length; t++) {
        const m = start[b] + t;
        this.rope(rows[b].positions[t], this.cos, this.sin);
        cos.set(this.cos, m * hd);
        sin.set(this.sin, m * hd);
      }
    }

    mark?.(0);
    const rowZero = wk.rowZero, rowScale = wk.rowScale;
    const wasm = this.wasm;
    const quantize = wasm ? (x: Float32Array, c: Uint8Array) => wasm.quantize(x, c) : quantizeOrNull;
    const quants: (DynamicQuant | null)[] = [];
    /**
     * DynamicQuantizeLinear of x per row (x's rows [at[b], at[b + 1]) are row b's) into `codes`, with
     * each token's row zero point and scale in rowZero / rowScale and each row's in `quants`; a row
     * whose input is not finite fails at `layer`. Whether every row was quantised.
     */
    const quantizeRows = (x: Float32Array, K: number, layer: number, at: Int32Array): boolean => {
      quants.length = 0;
      let all = true;
      for (let b = 0; b < B; b++) {
        const s0 = at[b], s1 = at[b + 1];
        const q = alive(b) ? quantize(x.subarray(s0 * K, s1 * K), codes.subarray(s0 * K, s1 * K)) : null;
        if (!q && alive(b)) failedAt[b] = layer;
        quants.push(q);
        if (!q) { all = false; continue; }
        rowZero.fill(q.zeroPoint, s0, s1);
        rowScale.fill(q.scale, s0, s1);
      }
      return all;
    };
    /** y = lin of quantizeRows' rows (one kernel call over every token when `all` were quantised). */
    const runQuantized = (lin: Linear, K: number, out: Float32Array, at: Int32Array, all: boolean) => {
      const M = at[B];
      const rowsLinear = lin as Linear & Partial<RowsLinear>;
      if (B > 1 && all && rowsLinear.runRows) {
        // one call over every token, each row with its own quantisation (the kernel sees M rows)
        rowsLinear.runRows(codes.subarray(0, M * K), rowZero, rowScale, M, out.subarray(0, M * lin.N));
        return;
      }
      for (let b = 0; b < B; b++) {
        const q = quants[b];
        if (q) lin.run(q, at[b + 1] - at[b], out.subarray(at[b] * lin.N, at[b + 1] * lin.N) as Float32Array<ArrayBuffer>);
      }
    };
    /** y = lin(x) per row (x's rows [at[b], at[b + 1]) are row b's); a row whose input is not finite fails at `layer`. */
    const linear = (lin: Linear, x: Float32Array, K: number, out: Float32Array, layer: number, at = start) => {
      const all = quantizeRows(x, K, layer, at);
      mark?.(2);
      runQuantized(lin, K, out, at, all);
    };

    for (let l = 0; l < nL; l++) {
      const L = this.layers[l];
      this.rms(h, d, L.inNorm, xn);
      mark?.(1);
      linear(L.qkv, xn, d, qkv, l);
      mark?.(3);
      for (let b = 0; b < B; b++) {
        if (!alive(b)) continue;
        const row = rows[b], kv = row.kv;
        const Kc = kv.keys[l], Vc = kv.values[l], base = kv.base, stride = kv.stride;
        for (let t = 0; t < row.ids.length; t++) {
          const m = start[b] + t, o = m * width;
          if (wasm && ropeFits(hd)) wasm.qkPrep(qkv, o, H, KV, hd, L.qNorm, L.kNorm, this.eps, cos, sin, m * hd);
          else {
            if (L.qNorm) {
              const qs = qkv.subarray(o, o + qDim);
              this.rms(qs, hd, L.qNorm, qs);
              const ks = qkv.subarray(o + qDim, o + qDim + kvDim);
              this.rms(ks, hd, L.kNorm!, ks);
            }
            for (let hh = 0; hh < H; hh++) applyRope(qkv, o + hh * hd, hd, cos, sin, m * hd, tmp);
            for (let hh = 0; hh < KV; hh++) applyRope(qkv, o + qDim + hh * hd, hd, cos, sin, m * hd, tmp);
          }
          const slot = row.slots[t];
          for (let hh = 0; hh < KV; hh++) {
            const dst = base + (hh * stride + slot) * hd;
            Kc.set(qkv.subarray(o + qDim + hh * hd, o + qDim + (hh + 1) * hd), dst);
            Vc.set(qkv.subarray(o + qDim + kvDim + hh * hd, o + qDim + kvDim + (hh + 1) * hd), dst);
          }
        }
      }
      mark?.(PH_PREP);
      // attention (every row's keys and values are written: a row reads only its own)
      for (let b = 0; b < B; b++) {
        if (!alive(b)) continue;
        const row = rows[b], kv = row.kv;
        const Kc = kv.keys[l], Vc = kv.values[l], base = kv.base, stride = kv.stride;
        // the token at slot s sees the visible slots j <= s
        const mask = row.mask;
        const T = row.ids.length, visible = row.slots[T - 1] + 1;
        if (wk.idx.length < visible) wk.idx = new Int32Array(Math.max(visible, wk.idx.length * 2, 64));
        const idx = wk.idx, seen = wk.seen;
        let n = 0;
        for (let u = 0; u < visible; u++) if (!mask || mask[u]) idx[n++] = u;
        for (let t = 0, j = 0; t < T; t++) {
          while (j < n && idx[j] <= row.slots[t]) j++;
          seen[t] = j;
        }
        const f64 = attentionPath === 'f64';
        if (wasm && attentionFits(hd) && n > 0) {
          for (let kh = 0; kh < KV; kh++) {
            wasm.loadKv(Kc, Vc, base + kh * stride * hd, visible, hd, idx, n);
            // the group's query heads together (they share the key and value loads)
            for (let t = 0; t < T; t++) {
              const m = start[b] + t, ao = m * qDim + kh * group * hd;
              if (seen[t] === 0) attn.fill(0, ao, ao + group * hd);
              else if (f64) wasm.attendF64(qkv, m * width + kh * group * hd, group, seen[t], scale, attn, ao);
              else wasm.attend(qkv, m * width + kh * group * hd, group, seen[t], scale, attn, ao);
            }
          }
          continue;
        }
        if (!f64) {
          if (wk.scores.length < n) wk.scores = new Float64Array(Math.max(n, wk.scores.length * 2, 64));
          for (let t = 0; t < T; t++) {
            const m = start[b] + t;
            for (let hh = 0; hh < H; hh++) attendScalar(qkv, m * width + hh * hd, Kc, Vc, base + Math.floor(hh / group) * stride * hd, hd, idx, seen[t], scale, wk.scores, acc, attn, m * qDim + hh * hd);
          }
          continue;
        }
        for (let t = 0; t < row.ids.length; t++) {
          const m = start[b] + t;
          const visible = row.slots[t] + 1;
          if (wk.scores.length < visible) wk.scores = new Float64Array(Math.max(visible, wk.scores.length * 2, 64));
          const scores = wk.scores;
          for (let hh = 0; hh < H; hh++) {
            const qo = m * width + hh * hd;
            const kvo = base + Math.floor(hh / group) * stride * hd;
            let max = -Infinity;
            for (let u = 0; u < visible; u++) {
              if (mask && !mask[u]) continue;
              const ko = kvo + u * hd;
              let a = 0;
              for (let i = 0; i < hd; i++) a += qkv[qo + i] * Kc[ko + i];
              const s = f(f(a) * scale);
              scores[u] = s;
              if (s > max) max = s;
            }
            let sum = 0;
            for (let u = 0; u < visible; u++) {
              if (mask && !mask[u]) continue;
              const ex = f(Math.exp(f(scores[u] - max)));
              scores[u] = ex;
              sum += ex;
            }
            const inv = f(1 / f(sum));
            acc.fill(0);
            for (let u = 0; u < visible; u++) {
              if (mask && !mask[u]) continue;
              const p = f(scores[u] * inv);
              const vo = kvo + u * hd;
              for (let i = 0; i < hd; i++) acc[i] += p * Vc[vo + i];
            }
            const ao = m * qDim + hh * hd;
            for (let i = 0; i < hd; i++) attn[ao + i] = f(acc[i]);
          }
        }
      }
      mark?.(4);
      linear(L.o, attn.subarray(0, M * qDim), qDim, tmpO, l);
      mark?.(5);
      for (let i = 0; i < M * d; i++) h[i] = f(h[i] + tmpO[i]); // resid_mid
      mark?.(6);
      this.rms(h, d, L.postNorm, xn);
      mark?.(1);
      linear(L.gateUp, xn, d, gu, l);
      mark?.(7);
      if (wasm && I % 4 === 0) wasm.swiglu(gu, M, I, act);
      else swiglu(gu, M, I, act);
      mark?.(8);
      linear(L.down, act.subarray(0, M * I), I, tmpO, l);
      mark?.(9);
      for (let i = 0; i < M * d; i++) h[i] = f(h[i] + tmpO[i]); // resid_post
      mark?.(6);
      for (let b = 0; b < B; b++) {
        const s0 = start[b], s1 = start[b + 1];
        if (!alive(b)) {
          // failed earlier (or in this layer's linears): nothing here is its resid_post
          if (residPost) {
            residPost.fill(NaN, (l * M + s0) * d, (l * M + s1) * d);
            capLift!.fill(NaN, l * M + s0, l * M + s1);
          }
          continue;
        }
        const iv = rows[b].iv;
        if (iv) this.intervene(h, s0, s1, l, iv, capLift ? capLift.subarray(l * M, (l + 1) * M) : null);
        if (residPost) residPost.set(h.subarray(s0 * d, s1 * d), (l * M + s0) * d);
        for (let i = s0 * d; i < s1 * d; i++) {
          if (!(Math.abs(h[i]) <= F32_MAX)) { failedAt[b] = l; break; }
        }
      }
      mark?.(10);
    }

    const last = options.logits === 'last', rowLast = options.logits === 'rowLast';
    const R = last || rowLast ? B : M;
    const given = into ?? bufs?.logits ?? null;
    if (given && given.length < R * V) throw new DataError('own-into', `The logits buffer holds ${given.length} values; this step makes ${R * V}.`);
    const logits = given ? given.subarray(0, R * V) : new Float32Array(R * V);
    const at = last || rowLast ? Int32Array.from({ length: B + 1 }, (_, b) => b) : start;
    if (rowLast) {
      // every token normed and each row quantised over its tokens, as for 'all'; the lm_head then
      // runs on each row's last token's codes with its row's zero point and scale (a row of the
      // kernel's output depends only on its own codes, zero point and scale: the same bits)
      const hn = this.rms(h, d, this.finalNorm, xn.subarray(0, M * d));
      mark?.(1);
      const all = quantizeRows(hn, d, nL - 1, start);
      mark?.(2);
      // row b's last token's codes, zero point and scale moved to row b's place (b <= its last
      // token's index, and every later row's last token lies past b: nothing is overwritten unread)
      for (let b = 0; b < B; b++) {
        const q = quants[b];
        if (!q) continue;
        codes.copyWithin(b * d, (start[b + 1] - 1) * d, start[b + 1] * d);
        rowZero[b] = q.zeroPoint;
        rowScale[b] = q.scale;
        quants[b] = { ...q, codes: codes.subarray(b * d, (b + 1) * d) };
      }
      runQuantized(this.lmHead, d, logits, at, all);
    } else {
      const hn = this.rms(last ? gatherLast(h, start, d, wk.last) : h, d, this.finalNorm, xn.subarray(0, R * d));
      mark?.(1);
      linear(this.lmHead, hn, d, logits, nL - 1, at);
    }
    for (let b = 0; b < B; b++) if (failedAt[b] >= 0) logits.fill(NaN, at[b] * V, at[b + 1] * V);
    if (P) {
      mark!(11);
      P[PH_STEP] += performance.now() - tStep;
      P[PH_STEPS]++;
    }
    return { logits, residPost, capLift, failedAt };
  }

  /**
   * Feed `ids` (positions cache.length ..), appending to the cache; logits (and taps) for them.
   * Throws a DataError on non-finite activations and on positions past max_position_embeddings.
   */
  forward(ids: readonly number[], cache: OwnCache, options: ForwardOptions = {}): ForwardResult {
    return this.forwardInto(ids, cache, options, null);
  }

  private forwardInto(ids: readonly number[], cache: OwnCache, options: ForwardOptions, into: Float32Array | null): ForwardResult {
    const { cfg } = this;
    const S = ids.length;
    const d = cfg.hiddenSize, V = cfg.vocabSize;
    const past = cache.length, T = past + S;
    if (S === 0) throw new DataError('own-empty', 'No tokens to feed.');
    if (T > cfg.maxPositionEmbeddings) throw new DataError('too-long', `The sequence would be ${T} tokens, more than the model's ${cfg.maxPositionEmbeddings}.`);
    for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new DataError('bad-token', `Token id ${id} is outside the vocabulary (0 to ${V - 1}).`);
    const iv = options.interventions;
    if (iv && (iv.numLayers !== cfg.numLayers || iv.hiddenSize !== d)) throw new DataError('own-interventions', `The interventions are for ${iv.numLayers} layers of ${iv.hiddenSize}; the model has ${cfg.numLayers} of ${d}.`);
    cache.reserve(T);
    const slots = Array.from({ length: S }, (_, t) => past + t);
    const r = this.run([{ ids, positions: slots, slots, kv: cache, mask: null, iv }], { taps: options.taps, logits: options.logits }, into);
    if (r.failedAt[0] >= 0) throw new DataError('non-finite', `The residual stream after layer ${r.failedAt[0]} is not finite (steering too strong?).`);
    cache.length = T;
    const res: ForwardResult = { logits: r.logits };
    if (r.residPost) res.residPost = Array.from({ length: cfg.numLayers }, (_, l) => r.residPost!.subarray(l * S * d, (l + 1) * S * d));
    return res;
  }

  /**
   * Steering, then capping, at resid_post[layer] of tokens [s0, s1), as the instrumented graph
   * computes them (core/onnx/instrument.ts, in its float32 order): h <- h + steer; lift =
   * relu(tau - h.axis); h <- h + lift axis. `lift` [tokens] receives the lifts (0 where tau = -Infinity).
   */
  private intervene(h: Float32Array, s0: number, s1: number, layer: number, iv: RowInterventions, lift: Float32Array | null): void {
    const d = this.cfg.hiddenSize, o = layer * d;
    const steer = iv.steer.subarray(o, o + d), axis = iv.capAxis.subarray(o, o + d), tau = iv.capTau[layer];
    let steering = false;
    for (let i = 0; i < d; i++) if (steer[i] !== 0) { steering = true; break; }
    let axisOn = false;
    for (let i = 0; i < d; i++) if (axis[i] !== 0) { axisOn = true; break; }
    const capping = tau !== -Infinity;
    for (let t = s0; t < s1; t++) {
      const r = t * d;
      if (steering) for (let i = 0; i < d; i++) h[r + i] = f(h[r + i] + steer[i]);
      if (capping) {
        let p = 0;
        if (axisOn) for (let i = 0; i < d; i++) p += h[r + i] * axis[i];
        const push = f(tau - f(p));
        const up = push > 0 ? push : push !== push ? push : 0;
        if (lift) lift[t] = up;
        if (up > 0 && axisOn) for (let i = 0; i < d; i++) h[r + i] = f(h[r + i] + f(up * axis[i]));
      }
    }
  }

  /** Greedy generation of `n` new tokens after `prompt` (a fresh cache). */
  greedy(prompt: readonly number[], n: number, options: Pick<ForwardOptions, 'interventions'> & { stopIds?: readonly number[] } = {}): GreedyResult {
    const cache = this.newCache();
    const ids: number[] = [];
    const stop = new Set(options.stopIds ?? []);
    // the logits are only read here: one buffer for every step
    const into = new Float32Array(this.cfg.vocabSize);
    const wasm = this.wasm;
    const t0 = performance.now();
    let r = this.forwardInto(prompt, cache, { interventions: options.interventions, logits: 'last' }, into);
    const prefillMs = performance.now() - t0;
    let decodeMs = 0;
    for (;;) {
      const id = wasm ? wasm.argmax(r.logits) : argmax(r.logits);
      ids.push(id);
      if (ids.length >= n || stop.has(id)) break;
      const t1 = performance.now();
      r = this.forwardInto([id], cache, { interventions: options.interventions, logits: 'last' }, into);
      decodeMs += performance.now() - t1;
    }
    return { ids, prefillMs, decodeMs, decodeTokensPerSecond: decodeMs > 0 ? ((ids.length - 1) * 1000) / decodeMs : 0 };
  }
}

/** Each row's last token of h [tokens, d] (rows delimited by `start`), as [rows, d]. */
function gatherLast(h: Float32Array, start: Int32Array, d: number, into: Float32Array): Float32Array {
  const B = start.length - 1;
  const out = into.subarray(0, B * d);
  for (let b = 0; b < B; b++) out.set(h.subarray((start[b + 1] - 1) * d, start[b + 1] * d), b * d);
  return out;
}

/** Index of the largest value (the first on ties, sampling.ts's argmax), NaN refused. */
export function argmax(x: Float32Array): number {
  if (x.some((v) => v !== v)) throw new DataError('non-finite', 'A logit is not a finite number.');
  return firstArgmax(x);
}
