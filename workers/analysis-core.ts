/**
 * What the analysis worker computes for the views, from a PersonaSet at one layer, through the
 * core analysis (src/core/persona/analysis.ts): PCA of the roles (the default never takes part),
 * the Assistant Axis default - mean(roles), each role's projection h . axis / |axis|,
 * cos(axis, PC_j), and the PC1 comparison of two sets. Results are small typed arrays.
 */
import { UMAP } from 'umap-js';
import { DataError, isPersonaSpaceError } from '../src/core/errors';
import type { PcaWorkspace } from '../src/core/math/pca';
import { rng } from '../src/core/math/testing';
import { comparePc1 as corePc1, defaultLayer as coreDefaultLayer, fitMembers, pcaAtLayer, projectOnAxis, storedAxisAt, type LayerSummary } from '../src/core/persona/analysis';
import type { AxisBundle, Calibration } from '../src/core/persona/axis-bundle';
import type { MemberKind, PersonaSet, VirtualFile } from '../src/core/persona/types';
import { customAxis, projectOnCustom, projectOneOnCustom } from '../src/core/view/custom-axis';
import { nearestByCosine } from '../src/core/view/neighbours';
import { NameSearch } from '../src/core/view/search';
import { rankByProjection, type CompareResult, type LayerAnalysis, type LayerProfile, type SetInfo } from '../src/core/view/types';
import { axisFeature } from './analysis-axis';

/**
 * What a feature sees of the worker: the set held in a slot (with its id and label) and the
 * worker's layer rule (a negative layer is the default layer; clamped into the set's layers).
 */
export interface FeatureContext {
  held(slot: 'A' | 'B'): { info: SetInfo; set: PersonaSet };
  layerOf(slot: 'A' | 'B', layer: number): number;
  /** The files at a URL, through the worker's hub loader and file cache (where the host has one). */
  readUrl?(url: string, opts: { hub?: string }): Promise<VirtualFile[]>;
}

/**
 * A feature the analysis worker offers through `feature(name, input)` without growing its API:
 * a function of the held sets and a structured-clone input. `transfer` names the buffers of the
 * output that move to the page instead of being copied.
 */
export interface AnalysisFeature<I = any, O = any> {
  run(ctx: FeatureContext, input: I): O | Promise<O>;
  transfer?(output: O): ArrayBuffer[];
}

/**
 * The registered features, by name. REGISTRATION POINT: one line per feature, e.g.
 *   ['analysis-axis', axisFeature],
 */
export const ANALYSIS_FEATURES = new Map<string, AnalysisFeature>([
  ['analysis-axis', axisFeature],
]);

/** Run a registered feature: its output and the buffers to transfer; an unknown name is a typed error. */
export async function runFeature(name: string, ctx: FeatureContext, input: unknown, features: ReadonlyMap<string, AnalysisFeature> = ANALYSIS_FEATURES): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  const f = features.get(name);
  if (!f) throw new DataError('no-feature', `The analysis worker has no feature called ${JSON.stringify(name)}.`);
  const value = await f.run(ctx, input);
  return { value, transfer: f.transfer?.(value) ?? [] };
}

/** The layer shown first: the middle one (as the CLI), 0 for a single-layer set. */
export function defaultLayer(set: PersonaSet): number {
  return coreDefaultLayer(set) ?? 0;
}

export function setInfo(id: string, set: PersonaSet, label: string, sourceUrl: string | null): SetInfo {
  let nRoles = 0, nTraits = 0;
  for (const k of set.kinds) { if (k === 'role') nRoles++; else if (k === 'trait') nTraits++; }
  return {
    id, label, sourceUrl, format: set.format, count: set.names.length, nRoles, nTraits, layers: set.layers,
    dim: set.dim, dtype: set.dtype, defaultLabel: set.defaultLabel, byteSize: set.byteSize,
  };
}

