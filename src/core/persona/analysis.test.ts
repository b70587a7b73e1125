import { describe, expect, it } from 'vitest';
import { DataError } from '../errors';
import { pca } from '../math/pca';
import { cosine, dot } from '../math/vector';
import { gaussian, rng } from '../math/testing';
import { createPersonaSet } from './persona-set';
import type { MemberKind } from './types';
import { decodeF32, type RawTensor } from '../tensor';
import { readPt } from '../formats/pt';
import { pyGet } from '../formats/py';
import { hasRealData, LLAMA_L16, readShared, realDataReason } from '../formats/test-data';
import { loadPersonaSetFromPath } from '../../../cli/fs-source';
import { assistantAxis, comparePc1, cosAxisPcPerLayer, defaultLayer, fitMembers, pcaAtLayer, projectOnAxis, rankByProjection } from './analysis';

/** N members x L layers x d with a few strong directions, plus a default that leans along one of them. */
function synthetic(N: number, L: number | null, d: number, seed: number, withDefault = true) {
  const g = gaussian(rng(seed));
  const per = (L ?? 1) * d;
  const dirs = Array.from({ length: 3 }, () => Float64Array.from({ length: per }, g));
  const x = new Float32Array(N * per);
  for (let i = 0; i < N; i++) {
    const w = [4 * g(), 2 * g(), g()];
    for (let j = 0; j < per; j++) x[i * per + j] = 1 + w[0] * dirs[0][j] + w[1] * dirs[1][j] + w[2] * dirs[2][j] + 0.1 * g();
  }
  const def = withDefault ? Float32Array.from({ length: per }, (_, j) => 1 + 6 * dirs[0][j] + 0.5 * dirs[2][j]) : null;
  const names = Array.from({ length: N }, (_, i) => `role${String(i).padStart(3, '0')}`);
  return { x, def, names, per };
}

function set(N: number, L: number | null, d: number, seed: number, withDefault = true, kinds?: MemberKind[]) {
  const s = synthetic(N, L, d, seed, withDefault);
  return { ...s, set: createPersonaSet({ names: s.names, vectors: s.x, dim: d, layers: L, default: s.def, kinds }) };
}

