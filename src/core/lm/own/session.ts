/**
 * The own int8 decoder (./decoder.ts) behind the session seam (`DecoderSessionLike`, ../ort.ts), so
 * that LmEngine, Conversation, rows, truncation and row slicing run on it unchanged. It presents an
 * instrumented 'optimum'-style graph, whatever the file's export style:
 *
 *   inputs   input_ids [n, S] int64, attention_mask [n, W + S] int64, position_ids [n, S] int64,
 *            past_key_values.{i}.{key,value} [n, kvHeads, W, headDim] float32,
 *            steer [R, L, d], cap_axis [R, L, d], cap_tau [R, L] float32 (R = 1 shared, or R = n);
 *   outputs  logits [n, S, V], present.{i}.{key,value} [n, kvHeads, W + S, headDim] (past, then the
 *            new slots), resid_post [L, n, S, d] (after steering and capping), cap_lift [L, n, S].
 *
 * A query at new index s of row b sees slot j iff mask[b, j] = 1 and j <= W + s; its position is
 * position_ids[b, s]. See `run` for padding and non-finite rows, and ./decoder.ts (`step`) for the
 * numbers: each row's activations are quantised on their own, so a row computes exactly what the
 * file computes for that row alone, whatever else is in the batch.
 */
import { DataError } from '../../errors';
import type { ExternalFile } from '../../onnx/rewrite/externalize';
import type { DecoderConfig } from '../config';
import { LmEngine } from '../generate';
import type { DecoderSessionLike, OrtModuleLike, OrtTensorLike } from '../ort';
import {
  ATTENTION_MASK, CAP_AXIS_INPUT, CAP_LIFT_OUTPUT, CAP_TAU_INPUT, INPUT_IDS, LOGITS, pastName, POSITION_IDS, presentName, RESID_POST_OUTPUT, STEER_INPUT,
} from '../ort';
import { OwnDecoder, type BatchRow, type OwnOpenOptions } from './decoder';
import type { KernelPool } from './linear';

export interface OwnSessionOptions {
  /** The model's external data files (`model.onnx_data`, ...), by the location the graph names. */
  externalData?: ExternalFile[];
  /** Threads for the linears (./linear.ts); without it every linear runs on the calling thread. */
  pool?: KernelPool;
  /**
   * Write a run's logits, resid_post and cap_lift into two sets of buffers taken in turn (for runs
   * of up to REUSE_MAX_BYTES of logits: decode steps), not fresh arrays: a run's outputs then stay
   * valid until the run after next. LmEngine reads a step's outputs before its next step (what it
   * keeps longer it copies), so createOwnEngine turns this on; off by default for other callers.
   */
  reuseOutputs?: boolean;
}

/** The most logits bytes a run's reused output buffers hold (longer runs, prefills, get fresh arrays). */
export const REUSE_MAX_BYTES = 16 * 2 ** 20;

export class OwnSession implements DecoderSessionLike {
  readonly style = 'optimum' as const;
  /** Bytes of weight codes held in the kernels' memories. */
  readonly weightBytes: number;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly { name: string; isTensor: boolean; type: string }[];
  private released = false;
  /** The two output buffer sets that reuseOutputs takes in turn, and the next one's index. */
  private readonly ring: { logits: Float32Array; residPost: Float32Array; capLift: Float32Array }[] | null;
  private turn = 0;

  constructor(private readonly ort: OrtModuleLike, readonly decoder: OwnDecoder, options: Pick<OwnSessionOptions, 'reuseOutputs'> = {}) {
    this.ring = options.reuseOutputs ? [0, 1].map(() => ({ logits: new Float32Array(0), residPost: new Float32Array(0), capLift: new Float32Array(0) })) : null;
    const L = decoder.cfg.numLayers;
    const past = Array.from({ length: L }, (_, i) => [pastName(i, 'key'), pastName(i, 'value')]).flat();
    const present = Array.from({ length: L }, (_, i) => [presentName(i, 'key'), presentName(i, 'value')]).flat();
    this.inputNames = [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, ...past, STEER_INPUT, CAP_AXIS_INPUT, CAP_TAU_INPUT];
    this.outputNames = [LOGITS, ...present, RESID_POST_OUTPUT, CAP_LIFT_OUTPUT];
    this.inputMetadata = this.inputNames.map((name) => ({ name, isTensor: true, type: name === INPUT_IDS || name === ATTENTION_MASK || name === POSITION_IDS ? 'int64' : 'float32' }));
    this.weightBytes = decoder.weightBytes;
  }