/** The PCA basis a layer's map is drawn in: other vectors land where the map would put them. */
export interface MapBasis {
  layer: number;
  k: number;
  d: number;
  /** Mean of the fit members (d): the map's origin. */
  mean: Float32Array;
  /** k x d unit rows, signed as on the map (the axis projects non-negatively on each). */
  components: Float32Array;
}

/**
 * The map of one layer: every member (the fit members — the roles, or every member when there are
 * none — and the others, such as the release's traits, projected into the same basis), with its
 * projection on the unit axis and the basis itself.
 */
export function analyzeLayerWithBasis(setId: string, set: PersonaSet, layer: number, components = 10): { analysis: LayerAnalysis; basis: MapBasis } {
  const p = pcaAtLayer(set, set.layers === null ? null : layer, { components });
  const k = p.k, d = set.dim, n = set.names.length;
  const coords = Float32Array.from(p.coords);
  const hasAxis = p.axis !== null && p.axisNorm > 0;
  const fitMask = new Uint8Array(n);
  for (const m of p.fit) fitMask[m] = 1;
  let projection: Float32Array;
  if (hasAxis) projection = Float32Array.from(projectOnAxis(set.layer(set.layers === null ? 0 : layer), p.axis!));
  else projection = Float32Array.from({ length: n }, (_, i) => coords[i * k]);
  // The role centroid's projection: the mean of the fit members' projections (projection is linear).
  let centroid = 0;
  for (const m of p.fit) centroid += projection[m];
  centroid /= p.fit.length || 1;
  const def = set.defaultAt(set.layers === null ? 0 : layer);
  const defaultProjection = hasAxis && def ? projectOnAxis(def, p.axis!)[0] : null;
  const analysis: LayerAnalysis = {
    setId,
    layer: p.layer ?? 0,
    k,
    names: [...set.names],
    kinds: [...set.kinds],
    fit: fitMask,
    coords,
    defaultCoords: p.defaultCoords ? Array.from(p.defaultCoords) : null,
    explained: Array.from(p.explainedVarianceRatio),
    projection,
    defaultProjection,
    centroidProjection: hasAxis ? centroid : null,
    axisNorm: hasAxis ? p.axisNorm : null,
    cosAxisPc: p.cosAxisPc ? Array.from(p.cosAxisPc) : [],
    rank: rankByProjection(projection),
  };
  return { analysis, basis: { layer: p.layer ?? 0, k, d, mean: p.mean, components: p.components } };
}

export function analyzeLayer(setId: string, set: PersonaSet, layer: number, components = 10): LayerAnalysis {
  return analyzeLayerWithBasis(setId, set, layer, components).analysis;
}

/** Vectors (each of length d) in the map's coordinates: (v - mean) . PC_j for j = 1..k. */
export function projectIntoBasis(basis: MapBasis, vectors: readonly ArrayLike<number>[]): Float64Array[] {
  const { k, d, mean, components } = basis;
  return vectors.map((v, i) => {
    if (v.length !== d) throw new DataError('shape', `Vector ${i + 1} has ${v.length} values; the map's vectors have ${d}.`);
    const out = new Float64Array(k);
    for (let c = 0; c < k; c++) {
      let s = 0;
      const o = c * d;
      for (let j = 0; j < d; j++) s += (v[j] - mean[j]) * components[o + j];
      out[c] = s;
    }
    return out;
  });
}

/** Members at one layer restricted to `members` (rows x d). */
function rowsAt(set: PersonaSet, layer: number, members: readonly number[]): Float32Array {
  const all = set.layer(set.layers === null ? 0 : layer);
  const d = set.dim;
  if (members.length === set.names.length) return all;
  const out = new Float32Array(members.length * d);
  members.forEach((m, i) => out.set(all.subarray(m * d, m * d + d), i * d));
  return out;
}

/** The `k` members nearest to member `index` by cosine over the full vectors at `layer`. */
export function neighboursOf(set: PersonaSet, layer: number, index: number, k = 10): { name: string; kind: MemberKind; cos: number }[] {
  const all = set.layer(set.layers === null ? 0 : layer);
  return nearestByCosine(all, set.names.length, set.dim, index, k).map((nb) => ({ name: set.names[nb.index], kind: set.kinds[nb.index], cos: nb.cos }));
}

