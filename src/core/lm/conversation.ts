/**
 * Conversations: B rows run as one batched forward pass per step, each row with its own token
 * sequence, KV cache slots, interventions and seeded sampling; the cache is kept across runs
 * (see rows.ts for the contract; `LmEngine.conversation(rows)` makes one).
 *
 * KV cache across runs. The cache holds what each row's tokens computed under the settings in
 * force when they were fed. Changing steering or capping mid-conversation does NOT rewrite the
 * cache: earlier tokens keep their earlier activations (as a deployed intervention that was
 * switched on mid-chat would), and only tokens fed from then on see the new settings. Call
 * `recompute(params)` to rebuild every row's cache as if the current settings had always been on.
 * `setTokens` keeps the longest common prefix with what the row already processed and drops the
 * rest (undo / edit); the remainder is queued and fed at the next run.
 *
 * Batching and padding. A step feeds S = max n_b new tokens (n_b of row b, real ones first, then
 * padding); each row's position ids count only its own real tokens. Two cache layouts, chosen by
 * the graph's export style:
 * - 'optimum' (plain ops, KV by Concat): the cache has one width W shared by all rows; a step
 *   appends S slots to every row, and attention_mask marks which slots hold real tokens (pads and
 *   truncated tokens are holes with mask 0; the graph's mask is causal-by-slot AND mask[slot]).
 * - 'genai' (GroupQueryAttention): GQA ignores the mask's contents and derives each row's length
 *   from it (seqlens_k = sum(mask) - 1), assuming each row's valid keys are contiguous from slot 0
 *   and that the S new tokens follow them; it cannot skip holes or left padding. So rows are kept
 *   right-padded: row b's cache is slots [0, len_b); a step writes its S tokens at [len_b, len_b+S)
 *   by feeding a mask whose row sum is len_b + S, and only len_b + n_b is kept — the pad slots are
 *   overwritten by the row's next step (GQA copies only the first past_len slots of the past).
 *   The real tokens never see the pads (causal order: the pads come after them).
 * With an unknown style, rows must stay aligned (same lengths, no holes); padding is refused.
 *
 * Rows leave and rejoin the batch. Each step runs only the rows that feed a token: a finished row
 * (its own stop id, its token budget, or prefill-only) is sliced out of the batch cache (its slots
 * copied aside, "parked") so the others run at the smaller batch, and it is copied back when it
 * next has tokens to feed (the next run). The same mechanism lets a 'genai' batch prefill a later
 * turn several tokens per pass: onnxruntime's GroupQueryAttention refuses a multi-token chunk on a
 * cache at batch > 1 (see BatchKv.perRowPrefill), so such a turn is fed one row at a time at batch 1.
 * Slicing copies the cache once per change of the batch's rows (onnxruntime copies past into
 * present on every step anyway). It needs the cache in CPU memory: with GPU-resident caches
 * (WebGPU), finished rows ride along as padding (one masked slot per step) and a genai batch
 * feeds later turns one token per step.
 *
 * Errors: every step is validated (non-finite logits or residuals, e.g. steering alpha 1e308) before
 * its cache is kept; on an error the conversation keeps its state from before that step and the
 * engine stays usable. A sequence longer than the model's max_position_embeddings is refused.
 */
import { DataError, PersonaSpaceError } from '../errors';
import type { ExportStyle } from '../onnx/instrument';
import {
  ATTENTION_MASK, capLift, INPUT_IDS, interventionFeeds, LOGITS, outputF32, pastName, POSITION_IDS, presentName, residPost,
  type DecoderSessionLike, type InterventionFeeds, type OrtModuleLike, type OrtTensorLike,
} from './ort';
import type { Conversation, PositionEvent, RowParams, RowRunResult, RowStopReason, RowTokenEvent, RunOptions, RunResult } from './rows';
import { sharedLogitsWasm } from './own/logits-wasm';
import { argmaxFinite, GREEDY, Pcg32, sampleToken, validateSampling } from './sampling';

/** Model dimensions the loop needs (a subset of DecoderConfig). */
export interface DecoderShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  /** Longest sequence the model takes (config max_position_embeddings); longer ones are refused. */
  maxPositionEmbeddings?: number;
}

export class GenerationError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'GenerationError';
  }
}

/** What a conversation needs from its engine (LmEngine provides it). */
export interface EngineHost {
  readonly ort: OrtModuleLike;
  readonly session: DecoderSessionLike;
  readonly shape: DecoderShape;
  readonly instrumented: boolean;
  readonly hasPositionIds: boolean;
  readonly kvType: 'float32' | 'float16';
  readonly style: ExportStyle | undefined;
  readonly positionOffset: number;
  /** false: rows never leave the batch (finished rows ride along; genai later turns one token per step). Default true. */
  readonly sliceRows?: boolean;
  /** Wait for the engine, then hold it until the returned function is called. */
  acquire(): Promise<() => void>;
}

