/**
 * What the model worker does, without the worker: the loaded model (engine + tokenizer), the
 * runtime RPC (generate / setParams / interrupt / forward), the axis and the chat lab's session.
 * The shell (model.worker.ts) injects the loader and exposes this over Comlink; tests drive it in
 * Node with onnxruntime-node and the synthetic model. Failures are PersonaSpaceErrors (code +
 * sentence); the shell turns them into errors that keep their code across the boundary.
 */
import { PersonaSpaceError } from '../src/core/errors';
import { assistantAxisData, type AssistantAxisDataOptions } from '../src/core/data/assistant-axis-data';
import type { FileCache } from '../src/core/hub/cache';
import { projectSequence, type ForwardResult, type LiveParams, type LmEngine, type TokenEvent } from '../src/core/lm/generate';
import type { ModelLoadProgress, ModelSource } from '../src/core/lm/model-source';
import type { Conversation } from '../src/core/lm/rows';
import type { ChatMessage, ChatTokenizer } from '../src/core/lm/tokenizer';
import type { AxisBundle } from '../src/core/persona/axis-bundle';
import { axisBundleFromFile, axisNorms, checkBundle, defaultCapWindow, defaultMonitorLayer } from '../src/core/chat/axis';
import type { ChatModel } from '../src/core/chat/chat-rows';
import { chatExport } from '../src/core/chat/export';
import { loadPreset, presetList, type PresetContent, type PresetInfo } from '../src/core/chat/presets';
import { ChatSession } from '../src/core/chat/session';
import type { ChatEvent, ChatSettingsPatch, ChatSnapshot, PaneId, ResolvedSettings } from '../src/core/chat/types';
import { WORKER_ERROR_PREFIX, type AxisSummary, type GenerateRequest, type LoadOptions, type ModelInfo, type WorkerGenerateResult } from './model-protocol';
import { ExtractFeature } from './model-extract';
import type { ExtractEvent, ExtractSettings } from './extract-protocol';

export interface LoadedModelLike {
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  info: ModelInfo;
  /** Released after the engine when the model is unloaded (our int8 decoder's kernel pool). */
  close?: () => Promise<void>;
}

export type ModelLoader = (
  source: ModelSource,
  options: LoadOptions,
  ctx: { signal: AbortSignal; cache: FileCache | null; onProgress?: (p: ModelLoadProgress) => void },
) => Promise<LoadedModelLike>;

/** The engine's batched conversation (issue #7): `LmEngine.conversation(rows)`. */
type WithConversation = { conversation(rows: number): Conversation };

export class ModelCore {
  private engine: LmEngine | null = null;
  private closeModel: (() => Promise<void>) | null = null;
  private tokenizer: ChatTokenizer | null = null;
  private info: ModelInfo | null = null;
  private live: LiveParams = {};
  private abort: AbortController | null = null;
  private loadAbort: AbortController | null = null;
  private bundle: AxisBundle | null = null;
  private session: ChatSession | null = null;
  private preset: { id: string; label: string; credit: string } | null = null;

  constructor(
    private readonly loader: ModelLoader,
    private readonly cache: () => FileCache | null = () => null,
    private readonly dataOptions: AssistantAxisDataOptions = {},
  ) {}

  async load(source: ModelSource, options: LoadOptions = {}, onProgress?: (p: ModelLoadProgress) => void): Promise<ModelInfo> {
    await this.dispose();
    this.loadAbort = new AbortController();
    try {
      const m = await this.loader(source, options, {
        signal: this.loadAbort.signal,
        cache: options.cache === false || source.kind !== 'hub' ? null : this.cache(),
        onProgress,
      });
      this.engine = m.engine;
      this.closeModel = m.close ?? null;
      this.tokenizer = m.tokenizer;
      this.info = m.info;
      return m.info;
    } finally {
      this.loadAbort = null;
    }
  }

  /** Cancel a load in progress (downloads stop, and so does preparing our int8 decoder's weights; nothing stays half-loaded). */
  cancelLoad(): void {
    this.loadAbort?.abort();
  }

