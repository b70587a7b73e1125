/**
 * Persona-space analysis over any PersonaSet, one layer at a time (a many-layer set is never
 * decoded whole): PCA of the members, the Assistant Axis, projections, cos(axis, PC_k) per layer,
 * and the comparison of PC1 loadings between two sets.
 *
 * Conventions (PAPER.md):
 * - The fit uses the role members (all members when the set has no roles, or the ones given in
 *   `members`). The default vector is never part of the fit: it is centred with the fit's mean
 *   and projected afterwards. Members left out of the fit (for example traits) are projected too.
 * - axis[L] = default[L] - mean over the fit members at L. Without a default, the set's stored
 *   axis (the release's `assistant_axis.pt`) stands in when there is one.
 * - Sign: every PC is oriented so that the axis projects non-negatively on it, hence
 *   cos(axis, PC_k) >= 0. With no axis at all, the member with the largest |coordinate| gets a
 *   positive coordinate (scikit-learn's svd_flip rule); the sign then carries no meaning.
 * - Projection of a vector h on the axis: h . axis / |axis|.
 */
import { DataError } from '../errors';
import { decodeF32, numel } from '../tensor';
import { pca, type PcaWorkspace } from '../math/pca';
import { pearson, spearman } from '../math/stats';
import { meanOfRows } from '../math/vector';
import type { PersonaSet } from './types';

export interface AnalysisOptions {
  /** Indices of the members to fit on (default: the roles, or every member when there are none). */
  members?: readonly number[];
}

export interface PcaAtLayerOptions extends AnalysisOptions {
  /** Number of components (default 3). */
  components?: number;
  /** Reused float64 buffers for loops over layers. */
  workspace?: PcaWorkspace;
  /** Reused N x dim buffer the layer is decoded into (loops over layers). */
  layerBuffer?: Float32Array;
}

export interface LayerPca {
  /** The layer analysed; null for a single-layer set. */
  layer: number | null;
  /** Members in the fit. */
  n: number;
  dim: number;
  /** Components returned (min(K, n, dim)). */
  k: number;
  /** Indices (into set.names) of the members in the fit. */
  fit: number[];
  explainedVarianceRatio: Float64Array;
  explainedVariance: Float64Array;
  totalVariance: number;
  /** k x dim, unit rows, oriented by the axis. */
  components: Float32Array;
  /** Mean of the fit members (dim). */
  mean: Float32Array;
  /** set.names.length x k: coordinates of every member (fit or not) on every component. */
  coords: Float64Array;
  /** The default vector's coordinates (k), or null without a default. */
  defaultCoords: Float64Array | null;
  /** default - mean (dim), the stored axis without a default, or null. */
  axis: Float32Array | null;
  axisSource: 'default' | 'stored' | null;
  /** |axis| (0 when there is no axis). */
  axisNorm: number;
  /** cos(axis, PC_k) (k), all >= 0 by the sign convention; null without an axis. */
  cosAxisPc: Float64Array | null;
}

/** Which members are fit on. */
export function fitMembers(set: PersonaSet, opts: AnalysisOptions = {}): number[] {
  if (opts.members) {
    const seen = new Set<number>();
    for (const i of opts.members) {
      if (!Number.isInteger(i) || i < 0 || i >= set.names.length) throw new DataError('member', `There is no member ${i}; the set has ${set.names.length}.`);
      seen.add(i);
    }
    return [...seen].sort((a, b) => a - b);
  }
  const roles: number[] = [];
  set.kinds.forEach((k, i) => {
    if (k === 'role') roles.push(i);
  });
  return roles.length > 0 ? roles : set.names.map((_, i) => i);
}

/** The layer PCA and the CLI use when none is given: the middle one (n_layers // 2), or null. */
export function defaultLayer(set: PersonaSet): number | null {
  return set.layers === null ? null : Math.floor(set.layers / 2);
}

function checkLayer(set: PersonaSet, layer: number | null): number {
  if (set.layers === null) return 0;
  if (layer === null || !Number.isInteger(layer) || layer < 0 || layer >= set.layers) {
    throw new DataError('layer', `Layer ${layer} does not exist; this set has layers 0 to ${set.layers - 1}.`);
  }
  return layer;
}

