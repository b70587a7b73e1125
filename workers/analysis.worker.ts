/**
 * The analysis worker owns the loaded PersonaSets (A: the map, B: the comparison) and does the
 * heavy work — downloading, parsing, PCA, axis, comparisons — so the page never freezes. It hands
 * back small results (coordinates, ratios); the vectors never cross to the page.
 */
import * as Comlink from 'comlink';
import { isPersonaSpaceError } from '../src/core/errors';
import { isAbortError, type DownloadProgress } from '../src/core/hub';
import { filesLabel, parseSourceText, type PersonaSource } from '../src/core/persona/source';
import type { PersonaSet, VirtualFile } from '../src/core/persona/types';
import type { LayerAnalysis, SetInfo } from '../src/core/view/types';
import { calibrationFromRoleVectors } from '../src/core/extract/aggregate';
import { analyzeLayerWithBasis, axisBundleOf, comparePc1, customProjection, defaultLayer, layerProfile, neighboursOf, projectIntoBasis, runFeature, setInfo, umapLayout, type FeatureContext, type MapBasis } from './analysis-core';
import type { AnalysisApi, LoadProgress, LoadRequestOptions, Result, Slot, WorkerError } from './analysis-protocol';
import { loadSource, readUrlFiles, workerFileCache } from './load-set';
import { browserPcaWorker, createPcaPool, poolSweep } from './pca-pool';

interface Held {
  info: SetInfo;
  set: PersonaSet;
  analyses: Map<number, { analysis: LayerAnalysis; basis: MapBasis }>;
}

const held = new Map<Slot, Held>();
const loading = new Map<Slot, AbortController>();
let generation = 0;
const fileCache = workerFileCache;

function toError(e: unknown): WorkerError {
  if (isAbortError(e)) return { code: 'aborted', message: 'Loading was cancelled; the set shown before is still loaded.' };
  if (isPersonaSpaceError(e)) return { code: e.code, message: e.message };
  if (e instanceof RangeError && /allocation|memory/i.test(e.message)) {
    return { code: 'out-of-memory', message: 'The browser ran out of memory while reading these files; try fewer layers or a smaller set.' };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { code: 'internal', message: `Something went wrong: ${msg}` };
}

async function attempt<T>(f: () => Promise<T> | T): Promise<Result<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    return { ok: false, error: toError(e) };
  }
}

function begin(slot: Slot): AbortController {
  loading.get(slot)?.abort();
  const ac = new AbortController();
  loading.set(slot, ac);
  return ac;
}

/** Load a source, then swap the slot's set only on success (what was loaded stays loaded otherwise). */
async function finish(slot: Slot, ac: AbortController, source: PersonaSource, opts: LoadRequestOptions, sourceUrl: string | null, onProgress: (p: LoadProgress) => void): Promise<SetInfo> {
  let bytes = 0;
  let files: readonly VirtualFile[] = [];
  const loaded = await loadSource(source, {
    defaultNames: opts.defaultNames && opts.defaultNames.length > 0 ? opts.defaultNames : undefined,
    signal: ac.signal,
    hub: opts.hub,
    traits: opts.traits ?? false,
    onDownload: downloadProgress(onProgress),
    onFiles: (f) => { files = f; },
    onProgress: ({ done, total, path }) => {
      bytes += files.find((f) => f.path === path)?.size ?? 0;
      onProgress({ phase: 'parse', filesDone: done, filesTotal: total, bytesLoaded: bytes, bytesTotal: null, filesCached: 0, path });
    },
  });
  if (ac.signal.aborted) throw ac.signal.reason ?? new DOMException('aborted', 'AbortError');
  // A synthetic set's label already says what it is; files and downloads get their shape added.
  const label = source.kind === 'synthetic' ? loaded.label : informativeLabel(loaded.label, loaded.set);
  return install(slot, loaded.set, label, sourceUrl);
}

