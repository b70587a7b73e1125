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
import { projectSequence, type LmEngine, type LiveParams, type TokenEvent, type ForwardResult } from '../src/core/lm/generate';
import type { ModelLoadProgress, ModelSource } from '../src/core/lm/model-source';
import type { ChatMessage, ChatTokenizer } from '../src/core/lm/tokenizer';
import { configureWasm, loadModel } from './model-load';
import type { GenerateRequest, LoadOptions, ModelInfo, WorkerGenerateResult } from './model-protocol';
import { MemoryFileCache, defaultFileCache, type FileCache } from '../src/core/hub/cache';
import { isPersonaSpaceError } from '../src/core/errors';

/** Errors cross the worker boundary as plain {code, message} so the page can show the sentence. */
function toWorkerError(e: unknown): Error {
  const err = new Error(isPersonaSpaceError(e) ? e.message : (e as Error)?.message ?? String(e));
  err.name = isPersonaSpaceError(e) ? e.code : 'error';
  return err;
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
      this.loadAbort = new AbortController();
      if (options.cache !== false && source.kind === 'hub') {
        try {
          this.cache ??= defaultFileCache();
        } catch {
          this.cache = new MemoryFileCache();
        }
      }
      const m = await loadModel(source, options, {
        signal: this.loadAbort.signal,
        cache: options.cache === false ? null : this.cache,
        onProgress,
      });
      this.engine = m.engine;
      this.tokenizer = m.tokenizer;
      this.info = m.info;
      return m.info;
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
