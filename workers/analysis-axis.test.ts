/**
 * The analysis worker's axis-file feature: projections on a loaded axis file and its cosine with
 * the set's own axis per layer, checked against plain sums over the set's vectors — on the
 * synthetic multi-layer set the demo uses and on the real Llama 3.1 8B L16 set when ../shared is there.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../src/core/formats/npy';
import { writePt } from '../src/core/formats/pt';
import { loadPersonaSet } from '../src/core/persona/load';
import type { PersonaSet } from '../src/core/persona/types';
import { LLAMA_L16_VECTORS } from '../src/core/testing/shared-data';
import { f32ToBf16Bits, tensorFromF32, type RawTensor } from '../src/core/tensor';
import { ANALYSIS_FEATURES, setInfo, type FeatureContext } from './analysis-core';
import type { AxisCosProfile, AxisFileInfo, AxisProjection, AxisUrlFile } from './analysis-axis';
import { startHubServer } from '../e2e/hub-server';
import { MemoryFileCache } from '../src/core/hub';
import { readUrlFiles } from './load-set';
import { syntheticPersonaSet } from './synthetic';

/** default - mean(roles) per layer, in float64, straight from the set's vectors. */
function ownAxes(set: PersonaSet): Float64Array[] {
  const L = set.layers ?? 1, d = set.dim, n = set.names.length;
  return Array.from({ length: L }, (_, l) => {
    const all = set.layer(l), def = set.defaultAt(l)!;
    const mu = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += all[i * d + j] / n;
    return Float64Array.from(def, (v, j) => v - mu[j]);
  });
}
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let j = 0; j < a.length; j++) s += a[j] * b[j]; return s; };
const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

function bf16Tensor(rows: ArrayLike<number>[]): RawTensor {
  const d = rows[0].length;
  const u = new Uint16Array(rows.length * d);
  rows.forEach((r, l) => { for (let j = 0; j < d; j++) u[l * d + j] = f32ToBf16Bits(r[j]); });
  return { dtype: 'bfloat16', shape: rows.length === 1 ? [d] : [rows.length, d], data: new Uint8Array(u.buffer) };
}
const bf16Round = (r: ArrayLike<number>) => Float32Array.from(new Float32Array(new Uint32Array(Array.from(r, (x) => f32ToBf16Bits(x) << 16)).buffer));

const feature = ANALYSIS_FEATURES.get('analysis-axis')!;
function ctxFor(set: PersonaSet): FeatureContext {
  const info = setInfo('A1', set, 'test', null);
  return { held: () => ({ info, set }), layerOf: (_s, layer) => (set.layers === null ? 0 : Math.max(0, Math.min(set.layers - 1, layer < 0 ? Math.floor(set.layers / 2) : layer))) };
}
async function run<T>(ctx: FeatureContext, input: unknown): Promise<T> {
  return (await feature.run(ctx, input)) as T;
}