function install(slot: Slot, set: PersonaSet, label: string, sourceUrl: string | null): SetInfo {
  const info = setInfo(`${slot}${++generation}`, set, label, sourceUrl);
  // Analyse the first layer before the swap: a set that cannot be mapped (too few vectors, NaN)
  // fails here and the set loaded before stays in place.
  const first = analyzeLayerWithBasis(info.id, set, defaultLayer(set), 10);
  held.set(slot, { info, set, analyses: new Map([[first.analysis.layer, first]]) });
  return info;
}

function downloadProgress(onProgress: (p: LoadProgress) => void) {
  return (p: DownloadProgress) => onProgress({
    phase: 'download', filesDone: p.filesDone, filesTotal: p.filesTotal, bytesLoaded: p.bytesLoaded,
    bytesTotal: p.bytesTotal, filesCached: p.filesCached, path: p.file.path,
  });
}

/** A name that tells two sets apart: where it came from plus its shape ("vectors/ · 275 roles · d 4096"). */
function informativeLabel(base: string, set: PersonaSet): string {
  let roles = 0, traits = 0;
  for (const k of set.kinds) { if (k === 'role') roles++; else if (k === 'trait') traits++; }
  const who = roles ? `${roles} roles${traits ? ` + ${traits} traits` : ''}` : traits ? `${traits} traits` : `${set.names.length} vectors`;
  return `${base} · ${who} · ${set.layers === null ? '' : `${set.layers} layers × `}d ${set.dim}`;
}

function cached(slot: Slot): Held {
  const h = held.get(slot);
  if (!h) throw Object.assign(new Error(`No set ${slot} is loaded.`), { code: 'no-set' });
  return h;
}

function layerOf(h: Held, layer: number): number {
  return h.set.layers === null ? 0 : Math.max(0, Math.min(h.set.layers - 1, layer < 0 ? defaultLayer(h.set) : layer));
}

function analysed(slot: Slot, layer: number): { analysis: LayerAnalysis; basis: MapBasis } {
  const h = cached(slot);
  const l = layerOf(h, layer);
  let a = h.analyses.get(l);
  if (!a) {
    a = analyzeLayerWithBasis(h.info.id, h.set, l, 10);
    if (h.analyses.size > 16) h.analyses.clear();
    h.analyses.set(l, a);
  }
  return a;
}

function analysisAt(slot: Slot, layer: number): LayerAnalysis {
  return analysed(slot, layer).analysis;
}

let umapRun = 0;

// The layer chart's all-layer PCA on a pool of workers (opened on the first set with 8+ layers),
// which also keeps this worker free to answer the layer the person picks meanwhile. Without
// Worker support, or if a worker fails to start, layerProfile walks the layers here.
const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 0;
const sweep = poolSweep(() => createPcaPool(browserPcaWorker, { size: Math.min(cores > 0 ? Math.max(1, cores - 1) : 2, 4) }));

