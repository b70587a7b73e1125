/**
 * The extraction tab's state and actions. It owns one model worker (its own model, so the chat
 * lab's is untouched); the worker runs the pipeline and keeps every finished rollout in IndexedDB.
 * Components render this state and call these actions; nothing here computes vectors.
 */
import { create } from 'zustand';
import { createModelClient, type ModelClient } from '../../../workers/model-client';
import type { Estimate, ExtractProgress, ExtractRunInfo, ExtractSettings, ExtractSummary } from '../../../workers/extract-protocol';
import { CREDIT } from '../../core/data/assistant-axis-data';
import { writeZip } from '../../core/formats/zip';
import { countRollouts, normalizeSettings, presetSettings, type PresetName } from '../../core/extract/presets';
import type { ModelLoadProgress } from '../../core/lm/model-source';
import { MODEL_CHOICES, toSource, type ModelRequest } from '../chat/models';
import { trackLoadProgress } from '../chat/load-progress';
import { errorCode } from '../chat/api';
import { useStore as useExplorer } from '../explorer/store';

export { CREDIT };

export type PresetChoice = PresetName | 'custom';

export interface ExtractForm {
  preset: PresetChoice;
  /** Custom: comma-separated names. */
  roles: string;
  traits: string;
  prompts: number;
  questions: number;
  defaultPrompts: number;
  defaultQuestions: number;
  maxNewTokens: number;
  batch: number;
  seed: number;
  temperature: number;
  stopEnabled: boolean;
  stopAt: number;
}

export interface ExtractState {
  modelId: string;
  model: { label: string; numLayers: number; hiddenSize: number; backend: string } | null;
  loading: ModelLoadProgress | null;
  /** How the last model load ended when that is worth saying ('Cancelled.'); null while loading or after a load that worked or failed (`error` says why). */
  loadStatus: string | null;
  form: ExtractForm;
  estimate: Estimate | null;
  measuring: boolean;
  running: boolean;
  runId: string | null;
  progress: ExtractProgress | null;
  /** Stability after each batch, for the meter's sparkline. */
  stabilityTrace: number[];
  summary: ExtractSummary | null;
  runs: ExtractRunInfo[];
  error: string | null;
  notice: string | null;
  /** Grow the explorer's map while a run goes: the roles finished so far, after each batch that finishes one. */
  liveMap: boolean;
  /** Roles on the map from the running run (0: none yet). */
  liveRoles: number;
}

export interface ExtractActions {
  setModelId(id: string): void;
  loadModel(): Promise<void>;
  /** Stop the model load in progress (downloads and preparing the weights): it ends as 'Cancelled.', the form, runs and the last run's results as they were. */
  cancelLoad(): void;
  setForm(patch: Partial<ExtractForm>): void;
  setLiveMap(on: boolean): void;
  measure(): Promise<void>;
  start(): Promise<void>;
  pause(): void;
  refreshRuns(): Promise<void>;
  resumeRun(run: ExtractRunInfo): Promise<void>;
  deleteRun(id: string): Promise<void>;
  exportRun(id: string): Promise<void>;
  showOnMap(id: string): Promise<void>;
  /** Hand the run's axis (with its rollout calibration) to the chat lab, whose model must have the same shape. */
  sendToChat(id: string): Promise<void>;
}

const DEFAULT_FORM: ExtractForm = {
  preset: 'custom',
  roles: 'pirate, ghost, tutor, evaluator, bard, jester',
  traits: '',
  prompts: 1,
  questions: 2,
  defaultPrompts: 2,
  defaultQuestions: 2,
  maxNewTokens: 16,
  batch: 4,
  seed: 0,
  temperature: 0.7,
  stopEnabled: false,
  stopAt: 0.95,
};

const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

/** The settings the form describes (throws a DataError sentence for unknown names / bad sizes). */
export function formSettings(f: ExtractForm): ExtractSettings {
  const common = { maxNewTokens: f.maxNewTokens, batch: f.batch, seed: f.seed, temperature: f.temperature, topP: 0.9, stopAt: f.stopEnabled ? f.stopAt : null };
  if (f.preset !== 'custom') return presetSettings(f.preset, common);
  return normalizeSettings({ roles: list(f.roles), traits: list(f.traits), prompts: f.prompts, questions: f.questions, defaultPrompts: f.defaultPrompts, defaultQuestions: f.defaultQuestions, preset: 'custom', ...common });
}