function rowsOf(all: Float32Array, d: number, rows: readonly number[], total: number): Float32Array {
  if (rows.length === total) return all;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(all.subarray(r * d, r * d + d), i * d));
  return out;
}

/** The stored axis at one layer (row `layer` of an (L, d) axis, or the (d,) axis), or null. */
export function storedAxisAt(set: PersonaSet, layer: number): Float32Array | null {
  const t = set.storedAxis;
  if (!t) return null;
  const d = set.dim;
  if (t.shape.length === 1 && t.shape[0] === d) return decodeF32(t);
  if (t.shape.length === 2 && t.shape[1] === d && layer < t.shape[0]) return decodeF32(t, layer * d, d);
  if (numel(t.shape) === d) return decodeF32(t);
  return null;
}

function axisFrom(def: Float32Array | null, mean: Float64Array, set: PersonaSet, layer: number): { axis: Float64Array | null; source: LayerPca['axisSource'] } {
  if (def) {
    if (!def.every(Number.isFinite)) {
      throw new DataError('default-not-finite', `The default vector (${set.defaultLabel ?? 'default'}) holds NaN or infinite values${set.layers === null ? '' : ` at layer ${layer}`}, so it cannot define an axis.`, { layer });
    }
    return { axis: Float64Array.from(def, (v, j) => v - mean[j]), source: 'default' };
  }
  const stored = storedAxisAt(set, layer);
  return stored ? { axis: Float64Array.from(stored), source: 'stored' } : { axis: null, source: null };
}

/** Mean-centred PCA of the fit members at one layer, with the default projected afterwards. */
export function pcaAtLayer(set: PersonaSet, layer: number | null = defaultLayer(set), opts: PcaAtLayerOptions = {}): LayerPca {
  const l = checkLayer(set, layer);
  const d = set.dim;
  const fit = fitMembers(set, opts);
  if (fit.length < 2) throw new DataError('too-few', `PCA needs at least 2 vectors; there ${fit.length === 1 ? 'is 1' : `are ${fit.length}`}.`);
  const all = set.layer(l, opts.layerBuffer);
  const x = rowsOf(all, d, fit, set.names.length);
  const n = fit.length;
  const def = set.defaultAt(l);
  // The axis needs the members' mean, which the fit computes: orient from inside it.
  let axis: Float64Array | null = null;
  let source: LayerPca['axisSource'] = null;
  const orient = (mean: Float64Array) => {
    ({ axis, source } = axisFrom(def, mean, set, l));
    return axis;
  };
  const r = pca(x, n, d, { components: opts.components ?? 3, orient }, opts.workspace);
  const k = r.k;

  // Coordinates of every member: fit members straight from the fit, others projected.
  const coords = new Float64Array(set.names.length * k);
  const inFit = new Int32Array(set.names.length).fill(-1);
  fit.forEach((m, i) => (inFit[m] = i));
  for (let m = 0; m < set.names.length; m++) {
    if (inFit[m] >= 0) coords.set(r.coords.subarray(inFit[m] * k, inFit[m] * k + k), m * k);
    else coords.set(project(all.subarray(m * d, m * d + d), r.mean, r.components, k, d), m * k);
  }
  const defaultCoords = def ? project(def, r.mean, r.components, k, d) : null;

  let axisNorm = 0;
  let cosAxisPc: Float64Array | null = null;
  if (axis) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += axis[j] * axis[j];
    axisNorm = Math.sqrt(ss);
    cosAxisPc = new Float64Array(k);
    if (axisNorm > 0) {
      for (let c = 0; c < k; c++) {
        let s = 0;
        const o = c * d;
        for (let j = 0; j < d; j++) s += axis[j] * r.components[o + j];
        cosAxisPc[c] = s / axisNorm; // components are unit
      }
    }
  }
  return {
    layer: set.layers === null ? null : l,
    n,
    dim: d,
    k,
    fit,
    explainedVarianceRatio: r.explainedVarianceRatio,
    explainedVariance: r.explainedVariance,
    totalVariance: r.totalVariance,
    components: Float32Array.from(r.components),
    mean: Float32Array.from(r.mean),
    coords,
    defaultCoords,
    axis: axis ? Float32Array.from(axis) : null,
    axisSource: source,
    axisNorm,
    cosAxisPc,
  };
}