/**
 * Members a custom-projection query names: `@default` (the default vector), `@roles`, `@traits`,
 * or names through the map's search (substring, else fuzzy; commas for several).
 */
export function resolveQuery(set: PersonaSet, query: string): { members: number[]; withDefault: boolean } {
  const members = new Set<number>();
  let withDefault = false;
  const search = new NameSearch(set.names);
  const plain: string[] = [];
  for (const raw of query.split(',')) {
    const t = raw.trim();
    if (!t) continue;
    const low = t.toLowerCase();
    if (low === '@default') withDefault = true;
    else if (low === '@roles') set.kinds.forEach((kd, i) => { if (kd === 'role') members.add(i); });
    else if (low === '@traits') set.kinds.forEach((kd, i) => { if (kd === 'trait') members.add(i); });
    else plain.push(t);
  }
  if (plain.length) for (const i of search.match(plain.join(','))) members.add(i);
  return { members: [...members].sort((x, y) => x - y), withDefault };
}

export interface CustomProjection {
  /** Each member's coordinate on the custom axis (same order as the analysis's names). */
  x: Float32Array;
  /** The default's coordinate, or null without a default. */
  defaultX: number | null;
  /** |centroid(A) - centroid(B)|. */
  norm: number;
  nA: number;
  nB: number;
  /** cos(custom axis, Assistant Axis) at this layer, or null without an axis. */
  cosAxis: number | null;
}

/** x = centroid(A) - centroid(B) at one layer; `@default` vs `@roles` gives the Assistant Axis. */
export function customProjection(set: PersonaSet, layer: number, queryA: string, queryB: string): CustomProjection {
  const l = set.layers === null ? 0 : layer;
  const all = set.layer(l);
  const d = set.dim, n = set.names.length;
  const def = set.defaultAt(l);
  const A = resolveQuery(set, queryA), B = resolveQuery(set, queryB);
  if ((A.withDefault || B.withDefault) && !def) throw new DataError('no-default', 'This set has no default vector, so @default names nothing.');
  const ax = customAxis(all, d, A.members, B.members, A.withDefault ? [def!] : [], B.withDefault ? [def!] : []);
  const x = projectOnCustom(all, n, d, ax);
  let cosAxis: number | null = null;
  if (def) {
    const fit = fitMembers(set);
    const mean = new Float64Array(d);
    for (const m of fit) for (let j = 0; j < d; j++) mean[j] += all[m * d + j] / fit.length;
    let dot = 0, nn = 0;
    for (let j = 0; j < d; j++) { const a = def[j] - mean[j]; dot += a * ax.unit[j]; nn += a * a; }
    cosAxis = nn > 0 ? dot / Math.sqrt(nn) : null;
  }
  return {
    x, defaultX: def ? projectOneOnCustom(def, ax) : null, norm: ax.norm,
    nA: A.members.length + (A.withDefault ? 1 : 0), nB: B.members.length + (B.withDefault ? 1 : 0), cosAxis,
  };
}

/**
 * The axis of the open set as the model worker takes it: per layer default - mean(roles) (or the
 * stored axis without a default), the roles' projection mean and sd on the unit axis, the
 * default's projection, and a calibration from the role vectors when the set allows one.
 */
