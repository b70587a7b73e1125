/**
 * Selectors on the explorer's store for the parts of the page that read it without re-rendering
 * on every change (the chat lab among them): pass them to `useStore(selector)` — the object ones
 * through `useShallow` — or call them on `useStore.getState()`.
 */
import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { NameSearch } from '../../core/view/search';
import type { LayerAnalysis } from '../../core/view/types';
import { analysisWorker, type Result } from '../../../workers/analysis-client';
import type { AxisBundle } from '../../core/persona/axis-bundle';
import { useStore, type Store } from './store';

/** What the chat lab needs to know of the set open in the explorer. */
export interface OpenSetShape {
  label: string;
  /** Layers of the set (1 for a single-layer set). */
  numLayers: number;
  hiddenSize: number;
  /** The layer the map shows. */
  layer: number;
  hasDefault: boolean;
}

export const selectOpenSetLabel = (s: Store): string | null => s.setA?.label ?? null;
export const selectNumLayers = (s: Store): number | null => (s.setA ? s.setA.layers ?? 1 : null);
export const selectHiddenSize = (s: Store): number | null => s.setA?.dim ?? null;

/** The open set's label and shape, or null when nothing is open. */
export function selectOpenSet(s: Store): OpenSetShape | null {
  if (!s.setA) return null;
  return { label: s.setA.label, numLayers: s.setA.layers ?? 1, hiddenSize: s.setA.dim, layer: s.layer, hasDefault: s.setA.defaultLabel !== null };
}

/** React hook: the open set's shape; re-renders only when one of its fields changes. */
export function useOpenSet(): OpenSetShape | null {
  return useStore(useShallow(selectOpenSet));
}

/** The open set's Assistant Axis (every layer) for the model worker: axis, role stats, default projection, calibration. */
export function openSetAxisBundle(): Promise<Result<AxisBundle>> {
  return analysisWorker().axisBundle('A');
}

/** d-vectors at `layer` in the map's PCA basis (same centring and signs as the map). */
export function projectToMap(layer: number, vectors: Float32Array[]): Promise<Result<Float64Array[]>> {
  return analysisWorker().projectVectors('A', layer, vectors);
}

const searchCache = new WeakMap<LayerAnalysis, NameSearch>();

/** Indices of the members the search box matches (memoised per analysis and query). */
export function useMatches(): number[] {
  const a = useStore((s) => s.analysis);
  const q = useStore((s) => s.search);
  return useMemo(() => {
    if (!a || !q.trim()) return [];
    let ns = searchCache.get(a);
    if (!ns) searchCache.set(a, (ns = new NameSearch(a.names)));
    return ns.match(q);
  }, [a, q]);
}

/** The group a member belongs to under the current grouping (its kind, or its tag / "untagged"). */
export function groupOf(s: Pick<Store, 'groupBy' | 'tags'>, name: string, kind: string): string {
  return s.groupBy === 'kind' ? kind : s.tags.get(name) ?? 'untagged';
}
