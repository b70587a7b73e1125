/**
 * The explorer's axis file (a store of its own beside the explorer's): an axis file read by the
 * analysis worker's 'analysis-axis' feature, the open set's projection on it at the current layer,
 * and its cosine with the set's own axis per layer. Follows the explorer's set and layer. A file
 * that does not fit the open set is refused in one sentence; the set, and any axis file loaded
 * before, stay.
 */
import { create } from 'zustand';
import { analysisWorker, type LocalFile, type Result } from '../../../../workers/analysis-client';
import type { AxisCosProfile, AxisFeatureInput, AxisFileInfo, AxisProjection, AxisUrlFile } from '../../../../workers/analysis-axis';
import { useStore } from '../store';
import { sendToChatLab, setExplorerAxisFile } from './handoff';

export interface AxisFileState {
  /** The file in use: what the worker read, and its bytes (for the chat lab). */
  file: { info: AxisFileInfo; bytes: Uint8Array } | null;
  busy: boolean;
  /** Why the last load failed (one sentence); what was loaded before stays. */
  error: string | null;
  /** The file's row for a single-layer set (null: its middle layer). */
  axisRow: number | null;
  projection: AxisProjection | null;
  projectionError: string | null;
  cos: AxisCosProfile | null;
  /** Set when the chat lab got the axis, or is waiting for a model. */
  chatNote: string | null;
  load(name: string, bytes: Uint8Array): Promise<void>;
  loadFiles(files: LocalFile[]): Promise<void>;
  /** An axis file at a URL (read by the worker through its hub loader and cache, as a set URL is). */
  loadUrl(url: string): Promise<void>;
  setAxisRow(row: number | null): Promise<void>;
  refresh(cosToo?: boolean): Promise<void>;
  clear(): void;
  toChatLab(): Promise<void>;
}

const FEATURE = 'analysis-axis';

function call<O>(input: AxisFeatureInput): Promise<Result<O>> {
  return analysisWorker().feature(FEATURE, input) as Promise<Result<O>>;
}

let loadSeq = 0;
let refreshSeq = 0;

export const useAxisFile = create<AxisFileState>()((set, get) => {
  /** Projection (and cos) for `info` on the explorer's open set. */
  async function compute(info: AxisFileInfo, row: number | null, cosToo: boolean): Promise<{ projection: AxisProjection; cos: AxisCosProfile | null } | { error: string }> {
    const layer = useStore.getState().layer;
    const p = await call<AxisProjection>({ op: 'project', axisId: info.id, slot: 'A', layer, axisRow: row });
    if (!p.ok) return { error: p.error.message };
    if (!cosToo) return { projection: p.value, cos: get().cos };
    const c = await call<AxisCosProfile>({ op: 'cos', axisId: info.id, slot: 'A' });
    return { projection: p.value, cos: c.ok ? c.value : null };
  }

  /** One way in for files and URLs: read, project on the open set, keep; a failure keeps what was there. */
  async function read(fetchAxis: () => Promise<Result<AxisUrlFile>>): Promise<void> {
    if (!useStore.getState().setA) {
      set({ error: 'Open a persona set first: an axis file is projected on the set on the map.' });
      return;
    }
    const my = ++loadSeq;
    set({ busy: true, error: null });
    const r = await fetchAxis();
    if (my !== loadSeq) return;
    if (!r.ok) { set({ busy: false, error: r.error.message }); return; }
    const { info, bytes } = r.value;
    const out = await compute(info, null, true);
    if (my !== loadSeq) return;
    if ('error' in out) { set({ busy: false, error: out.error }); return; }
    set({ file: { info, bytes }, busy: false, error: null, axisRow: null, projection: out.projection, projectionError: null, cos: out.cos, chatNote: null });
    setExplorerAxisFile({ name: info.name, bytes, layers: info.layers, dim: info.dim });
    // The layer or the set moved while the file was read: follow them.
    if (out.projection.setId !== useStore.getState().setA?.id || (useStore.getState().setA?.layers != null && out.projection.layer !== useStore.getState().layer)) await get().refresh(true);
  }

  return {
    file: null,
    busy: false,
    error: null,
    axisRow: null,
    projection: null,
    projectionError: null,
    cos: null,
    chatNote: null,

    async load(name, bytes) {
      // The worker gets a copy; the page keeps the bytes for the chat lab.
      await read(() => call<AxisFileInfo>({ op: 'load', name, bytes: bytes.slice() }).then((r) => (r.ok ? { ok: true as const, value: { info: r.value, bytes } } : r)));
    },

    async loadUrl(url) {
      const u = url.trim();
      if (!u) {
        set({ error: 'Type or paste the URL of an axis file first.' });
        return;
      }
      await read(() => call<AxisUrlFile>({ op: 'loadUrl', url: u, hub: useStore.getState().hub }));
    },

    async loadFiles(files) {
      if (files.length === 0) return;
      if (files.length > 1) {
        set({ error: `An axis is one file; ${files.length} were given.` });
        return;
      }
      const f = files[0];
      await get().load(f.path.slice(f.path.lastIndexOf('/') + 1), new Uint8Array(await f.file.arrayBuffer()));
    },

    async setAxisRow(row) {
      set({ axisRow: row });
      await get().refresh(false);
    },

    async refresh(cosToo = true) {
      const f = get().file;
      if (!f || !useStore.getState().setA) return;
      const my = ++refreshSeq;
      const out = await compute(f.info, get().axisRow, cosToo);
      if (my !== refreshSeq || get().file !== f) return;
      if ('error' in out) set({ projection: null, projectionError: out.error, ...(cosToo ? { cos: null } : {}) });
      else set({ projection: out.projection, projectionError: null, cos: out.cos });
    },

    clear() {
      loadSeq++;
      refreshSeq++;
      set({ file: null, error: null, projection: null, projectionError: null, cos: null, axisRow: null, chatNote: null, busy: false });
      setExplorerAxisFile(null);
      void call({ op: 'drop' });
    },

    async toChatLab() {
      const f = get().file;
      if (!f) return;
      document.getElementById('tab-chat')?.click();
      const now = await sendToChatLab({ name: f.info.name, bytes: f.bytes, layers: f.info.layers, dim: f.info.dim });
      set({ chatNote: now ? `${f.info.name} was handed to the chat lab.` : `Load a model in the chat lab: ${f.info.name} goes to it as soon as the model is ready.` });
    },
  };
});

// Follow the explorer: a new set or layer gets a new projection (a new set, the cos too).
useStore.subscribe((s, prev) => {
  if (!useAxisFile.getState().file) return;
  const newSet = s.setA?.id !== prev.setA?.id;
  if (newSet || s.layer !== prev.layer) void useAxisFile.getState().refresh(newSet);
});
