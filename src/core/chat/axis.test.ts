import { describe, expect, it } from 'vitest';
import { CALIBRATION_LEVELS, type AxisBundle, type Calibration } from '../persona/axis-bundle';
import { tensorFromF32 } from '../tensor';
import { axisBundleFromTensor, calibrationPercentile, defaultCapWindow, defaultChatSettings, defaultMonitorLayer, paneFeeds, resolvePane } from './axis';

const dims = { numLayers: 3, hiddenSize: 4 };

describe('axis bundles from a tensor', () => {
  it('takes (n_layers, d) as is and repeats (d,) at every layer', () => {
    const full = axisBundleFromTensor(tensorFromF32(Float32Array.from({ length: 12 }, (_, i) => i + 1), [3, 4]), dims, 'assistant_axis.pt');
    expect(Array.from(full.axis)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(full).toMatchObject({ label: 'assistant_axis.pt', source: 'file', numLayers: 3, hiddenSize: 4, roleStats: null, calibration: null });
    const one = axisBundleFromTensor(tensorFromF32(Float32Array.of(1, 2, 3, 4), [4]), dims, 'contrast.npy');
    expect(Array.from(one.axis)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
  });

  it('a shape mismatch is one sentence naming both shapes', () => {
    expect(() => axisBundleFromTensor(tensorFromF32(new Float32Array(10), [2, 5]), dims, 'x')).toThrow(
      'The axis has shape (2, 5), but this model needs (3, 4) or (4,): 3 layers of hidden size 4.',
    );
    expect(() => axisBundleFromTensor(tensorFromF32(Float32Array.of(1, NaN, 0, 0), [4]), dims, 'x')).toThrow(/non-finite/);
  });
});

describe('the paper’s default layers', () => {
  it('monitors the middle layer and caps ~70–85 % of the depth', () => {
    expect(defaultMonitorLayer(28)).toBe(14);
    // Qwen3 32B: the paper caps 46..53 of 64; Llama 3.3 70B 56..71 of 80.
    expect(defaultCapWindow(64)[0]).toBeGreaterThanOrEqual(44);
    expect(defaultCapWindow(64).at(-1)).toBe(53);
    expect(defaultCapWindow(80)[0]).toBe(56);
    expect(defaultCapWindow(28)).toEqual([19, 20, 21, 22, 23]);
    expect(defaultCapWindow(1)).toEqual([0]);
  });
});

describe('settings to feeds', () => {
  const cal: Calibration = {
    format: 'persona-space-calibration', version: 1, basis: 'rollouts', numLayers: 3, levels: [...CALIBRATION_LEVELS],
    role: { count: 1, percentiles: [0, 1, 2].map((l) => CALIBRATION_LEVELS.map((k) => 10 * l + k)) }, default: null,
    all: { count: 1, percentiles: [0, 1, 2].map((l) => CALIBRATION_LEVELS.map((k) => 10 * l + k)) },
  };
  const b: AxisBundle = {
    ...axisBundleFromTensor(tensorFromF32(Float32Array.of(3, 4, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0), [3, 4]), dims, 'ax'),
    roleStats: { mean: Float64Array.of(0, 0, 0), sd: Float64Array.of(0.5, 2, 4) },
    calibration: cal,
  };

  it('steering in sd of the role projections, with the raw coefficient beside it', () => {
    const r = resolvePane(b, { steer: { layers: [0, 1], amount: -2, unit: 'sd' }, cap: null });
    expect(r.steerAlpha).toEqual([-1, -4, null]);
    expect(r.steerRaw).toEqual([-1 / 5, -4 / 2, null]);
    const raw = resolvePane(b, { steer: { layers: [0], amount: 3, unit: 'raw' }, cap: null });
    expect(raw.steerAlpha[0]).toBe(15); // c x |axis[0]| = 3 x 5
    const f = paneFeeds(b, r);
    [-0.6, -0.8, 0, 0].forEach((x, j) => expect(f.steer![j]).toBeCloseTo(x, 6));
    [0, 0, -4, 0].forEach((x, j) => expect(f.steer![4 + j]).toBeCloseTo(x, 6));
    expect(f.capTau).toBeNull();
  });

  it('cap thresholds from a calibration percentile (interpolated) or fixed; unit cap axes', () => {
    expect(calibrationPercentile(cal, 2, 25)).toBe(45);
    expect(calibrationPercentile(cal, 1, 25.5)).toBeCloseTo(35.5, 10);
    const r = resolvePane(b, { steer: null, cap: { layers: [1, 2], threshold: { kind: 'percentile', p: 25 } } });
    expect(r.capTau).toEqual([null, 35, 45]);
    const f = paneFeeds(b, r);
    expect(Array.from(f.capTau!)).toEqual([-Infinity, 35, 45]);
    expect(Array.from(f.capAxis!.subarray(4, 12))).toEqual([0, 0, 1, 0, 1, 0, 0, 0]);
    expect(resolvePane(b, { steer: null, cap: { layers: [0], threshold: { kind: 'fixed', tau: -1.5 } } }).capTau[0]).toBe(-1.5);
    expect(() => resolvePane({ ...b, calibration: null }, { steer: null, cap: { layers: [0], threshold: { kind: 'percentile', p: 25 } } })).toThrow(/no calibration/);
    expect(() => resolvePane(b, { steer: null, cap: { layers: [3], threshold: { kind: 'fixed', tau: 0 } } })).toThrow(/layers 0 to 2/);
  });

  it('defaults: steering off at the middle layer, the cap on the window at p25 when there is a calibration', () => {
    const s = defaultChatSettings(3, b);
    expect(s.panes.default).toEqual({ steer: null, cap: null, hidden: false });
    expect(s.panes.steered.steer).toEqual({ layers: [1], amount: 0, unit: 'sd' });
    expect(s.panes.capped.cap).toEqual({ layers: [2], threshold: { kind: 'percentile', p: 25 } });
    expect(defaultChatSettings(3, { roleStats: null, calibration: null }).panes.capped.cap!.threshold).toEqual({ kind: 'fixed', tau: 0 });
  });
});
