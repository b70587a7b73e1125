/**
 * The one route an Assistant Axis takes to the model (contract shared by the explorer, extraction
 * and the chat lab): whatever its source — this model's own extracted persona space, an axis file
 * (`assistant_axis.pt`, a contrast vector), or the set open in the explorer — the page hands the
 * model worker an `AxisBundle`, transferring the typed arrays.
 */

/** Percentile levels kept in a calibration: 1, 2, ..., 99. */
export const CALIBRATION_LEVELS: readonly number[] = Array.from({ length: 99 }, (_, i) => i + 1);

export interface CalibrationGroup {
  /** How many projections each layer's percentiles were computed from. */
  count: number;
  /** percentiles[layer][k] is the CALIBRATION_LEVELS[k]-th percentile at that layer. */
  percentiles: number[][];
  /** projections[layer][i]: every projection kept (rollout means, or role vectors), when kept. */
  projections?: number[][];
}

/**
 * `calibration.json`: per layer, the distribution of projections on the unit axis
 * (h . axis[L] / |axis[L]|) of rollout means — role rollouts and default rollouts apart, and
 * pooled — so a cap threshold can be "the p-th percentile at each layer of the window"
 * (the paper uses p25). `basis: 'role-vectors'` marks the weaker estimate made from role vectors
 * alone (sets without rollouts, such as the official release).
 */
export interface Calibration {
  format: 'persona-space-calibration';
  version: 1;
  basis: 'rollouts' | 'role-vectors';
  numLayers: number;
  levels: number[];
  role: CalibrationGroup;
  default: CalibrationGroup | null;
  /** Role and default pooled. */
  all: CalibrationGroup;
}

export interface AxisBundle {
  /** Where it came from, in words ("Qwen3-0.6B, quick extraction", "assistant_axis.pt"). */
  label: string;
  source: 'extraction' | 'file' | 'explorer';
  numLayers: number;
  hiddenSize: number;
  /** (numLayers x hiddenSize) row-major, unnormalised: default - mean(roles). */
  axis: Float32Array;
  /** Per layer, mean and sd of the role vectors' projections on the unit axis; null without roles (an axis file). */
  roleStats: { mean: Float64Array; sd: Float64Array } | null;
  /** Per layer, the default vector's projection on the unit axis; null when unknown. */
  defaultProjection: Float64Array | null;
  calibration: Calibration | null;
}