  chatPrompt(messages: ChatMessage[]): { text: string; ids: number[] } {
    return this.need().tokenizer.chatPrompt(messages);
  }

  async generate(req: GenerateRequest, onToken?: (e: TokenEvent) => void): Promise<WorkerGenerateResult> {
    const { engine, tokenizer, info } = this.need();
    this.idle();
    let promptText: string | null = null;
    let promptIds = req.promptIds;
    if (req.messages) ({ text: promptText, ids: promptIds } = tokenizer.chatPrompt(req.messages));
    if (!promptIds) throw new PersonaSpaceError('bad-request', 'Give either messages or prompt ids.');
    this.live = { ...req.params };
    this.abort = new AbortController();
    try {
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
    } finally {
      this.abort = null;
    }
  }

  /** Change sampling, steering, capping or the projection axis of a running generate(); the next forward pass uses them. */
  setParams(p: Partial<LiveParams>): void {
    Object.assign(this.live, p);
  }

  /** Stop the running generate() (or chat answer) after its current forward pass; the model stays loaded. */
  interrupt(): void {
    this.abort?.abort();
    this.session?.stop();
  }

  /** Teacher-forced projections at every position (drift). */
  async forward(input: { messages?: ChatMessage[]; ids?: number[]; params?: LiveParams }): Promise<{ ids: number[]; projections: Float32Array[] | null }> {
    const { engine, tokenizer } = this.need();
    const ids = input.messages ? tokenizer.chatPrompt(input.messages, { addGenerationPrompt: false }).ids : (input.ids ?? []);
    const r: ForwardResult = await engine.forward(ids, input.params ?? this.live);
    const axis = input.params?.axis ?? this.live.axis;
    return { ids, projections: axis ? projectSequence(r, engine.shape, axis) : null };
  }

  decode(ids: number[]): string {
    return this.need().tokenizer.decode(ids);
  }

  // ------------------------------------------------------------------ the axis and the chat lab

  /** The axis the chat lab steers, caps and measures along (checked against the model's shape). */
  setAxis(bundle: AxisBundle): AxisSummary {
    const { info } = this.need();
    checkBundle(bundle, info);
    if (this.session) this.session.setAxis(bundle);
    this.bundle = bundle;
    return axisSummary(bundle);
  }

  /** An axis file's bytes (transferred from the page), read here, off the page's thread, against the loaded model's shape. */
  setAxisFile(name: string, bytes: Uint8Array): AxisSummary {
    const { info } = this.need();
    return this.setAxis(axisBundleFromFile(name, bytes, info));
  }

  /** The current axis values when there are at most `maxValues` of them (share links keep a small axis), else null. */
  axisValues(maxValues: number): Float32Array | null {
    const a = this.bundle?.axis;
    return a && a.length <= maxValues ? a.slice() : null;
  }

  private chat(): ChatSession {
    const { engine, tokenizer, info } = this.need();
    if (!this.bundle) throw new PersonaSpaceError('no-axis', 'Choose an axis for this model first (its own persona space, an axis file, or the set open in the explorer).');
    if (!this.session) {
      const e = engine as LmEngine & Partial<WithConversation>;
      if (typeof e.conversation !== 'function') throw new PersonaSpaceError('no-conversation', 'This engine cannot hold conversations yet.');
      const model: ChatModel = { tokenizer, conversation: (rows) => e.conversation!(rows), numLayers: info.numLayers, hiddenSize: info.hiddenSize, stopIds: info.stopIds, maxPositions: (engine.shape as { maxPositionEmbeddings?: number }).maxPositionEmbeddings };
      this.session = new ChatSession(model, this.bundle);
    }
    return this.session;
  }

  chatSettings(patch: ChatSettingsPatch): ResolvedSettings {
    return this.chat().update(patch ?? {});
  }