  /**
   * One forward pass with the optimum-style graph's semantics (see the file comment). Positions
   * whose own slot is masked (padding) are not computed: their logits, resid_post, cap_lift and
   * present slots are 0 (a graph would compute values there that no real query can read).
   * Every feed's type and shape is checked (DataError). A row whose residual stream becomes
   * non-finite (steering too strong) gets NaN from there on (its logits too), as a graph's would.
   */
  async run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>> {
    return this.runAs(feeds, 'all');
  }

  /**
   * `run`, except that the logits output is [n, 1, V]: each batch row's logits at its last real new
   * token only (0 for a row with none), bit for bit what `run` gives there (OwnDecoder.step's
   * 'rowLast'). A prefill needs no more, and so skips the lm_head for every other prompt token.
   * Every other output is `run`'s.
   */
  async runLastLogits(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>> {
    return this.runAs(feeds, 'rowLast');
  }

  private async runAs(feeds: Record<string, OrtTensorLike>, logitsMode: 'all' | 'rowLast'): Promise<Record<string, OrtTensorLike>> {
    if (this.released) throw new DataError('own-released', 'This model session has been released; load the model again.');
    const dec = this.decoder;
    const { numLayers: nL, numKvHeads: KV, headDim: hd, hiddenSize: d, vocabSize: V } = dec.cfg;
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) throw new DataError('own-feed', `The session has no input "${name}" (inputs: ${this.inputNames.join(', ')}).`);
    }
    const ids = int64Feed(feeds, INPUT_IDS, 2);
    const [n, S] = ids.dims;
    if (n < 1 || S < 1) throw new DataError('own-feed', `input_ids has shape [${ids.dims.join(', ')}]; give at least one row and one token.`);
    const mask = int64Feed(feeds, ATTENTION_MASK, 2);
    const T = mask.dims[1];
    if (mask.dims[0] !== n || T < S) throw new DataError('own-feed', `attention_mask has shape [${mask.dims.join(', ')}]; expected [${n}, past + ${S}] for input_ids [${n}, ${S}].`);
    const W = T - S;
    const pos = int64Feed(feeds, POSITION_IDS, 2);
    if (pos.dims[0] !== n || pos.dims[1] !== S) throw new DataError('own-feed', `position_ids has shape [${pos.dims.join(', ')}]; expected [${n}, ${S}] as input_ids.`);
    // the past: our own last present (kept in place, see kvStore) or any dense float32 tensors
    const pastK: (() => Float32Array)[] = [], pastV: (() => Float32Array)[] = [];
    for (let l = 0; l < nL; l++) {
      pastK.push(this.pastFeed(feeds, pastName(l, 'key'), [n, KV, W, hd]));
      pastV.push(this.pastFeed(feeds, pastName(l, 'value'), [n, KV, W, hd]));
    }
    const steer = f32Feed(feeds, STEER_INPUT, [-1, nL, d], n);
    const capAxis = f32Feed(feeds, CAP_AXIS_INPUT, [-1, nL, d], n);
    const capTau = f32Feed(feeds, CAP_TAU_INPUT, [-1, nL], n);
    const rowsOf = (a: Float32Array, per: number) => (a.length === per ? 1 : n);