/** Rollouts and tokens of the form, without a model (null when the form is invalid). */
export function formCounts(f: ExtractForm): { rollouts: number; defaultRollouts: number; maxTokens: number } | null {
  try {
    return countRollouts(formSettings(f));
  } catch {
    return null;
  }
}

function dataBase(): string | undefined {
  if (typeof location === 'undefined') return undefined;
  const d = new URLSearchParams(location.search).get('data');
  return d ? d.replace(/\/+$/, '') : undefined;
}
function hubOrigin(): string | undefined {
  if (typeof location === 'undefined') return undefined;
  const h = new URLSearchParams(location.search).get('hub');
  return h ? h.replace(/\/+$/, '') : undefined;
}

let client: ModelClient | null = null;
let clientFactory: () => ModelClient = () => createModelClient();
/** Tests replace the worker. */
export function setExtractClientFactory(f: () => ModelClient): void {
  clientFactory = f;
  client = null;
}
function api(): ModelClient {
  return (client ??= clientFactory());
}

const text = (e: unknown) => (e as { message?: string })?.message ?? String(e);

function request(id: string): ModelRequest {
  if (id === 'synthetic') return { kind: 'synthetic' };
  const m = MODEL_CHOICES.find((c) => c.id === id);
  if (!m) return { kind: 'synthetic' };
  // 'auto': the fastest file for the backend the worker lands on (a fixed q4f16 cannot run on WASM)
  return { kind: 'hub', repo: m.repo, dtype: 'auto', hub: hubOrigin() };
}

/**
 * A run on the explorer's map, like any other set: the analysis worker reads `extraction:<runId>`
 * from this browser's store (workers/load-set.ts), so the map's share link names the run. Resolves
 * with the explorer's sentence when it could not be shown.
 */
async function mapRun(runId: string): Promise<string | null> {
  await useExplorer.getState().loadUrl(`extraction:${runId}`, 'url');
  return useExplorer.getState().loadA.error?.message ?? null;
}

/**
 * While a run goes, the explorer's map grows: after a batch that finished a new role, the roles so
 * far are put on the map. The analysis worker keeps the run's sums between reads, so each update
 * reads only the batches stored since the last one, not the whole run. One update at a time, the
 * latest wins, and the finished run once more at the end.
 */
function liveMapUpdater() {
  let shown = 0;
  let want: { runId: string; roles: number } | null = null;
  let busy: Promise<void> | null = null;
  const pump = async () => {
    while (want) {
      const w = want;
      want = null;
      if (!useExtract.getState().liveMap || w.roles <= shown) continue;
      // Nothing finished yet, or the run moved on: the next batch tries again.
      if ((await mapRun(w.runId)) !== null) continue;
      shown = w.roles;
      useExtract.setState({ liveRoles: w.roles });
    }
    busy = null;
  };
  return {
    batch(runId: string, roles: number) {
      if (roles <= shown) return;
      want = { runId, roles };
      busy ??= pump();
    },
    async finish(runId: string) {
      want = null;
      await busy;
      if (shown === 0 || !useExtract.getState().liveMap) return;
      // The map keeps the last roles shown when this fails.
      await mapRun(runId);
    },
  };
}

/** The model load in progress (a later one replaces it: an earlier one's end then changes nothing). */
let loadSeq = 0;