  chatSend(userText: string, onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    if (typeof userText !== 'string') throw new PersonaSpaceError('bad-request', 'The message must be text.');
    this.idle();
    const chat = this.chat();
    // A conversation the person starts themselves is not the preset loaded before.
    if (chat.turns === 0) this.preset = null;
    return chat.send(userText, fireAndForget(onEvent));
  }

  chatStop(): void {
    this.session?.stop();
  }

  chatUndo(): { userText: string; snapshot: ChatSnapshot } {
    return this.chat().undo();
  }

  chatEdit(userTurn: number, userText: string, onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    this.idle();
    return this.chat().edit(userTurn, userText, fireAndForget(onEvent));
  }

  chatReset(): ChatSnapshot {
    return this.chat().reset();
  }

  chatReadTranscript(messages: { role: string; content: string }[]): Promise<ChatSnapshot> {
    this.idle();
    return this.chat().readTranscript(messages);
  }

  chatReplay(userTurns: string[], onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    if (!Array.isArray(userTurns) || userTurns.some((u) => typeof u !== 'string')) throw new PersonaSpaceError('bad-request', 'Replay needs a list of user messages.');
    this.idle();
    return this.chat().replay(userTurns, fireAndForget(onEvent));
  }

  /** Visible panes answer the turns they missed while hidden. */
  chatCatchUp(onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    this.idle();
    return this.chat().catchUp(fireAndForget(onEvent));
  }

  /** Rebuild every pane's cache under the current settings (otherwise a change applies from the next token on). */
  chatRecompute(): Promise<ChatSnapshot> {
    this.idle();
    return this.chat().recompute();
  }

  chatSnapshot(): ChatSnapshot {
    return this.chat().snapshot();
  }

  /** Per assistant turn of a pane: the mean resid_post at the monitored layer over its content tokens (for the map trajectory). */
  chatTurnVectors(pane: PaneId, mode: 'generated' | 'read'): Promise<{ layer: number; vectors: (Float32Array | null)[] }> {
    if (pane !== 'default' && pane !== 'steered' && pane !== 'capped') throw new PersonaSpaceError('bad-request', `There is no pane "${pane}".`);
    return this.chat().turnVectors(pane, mode === 'read' ? 'read' : 'generated');
  }

  chatExport(): ReturnType<typeof chatExport> {
    const s = this.chat();
    const info = this.need().info;
    return chatExport(s.snapshot(), {
      model: { id: info.label, file: info.file ?? null, backend: info.backend, dtype: info.dtype },
      axis: s.axis,
      resolved: s.resolved().panes,
      source: this.preset,
    });
  }

  presets(): PresetInfo[] {
    return presetList();
  }

  /** A preset's messages and user turns (fetched from the pinned commit, cached; `base` = a mirror). */
  async loadPreset(id: string, base?: string): Promise<PresetContent> {
    const data = assistantAxisData({ ...this.dataOptions, cache: this.dataOptions.cache ?? this.cache() ?? undefined, ...(base ? { base } : {}) });
    const p = await loadPreset(data, id);
    this.preset = { id, label: p.label, credit: p.credit };
    return { messages: p.messages, userTurns: p.userTurns, label: p.label, credit: p.credit, sourceModel: p.sourceModel };
  }

  async dispose(): Promise<void> {
    this.abort?.abort();
    this.session?.dispose();
    this.session = null;
    const e = this.engine;
    const close = this.closeModel;
    this.engine = null;
    this.closeModel = null;
    this.tokenizer = null;
    this.info = null;
    this.bundle = null;
    try {
      await e?.dispose();
    } finally {
      // the kernel pool's helpers end once the engine can no longer call them
      await close?.();
    }
  }

  private idle(): void {
    if (this.abort || this.session?.isBusy) throw new PersonaSpaceError('busy', 'The model is still generating; stop it or wait for it to finish.');
  }