    // The batch rows: each row's real new tokens are those whose own slot is unmasked.
    const maskBits = new Uint8Array(n * T);
    const mask32 = mask.words;
    for (let i = 0; i < n * T; i++) {
      // (the int64's low and high 32 bits: no BigInt made per slot)
      const lo = mask32 ? mask32[2 * i] : Number(mask.data[i]), hi = mask32 ? mask32[2 * i + 1] : 0;
      if ((lo !== 0 && lo !== 1) || hi !== 0) throw new DataError('own-feed', `attention_mask holds ${mask.data[i]}; it must hold only 0 and 1.`);
      maskBits[i] = lo;
    }
    const maxPos = dec.maxPosition;
    const store = this.kvStore(feeds, n, W, T, pastK, pastV);
    const present = { keys: store.keys, values: store.values };
    const blockT = store.cap * hd;
    const rows: BatchRow[] = [];
    const rowOf: number[] = [];
    const sOf: number[][] = [];
    const rS = rowsOf(steer, nL * d), rA = rowsOf(capAxis, nL * d), rT = rowsOf(capTau, nL);
    let dense = true;
    for (let b = 0; b < n; b++) {
      const tokens: number[] = [], positions: number[] = [], slots: number[] = [], at: number[] = [];
      for (let s = 0; s < S; s++) {
        const id = int64At(ids, b * S + s);
        if (!(id >= 0 && id < V)) throw new DataError('own-feed', `input_ids holds token id ${id}, outside the vocabulary (0 to ${V - 1}).`);
        if (!maskBits[b * T + W + s]) continue;
        const p = int64At(pos, b * S + s);
        if (!(p >= 0 && p < maxPos)) throw new DataError('own-feed', `position_ids holds position ${p} for a real token; this model takes positions 0 to ${maxPos - 1}.`);
        tokens.push(id);
        positions.push(p);
        slots.push(W + s);
        at.push(s);
      }
      if (tokens.length < S) dense = false;
      if (!tokens.length) continue;
      const so = (rS === 1 ? 0 : b) * nL * d, ao = (rA === 1 ? 0 : b) * nL * d, to = (rT === 1 ? 0 : b) * nL;
      rows.push({
        ids: tokens, positions, slots,
        kv: { keys: present.keys, values: present.values, base: b * KV * blockT, stride: store.cap },
        mask: maskBits.subarray(b * T, (b + 1) * T),
        iv: { steer: steer.subarray(so, so + nL * d), capAxis: capAxis.subarray(ao, ao + nL * d), capTau: capTau.subarray(to, to + nL) },
      });
      rowOf.push(b);
      sOf.push(at);
    }
    const M = rows.reduce((a, x) => a + x.ids.length, 0);
    const rowLast = logitsMode === 'rowLast';
    const r = rows.length ? dec.step(rows, { taps: true, logits: logitsMode, into: this.buffers(M) }) : null;

