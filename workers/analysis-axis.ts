/**
 * The analysis worker's "axis file" feature (registered in ANALYSIS_FEATURES as 'analysis-axis'):
 * an axis file (`assistant_axis.pt`, a contrast vector: (n_layers, d) or (d,)) read once and kept
 * here, in its stored dtype; the open set projected on it at a layer (h . a / |a|, every member,
 * ranked); and its cosine with the set's own axis (default - mean(roles), or the stored axis) per
 * layer. The page never holds the set's vectors; it gets these small arrays.
 */
import { DataError } from '../src/core/errors';
import { fitMembers, storedAxisAt } from '../src/core/persona/analysis';
import { axisLayer, axisShapeText, readAxisFile, type AxisFile } from '../src/core/persona/axis-file';
import type { MemberKind, PersonaSet } from '../src/core/persona/types';
import { rankByProjection } from '../src/core/view/types';
import type { AnalysisFeature, FeatureContext } from './analysis-core';

export interface AxisFileInfo {
  id: string;
  name: string;
  format: string;
  /** n_layers, or null for a (d,) axis (the same direction at every layer). */
  layers: number | null;
  dim: number;
  dtype: string;
  key: string;
  /** |axis| per row of the file. */
  norms: number[];
}

export interface AxisProjection {
  axisId: string;
  setId: string;
  /** The set's layer (0 for a single-layer set). */
  layer: number;
  /** The file's row used (the set's layer; for a single-layer set the one chosen, by default the middle one). */
  axisRow: number;
  names: string[];
  kinds: MemberKind[];
  /** h . a / |a| for every member, in the set's order. */
  projection: Float32Array;
  /** 1 = highest projection. */
  rank: Int32Array;
  norm: number;
  defaultProjection: number | null;
  /** Mean projection of the roles (the fit members). */
  centroidProjection: number | null;
  /** cos(file axis, the set's own axis) at this layer, or null when the set has no axis of its own. */
  cosOwn: number | null;
}

export interface AxisCosProfile {
  axisId: string;
  setId: string;
  /** 'set-layers': one value per layer of the set; 'file-layers': a single-layer set against every row of the file. */
  over: 'set-layers' | 'file-layers';
  /** cos(file axis, own axis), NaN where either is zero; null with `reason` when the set has no axis of its own. */
  cos: number[] | null;
  reason: string | null;
}

/** An axis file read from a URL: what the worker holds, and the bytes (the page hands them to the chat lab). */
export interface AxisUrlFile {
  info: AxisFileInfo;
  bytes: Uint8Array;
}

export type AxisFeatureInput =
  | { op: 'load'; name: string; bytes: Uint8Array }
  /** A URL of one file (a set URL that turned out to be an axis: it is in the file cache already). */
  | { op: 'loadUrl'; url: string; hub?: string }
  | { op: 'project'; axisId: string; slot: 'A' | 'B'; layer: number; axisRow?: number | null }
  | { op: 'cos'; axisId: string; slot: 'A' | 'B' }
  | { op: 'drop' };

/** The axis files held in the worker (the last few loaded). */
const axes = new Map<string, AxisFile>();
let axisSeq = 0;

export function loadAxis(name: string, bytes: Uint8Array): AxisFileInfo {
  const a = readAxisFile(name, bytes);
  const id = `axis${++axisSeq}`;
  axes.set(id, a);
  // Keep the newest two: the one shown and the one being replaced.
  for (const k of [...axes.keys()].slice(0, Math.max(0, axes.size - 2))) axes.delete(k);
  return axisInfo(id, a);
}

export function axisInfo(id: string, a: AxisFile): AxisFileInfo {
  const norms: number[] = [];
  for (let l = 0; l < (a.layers ?? 1); l++) norms.push(norm(axisLayer(a, l)));
  return { id, name: a.name, format: a.format, layers: a.layers, dim: a.dim, dtype: a.dtype, key: a.key, norms };
}

function heldAxis(id: string): AxisFile {
  const a = axes.get(id);
  if (!a) throw new DataError('no-axis-file', 'The axis file is no longer loaded; load it again.');
  return a;
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += v[j] * v[j];
  return Math.sqrt(s);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let j = 0; j < a.length; j++) { dot += a[j] * b[j]; na += a[j] * a[j]; nb += b[j] * b[j]; }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : NaN;
}

/** The file and the set fit together: same d; a multi-layer set needs the file's layers to match (or a (d,) file). */
export function checkFits(a: AxisFile, set: PersonaSet): void {
  if (a.dim !== set.dim) {
    throw new DataError('axis-dim', `The axis "${a.name}" has d = ${a.dim} but the open set's vectors have d = ${set.dim}, so it belongs to another model; the set stays as it is.`);
  }
  if (set.layers !== null && a.layers === set.layers + 1) {
    throw new DataError('axis-layers', `The axis "${a.name}" has ${a.layers} rows for the set's ${set.layers} layers: it likely starts with the embedding output (the repeng / persona_vectors convention); save it without row 0 and load it again.`);
  }
  if (set.layers !== null && a.layers !== null && a.layers !== set.layers) {
    throw new DataError('axis-layers', `The axis "${a.name}" has ${a.layers} layers but the open set has ${set.layers}, so they come from different models; the set stays as it is.`);
  }
}

/** Which row of the file goes with the set's layer `l` (for a single-layer set: `row`, by default the file's middle layer). */
export function axisRowFor(a: AxisFile, set: PersonaSet, l: number, row?: number | null): number {
  if (a.layers === null) return 0;
  if (set.layers !== null) return l;
  const r = row ?? Math.floor(a.layers / 2);
  if (!Number.isInteger(r) || r < 0 || r >= a.layers) throw new DataError('axis-layer', `"${a.name}" has layers 0 to ${a.layers - 1}; there is no layer ${r}.`);
  return r;
}