describe('analysis-axis feature, on the synthetic 24-layer set', () => {
  const set = syntheticPersonaSet({ n: 40, layers: 6, dim: 32 });
  const ctx = ctxFor(set);
  const own = ownAxes(set);
  // A contrast axis: the set's own axis at even layers, a fixed other direction at odd layers.
  const other = Float64Array.from({ length: 32 }, (_, j) => Math.cos(j));
  const rows = own.map((a, l) => (l % 2 === 0 ? a : other));

  it('is registered, loads a bf16 (L, d) .pt and says its shape and norms', async () => {
    expect(feature).toBeDefined();
    const info = await run<AxisFileInfo>(ctx, { op: 'load', name: 'contrast.pt', bytes: writePt(bf16Tensor(rows)) });
    expect(info).toMatchObject({ name: 'contrast.pt', format: 'pt', layers: 6, dim: 32, dtype: 'bfloat16' });
    info.norms.forEach((v, l) => expect(v).toBeCloseTo(Math.hypot(...bf16Round(rows[l])), 4));
  });

  it('projects every member on the file axis at a layer: values and ranking as plain sums give', async () => {
    const info = await run<AxisFileInfo>(ctx, { op: 'load', name: 'contrast.pt', bytes: writePt(bf16Tensor(rows)) });
    for (const layer of [0, 3]) {
      const p = await run<AxisProjection>(ctx, { op: 'project', axisId: info.id, slot: 'A', layer });
      expect(p.layer).toBe(layer);
      expect(p.axisRow).toBe(layer);
      const a = bf16Round(rows[layer]);
      const all = set.layer(layer);
      const want = set.names.map((_, i) => dot(all.subarray(i * 32, (i + 1) * 32), a) / Math.hypot(...a));
      want.forEach((v, i) => expect(p.projection[i]).toBeCloseTo(v, 4));
      const order = want.map((_, i) => i).sort((x, y) => want[y] - want[x]);
      expect(order.map((i) => p.rank[i])).toEqual(order.map((_, r) => r + 1));
      expect(p.defaultProjection).toBeCloseTo(dot(set.defaultAt(layer)!, a) / Math.hypot(...a), 4);
      expect(p.centroidProjection).toBeCloseTo(want.reduce((s, v) => s + v, 0) / want.length, 4);
      expect(p.cosOwn).toBeCloseTo(cos(a, own[layer]), 5);
    }
  });

  it('cos per layer with the set\'s own axis: ~1 where the file is the own axis, the plain cosine elsewhere', async () => {
    const info = await run<AxisFileInfo>(ctx, { op: 'load', name: 'contrast.pt', bytes: writePt(bf16Tensor(rows)) });
    const c = await run<AxisCosProfile>(ctx, { op: 'cos', axisId: info.id, slot: 'A' });
    expect(c.over).toBe('set-layers');
    expect(c.cos).toHaveLength(6);
    c.cos!.forEach((v, l) => {
      if (l % 2 === 0) expect(v).toBeGreaterThan(0.9999);
      else expect(v).toBeCloseTo(cos(bf16Round(other), own[l]), 5);
    });
  });

  it('refuses a file of another width or depth in one sentence (the set is untouched)', async () => {
    const wide = await run<AxisFileInfo>(ctx, { op: 'load', name: 'wide.npy', bytes: writeNpy(tensorFromF32(new Float32Array(6 * 48).fill(1), [6, 48])) });
    await expect(run(ctx, { op: 'project', axisId: wide.id, slot: 'A', layer: 2 })).rejects.toThrow(/"wide\.npy" has d = 48 but the open set's vectors have d = 32, so it belongs to another model; the set stays as it is\./);
    const deep = await run<AxisFileInfo>(ctx, { op: 'load', name: 'deep.npy', bytes: writeNpy(tensorFromF32(new Float32Array(9 * 32).fill(1), [9, 32])) });
    await expect(run(ctx, { op: 'cos', axisId: deep.id, slot: 'A' })).rejects.toThrow(/has 9 layers but the open set has 6/);
    const repeng = await run<AxisFileInfo>(ctx, { op: 'load', name: 'repeng.npy', bytes: writeNpy(tensorFromF32(new Float32Array(7 * 32).fill(1), [7, 32])) });
    await expect(run(ctx, { op: 'project', axisId: repeng.id, slot: 'A', layer: 1 })).rejects.toThrow(/has 7 rows for the set's 6 layers: it likely starts with the embedding output/);
    expect(set.names).toHaveLength(40);
  });

  it('loadUrl: a file on a hub-shaped server, through the worker’s URL reader and cache, gives the same axis and the bytes; a folder or no reader is one sentence', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ps-axis-url-'));
    writeFileSync(path.join(dir, 'contrast.pt'), writePt(bf16Tensor(rows)));
    writeFileSync(path.join(dir, 'other.pt'), writePt(bf16Tensor(rows)));
    const hub = await startHubServer({ root: { 'me/axes': dir } });
    try {
      const cache = new MemoryFileCache();
      const withUrl: FeatureContext = { ...ctx, readUrl: (url, o) => readUrlFiles(url, o, () => cache) };
      const url = `${hub.origin}/datasets/me/axes/resolve/main/contrast.pt`;
      const got = await run<AxisUrlFile>(withUrl, { op: 'loadUrl', url, hub: hub.origin });
      expect(got.info).toMatchObject({ name: 'contrast.pt', format: 'pt', layers: 6, dim: 32, dtype: 'bfloat16' });
      expect(Array.from(got.bytes)).toEqual(Array.from(writePt(bf16Tensor(rows))));
      expect(feature.transfer!(got)).toEqual([got.bytes.buffer]);
      const p = await run<AxisProjection>(ctx, { op: 'project', axisId: got.info.id, slot: 'A', layer: 2 });
      expect(p.cosOwn).toBeCloseTo(cos(bf16Round(rows[2]), own[2]), 5);
      // A second read comes from the cache (the failed set load already downloaded it).
      const before = hub.count('/contrast.pt');
      await run<AxisUrlFile>(withUrl, { op: 'loadUrl', url, hub: hub.origin });
      expect(hub.count('/contrast.pt')).toBe(before);
      await expect(run(withUrl, { op: 'loadUrl', url: `${hub.origin}/datasets/me/axes/tree/main`, hub: hub.origin })).rejects.toThrow(/An axis is one file; .* holds 2\./);
      await expect(run(ctx, { op: 'loadUrl', url })).rejects.toThrow('Loading an axis from a URL is not available here.');
    } finally {
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('analysis-axis feature, on a single-layer set', () => {
  const set = syntheticPersonaSet({ n: 30, layers: null, dim: 16 });
  const ctx = ctxFor(set);
  const own = ownAxes(set)[0];
  it('takes the file\'s middle row by default, any row on request, and gives cos against every row of the file', async () => {
    const rows = [0, 1, 2, 3, 4].map((r) => Float64Array.from(own, (v, j) => v + r * Math.sin(j)));
    const info = await run<AxisFileInfo>(ctx, { op: 'load', name: 'axis.pt', bytes: writePt(bf16Tensor(rows)) });
    const p = await run<AxisProjection>(ctx, { op: 'project', axisId: info.id, slot: 'A', layer: 0 });
    expect(p.axisRow).toBe(2);
    expect((await run<AxisProjection>(ctx, { op: 'project', axisId: info.id, slot: 'A', layer: 0, axisRow: 0 })).cosOwn).toBeGreaterThan(0.9999);
    await expect(run(ctx, { op: 'project', axisId: info.id, slot: 'A', layer: 0, axisRow: 7 })).rejects.toThrow(/has layers 0 to 4; there is no layer 7/);
    const c = await run<AxisCosProfile>(ctx, { op: 'cos', axisId: info.id, slot: 'A' });
    expect(c.over).toBe('file-layers');
    c.cos!.forEach((v, r) => expect(v).toBeCloseTo(cos(bf16Round(rows[r]), own), 5));
  });
});

describe.skipIf(!LLAMA_L16_VECTORS.present)(`on the real Llama 3.1 8B L16 set (${LLAMA_L16_VECTORS.reason})`, () => {
  it('its own axis saved as a bf16 (d,) .pt ranks the roles as the axis does, cos 1', async () => {
    const files = readdirSync(LLAMA_L16_VECTORS.path).filter((f) => f.endsWith('.pt')).map((f) => ({ path: f, read: async () => new Uint8Array(readFileSync(path.join(LLAMA_L16_VECTORS.path, f))) }));
    const set = await loadPersonaSet(files);
    const ctx = ctxFor(set);
    const own = ownAxes(set)[0];
    const info = await run<AxisFileInfo>(ctx, { op: 'load', name: 'l16_axis.pt', bytes: writePt(bf16Tensor([own])) });
    expect(info).toMatchObject({ layers: null, dim: 4096, dtype: 'bfloat16' });
    const p = await run<AxisProjection>(ctx, { op: 'project', axisId: info.id, slot: 'A', layer: 0 });
    expect(p.cosOwn).toBeGreaterThan(0.9999);
    const all = set.layer(0);
    const want = set.names.map((_, i) => dot(all.subarray(i * 4096, (i + 1) * 4096), own));
    const top = want.map((_, i) => i).sort((x, y) => want[y] - want[x]).slice(0, 10);
    expect(top.map((i) => p.rank[i])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const c = await run<AxisCosProfile>(ctx, { op: 'cos', axisId: info.id, slot: 'A' });
    expect(c.cos![0]).toBeGreaterThan(0.9999);
  });
});