function project(v: ArrayLike<number>, mean: Float64Array, comps: Float64Array, k: number, d: number): Float64Array {
  const out = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    const o = c * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += (v[j] - mean[j]) * comps[o + j];
    out[c] = s;
  }
  return out;
}

export interface AssistantAxis {
  /** Rows of `axis`: the set's layers, or 1 for a single-layer set. */
  layers: number;
  dim: number;
  /** layers x dim, unnormalised: default - mean(fit members), per layer. */
  axis: Float32Array;
  norms: Float64Array;
}

/** Throws a DataError that says how to give a default when the set has none. */
export function requireDefault(set: PersonaSet): void {
  if (!set.defaultLabel) {
    throw new DataError('no-default', 'This set has no default vector: add a member called "default", a default_vector file, or name the members to average (--default a,b).');
  }
}

/** The Assistant Axis at every layer, decoded one layer at a time. */
export function assistantAxis(set: PersonaSet, opts: AnalysisOptions & { onLayer?: (layer: number) => void } = {}): AssistantAxis {
  requireDefault(set);
  const L = set.layers ?? 1;
  const d = set.dim;
  const fit = fitMembers(set, opts);
  if (fit.length < 1) throw new DataError('too-few', 'The axis needs at least one member besides the default.');
  const axis = new Float32Array(L * d);
  const norms = new Float64Array(L);
  const buffer = new Float32Array(set.names.length * d);
  for (let l = 0; l < L; l++) {
    const all = set.layer(l, buffer);
    const mean = meanOfRows(all, d, fit);
    const def = set.defaultAt(l)!;
    if (!def.every(Number.isFinite)) {
      throw new DataError('default-not-finite', `The default vector (${set.defaultLabel ?? 'default'}) holds NaN or infinite values${set.layers === null ? '' : ` at layer ${l}`}, so it cannot define an axis.`, { layer: l });
    }
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const v = def[j] - mean[j];
      axis[l * d + j] = v;
      ss += v * v;
    }
    norms[l] = Math.sqrt(ss);
    opts.onLayer?.(l);
  }
  return { layers: L, dim: d, axis, norms };
}

export interface LayerSummary {
  layer: number | null;
  axisNorm: number;
  /** cos(axis, PC_k), k = 1..K (>= 0 by the sign convention); null without an axis. */
  cosAxisPc: Float64Array | null;
  explainedVarianceRatio: Float64Array;
  /** The axis at this layer (only with `keepAxis`). */
  axis?: Float32Array | null;
}

/**
 * cos(axis, PC1..PC_K), the axis norm and the explained-variance ratios at every layer (one
 * layer decoded at a time, float64 buffers reused across layers).
 */
export function cosAxisPcPerLayer(set: PersonaSet, components = 3, opts: AnalysisOptions & { onLayer?: (layer: number) => void; keepAxis?: boolean } = {}): LayerSummary[] {
  const workspace: PcaWorkspace = {};
  const layerBuffer = new Float32Array(set.names.length * set.dim);
  const out: LayerSummary[] = [];
  const layers = set.layers === null ? [null] : Array.from({ length: set.layers }, (_, l) => l);
  for (const l of layers) {
    const p = pcaAtLayer(set, l, { ...opts, components, workspace, layerBuffer });
    const row: LayerSummary = { layer: p.layer, axisNorm: p.axisNorm, cosAxisPc: p.cosAxisPc, explainedVarianceRatio: p.explainedVarianceRatio };
    if (opts.keepAxis) row.axis = p.axis;
    out.push(row);
    opts.onLayer?.(l ?? 0);
  }
  return out;
}

