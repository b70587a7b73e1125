/**
 * The chat lab's own store (beside the explorer's, so a streamed token never re-renders the map):
 * the model and its load, the axis, the settings the worker resolved, and each pane's messages.
 *
 * Streaming: token events from the worker are queued and applied once per animation frame, and
 * only the panes that changed get a new object, so a pane component that selects `panes[id]`
 * re-renders for its own tokens only. The drift lane reads `turns`, which changes only when a send
 * finishes (the worker's snapshot is the truth; streamed values are shown until it arrives).
 */
import { create } from 'zustand';
import { createModelClient } from '../../../workers/model-client';
import type { ModelInfo } from '../../../workers/model-protocol';
import type { AxisBundle } from '../../core/persona/axis-bundle';
import {
  PANES,
  errorCode,
  errorText,
  type AxisSummary,
  type ChatEngine,
  type ChatEvent,
  type ChatMessageView,
  type ChatSettings,
  type ChatSettingsPatch,
  type ChatSnapshot,
  type PaneId,
  type PresetContent,
  type PresetInfo,
  type ResolvedSettings,
} from './api';
import { modelKey, toSource, type ModelRequest } from './models';
import { parseBackendChoice, readBackendChoice, saveBackendChoice, type BackendChoice } from './backend-choice';
import { MAX_LINK_AXIS } from './share';
import { trackLoadProgress, type FileProgress } from './load-progress';

export type { FileProgress };

// ---------------------------------------------------------------------------------------------
// What the panes render

export interface TokenView {
  id: number;
  text: string;
  /** Per layer projection at this token's own position (or, while streaming, at the position that chose it). */
  v: Float32Array | null;
  /** (layer) positions the cap raised at this token. */
  clamped: number;
}

export interface MessageView {
  key: string;
  role: 'system' | 'user' | 'assistant';
  /** 0-based among this role's messages (assistant turn k, user turn k). */
  index: number;
  content: string;
  tokens: TokenView[];
  /** Teacher-forced through the unmodified (Default) row, per token per layer. */
  read: Float32Array[] | null;
  streaming: boolean;
  stopReason?: string;
}

export interface PaneView {
  messages: MessageView[];
  clampedTotal: number;
  streaming: boolean;
}

/** One drift-lane point's data: a finished assistant turn. */
export interface TurnPoint {
  pane: PaneId;
  turn: number;
  /** Per layer mean projection over the answer's content tokens, as generated / as read by the Default row. */
  generated: number[] | null;
  read: number[] | null;
  snippet: string;
}


export interface ModelState {
  status: 'none' | 'loading' | 'ready' | 'error';
  request: ModelRequest | null;
  info: ModelInfo | null;
  files: FileProgress[];
  filesDone: number;
  filesTotal: number;
  error: string | null;
  /** The last hub load that failed or was cancelled: Resume starts it again (done files come from the cache). */
  resumable: ModelRequest | null;
  /** The backend asked for at this load (what the worker then chose is in `info`). */
  device?: BackendChoice;
}

export interface AxisState {
  status: 'none' | 'loading' | 'ready' | 'error';
  summary: AxisSummary | null;
  /** For share links: 'explorer', 'extraction', 'file:<name>', or 'inline' (small axis kept in the link). */
  source: string | null;
  error: string | null;
}

export type DriftMode = 'generated' | 'read';

export interface ChatState {
  model: ModelState;
  axis: AxisState;
  settings: ChatSettings | null;
  resolved: ResolvedSettings | null;
  panes: Record<PaneId, PaneView>;
  turns: TurnPoint[];
  busy: boolean;
  /** What the busy engine is doing, in words. */
  activity: string | null;
  input: string;
  heat: boolean;
  driftMode: DriftMode;
  /** Drift values relative to the role centroid (else raw projections). */
  relative: boolean;
  /** Ask every pane to scroll to this assistant turn (token changes on each request). */
  focus: { token: number; turn: number };
  /** Which user turn is being edited (index among user messages), with its draft text. */
  editing: { index: number; text: string } | null;
  presets: PresetInfo[] | null;
  preset: { label: string; credit: string; title: string } | null;
  error: string | null;
  /** Something from a share link waiting for its model / axis. */
  pending: PendingLink | null;
  /** The backend asked for at the next model load (remembered for the session, not in links). */
  backend: BackendChoice;
}