/** Each (L, d) row scaled to unit length (zero rows stay zero). */
export function unitRows(m: Float32Array, rows: number, d: number): Float32Array {
  const out = new Float32Array(rows * d);
  for (let l = 0; l < rows; l++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += m[l * d + j] * m[l * d + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[l * d + j] = m[l * d + j] * inv;
  }
  return out;
}

/** Free GPU-resident tensors (a no-op for CPU tensors), except those in `keep`. */
export function disposeAll(tensors: Record<string, OrtTensorLike | undefined>, keep?: Set<OrtTensorLike>): void {
  for (const t of Object.values(tensors)) {
    if (t && t.location === 'gpu-buffer' && !keep?.has(t)) t.dispose?.();
  }
}

/**
 * Let queued events run (a macrotask turn). A forward pass on single-threaded WASM resolves through
 * microtasks only, so without this a worker would not see "interrupt" or "set params" messages
 * until the whole generation ended. MessageChannel avoids setTimeout's 4 ms clamping.
 */
export function yieldToEventLoop(): Promise<void> {
  // Node has the exact primitive (its MessageChannel goes through a slower path).
  const setImmediateFn = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  if (setImmediateFn) return new Promise((r) => setImmediateFn(() => r()));
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

export function checkTokenIds(shape: DecoderShape, ids: readonly number[], what = 'sequence'): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= shape.vocabSize) {
      throw new DataError('token-id', `Token id ${id} is outside the model's vocabulary (0..${shape.vocabSize - 1}).`);
    }
  }
  const max = shape.maxPositionEmbeddings;
  if (max !== undefined && ids.length > max) {
    throw new GenerationError('too-long', `The ${what} has ${ids.length} tokens; this model takes at most ${max} (max_position_embeddings).`, { length: ids.length, max });
  }
}

/** The output of one step; its batch holds only the rows that fed tokens (see `index`). */
export interface StepOutput {
  outputs: Record<string, OrtTensorLike>;
  S: number;
  /** Rows in this step's batch. */
  batch: number;
  /** Per conversation row, its index in this step's batch (-1: not in it). */
  index: Int32Array;
  logits: Float32Array;
  /**
   * Null: `logits` is [batch, S, V]. Otherwise (a step run with `lastLogits`) it is [batch, 1, V]
   * and this says, per batch row, the step position those logits are for (its last real token; -1:
   * none).
   */
  logitsAt: Int32Array | null;
  tap: { data: Float32Array; dims: readonly number[] } | null;
  lift: { data: Float32Array; dims: readonly number[] } | null;
}

/** Where the logits of (batch row i, step position s) start in `o.logits`. */
function logitsOffset(o: StepOutput, i: number, s: number, V: number): number {
  if (!o.logitsAt) return (i * o.S + s) * V;
  if (o.logitsAt[i] !== s) throw new GenerationError('no-logits', `This step kept the logits of its rows' last tokens only; position ${s} of batch row ${i} is not one.`);
  return i * V;
}

/** The logits of (row r, step position s) of a step, as a view. */
export function logitsRow(o: StepOutput, r: number, s: number, V: number): Float32Array {
  const i = o.index[r];
  if (i < 0) throw new GenerationError('no-logits', `Row ${r} was not in this step's batch.`);
  const off = logitsOffset(o, i, s, V);
  return o.logits.subarray(off, off + V);
}

type KvData = Float32Array | Uint16Array;

/** A row sliced out of the batch cache: per past tensor name, its [heads, width, headDim] values. */
interface Parked {
  width: number;
  data: Map<string, KvData>;
}

/**
 * The batched KV cache of B rows and the forward step over it. `cached[b]` tokens of row b are in
 * the cache; in the 'optimum' layout `slots[b]` marks which of the row's slots hold them. The
 * batch tensors hold the rows in `live` (ascending); the others are parked (copied aside).
 */
export class BatchKv {
  past: Record<string, OrtTensorLike> = {};
  /** Slot count of the batch tensors. */
  width = 0;
  readonly cached: number[];
  /** Per row (optimum): which slots hold its tokens (live rows: `width` slots; parked: its own width). */
  slots: Uint8Array[];
  /** Rows in the batch tensors, ascending. */
  live: number[] = [];
  private parked: (Parked | null)[];
  /** Whether the cache has been seen in CPU memory (then rows can be sliced out and back). */
  private cpuKv = false;
  /** The last intervention feeds and the arrays (steer, capAxis, capTau of each row) they hold. */
  private ivFeeds: { src: (Float32Array | null)[]; feeds: Record<string, OrtTensorLike> } | null = null;

  constructor(private readonly host: EngineHost, readonly rows: number) {
    this.cached = new Array(rows).fill(0);
    this.slots = Array.from({ length: rows }, () => new Uint8Array(0));
    this.parked = new Array(rows).fill(null);
    this.reset();
  }

  private get gqa(): boolean {
    return this.host.style === 'genai';
  }

  /** Whether rows can leave and rejoin the batch (a known export style and a CPU-resident cache). */
  get sliceable(): boolean {
    return this.host.style !== undefined && this.cpuKv && this.host.sliceRows !== false;
  }