export function axisBundleOf(set: PersonaSet, label: string, calibrate: ((set: PersonaSet) => Calibration) | null): AxisBundle {
  const L = set.layers ?? 1, d = set.dim;
  const fit = fitMembers(set);
  const axis = new Float32Array(L * d);
  const mean = new Float64Array(L), sd = new Float64Array(L);
  const defProj = new Float64Array(L);
  let anyDefault = false;
  const buf = new Float32Array(set.names.length * d);
  for (let l = 0; l < L; l++) {
    const all = set.layer(l, buf);
    const def = set.defaultAt(l);
    const mu = new Float64Array(d);
    for (const m of fit) for (let j = 0; j < d; j++) mu[j] += all[m * d + j];
    for (let j = 0; j < d; j++) mu[j] /= fit.length;
    const a: ArrayLike<number> | null = def ? Float64Array.from(def, (v, j) => v - mu[j]) : storedAxisAt(set, l);
    if (def) anyDefault = true;
    if (!a) throw new DataError('no-axis', 'This set has neither a default vector nor a stored axis, so it defines no Assistant Axis.');
    let nn = 0;
    for (let j = 0; j < d; j++) { axis[l * d + j] = a[j]; nn += a[j] * a[j]; }
    if (!(nn > 0)) throw new DataError('zero-axis', `At layer ${l} the default equals the mean of the roles, so the axis is the zero vector.`);
    const inv = 1 / Math.sqrt(nn);
    let s = 0, ss = 0;
    for (const m of fit) {
      let p = 0;
      for (let j = 0; j < d; j++) p += all[m * d + j] * a[j];
      p *= inv;
      s += p; ss += p * p;
    }
    mean[l] = s / fit.length;
    sd[l] = Math.sqrt(Math.max(0, ss / fit.length - mean[l] * mean[l]));
    if (def) { let p = 0; for (let j = 0; j < d; j++) p += def[j] * a[j]; defProj[l] = p * inv; }
  }
  let calibration: Calibration | null = null;
  if (calibrate) {
    try { calibration = calibrate(set); } catch { calibration = null; }
  }
  return {
    label, source: 'explorer', numLayers: L, hiddenSize: d, axis, roleStats: { mean, sd },
    defaultProjection: anyDefault ? defProj : null, calibration,
  };
}

export interface UmapOptions {
  /** 2 or 3 output dimensions. */
  dims: 2 | 3;
  seed: number;
  nNeighbors?: number;
  minDist?: number;
}

/** At most this many points go into UMAP in the browser (its neighbour graph is O(n log n) memory, its epochs O(n)). */
export const UMAP_MAX_POINTS = 50_000;

/**
 * UMAP of every member at one layer (cosine distance on the full vectors), seeded so the same
 * seed gives the same picture. Epochs run in slices: `onEpoch(done, total)` reports progress and
 * returning `false` from `keepGoing` stops the run (cancel). The default is placed with the
 * fitted model's transform. Coordinates are n x dims row-major.
 */
export async function umapLayout(set: PersonaSet, layer: number, opts: UmapOptions, onEpoch?: (done: number, total: number) => void, keepGoing: () => boolean = () => true): Promise<{ coords: Float32Array; dims: number; defaultCoords: number[] | null } | null> {
  const n = set.names.length, d = set.dim;
  if (n < 4) throw new DataError('too-few', `UMAP needs at least 4 points; this set has ${n}.`);
  if (n > UMAP_MAX_POINTS) throw new DataError('too-many', `UMAP in the browser takes at most ${UMAP_MAX_POINTS.toLocaleString('en-US')} points; this set has ${n.toLocaleString('en-US')}. PCA shows all of them.`);
  const all = rowsAt(set, layer, set.names.map((_, i) => i));
  const X: number[][] = [];
  for (let i = 0; i < n; i++) X.push(Array.from(all.subarray(i * d, i * d + d)));
  const umap = new UMAP({
    nComponents: opts.dims, nNeighbors: Math.max(2, Math.min(opts.nNeighbors ?? 15, n - 1)), minDist: opts.minDist ?? 0.1,
    random: rng(opts.seed), distanceFn: cosineDistance,
  });
  const total = umap.initializeFit(X);
  for (let e = 0; e < total; e++) {
    umap.step();
    if (e % 10 === 9 || e === total - 1) {
      onEpoch?.(e + 1, total);
      await new Promise((r) => setTimeout(r, 0));
      if (!keepGoing()) return null;
    }
  }
  const emb = umap.getEmbedding();
  const coords = new Float32Array(n * opts.dims);
  emb.forEach((row, i) => { for (let c = 0; c < opts.dims; c++) coords[i * opts.dims + c] = row[c]; });
  let defaultCoords: number[] | null = null;
  const def = set.defaultAt(set.layers === null ? 0 : layer);
  if (def) {
    try { defaultCoords = umap.transform([Array.from(def)])[0]; } catch { defaultCoords = null; }
  }
  return { coords, dims: opts.dims, defaultCoords };
}