describe('pcaAtLayer', () => {
  it('fits the members only, projects the default afterwards, and orients every PC along the axis', () => {
    const N = 30, d = 64;
    const { set: s, x, def } = set(N, null, d, 1);
    const p = pcaAtLayer(s, null, { components: 3 });
    expect(p.layer).toBeNull();
    expect(p.n).toBe(N);
    expect(p.k).toBe(3);
    // Same numbers as the math layer on the member rows alone.
    const ref = pca(x, N, d, { components: 3 });
    for (let c = 0; c < 3; c++) {
      expect(p.explainedVarianceRatio[c]).toBeCloseTo(ref.explainedVarianceRatio[c], 12);
      expect(Math.abs(cosine(p.components.subarray(c * d, c * d + d), ref.components.subarray(c * d, c * d + d)))).toBeGreaterThan(1 - 1e-6);
    }
    // axis = default - mean(members)
    for (let j = 0; j < d; j++) expect(p.axis![j]).toBeCloseTo(def![j] - ref.mean[j], 5);
    expect(p.axisSource).toBe('default');
    expect(p.axisNorm).toBeCloseTo(Math.hypot(...Array.from(p.axis!)), 4);
    // sign convention: cos(axis, PC_k) >= 0, and equals the cosine computed directly
    for (let c = 0; c < 3; c++) {
      expect(p.cosAxisPc![c]).toBeGreaterThanOrEqual(0);
      expect(p.cosAxisPc![c]).toBeCloseTo(cosine(p.axis!, p.components.subarray(c * d, c * d + d)), 6);
    }
    expect(p.cosAxisPc![0]).toBeGreaterThan(0.9); // the default leans along the strongest direction
    // default coordinates = (default - mean) . PC_k, and PC1 coordinate is positive
    for (let c = 0; c < 3; c++) {
      let s2 = 0;
      for (let j = 0; j < d; j++) s2 += (def![j] - p.mean[j]) * p.components[c * d + j];
      expect(p.defaultCoords![c]).toBeCloseTo(s2, 4);
    }
    expect(p.defaultCoords![0]).toBeGreaterThan(0);
    // the default did not change the fit: mean is the members' mean
    for (let j = 0; j < d; j++) expect(p.mean[j]).toBeCloseTo(ref.mean[j], 6);
  });

  it('flipping the default flips the orientation of PC1', () => {
    const N = 25, d = 40;
    const { x, def, names } = synthetic(N, null, d, 3);
    const mean = new Float64Array(d);
    for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / N;
    const flipped = Float32Array.from(def!, (v, j) => 2 * mean[j] - v); // axis -> -axis
    const a = pcaAtLayer(createPersonaSet({ names, vectors: x, dim: d, default: def }), null);
    const b = pcaAtLayer(createPersonaSet({ names, vectors: x, dim: d, default: flipped }), null);
    expect(dot(a.components.subarray(0, d), b.components.subarray(0, d))).toBeCloseTo(-1, 5);
    expect(a.coords[0]).toBeCloseTo(-b.coords[0], 4);
    expect(b.cosAxisPc![0]).toBeGreaterThan(0);
  });

  it('without an axis, orients so the largest |coordinate| is positive and reports no cos', () => {
    const { set: s } = set(20, null, 30, 5, false);
    const p = pcaAtLayer(s, null, { components: 2 });
    expect(p.axis).toBeNull();
    expect(p.cosAxisPc).toBeNull();
    expect(p.defaultCoords).toBeNull();
    expect(p.axisNorm).toBe(0);
    for (let c = 0; c < 2; c++) {
      let best = 0;
      for (let i = 0; i < 20; i++) if (Math.abs(p.coords[i * 2 + c]) > Math.abs(best)) best = p.coords[i * 2 + c];
      expect(best).toBeGreaterThan(0);
    }
  });

  it('uses the stored axis for orientation when there is no default', () => {
    const N = 20, d = 16, L = 3;
    const { x, names } = synthetic(N, L, d, 9, false);
    const stored = new Float32Array(L * d).map((_, i) => (i % d === 0 ? -1 : 0)); // -e0 at every layer
    const s = createPersonaSet({ names, vectors: x, dim: d, layers: L, storedAxis: { dtype: 'float32', shape: [L, d], data: new Uint8Array(stored.buffer) } });
    const p = pcaAtLayer(s, 2, { components: 2 });
    expect(p.axisSource).toBe('stored');
    expect(p.components[0]).toBeLessThanOrEqual(0);
    expect(p.cosAxisPc![0]).toBeGreaterThanOrEqual(0);
  });

  it('fits the roles only; traits are projected, not fit', () => {
    const N = 24, d = 20;
    const kinds: MemberKind[] = Array.from({ length: N }, (_, i) => (i < 18 ? 'role' : 'trait'));
    const { set: s, x } = set(N, null, d, 11, true, kinds);
    expect(fitMembers(s)).toEqual(Array.from({ length: 18 }, (_, i) => i));
    const p = pcaAtLayer(s, null, { components: 3 });
    expect(p.n).toBe(18);
    const ref = pca(x.subarray(0, 18 * d), 18, d, { components: 3 });
    expect(p.explainedVarianceRatio[0]).toBeCloseTo(ref.explainedVarianceRatio[0], 12);
    for (let i = 18; i < N; i++) {
      for (let c = 0; c < 3; c++) {
        let s2 = 0;
        for (let j = 0; j < d; j++) s2 += (x[i * d + j] - p.mean[j]) * p.components[c * d + j];
        expect(p.coords[i * 3 + c]).toBeCloseTo(s2, 4);
      }
    }
    expect(pcaAtLayer(s, null, { members: [0, 1, 2, 3, 20] }).n).toBe(5);
  });

  it('picks the middle layer by default and rejects bad layers and tiny sets', () => {
    const { set: s } = set(10, 5, 8, 13);
    expect(defaultLayer(s)).toBe(2);
    expect(pcaAtLayer(s).layer).toBe(2);
    expect(() => pcaAtLayer(s, 5)).toThrow(DataError);
    expect(() => pcaAtLayer(s, -1)).toThrow(/Layer -1 does not exist/);
    expect(() => pcaAtLayer(s, 0, { members: [3] })).toThrow(/at least 2/);
  });
});

