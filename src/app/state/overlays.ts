/**
 * Things other features draw on the persona map (contract between the chat lab and the explorer):
 * the chat lab puts each pane's trajectory here — its turns projected into the open map's PCA
 * basis by the analysis worker — and the map draws them as numbered polylines (2D and 3D, exported
 * with the map). A store of its own, so a streamed token never re-renders the explorer.
 */
import { create } from 'zustand';

export interface TrajectoryPoint {
  /** 1-based assistant turn number (the label drawn at the point). */
  turn: number;
  /** Coordinates on PC1..PCk of the map's basis at `layer` (same orientation as the map). */
  coords: Float64Array;
}

export interface Trajectory {
  id: string;
  label: string;
  color: string;
  layer: number;
  points: TrajectoryPoint[];
}

export interface OverlayState {
  trajectories: Trajectory[];
  setTrajectories(t: Trajectory[]): void;
}

export const useOverlays = create<OverlayState>()((set) => ({
  trajectories: [],
  setTrajectories: (trajectories) => set({ trajectories }),
}));
