/**
 * The small, serialisable results the analysis worker hands to the views. Everything a chart,
 * an export or a share link needs is here; the PersonaSet itself never leaves the worker.
 */
import type { MemberKind } from '../persona/types';

/** What a loaded set looks like, for the summary line and the controls. */
export interface SetInfo {
  id: string;
  /** Where it came from, in words (a folder name, a URL, a release model). */
  label: string;
  /** The URL it was loaded from, when there is one (share links restore it); null for local files. */
  sourceUrl: string | null;
  format: string;
  count: number;
  nRoles: number;
  nTraits: number;
  layers: number | null;
  dim: number;
  dtype: string;
  defaultLabel: string | null;
  byteSize: number;
}

/** PCA of one layer with the Assistant Axis, as the map shows it. */
export interface LayerAnalysis {
  setId: string;
  /** The layer analysed (0 when the set has no layer axis). */
  layer: number;
  /** Number of components computed (up to 10, fewer for tiny sets). */
  k: number;
  /** Every member: the fit members (the roles, or all when there are none) and the others (traits) projected. */
  names: string[];
  kinds: MemberKind[];
  /** 1 where the member took part in the PCA fit (the roles), 0 where it was projected afterwards. */
  fit?: Uint8Array;
  /** N x k coordinates, row-major; every PC oriented so that the axis projects non-negatively on it. */
  coords: Float32Array;
  /** The default vector in the same PC coordinates, or null when the set has no default. */
  defaultCoords: number[] | null;
  /** Fraction of variance explained by each of the k components. */
  explained: number[];
  /** Each member's projection on the unit Assistant Axis (default - mean(roles)) / |...|. */
  projection: Float32Array;
  /** The default's projection on the unit axis, or null. */
  defaultProjection: number | null;
  /** The role centroid's projection on the unit axis (mean over the fit members), or null without an axis. */
  centroidProjection?: number | null;
  /** |default - mean(roles)| at this layer, or null without a default. */
  axisNorm: number | null;
  /** cos(axis, PC_j) for j = 1..k (non-negative by the sign convention), empty without a default. */
  cosAxisPc: number[];
  /** Rank of each member by projection, 1 = furthest toward the Assistant end. */
  rank: Int32Array;
}

/** cos(axis, PC1..PC3) and the axis norm at every layer of a multi-layer set. */
export interface LayerProfile {
  setId: string;
  layers: number;
  /** cos[l] = [cos PC1, cos PC2, cos PC3] at layer l. */
  cos: number[][];
  norm: number[];
}

/** PC1 loadings of two sets over their shared names. */
export interface CompareResult {
  nCommon: number;
  names: string[];
  pc1A: number[];
  pc1B: number[];
  pearson: number;
  spearman: number;
  layerA: number;
  layerB: number;
}

/** Ranks by descending projection: 1 = most Assistant-like. Ties keep input order. */
export function rankByProjection(projection: ArrayLike<number>): Int32Array {
  const n = projection.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => projection[b] - projection[a] || a - b);
  const rank = new Int32Array(n);
  order.forEach((idx, r) => { rank[idx] = r + 1; });
  return rank;
}
