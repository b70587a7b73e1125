/**
 * The explorer's store, in slices: data (what is loaded — info only, the vectors live in the
 * worker — the analysis of the current layer, loads, comparison, cache), view (components, mode,
 * colour, layout, filters) and selection (with undo). Components select only what they render
 * (`useStore(selector)`, `useShallow` for several fields). Actions talk to the analysis worker and
 * only swap a set in on success.
 */
import { create } from 'zustand';
import type { CachedSetInfo } from '../../core/hub';
import { DEFAULT_VIEW, decodeView, type ColorBy, type MapMode, type ViewState } from '../../core/view/share-link';
import type { CompareResult, LayerAnalysis, LayerProfile, SetInfo } from '../../core/view/types';
import {
  analysisWorker,
  callbackProxy,
  progressProxy,
  type LoadProgress,
  type LoadRequestOptions,
  type LocalFile,
  type CustomProjectionResult,
  type Result,
  type Slot,
  type UmapResult,
} from '../../../workers/analysis-client';

/** Where a person started a load, so its error is shown right there. */
export type LoadOrigin = 'files' | 'drop' | 'url' | 'release' | 'share' | 'demo' | 'compare';

export interface LoadState {
  busy: boolean;
  origin: LoadOrigin | null;
  /** Release model id or URL being loaded, for the button that shows progress. */
  target: string | null;
  progress: LoadProgress | null;
  /** `code` is the worker's error code; `files`, the files an axis-only error was about (to load them as an axis). */
  /** `files` / `url`: an axis file opened as a set (code 'axis-only'), kept so one click loads it as an axis. */
  error: { origin: LoadOrigin; message: string; code?: string; files?: LocalFile[]; url?: string } | null;
}

const idleLoad: LoadState = { busy: false, origin: null, target: null, progress: null, error: null };

export interface AppState {
  hub: string | undefined;
  setA: SetInfo | null;
  setB: SetInfo | null;
  layer: number;
  analysis: LayerAnalysis | null;
  analysing: boolean;
  analysisError: string | null;
  profile: LayerProfile | null;
  profileProgress: { done: number; total: number } | null;
  pcx: number;
  pcy: number;
  mode: MapMode;
  color: ColorBy;
  selection: string[];
  undo: string[][];
  redo: string[][];
  isolate: boolean;
  search: string;
  hovered: number | null;
  rankFilter: string;
  loadA: LoadState;
  loadB: LoadState;
  compare: CompareResult | null;
  compareLayerB: number;
  compareError: string | null;
  cache: CachedSetInfo[];
  cacheError: string | null;
  /** A share link's view, waiting for its data (local files must be loaded again by the person). */
  pendingView: ViewState | null;
  /** Incremented to ask the map to reset zoom and rotation. */
  resetToken: number;
  /** Ask the map to zoom onto these members (token changes on every request). */
  focus: { token: number; names: string[] };
  traits: boolean;
  defaultNames: string;
  /** How set A was last loaded, so a new default can be applied by reading it again. */
  lastLoad: { kind: 'files'; files: LocalFile[] } | { kind: 'url'; url: string } | null;
}

/** How the map lays the points out: PCA (the paper's picture), UMAP, or a custom axis. */
export type MapLayout = 'pca' | 'umap' | 'custom';
/** Axis projections as raw h . a (unit a), or relative to the role centroid ((h - mean) . a). */
export type ProjectionRef = 'raw' | 'centroid';
/** What colours and filters points: role vs trait (kind) or the person's own tags. */
export type GroupBy = 'kind' | 'tag';

export interface ExplorerViewState {
  layout: MapLayout;
  projectionRef: ProjectionRef;
  /** Draw the traits (the release's trait vectors), with their own marks. */
  showTraits: boolean;
  groupBy: GroupBy;
  /** Groups left off the map (kind names or tags). */
  hiddenGroups: string[];
  /** The person's tags: member name -> tag. */
  tags: Map<string, string>;
  umap: UmapResult | null;
  umapDims: 2 | 3;
  umapSeed: number;
  umapProgress: { done: number; total: number } | null;
  umapError: string | null;
  customA: string;
  customB: string;
  custom: (CustomProjectionResult & { queryA: string; queryB: string }) | null;
  customError: string | null;
  customBusy: boolean;
}