describe('axis across layers', () => {
  it('assistantAxis is default - mean at every layer; cosAxisPcPerLayer matches per-layer PCA', () => {
    const N = 15, L = 4, d = 24;
    const { set: s, x, def, per } = set(N, L, d, 17);
    const ax = assistantAxis(s);
    expect(ax.layers).toBe(L);
    for (let l = 0; l < L; l++) {
      let ss = 0;
      for (let j = 0; j < d; j++) {
        let m = 0;
        for (let i = 0; i < N; i++) m += x[i * per + l * d + j];
        const v = def![l * d + j] - m / N;
        expect(ax.axis[l * d + j]).toBeCloseTo(v, 5);
        ss += v * v;
      }
      expect(ax.norms[l]).toBeCloseTo(Math.sqrt(ss), 5);
    }
    const rows = cosAxisPcPerLayer(s, 3, { keepAxis: true });
    expect(rows.map((r) => r.layer)).toEqual([0, 1, 2, 3]);
    rows.forEach((r, l) => expect(Array.from(r.axis!)).toEqual(Array.from(ax.axis.subarray(l * d, l * d + d))));
    for (let l = 0; l < L; l++) {
      const p = pcaAtLayer(s, l, { components: 3 });
      expect(rows[l].axisNorm).toBeCloseTo(ax.norms[l], 6);
      for (let c = 0; c < 3; c++) expect(rows[l].cosAxisPc![c]).toBeCloseTo(p.cosAxisPc![c], 12);
      expect(rows[l].cosAxisPc![0]).toBeCloseTo(cosine(ax.axis.subarray(l * d, l * d + d), p.components.subarray(0, d)), 6);
    }
  });

  it('assistantAxis needs a default', () => {
    const { set: s } = set(6, 2, 4, 19, false);
    expect(() => assistantAxis(s)).toThrow(/no default vector/);
  });
});