export interface PendingLink {
  model: string | null;
  axis: string | null;
  settings: ChatSettingsPatch | null;
  conversation: string[] | null;
  inlineAxis: Float32Array | null;
}

export interface ChatActions {
  loadModel(r: ModelRequest): Promise<void>;
  /** Choose the backend for the next load (auto / webgpu / wasm); the loaded model keeps its own. */
  setBackend(b: BackendChoice): void;
  cancelLoad(): void;
  resumeLoad(): Promise<void>;
  setAxis(bundle: AxisBundle, source: string): Promise<void>;
  loadAxisFile(name: string, bytes: Uint8Array): Promise<void>;
  useExplorerAxis(): Promise<void>;
  useSeededAxis(): Promise<void>;
  axisError(message: string): void;
  updateSettings(patch: ChatSettingsPatch): void;
  /** Show a hidden pane; it answers the turns it missed while hidden (no gap in its lane or its text). */
  showPane(id: PaneId): Promise<void>;
  setInput(text: string): void;
  send(): Promise<void>;
  stop(): Promise<void>;
  undo(): Promise<void>;
  startEdit(index: number): void;
  setEditText(text: string): void;
  cancelEdit(): void;
  submitEdit(): Promise<void>;
  reset(): Promise<void>;
  setHeat(on: boolean): void;
  setDriftMode(m: DriftMode): void;
  setRelative(on: boolean): void;
  focusTurn(turn: number): void;
  listPresets(): Promise<void>;
  replayPreset(id: string): Promise<void>;
  readPreset(id: string): Promise<void>;
  exportJson(): Promise<unknown>;
  setPending(p: PendingLink | null): void;
  clearError(): void;
}

export type ChatStore = ChatState & ChatActions;

// ---------------------------------------------------------------------------------------------
// The engine (one model worker for the lab), replaceable for tests.

let engine: ChatEngine | null = null;
/** A copy of the axis handed to the worker when it is small enough for a share link (else null). */
let axisCopy: Float32Array | null = null;
export function currentAxis(): Float32Array | null {
  return axisCopy;
}
let engineFactory: () => ChatEngine = () => createModelClient();

export function setChatEngineFactory(f: () => ChatEngine): void {
  engineFactory = f;
  engine?.terminate();
  engine = null;
}

function getEngine(): ChatEngine {
  engine ??= engineFactory();
  return engine;
}

/** Comlink wraps callbacks: the client does it; here we only hand a plain function. */

const emptyPane = (): PaneView => ({ messages: [], clampedTotal: 0, streaming: false });
const emptyPanes = (): Record<PaneId, PaneView> => ({ default: emptyPane(), steered: emptyPane(), capped: emptyPane() });
const idleModel: ModelState = { status: 'none', request: null, info: null, files: [], filesDone: 0, filesTotal: 0, error: null, resumable: null };

/** Paper-data mirror (tests, offline copies): `?data=<base>` on the page. */
export function dataBase(): string | undefined {
  if (typeof location === 'undefined') return undefined;
  const d = new URLSearchParams(location.search).get('data');
  return d ? d.replace(/\/+$/, '') : undefined;
}

function hubOrigin(): string | undefined {
  if (typeof location === 'undefined') return undefined;
  const h = new URLSearchParams(location.search).get('hub');
  return h ? h.replace(/\/+$/, '') : undefined;
}

// ---------------------------------------------------------------------------------------------
// Snapshot -> views

function messageViews(pane: PaneId, msgs: readonly ChatMessageView[]): MessageView[] {
  const counts = { system: 0, user: 0, assistant: 0 };
  return msgs.map((m, i) => {
    const index = counts[m.role]++;
    const per = m.generated?.perToken ?? null;
    return {
      key: `${pane}-${i}-${m.role}`,
      role: m.role,
      index,
      content: m.content,
      tokens: m.tokens.map((t, k) => ({ id: t.id, text: t.text, v: per?.[k] ?? null, clamped: 0 })),
      read: m.read?.perToken ?? null,
      streaming: false,
      stopReason: m.stopReason,
    };
  });
}

function snippetOf(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 90 ? `${t.slice(0, 88)}…` : t;
}

