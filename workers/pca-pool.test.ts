import { describe, expect, it } from 'vitest';
import { DataError } from '../src/core/errors';
import { gaussian, rng } from '../src/core/math/testing';
import { cosAxisPcPerLayer } from '../src/core/persona/analysis';
import { createPersonaSet } from '../src/core/persona/persona-set';
import type { MemberKind } from '../src/core/persona/types';
import { createPcaPool, type PoolWorker } from './pca-pool';
import { nodePcaWorker } from './pca-pool-node';
import { servePcaTasks, type PcaLayerReply, type PcaLayerTask } from './pca-pool-task';

function synthetic(N: number, L: number, d: number, seed: number, def: 'ok' | 'nan-at-3' = 'ok') {
  const g = gaussian(rng(seed));
  const dirs = Array.from({ length: 3 }, () => Float64Array.from({ length: L * d }, g));
  const x = new Float32Array(N * L * d);
  for (let i = 0; i < N; i++) {
    const w = [4 * g(), 2 * g(), g()];
    for (let j = 0; j < L * d; j++) x[i * L * d + j] = 1 + w[0] * dirs[0][j] + w[1] * dirs[1][j] + w[2] * dirs[2][j] + 0.1 * g();
  }
  const dv = Float32Array.from({ length: L * d }, (_, j) => 1 + 6 * dirs[0][j] + (def === 'nan-at-3' && j >= 3 * d && j < 4 * d ? NaN : 0));
  const kinds: MemberKind[] = Array.from({ length: N }, (_, i) => (i < N - 4 ? 'role' : 'trait'));
  return createPersonaSet({ names: Array.from({ length: N }, (_, i) => `r${i}`), vectors: x, dim: d, layers: L, default: dv, kinds });
}

/** A worker in this thread serving tasks with servePcaTasks: messages cloned (transfers honoured), asynchronous, as a real port. */
function inThreadWorker(log: number[]): PoolWorker {
  let toPool: ((r: PcaLayerReply) => void) | null = null;
  let toWorker: ((t: PcaLayerTask) => void) | null = null;
  let alive = true;
  servePcaTasks({
    onTask: (h) => (toWorker = h),
    reply: (r, transfer) => {
      const copy = structuredClone(r, { transfer });
      setTimeout(() => alive && toPool?.(copy), 0);
    },
  });
  return {
    postMessage(task, transfer) {
      const t = structuredClone(task, { transfer });
      log.push(t.id);
      setTimeout(() => alive && toWorker?.(t), 0);
    },
    onReply: (h) => (toPool = h),
    onError: () => {},
    terminate: () => (alive = false),
  };
}

describe('the PCA pool', () => {
  it('gives the single-thread numbers at every layer, in layer order, fitting the roles only', async () => {
    const set = synthetic(30, 7, 48, 1);
    const ref = cosAxisPcPerLayer(set, 3, { keepAxis: true });
    const log: number[] = [];
    const pool = createPcaPool(() => inThreadWorker(log), { size: 3 });
    const seen: number[] = [];
    const got = await pool.cosAxisPcPerLayer(set, 3, { keepAxis: true, onLayer: (l) => seen.push(l) });
    pool.close();
    expect(log.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(got.map((r) => r.layer)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    got.forEach((r, l) => {
      expect(r.axisNorm).toBe(ref[l].axisNorm);
      expect(Array.from(r.cosAxisPc!)).toEqual(Array.from(ref[l].cosAxisPc!));
      expect(Array.from(r.explainedVarianceRatio)).toEqual(Array.from(ref[l].explainedVarianceRatio));
      expect(Array.from(r.axis!)).toEqual(Array.from(ref[l].axis!));
    });
  });

  it('a layer that fails in a worker throws the single-thread typed error (with its layer), and the pool stays usable', async () => {
    const bad = synthetic(12, 6, 16, 2, 'nan-at-3');
    const pool = createPcaPool(() => inThreadWorker([]), { size: 2 });
    let single: unknown;
    try {
      cosAxisPcPerLayer(bad, 2);
    } catch (e) {
      single = e;
    }
    expect(single).toBeInstanceOf(DataError);
    await expect(pool.cosAxisPcPerLayer(bad, 2)).rejects.toThrow((single as Error).message);
    expect((single as Error).message).toMatch(/at layer 3/);
    const good = synthetic(12, 3, 16, 3);
    await expect(pool.cosAxisPcPerLayer(good, 2)).resolves.toHaveLength(3);
    pool.close();
    await expect(pool.cosAxisPcPerLayer(good, 2)).rejects.toThrow(/closed/);
  });

  it('Node worker_threads serve the same code (the benchmark pool)', async () => {
    const set = synthetic(20, 4, 520, 4);
    const ref = cosAxisPcPerLayer(set, 2);
    const pool = createPcaPool(nodePcaWorker, { size: 2 });
    try {
      const got = await pool.cosAxisPcPerLayer(set, 2);
      got.forEach((r, l) => {
        expect(Array.from(r.cosAxisPc!)).toEqual(Array.from(ref[l].cosAxisPc!));
        expect(Array.from(r.explainedVarianceRatio)).toEqual(Array.from(ref[l].explainedVarianceRatio));
      });
    } finally {
      pool.close();
    }
  }, 30_000);
});
