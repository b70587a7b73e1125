/**
 * The axis in the chat lab: building an AxisBundle from an axis tensor, the paper's default layers
 * (monitor at n_layers // 2, cap window at ~70–85 % of depth), and turning the person's settings
 * (steering in sd of the role projections or the raw coefficient, cap thresholds from a calibration
 * percentile or fixed) into the per-layer feeds of an instrumented decoder.
 */
import { DataError } from '../errors';
import type { RowParams } from '../lm/rows';
import type { AxisBundle, Calibration } from '../persona/axis-bundle';
import { readAxisFile } from '../persona/axis-file';
import { decodeF32, isRawTensor, type RawTensor } from '../tensor';
import type { CapSettings, ChatSettings, PaneId, PaneSettings, ResolvedPane, SteerSettings } from './types';
import { PANE_IDS } from './types';

export interface ModelShape {
  numLayers: number;
  hiddenSize: number;
}

/**
 * An AxisBundle from an axis file's bytes (`.pt` / `.npy` / `.npz` / `.safetensors`, (n_layers, d) or
 * (d,)) for a model of this shape: the tensor that fits the model is taken when the file holds
 * several; a mismatch is one sentence naming both shapes. Run in the model worker (setAxisFile).
 */
export function axisBundleFromFile(name: string, bytes: Uint8Array, model: ModelShape): AxisBundle {
  const a = readAxisFile(name, bytes, { prefer: { layers: model.numLayers, dim: model.hiddenSize } });
  return axisBundleFromTensor(a.tensor, model, name, 'file');
}

/**
 * An AxisBundle from an axis tensor of shape (n_layers, d), or (d,) used at every layer. No role
 * statistics or calibration: steering then speaks in raw coefficients and the cap needs a fixed tau.
 */
export function axisBundleFromTensor(t: RawTensor | Float32Array, model: ModelShape, label: string, source: AxisBundle['source'] = 'file'): AxisBundle {
  const { numLayers: L, hiddenSize: d } = model;
  const shape = isRawTensor(t) ? t.shape : [t.length];
  const data = isRawTensor(t) ? decodeF32(t) : t;
  const ok1 = shape.length === 1 && shape[0] === d;
  const ok2 = shape.length === 2 && shape[0] === L && shape[1] === d;
  const flat = !isRawTensor(t) && data.length === L * d;
  if (!ok1 && !ok2 && !flat) {
    throw new DataError('axis-shape', `The axis has shape (${shape.join(', ')}), but this model needs (${L}, ${d}) or (${d},): ${L} layers of hidden size ${d}.`);
  }
  let axis: Float32Array;
  if (ok1) {
    axis = new Float32Array(L * d);
    for (let l = 0; l < L; l++) axis.set(data, l * d);
  } else axis = Float32Array.from(data);
  for (let i = 0; i < axis.length; i++) {
    if (!Number.isFinite(axis[i])) throw new DataError('axis-values', `The axis holds a non-finite value (${axis[i]}) at layer ${Math.floor(i / d)}.`);
  }
  return { label, source, numLayers: L, hiddenSize: d, axis, roleStats: null, defaultProjection: null, calibration: null };
}

/** The bundle fits this model (one sentence naming both shapes otherwise). */
export function checkBundle(b: AxisBundle, model: ModelShape): void {
  if (b.numLayers !== model.numLayers || b.hiddenSize !== model.hiddenSize || b.axis.length !== b.numLayers * b.hiddenSize) {
    throw new DataError(
      'axis-shape',
      `The axis "${b.label}" is (${b.numLayers}, ${b.hiddenSize}) but the model has ${model.numLayers} layers of hidden size ${model.hiddenSize}; use an axis made for this model.`,
    );
  }
  const n = b.numLayers;
  if (b.roleStats && (b.roleStats.mean.length !== n || b.roleStats.sd.length !== n)) throw new DataError('axis-stats', `The axis "${b.label}" has role statistics for ${b.roleStats.mean.length} layers, not ${n}.`);
  if (b.calibration && b.calibration.numLayers !== n) throw new DataError('axis-calibration', `The calibration of "${b.label}" covers ${b.calibration.numLayers} layers, not ${n}.`);
}

/** Per layer |axis[L]|. */
export function axisNorms(b: Pick<AxisBundle, 'axis' | 'numLayers' | 'hiddenSize'>): Float64Array {
  const { numLayers: L, hiddenSize: d, axis } = b;
  const out = new Float64Array(L);
  for (let l = 0; l < L; l++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += axis[l * d + j] * axis[l * d + j];
    out[l] = Math.sqrt(s);
  }
  return out;
}

/** The paper's target layer for any model: n_layers // 2. */
export function defaultMonitorLayer(numLayers: number): number {
  return Math.floor(numLayers / 2);
}

/**
 * The cap window from the paper's proportions (Qwen3 32B: 46–53 of 64; Llama 3.3 70B: 56–71 of 80):
 * from 70 % of the depth to 85 %, at least one layer.
 */
