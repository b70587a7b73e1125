/** The analysis worker's feature registry: what a feature sees and returns, and an unknown name. */
import { describe, expect, it } from 'vitest';
import { runFeature, setInfo, type AnalysisFeature, type FeatureContext } from './analysis-core';
import { syntheticPersonaSet } from './synthetic';

describe('worker features', () => {
  const set = syntheticPersonaSet({ n: 12, dim: 8, layers: 4, seed: 3 });
  const ctx: FeatureContext = {
    held: (slot) => {
      if (slot !== 'A') throw Object.assign(new Error('No set B is loaded.'), { code: 'no-set' });
      return { info: setInfo('A1', set, 'synthetic', null), set };
    },
    layerOf: (_slot, layer) => Math.max(0, Math.min(3, layer < 0 ? 2 : layer)),
  };
  const norms: AnalysisFeature<{ layer: number }, { layer: number; norms: Float64Array }> = {
    run: (c, { layer }) => {
      const { set: s } = c.held('A');
      const l = c.layerOf('A', layer);
      const rows = s.layer(l);
      const norms = Float64Array.from(s.names, (_, i) => Math.hypot(...rows.subarray(i * s.dim, (i + 1) * s.dim)));
      return { layer: l, norms };
    },
    transfer: (o) => [o.norms.buffer as ArrayBuffer],
  };
  const features = new Map<string, AnalysisFeature>([['norms', norms]]);

  it('a registered feature runs on the held set with the worker\'s layer rule and names its transfers', async () => {
    const r = await runFeature('norms', ctx, { layer: 99 }, features);
    const v = r.value as { layer: number; norms: Float64Array };
    expect(v.layer).toBe(3);
    expect(v.norms).toHaveLength(12);
    expect(v.norms[0]).toBeCloseTo(Math.hypot(...set.vector(0, 3)), 5);
    expect(r.transfer).toEqual([v.norms.buffer]);
  });
  it('an unknown feature, or one whose slot is empty, is a typed error', async () => {
    await expect(runFeature('analysis-nothing', ctx, {}, features)).rejects.toMatchObject({ code: 'no-feature' });
    const needsB: AnalysisFeature = { run: (c) => c.held('B') };
    await expect(runFeature('b', ctx, {}, new Map([['b', needsB]]))).rejects.toMatchObject({ code: 'no-set' });
  });
});