/** The set's own axis at layer l: default - mean(roles), else its stored axis; null when it has neither. */
export function ownAxisAt(set: PersonaSet, l: number, all = set.layer(l)): Float64Array | null {
  const d = set.dim;
  const def = set.defaultAt(l);
  if (def) {
    const fit = fitMembers(set);
    const mu = new Float64Array(d);
    for (const m of fit) for (let j = 0; j < d; j++) mu[j] += all[m * d + j];
    return Float64Array.from(def, (v, j) => v - mu[j] / fit.length);
  }
  const s = storedAxisAt(set, l);
  return s ? Float64Array.from(s) : null;
}

/** Every member of the set at layer `layer` projected on the file's axis (h . a / |a|), ranked. */
export function projectOnAxisFile(a: AxisFile, axisId: string, setId: string, set: PersonaSet, layer: number, row?: number | null): AxisProjection {
  checkFits(a, set);
  const l = set.layers === null ? 0 : layer;
  const axisRow = axisRowFor(a, set, l, row);
  const v = axisLayer(a, axisRow);
  const nv = norm(v);
  if (!(nv > 0)) throw new DataError('zero-axis', `Layer ${axisRow} of "${a.name}" is the zero vector, so nothing can be projected on it.`);
  const d = set.dim, n = set.names.length;
  const all = set.layer(l);
  const projection = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) s += all[o + j] * v[j];
    projection[i] = s / nv;
  }
  const fit = fitMembers(set);
  let centroid = 0;
  for (const m of fit) centroid += projection[m];
  const def = set.defaultAt(l);
  let defaultProjection: number | null = null;
  if (def) { let s = 0; for (let j = 0; j < d; j++) s += def[j] * v[j]; defaultProjection = s / nv; }
  const own = ownAxisAt(set, l, all);
  const c = own ? cosine(v, own) : NaN;
  return {
    axisId, setId, layer: l, axisRow, names: [...set.names], kinds: [...set.kinds], projection, rank: rankByProjection(projection),
    norm: nv, defaultProjection, centroidProjection: fit.length ? centroid / fit.length : null, cosOwn: Number.isFinite(c) ? c : null,
  };
}

/**
 * cos(file axis, the set's own axis) per layer: over the set's layers (a multi-layer set), or, for
 * a single-layer set, its one axis against every row of the file (which layer of the file it matches).
 */
export function cosProfile(a: AxisFile, axisId: string, setId: string, set: PersonaSet): AxisCosProfile {
  checkFits(a, set);
  const multi = set.layers !== null;
  const over = multi || a.layers === null ? 'set-layers' : 'file-layers';
  const noOwn = (): AxisCosProfile => ({
    axisId, setId, over, cos: null,
    reason: 'This set has neither a default vector nor a stored axis, so it has no axis of its own to compare the file with.',
  });
  const cos: number[] = [];
  if (multi) {
    const buf = new Float32Array(set.names.length * set.dim);
    for (let l = 0; l < set.layers!; l++) {
      const own = ownAxisAt(set, l, set.layer(l, buf));
      if (!own) return noOwn();
      cos.push(cosine(axisLayer(a, a.layers === null ? 0 : l), own));
    }
  } else {
    const own = ownAxisAt(set, 0);
    if (!own) return noOwn();
    for (let r = 0; r < (a.layers ?? 1); r++) cos.push(cosine(axisLayer(a, r), own));
  }
  return { axisId, setId, over, cos, reason: null };
}

/** Words for a file and a set that do not fit (for the page; the worker's errors say the same). */
export function shapeWords(info: Pick<AxisFileInfo, 'layers' | 'dim'>): string {
  return axisShapeText(info.layers, info.dim);
}

/** An axis file at a URL, through the host's hub loader (and its cache): exactly one file. */
export async function loadAxisUrl(ctx: FeatureContext, url: string, hub?: string): Promise<AxisUrlFile> {
  if (!ctx.readUrl) throw new DataError('source-unsupported', 'Loading an axis from a URL is not available here.');
  const files = await ctx.readUrl(url, { hub });
  if (files.length !== 1) throw new DataError('axis-files', `An axis is one file; ${url} holds ${files.length}.`);
  const bytes = await files[0].read();
  const name = files[0].path.slice(files[0].path.lastIndexOf('/') + 1);
  // The held axis may view `bytes`; the page gets its own copy (transferred).
  return { info: loadAxis(name, bytes), bytes: bytes.slice() };
}

/** The feature: load / loadUrl / project / cos / drop. */
export const axisFeature: AnalysisFeature<AxisFeatureInput, AxisFileInfo | AxisUrlFile | AxisProjection | AxisCosProfile | null> = {
  run(ctx: FeatureContext, input: AxisFeatureInput) {
    switch (input.op) {
      case 'load':
        return loadAxis(input.name, input.bytes);
      case 'loadUrl':
        return loadAxisUrl(ctx, input.url, input.hub);
      case 'project': {
        const h = ctx.held(input.slot);
        const l = ctx.layerOf(input.slot, input.layer);
        return projectOnAxisFile(heldAxis(input.axisId), input.axisId, h.info.id, h.set, l, input.axisRow);
      }
      case 'cos': {
        const h = ctx.held(input.slot);
        return cosProfile(heldAxis(input.axisId), input.axisId, h.info.id, h.set);
      }
      case 'drop':
        axes.clear();
        return null;
    }
  },
  transfer(out) {
    if (out && 'projection' in out) return [out.projection.buffer as ArrayBuffer, out.rank.buffer as ArrayBuffer];
    // The worker keeps its own decoded copy; the bytes go to the page.
    return out && 'bytes' in out ? [out.bytes.buffer as ArrayBuffer] : [];
  },
};