  /** Empty the cache of every row. */
  reset(): void {
    disposeAll(this.past);
    this.past = this.emptyPast(this.rows);
    this.live = Array.from({ length: this.rows }, (_, b) => b);
    this.parked.fill(null);
    this.width = 0;
    this.cached.fill(0);
    this.slots = Array.from({ length: this.rows }, () => new Uint8Array(0));
  }

  private emptyPast(batch: number): Record<string, OrtTensorLike> {
    const { numLayers, numKvHeads, headDim } = this.host.shape;
    const kv = this.host.kvType;
    const past: Record<string, OrtTensorLike> = {};
    for (let i = 0; i < numLayers; i++) {
      for (const k of ['key', 'value'] as const) {
        past[pastName(i, k)] = new this.host.ort.Tensor(kv, kv === 'float16' ? new Uint16Array(0) : new Float32Array(0), [batch, numKvHeads, 0, headDim]);
      }
    }
    return past;
  }

  /** Keep only the first `k` cached tokens of row b. */
  truncate(b: number, k: number): void {
    if (k >= this.cached[b]) return;
    if (!this.gqa) {
      const s = this.slots[b];
      let seen = 0;
      for (let j = 0; j < s.length; j++) {
        if (s[j]) {
          if (seen >= k) s[j] = 0;
          seen++;
        }
      }
    }
    this.cached[b] = k;
  }

  /**
   * Whether a 'genai' batch should feed its queued tokens one row at a time. onnxruntime's
   * GroupQueryAttention takes a multi-token chunk on top of a cache only at batch 1: its
   * CheckInputs (onnxruntime/contrib_ops/cpu/bert/group_query_attention_helper.h) treats
   * `sequence_length > 1 && sequence_length != total_sequence_length` as a "subsequent prompt" and
   * returns INVALID_ARGUMENT "batch_size must be 1 when sequence_length > 1 and past context is
   * given" otherwise; with sequence_length == total_sequence_length it is a first prompt, which
   * ignores the past. No input layout avoids it (seqlens_k and total_sequence_length are the only
   * per-row / per-batch lengths GQA reads). So when rows can be sliced, each row with queued
   * tokens runs alone at batch 1, several tokens per pass (B passes instead of max n_b), chosen
   * when that is fewer passes; otherwise (GPU-resident cache) the batch feeds one token per step.
   */
  perRowPrefill(pending: readonly number[]): boolean {
    if (!this.gqa || this.rows === 1 || this.cached.every((c) => c === 0)) return false;
    if (!this.sliceable) return false;
    const withTokens = pending.filter((n) => n > 0).length;
    return withTokens > 0 && withTokens < Math.max(...pending);
  }

  /** Most tokens per row one batched step of several rows may feed (see perRowPrefill). */
  maxChunk(): number {
    if (this.gqa && this.rows > 1 && this.cached.some((c) => c > 0)) return 1;
    return Infinity;
  }

  /** Slots a row's cache spans (genai: its length; optimum: up to its last kept slot). */
  private rowWidth(b: number): number {
    if (this.gqa) return this.cached[b];
    const s = this.slots[b];
    let w = s.length;
    while (w > 0 && !s[w - 1]) w--;
    return w;
  }

  /** Rebuild the batch tensors to hold exactly `target` (ascending): rows leaving are parked, parked rows return. */
  private arrange(target: readonly number[]): void {
    if (target.length === this.live.length && target.every((r, i) => r === this.live[i])) return;
    const { numKvHeads: H, headDim: D } = this.host.shape;
    const kvType = this.host.kvType;
    const inBatch = new Map(this.live.map((r, i) => [r, i]));
    const leaving = this.live.filter((r) => !target.includes(r));
    const widths = target.map((r) => this.rowWidth(r));
    const W = Math.max(0, ...widths);
    const leavingParked = leaving.map((r) => ({ r, p: { width: this.rowWidth(r), data: new Map<string, KvData>() } as Parked }));
    const next: Record<string, OrtTensorLike> = {};
    for (const [name, t] of Object.entries(this.past)) {
      const src = t.data as KvData;
      const make = (n: number): KvData => (kvType === 'float16' ? new Uint16Array(n) : new Float32Array(n));
      const copyRow = (from: KvData, fromIndex: number, fromW: number, to: KvData, toIndex: number, toW: number, w: number) => {
        for (let h = 0; h < H; h++) {
          const a = ((fromIndex * H + h) * fromW) * D;
          to.set(from.subarray(a, a + w * D), ((toIndex * H + h) * toW) * D);
        }
      };
      for (const { r, p } of leavingParked) {
        const d = make(H * p.width * D);
        copyRow(src, inBatch.get(r)!, this.width, d, 0, p.width, p.width);
        p.data.set(name, d);
      }
      const dst = make(target.length * H * W * D);
      target.forEach((r, t2) => {
        const i = inBatch.get(r);
        if (i !== undefined) copyRow(src, i, this.width, dst, t2, W, widths[t2]);
        else {
          const p = this.parked[r];
          const d = p?.data.get(name);
          if (d) copyRow(d, 0, p!.width, dst, t2, W, widths[t2]);
        }
      });
      next[name] = new this.host.ort.Tensor(kvType, dst, [target.length, H, W, D]);
    }
    for (const { r, p } of leavingParked) {
      this.parked[r] = p;
      if (!this.gqa) this.slots[r] = this.slots[r].slice(0, p.width);
    }
    for (const r of target) {
      this.parked[r] = null;
      if (!this.gqa) {
        const s = new Uint8Array(W);
        s.set(this.slots[r].subarray(0, Math.min(W, this.slots[r].length)));
        this.slots[r] = s;
      }
    }
    disposeAll(this.past);
    this.past = next;
    this.width = W;
    this.live = target.slice();
  }

