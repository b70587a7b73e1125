/**
 * The explorer's worker calls on seeded synthetic sets (no files needed): the map basis other
 * vectors are projected into, the AxisBundle the chat lab takes, neighbours, the custom axis and
 * the seeded, cancellable UMAP.
 */
import { describe, expect, it } from 'vitest';
import { calibrationFromRoleVectors } from '../src/core/extract/aggregate';
import type { PersonaSet } from '../src/core/persona/types';
import { analyzeLayerWithBasis, axisBundleOf, customProjection, neighboursOf, projectIntoBasis, resolveQuery, umapLayout } from './analysis-core';
import { syntheticPersonaSet } from './synthetic';

/** A synthetic set with its last `t` members relabelled as traits (the release's shape). */
function withTraits(set: PersonaSet, t: number): PersonaSet {
  const kinds = set.kinds.map((k, i) => (i >= set.names.length - t ? 'trait' : k));
  return Object.assign(Object.create(Object.getPrototypeOf(set)), set, { kinds, layer: set.layer.bind(set), vector: set.vector.bind(set), defaultAt: set.defaultAt.bind(set) });
}

describe('the map basis', () => {
  it('projects the members themselves onto their own map coordinates (same centring and signs)', () => {
    const set = syntheticPersonaSet({ n: 60, dim: 32, layers: 4, seed: 7 });
    const { analysis: a, basis } = analyzeLayerWithBasis('S', set, 2, 10);
    const rows = [0, 17, 59].map((i) => set.vector(i, 2));
    const got = projectIntoBasis(basis, rows);
    [0, 17, 59].forEach((m, r) => {
      for (let c = 0; c < a.k; c++) expect(got[r][c]).toBeCloseTo(a.coords[m * a.k + c], 3);
    });
    // the default too
    const def = projectIntoBasis(basis, [set.defaultAt(2)!])[0];
    expect(def[0]).toBeCloseTo(a.defaultCoords![0], 3);
    expect(def[0]).toBeGreaterThan(0);
    expect(() => projectIntoBasis(basis, [new Float32Array(5)])).toThrow(/5 values/);
  });

  it('draws traits projected (not fit) and gives the role centroid\'s projection', () => {
    const set = withTraits(syntheticPersonaSet({ n: 50, dim: 24, seed: 3 }), 10);
    const a = analyzeLayerWithBasis('T', set, 0).analysis;
    expect(a.names).toHaveLength(50);
    expect(a.kinds.filter((k) => k === 'trait')).toHaveLength(10);
    expect(Array.from(a.fit!).reduce((s, v) => s + v, 0)).toBe(40);
    let m = 0;
    for (let i = 0; i < 40; i++) m += a.projection[i];
    expect(a.centroidProjection!).toBeCloseTo(m / 40, 4);
  });
});

describe('the AxisBundle of the open set', () => {
  it('has the axis per layer, role stats on the unit axis and the default above the roles', () => {
    const set = syntheticPersonaSet({ n: 40, dim: 16, layers: 3, seed: 9 });
    const b = axisBundleOf(set, 'synthetic', calibrationFromRoleVectors);
    expect(b).toMatchObject({ source: 'explorer', numLayers: 3, hiddenSize: 16, label: 'synthetic' });
    expect(b.axis).toHaveLength(48);
    for (let l = 0; l < 3; l++) {
      const { analysis: a } = analyzeLayerWithBasis('S', set, l);
      // role mean on the unit axis = the map's centroid projection; default projection likewise
      expect(b.roleStats!.mean[l]).toBeCloseTo(a.centroidProjection!, 3);
      expect(b.defaultProjection![l]).toBeCloseTo(a.defaultProjection!, 3);
      expect(b.defaultProjection![l]).toBeGreaterThan(b.roleStats!.mean[l]);
      expect(b.roleStats!.sd[l]).toBeGreaterThan(0);
    }
    expect(b.calibration?.basis).toBe('role-vectors');
    // a calibration that cannot be made leaves null, not an error
    expect(axisBundleOf(set, 's', () => { throw new Error('no'); }).calibration).toBeNull();
  });
});

describe('neighbours and the custom axis', () => {
  it('lists cosine neighbours without the member itself', () => {
    const set = syntheticPersonaSet({ n: 30, dim: 20, seed: 1 });
    const nb = neighboursOf(set, 0, 4, 5);
    expect(nb).toHaveLength(5);
    expect(nb.map((r) => r.name)).not.toContain(set.names[4]);
    for (let i = 1; i < nb.length; i++) expect(nb[i - 1].cos).toBeGreaterThanOrEqual(nb[i].cos);
  });

  it('@default minus @roles is the Assistant Axis: cos 1, and x orders the members as the axis projection does', () => {
    const set = syntheticPersonaSet({ n: 40, dim: 24, seed: 5 });
    const a = analyzeLayerWithBasis('S', set, 0).analysis;
    const c = customProjection(set, 0, '@default', '@roles');
    expect(c.cosAxis!).toBeCloseTo(1, 6);
    expect(c.nA).toBe(1);
    expect(c.nB).toBe(40);
    // x = projection - (centroid + default)/2 on the same unit axis: a constant shift
    const shift = a.projection[0] - c.x[0];
    for (let i = 0; i < 40; i++) expect(a.projection[i] - c.x[i]).toBeCloseTo(shift, 3);
    expect(c.defaultX!).toBeGreaterThan(0);
    expect(() => customProjection(set, 0, 'no-such-name-zzzz', '@roles')).toThrow(/first query/);
  });

  it('resolves queries by name search, @roles and @traits; "__proto__" is just a name', () => {
    const set = syntheticPersonaSet({ n: 12, dim: 8, seed: 2 });
    const q = resolveQuery(set, `${set.names[3]}, @default`);
    expect(q.withDefault).toBe(true);
    expect(q.members).toContain(3);
    expect(resolveQuery(set, '@roles').members).toHaveLength(12);
    expect(resolveQuery(set, '__proto__').members).toEqual([]);
  });
});

describe('UMAP', () => {
  it('is seeded (same seed, same picture; another seed, another), reports progress and can be cancelled', async () => {
    const set = syntheticPersonaSet({ n: 40, dim: 16, seed: 4 });
    const seen: number[] = [];
    const a = await umapLayout(set, 0, { dims: 2, seed: 7 }, (done) => seen.push(done));
    const b = await umapLayout(set, 0, { dims: 2, seed: 7 });
    const c = await umapLayout(set, 0, { dims: 2, seed: 8 });
    expect(a!.coords).toHaveLength(80);
    expect(Array.from(a!.coords)).toEqual(Array.from(b!.coords));
    expect(Array.from(a!.coords)).not.toEqual(Array.from(c!.coords));
    expect(a!.coords.every(Number.isFinite)).toBe(true);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen[seen.length - 1]).toBeGreaterThan(seen[0]);
    let calls = 0;
    expect(await umapLayout(set, 0, { dims: 3, seed: 1 }, undefined, () => ++calls < 2)).toBeNull();
    await expect(umapLayout(syntheticPersonaSet({ n: 3, dim: 4 }), 0, { dims: 2, seed: 1 })).rejects.toThrow(/at least 4/);
  });
});