export const useExtract = create<ExtractState & ExtractActions>()((set, get) => ({
  modelId: 'synthetic',
  model: null,
  loading: null,
  loadStatus: null,
  form: DEFAULT_FORM,
  estimate: null,
  measuring: false,
  running: false,
  runId: null,
  progress: null,
  stabilityTrace: [],
  summary: null,
  runs: [],
  error: null,
  notice: null,
  liveMap: true,
  liveRoles: 0,

  setModelId(id) {
    set({ modelId: id });
  },

  async loadModel() {
    const seq = ++loadSeq;
    // the worker lets go of the model it had as a load starts, so none is shown (nor measured or run) until this one is in
    set({ loading: { file: 'starting', loaded: 0, total: null, filesDone: 0 } as ModelLoadProgress, loadStatus: null, model: null, error: null, estimate: null });
    try {
      const progress = trackLoadProgress((v) => { if (v.last && seq === loadSeq) set({ loading: v.last }); });
      const info = await api().load(toSource(request(get().modelId)), { device: 'auto' }, progress.onProgress);
      if (seq !== loadSeq) return;
      set({ model: { label: info.label, numLayers: info.numLayers, hiddenSize: info.hiddenSize, backend: info.backend }, loading: null });
      await get().refreshRuns();
    } catch (e) {
      if (seq !== loadSeq) return;
      if (errorCode(e) === 'aborted') set({ loading: null, loadStatus: 'Cancelled.' });
      else set({ loading: null, error: text(e) });
    }
  },

  cancelLoad() {
    if (!get().loading) return;
    void api().cancelLoad().catch(() => {});
  },

  setLiveMap(liveMap) {
    set({ liveMap });
  },

  setForm(patch) {
    set({ form: { ...get().form, ...patch }, estimate: null, error: null });
  },

  async measure() {
    set({ measuring: true, error: null });
    try {
      set({ estimate: await api().extractEstimate(formSettings(get().form), true), measuring: false });
    } catch (e) {
      set({ measuring: false, error: text(e) });
    }
  },

  async start() {
    const st = get();
    if (!st.model) return set({ error: 'Load a model first.' });
    let settings: ExtractSettings;
    try {
      settings = formSettings(st.form);
    } catch (e) {
      return set({ error: text(e) });
    }
    set({ running: true, error: null, notice: null, summary: null, progress: null, stabilityTrace: [], liveRoles: 0 });
    const live = liveMapUpdater();
    try {
      const modelName = st.model.label.split(' ')[0].split('/').pop() ?? st.model.label;
      const summary = await api().extractStart(
        settings,
        modelName,
        (e) => {
          if (e.type === 'progress') {
            const trace = e.progress.stability === null ? get().stabilityTrace : [...get().stabilityTrace, e.progress.stability];
            set({ progress: e.progress, runId: e.runId, stabilityTrace: trace });
          } else if (e.type === 'batch') live.batch(e.runId, e.roles);
        },
        dataBase(),
      );
      set({ running: false, summary, runId: summary.runId, notice: summary.message });
      await live.finish(summary.runId);
    } catch (e) {
      set({ running: false, error: text(e) });
    }
    await get().refreshRuns();
  },

  pause() {
    void api().extractPause();
  },

  async refreshRuns() {
    try {
      set({ runs: await api().extractRuns() });
    } catch (e) {
      set({ error: text(e) });
    }
  },

  async resumeRun(run) {
    const s = run.settings;
    set({
      form: {
        preset: s.preset,
        roles: s.roles.join(', '),
        traits: s.traits.join(', '),
        prompts: s.prompts,
        questions: s.questions,
        defaultPrompts: s.defaultPrompts,
        defaultQuestions: s.defaultQuestions,
        maxNewTokens: s.maxNewTokens,
        batch: s.batch,
        seed: s.seed,
        temperature: s.temperature,
        stopEnabled: s.stopAt !== null,
        stopAt: s.stopAt ?? 0.95,
      },
    });
    if (!get().model || get().model!.label !== run.model) return set({ error: `This run belongs to ${run.model}; load that model, then resume.` });
    await get().start();
  },

  async deleteRun(id) {
    try {
      await api().extractDelete(id);
      if (get().runId === id) set({ runId: null, summary: null, progress: null });
    } catch (e) {
      set({ error: text(e) });
    }
    await get().refreshRuns();
  },

  async exportRun(id) {
    try {
      const files = await api().extractFiles(id);
      const zip = writeZip(files.map((f) => ({ name: `persona-space-${id}/${f.path}`, data: f.bytes })));
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([zip as BlobPart], { type: 'application/zip' }));
      a.download = `persona-space-${id}.zip`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      set({ error: text(e) });
    }
  },

  async sendToChat(id) {
    try {
      const bundle = await api().extractAxis(id);
      const { useChat } = await import('../chat/store');
      if (!useChat.getState().model.info) return set({ error: 'Load the same model in the chat lab first, then use this axis there.' });
      await useChat.getState().setAxis(bundle, `extraction:${id}`);
      location.hash = 'tab=chat';
    } catch (e) {
      set({ error: text(e) });
    }
  },

  async showOnMap(id) {
    const problem = await mapRun(id);
    if (problem) return set({ error: problem });
    location.hash = 'tab=explorer';
  },
}));
