/// <reference lib="webworker" />
/**
 * The model worker: loads a chat model (hub URL scheme, local files, or the built-in synthetic
 * model), instruments it (resid_post taps, steer, cap), and generates with streaming. The page talks
 * to it through `model-client.ts` (Comlink). One model at a time; calls are serialised by the engine.
 *
 * Backend choice: WebGPU when an adapter is there (and has shader-f16 for fp16 models), otherwise
 * WASM — multi-threaded when the page is cross-origin isolated, single-threaded otherwise. The
 * reason for the choice is returned so the UI can say it. The ORT wasm binary is the app's own copy
 * (emitted by Vite next to this worker), never a CDN.
 */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { parseConfig } from '../src/core/lm/config';
import { LmEngine, kvCacheOutputLocations, projectSequence, type GenerateResult, type LiveParams, type TokenEvent, type ForwardResult } from '../src/core/lm/generate';
import { loadModelFiles, stopTokenIds, type ModelLoadProgress, type ModelSource } from '../src/core/lm/model-source';
import { ChatTokenizer, type ChatMessage } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { createSession, type Ort } from '../src/core/lm/ort';
import { MemoryFileCache, defaultFileCache, type FileCache } from '../src/core/hub/cache';
import { isPersonaSpaceError } from '../src/core/errors';

export type DeviceRequest = 'auto' | 'webgpu' | 'wasm';

export interface LoadOptions {
  device?: DeviceRequest;
  /** Use the persistent browser cache for hub files (default true). */
  cache?: boolean;
}

export interface ModelInfo {
  label: string;
  backend: 'webgpu' | 'wasm';
  /** Why this backend, in a sentence (e.g. "WebGPU adapter unavailable: navigator.gpu missing"). */
  reason: string;
  /** WASM threads (1 when not cross-origin isolated). */
  threads: number;
  numLayers: number;
  hiddenSize: number;
  vocabSize: number;
  modelType: string;
  /** Export style the instrumenter recognised. */
  style: string;
  residDtype: string;
  stopIds: number[];
  bytes: number;
  loadMs: number;
  warnings: string[];
}

export interface GenerateRequest {
  /** A chat (the template is applied with a generation prompt, thinking off) ... */
  messages?: ChatMessage[];
  /** ... or raw prompt ids. */
  promptIds?: number[];
  maxNewTokens: number;
  seed?: number;
  /** Initial live params (sampling, steer/cap feeds, projection axis); change them with setParams. */
  params?: LiveParams;
  /** Override the model's stop ids ([] = run to maxNewTokens). */
  stopIds?: number[];
}

export interface WorkerGenerateResult extends Omit<GenerateResult, 'logits'> {
  promptText: string | null;
}

export interface WorkerError {
  code: string;
  message: string;
}

/** Errors cross the worker boundary as plain {code, message} so the page can show the sentence. */
function toWorkerError(e: unknown): Error {
  const err = new Error(isPersonaSpaceError(e) ? e.message : (e as Error)?.message ?? String(e));
  err.name = isPersonaSpaceError(e) ? e.code : 'error';
  return err;
}

async function chooseBackend(req: DeviceRequest, needsF16: boolean): Promise<{ backend: 'webgpu' | 'wasm'; reason: string }> {
  if (req === 'wasm') return { backend: 'wasm', reason: 'WASM requested.' };
  const gpu = (self.navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ features: Set<string> } | null> } }).gpu;
  const fallback = (why: string) => {
    if (req === 'webgpu') throw Object.assign(new Error(why), { name: 'webgpu-unavailable' });
    return { backend: 'wasm' as const, reason: why + '; using WASM.' };
  };
  if (!gpu) return fallback('WebGPU adapter unavailable: navigator.gpu missing');
  let adapter: { features: Set<string> } | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return fallback(`WebGPU adapter unavailable: requestAdapter failed (${(e as Error).message})`);
  }
  if (!adapter) return fallback('WebGPU adapter unavailable: requestAdapter() returned null');
  if (needsF16 && !adapter.features.has('shader-f16')) return fallback('WebGPU has no shader-f16, which this fp16 model needs');
  return { backend: 'webgpu', reason: 'Using WebGPU.' };
}

