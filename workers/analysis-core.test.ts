import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPersonaSet } from '../src/core/persona/load';
import { buildCsv, parseCsv } from '../src/core/view/export-table';
import { analyzeLayer, comparePc1, layerProfile, setInfo } from './analysis-core';
import { syntheticPersonaSet } from './synthetic';
import { LLAMA_L16_VECTORS } from '../src/core/testing/shared-data';

const VECTORS = LLAMA_L16_VECTORS.path;

async function shared() {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.pt')).map((f) => ({
    path: f, read: async () => new Uint8Array(readFileSync(path.join(VECTORS, f))),
  }));
  return loadPersonaSet(files);
}

describe('analysis worker core', () => {
  it.skipIf(!LLAMA_L16_VECTORS.present)(`reproduces the reference numbers on the shared Llama 3.1 8B layer-16 vectors (${LLAMA_L16_VECTORS.reason})`, async () => {
    const set = await shared();
    const a = analyzeLayer('A1', set, 0, 10);
    expect(a.names).toHaveLength(275);
    expect(a.k).toBe(10);
    expect(a.explained[0]).toBeCloseTo(0.27583, 4);
    expect(a.explained[1]).toBeCloseTo(0.16833, 4);
    expect(a.cosAxisPc[0]).toBeCloseTo(0.81781, 4);
    // Sign convention: the default sits on the positive (Assistant) side of PC1.
    expect(a.defaultCoords![0]).toBeGreaterThan(0);
    // Ranks are a permutation; rank 1 has the largest projection.
    const byRank = Array.from(a.rank.keys()).sort((x, y) => a.rank[x] - a.rank[y]);
    expect(new Set(a.rank).size).toBe(275);
    expect(a.projection[byRank[0]]).toBeGreaterThanOrEqual(a.projection[byRank[274]]);
    // The default lies toward the Assistant end of the roles: above their mean projection.
    const meanProj = a.projection.reduce((x, y) => x + y, 0) / 275;
    expect(a.defaultProjection!).toBeGreaterThan(meanProj);
    const info = setInfo('A1', set, 'vectors', null);
    expect(info).toMatchObject({ nRoles: 275, layers: null, dim: 4096, dtype: 'bfloat16' });
    const rows = parseCsv(buildCsv(a));
    expect(rows.length - 1).toBe(276);
    expect(await layerProfile('A1', set)).toBeNull();
  });

  it('profiles every layer of a multi-layer set and compares two sets on shared names', async () => {
    const set = syntheticPersonaSet({ n: 40, dim: 24, layers: 5, seed: 3 });
    const prof = await layerProfile('S', set);
    expect(prof!.layers).toBe(5);
    expect(prof!.cos).toHaveLength(5);
    for (const c of prof!.cos) for (const v of c) expect(v).toBeGreaterThanOrEqual(-1e-9);
    const b = syntheticPersonaSet({ n: 40, dim: 24, layers: 5, seed: 3 });
    const r = comparePc1(set, 2, b, 2);
    expect(r.nCommon).toBe(40);
    expect(r.pearson).toBeCloseTo(1, 6);
    expect(r.spearman).toBeCloseTo(1, 6);
    // A stale walk stops early.
    expect(await layerProfile('S', set, undefined, () => true)).toBeNull();
  });
});