/** h . axis / |axis| for each of the m rows of `vectors` (m x d row-major, or one vector). */
export function projectOnAxis(vectors: ArrayLike<number>, axis: ArrayLike<number>): Float64Array {
  const d = axis.length;
  if (d === 0 || vectors.length % d !== 0) throw new DataError('shape', `${vectors.length} values are not rows of ${d}.`);
  let ss = 0;
  for (let j = 0; j < d; j++) ss += axis[j] * axis[j];
  if (ss === 0) throw new DataError('zero-axis', 'The axis is the zero vector, so nothing can be projected on it.');
  const inv = 1 / Math.sqrt(ss);
  const m = vectors.length / d;
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const o = i * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += vectors[o + j] * axis[j];
    out[i] = s * inv;
  }
  return out;
}

export interface RankedMember {
  name: string;
  index: number;
  projection: number;
  /** 1 = most Assistant-like (largest projection). */
  rank: number;
}

/** Every member ranked by its projection on the axis at one layer, Assistant end first. */
export function rankByProjection(set: PersonaSet, layer: number | null = defaultLayer(set), opts: AnalysisOptions = {}): { ranked: RankedMember[]; defaultProjection: number | null; axisNorm: number } {
  const l = checkLayer(set, layer);
  const d = set.dim;
  const all = set.layer(l);
  const fit = fitMembers(set, opts);
  const def = set.defaultAt(l);
  const mean = meanOfRows(all, d, fit);
  const { axis } = axisFrom(def, mean, set, l);
  if (!axis) requireDefault(set);
  const proj = projectOnAxis(all, axis!);
  const ranked = set.names
    .map((name, index) => ({ name, index, projection: proj[index], rank: 0 }))
    .sort((a, b) => b.projection - a.projection || (a.name < b.name ? -1 : 1));
  ranked.forEach((r, i) => (r.rank = i + 1));
  let ss = 0;
  for (let j = 0; j < d; j++) ss += axis![j] * axis![j];
  return { ranked, defaultProjection: def ? projectOnAxis(def, axis!)[0] : null, axisNorm: Math.sqrt(ss) };
}

export interface Pc1Comparison {
  nCommon: number;
  /** Shared names, in set A's order. */
  names: string[];
  /** PC1 coordinates (loadings) of the shared names in each set's own PCA. */
  pc1A: Float64Array;
  pc1B: Float64Array;
  pearson: number;
  spearman: number;
  /** true when a set had no axis and B's PC1 was flipped to agree with A's (sign otherwise arbitrary). */
  signAligned: boolean;
}

/**
 * Each set's own PCA at its layer, then the PC1 loadings of the names both sets hold, correlated.
 * With an axis in both sets the signs are meaningful; otherwise B's sign is chosen to agree with A.
 */
export function comparePc1(a: PersonaSet, layerA: number | null, b: PersonaSet, layerB: number | null, opts: { membersA?: number[]; membersB?: number[] } = {}): Pc1Comparison {
  const pa = pcaAtLayer(a, layerA, { components: 1, members: opts.membersA });
  const pb = pcaAtLayer(b, layerB, { components: 1, members: opts.membersB });
  const indexB = new Map<string, number>();
  b.names.forEach((name, i) => indexB.set(name, i));
  const names: string[] = [];
  const xa: number[] = [];
  const xb: number[] = [];
  a.names.forEach((name, i) => {
    const j = indexB.get(name);
    if (j === undefined) return;
    names.push(name);
    xa.push(pa.coords[i * pa.k]);
    xb.push(pb.coords[j * pb.k]);
  });
  if (names.length < 3) throw new DataError('too-few-common', `The two sets share ${names.length} name${names.length === 1 ? '' : 's'}; a correlation needs at least 3.`);
  let signAligned = false;
  if (!pa.axis || !pb.axis) {
    if (pearson(xa, xb) < 0) for (let i = 0; i < xb.length; i++) xb[i] = -xb[i];
    signAligned = true;
  }
  return {
    nCommon: names.length,
    names,
    pc1A: Float64Array.from(xa),
    pc1B: Float64Array.from(xb),
    pearson: pearson(xa, xb),
    spearman: spearman(xa, xb),
    signAligned,
  };
}