export interface ExplorerViewActions {
  setLayout(l: MapLayout): void;
  setProjectionRef(r: ProjectionRef): void;
  setShowTraits(on: boolean): void;
  setGroupBy(g: GroupBy): void;
  toggleGroup(g: string): void;
  tagSelection(tag: string): void;
  clearTags(): void;
  runUmap(): Promise<void>;
  cancelUmap(): void;
  setUmapDims(d: 2 | 3): void;
  setUmapSeed(seed: number): void;
  setCustomQueries(a: string, b: string): void;
  runCustom(): Promise<void>;
  renameSet(slot: Slot, label: string): void;
}

export interface AppActions {
  loadFiles(files: LocalFile[], origin: LoadOrigin, slot?: Slot): Promise<void>;
  loadUrl(url: string, origin: LoadOrigin, slot?: Slot): Promise<void>;
  cancelLoad(slot?: Slot): void;
  setLayer(layer: number): Promise<void>;
  setPc(axis: 'x' | 'y', pc: number): void;
  setMode(mode: MapMode): void;
  setColor(c: ColorBy): void;
  setSearch(s: string): void;
  setHovered(i: number | null): void;
  toggleSelected(name: string): void;
  select(names: string[]): void;
  addToSelection(names: string[]): void;
  clearSelection(): void;
  undoSelection(): void;
  redoSelection(): void;
  setIsolate(on: boolean): void;
  setRankFilter(s: string): void;
  resetView(): void;
  focusOn(names: string[]): void;
  refreshCache(): Promise<void>;
  deleteCached(id: string): Promise<void>;
  setCompareLayerB(layer: number): Promise<void>;
  unloadB(): void;
  setTraits(on: boolean): void;
  setDefaultNames(s: string): void;
  /** Read set A's source again with the default field's members as the default. */
  reloadWithDefault(): Promise<void>;
  applyShareHash(hash: string): Promise<void>;
}

export type Store = AppState & AppActions & ExplorerViewState & ExplorerViewActions;
type Set_ = (partial: Partial<Store> | ((s: Store) => Partial<Store>)) => void;
type Get_ = () => Store;

function hubFromLocation(): string | undefined {
  if (typeof location === 'undefined') return undefined;
  const h = new URLSearchParams(location.search).get('hub');
  return h ? h.replace(/\/+$/, '') : undefined;
}

const UNDO_LIMIT = 100;

type SelectionActionKey = 'toggleSelected' | 'select' | 'addToSelection' | 'clearSelection' | 'undoSelection' | 'redoSelection' | 'setIsolate';