  /**
   * The intervention feeds for these rows' params (ort.ts interventionFeeds), the last step's tensors
   * again while every row's steer, capAxis and capTau are the same arrays as then (by identity: a
   * new array, or a new params object with other arrays, builds new ones; see RowParams).
   */
  private interventionFeeds(list: readonly (InterventionFeeds | undefined)[]): Record<string, OrtTensorLike> {
    const src: (Float32Array | null)[] = [];
    for (const p of list) src.push(p?.steer ?? null, p?.capAxis ?? null, p?.capTau ?? null);
    const c = this.ivFeeds;
    if (c && c.src.length === src.length && c.src.every((a, i) => a === src[i])) return c.feeds;
    const feeds = interventionFeeds(this.host.ort, this.host.shape, list);
    this.ivFeeds = { src, feeds };
    return feeds;
  }

  /** Whether every row's cache is contiguous from slot 0 with one length (no padding needed). */
  private aligned(chunks: readonly (readonly number[])[]): boolean {
    const n = chunks[0].length, c = this.cached[0];
    return chunks.every((x, b) => x.length === n && this.cached[b] === c) && this.cached.every((c0) => c0 === this.width);
  }

  /**
   * One forward pass feeding `chunks[b]` (possibly empty) to row b, with per-row interventions.
   * When rows can be sliced, the batch holds just the rows with tokens to feed. The cache is
   * updated only when `validate` accepts the outputs; otherwise they are freed and the error
   * rethrown with the cache as it was (rows may have moved between batch and parking, which
   * changes no row's contents).
   */
  async step(chunks: readonly (readonly number[])[], params: readonly (InterventionFeeds | undefined)[], validate: (o: StepOutput) => void, lastLogits = false): Promise<StepOutput> {
    const { host } = this;
    if (this.gqa && this.width > 0 && this.cached.every((c) => c === 0)) this.reset(); // a first prompt again
    if (host.style === undefined && !this.aligned(chunks)) {
      throw new GenerationError('batch-style', 'Rows of different lengths need the graph\'s export style (genai or optimum) to be padded correctly; pass `style` to LmEngine.');
    }
    if (this.sliceable) {
      const need = chunks.flatMap((c, b) => (c.length ? [b] : []));
      if (need.length) this.arrange(need);
    }
    const live = this.live;
    const n = live.length;
    const index = new Int32Array(this.rows).fill(-1);
    live.forEach((r, i) => (index[r] = i));
    chunks.forEach((c, b) => {
      if (c.length && index[b] < 0) throw new GenerationError('batch-row', `Row ${b} has tokens to feed but is not in the batch.`);
    });
    const S = Math.max(1, ...live.map((r) => chunks[r].length));
    const ids = new BigInt64Array(n * S);
    const pos = new BigInt64Array(n * S);
    const offset = host.positionOffset;
    live.forEach((r, i) => {
      const c = chunks[r];
      for (let j = 0; j < c.length; j++) {
        ids[i * S + j] = BigInt(c[j]);
        pos[i * S + j] = BigInt(this.cached[r] + j + offset);
      }
    });
    let maskW: number;
    let mask: BigInt64Array;
    let newSlots: Uint8Array[] | null = null;
    if (this.gqa) {
      maskW = Math.max(this.width, ...live.map((r) => this.cached[r] + S));
      mask = new BigInt64Array(n * maskW);
      live.forEach((r, i) => mask.fill(1n, i * maskW, i * maskW + this.cached[r] + S));
    } else {
      maskW = this.width + S;
      mask = new BigInt64Array(n * maskW);
      // the 1s written as the int64s' low 32-bit words where the machine is little-endian (no BigInt store per slot)
      const words = LITTLE_ENDIAN ? new Int32Array(mask.buffer) : null;
      newSlots = live.map((r, i) => {
        const s = new Uint8Array(maskW);
        s.set(this.slots[r]);
        s.fill(1, this.width, this.width + chunks[r].length);
        const o = i * maskW;
        if (words) {
          for (let j = 0; j < maskW; j++) if (s[j]) words[2 * (o + j)] = 1;
        } else {
          for (let j = 0; j < maskW; j++) mask[o + j] = s[j] ? 1n : 0n;
        }
        return s;
      });
    }
    const T = host.ort.Tensor;
    const feeds: Record<string, OrtTensorLike> = {
      [INPUT_IDS]: new T('int64', ids, [n, S]),
      [ATTENTION_MASK]: new T('int64', mask, [n, maskW]),
      ...this.past,
    };
    if (host.hasPositionIds) feeds[POSITION_IDS] = new T('int64', pos, [n, S]);
    if (host.instrumented) {
      const ps = live.map((r) => params[r]);
      const shared = ps.every((p) => p === ps[0]) || ps.every((p) => !p || (!p.steer && !p.capAxis && !p.capTau));
      Object.assign(feeds, this.interventionFeeds(shared ? [ps[0]] : ps));
    }
    // a prefill that needs each row's last logits only: a session that can skips the lm_head for the other tokens
    const cut = lastLogits && S > 1 && host.session.runLastLogits !== undefined;
    const outputs = cut ? await host.session.runLastLogits!(feeds) : await host.session.run(feeds);
    const keep = new Set<OrtTensorLike>();
    const present: Record<string, OrtTensorLike> = {};
    for (let i = 0; i < host.shape.numLayers; i++) {
      for (const k of ['key', 'value'] as const) {
        const t = outputs[presentName(i, k)];
        present[pastName(i, k)] = t;
        keep.add(t);
      }
    }
    let out: StepOutput;
    try {
      out = {
        outputs,
        S,
        batch: n,
        index,
        logits: outputF32(outputs[LOGITS], `"${LOGITS}" output`),
        logitsAt: cut ? Int32Array.from(live, (r) => chunks[r].length - 1) : null,
        tap: host.instrumented && outputs.resid_post ? residPost(outputs, host.shape) : null,
        lift: host.instrumented ? capLift(outputs) : null,
      };
      validate(out);
    } catch (e) {
      disposeAll(outputs);
      throw e;
    }
    // Commit: the old past (GPU buffers on WebGPU) is freed, present becomes past.
    disposeAll(this.past);
    disposeAll(outputs, keep);
    this.past = present;
    const presentTensors = Object.values(present);
    // (a session may mark its outputs as CPU caches, so that this check does not read them: our decoder's present tensors copy out on first read)
    this.cpuKv = presentTensors.every((t) => (t as { cpuKvData?: boolean }).cpuKvData === true || ((t.location === undefined || t.location === 'cpu') && (t.data instanceof Float32Array || t.data instanceof Uint16Array)));
    this.width = presentTensors[0].dims[2];
    if (newSlots) live.forEach((r, i) => (this.slots[r] = newSlots![i]));
    live.forEach((r) => (this.cached[r] += chunks[r].length));
    return out;
  }

