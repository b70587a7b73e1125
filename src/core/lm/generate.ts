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
import { DataError } from '../errors';
import type { ExportStyle } from '../onnx/instrument';
import {
  BatchConversation, BatchKv, checkFinite, checkTokenIds, GenerationError, unitRows,
  type DecoderShape, type EngineHost, type InternalRunOptions,
} from './conversation';
import {
  ATTENTION_MASK, CAP_AXIS_INPUT, CAP_TAU_INPUT, INPUT_IDS, LOGITS, pastName, POSITION_IDS, presentName, RESID_POST_OUTPUT, STEER_INPUT,
  type DecoderSessionLike, type InterventionFeeds, type OrtModuleLike,
} from './ort';
import type { Conversation } from './rows';
import { GREEDY, validateSampling, type SamplingParams } from './sampling';
import type { StreamDecoder } from './tokenizer';

// The runtime types live in ort.ts (the one seam); re-exported for older imports.
export type { DecoderSessionLike, InterventionFeeds, OrtModuleLike, OrtTensorLike } from './ort';
export { GenerationError, unitRows, yieldToEventLoop, type DecoderShape } from './conversation';

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

/** `preferredOutputLocation` for a WebGPU session: keep every present.* on the GPU. */
export function kvCacheOutputLocations(numLayers: number): Record<string, 'gpu-buffer'> {
  const out: Record<string, 'gpu-buffer'> = {};
  for (let i = 0; i < numLayers; i++) {
    out[presentName(i, 'key')] = 'gpu-buffer';
    out[presentName(i, 'value')] = 'gpu-buffer';
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


/**
 * One decoder session plus what is needed to drive it. Calls are serialised: a run that is
 * interrupted finishes its in-flight forward pass and only then lets the next call in.
 * `conversation(rows)` gives a batched, cache-keeping Conversation (rows.ts); generate / stream /
 * forward are one-row conveniences over the same machinery (their cache is freed at the end).
 */
export class LmEngine implements EngineHost {
  readonly instrumented: boolean;
  readonly hasPositionIds: boolean;
  readonly kvType: 'float32' | 'float16';
  /** Export style of the graph ('genai' GroupQueryAttention or 'optimum' plain ops); decides how padded rows are laid out. */
  readonly style: ExportStyle | undefined;
  readonly positionOffset: number;
  readonly sliceRows: boolean;
  private lock: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly ort: OrtModuleLike,
    readonly session: DecoderSessionLike,
    readonly shape: DecoderShape,
    options: {
      kvType?: 'float32' | 'float16';
      positionOffset?: number;
      style?: ExportStyle;
      /** false: keep every row in the batch (see conversation.ts, "Rows leave and rejoin the batch"); for A/B measurement. */
      sliceRows?: boolean;
    } = {},
  ) {
    const inputs = new Set(session.inputNames);
    for (const name of [INPUT_IDS, ATTENTION_MASK]) {
      if (!inputs.has(name)) throw new GenerationError('not-a-decoder', `The ONNX graph has no "${name}" input, so it is not a text decoder (inputs: ${[...inputs].join(', ')}).`);
    }
    if (!inputs.has(pastName(0, 'key'))) {
      throw new GenerationError('no-kv-cache', 'The ONNX graph has no past_key_values inputs; export it "with past" to generate with a KV cache.');
    }
    if (!session.outputNames.includes(LOGITS)) throw new GenerationError('not-a-decoder', `The ONNX graph has no "${LOGITS}" output.`);
    this.instrumented = inputs.has(STEER_INPUT) && inputs.has(CAP_AXIS_INPUT) && inputs.has(CAP_TAU_INPUT) && session.outputNames.includes(RESID_POST_OUTPUT);
    this.hasPositionIds = inputs.has(POSITION_IDS);
    const meta = session.inputMetadata?.find((m) => m.name === pastName(0, 'key'));
    this.kvType = options.kvType ?? (meta?.type === 'float16' ? 'float16' : 'float32');
    this.positionOffset = options.positionOffset ?? 0;
    this.style = options.style;
    this.sliceRows = options.sliceRows ?? true;
  }

  /** Wait for every earlier call (even one that failed or was interrupted), then hold the engine. */
  async acquire(): Promise<() => void> {
    if (this.disposed) throw new GenerationError('disposed', 'This model has been unloaded; load it again.');
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    await prev;
    if (this.disposed) {
      release();
      throw new GenerationError('disposed', 'This model has been unloaded; load it again.');
    }
    return release;
  }

  /** A conversation of `rows` rows, each with its own tokens, cache, interventions and sampling (see rows.ts). */
  conversation(rows: number): Conversation {
    if (this.disposed) throw new GenerationError('disposed', 'This model has been unloaded; load it again.');
    return new BatchConversation(this, rows);
  }

  private validatePrompt(ids: readonly number[]): void {
    if (ids.length === 0) throw new DataError('empty-prompt', 'The prompt is empty; give the model at least one token.');
    checkTokenIds(this.shape, ids, 'prompt');
  }

  /** Whole sequence in one pass, no cache (teacher forcing): logits and resid_post at every position. */
  async forward(ids: readonly number[], params?: InterventionFeeds): Promise<ForwardResult> {
    this.validatePrompt(ids);
    const release = await this.acquire();
    const kv = new BatchKv(this, 1);
    try {
      const o = await kv.step([ids], [params], (x) => {
        checkFinite(x, [ids.length], [ids.length - 1], this.shape);
        if (x.logits.some((v) => !Number.isFinite(v))) throw new GenerationError('non-finite', "The model's output (logits) became infinite or NaN; check the steering and capping values and try again.");
      });
      return { logits: o.logits.slice(), residPost: o.tap ? o.tap.data.slice() : null, seq: ids.length };
    } finally {
      kv.dispose();
      release();
    }
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
    this.validatePrompt(promptIds);
    if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1) {
      throw new DataError('max-tokens', `The number of new tokens must be a whole number of at least 1, got ${options.maxNewTokens}.`);
    }
    const params = options.params ?? {};
    validateSampling(params.sampling ?? GREEDY);
    const conv = new BatchConversation(this, 1);
    const logitsLog: Float32Array[] = [];
    const projections: (Float32Array | null)[] = [];
    let it: AsyncGenerator<unknown, unknown, void> | undefined;
    try {
      conv.setTokens(0, promptIds);
      const run: InternalRunOptions = {
        maxNewTokens: options.maxNewTokens,
        seeds: [options.seed ?? 0],
        stopIds: options.stopIds,
        params: [params],
        get axis() {
          return params.axis;
        },
        signal: options.signal,
        decoders: [options.decoder],
        onLogits: options.recordLogits ? (_r, l) => logitsLog.push(l.slice()) : undefined,
      };
      const exec = conv.exec(run);
      it = exec;
      for (;;) {
        const r = await exec.next();
        if (r.done) {
          const row = r.value.rows[0];
          const { prefillMs, decodeMs } = r.value;
          return {
            ids: row.ids,
            text: row.text,
            stopReason: row.stopReason === 'prefill-only' ? 'max-tokens' : row.stopReason,
            promptTokens: promptIds.length,
            projections,
            prefillMs,
            decodeMs,
            prefillTokensPerSecond: prefillMs > 0 ? (promptIds.length * 1000) / prefillMs : 0,
            decodeTokensPerSecond: r.value.decodeTokensPerSecond,
            ...(options.recordLogits ? { logits: logitsLog } : {}),
          };
        }
        const e = r.value;
        projections.push(e.projections);
        yield { index: e.index, id: e.id, text: e.text, projections: e.projections, stop: e.stop };
      }
    } finally {
      // An abandoned iterator (break in for-await) still lets go of the engine.
      await it?.return(undefined);
      conv.dispose();
    }
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
