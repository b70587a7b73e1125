/**
 * The page's handle on the model worker: typed RPC over Comlink. Callbacks (progress, tokens, chat
 * events) are passed as Comlink proxies. Every failure comes back as a `ModelWorkerError` with the
 * worker's `code` (`no-model`, `no-axis`, `busy`, `bad-request`, `webgpu-unavailable`, ...) and a
 * `message` that is the sentence to show.
 */
import * as Comlink from 'comlink';
import type { AxisSummary, ChatEvent, ChatSettingsPatch, ChatSnapshot, GenerateRequest, LoadOptions, ModelInfo, PaneId, PresetContent, PresetInfo, ResolvedSettings, WorkerGenerateResult } from './model-protocol';
import { workerErrorFrom } from './model-protocol';
import type { ModelWorkerApi } from './model.worker';
import type { LiveParams, TokenEvent } from '../src/core/lm/generate';
import type { ModelLoadProgress, ModelSource } from '../src/core/lm/model-source';
import type { ChatMessage } from '../src/core/lm/tokenizer';
import type { AxisBundle } from '../src/core/persona/axis-bundle';
import type { chatExport } from '../src/core/chat/export';
import type { Estimate, ExtractEvent, ExtractFile, ExtractRunInfo, ExtractSettings, ExtractSummary } from './extract-protocol';

export type * from './model-protocol';
export { ModelWorkerError, isModelWorkerError } from './model-protocol';

export type ChatExport = ReturnType<typeof chatExport>;

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

  // The chat lab (see /work/notes/chat-worker-api.md and src/core/chat/types.ts).
  /** The axis for this model; its typed arrays are transferred (detached here afterwards). */
  setAxis(bundle: AxisBundle): Promise<AxisSummary>;
  /** An axis file (.pt / .npy / .npz / .safetensors), parsed in the worker; `bytes` is transferred (detached here afterwards). */
  setAxisFile(name: string, bytes: Uint8Array): Promise<AxisSummary>;
  /** The axis values when there are at most `maxValues` (for share links), else null. */
  axisValues(maxValues: number): Promise<Float32Array | null>;
  chatSettings(patch: ChatSettingsPatch): Promise<ResolvedSettings>;
  chatSend(userText: string, onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot>;
  chatStop(): Promise<void>;
  chatUndo(): Promise<{ userText: string; snapshot: ChatSnapshot }>;
  chatEdit(userTurn: number, userText: string, onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot>;
  chatReset(): Promise<ChatSnapshot>;
  chatReadTranscript(messages: { role: string; content: string }[]): Promise<ChatSnapshot>;
  chatReplay(userTurns: string[], onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot>;
  chatSnapshot(): Promise<ChatSnapshot>;
  /** Visible panes answer the turns they missed while hidden (a pane shown again has no gap). */
  chatCatchUp(onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot>;
  /** Rebuild every pane's cache under the current settings (answers keep their values as generated). */
  chatRecompute(): Promise<ChatSnapshot>;
  chatTurnVectors(pane: PaneId, mode: 'generated' | 'read'): Promise<{ layer: number; vectors: (Float32Array | null)[] }>;
  chatExport(): Promise<ChatExport>;
  presets(): Promise<PresetInfo[]>;
  loadPreset(id: string, base?: string): Promise<PresetContent>;

  // Extraction (workers/model-extract.ts).
  extractEstimate(settings: ExtractSettings, warm?: boolean): Promise<Estimate>;
  extractStart(settings: ExtractSettings, modelName: string, onEvent?: (e: ExtractEvent) => void, dataBase?: string): Promise<ExtractSummary>;
  extractPause(): Promise<void>;
  extractRuns(): Promise<ExtractRunInfo[]>;
  extractDelete(id: string): Promise<void>;
  extractFiles(id: string): Promise<ExtractFile[]>;
  extractAxis(id: string): Promise<AxisBundle>;

  /** Kill the worker (after dispose, or when it is stuck). */
  terminate(): void;
}

/** Resolve, or reject with the worker's typed error. */
function typed<T>(p: Promise<T>): Promise<T> {
  return p.catch((e) => Promise.reject(workerErrorFrom(e)));
}

function axisBuffers(b: AxisBundle): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of [b.axis, b.roleStats?.mean, b.roleStats?.sd, b.defaultProjection]) {
    if (a && a.buffer instanceof ArrayBuffer && a.byteLength === a.buffer.byteLength) out.add(a.buffer);
  }
  return [...out];
}

/** Start a model worker (one per model shown side by side). */
export function createModelClient(worker?: Worker): ModelClient {
  const w = worker ?? new Worker(new URL('./model.worker.ts', import.meta.url), { type: 'module', name: 'persona-space-model' });
  const api = Comlink.wrap<ModelWorkerApi>(w);
  const cb = <F extends (...a: never[]) => unknown>(f: F | undefined) => (f ? Comlink.proxy(f) : undefined);
  return {
    load: (source, options, onProgress) => typed(api.load(source, options ?? {}, cb(onProgress))),
    cancelLoad: () => typed(api.cancelLoad()),
    chatPrompt: (messages) => typed(api.chatPrompt(messages)),
    generate: (req, onToken) => typed(api.generate(req, cb(onToken))),
    setParams: (p) => typed(api.setParams(p)),
    interrupt: () => typed(api.interrupt()),
    forward: (input) => typed(api.forward(input)),
    decode: (ids) => typed(api.decode(ids)),
    dispose: () => typed(api.dispose()),
    setAxis: (bundle) => typed(api.setAxis(Comlink.transfer(bundle, axisBuffers(bundle)))),
    setAxisFile: (name, bytes) => typed(api.setAxisFile(name, Comlink.transfer(bytes, [bytes.buffer]))),
    axisValues: (max) => typed(api.axisValues(max)),
    chatSettings: (patch) => typed(api.chatSettings(patch)),
    chatSend: (text, onEvent) => typed(api.chatSend(text, cb(onEvent))),
    chatStop: () => typed(api.chatStop()),
    chatUndo: () => typed(api.chatUndo()),
    chatEdit: (turn, text, onEvent) => typed(api.chatEdit(turn, text, cb(onEvent))),
    chatReset: () => typed(api.chatReset()),
    chatCatchUp: (onEvent) => typed(api.chatCatchUp(cb(onEvent))),
    chatReadTranscript: (messages) => typed(api.chatReadTranscript(messages)),
    chatReplay: (turns, onEvent) => typed(api.chatReplay(turns, cb(onEvent))),
    chatSnapshot: () => typed(api.chatSnapshot()),
    chatRecompute: () => typed(api.chatRecompute()),
    chatTurnVectors: (pane, mode) => typed(api.chatTurnVectors(pane, mode)),
    chatExport: () => typed(api.chatExport()),
    presets: () => typed(api.presets()),
    loadPreset: (id, base) => typed(api.loadPreset(id, base)),
    extractEstimate: (s, warm) => typed(api.extractEstimate(s, warm)),
    extractStart: (s, name, onEvent, base) => typed(api.extractStart(s, name, cb(onEvent), base)),
    extractPause: () => typed(api.extractPause()),
    extractRuns: () => typed(api.extractRuns()),
    extractDelete: (id) => typed(api.extractDelete(id)),
    extractFiles: (id) => typed(api.extractFiles(id)),
    extractAxis: (id) => typed(api.extractAxis(id)),
    terminate: () => {
      api[Comlink.releaseProxy]();
      w.terminate();
    },
  };
}
