/**
 * Text generation in our own loop on an ONNX decoder session (onnxruntime-web in a tab or worker,
 * onnxruntime-web or -node in Node): prefill + KV cache, attention mask and position ids, sampling,
 * stop tokens, interrupt, streaming, and — on graphs instrumented with `instrumentDecoder` — the
 * residual-stream tap `resid_post` and the `steer` / `cap_axis` / `cap_tau` inputs, re-read from a
 * mutable params object before every forward pass so sliders act between tokens.
 *
 * The ort module and the session are injected: this file never imports a runtime, so it runs
 * unchanged in every environment. On WebGPU, create the session with `kvCacheOutputLocations()`
 * so the present.* tensors stay on the GPU and go straight back in as past_key_values.
 */
import { DataError, PersonaSpaceError } from '../errors';
import { outputF32 } from './ort';
import { GREEDY, Pcg32, sampleToken, validateSampling, type SamplingParams } from './sampling';
import type { StreamDecoder } from './tokenizer';

// ---------------------------------------------------------------------------------------------
// The slice of onnxruntime's API used here (satisfied by onnxruntime-web and onnxruntime-node).

export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  readonly location?: string;
  dispose?(): void;
}
export interface OrtModuleLike {
  Tensor: new (type: any, data: any, dims: readonly number[]) => OrtTensorLike;
}
export interface DecoderSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly { name: string; isTensor?: boolean; type?: string }[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------

/** Model dimensions the loop needs (a subset of DecoderConfig). */
export interface DecoderShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
}

/**
 * Interventions in graph-input form, read before every forward pass (mutate them, or replace the
 * fields, while a generation runs). Missing fields mean "off".
 * - `steer`: (L, d) row-major, added to resid_post[L] at every position (zeros = off).
 * - `capAxis`: (L, d) unit vectors; `capTau`: (L) thresholds; a layer with tau = -Infinity is not capped.
 */
export interface InterventionFeeds {
  steer?: Float32Array | null;
  capAxis?: Float32Array | null;
  capTau?: Float32Array | null;
}

/** Everything that may change between tokens. */
export interface LiveParams extends InterventionFeeds {
  sampling?: SamplingParams;
  /** Projection axis (L, d), any norm (normalised per layer here); null = no projections. */
  axis?: Float32Array | null;
}

export interface TokenEvent {
  /** 0-based index among the generated tokens. */
  index: number;
  id: number;
  /** New text (may be '' while a multi-byte character is incomplete, or for control tokens). */
  text: string;
  /**
   * Per layer, resid_post . axis[L]/|axis[L]| at the position whose forward pass chose this token
   * (the last prompt token for the first one, then the previous token's position): so a change of
   * steering or capping shows in the very next event. Null without an axis or on a plain graph.
   */
  projections: Float32Array | null;
  /** Whether this token is a stop token (it ends the generation and is not fed back). */
  stop: boolean;
}

export type StopReason = 'eos' | 'max-tokens' | 'interrupted';

export interface GenerateResult {
  ids: number[];
  text: string;
  stopReason: StopReason;
  promptTokens: number;
  /** Per generated token, as in TokenEvent.projections (null entries when not available). */
  projections: (Float32Array | null)[];
  prefillMs: number;
  decodeMs: number;
  /** Prompt tokens per second of the prefill pass. */
  prefillTokensPerSecond: number;
  /** Generated tokens per second after the first one (the first comes from the prefill). */
  decodeTokensPerSecond: number;
  /** When `recordLogits` was set: the logits row that chose each token (tests, debugging). */
  logits?: Float32Array[];
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Seed of the sampling RNG (default 0); the same seed, prompt and params give the same tokens. */
  seed?: number;
  /** Token ids that end generation (the model's eos ids). */
  stopIds?: readonly number[];
  /** Stop between forward passes; the engine stays usable. */
  signal?: AbortSignal;
  /** Read before every forward pass; see LiveParams. */
  params?: LiveParams;
  /** Turns ids into text pieces (ChatTokenizer.streamDecoder()). */
  decoder?: StreamDecoder;
  onToken?: (e: TokenEvent) => void | Promise<void>;
  recordLogits?: boolean;
}