describe('projections', () => {
  it('projectOnAxis is h . axis / |axis|', () => {
    expect(Array.from(projectOnAxis([3, 4, 0, 0, 0, 2], [0, 2, 0]))).toEqual([4, 0]);
    expect(projectOnAxis(new Float32Array([1, 1]), [3, 4])[0]).toBeCloseTo(7 / 5, 14);
    expect(() => projectOnAxis([1, 2, 3], [1, 1])).toThrow(DataError);
    expect(() => projectOnAxis([1, 2], [0, 0])).toThrow(/zero vector/);
  });

  it('rankByProjection orders members from the Assistant end', () => {
    const N = 12, d = 10;
    const { set: s, x } = set(N, null, d, 23);
    const { ranked, defaultProjection, axisNorm } = rankByProjection(s, null);
    const axis = pcaAtLayer(s, null).axis!;
    expect(axisNorm).toBeCloseTo(Math.hypot(...Array.from(axis)), 5);
    const proj = projectOnAxis(x, axis);
    expect(ranked.map((r) => r.rank)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    for (let i = 1; i < N; i++) expect(ranked[i].projection).toBeLessThanOrEqual(ranked[i - 1].projection);
    for (const r of ranked) expect(r.projection).toBeCloseTo(proj[r.index], 5); // axis here is float32
    expect(defaultProjection).not.toBeNull();
  });
});

describe('comparePc1', () => {
  it('correlates PC1 loadings over shared names', () => {
    const N = 40, d = 32;
    const a = synthetic(N, null, d, 29);
    const A = createPersonaSet({ names: a.names, vectors: a.x, dim: d, default: a.def });
    // B: a subset of A's members in another order, rotated into another space, plus 3 names of its own.
    const keep = Array.from({ length: 30 }, (_, i) => (i * 7) % N);
    const perm = Array.from({ length: d }, (_, j) => (j * 5 + 3) % d);
    const rowsB: Float32Array[] = keep.map((i) => Float32Array.from(perm, (pj) => 2 * a.x[i * d + pj]));
    const g = gaussian(rng(31));
    for (let t = 0; t < 3; t++) rowsB.push(Float32Array.from({ length: d }, g));
    const namesB = [...keep.map((i) => a.names[i]), 'x', 'y', 'z'];
    const B = createPersonaSet({ names: namesB, vectors: rowsB, dim: d });
    const r = comparePc1(A, null, B, null);
    expect(r.nCommon).toBe(30);
    expect(r.names).toEqual(a.names.filter((n) => namesB.includes(n)));
    expect(r.signAligned).toBe(true); // B has no default
    expect(r.pearson).toBeGreaterThan(0.9);
    expect(r.spearman).toBeGreaterThan(0.85);
    expect(r.pc1A.length).toBe(30);
    const self = comparePc1(A, null, A, null);
    expect(self.pearson).toBeCloseTo(1, 12);
    expect(self.spearman).toBeCloseTo(1, 12);
    expect(self.signAligned).toBe(false);
  });

  it('refuses sets that share fewer than 3 names', () => {
    const a = set(5, null, 4, 37).set;
    const b = createPersonaSet({ names: ['role000', 'q', 'r', 's'], vectors: new Float32Array(16).map((_, i) => i * i), dim: 4 });
    expect(() => comparePc1(a, null, b, null)).toThrow(/share 1 name;/);
  });
});

describe.skipIf(!hasRealData)(`the real llama-3.1-8b-L16 vectors reproduce reference_pca_basis.pt (${realDataReason})`, () => {
  it('explained variance, |cos(axis, PC1)|, PC1..PC3 and the role mean', async () => {
    const s = await loadPersonaSetFromPath(`${LLAMA_L16}/vectors`);
    expect(s.names.length).toBe(275);
    expect(s.defaultLabel).not.toBeNull();
    const p = pcaAtLayer(s, null, { components: 3 });
    expect(p.n).toBe(275);
    expect(p.dim).toBe(4096);
    // Published figures (SOURCE.md) to 5 decimals.
    expect(p.explainedVarianceRatio[0]).toBeCloseTo(0.27583, 5);
    expect(p.explainedVarianceRatio[1]).toBeCloseTo(0.16833, 5);
    expect(p.explainedVarianceRatio[2]).toBeCloseTo(0.07038, 5);
    expect(Math.abs(p.cosAxisPc![0])).toBeCloseTo(0.81781, 5);
    // The reference file's own numbers and vectors.
    const ref = readPt(readShared('reference_pca_basis.pt'));
    const varFrac = pyGet(ref, 'var_frac_top3') as unknown;
    const fracs = Array.isArray(varFrac) ? (varFrac as number[]) : Array.from(decodeF32(varFrac as RawTensor));
    for (let c = 0; c < 3; c++) expect(Math.abs(p.explainedVarianceRatio[c] - fracs[c])).toBeLessThan(1e-6);
    expect(Math.abs(p.cosAxisPc![0] - (pyGet(ref, 'cos_pc1_lu') as number))).toBeLessThan(1e-6);
    for (let c = 0; c < 3; c++) {
      const r = decodeF32(pyGet(ref, `pc${c + 1}`) as RawTensor);
      expect(Math.abs(cosine(r, p.components.subarray(c * 4096, (c + 1) * 4096)))).toBeGreaterThan(0.9999);
    }
    const roleMean = decodeF32(pyGet(ref, 'role_mean') as RawTensor);
    for (let j = 0; j < 4096; j++) expect(Math.abs(roleMean[j] - p.mean[j])).toBeLessThan(1e-6);
    // Sign convention: the default sits at the positive end of PC1, with the Assistant-like roles.
    expect(p.defaultCoords![0]).toBeGreaterThan(0);
    const { ranked } = rankByProjection(s, null);
    const top = ranked.slice(0, 20).map((r) => r.name);
    expect(top.some((n) => ['evaluator', 'analyst', 'reviewer', 'consultant', 'planner'].includes(n))).toBe(true);
    const bottom = ranked.slice(-40).map((r) => r.name);
    expect(bottom.some((n) => ['ghost', 'bard', 'jester', 'toddler', 'fool', 'leviathan'].includes(n))).toBe(true);
  });
});

describe('an all-NaN default', () => {
  it('says it cannot define an axis (pca, axis, projections) instead of returning a null norm', () => {
    const set = createPersonaSet({ names: ['a', 'b', 'c'], vectors: [Float32Array.of(1, 0), Float32Array.of(0, 1), Float32Array.of(1, 1)], default: Float32Array.of(NaN, NaN) });
    for (const f of [() => pcaAtLayer(set, null), () => assistantAxis(set), () => rankByProjection(set, null)]) {
      expect(f).toThrow(DataError);
      expect(f).toThrow(/cannot define an axis/);
    }
  });
});