function cosineDistance(a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let j = 0; j < a.length; j++) { dot += a[j] * b[j]; na += a[j] * a[j]; nb += b[j] * b[j]; }
  const den = Math.sqrt(na * nb);
  return den > 0 ? 1 - dot / den : 1;
}

/**
 * cos(axis, PC1..PC3) at every layer computed elsewhere (the analysis worker's PCA pool,
 * workers/pca-pool.ts): `onLayer` once per finished layer (in any order), `signal` aborts the
 * walk. Returns null when it cannot take this set now; the walk then runs on this thread.
 */
export type LayerSweep = (set: PersonaSet, onLayer: () => void, signal: AbortSignal) => Promise<LayerSummary[]> | null;

/**
 * cos(axis, PC1..PC3) and |axis| at every layer (the layer chart); null for a single layer or no
 * axis. `onLayer(i)` says i + 1 layers are done; `stale()` stops the walk when the set was replaced.
 * With a `sweep` (the pool) the layers run there, the same numbers; without one, or when it
 * declines or fails for a reason other than the data, one layer at a time here, yielding between
 * layers so a layer the person asks for meanwhile is answered at once.
 */
export async function layerProfile(setId: string, set: PersonaSet, onLayer?: (l: number) => void, stale?: () => boolean, sweep?: LayerSweep): Promise<LayerProfile | null> {
  if (set.layers === null || set.layers < 2) return null;
  if (sweep) {
    const ac = new AbortController();
    let done = 0;
    const run = sweep(set, () => {
      onLayer?.(done++);
      if (stale?.()) ac.abort();
    }, ac.signal);
    if (run) {
      try {
        const rows = await run;
        return stale?.() ? null : profileOf(setId, rows.map((r) => ({ cos: r.cosAxisPc, norm: r.axisNorm })));
      } catch (e) {
        if (ac.signal.aborted || stale?.()) return null;
        if (isPersonaSpaceError(e)) throw e;
        // The pool itself failed (a worker that would not start): the walk below gives the same numbers.
      }
    }
  }
  const workspace: PcaWorkspace = {};
  const rows: { cos: Float64Array | null; norm: number }[] = [];
  for (let l = 0; l < set.layers; l++) {
    if (stale?.()) return null;
    const p = pcaAtLayer(set, l, { components: 3, workspace });
    rows.push({ cos: p.cosAxisPc, norm: p.axisNorm });
    onLayer?.(l);
    await new Promise((r) => setTimeout(r, 0));
  }
  return profileOf(setId, rows);
}

/** The chart's rows: NaN where a layer has no axis; null when no layer has one. */
function profileOf(setId: string, rows: readonly { cos: Float64Array | null; norm: number }[]): LayerProfile | null {
  if (!rows.some((r) => r.cos)) return null;
  return { setId, layers: rows.length, cos: rows.map((r) => (r.cos ? Array.from(r.cos) : [NaN, NaN, NaN])), norm: rows.map((r) => (r.cos ? r.norm : NaN)) };
}

/** PC1 loadings of the names two sets share, with Pearson and Spearman correlations. */
export function comparePc1(a: PersonaSet, layerA: number, b: PersonaSet, layerB: number): CompareResult {
  const la = a.layers === null ? null : Math.min(layerA, a.layers - 1);
  const lb = b.layers === null ? null : Math.min(layerB, b.layers - 1);
  const r = corePc1(a, la, b, lb);
  return {
    nCommon: r.nCommon, names: r.names, pc1A: Array.from(r.pc1A), pc1B: Array.from(r.pc1B),
    pearson: r.pearson, spearman: r.spearman, layerA: la ?? 0, layerB: lb ?? 0,
  };
}