    // Outputs in [n, S] layout: the compact results as they are when no position is padding. The
    // logits: every position's, or (rowLast) [n, 1] each row's last real token's, as they are when every row is in the step.
    let logits: Float32Array;
    if (r && (rowLast ? rows.length === n : dense)) logits = r.logits;
    else {
      logits = new Float32Array(n * (rowLast ? 1 : S) * V);
      let m = 0;
      rows.forEach((_, i) => {
        const b = rowOf[i];
        if (rowLast) logits.set(r!.logits.subarray(i * V, (i + 1) * V), b * V);
        else {
          for (const s of sOf[i]) {
            logits.set(r!.logits.subarray(m * V, (m + 1) * V), (b * S + s) * V);
            m++;
          }
        }
      });
    }
    let resid: Float32Array, lift: Float32Array;
    if (dense && r) {
      resid = r.residPost!;
      lift = r.capLift!;
    } else {
      resid = new Float32Array(nL * n * S * d);
      lift = new Float32Array(nL * n * S);
      let m = 0;
      rows.forEach((_, i) => {
        const b = rowOf[i];
        for (const s of sOf[i]) {
          for (let l = 0; l < nL; l++) {
            resid.set(r!.residPost!.subarray((l * M + m) * d, (l * M + m + 1) * d), ((l * n + b) * S + s) * d);
            lift[(l * n + b) * S + s] = r!.capLift![l * M + m];
          }
          m++;
        }
      });
    }
    const Tn = this.ort.Tensor;
    const out: Record<string, OrtTensorLike> = { [LOGITS]: new Tn('float32', logits, [n, rowLast ? 1 : S, V]) };
    store.frontier = T;
    for (let l = 0; l < nL; l++) {
      out[presentName(l, 'key')] = new OwnKvTensor(store, l, 'key', T, hd);
      out[presentName(l, 'value')] = new OwnKvTensor(store, l, 'value', T, hd);
    }
    out[RESID_POST_OUTPUT] = new Tn('float32', resid, [nL, n, S, d]);
    out[CAP_LIFT_OUTPUT] = new Tn('float32', lift, [nL, n, S]);
    return out;
  }

  async release(): Promise<void> {
    this.released = true;
  }

  /** The next output buffer set for a run of M tokens (grown as needed), or undefined: fresh arrays. */
  private buffers(M: number): { logits: Float32Array; residPost: Float32Array; capLift: Float32Array } | undefined {
    const { numLayers: nL, hiddenSize: d, vocabSize: V } = this.decoder.cfg;
    if (!this.ring || M * V * 4 > REUSE_MAX_BYTES) return undefined;
    const b = this.ring[this.turn];
    this.turn ^= 1;
    if (b.logits.length < M * V) b.logits = new Float32Array(M * V);
    if (b.residPost.length < nL * M * d) b.residPost = new Float32Array(nL * M * d);
    if (b.capLift.length < nL * M) b.capLift = new Float32Array(nL * M);
    return b;
  }

  /** A past feed's dense data, read only when needed (our own last present is not: see kvStore). */
  private pastFeed(feeds: Record<string, OrtTensorLike>, name: string, want: readonly number[]): () => Float32Array {
    const t = feeds[name];
    if (t instanceof OwnKvTensor && t.owner === this && !t.escaped && t.dims.every((x, k) => x === want[k])) return () => t.data;
    const data = f32Feed(feeds, name, want);
    return () => data;
  }

  /**
   * Where this run's present keys and values go: [n, kvHeads, cap, headDim] buffers per layer with
   * cap >= T (slot j of row b, head h at ((b * kvHeads + h) * cap + j) * headDim). When every past
   * feed is this session's last present, untouched (its `data` never read: `escaped` false), the new
   * slots are appended to its buffers in place (doubled when full): no copy of the past each step.
   * Otherwise the past is copied into new buffers with room to grow. Earlier present tensors stay
   * valid (slots below their T are never written again); a run from an older past copies.
   */
  private kvStore(feeds: Record<string, OrtTensorLike>, n: number, W: number, T: number, pastK: (() => Float32Array)[], pastV: (() => Float32Array)[]): KvStore {
    const { numLayers: nL, numKvHeads: KV, headDim: hd } = this.decoder.cfg;
    const first = feeds[pastName(0, 'key')];
    let store: KvStore | null = null;
    if (first instanceof OwnKvTensor && first.owner === this && first.store.n === n && first.store.frontier === W && first.T === W) {
      const s0 = first.store;
      const ours = (name: string) => {
        const t = feeds[name];
        return t instanceof OwnKvTensor && t.store === s0 && !t.escaped && t.T === W;
      };
      let all = true;
      for (let l = 0; l < nL && all; l++) all = ours(pastName(l, 'key')) && ours(pastName(l, 'value'));
      if (all) store = s0;
    }
    if (store && store.cap >= T) {
      // in place: the new slots must be 0 (padding positions stay 0, as a graph's would be); only
      // those a run may have written are cleared (one that failed before its present was returned)
      const dirty = Math.min(T, store.clean);
      if (dirty > W) {
        for (let l = 0; l < nL; l++) {
          for (let r = 0; r < n * KV; r++) {
            store.keys[l].fill(0, (r * store.cap + W) * hd, (r * store.cap + dirty) * hd);
            store.values[l].fill(0, (r * store.cap + W) * hd, (r * store.cap + dirty) * hd);
          }
        }
      }
      store.clean = Math.max(store.clean, T);
      return store;
    }
    const cap = Math.max(T, store ? store.cap * 2 : T + Math.max(16, T >> 1));
    const next: KvStore = { owner: this, n, cap, frontier: -1, clean: T, keys: [], values: [] };
    for (let l = 0; l < nL; l++) {
      const k = new Float32Array(n * KV * cap * hd), v = new Float32Array(n * KV * cap * hd);
      if (W > 0) {
        const fromCap = store ? store.cap : W;
        const pk = store ? store.keys[l] : pastK[l](), pv = store ? store.values[l] : pastV[l]();
        for (let r = 0; r < n * KV; r++) {
          k.set(pk.subarray(r * fromCap * hd, (r * fromCap + W) * hd), r * cap * hd);
          v.set(pv.subarray(r * fromCap * hd, (r * fromCap + W) * hd), r * cap * hd);
        }
      }
      next.keys.push(k);
      next.values.push(v);
    }
    return next;
  }
}