function configureWasm(): number {
  ort.env.wasm.wasmPaths = { wasm: ortWasmUrl };
  const isolated = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = isolated ? Math.max(1, Math.min(4, self.navigator.hardwareConcurrency ?? 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  return threads;
}

// Before anything imports transformers.js (whose default would point the wasm files at a CDN).
configureWasm();

class ModelWorker {
  private engine: LmEngine | null = null;
  private tokenizer: ChatTokenizer | null = null;
  private info: ModelInfo | null = null;
  private live: LiveParams = {};
  private abort: AbortController | null = null;
  private loadAbort: AbortController | null = null;
  private cache: FileCache | null = null;

  async load(source: ModelSource, options: LoadOptions = {}, onProgress?: (p: ModelLoadProgress) => void): Promise<ModelInfo> {
    try {
      await this.dispose();
      const t0 = performance.now();
      this.loadAbort = new AbortController();
      if (options.cache !== false && source.kind === 'hub') {
        try {
          this.cache ??= defaultFileCache();
        } catch {
          this.cache = new MemoryFileCache();
        }
      }
      const files = await loadModelFiles(source, {
        signal: this.loadAbort.signal,
        cache: options.cache === false ? undefined : this.cache ?? undefined,
        onProgress: onProgress ? (p) => void Promise.resolve(onProgress(p)).catch(() => {}) : undefined,
      });
      const config = parseConfig(files.config);
      const tokenizer = await ChatTokenizer.fromFiles(files.tokenizer);
      const inst = instrumentDecoder(files.model, { externalData: files.externalData, hiddenSize: config.hiddenSize });
      const needsF16 = inst.info.residDtype === 'float16';
      const threads = configureWasm();
      let { backend, reason } = await chooseBackend(options.device ?? 'auto', needsF16);
      const create = (ep: 'webgpu' | 'wasm') =>
        createSession(ort as unknown as Ort, inst, {
          executionProviders: [ep],
          graphOptimizationLevel: 'all',
          // On WebGPU the KV cache never leaves the GPU: present.* go straight back in as past.
          ...(ep === 'webgpu' ? { preferredOutputLocation: kvCacheOutputLocations(config.numLayers) } : {}),
        });
      let session: Awaited<ReturnType<typeof create>>;
      try {
        session = await create(backend);
      } catch (e) {
        if (backend !== 'webgpu' || options.device === 'webgpu') throw e;
        reason = `WebGPU session failed (${(e as Error).message}); using WASM.`;
        backend = 'wasm';
        session = await create('wasm');
      }
      if (backend === 'wasm') reason += threads > 1 ? ` WASM with ${threads} threads (cross-origin isolated).` : ' WASM single-threaded (the page is not cross-origin isolated).';
      this.engine = new LmEngine(ort, session, config);
      this.tokenizer = tokenizer;
      this.info = {
        label: files.label,
        backend,
        reason: reason.trim(),
        threads: backend === 'wasm' ? threads : 0,
        numLayers: config.numLayers,
        hiddenSize: config.hiddenSize,
        vocabSize: config.vocabSize,
        modelType: config.modelType,
        style: inst.info.style,
        residDtype: inst.info.residDtype,
        stopIds: stopTokenIds(files.config, files.generationConfig, tokenizer.eosId),
        bytes: files.bytes,
        loadMs: performance.now() - t0,
        warnings: inst.info.warnings,
      };
      return this.info;
    } catch (e) {
      throw toWorkerError(e);
    } finally {
      this.loadAbort = null;
    }
  }

  /** Cancel a load in progress (downloads stop; nothing stays half-loaded). */
  cancelLoad(): void {
    this.loadAbort?.abort();
  }

  /** The chat template applied to messages (text and ids), e.g. to show the prompt. */
  chatPrompt(messages: ChatMessage[]): { text: string; ids: number[] } {
    try {
      return this.need().tokenizer.chatPrompt(messages);
    } catch (e) {
      throw toWorkerError(e);
    }
  }

  async generate(req: GenerateRequest, onToken?: (e: TokenEvent) => void): Promise<WorkerGenerateResult> {
    try {
      const { engine, tokenizer, info } = this.need();
      let promptText: string | null = null;
      let promptIds = req.promptIds;
      if (req.messages) ({ text: promptText, ids: promptIds } = tokenizer.chatPrompt(req.messages));
      if (!promptIds) throw Object.assign(new Error('Give either messages or prompt ids.'), { name: 'bad-request' });
      this.live = { ...req.params };
      this.abort = new AbortController();
      const res = await engine.generate(promptIds, {
        maxNewTokens: req.maxNewTokens,
        seed: req.seed,
        stopIds: req.stopIds ?? info.stopIds,
        signal: this.abort.signal,
        params: this.live,
        decoder: tokenizer.streamDecoder(),
        // Fire and forget: the page's handler must not slow the decode loop down.
        onToken: onToken ? (ev) => void Promise.resolve(onToken(ev)).catch(() => {}) : undefined,
      });
      return { ...res, promptText };
    } catch (e) {
      throw toWorkerError(e);
    } finally {
      this.abort = null;
    }
  }

  /** Change sampling, steering, capping or the projection axis; the next forward pass uses them. */
  setParams(p: Partial<LiveParams>): void {
    Object.assign(this.live, p);
  }

  /** Stop the running generation after its current forward pass; the model stays loaded. */
  interrupt(): void {
    this.abort?.abort();
  }

  /**
   * Teacher-forced pass over a whole conversation: per-position projections of resid_post on the
   * axis (L values per token), with the token ids, for drift plots.
   */
  async forward(input: { messages?: ChatMessage[]; ids?: number[]; params?: LiveParams }): Promise<{ ids: number[]; projections: Float32Array[] | null }> {
    try {
      const { engine, tokenizer } = this.need();
      const ids = input.messages ? tokenizer.chatPrompt(input.messages, { addGenerationPrompt: false }).ids : input.ids ?? [];
      const r: ForwardResult = await engine.forward(ids, input.params ?? this.live);
      const axis = input.params?.axis ?? this.live.axis;
      return { ids, projections: axis ? projectSequence(r, engine.shape, axis) : null };
    } catch (e) {
      throw toWorkerError(e);
    }
  }

  decode(ids: number[]): string {
    return this.need().tokenizer.decode(ids);
  }

  async dispose(): Promise<void> {
    this.abort?.abort();
    const e = this.engine;
    this.engine = null;
    this.tokenizer = null;
    this.info = null;
    await e?.dispose();
  }

  private need() {
    if (!this.engine || !this.tokenizer || !this.info) throw Object.assign(new Error('No model is loaded yet.'), { name: 'no-model' });
    return { engine: this.engine, tokenizer: this.tokenizer, info: this.info };
  }
}

export type ModelWorkerApi = ModelWorker;

Comlink.expose(new ModelWorker());