export function defaultCapWindow(numLayers: number): number[] {
  const start = Math.min(numLayers - 1, Math.floor(0.7 * numLayers));
  const end = Math.max(start + 1, Math.min(numLayers, Math.round(0.85 * numLayers)));
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/** The lab's starting settings for an axis (steering off at the middle layer, the cap on the paper's window at p25). */
export function defaultChatSettings(numLayers: number, axis: Pick<AxisBundle, 'roleStats' | 'calibration'>): ChatSettings {
  const mid = defaultMonitorLayer(numLayers);
  const pane = (p: Partial<PaneSettings>): PaneSettings => ({ steer: null, cap: null, hidden: false, ...p });
  return {
    system: '',
    sampling: { temperature: 0.7, topP: 0.9, maxTokens: 128, seed: 0 },
    monitorLayer: mid,
    panes: {
      default: pane({}),
      steered: pane({ steer: { layers: [mid], amount: 0, unit: axis.roleStats ? 'sd' : 'raw' } }),
      capped: pane({ cap: { layers: defaultCapWindow(numLayers), threshold: axis.calibration ? { kind: 'percentile', p: 25 } : { kind: 'fixed', tau: 0 } } }),
    },
  };
}

/** The p-th percentile at a layer from the stored levels (linear between levels, clamped to 1..99). */
export function calibrationPercentile(cal: Calibration, layer: number, p: number, group: 'all' | 'role' | 'default' = 'all'): number {
  if (!(p >= 0 && p <= 100)) throw new DataError('cap-percentile', `The cap percentile must be between 0 and 100, got ${p}.`);
  const g = group === 'all' ? cal.all : group === 'role' ? cal.role : cal.default;
  if (!g) throw new DataError('cap-calibration', `The calibration has no ${group} rollouts.`);
  const row = g.percentiles[layer];
  if (!row || row.length !== cal.levels.length) throw new DataError('cap-calibration', `The calibration has no percentiles at layer ${layer}.`);
  const lv = cal.levels;
  if (p <= lv[0]) return row[0];
  if (p >= lv[lv.length - 1]) return row[lv.length - 1];
  let k = 0;
  while (lv[k + 1] < p) k++;
  const t = (p - lv[k]) / (lv[k + 1] - lv[k]);
  return row[k] + t * (row[k + 1] - row[k]);
}

function checkLayers(layers: readonly number[], L: number, what: string): void {
  if (!layers.length) throw new DataError(`${what}-layers`, `Choose at least one layer for ${what}.`);
  const seen = new Set<number>();
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= L) throw new DataError(`${what}-layer`, `Layer ${l} does not exist: this model has layers 0 to ${L - 1}.`);
    if (seen.has(l)) throw new DataError(`${what}-layer-twice`, `Layer ${l} is listed twice for ${what}.`);
    seen.add(l);
  }
}

/** The per-layer numbers of one pane (for the UI to show, and to build the feeds from). */
export function resolvePane(b: AxisBundle, pane: Pick<PaneSettings, 'steer' | 'cap'>): ResolvedPane {
  const L = b.numLayers;
  const norms = axisNorms(b);
  const steerAlpha: (number | null)[] = new Array(L).fill(null);
  const steerRaw: (number | null)[] = new Array(L).fill(null);
  const capTau: (number | null)[] = new Array(L).fill(null);
  const s: SteerSettings | null = pane.steer;
  if (s) {
    checkLayers(s.layers, L, 'steering');
    if (!Number.isFinite(s.amount)) throw new DataError('steer-amount', `The steering amount must be a finite number, got ${s.amount}.`);
    if (s.unit === 'sd' && !b.roleStats) throw new DataError('steer-unit', `The axis "${b.label}" has no role projections to measure a spread with; steer with the raw coefficient instead.`);
    for (const l of s.layers) {
      if (!(norms[l] > 0)) throw new DataError('axis-norm', `The axis is zero at layer ${l}, so it has no direction to steer along.`);
      const alpha = s.unit === 'sd' ? s.amount * b.roleStats!.sd[l] : s.amount * norms[l];
      steerAlpha[l] = alpha;
      steerRaw[l] = alpha / norms[l];
    }
  }
  const c: CapSettings | null = pane.cap;
  if (c) {
    checkLayers(c.layers, L, 'capping');
    for (const l of c.layers) {
      if (!(norms[l] > 0)) throw new DataError('axis-norm', `The axis is zero at layer ${l}, so it has no direction to cap along.`);
      if (c.threshold.kind === 'fixed') {
        if (!Number.isFinite(c.threshold.tau)) throw new DataError('cap-tau', `The cap threshold must be a finite number, got ${c.threshold.tau}.`);
        capTau[l] = c.threshold.tau;
      } else {
        if (!b.calibration) throw new DataError('cap-calibration', `The axis "${b.label}" has no calibration, so a percentile means nothing; give a fixed threshold.`);
        capTau[l] = calibrationPercentile(b.calibration, l, c.threshold.p);
      }
    }
  }
  return { steerAlpha, steerRaw, capTau };
}

/** The feeds of an instrumented decoder for one pane (steer, cap_axis, cap_tau). */
export function paneFeeds(b: AxisBundle, r: ResolvedPane): Pick<RowParams, 'steer' | 'capAxis' | 'capTau'> {
  const { numLayers: L, hiddenSize: d, axis } = b;
  const norms = axisNorms(b);
  const steer = new Float32Array(L * d);
  const capAxis = new Float32Array(L * d);
  const capTau = new Float32Array(L).fill(-Infinity);
  let anySteer = false;
  let anyCap = false;
  for (let l = 0; l < L; l++) {
    const inv = norms[l] > 0 ? 1 / norms[l] : 0;
    const a = r.steerAlpha[l];
    if (a !== null && a !== 0) {
      anySteer = true;
      for (let j = 0; j < d; j++) steer[l * d + j] = a * axis[l * d + j] * inv;
    }
    const t = r.capTau[l];
    if (t !== null) {
      anyCap = true;
      for (let j = 0; j < d; j++) capAxis[l * d + j] = axis[l * d + j] * inv;
      capTau[l] = t;
    }
  }
  return { steer: anySteer ? steer : null, capAxis: anyCap ? capAxis : null, capTau: anyCap ? capTau : null };
}

export function resolveAll(b: AxisBundle, settings: ChatSettings): Record<PaneId, ResolvedPane> {
  const out = {} as Record<PaneId, ResolvedPane>;
  for (const p of PANE_IDS) out[p] = resolvePane(b, settings.panes[p]);
  return out;
}