/** A session's present keys and values: per layer [n, kvHeads, cap, headDim], written up to `frontier` slots. */
interface KvStore {
  readonly owner: OwnSession;
  readonly n: number;
  readonly cap: number;
  /** The T of the newest present tensors over these buffers (-1: none yet). */
  frontier: number;
  /** Slots from this one on were never written since the buffers were made (they hold 0): the runs so far reached at most this T. */
  clean: number;
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
}

/**
 * A present.* output: dims [n, kvHeads, T, headDim] over the session's buffers (row stride `cap`
 * slots). `data` gives the dense tensor the graph would (copied out once, on first read; from then on
 * the tensor counts as escaped and is copied, not appended to, when fed back). `cpuKvData` tells the
 * engine it is a CPU float32 cache without reading it.
 */
export class OwnKvTensor implements OrtTensorLike {
  readonly type = 'float32';
  readonly location = 'cpu';
  readonly cpuKvData = true;
  readonly dims: readonly number[];
  escaped = false;
  private dense: Float32Array | null = null;

  constructor(readonly store: KvStore, private readonly layer: number, private readonly kind: 'key' | 'value', readonly T: number, private readonly hd: number) {
    this.dims = [store.n, store.keys[0].length / (store.n * store.cap * hd), T, hd];
  }

  get owner(): OwnSession {
    return this.store.owner;
  }

  get data(): Float32Array {
    if (!this.dense) {
      const { n, cap } = this.store;
      const KV = this.dims[1], T = this.T, hd = this.hd;
      const src = (this.kind === 'key' ? this.store.keys : this.store.values)[this.layer];
      const out = new Float32Array(n * KV * T * hd);
      for (let r = 0; r < n * KV; r++) out.set(src.subarray(r * cap * hd, (r * cap + T) * hd), r * T * hd);
      this.dense = out;
      this.escaped = true;
    }
    return this.dense;
  }

  dispose(): void {}
}

/**
 * A session of the own decoder over an 8-bit decoder file. Throws readOwnWeights' FormatError for a
 * file it cannot read (callers fall back to onnxruntime-web). `ort` only supplies the Tensor
 * constructor for the outputs.
 */
export function createOwnSession(ort: OrtModuleLike, onnx: Uint8Array, cfg: DecoderConfig, options: OwnSessionOptions = {}): OwnSession {
  return new OwnSession(ort, OwnDecoder.fromOnnx(onnx, cfg, options.externalData, { pool: options.pool }), { reuseOutputs: options.reuseOutputs });
}

/** LmEngine over createOwnSession (style 'optimum', instrumented: the session has steer/cap_axis/cap_tau inputs and resid_post/cap_lift outputs). */
export function createOwnEngine(ort: OrtModuleLike, onnx: Uint8Array, cfg: DecoderConfig, options: OwnSessionOptions = {}): LmEngine {
  return ownEngine(ort, createOwnSession(ort, onnx, cfg, { reuseOutputs: true, ...options }), cfg);
}

/**
 * createOwnSession without holding the thread: the same steps (OwnDecoder.fromOnnxAsync), the
 * event loop's turn after reading the file and after each linear, with progress (linears and
 * bytes built) and a cancel between them (an AbortError; nothing is returned, and the caller closes
 * `pool`, whose helpers hold the slices built so far).
 */
export async function createOwnSessionAsync(ort: OrtModuleLike, onnx: Uint8Array, cfg: DecoderConfig, options: OwnSessionOptions & Omit<OwnOpenOptions, 'pool' | 'ops'> = {}): Promise<OwnSession> {
  const decoder = await OwnDecoder.fromOnnxAsync(onnx, cfg, options.externalData, { pool: options.pool, signal: options.signal, onProgress: options.onProgress, yieldNow: options.yieldNow });
  return new OwnSession(ort, decoder, { reuseOutputs: options.reuseOutputs });
}