export interface ForwardResult {
  /** (seq, vocab) logits, row-major. */
  logits: Float32Array;
  /** (L, seq, d) resid_post, or null on a graph without the tap. */
  residPost: Float32Array | null;
  seq: number;
}

export class GenerationError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'GenerationError';
  }
}

/** `preferredOutputLocation` for a WebGPU session: keep every present.* on the GPU. */
export function kvCacheOutputLocations(numLayers: number): Record<string, 'gpu-buffer'> {
  const out: Record<string, 'gpu-buffer'> = {};
  for (let i = 0; i < numLayers; i++) {
    out[`present.${i}.key`] = 'gpu-buffer';
    out[`present.${i}.value`] = 'gpu-buffer';
  }
  return out;
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

/**
 * Per layer, resid_post[l, pos] . unitAxis[l] from a (L, seq, d) buffer (batch 1).
 */
export function projectPosition(resid: Float32Array, L: number, seq: number, d: number, pos: number, unitAxis: Float32Array): Float32Array {
  const out = new Float32Array(L);
  for (let l = 0; l < L; l++) {
    const o = (l * seq + pos) * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += resid[o + j] * unitAxis[l * d + j];
    out[l] = s;
  }
  return out;
}

/**
 * Teacher-forced projections for drift: per position, per layer, resid_post . unit axis, from a
 * `forward()` result. Null when the graph has no taps.
 */
export function projectSequence(r: ForwardResult, shape: Pick<DecoderShape, 'numLayers' | 'hiddenSize'>, axis: Float32Array): Float32Array[] | null {
  if (!r.residPost) return null;
  const { numLayers: L, hiddenSize: d } = shape;
  if (axis.length !== L * d) throw new DataError('axis-shape', `The projection axis holds ${axis.length} numbers; this model needs ${L * d} (layers x hidden size).`);
  const unit = unitRows(axis, L, d);
  return Array.from({ length: r.seq }, (_, pos) => projectPosition(r.residPost!, L, r.seq, d, pos, unit));
}

function tensorToF32(t: OrtTensorLike, what: string): Float32Array {
  return outputF32(t, `"${what}" output`);
}

/**
 * One decoder session plus what is needed to drive it. Calls are serialised: a generate() that is
 * interrupted finishes its in-flight forward pass, frees its cache and only then lets the next call in.
 */
export class LmEngine {
  readonly instrumented: boolean;
  readonly hasPositionIds: boolean;
  readonly kvType: 'float32' | 'float16';
  private lock: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly ort: OrtModuleLike,
    readonly session: DecoderSessionLike,
    readonly shape: DecoderShape,
    options: { kvType?: 'float32' | 'float16'; positionOffset?: number } = {},
  ) {
    const inputs = new Set(session.inputNames);
    for (const name of ['input_ids', 'attention_mask']) {
      if (!inputs.has(name)) throw new GenerationError('not-a-decoder', `The ONNX graph has no "${name}" input, so it is not a text decoder (inputs: ${[...inputs].join(', ')}).`);
    }
    if (!inputs.has('past_key_values.0.key')) {
      throw new GenerationError('no-kv-cache', 'The ONNX graph has no past_key_values inputs; export it "with past" to generate with a KV cache.');
    }
    if (!session.outputNames.includes('logits')) throw new GenerationError('not-a-decoder', 'The ONNX graph has no "logits" output.');
    this.instrumented = inputs.has('steer') && inputs.has('cap_axis') && inputs.has('cap_tau') && session.outputNames.includes('resid_post');
    this.hasPositionIds = inputs.has('position_ids');
    const meta = session.inputMetadata?.find((m) => m.name === 'past_key_values.0.key');
    this.kvType = options.kvType ?? (meta?.type === 'float16' ? 'float16' : 'float32');
    this.positionOffset = options.positionOffset ?? 0;
  }

  private readonly positionOffset: number;

  /** Run `fn` when every earlier call has finished (even if it failed or was interrupted). */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) throw new GenerationError('disposed', 'This model has been unloaded; load it again.');
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private emptyPast(): Record<string, OrtTensorLike> {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const feeds: Record<string, OrtTensorLike> = {};
    const dims = [1, numKvHeads, 0, headDim];
    for (let i = 0; i < numLayers; i++) {
      for (const kv of ['key', 'value']) {
        feeds[`past_key_values.${i}.${kv}`] = new this.ort.Tensor(this.kvType, this.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), dims);
      }
    }
    return feeds;
  }

  private interventionFeeds(p: InterventionFeeds | undefined): Record<string, OrtTensorLike> {
    if (!this.instrumented) return {};
    const { numLayers: L, hiddenSize: d } = this.shape;
    const check = (a: Float32Array | null | undefined, n: number, name: string) => {
      if (a && a.length !== n) throw new DataError('intervention-shape', `The ${name} feed holds ${a.length} numbers; this model needs ${n} (layers x hidden size).`);
      return a;
    };
    const steer = check(p?.steer, L * d, 'steering') ?? new Float32Array(L * d);
    const capAxis = check(p?.capAxis, L * d, 'capping axis') ?? new Float32Array(L * d);
    const capTau = check(p?.capTau, L, 'capping threshold') ?? new Float32Array(L).fill(-Infinity);
    return {
      steer: new this.ort.Tensor('float32', steer.slice(), [L, d]),
      cap_axis: new this.ort.Tensor('float32', capAxis.slice(), [L, d]),
      cap_tau: new this.ort.Tensor('float32', capTau.slice(), [L]),
    };
  }

  private stepFeeds(ids: readonly number[], pastLen: number, past: Record<string, OrtTensorLike>, p: InterventionFeeds | undefined) {
    const seq = ids.length;
    const total = pastLen + seq;
    const feeds: Record<string, OrtTensorLike> = {
      input_ids: new this.ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [1, seq]),
      attention_mask: new this.ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      ...past,
      ...this.interventionFeeds(p),
    };
    if (this.hasPositionIds) {
      const pos = new BigInt64Array(seq);
      for (let i = 0; i < seq; i++) pos[i] = BigInt(pastLen + i + this.positionOffset);
      feeds.position_ids = new this.ort.Tensor('int64', pos, [1, seq]);
    }
    return feeds;
  }

  private validateIds(ids: readonly number[]): void {
    if (ids.length === 0) throw new DataError('empty-prompt', 'The prompt is empty; give the model at least one token.');
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.shape.vocabSize) {
        throw new DataError('token-id', `Token id ${id} is outside the model's vocabulary (0..${this.shape.vocabSize - 1}).`);
      }
    }
  }

  /** Whole sequence in one pass, no cache (teacher forcing): logits and resid_post at every position. */
  forward(ids: readonly number[], params?: InterventionFeeds): Promise<ForwardResult> {
    this.validateIds(ids);
    return this.exclusive(async () => {
      const out = await this.session.run(this.stepFeeds(ids, 0, this.emptyPast(), params));
      try {
        const logits = tensorToF32(out.logits, 'logits');
        const residPost = this.instrumented ? tensorToF32(out.resid_post, 'resid_post') : null;
        return { logits: logits.slice(), residPost: residPost ? residPost.slice() : null, seq: ids.length };
      } finally {
        disposeAll(out);
      }
    });
  }

  /** Generate with a callback per token (see `stream` for the iterator form). */
  async generate(promptIds: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
    const it = this.stream(promptIds, options);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      await options.onToken?.(r.value);
    }
  }

  /**
   * Generate as an async iterator of TokenEvents, returning the GenerateResult. Breaking out of
   * the loop stops generation cleanly (the cache is freed, the engine stays usable).
   */
  async *stream(promptIds: readonly number[], options: GenerateOptions): AsyncGenerator<TokenEvent, GenerateResult, void> {
    this.validateIds(promptIds);
    if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1) {
      throw new DataError('max-tokens', `The number of new tokens must be a whole number of at least 1, got ${options.maxNewTokens}.`);
    }
    validateSampling(options.params?.sampling ?? GREEDY);
    // Hold the engine for the whole generation, handing it over when the iterator ends.
    if (this.disposed) throw new GenerationError('disposed', 'This model has been unloaded; load it again.');
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    await prev;
    const { numLayers: L, hiddenSize: d, vocabSize: V } = this.shape;
    const rng = new Pcg32(options.seed ?? 0);
    const stopIds = new Set(options.stopIds ?? []);
    const params = options.params ?? {};
    const ids: number[] = [];
    const projections: (Float32Array | null)[] = [];
    const logitsLog: Float32Array[] = [];
    let text = '';
    let past: Record<string, OrtTensorLike> = this.emptyPast();
    let pastLen = 0;
    let stopReason: StopReason = 'max-tokens';
    let prefillMs = 0;
    let decodeMs = 0;
    let axisSrc: Float32Array | null | undefined;
    let unitAxis: Float32Array | null = null;
    try {
      let input: readonly number[] = promptIds;
      for (let step = 0; step < options.maxNewTokens; step++) {
        if (step > 0) await yieldToEventLoop();
        if (options.signal?.aborted) {
          stopReason = 'interrupted';
          break;
        }
        const t0 = performance.now();
        const out = await this.session.run(this.stepFeeds(input, pastLen, past, params));
        // Swap the cache: the old past (GPU buffers on WebGPU) is freed, present becomes past.
        disposeAll(past);
        past = {};
        for (let i = 0; i < L; i++) {
          past[`past_key_values.${i}.key`] = out[`present.${i}.key`];
          past[`past_key_values.${i}.value`] = out[`present.${i}.value`];
        }
        pastLen += input.length;
        const seq = input.length;
        const logits = tensorToF32(out.logits, 'logits');
        const row = (seq - 1) * V;
        if (options.recordLogits) logitsLog.push(logits.slice(row, row + V));
        const sampling = params.sampling ?? GREEDY;
        validateSampling(sampling);
        const id = sampleToken(logits, sampling, rng, row, V);
        let proj: Float32Array | null = null;
        if (this.instrumented && params.axis) {
          if (params.axis !== axisSrc) {
            if (params.axis.length !== L * d) throw new DataError('axis-shape', `The projection axis holds ${params.axis.length} numbers; this model needs ${L * d} (layers x hidden size).`);
            axisSrc = params.axis;
            unitAxis = unitRows(params.axis, L, d);
          }
          proj = projectPosition(tensorToF32(out.resid_post, 'resid_post'), L, seq, d, seq - 1, unitAxis!);
        }
        disposeAll(out, new Set(Object.values(past)));
        const dt = performance.now() - t0;
        if (step === 0) prefillMs = dt;
        else decodeMs += dt;
        const stop = stopIds.has(id);
        const piece = options.decoder && !stop ? options.decoder.push(id) : '';
        text += piece;
        ids.push(id);
        projections.push(proj);
        yield { index: step, id, text: piece, projections: proj, stop };
        if (stop) {
          stopReason = 'eos';
          break;
        }
        input = [id];
      }
      if (options.decoder) text += options.decoder.flush();
    } finally {
      disposeAll(past);
      release();
    }
    const decoded = Math.max(0, ids.length - 1);
    return {
      ids,
      text,
      stopReason,
      promptTokens: promptIds.length,
      projections,
      prefillMs,
      decodeMs,
      prefillTokensPerSecond: prefillMs > 0 ? (promptIds.length * 1000) / prefillMs : 0,
      decodeTokensPerSecond: decodeMs > 0 ? (decoded * 1000) / decodeMs : 0,
      ...(options.recordLogits ? { logits: logitsLog } : {}),
    };
  }

  /** Wait for any running call, then release the session. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    const prev = this.lock;
    this.disposed = true;
    await prev;
    await this.session.release?.();
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

/** Free GPU-resident tensors (a no-op for CPU tensors), except those in `keep`. */
function disposeAll(tensors: Record<string, OrtTensorLike>, keep?: Set<OrtTensorLike>): void {
  for (const t of Object.values(tensors)) {
    if (t && t.location === 'gpu-buffer' && !keep?.has(t)) t.dispose?.();
  }
}
