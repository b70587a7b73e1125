/**
 * Each pane's turns on the persona map: the per-turn mean d-vectors at the monitored layer (from the
 * model worker) projected into the open map's PCA basis (by the analysis worker), handed to the
 * map's overlay store. Only when the explorer's set has this model's shape (same layers and d).
 */
import { analysisWorker } from '../../../workers/analysis-client';
import { useStore } from '../state/store';
import { useOverlays, type Trajectory } from '../state/overlays';
import { PANES, PANE_COLOR, PANE_LABEL, type ChatEngine } from './api';
import type { ChatState } from './store';

/** Whether the explorer's set can take this model's vectors; else the sentence that says why not. */
export function explorerMatch(model: { numLayers: number; hiddenSize: number } | null): { ok: boolean; why: string | null; label: string | null } {
  const set = useStore.getState().setA;
  if (!set) return { ok: false, why: null, label: null };
  if (!model) return { ok: false, why: null, label: set.label };
  const layers = set.layers ?? 1;
  if (layers !== model.numLayers || set.dim !== model.hiddenSize) {
    return { ok: false, why: `The explorer's set has ${layers} layer${layers === 1 ? '' : 's'} of size ${set.dim}; this model has ${model.numLayers} layers of size ${model.hiddenSize}.`, label: set.label };
  }
  return { ok: true, why: null, label: set.label };
}

type Projector = (slot: 'A', layer: number, vectors: Float32Array[]) => Promise<{ ok: boolean; value?: Float64Array[] }>;

export async function updateTrajectories(engine: ChatEngine, s: ChatState): Promise<void> {
  const info = s.model.info;
  if (!info || !s.settings || !explorerMatch(info).ok) {
    if (useOverlays.getState().trajectories.some((t) => t.id.startsWith('chat-'))) useOverlays.getState().setTrajectories([]);
    return;
  }
  const project = (analysisWorker() as unknown as { projectVectors?: Projector }).projectVectors;
  const out: Trajectory[] = [];
  try {
    for (const pane of PANES) {
      if (s.settings.panes[pane].hidden) continue;
      const { layer, vectors } = await engine.chatTurnVectors(pane, s.driftMode);
      const turns = vectors.flatMap((v, i) => (v ? [{ v, turn: i + 1 }] : []));
      if (turns.length === 0 || !project) continue;
      const r = await project('A', layer, turns.map((t) => t.v));
      if (!r.ok || !r.value) continue;
      out.push({ id: `chat-${pane}`, label: PANE_LABEL[pane], color: PANE_COLOR[pane], layer, points: r.value.map((coords, i) => ({ turn: turns[i].turn, coords })) });
    }
  } catch {
    // The analysis worker has no projection call yet, or the map changed meanwhile: no trajectory.
    return;
  }
  useOverlays.getState().setTrajectories(out);
}