  dispose(): void {
    disposeAll(this.past);
    this.past = {};
    this.parked.fill(null);
  }
}

/** Whether this machine stores an int64's low 32 bits first. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

let logitsScan: 'wasm' | 'js' = 'wasm';

/**
 * How checkFinite scans a logits row: 'wasm' (default; WebAssembly SIMD where the engine has it,
 * own/logits-wasm.ts, the same result as argmaxFinite) or 'js' (sampling.ts's argmaxFinite). For A/B
 * measurement and tests.
 */
export function setLogitsScan(kind: 'wasm' | 'js'): void {
  logitsScan = kind;
}

/** sampling.ts's argmaxFinite of x[start .. end), on the SIMD scan where there is one. */
function rowArgmaxFinite(x: Float32Array, start: number, end: number): number {
  const w = logitsScan === 'wasm' ? sharedLogitsWasm() : null;
  return w ? w.argmaxFinite(x, start, end) : argmaxFinite(x, start, end);
}

function firstNonFinite(a: Float32Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Whether every position of every row in the step's batch is real (no padding, no row riding along). */
function allReal(o: StepOutput, realCounts: readonly number[]): boolean {
  let rows = 0;
  for (let b = 0; b < realCounts.length; b++) {
    if (o.index[b] < 0) continue;
    if (realCounts[b] !== o.S) return false;
    rows++;
  }
  return rows === o.batch;
}

/**
 * Throws GenerationError 'non-finite' if a real position's residual or a sampled logits row is not
 * finite. With `greedy`, also writes each checked logits row's argmax (token id) to `greedy[row]`:
 * the same pass over the row (see argmaxFinite), so greedy decoding does not scan it twice.
 */
export function checkFinite(o: StepOutput, realCounts: readonly number[], logitRows: readonly (number | null)[], shape: DecoderShape, greedy?: Int32Array): void {
  const V = shape.vocabSize;
  if (o.tap && !(logitsScan === 'wasm' && allReal(o, realCounts) && sharedLogitsWasm()?.allFinite(o.tap.data, 0, o.tap.dims.reduce((a, x) => a * x, 1)))) {
    // (every batch row's every position real: one SIMD pass over the whole tap, this loop only to name a failure)
    const [L, Bt, S, d] = o.tap.dims;
    for (let l = 0; l < L; l++) {
      realCounts.forEach((n, b) => {
        const i = o.index[b];
        if (!n || i < 0) return;
        const off = ((l * Bt + i) * S) * d;
        if (firstNonFinite(o.tap!.data, off, off + n * d) >= 0) {
          throw new GenerationError('non-finite', `The residual stream became infinite or NaN at layer ${l} (row ${b}); steering or capping values this large break the model. Lower them and try again.`, { layer: l, row: b });
        }
      });
    }
  }
  for (let b = 0; b < logitRows.length; b++) {
    const s = logitRows[b];
    if (s === null) continue;
    const i = o.index[b];
    if (i < 0) throw new GenerationError('no-logits', `Row ${b} was not in this step's batch.`);
    const off = logitsOffset(o, i, s, V);
    const g = rowArgmaxFinite(o.logits, off, off + V);
    if (g < 0) {
      throw new GenerationError('non-finite', `The model's output (logits) became infinite or NaN (row ${b}); check the steering and capping values and try again.`, { row: b });
    }
    if (greedy) greedy[b] = g;
  }
}

interface RowState {
  tokens: number[];
}

/** Extra, engine-internal run options (the 1-row wrappers use them). */
export interface InternalRunOptions extends RunOptions {
  /** Called with the logits row that chose each generated token. */
  onLogits?: (row: number, logits: Float32Array) => void;
  /** Tokens per prefill forward pass (bounds the logits buffer); default 256. */
  prefillChunk?: number;
}

export class BatchConversation implements Conversation {
  private readonly kv: BatchKv;
  private readonly state: RowState[];
  private disposed = false;

  constructor(private readonly host: EngineHost, readonly rows: number) {
    if (!Number.isInteger(rows) || rows < 1 || rows > 256) throw new DataError('rows', `A conversation needs 1 to 256 rows, got ${rows}.`);
    this.kv = new BatchKv(host, rows);
    this.state = Array.from({ length: rows }, () => ({ tokens: [] }));
  }

  private row(r: number): RowState {
    if (this.disposed) throw new GenerationError('disposed', 'This conversation has been closed.');
    const s = this.state[r];
    if (!s) throw new DataError('row', `Row ${r} does not exist; this conversation has rows 0 to ${this.rows - 1}.`);
    return s;
  }

  tokens(r: number): readonly number[] {
    return this.row(r).tokens;
  }

  cachedLength(r: number): number {
    this.row(r);
    return this.kv.cached[r];
  }

  setTokens(r: number, ids: readonly number[]): void {
    const s = this.row(r);
    checkTokenIds(this.host.shape, ids);
    const cached = this.kv.cached[r];
    let k = 0;
    while (k < cached && k < ids.length && s.tokens[k] === ids[k]) k++;
    this.kv.truncate(r, k);
    s.tokens = ids.slice();
  }

  run(options: RunOptions): Promise<RunResult> {
    return this.drive(options);
  }

  /** run() with the engine-internal options. */
  async drive(options: InternalRunOptions): Promise<RunResult> {
    const it = this.exec(options);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      await options.onToken?.(r.value);
    }
  }

  async recompute(params: readonly RowParams[], options: Pick<RunOptions, 'axis' | 'keepResid' | 'onPosition' | 'signal'> = {}): Promise<void> {
    for (let r = 0; r < this.rows; r++) this.row(r);
    const release = await this.host.acquire();
    try {
      this.kv.reset();
      // Feed all but each row's last token (which stays queued for the next run, as after a generation).
      await this.prefill({ ...options, params, maxNewTokens: 0 }, (r) => Math.max(0, this.state[r].tokens.length - 1), null);
    } finally {
      release();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kv.dispose();
  }

  // ---------------------------------------------------------------------------------------------

  private unitAxisFor(axis: Float32Array | null | undefined, cache: { src?: Float32Array | null; unit: Float32Array | null }): Float32Array | null {
    if (!axis || !this.host.instrumented) return null;
    if (axis !== cache.src) {
      const { numLayers: L, hiddenSize: d } = this.host.shape;
      if (axis.length !== L * d) throw new DataError('axis-shape', `The projection axis holds ${axis.length} numbers; this model needs ${L * d} (layers x hidden size).`);
      cache.src = axis;
      cache.unit = unitRows(axis, L, d);
    }
    return cache.unit;
  }

  /** Projections (per layer, on the unit axis), clamped count and resid of (row b, step index s). */
  private position(o: StepOutput, r: number, s: number, unit: Float32Array | null, keepResid: boolean, residBuf: { buf: Float32Array | null }) {
    const { numLayers: L, hiddenSize: d } = this.host.shape;
    const b = o.index[r];
    let projections: Float32Array | null = null;
    let resid: Float32Array | null = null;
    let clamped = 0;
    let lifts: Float32Array | null = null;
    if (o.tap) {
      const [, B, S] = o.tap.dims;
      if (unit) projections = new Float32Array(L);
      if (keepResid) resid = residBuf.buf ??= new Float32Array(L * d);
      for (let l = 0; l < L; l++) {
        const off = ((l * B + b) * S + s) * d;
        if (projections) {
          let acc = 0;
          for (let j = 0; j < d; j++) acc += o.tap.data[off + j] * unit![l * d + j];
          projections[l] = acc;
        }
        if (resid) resid.set(o.tap.data.subarray(off, off + d), l * d);
      }
    }
    if (o.lift) {
      const [, B, S] = o.lift.dims;
      lifts = new Float32Array(L);
      for (let l = 0; l < L; l++) {
        const v = o.lift.data[(l * B + b) * S + s];
        lifts[l] = v;
        if (v > 0) clamped++;
      }
    }
    return { projections, resid, clamped, lifts };
  }

  /**
   * Feed every row's queued tokens up to `target(r)` (batched, in chunks). Returns per row the
   * logits row of its last fed token when `wantLogits(r)` and it fed anything (copied), and its
   * projections; reports every fed position through onPosition.
   */
  private async prefill(
    options: InternalRunOptions,
    target: (r: number) => number,
    wantLogits: ((r: number) => boolean) | null,
    axisCache: { src?: Float32Array | null; unit: Float32Array | null } = { unit: null },
  ): Promise<{ last: (Float32Array | null)[]; lastProj: (Float32Array | null)[]; lastGreedy: Int32Array; fed: number; ms: number }> {
    const B = this.rows;
    const V = this.host.shape.vocabSize;
    const chunkLimit = Math.max(1, options.prefillChunk ?? 256);
    const last: (Float32Array | null)[] = new Array(B).fill(null);
    const lastProj: (Float32Array | null)[] = new Array(B).fill(null);
    /** Per row, the argmax of `last[r]` (checkFinite's pass). */
    const lastGreedy = new Int32Array(B).fill(-1);
    const residBuf = { buf: null as Float32Array | null };
    let fed = 0;
    let ms = 0;
    for (;;) {
      const pending = this.state.map((_, r) => Math.max(0, target(r) - this.kv.cached[r]));
      if (pending.every((n) => n === 0)) break;
      let chunks: number[][];
      if (this.kv.perRowPrefill(pending)) {
        // genai, later turn: one row at a time at batch 1, several tokens per pass (see BatchKv.perRowPrefill).
        const r0 = pending.findIndex((n) => n > 0);
        chunks = this.state.map((s, r) => (r === r0 ? s.tokens.slice(this.kv.cached[r], Math.min(target(r), this.kv.cached[r] + chunkLimit)) : []));
      } else {
        // A genai batch feeds its first prompt in one pass (later chunks, unsliceable, one token at a time).
        const firstGqaPrompt = this.host.style === 'genai' && this.rows > 1 && this.kv.cached.every((c) => c === 0);
        const chunkMax = Math.min(this.kv.maxChunk(), firstGqaPrompt ? Infinity : chunkLimit);
        chunks = this.state.map((s, r) => s.tokens.slice(this.kv.cached[r], Math.min(target(r), this.kv.cached[r] + chunkMax)));
      }
      if (options.signal?.aborted) throw new GenerationError('interrupted', 'Interrupted.');
      const starts = this.kv.cached.slice();
      const params = options.params;
      const t0 = performance.now();
      const logitRows = chunks.map((c, r) => (wantLogits?.(r) && c.length && starts[r] + c.length === target(r) ? c.length - 1 : null));
      // only each row's last token's logits are read (logitRows): the session may skip the others
      const o = await this.kv.step(chunks, chunks.map((_, r) => params[r]), (x) => checkFinite(x, chunks.map((c) => c.length), logitRows, this.host.shape, lastGreedy), true);
      ms += performance.now() - t0;
      const unit = this.unitAxisFor(options.axis, axisCache);
      chunks.forEach((c, r) => {
        fed += c.length;
        for (let j = 0; j < c.length; j++) {
          const p = this.position(o, r, j, unit, !!options.keepResid, residBuf);
          options.onPosition?.({ row: r, position: starts[r] + j, id: c[j], projections: p.projections, resid: p.resid, clamped: p.clamped, lifts: p.lifts });
          if (j === c.length - 1) lastProj[r] = p.projections;
        }
        const s = logitRows[r];
        if (s !== null) last[r] = logitsRow(o, r, s, V).slice();
      });
      disposeAll(o.outputs, new Set(Object.values(this.kv.past)));
      await yieldToEventLoop();
    }
    return { last, lastProj, lastGreedy, fed, ms };
  }

  /** The run as an iterator of token events (holding the engine until it ends). */
  async *exec(options: InternalRunOptions): AsyncGenerator<RowTokenEvent, RunResult, void> {
    const B = this.rows;
    for (let r = 0; r < B; r++) this.row(r);
    const maxNew = options.maxNewTokens;
    if (!Number.isInteger(maxNew) || maxNew < 0) throw new DataError('max-tokens', `The number of new tokens must be a whole number, 0 or more, got ${maxNew}.`);
    if (!options.params || options.params.length !== B) throw new DataError('row-params', `Give one params object per row (${B}), got ${options.params?.length ?? 0}.`);
    const gen = Array.from({ length: B }, (_, r) => maxNew > 0 && (options.generate?.[r] ?? true));
    const stopSets = Array.from({ length: B }, (_, r) => {
      const s = options.stopIds;
      const ids = s && s.length && Array.isArray(s[0]) ? (s as readonly (readonly number[])[])[r] ?? [] : (s as readonly number[] | undefined) ?? [];
      return new Set(ids);
    });
    const seeds = options.seeds ?? [];
    const rngs = Array.from({ length: B }, (_, r) => new Pcg32(seeds[r] ?? 0));
    for (const p of options.params) validateSampling(p?.sampling ?? GREEDY);
    const max = this.host.shape.maxPositionEmbeddings ?? Infinity;
    const V = this.host.shape.vocabSize;

    const release = await this.host.acquire();
    const results: RowRunResult[] = Array.from({ length: B }, (_, r) => ({ ids: [], text: '', stopReason: gen[r] ? 'max-tokens' : 'prefill-only' as RowStopReason }));
    const axisCache: { src?: Float32Array | null; unit: Float32Array | null } = { unit: null };
    let decodeMs = 0, decoded = 0;
    try {
      // A generating row needs its last token queued (its logits choose the next token).
      for (let r = 0; r < B; r++) {
        if (!gen[r]) continue;
        const n = this.state[r].tokens.length;
        if (n === 0) throw new DataError('empty-prompt', `Row ${r} has no tokens; give the model at least one token to continue from.`);
        if (this.kv.cached[r] >= n) this.kv.truncate(r, n - 1);
      }
      let pre: Awaited<ReturnType<BatchConversation['prefill']>>;
      try {
        pre = await this.prefill(options, (r) => this.state[r].tokens.length, (r) => gen[r], axisCache);
      } catch (e) {
        if (e instanceof GenerationError && e.code === 'interrupted') {
          for (let r = 0; r < B; r++) if (gen[r]) results[r].stopReason = 'interrupted';
          return this.result(results, 0, 0, 0, 0);
        }
        throw e;
      }
      const prefillTokens = pre.fed;
      const prefillMs = pre.ms;
      const active = gen.slice();
      let logits: (Float32Array | null)[] = pre.last;
      let proj: (Float32Array | null)[] = pre.lastProj;
      // Per row, the argmax of logits[r], found by checkFinite in its pass over the row (-1: none).
      const greedy = pre.lastGreedy;
      const residBuf = { buf: null as Float32Array | null };
      for (let step = 0; ; step++) {
        // Sample one token per active row from the logits of its last fed position.
        const pending: number[][] = Array.from({ length: B }, () => []);
        for (let r = 0; r < B; r++) {
          if (!active[r]) continue;
          const row = logits[r];
          if (!row) throw new GenerationError('no-logits', `Row ${r} has no logits to sample from.`);
          options.onLogits?.(r, row);
          const sampling = options.params[r]?.sampling ?? GREEDY;
          validateSampling(sampling);
          // Greedy (sampleToken's own test) takes the argmax checkFinite found: the same token.
          const id = sampling.temperature < 1e-5 && greedy[r] >= 0 ? greedy[r] : sampleToken(row, sampling, rngs[r], 0, V);
          const res = results[r];
          const stop = stopSets[r].has(id);
          const text = options.decoders?.[r] && !stop ? options.decoders[r]!.push(id) : '';
          res.ids.push(id);
          res.text += text;
          this.state[r].tokens.push(id);
          if (step > 0) decoded++;
          yield { row: r, index: res.ids.length - 1, id, text, projections: proj[r], stop };
          if (stop) {
            res.stopReason = 'eos';
            active[r] = false;
          } else if (res.ids.length >= maxNew || this.state[r].tokens.length >= max) {
            res.stopReason = 'max-tokens';
            active[r] = false;
          } else pending[r] = [id];
        }
        if (!active.some(Boolean)) break;
        await yieldToEventLoop();
        if (options.signal?.aborted) {
          for (let r = 0; r < B; r++) if (active[r]) results[r].stopReason = 'interrupted';
          break;
        }
        const t0 = performance.now();
        const starts = this.kv.cached.slice();
        greedy.fill(-1);
        const o = await this.kv.step(pending, pending.map((_, r) => options.params[r]), (x) =>
          checkFinite(x, pending.map((c) => c.length), pending.map((c) => (c.length ? 0 : null)), this.host.shape, greedy));
        decodeMs += performance.now() - t0;
        const unit = this.unitAxisFor(options.axis, axisCache);
        logits = new Array(B).fill(null);
        proj = new Array(B).fill(null);
        for (let r = 0; r < B; r++) {
          if (!pending[r].length) continue;
          const p = this.position(o, r, 0, unit, !!options.keepResid, residBuf);
          options.onPosition?.({ row: r, position: starts[r], id: pending[r][0], projections: p.projections, resid: p.resid, clamped: p.clamped, lifts: p.lifts } satisfies PositionEvent);
          logits[r] = logitsRow(o, r, 0, V);
          proj[r] = p.projections;
        }
        disposeAll(o.outputs, new Set(Object.values(this.kv.past)));
      }
      for (let r = 0; r < B; r++) {
        const dec = options.decoders?.[r];
        if (dec && gen[r]) results[r].text += dec.flush();
      }
      return this.result(results, prefillTokens, prefillMs, decodeMs, decoded);
    } finally {
      release();
    }
  }

  private result(rows: RowRunResult[], prefillTokens: number, prefillMs: number, decodeMs: number, decoded: number): RunResult {
    return { rows, prefillTokens, prefillMs, decodeMs, decodeTokensPerSecond: decodeMs > 0 ? (decoded * 1000) / decodeMs : 0 };
  }
}
