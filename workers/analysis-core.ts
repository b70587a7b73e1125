/**
 * What the analysis worker computes for the views, from a PersonaSet at one layer, through the
 * core analysis (src/core/persona/analysis.ts): PCA of the roles (the default never takes part),
 * the Assistant Axis default - mean(roles), each role's projection h . axis / |axis|,
 * cos(axis, PC_j), and the PC1 comparison of two sets. Results are small typed arrays.
 */
import type { PcaWorkspace } from '../src/core/math/pca';
import { comparePc1 as corePc1, defaultLayer as coreDefaultLayer, pcaAtLayer, projectOnAxis } from '../src/core/persona/analysis';
import type { PersonaSet } from '../src/core/persona/types';
import { rankByProjection, type CompareResult, type LayerAnalysis, type LayerProfile, type SetInfo } from '../src/core/view/types';

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

/** The map of one layer: the fit members (the roles, or every member when there are none). */
export function analyzeLayer(setId: string, set: PersonaSet, layer: number, components = 10): LayerAnalysis {
  const p = pcaAtLayer(set, set.layers === null ? null : layer, { components });
  const k = p.k, d = set.dim, n = p.fit.length;
  const coords = new Float32Array(n * k);
  p.fit.forEach((m, i) => { for (let c = 0; c < k; c++) coords[i * k + c] = p.coords[m * k + c]; });
  const hasAxis = p.axis !== null && p.axisNorm > 0;
  let projection: Float32Array;
  if (hasAxis) {
    const all = set.layer(set.layers === null ? 0 : layer);
    const rows = new Float32Array(n * d);
    p.fit.forEach((m, i) => rows.set(all.subarray(m * d, m * d + d), i * d));
    projection = Float32Array.from(projectOnAxis(rows, p.axis!));
  } else {
    // No axis: rank and colour by PC1 instead (the UI says so).
    projection = Float32Array.from({ length: n }, (_, i) => coords[i * k]);
  }
  const def = set.defaultAt(set.layers === null ? 0 : layer);
  const defaultProjection = hasAxis && def ? projectOnAxis(def, p.axis!)[0] : null;
  return {
    setId,
    layer: p.layer ?? 0,
    k,
    names: p.fit.map((i) => set.names[i]),
    kinds: p.fit.map((i) => set.kinds[i]),
    coords,
    defaultCoords: p.defaultCoords ? Array.from(p.defaultCoords) : null,
    explained: Array.from(p.explainedVarianceRatio),
    projection,
    defaultProjection,
    axisNorm: hasAxis ? p.axisNorm : null,
    cosAxisPc: p.cosAxisPc ? Array.from(p.cosAxisPc) : [],
    rank: rankByProjection(projection),
  };
}

/**
 * cos(axis, PC1..PC3) and |axis| at every layer (the layer chart); null for a single layer or no
 * axis. One layer at a time, yielding between layers so a layer the person asks for meanwhile is
 * answered at once; `stale()` stops the walk when the set was replaced.
 */
export async function layerProfile(setId: string, set: PersonaSet, onLayer?: (l: number) => void, stale?: () => boolean): Promise<LayerProfile | null> {
  if (set.layers === null || set.layers < 2) return null;
  const workspace: PcaWorkspace = {};
  const cos: number[][] = [];
  const norm: number[] = [];
  let any = false;
  for (let l = 0; l < set.layers; l++) {
    if (stale?.()) return null;
    const p = pcaAtLayer(set, l, { components: 3, workspace });
    if (p.cosAxisPc) any = true;
    cos.push(p.cosAxisPc ? Array.from(p.cosAxisPc) : [NaN, NaN, NaN]);
    norm.push(p.axis ? p.axisNorm : NaN);
    onLayer?.(l);
    await new Promise((r) => setTimeout(r, 0));
  }
  return any ? { setId, layers: set.layers, cos, norm } : null;
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
