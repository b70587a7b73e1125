import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DataError } from '../errors';
import { tensorFromF32 } from '../tensor';
import {
  addCap, buildInterventions, calibrateCap, cappingConfigFrom, capTermsFromCappingConfig, noInterventions, type CappingConfig,
} from './interventions';
import { props } from '../formats/test-props';

const dims = { numLayers: 4, hiddenSize: 3 };
const row = (a: Float32Array, l: number, d = 3) => Array.from(a.subarray(l * d, (l + 1) * d));

describe('interventions', () => {
  it('everything off: zero steering, zero axes, tau = -Infinity', () => {
    const iv = noInterventions(dims);
    expect(Array.from(iv.steer)).toEqual(new Array(12).fill(0));
    expect(Array.from(iv.capAxis)).toEqual(new Array(12).fill(0));
    expect(Array.from(iv.capTau)).toEqual(new Array(4).fill(-Infinity));
  });

  it('steering adds alpha * v/|v| at the chosen layers only, and terms at one layer add up', () => {
    const iv = buildInterventions(dims, {
      steer: [
        { vector: [3, 0, 4], layers: [1, 3], alpha: 10 },
        { vector: new Float32Array([0, 2, 0]), layers: [3], alpha: -1 },
      ],
    });
    expect(row(iv.steer, 0)).toEqual([0, 0, 0]);
    expect(row(iv.steer, 1)).toEqual([6, 0, 8]);
    expect(row(iv.steer, 2)).toEqual([0, 0, 0]);
    expect(row(iv.steer, 3)).toEqual([6, -1, 8]);
  });

  it('per-layer steering coefficients (e.g. m x mean norm per layer)', () => {
    const meanNorm = [10, 20, 30, 40];
    const iv = buildInterventions(dims, { steer: [{ vector: [0, 1, 0], layers: [1, 3], alpha: meanNorm.map((n) => 0.5 * n) }] });
    expect(row(iv.steer, 1)).toEqual([0, 10, 0]);
    expect(row(iv.steer, 3)).toEqual([0, 20, 0]);
    expect(row(buildInterventions(dims, { steer: [{ vector: [0, 1, 0], layers: [2, 0], alpha: [7, 8] }] }).steer, 0)).toEqual([0, 8, 0]);
  });

  it('a (n_layers, d) vector uses row L at layer L, each normalised on its own', () => {
    const v = tensorFromF32(new Float32Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 5, 0, 0]), [4, 3]);
    const iv = buildInterventions(dims, { steer: [{ vector: v, layers: [1, 2], alpha: 2 }], cap: [{ vector: v, layers: [0, 2], tau: [7, 8] }] });
    expect(row(iv.steer, 1)).toEqual([0, 2, 0]);
    expect(row(iv.steer, 2)).toEqual([0, 0, 2]);
    expect(row(iv.capAxis, 0)).toEqual([1, 0, 0]);
    expect(row(iv.capAxis, 2)).toEqual([0, 0, 1]);
    expect(Array.from(iv.capTau)).toEqual([7, -Infinity, 8, -Infinity]);
  });

  it('tau: one number, one per model layer, or one per capped layer', () => {
    expect(Array.from(buildInterventions(dims, { cap: [{ vector: [1, 1, 0], layers: [1, 2], tau: 0.5 }] }).capTau)).toEqual([-Infinity, 0.5, 0.5, -Infinity]);
    expect(Array.from(buildInterventions(dims, { cap: [{ vector: [1, 1, 0], layers: [3, 1], tau: [10, 11, 12, 13] }] }).capTau)).toEqual([-Infinity, 11, -Infinity, 13]);
    expect(Array.from(buildInterventions(dims, { cap: [{ vector: [1, 1, 0], layers: [3, 1], tau: [5, 6] }] }).capTau)).toEqual([-Infinity, 6, -Infinity, 5]);
    expect(() => buildInterventions(dims, { cap: [{ vector: [1, 1, 0], layers: [1], tau: [1, 2, 3] }] })).toThrow(/one per model layer \(4\) or one per chosen layer \(1\)/);
    const axis = buildInterventions(dims, { cap: [{ vector: [1, 1, 0], layers: [1], tau: 0 }] }).capAxis;
    expect(row(axis, 1)[0]).toBeCloseTo(Math.SQRT1_2, 7);
  });

  it('typed errors for wrong dims, layers, zero vectors and double caps', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => buildInterventions(dims, { steer: [{ vector: [1, 2], layers: [0], alpha: 1 }] }), /holds 2 values; this model needs 3 or 4 x 3/],
      [() => buildInterventions(dims, { steer: [{ vector: tensorFromF32(new Float32Array(6), [2, 3]), layers: [0], alpha: 1 }] }), /shape \[2, 3\]; this model needs \(3,\) or \(4, 3\)/],
      [() => buildInterventions(dims, { steer: [{ vector: [1, 2, 3], layers: [4], alpha: 1 }] }), /Layer 4 does not exist: this model has layers 0 to 3/],
      [() => buildInterventions(dims, { steer: [{ vector: [1, 2, 3], layers: [-1], alpha: 1 }] }), /Layer -1 does not exist/],
      [() => buildInterventions(dims, { steer: [{ vector: [1, 2, 3], layers: [], alpha: 1 }] }), /at least one layer/],
      [() => buildInterventions(dims, { steer: [{ vector: [1, 2, 3], layers: [1, 1], alpha: 1 }] }), /listed twice/],
      [() => buildInterventions(dims, { steer: [{ vector: [0, 0, 0], layers: [1], alpha: 1 }] }), /zero length/],
      [() => buildInterventions(dims, { steer: [{ vector: [1, 2, 3], layers: [1], alpha: NaN }] }), /finite number/],
      [() => buildInterventions(dims, { cap: [{ vector: [1, 2, 3], layers: [1], tau: NaN }] }), /threshold at layer 1/],
      [() => buildInterventions(dims, { cap: [{ vector: [1, 2, 3], layers: [1], tau: 0 }, { vector: [3, 2, 1], layers: [1], tau: 0 }] }), /capped twice/],
      [() => noInterventions({ numLayers: 0, hiddenSize: 3 }), /at least one layer/],
    ];
    for (const [f, msg] of cases) {
      expect(f).toThrow(DataError);
      expect(f).toThrow(msg);
    }
  });

  it('a second cap at an already capped layer is refused, not silently replaced', () => {
    const iv = buildInterventions(dims, { cap: [{ vector: [1, 0, 0], layers: [2], tau: 1 }] });
    expect(() => addCap(iv, { vector: [0, 1, 0], layers: [2], tau: 2 })).toThrow(/capped twice/);
  });

  it('calibrateCap takes the 25th percentile per layer (numpy linear interpolation); empty layers stay off', () => {
    const taus = calibrateCap([[1, 2, 3, 4, 5], null, [10, 0], [], [7]]);
    expect(Array.from(taus)).toEqual([2, -Infinity, 2.5, -Infinity, 7]);
    expect(calibrateCap([[1, 2, 3, 4, 5]], 50)[0]).toBe(3);
    expect(() => calibrateCap([[1]], 101)).toThrow(DataError);
  });

  it('calibrateCap: at most about a quarter of the calibration projections lie below the cap it finds (property)', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 50 }), (xs) => {
      const tau = calibrateCap([xs])[0];
      const below = xs.filter((x) => x < tau).length;
      // at most a quarter of the values (rounded up) lie strictly below the 25th percentile
      expect(below).toBeLessThanOrEqual(Math.ceil(0.25 * (xs.length - 1)));
      expect(tau).toBeGreaterThanOrEqual(Math.min(...xs));
      expect(tau).toBeLessThanOrEqual(Math.max(...xs));
    }), props());
  });

  it('converts the release capping_config (ceilings along role-play vectors) to floors along the axis', () => {
    const config: CappingConfig = {
      vectors: {
        'layer_2/axis': { vector: tensorFromF32(new Float32Array([0, -3, -4]), [3]), layer: 2 },
        'layer_3/axis': { vector: [0, 0, -2], layer: 3 },
      },
      experiments: [
        { id: 'layers_2:4-p0.25', interventions: [{ vector: 'layer_2/axis', cap: 1.5 }, { vector: 'layer_3/axis', cap: -2 }] },
        { id: 'other', interventions: [{ vector: 'layer_3/axis' }] },
      ],
    };
    const terms = capTermsFromCappingConfig(config, 'layers_2:4-p0.25');
    const iv = buildInterventions(dims, { cap: terms });
    expect(row(iv.capAxis, 2).map((x) => x + 0)).toEqual([0, Math.fround(0.6), Math.fround(0.8)]);
    expect(row(iv.capAxis, 3).map((x) => x + 0)).toEqual([0, 0, 1]);
    expect(Array.from(iv.capTau)).toEqual([-Infinity, -Infinity, -1.5, 2]);
    // same thing by index
    expect(capTermsFromCappingConfig(config, 0)).toHaveLength(2);
    // the two conventions agree on a vector: ceiling h.r^ <= cap  <=>  floor h.a >= -cap
    const h = [0.3, 2, -1];
    const r = [0, -0.6, -0.8];
    const ceilingAfter = (() => { const p = h[1] * r[1] + h[2] * r[2]; const ex = Math.max(p - 1.5, 0); return h.map((x, j) => x - ex * r[j]); })();
    const a = row(iv.capAxis, 2);
    const floorAfter = (() => { const p = h[1] * a[1] + h[2] * a[2]; const lift = Math.max(-1.5 - p, 0); return h.map((x, j) => x + lift * a[j]); })();
    floorAfter.forEach((x, j) => expect(x).toBeCloseTo(ceilingAfter[j], 6));
    expect(() => capTermsFromCappingConfig(config, 'nope')).toThrow(/no experiment "nope"; it has: layers_2:4-p0.25, other/);
    expect(() => capTermsFromCappingConfig(config, 'other')).toThrow(/holds no caps/);
    expect(() => capTermsFromCappingConfig({ ...config, experiments: [{ id: 'x', interventions: [{ vector: 'missing', cap: 1 }] }] }, 'x')).toThrow(/"missing"/);
  });

  it('reads a capping config from the nested Maps a .pt reader yields', () => {
    const v = tensorFromF32(new Float32Array([0, 0, -2]), [3]);
    const pt = new Map<string, unknown>([
      ['vectors', new Map([['L1', new Map<string, unknown>([['vector', v], ['layer', 1]])]])],
      ['experiments', [new Map<string, unknown>([['id', 'layers_1:2-p0.25'], ['interventions', [new Map<string, unknown>([['vector', 'L1'], ['cap', 0.25]])]]])]],
    ]);
    const cfg = cappingConfigFrom(pt);
    expect(cfg.vectors.L1.layer).toBe(1);
    const iv = buildInterventions(dims, { cap: capTermsFromCappingConfig(cfg, 'layers_1:2-p0.25') });
    expect(row(iv.capAxis, 1).map((x) => x + 0)).toEqual([0, 0, 1]);
    expect(iv.capTau[1]).toBe(-0.25);
    expect(() => cappingConfigFrom({ vectors: {} })).toThrow(/not a capping config/);
    expect(() => cappingConfigFrom(new Map<string, unknown>([['vectors', new Map([['x', new Map([['layer', 1]])]])], ['experiments', []]]))).toThrow(/vector "x"/);
  });
});