const api: AnalysisApi = {
  async loadFiles(slot, files, opts, onProgress) {
    const ac = begin(slot);
    return attempt(async () => {
      const rel = files.filter((f) => !f.path.split('/').some((part) => part.startsWith('.')));
      // Start every read at once (the browser reads files in parallel); the parser takes them in order.
      const vfiles: VirtualFile[] = rel.map(({ path, file }) => {
        let bytes: Promise<Uint8Array> | null = null;
        const read = () => (bytes ??= file.arrayBuffer().then((b) => new Uint8Array(b)));
        if (file.size < 64 * 1024 * 1024) void read().catch(() => undefined);
        return { path, size: file.size, read };
      });
      return finish(slot, ac, { kind: 'files', files: vfiles, label: filesLabel(files) }, opts, null, onProgress);
    }).finally(() => { if (loading.get(slot) === ac) loading.delete(slot); });
  },

  async loadUrl(slot, url, opts, onProgress) {
    const ac = begin(slot);
    return attempt(async () => {
      const text = url.trim();
      return finish(slot, ac, parseSourceText(text), opts, text, onProgress);
    }).finally(() => { if (loading.get(slot) === ac) loading.delete(slot); });
  },

  cancel(slot) {
    loading.get(slot)?.abort(new DOMException('Loading was cancelled.', 'AbortError'));
  },

  unload(slot) {
    held.delete(slot);
  },

  async analyze(slot, layer) {
    const r = await attempt(() => analysisAt(slot, layer));
    if (r.ok) {
      // Copies, so the cached analysis keeps its buffers when these are transferred.
      const a = { ...r.value, coords: r.value.coords.slice(), projection: r.value.projection.slice(), rank: r.value.rank.slice(), fit: (r.value.fit ?? new Uint8Array(r.value.names.length).fill(1)).slice() };
      return Comlink.transfer({ ok: true as const, value: a }, [a.coords.buffer, a.projection.buffer, a.rank.buffer, a.fit.buffer]);
    }
    return r;
  },

  async profile(slot, onLayer) {
    return attempt(async () => {
      const h = cached(slot);
      const total = h.set.layers ?? 0;
      return layerProfile(h.info.id, h.set, (l) => { if (l % 4 === 3 || l === total - 1) void onLayer(l + 1, total); }, () => held.get(slot) !== h, sweep);
    });
  },

  async compare(layerA, layerB) {
    return attempt(() => comparePc1(cached('A').set, layerA, cached('B').set, layerB));
  },

  async projectVectors(slot, layer, vectors) {
    return attempt(() => projectIntoBasis(analysed(slot, layer).basis, vectors));
  },

  async axisBundle(slot) {
    const r = await attempt(() => {
      const h = cached(slot);
      return axisBundleOf(h.set, h.info.label, calibrationFromRoleVectors);
    });
    if (!r.ok) return r;
    const b = r.value;
    const bufs: ArrayBuffer[] = [b.axis.buffer as ArrayBuffer];
    if (b.roleStats) bufs.push(b.roleStats.mean.buffer as ArrayBuffer, b.roleStats.sd.buffer as ArrayBuffer);
    if (b.defaultProjection) bufs.push(b.defaultProjection.buffer as ArrayBuffer);
    return Comlink.transfer(r, bufs);
  },

  async neighbours(slot, layer, name, k) {
    return attempt(() => {
      const h = cached(slot);
      const i = h.set.names.indexOf(name);
      if (i < 0) throw Object.assign(new Error(`There is no member called ${JSON.stringify(name)}.`), { code: 'no-member' });
      return neighboursOf(h.set, layerOf(h, layer), i, Math.max(1, Math.min(50, k)));
    });
  },

  async customProjection(slot, layer, queryA, queryB) {
    const r = await attempt(() => {
      const h = cached(slot);
      const l = layerOf(h, layer);
      return { setId: h.info.id, layer: l, ...customProjection(h.set, l, queryA, queryB) };
    });
    return r.ok ? Comlink.transfer(r, [r.value.x.buffer as ArrayBuffer]) : r;
  },

  async umap(slot, layer, opts, onProgress) {
    const run = ++umapRun;
    const r = await attempt(async () => {
      const h = cached(slot);
      const l = layerOf(h, layer);
      const out = await umapLayout(h.set, l, opts, (done, total) => void onProgress(done, total), () => umapRun === run && held.get(slot) === h);
      return out ? { setId: h.info.id, layer: l, seed: opts.seed, ...out } : null;
    });
    return r.ok && r.value ? Comlink.transfer(r, [r.value.coords.buffer as ArrayBuffer]) : r;
  },

  cancelUmap() {
    umapRun++;
  },

  async feature(name, input) {
    const ctx: FeatureContext = { held: (slot) => cached(slot), layerOf: (slot, layer) => layerOf(cached(slot), layer), readUrl: readUrlFiles };
    const r = await attempt(() => runFeature(name, ctx, input));
    if (!r.ok) return r;
    return Comlink.transfer({ ok: true as const, value: r.value.value as never }, r.value.transfer);
  },

  async cacheList() {
    return attempt(() => fileCache().list());
  },

  async cacheDelete(id) {
    return attempt(async () => {
      await fileCache().deleteSet(id);
      return fileCache().list();
    });
  },
};

Comlink.expose(api);
