/**
 * The page's handle on the model worker: typed RPC over Comlink. Callbacks (progress, tokens) are
 * passed as Comlink proxies; errors come back as Error objects whose `name` is the PersonaSpaceError
 * code and whose `message` is the sentence to show.
 */
import * as Comlink from 'comlink';
import type { GenerateRequest, LoadOptions, ModelInfo, WorkerGenerateResult } from './model-protocol';
import type { ModelWorkerApi } from './model.worker';
import type { LiveParams, TokenEvent } from '../src/core/lm/generate';
import type { ModelLoadProgress, ModelSource } from '../src/core/lm/model-source';
import type { ChatMessage } from '../src/core/lm/tokenizer';

export type { GenerateRequest, LoadOptions, ModelInfo, WorkerGenerateResult } from './model-protocol';

export interface ModelClient {
  load(source: ModelSource, options?: LoadOptions, onProgress?: (p: ModelLoadProgress) => void): Promise<ModelInfo>;
  cancelLoad(): Promise<void>;
  chatPrompt(messages: ChatMessage[]): Promise<{ text: string; ids: number[] }>;
  generate(req: GenerateRequest, onToken?: (e: TokenEvent) => void): Promise<WorkerGenerateResult>;
  /** Takes effect at the next forward pass of a running generation. */
  setParams(p: Partial<LiveParams>): Promise<void>;
  interrupt(): Promise<void>;
  forward(input: { messages?: ChatMessage[]; ids?: number[]; params?: LiveParams }): Promise<{ ids: number[]; projections: Float32Array[] | null }>;
  decode(ids: number[]): Promise<string>;
  dispose(): Promise<void>;
  /** Kill the worker (after dispose, or when it is stuck). */
  terminate(): void;
}

/** Start a model worker (one per model shown side by side). */
export function createModelClient(worker?: Worker): ModelClient {
  const w = worker ?? new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module', name: 'persona-space-model' });
  const api = Comlink.wrap<ModelWorkerApi>(w);
  return {
    load: (source, options, onProgress) => api.load(source, options ?? {}, onProgress ? Comlink.proxy(onProgress) : undefined),
    cancelLoad: () => api.cancelLoad(),
    chatPrompt: (messages) => api.chatPrompt(messages),
    generate: (req, onToken) => api.generate(req, onToken ? Comlink.proxy(onToken) : undefined),
    setParams: (p) => api.setParams(p),
    interrupt: () => api.interrupt(),
    forward: (input) => api.forward(input),
    decode: (ids) => api.decode(ids),
    dispose: () => api.dispose(),
    terminate: () => {
      api[Comlink.releaseProxy]();
      w.terminate();
    },
  };
}