function turnPoints(snap: ChatSnapshot): TurnPoint[] {
  const out: TurnPoint[] = [];
  for (const pane of PANES) {
    const p = snap.panes[pane];
    if (!p) continue;
    let turn = 0;
    for (const m of p.messages) {
      if (m.role !== 'assistant') continue;
      out.push({ pane, turn: turn++, generated: m.generated?.mean ?? null, read: m.read?.mean ?? null, snippet: snippetOf(m.content) });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export const useChat = create<ChatStore>()((set, get) => {
  // Streamed events, applied once per frame.
  let queue: ChatEvent[] = [];
  let scheduled = false;

  function flush() {
    scheduled = false;
    const events = queue;
    queue = [];
    if (events.length === 0) return;
    const panes = { ...get().panes };
    const touched = new Set<PaneId>();
    for (const e of events) {
      if (!touched.has(e.pane)) {
        panes[e.pane] = { ...panes[e.pane], messages: panes[e.pane].messages.slice() };
        touched.add(e.pane);
      }
      const pv = panes[e.pane];
      const msgs = pv.messages;
      let last = msgs[msgs.length - 1];
      if (!last || last.role !== 'assistant' || last.index !== e.turn || !last.streaming) {
        if (e.kind === 'done') continue;
        last = { key: `${e.pane}-live-${e.turn}-${msgs.length}`, role: 'assistant', index: e.turn, content: '', tokens: [], read: null, streaming: true };
        msgs.push(last);
      } else {
        last = { ...last, tokens: last.tokens.slice() };
        msgs[msgs.length - 1] = last;
      }
      if (e.kind === 'token') {
        last.tokens[e.index] = { id: e.id, text: e.text, v: e.projections, clamped: e.clamped };
        last.content += e.text;
        pv.clampedTotal += e.clamped;
        pv.streaming = true;
      } else if (e.kind === 'value') {
        const t = last.tokens[e.index];
        if (t) {
          pv.clampedTotal += e.clamped - t.clamped;
          last.tokens[e.index] = { ...t, v: e.projections, clamped: e.clamped };
        }
      } else {
        last.streaming = false;
        last.stopReason = e.stopReason;
        pv.streaming = false;
      }
    }
    set({ panes });
  }

  const onEvent = (e: ChatEvent) => {
    queue.push(e);
    if (scheduled) return;
    scheduled = true;
    if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && document.visibilityState !== 'hidden') requestAnimationFrame(flush);
    else setTimeout(flush, 16);
  };

  function applySnapshot(snap: ChatSnapshot) {
    flush();
    const panes = emptyPanes();
    for (const id of PANES) {
      const p = snap.panes[id];
      if (p) panes[id] = { messages: messageViews(id, p.messages), clampedTotal: p.clampedTotal, streaming: false };
    }
    set({ panes, turns: turnPoints(snap), settings: snap.settings });
    void refreshTrajectories();
  }

  async function refreshTrajectories() {
    const { updateTrajectories } = await import('./trajectory');
    await updateTrajectories(getEngine(), get());
  }

  /** Run one engine call that streams; the lab is busy meanwhile and errors land in `error`. */
  async function busyCall(activity: string, f: () => Promise<ChatSnapshot>, onFail?: () => void): Promise<boolean> {
    if (get().busy) return false;
    set({ busy: true, activity, error: null });
    try {
      applySnapshot(await f());
      return true;
    } catch (e) {
      flush();
      set({ error: errorCode(e) === 'aborted' ? null : errorText(e) });
      onFail?.();
      // Whatever the engine kept (partial answers after a Stop, say) is what is shown.
      try { applySnapshot(await getEngine().chatSnapshot()); } catch { /* no model */ }
      return false;
    } finally {
      set({ busy: false, activity: null });
    }
  }

  // Settings: applied on the page at once; sent to the worker coalesced (one call in flight).
  let pendingPatch: ChatSettingsPatch | null = null;
  let sending = false;
  let pushing: Promise<void> = Promise.resolve();
  function pushSettings(): Promise<void> {
    if (!sending) pushing = pushLoop();
    return pushing;
  }
  async function pushLoop() {
    sending = true;
    try {
      while (pendingPatch) {
        const patch = pendingPatch;
        pendingPatch = null;
        try {
          const resolved = await getEngine().chatSettings(patch);
          set({ resolved, ...(pendingPatch ? {} : { settings: resolved.settings }) });
        } catch (e) {
          set({ error: errorText(e) });
        }
      }
    } finally {
      sending = false;
    }
  }

  async function afterModelAndAxis() {
    const pend = get().pending;
    if (!pend || get().axis.status !== 'ready' || get().model.status !== 'ready') return;
    set({ pending: null });
    if (pend.settings) {
      get().updateSettings(pend.settings);
      await new Promise((r) => setTimeout(r, 0));
    }
    if (pend.conversation?.length) await busyCall('restoring the conversation', () => getEngine().chatReplay(pend.conversation!, onEvent));
  }

  /** Hand the axis to the worker; on success the lab is ready for it (settings resolved, panes refreshed). */
  async function axisReady(source: string, call: () => Promise<AxisSummary>, copy: Float32Array | null | undefined) {
    set({ axis: { ...get().axis, status: 'loading', error: null } });
    try {
      const summary = await call();
      // What a share link may carry: the axis itself when it is small (asked of the worker when it read the file).
      axisCopy = copy !== undefined ? copy : await getEngine().axisValues(MAX_LINK_AXIS);
      const resolved = await getEngine().chatSettings({});
      set({ axis: { status: 'ready', summary, source, error: null }, resolved, settings: resolved.settings });
      try { applySnapshot(await getEngine().chatSnapshot()); } catch { /* nothing yet */ }
      await afterModelAndAxis();
    } catch (e) {
      set({ axis: { ...get().axis, status: 'error', error: errorText(e) } });
    }
  }

  /** Load a preset of the paper, reset the lab, then run it (replayed: this model's answers; read: teacher-forced). */
  async function presetRun(id: string, activity: string, how: (c: PresetContent) => { label: string; driftMode: DriftMode; run: () => Promise<ChatSnapshot> }) {
    let content: PresetContent;
    try {
      content = await getEngine().loadPreset(id, dataBase());
    } catch (e) {
      set({ error: errorText(e) });
      return;
    }
    const title = get().presets?.find((p) => p.id === id)?.title ?? id;
    const h = how(content);
    await busyCall(activity, async () => {
      await getEngine().chatReset();
      set({ panes: emptyPanes(), turns: [], driftMode: h.driftMode, preset: { label: h.label, credit: content.credit, title } });
      return h.run();
    });
  }

  let loadSeq = 0;

  return {
    model: idleModel,
    backend: readBackendChoice(),
    axis: { status: 'none', summary: null, source: null, error: null },
    settings: null,
    resolved: null,
    panes: emptyPanes(),
    turns: [],
    busy: false,
    activity: null,
    input: '',
    heat: true,
    driftMode: 'generated',
    relative: false,
    focus: { token: 0, turn: 0 },
    editing: null,
    presets: null,
    preset: null,
    error: null,
    pending: null,

    async loadModel(r) {
      const seq = ++loadSeq;
      const req = r.kind === 'hub' && !r.hub && hubOrigin() ? { ...r, hub: hubOrigin() } : r;
      const device = get().backend;
      set({ model: { ...idleModel, status: 'loading', request: req, device }, axis: { status: 'none', summary: null, source: null, error: null }, resolved: null, settings: null, panes: emptyPanes(), turns: [], preset: null, error: null });
      const progress = trackLoadProgress((v) => {
        if (seq === loadSeq) set((s) => ({ model: { ...s.model, files: v.files, filesDone: v.filesDone, filesTotal: v.filesTotal } }));
      });
      try {
        const info = await getEngine().load(toSource(req), { device }, progress.onProgress);
        if (seq !== loadSeq) return;
        set((s) => ({ model: { ...s.model, status: 'ready', info, files: progress.view().files, filesDone: s.model.filesTotal, error: null, resumable: null } }));
        const pend = get().pending;
        if (pend?.axis === 'seeded') await get().useSeededAxis();
        else if (pend?.inlineAxis && pend.inlineAxis.length === info.numLayers * info.hiddenSize) {
          await get().setAxis({ label: pend.axis?.replace(/^file:/, '') ?? 'axis from the link', source: 'file', numLayers: info.numLayers, hiddenSize: info.hiddenSize, axis: pend.inlineAxis, roleStats: null, defaultProjection: null, calibration: null }, pend.axis ?? 'inline');
        }
        await afterModelAndAxis();
      } catch (e) {
        if (seq !== loadSeq) return;
        const cancelled = errorCode(e) === 'aborted' || /cancel|abort/i.test(errorText(e));
        set((s) => ({
          model: {
            ...s.model, status: 'error', info: null,
            error: cancelled ? 'Loading was cancelled. Resume picks up where it stopped (finished files come from the cache).' : errorText(e),
            resumable: req.kind === 'hub' ? req : null,
          },
        }));
      }
    },

    setBackend(b) {
      const backend = parseBackendChoice(b);
      saveBackendChoice(backend);
      set({ backend });
    },

    cancelLoad() {
      void getEngine().cancelLoad();
    },

    async resumeLoad() {
      const r = get().model.resumable;
      if (r) await get().loadModel(r);
    },

    async setAxis(bundle, source) {
      const info = get().model.info;
      if (info && (bundle.numLayers !== info.numLayers || bundle.hiddenSize !== info.hiddenSize)) {
        set({ axis: { ...get().axis, status: 'error', error: `This axis has ${bundle.numLayers} layers of size ${bundle.hiddenSize} but the model has ${info.numLayers} layers of size ${info.hiddenSize}.` } });
        return;
      }
      const copy = bundle.axis.length <= MAX_LINK_AXIS ? bundle.axis.slice() : null;
      await axisReady(source, () => getEngine().setAxis(bundle), copy);
    },

    async loadAxisFile(name, bytes) {
      if (!get().model.info) return;
      // Read in the model worker (the bytes are transferred), against the loaded model's shape.
      // A copy is transferred: the caller (the explorer's hand-off, say) keeps its bytes.
      await axisReady(`file:${name}`, () => getEngine().setAxisFile(name, bytes.slice()), undefined);
    },

    async useExplorerAxis() {
      const info = get().model.info;
      if (!info) return;
      const { explorerMatch } = await import('./trajectory');
      const m = explorerMatch(info);
      if (!m.ok) {
        get().axisError(m.why ?? 'Open a persona set in the Explorer first.');
        return;
      }
      set({ axis: { ...get().axis, status: 'loading', error: null } });
      const { analysisWorker } = await import('../../../workers/analysis-client');
      try {
        const api = analysisWorker() as unknown as { axisBundle(slot: 'A'): Promise<{ ok: true; value: AxisBundle } | { ok: false; error: { message: string } }> };
        const r = await api.axisBundle('A');
        if (!r.ok) throw new Error(r.error.message);
        await get().setAxis(r.value, 'explorer');
      } catch (e) {
        get().axisError(`The explorer's set could not be handed to the lab (${errorText(e)}).`);
      }
    },

    async useSeededAxis() {
      const info = get().model.info;
      if (!info) return;
      const { rng } = await import('../../core/math/testing');
      const r = rng(7);
      const axis = Float32Array.from({ length: info.numLayers * info.hiddenSize }, () => r() * 2 - 1);
      await get().setAxis({ label: 'seeded random direction (for trying the lab; not an Assistant Axis)', source: 'file', numLayers: info.numLayers, hiddenSize: info.hiddenSize, axis, roleStats: null, defaultProjection: null, calibration: null }, 'seeded');
    },

    axisError(message) {
      set({ axis: { ...get().axis, status: 'error', error: message } });
    },

    updateSettings(patch) {
      const cur = get().settings;
      if (cur) set({ settings: mergeSettings(cur, patch) });
      pendingPatch = pendingPatch ? mergePatch(pendingPatch, patch) : patch;
      void pushSettings();
    },

    async showPane(id) {
      get().updateSettings({ panes: { [id]: { hidden: false } } });
      await pushSettings();
      const missed = (() => {
        const users = visibleMessages(get()).filter((m) => m.role === 'user').length;
        const own = get().panes[id].messages;
        return users > 0 && own.filter((m) => m.role === 'assistant').length < users;
      })();
      if (missed) await busyCall('answering the turns this pane missed', () => getEngine().chatCatchUp(onEvent));
    },

    setInput(input) {
      set({ input });
    },

    async send() {
      const text = get().input.trim();
      if (!text || get().busy || get().axis.status !== 'ready') return;
      set({ input: '', preset: null });
      // The user's message shows at once in every visible pane.
      const panes = { ...get().panes };
      for (const id of PANES) {
        if (get().settings?.panes[id].hidden) continue;
        const n = panes[id].messages.filter((m) => m.role === 'user').length;
        panes[id] = { ...panes[id], messages: [...panes[id].messages, { key: `${id}-pending-user-${n}`, role: 'user', index: n, content: text, tokens: [], read: null, streaming: false }] };
      }
      set({ panes });
      await busyCall('answering', () => getEngine().chatSend(text, onEvent), () => { if (!get().input) set({ input: text }); });
    },

    async stop() {
      try {
        await getEngine().chatStop();
      } catch (e) {
        set({ error: errorText(e) });
      }
    },

    async undo() {
      if (get().busy) return;
      set({ busy: true, activity: 'undoing', error: null });
      try {
        const { userText, snapshot } = await getEngine().chatUndo();
        applySnapshot(snapshot);
        set({ input: userText });
      } catch (e) {
        set({ error: errorText(e) });
      } finally {
        set({ busy: false, activity: null });
      }
    },

    startEdit(index) {
      const m = visibleMessages(get()).find((x) => x.role === 'user' && x.index === index);
      if (m && !get().busy) set({ editing: { index, text: m.content } });
    },
    setEditText(text) {
      const e = get().editing;
      if (e) set({ editing: { ...e, text } });
    },
    cancelEdit() {
      set({ editing: null });
    },
    async submitEdit() {
      const e = get().editing;
      if (!e || !e.text.trim()) return;
      set({ editing: null });
      await busyCall('regenerating from the edited turn', () => getEngine().chatEdit(e.index, e.text.trim(), onEvent));
    },

    async reset() {
      try { await getEngine().chatStop(); } catch { /* nothing running */ }
      set({ preset: null, editing: null });
      if (get().busy) {
        // The running send ends at its next step; reset right after.
        await new Promise((r) => setTimeout(r, 50));
      }
      await busyCall('resetting', () => getEngine().chatReset());
    },

    setHeat(heat) { set({ heat }); },
    setDriftMode(driftMode) { set({ driftMode }); void refreshTrajectories(); },
    setRelative(relative) { set({ relative }); },
    focusTurn(turn) { set({ focus: { token: get().focus.token + 1, turn } }); },

    async listPresets() {
      try {
        set({ presets: await getEngine().presets() });
      } catch (e) {
        set({ error: errorText(e), presets: [] });
      }
    },

    replayPreset(id) {
      return presetRun(id, 'replaying the preset', (content) => ({ label: content.label, driftMode: get().driftMode, run: () => getEngine().chatReplay(content.userTurns, onEvent) }));
    },

    readPreset(id) {
      return presetRun(id, 'reading the transcript', (content) => ({
        label: 'the whole transcript from the paper (answers included), read by this model; nothing generated',
        driftMode: 'read',
        run: () => getEngine().chatReadTranscript(content.messages),
      }));
    },

    async exportJson() {
      const s = get();
      const data = await getEngine().chatExport();
      return {
        ...(data as object),
        lab: {
          model: modelKey(s.model.request) ?? s.model.info?.label ?? null,
          modelLabel: s.model.info?.label ?? null,
          axisSource: s.axis.source,
          axisLabel: s.axis.summary?.label ?? null,
          driftMode: s.driftMode,
          relativeToRoleCentroid: s.relative,
          monitorLayer: s.settings?.monitorLayer ?? null,
          drift: s.turns.map((t) => ({ pane: t.pane, turn: t.turn, generated: t.generated?.[s.settings?.monitorLayer ?? 0] ?? null, read: t.read?.[s.settings?.monitorLayer ?? 0] ?? null })),
        },
      };
    },

    setPending(pending) {
      set({ pending });
    },

    clearError() {
      set({ error: null });
    },
  };
});

/** The messages of the first visible pane (user turns are the same in every pane). */
export function visibleMessages(s: ChatState): MessageView[] {
  for (const id of PANES) if (!s.settings?.panes[id].hidden && s.panes[id].messages.length) return s.panes[id].messages;
  return [];
}

function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Deep merge of a settings patch (arrays and nulls replace). */
export function mergeSettings<T>(base: T, patch: unknown): T {
  if (!isObj(patch) || !isObj(base)) return (patch === undefined ? base : patch) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = isObj(v) && isObj(out[k]) ? mergeSettings(out[k], v) : v;
  }
  return out as T;
}
const mergePatch = (a: ChatSettingsPatch, b: ChatSettingsPatch): ChatSettingsPatch => mergeSettings(a, b);
