/**
 * The layer chart's sweep on the PCA pool (poolSweep + layerProfile): the same numbers and the
 * same progress as the walk on one thread, with Node worker_threads serving the browser worker's
 * code; stale walks stop, data errors read the same, and a pool that cannot start falls back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/core/errors';
import { createPersonaSet } from '../src/core/persona/persona-set';
import { layerProfile } from './analysis-core';
import { createPcaPool, poolSweep, type PoolWorker } from './pca-pool';
import { nodePcaWorker } from './pca-pool-node';
import { syntheticPersonaSet } from './synthetic';

const sweep = poolSweep(() => createPcaPool(nodePcaWorker, { size: 2 }));
afterAll(() => sweep.close());

/** 10 layers; the default is NaN at layer 6 when asked. */
function withNanDefault(nan: boolean) {
  const s = syntheticPersonaSet({ n: 30, dim: 32, layers: 10, seed: 11 });
  const x = new Float32Array(s.names.length * 10 * s.dim);
  for (let l = 0; l < 10; l++) {
    const v = s.layer(l);
    for (let i = 0; i < s.names.length; i++) x.set(v.subarray(i * s.dim, (i + 1) * s.dim), (i * 10 + l) * s.dim);
  }
  const def = new Float32Array(10 * s.dim);
  for (let l = 0; l < 10; l++) def.set(s.defaultAt(l)!, l * s.dim);
  if (nan) def[6 * s.dim + 3] = NaN;
  return createPersonaSet({ names: [...s.names], vectors: x, dim: s.dim, layers: 10, default: def, kinds: [...s.kinds] });
}

describe('the layer chart on the PCA pool', () => {
  it('gives the single-thread numbers and progress at every layer (Node workers)', async () => {
    const set = syntheticPersonaSet({ n: 60, dim: 48, layers: 12, seed: 5 });
    const seenHere: number[] = [];
    const here = await layerProfile('S', set, (l) => seenHere.push(l));
    let asked = 0;
    const counted: typeof sweep = Object.assign((...a: Parameters<typeof sweep>) => {
      const r = sweep(...a);
      if (r) asked++;
      return r;
    }, { close: () => {} });
    const seenPool: number[] = [];
    const pooled = await layerProfile('S', set, (l) => seenPool.push(l), undefined, counted);
    expect(asked).toBe(1);
    expect(here!.layers).toBe(12);
    expect(pooled).toEqual(here);
    pooled!.cos.forEach((c, l) => c.forEach((v, k) => expect(v).toBe(here!.cos[l][k])));
    expect(seenPool).toEqual(seenHere);
    expect(seenPool).toEqual(Array.from({ length: 12 }, (_, i) => i));
  }, 60_000);

  it('a stale walk stops with null and the pool takes the next set', async () => {
    const set = syntheticPersonaSet({ n: 40, dim: 32, layers: 16, seed: 6 });
    let done = 0;
    const stopped = await layerProfile('S', set, () => done++, () => done >= 2, sweep);
    expect(stopped).toBeNull();
    expect(done).toBeLessThan(16);
    const next = syntheticPersonaSet({ n: 40, dim: 32, layers: 9, seed: 7 });
    await expect(sweep(next, () => {}, new AbortController().signal)).resolves.toHaveLength(9);
  }, 60_000);

  it('a layer the data breaks throws the single-thread typed error', async () => {
    const bad = withNanDefault(true);
    let single: unknown;
    try {
      await layerProfile('S', bad);
    } catch (e) {
      single = e;
    }
    expect(single).toBeInstanceOf(DataError);
    await expect(layerProfile('S', bad, undefined, undefined, sweep)).rejects.toThrow((single as Error).message);
    const good = withNanDefault(false);
    expect(await layerProfile('S', good, undefined, undefined, sweep)).toEqual(await layerProfile('S', good));
  }, 60_000);

  it('declines sets with few layers, and falls back for good when the workers cannot start', async () => {
    const small = syntheticPersonaSet({ n: 20, dim: 16, layers: 4, seed: 8 });
    expect(sweep(small, () => {}, new AbortController().signal)).toBeNull();

    const set = syntheticPersonaSet({ n: 20, dim: 16, layers: 8, seed: 9 });
    const ref = await layerProfile('S', set);
    const refused = poolSweep(() => { throw new Error('Worker is not defined'); });
    expect(await layerProfile('S', set, undefined, undefined, refused)).toEqual(ref);
    expect(refused(set, () => {}, new AbortController().signal)).toBeNull();

    // A worker that fails once started (its script would not load): the walk runs here instead.
    const failing = (): PoolWorker => {
      let err: (e: unknown) => void = () => {};
      return { postMessage: () => setTimeout(() => err(new Error('The PCA worker failed: 404')), 0), onReply: () => {}, onError: (h) => (err = h), terminate: () => {} };
    };
    const broken = poolSweep(() => createPcaPool(failing, { size: 2 }));
    const seen: number[] = [];
    expect(await layerProfile('S', set, (l) => seen.push(l), undefined, broken)).toEqual(ref);
    expect(seen).toEqual(Array.from({ length: 8 }, (_, i) => i));
    expect(broken(set, () => {}, new AbortController().signal)).toBeNull();
  });
});