/** createOwnEngine over createOwnSessionAsync (what the model worker opens a model with: its messages, a cancel among them, are answered meanwhile). */
export async function createOwnEngineAsync(ort: OrtModuleLike, onnx: Uint8Array, cfg: DecoderConfig, options: OwnSessionOptions & Omit<OwnOpenOptions, 'pool' | 'ops'> = {}): Promise<LmEngine> {
  return ownEngine(ort, await createOwnSessionAsync(ort, onnx, cfg, { reuseOutputs: true, ...options }), cfg);
}

function ownEngine(ort: OrtModuleLike, session: OwnSession, cfg: DecoderConfig): LmEngine {
  return new LmEngine(ort, session, cfg, { style: 'optimum', kvType: 'float32' });
}

function feed(feeds: Record<string, OrtTensorLike>, name: string): OrtTensorLike {
  const t = feeds[name];
  if (!t) throw new DataError('own-feed', `The feed "${name}" is missing.`);
  return t;
}

/** Whether this machine stores an int64's low 32 bits first (then an Int32Array over int64 data reads them). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

interface Int64Feed {
  data: BigInt64Array;
  dims: readonly number[];
  /** The data as 32-bit words, low then high of each value (little-endian machines), or null. */
  words: Int32Array | null;
}

/** Value i of an int64 feed as a number (exact: read from its 32-bit words when it fits 31 bits, no BigInt made). */
function int64At(f: Int64Feed, i: number): number {
  const w = f.words;
  if (w && w[2 * i + 1] === 0 && w[2 * i] >= 0) return w[2 * i];
  return Number(f.data[i]);
}

/** An int64 feed of `rank` dimensions, its data checked against its dims. */
function int64Feed(feeds: Record<string, OrtTensorLike>, name: string, rank: number): Int64Feed {
  const t = feed(feeds, name);
  const dims = t.dims;
  if (t.type !== 'int64' || !(t.data instanceof BigInt64Array)) throw new DataError('own-feed', `The feed "${name}" is ${t.type}; it must be int64.`);
  if (dims.length !== rank || dims.some((x) => !(Number.isInteger(x) && x >= 0))) throw new DataError('own-feed', `The feed "${name}" has shape [${dims.join(', ')}]; it must have ${rank} dimensions.`);
  const size = dims.reduce((a, x) => a * x, 1);
  if (t.data.length !== size) throw new DataError('own-feed', `The feed "${name}" holds ${t.data.length} numbers for shape [${dims.join(', ')}].`);
  return { data: t.data, dims, words: LITTLE_ENDIAN ? new Int32Array(t.data.buffer, t.data.byteOffset, 2 * t.data.length) : null };
}

/**
 * A float32 feed of shape `want` (-1: the leading rows, 1 or `rows`), its data checked against its dims.
 */
function f32Feed(feeds: Record<string, OrtTensorLike>, name: string, want: readonly number[], rows?: number): Float32Array {
  const t = feed(feeds, name);
  if (t.type !== 'float32' || !(t.data instanceof Float32Array)) throw new DataError('own-feed', `The feed "${name}" is ${t.type}; it must be float32${t.location && t.location !== 'cpu' ? ' in CPU memory' : ''}.`);
  const dims = t.dims;
  const ok = dims.length === want.length && want.every((w, k) => (w === -1 ? dims[k] === 1 || dims[k] === rows : dims[k] === w));
  if (!ok) {
    const expect = want.map((w) => (w === -1 ? `1 or ${rows}` : String(w))).join(', ');
    throw new DataError('own-feed', `The feed "${name}" has shape [${dims.join(', ')}]; expected [${expect}].`);
  }
  const size = dims.reduce((a, x) => a * x, 1);
  if (t.data.length !== size) throw new DataError('own-feed', `The feed "${name}" holds ${t.data.length} numbers for shape [${dims.join(', ')}].`);
  return t.data;
}