  // Extraction (issue #8): delegated to ExtractFeature (workers/model-extract.ts).
  private ex: ExtractFeature | null = null;
  private extract(): ExtractFeature {
    return (this.ex ??= new ExtractFeature(() => this.need(), { cache: this.cache() ?? undefined, ...this.dataOptions }));
  }
  extractEstimate(settings: ExtractSettings, warm = true) {
    if (warm) this.idle();
    return this.extract().estimate(settings, warm);
  }
  extractStart(settings: ExtractSettings, modelName: string, onEvent?: (e: ExtractEvent) => void, dataBase?: string) {
    this.idle();
    return this.extract().start(settings, modelName, onEvent ? (e) => void Promise.resolve(onEvent(e)).catch(() => {}) : undefined, dataBase);
  }
  extractPause(): void {
    this.extract().pause();
  }
  extractRuns() {
    return this.extract().runs();
  }
  extractDelete(id: string) {
    return this.extract().remove(id);
  }
  extractFiles(id: string) {
    return this.extract().files(id);
  }
  extractAxis(id: string) {
    return this.extract().axisBundle(id);
  }

  private need() {
    if (!this.engine || !this.tokenizer || !this.info) throw new PersonaSpaceError('no-model', 'No model is loaded yet.');
    return { engine: this.engine, tokenizer: this.tokenizer, info: this.info };
  }
}

function fireAndForget(onEvent?: (e: ChatEvent) => void): ((e: ChatEvent) => void) | undefined {
  return onEvent ? (e) => void Promise.resolve(onEvent(e)).catch(() => {}) : undefined;
}

export function axisSummary(b: AxisBundle): AxisSummary {
  return {
    label: b.label,
    source: b.source,
    numLayers: b.numLayers,
    hiddenSize: b.hiddenSize,
    norms: Array.from(axisNorms(b)),
    roleMean: b.roleStats ? Array.from(b.roleStats.mean) : null,
    roleSd: b.roleStats ? Array.from(b.roleStats.sd) : null,
    defaultProjection: b.defaultProjection ? Array.from(b.defaultProjection) : null,
    hasCalibration: b.calibration !== null,
    defaultLayer: defaultMonitorLayer(b.numLayers),
    defaultCapWindow: defaultCapWindow(b.numLayers),
  };
}

/** Any failure as {code, message}: a PersonaSpaceError keeps both; anything else is 'internal'. */
export function errorInfo(e: unknown): { code: string; message: string } {
  if (e instanceof PersonaSpaceError) return { code: e.code, message: e.message };
  const err = e as { name?: string; message?: string };
  if (err?.name === 'AbortError') return { code: 'aborted', message: 'Cancelled.' };
  if (err instanceof RangeError && /allocation|memory|array length/i.test(err.message ?? '')) {
    return { code: 'out-of-memory', message: 'The model ran out of memory; try a smaller model or a shorter conversation.' };
  }
  // Errors thrown with a code as their name (older code paths) keep it.
  if (err && typeof err.name === 'string' && /^[a-z][a-z0-9-]+$/.test(err.name) && err.name !== 'error') return { code: err.name, message: err.message ?? String(e) };
  return { code: 'internal', message: `Something went wrong in the model worker: ${err?.message ?? String(e)}` };
}


/** A failure as the Error that crosses the worker boundary: name `ps:<code>`, message the sentence. */
export function toWorkerError(e: unknown): Error {
  const { code, message } = errorInfo(e);
  const err = new Error(message);
  err.name = WORKER_ERROR_PREFIX + code;
  return err;
}

type Methods<T> = { [K in keyof T as T[K] extends (...a: never[]) => unknown ? K : never]: T[K] };
export type CoreMethods = Methods<ModelCore>;

/** Every public method of the core, with failures (thrown or rejected) turned into boundary-safe errors. */
export function guarded(c: ModelCore): CoreMethods {
  const out: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(ModelCore.prototype)) {
    const f = (c as unknown as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof f !== 'function') continue;
    out[name] = (...args: unknown[]) => {
      try {
        const r = (f as (...a: unknown[]) => unknown).apply(c, args);
        return r instanceof Promise ? r.catch((e) => Promise.reject(toWorkerError(e))) : r;
      } catch (e) {
        throw toWorkerError(e);
      }
    };
  }
  return out as CoreMethods;
}