/** The data slice: what is loaded, the analysis of the current layer, loads, comparison, cache. */
function dataSlice(set: Set_, get: Get_): AppState & Omit<AppActions, SelectionActionKey> {
  const worker = () => analysisWorker();

  function loadKey(slot: Slot): 'loadA' | 'loadB' {
    return slot === 'A' ? 'loadA' : 'loadB';
  }

  function requestOptions(): LoadRequestOptions {
    const names = get().defaultNames.split(',').map((s) => s.trim()).filter(Boolean);
    return { hub: get().hub, traits: get().traits, defaultNames: names.length ? names : undefined };
  }

  async function runLoad(slot: Slot, origin: LoadOrigin, target: string | null, call: (onProgress: (p: LoadProgress) => void) => Promise<Result<SetInfo>>) {
    const key = loadKey(slot);
    set({ [key]: { busy: true, origin, target, progress: null, error: null } } as Partial<AppState>);
    let last = 0;
    const onProgress = progressProxy((p) => {
      // Throttle to the frame rate: a 500-file load reports 1000 times.
      const now = performance.now();
      if (now - last < 50 && p.filesDone < p.filesTotal) return;
      last = now;
      set((s) => ({ [key]: { ...s[key], progress: p } }) as Partial<AppState>);
    });
    const r = await call(onProgress);
    if (!r.ok) {
      const message = r.error.code === 'aborted' ? 'Loading was cancelled; what was loaded before is still there.' : r.error.message;
      set({ [key]: { ...idleLoad, error: { origin, message, code: r.error.code } } } as Partial<AppState>);
      return;
    }
    set({ [key]: idleLoad } as Partial<AppState>);
    if (slot === 'A') await installA(r.value, origin);
    else await installB(r.value);
    void get().refreshCache();
  }

  async function installA(info: SetInfo, origin: LoadOrigin = 'files') {
    const pending = get().pendingView;
    const layers = info.layers;
    let layer = layers === null ? 0 : Math.floor(layers / 2);
    if (pending?.layer != null && layers !== null && pending.layer < layers) layer = pending.layer;
    const r = await worker().analyze('A', layer);
    if (!r.ok) {
      // The set loaded but cannot be analysed (for example fewer than two vectors): say so where the person acted.
      set({ loadA: { ...idleLoad, error: { origin, message: r.error.message } } });
      return;
    }
    const a = r.value;
    const names = new Set(a.names);
    const base = pending ?? null;
    const pcx = Math.min(base?.pcx ?? get().pcx, a.k), pcy = Math.min(base?.pcy ?? get().pcy, a.k);
    let selection = (base ? base.sel : get().selection).filter((n) => names.has(n));
    if (!base && get().setA === null) selection = [];
    set({
      setA: info, layer: a.layer, analysis: a, analysisError: null, profile: null, profileProgress: null,
      pcx: Math.max(1, pcx), pcy: Math.max(1, pcy === pcx && a.k > 1 ? (pcx === 1 ? 2 : 1) : pcy),
      mode: base?.mode ?? get().mode, color: colorWithin(base?.color ?? get().color, a.k),
      selection, undo: [], redo: [], hovered: null, pendingView: null, compare: null, compareError: null,
      resetToken: get().resetToken + 1,
      umap: null, umapProgress: null, umapError: null, custom: null, customError: null,
      layout: base ? base.layout ?? 'pca' : get().layout === 'umap' ? 'pca' : get().layout,
      ...(base?.layout === 'umap' && base.seed !== undefined ? { umapSeed: base.seed } : {}),
      ...(base?.layout === 'custom' ? { customA: base.ca ?? '@default', customB: base.cb ?? '@roles' } : {}),
    });
    if (get().layout === 'custom') void get().runCustom();
    if (get().layout === 'umap') void get().runUmap();
    if (info.layers !== null && info.layers > 1) {
      const onLayer = callbackProxy((done: number, total: number) => set({ profileProgress: { done, total } }));
      const p = await worker().profile('A', onLayer);
      if (get().setA?.id === info.id) set({ profile: p.ok ? p.value : null, profileProgress: null });
    }
    if (get().setB) await runCompare();
  }

  async function installB(info: SetInfo) {
    // Same relative depth as the layer shown for A (models differ in depth), else B's middle layer.
    const a = get().setA;
    let lb = info.layers === null ? 0 : Math.floor(info.layers / 2);
    if (info.layers !== null && a && a.layers !== null && a.layers > 1) lb = Math.round((get().layer / (a.layers - 1)) * (info.layers - 1));
    // Two sets with the same name would read as one against itself in the comparison.
    const label = a && info.label === a.label ? `${info.label} (set B)` : info.label;
    set({ setB: { ...info, label }, compareLayerB: lb });
    await runCompare();
  }

  async function runCompare() {
    const { setA, setB, layer, compareLayerB } = get();
    if (!setA || !setB) return;
    const r = await worker().compare(layer, compareLayerB);
    set(r.ok ? { compare: r.value, compareError: null } : { compare: null, compareError: r.error.message });
  }

  function colorWithin(c: ColorBy, k: number): ColorBy {
    if (c === 'axis' || c === 'group') return c;
    return Number(c.slice(2)) <= k ? c : 'axis';
  }


  return {
    hub: hubFromLocation(),
    setA: null,
    setB: null,
    layer: 0,
    analysis: null,
    analysing: false,
    analysisError: null,
    profile: null,
    profileProgress: null,
    pcx: DEFAULT_VIEW.pcx,
    pcy: DEFAULT_VIEW.pcy,
    mode: DEFAULT_VIEW.mode,
    color: DEFAULT_VIEW.color,
    selection: [],
    undo: [],
    redo: [],
    isolate: false,
    search: '',
    hovered: null,
    rankFilter: '',
    loadA: idleLoad,
    loadB: idleLoad,
    compare: null,
    compareLayerB: 0,
    compareError: null,
    cache: [],
    cacheError: null,
    pendingView: null,
    resetToken: 0,
    focus: { token: 0, names: [] },
    traits: false,
    defaultNames: '',
    lastLoad: null,

    async loadFiles(files, origin, slot = 'A') {
      if (files.length === 0) return;
      await runLoad(slot, origin, null, (onProgress) => worker().loadFiles(slot, files, requestOptions(), onProgress));
      if (slot === 'A' && !get().loadA.error) set({ lastLoad: { kind: 'files', files } });
      // An axis file opened as a set: keep it, so it can be loaded as an axis with one click.
      const err = get()[loadKey(slot)].error;
      if (err?.code === 'axis-only') set({ [loadKey(slot)]: { ...get()[loadKey(slot)], error: { ...err, files } } } as Partial<AppState>);
    },

    async loadUrl(url, origin, slot = 'A') {
      const text = url.trim();
      if (!text) {
        set({ [loadKey(slot)]: { ...idleLoad, error: { origin, message: 'Type or paste a URL first.' } } } as Partial<AppState>);
        return;
      }
      await runLoad(slot, origin, text, (onProgress) => worker().loadUrl(slot, text, requestOptions(), onProgress));
      if (slot === 'A' && !get().loadA.error) set({ lastLoad: { kind: 'url', url: text } });
      // An axis file at a URL opened as a set: keep the URL, as loadFiles keeps the files.
      const err = get()[loadKey(slot)].error;
      if (err?.code === 'axis-only') set({ [loadKey(slot)]: { ...get()[loadKey(slot)], error: { ...err, url: text } } } as Partial<AppState>);
    },

    cancelLoad(slot = 'A') {
      void worker().cancel(slot);
    },

    async setLayer(layer) {
      const { setA } = get();
      if (!setA || setA.layers === null) return;
      const l = Math.max(0, Math.min(setA.layers - 1, Math.round(layer)));
      set({ layer: l, analysing: true });
      const r = await worker().analyze('A', l);
      // A later move of the slider wins.
      if (get().layer !== l || get().setA?.id !== setA.id) return;
      if (r.ok) {
        set({ analysis: r.value, analysing: false, analysisError: null, hovered: null });
        if (get().layout === 'custom') void get().runCustom();
        if (get().setB) await runCompare();
      } else set({ analysing: false, analysisError: r.error.message });
    },

    setPc(axis, pc) {
      const k = get().analysis?.k ?? 10;
      const v = Math.max(1, Math.min(k, pc));
      set(axis === 'x' ? { pcx: v } : { pcy: v });
      set({ resetToken: get().resetToken + 1 });
    },
    setMode(mode) {
      set({ mode, resetToken: get().resetToken + 1 });
    },
    setColor(color) {
      set({ color });
    },
    setSearch(search) {
      set({ search });
    },
    setHovered(hovered) {
      if (get().hovered !== hovered) set({ hovered });
    },
    setRankFilter(rankFilter) {
      set({ rankFilter });
    },
    resetView() {
      set({ resetToken: get().resetToken + 1 });
    },
    focusOn(names) {
      set({ focus: { token: get().focus.token + 1, names } });
    },
    async refreshCache() {
      const r = await worker().cacheList();
      set(r.ok ? { cache: r.value, cacheError: null } : { cacheError: r.error.message });
    },
    async deleteCached(id) {
      const r = await worker().cacheDelete(id);
      set(r.ok ? { cache: r.value, cacheError: null } : { cacheError: r.error.message });
    },
    async setCompareLayerB(layer) {
      set({ compareLayerB: layer });
      await runCompare();
    },
    unloadB() {
      void worker().unload('B');
      set({ setB: null, compare: null, compareError: null, loadB: idleLoad });
    },
    setTraits(traits) {
      set({ traits });
    },
    setDefaultNames(defaultNames) {
      set({ defaultNames });
    },
    async reloadWithDefault() {
      const last = get().lastLoad;
      if (!last) return;
      // Keep the view (layer, components, selection) across the reload, as a share link would.
      set({ pendingView: currentView(get()) });
      if (last.kind === 'files') await get().loadFiles(last.files, 'files');
      else await get().loadUrl(last.url, 'url');
      if (get().loadA.error) set({ pendingView: null });
    },
    async applyShareHash(hash) {
      const v = decodeView(hash);
      const body = hash.replace(/^#/, '');
      if (!body) return;
      if (v.src && v.src !== get().setA?.sourceUrl) {
        set({ pendingView: v });
        await get().loadUrl(v.src, 'share');
        return;
      }
      if (get().analysis && (!v.src || v.src === get().setA?.sourceUrl)) {
        // Same data already here: apply at once.
        set({ pendingView: v });
        const info = get().setA!;
        await installA(info);
      } else set({ pendingView: v });
    },
  };
}

/** The selection slice: pinned members, with undo and redo, and Isolate. */
function selectionSlice(set: Set_, get: Get_): Pick<AppActions, SelectionActionKey> {
  function changeSelection(next: string[]) {
    const cur = get().selection;
    if (cur.length === next.length && cur.every((n, i) => n === next[i])) return;
    set({ selection: next, undo: [...get().undo, cur].slice(-UNDO_LIMIT), redo: [] });
  }

  return {
    toggleSelected(name) {
      const cur = get().selection;
      changeSelection(cur.includes(name) ? cur.filter((n) => n !== name) : [...cur, name]);
    },
    select(names) {
      changeSelection([...new Set(names)]);
    },
    addToSelection(names) {
      const cur = get().selection;
      const have = new Set(cur);
      changeSelection([...cur, ...names.filter((n) => !have.has(n))]);
    },
    clearSelection() {
      changeSelection([]);
      set({ isolate: false });
    },
    undoSelection() {
      const { undo, selection, redo } = get();
      if (undo.length === 0) return;
      set({ selection: undo[undo.length - 1], undo: undo.slice(0, -1), redo: [...redo, selection] });
    },
    redoSelection() {
      const { undo, selection, redo } = get();
      if (redo.length === 0) return;
      set({ selection: redo[redo.length - 1], redo: redo.slice(0, -1), undo: [...undo, selection] });
    },
    setIsolate(isolate) {
      set({ isolate });
    },
  };
}

let umapRuns = 0;

/** The view slice: layout (PCA, UMAP, custom axis), projection reference, traits, groups and tags. */
function viewSlice(set: Set_, get: Get_): ExplorerViewState & ExplorerViewActions {
  return {
    layout: 'pca',
    projectionRef: 'raw',
    showTraits: true,
    groupBy: 'kind',
    hiddenGroups: [],
    tags: new Map(),
    umap: null,
    umapDims: 2,
    umapSeed: 42,
    umapProgress: null,
    umapError: null,
    customA: '@default',
    customB: '@roles',
    custom: null,
    customError: null,
    customBusy: false,

    setLayout(layout) {
      set({ layout, resetToken: get().resetToken + 1 });
      if (layout === 'umap' && !umapCurrent(get())) void get().runUmap();
      if (layout === 'custom' && !customCurrent(get())) void get().runCustom();
    },
    setProjectionRef(projectionRef) { set({ projectionRef }); },
    setShowTraits(showTraits) { set({ showTraits }); },
    setGroupBy(groupBy) { set({ groupBy, hiddenGroups: [] }); },
    toggleGroup(g) {
      const cur = get().hiddenGroups;
      set({ hiddenGroups: cur.includes(g) ? cur.filter((x) => x !== g) : [...cur, g] });
    },
    tagSelection(tag) {
      const t = tag.trim();
      if (!t) return;
      const tags = new Map(get().tags);
      for (const n of get().selection) tags.set(n, t);
      set({ tags, groupBy: 'tag' });
    },
    clearTags() { set({ tags: new Map(), hiddenGroups: get().groupBy === 'tag' ? [] : get().hiddenGroups }); },
    async runUmap() {
      const { setA, layer, umapDims, umapSeed } = get();
      if (!setA) return;
      set({ umapProgress: { done: 0, total: 0 }, umapError: null });
      // Progress arrives on its own channel: a report landing after the result (or after a newer
      // run started) must not bring the progress bar back.
      const run = ++umapRuns;
      const onProgress = callbackProxy((done: number, total: number) => { if (run === umapRuns && get().umapProgress) set({ umapProgress: { done, total } }); });
      const r = await analysisWorker().umap('A', layer, { dims: umapDims, seed: umapSeed }, onProgress);
      if (run !== umapRuns) return;
      umapRuns++;
      if (get().setA?.id !== setA.id) return;
      if (!r.ok) set({ umapProgress: null, umapError: r.error.message, layout: get().umap ? get().layout : 'pca' });
      else if (r.value) set({ umap: r.value, umapProgress: null, resetToken: get().resetToken + 1 });
      else set({ umapProgress: null });
    },
    cancelUmap() {
      umapRuns++;
      void analysisWorker().cancelUmap();
      set({ umapProgress: null, layout: umapCurrent(get()) ? get().layout : 'pca' });
    },
    setUmapDims(umapDims) { set({ umapDims }); },
    setUmapSeed(umapSeed) { set({ umapSeed: Math.max(0, Math.floor(umapSeed)) || 0 }); },
    setCustomQueries(customA, customB) { set({ customA, customB }); },
    async runCustom() {
      const { setA, layer, customA, customB } = get();
      if (!setA) return;
      set({ customBusy: true });
      const r = await analysisWorker().customProjection('A', layer, customA, customB);
      if (get().setA?.id !== setA.id) return;
      if (r.ok) set({ custom: { ...r.value, queryA: customA, queryB: customB }, customError: null, customBusy: false, resetToken: get().resetToken + 1 });
      else set({ customError: r.error.message, customBusy: false });
    },
    renameSet(slot, label) {
      const t = label.trim().slice(0, 200);
      if (!t) return;
      if (slot === 'A' && get().setA) set({ setA: { ...get().setA!, label: t } });
      if (slot === 'B' && get().setB) set({ setB: { ...get().setB!, label: t } });
    },
  };
}

/** Whether the UMAP held is of the layer and set on the map, in the dimensions asked for. */
export function umapCurrent(s: Store): boolean {
  return !!s.umap && !!s.setA && !!s.analysis && s.umap.setId === s.analysis.setId && s.umap.layer === s.analysis.layer;
}

/** Whether the custom projection held is of the layer and set on the map. */
export function customCurrent(s: Store): boolean {
  return !!s.custom && !!s.analysis && s.custom.setId === s.analysis.setId && s.custom.layer === s.analysis.layer;
}

export const useStore = create<Store>()((set, get) => ({
  ...dataSlice(set, get),
  ...selectionSlice(set, get),
  ...viewSlice(set, get),
}));

/** The view as a share link encodes it. */
export function currentView(s: Store): ViewState {
  return {
    src: s.setA?.sourceUrl ?? null,
    layer: s.setA && s.setA.layers !== null ? s.layer : null,
    pcx: s.pcx,
    pcy: s.pcy,
    color: s.color,
    sel: s.selection,
    mode: s.mode,
    ...(s.layout === 'umap' ? { layout: 'umap' as const, seed: s.umapSeed } : {}),
    ...(s.layout === 'custom' ? { layout: 'custom' as const, ca: s.customA, cb: s.customB } : {}),
  };
}
