/**
 * The analysis worker's sources: every kind goes through core's loadPersonaSource with the
 * worker's deps (hub loaders + its file cache, the synthetic generator), against a local hub.
 */
import 'fake-indexeddb/auto';
import { IDBFactory as FakeIDBFactory } from 'fake-indexeddb';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../e2e/hub-server';
import { writePt } from '../src/core/formats/pt';
import { MemoryFileCache, RELEASE_REPO } from '../src/core/hub';
import { ROLE_NAMES } from '../src/core/persona/names';
import { parseSourceText } from '../src/core/persona/source';
import { tensorFromF32 } from '../src/core/tensor';
import { normalizeSettings } from '../src/core/extract/presets';
import type { RolloutRecord } from '../src/core/extract/store';
import type { ExtractRunInfo } from './extract-protocol';
import { deleteRun, IdbRolloutStore, listRuns, openExtractDb, putRun, StoredRunReader, type StoredRunFiles } from './extract-store-idb';
import { loadPersonaSet } from '../src/core/persona/load';
import { idbExtractionReader, loadSource, workerSourceDeps } from './load-set';

const L = 2, d = 4;
const member = (k: number) => tensorFromF32(Float32Array.from({ length: L * d }, (_, i) => Math.sin(k * 1.7 + i)), [L, d]);

let tmp: string;
let hub: HubServer;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ps-load-set-'));
  const model = path.join(tmp, 'release', 'gemma-2-27b');
  mkdirSync(path.join(model, 'role_vectors'), { recursive: true });
  ROLE_NAMES.forEach((r, i) => writeFileSync(path.join(model, 'role_vectors', `${r}.pt`), writePt(member(i))));
  writeFileSync(path.join(model, 'default_vector.pt'), writePt(member(-1)));
  writeFileSync(path.join(model, 'assistant_axis.pt'), writePt(member(-2)));
  mkdirSync(path.join(tmp, 'sets'), { recursive: true });
  writeFileSync(path.join(tmp, 'sets', 'three.pt'), writePt(new Map([['pirate', member(1)], ['__proto__', member(2)], ['sage', member(3)]])));
  hub = await startHubServer({ root: { [RELEASE_REPO]: path.join(tmp, 'release'), 'me/sets': path.join(tmp, 'sets') } });
});
afterAll(async () => {
  await hub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the worker loads every source through loadPersonaSource', () => {
  it('release: downloads the model folder once; a second load comes from the worker cache', async () => {
    const cache = new MemoryFileCache();
    const deps = workerSourceDeps(() => cache);
    const first = await loadSource(parseSourceText('release:gemma-2-27b'), { hub: hub.origin }, deps);
    expect(first.label).toBe('Gemma 2 27B (official release)');
    expect(first.set.names).toHaveLength(ROLE_NAMES.length);
    expect(first.set.layers).toBe(L);
    const requests = hub.count('/resolve/');
    const again = await loadSource(parseSourceText('release:gemma-2-27b'), { hub: hub.origin }, deps);
    expect(again.set.names).toEqual(first.set.names);
    expect(hub.count('/resolve/')).toBe(requests);
  });
  it('url: one file on the hub, names kept (__proto__ included), label from the URL', async () => {
    const deps = workerSourceDeps(() => new MemoryFileCache());
    const r = await loadSource(parseSourceText(`${hub.origin}/datasets/me/sets/resolve/main/three.pt`), { hub: hub.origin }, deps);
    expect([...r.set.names].sort()).toEqual(['__proto__', 'pirate', 'sage']);
    expect(r.label).toMatch(/three\.pt$/);
  });
  it('synthetic: bounded before any work; extraction: not a source the analysis worker reads', async () => {
    const deps = workerSourceDeps(() => new MemoryFileCache());
    const s = await loadSource(parseSourceText('synthetic:30x3d8'), {}, deps);
    expect(s.set.names).toHaveLength(30);
    expect(s.set.layers).toBe(3);
    await expect(loadSource(parseSourceText('synthetic:30x9999'), {}, deps)).rejects.toThrow(/A synthetic set takes/);
    await expect(loadSource(parseSourceText('extraction:run-1'), {}, deps)).rejects.toThrow(/Loading an extraction run is not available here\./);
  });
});

describe('extraction:<runId> from the browser’s extraction store (IndexedDB, fake-indexeddb here)', () => {
  const Lx = 3, dx = 4;
  const settings = normalizeSettings({ roles: ['pirate', 'ghost'], traits: [], prompts: 1, questions: 2, defaultPrompts: 1, defaultQuestions: 2, maxNewTokens: 3, batch: 2, seed: 1, temperature: 0.7, topP: 0.9, stopAt: null, preset: 'custom' });
  const mean = (k: number) => Float32Array.from({ length: Lx * dx }, (_, i) => Math.cos(k * 0.9 + i * 0.37) * (1 + k));
  const rec = (kind: 'role' | 'default', member: string, q: number, k: number): RolloutRecord => ({
    key: `${kind}:${member}:0:${q}`, kind, member, promptIndex: 0, questionId: q, ids: [1, 2, 3], response: [1, 3], text: 'hi', stopReason: 'eos', mean: mean(k),
  });
  const runInfo = (status: ExtractRunInfo['status']): ExtractRunInfo => ({
    id: 'run-abc', model: 'synthetic', modelName: 'Tiny', numLayers: Lx, hiddenSize: dx, settings, status, message: null, done: 5, total: 6, stability: null, createdAt: 1, updatedAt: 2,
  });
  const avg = (...ks: number[]) => Float32Array.from({ length: Lx * dx }, (_, i) => ks.reduce((s, k) => s + mean(k)[i], 0) / ks.length);
  const at = (v: Float32Array, l: number) => Array.from(v.subarray(l * dx, (l + 1) * dx));

  it('opens a partial run as a set (saying so), then the finished run, with the vectors the pipeline would sum', async () => {
    const factory = new FakeIDBFactory();
    const db = await openExtractDb(factory);
    await putRun(db, runInfo('paused'));
    const store = new IdbRolloutStore(db, 'run-abc');
    // Five of the six planned rollouts, one of them stored twice (counted once).
    await store.append([rec('default', 'default', 0, 0), rec('default', 'default', 1, 1), rec('role', 'pirate', 0, 2)]);
    await store.append([rec('role', 'pirate', 1, 3), rec('role', 'ghost', 0, 4), rec('role', 'pirate', 1, 9)]);
    const deps = workerSourceDeps(() => new MemoryFileCache(), idbExtractionReader(() => factory));
    const r = await loadSource(parseSourceText('extraction:run-abc'), {}, deps);
    expect(r.label).toBe('extraction run-abc (Tiny), partial: 5 of 6 rollouts');
    expect(r.sourceText).toBe('extraction:run-abc');
    expect(r.set.format).toBe('release');
    expect([...r.set.names].sort()).toEqual(['ghost', 'pirate']);
    expect(r.set.layers).toBe(Lx);
    const pi = r.set.names.indexOf('pirate'), xi = r.set.names.indexOf('ghost');
    for (let l = 0; l < Lx; l++) {
      at(avg(2, 3), l).forEach((v, j) => expect(r.set.vector(pi, l)[j]).toBeCloseTo(v, 5));
      at(mean(4), l).forEach((v, j) => expect(r.set.vector(xi, l)[j]).toBeCloseTo(v, 5));
      at(avg(0, 1), l).forEach((v, j) => expect(r.set.defaultAt(l)![j]).toBeCloseTo(v, 5));
    }
    // The stored axis is default - mean(roles) at every layer.
    const axis = new Float32Array(r.set.storedAxis!.data.slice().buffer);
    const roleMean = avg(2, 3).map((v, i) => (v + mean(4)[i]) / 2);
    avg(0, 1).forEach((v, i) => expect(axis[i]).toBeCloseTo(v - roleMean[i], 5));

    await store.append([rec('role', 'ghost', 1, 5)]);
    await putRun(db, runInfo('complete'));
    const whole = await loadSource(parseSourceText('extraction:run-abc'), {}, deps);
    expect(whole.label).toBe('extraction run-abc (Tiny)');
    for (let l = 0; l < Lx; l++) at(avg(4, 5), l).forEach((v, j) => expect(whole.set.vector(whole.set.names.indexOf('ghost'), l)[j]).toBeCloseTo(v, 5));
    db.close();
  });

  it('an unknown run, a run with no member yet, and a cancelled read each fail with one sentence', async () => {
    const factory = new FakeIDBFactory();
    const db = await openExtractDb(factory);
    const deps = workerSourceDeps(() => new MemoryFileCache(), idbExtractionReader(() => factory));
    await expect(loadSource(parseSourceText('extraction:run-nope'), {}, deps)).rejects.toThrow(/There is no extraction run "run-nope" in this browser/);
    await putRun(db, runInfo('running'));
    const store = new IdbRolloutStore(db, 'run-abc');
    await store.append([rec('default', 'default', 0, 0)]);
    await expect(loadSource(parseSourceText('extraction:run-abc'), {}, deps)).rejects.toThrow(/has no finished role or trait yet/);
    await store.append([rec('role', 'pirate', 0, 2)]);
    expect((await loadSource(parseSourceText('extraction:run-abc'), {}, deps)).label).toBe('extraction run-abc (Tiny), partial, still running: 2 of 6 rollouts');
    const ac = new AbortController();
    ac.abort(new DOMException('Loading was cancelled.', 'AbortError'));
    await expect(loadSource(parseSourceText('extraction:run-abc'), { signal: ac.signal }, deps)).rejects.toThrow(/cancelled/);
    db.close();
  });

  it('a run read again reads only the rollouts stored since (the live map after each batch), and the same vectors as a fresh read', async () => {
    const factory = new FakeIDBFactory();
    const db = await openExtractDb(factory);
    await putRun(db, runInfo('running'));
    const store = new IdbRolloutStore(db, 'run-abc');
    await store.append([rec('default', 'default', 0, 0), rec('default', 'default', 1, 1), rec('role', 'pirate', 0, 2), rec('role', 'pirate', 1, 3)]);
    const live = new StoredRunReader(db);
    expect((await live.read('run-abc')).stored).toBe(4);
    expect(live.recordsRead).toBe(4);
    await store.append([rec('role', 'ghost', 0, 4), rec('role', 'ghost', 1, 5)]);
    const grown = await live.read('run-abc');
    expect(live.recordsRead).toBe(6);
    expect(grown.run.status).toBe('running');
    expect(grown).toMatchObject({ stored: 6, planned: 6, partial: false });
    const fresh = new StoredRunReader(db);
    const whole = await fresh.read('run-abc');
    expect(fresh.recordsRead).toBe(6);
    const bytes = async (f: StoredRunFiles) => Promise.all(f.files.map(async (x) => [x.path, Array.from(await x.read())] as const));
    expect(await bytes(grown)).toEqual(await bytes(whole));
    // Deleted and started again under the same id: the kept sums are not reused.
    await deleteRun(db, 'run-abc');
    await expect(live.read('run-abc')).rejects.toThrow(/no extraction run/);
    await putRun(db, { ...runInfo('running'), createdAt: 5 });
    await new IdbRolloutStore(db, 'run-abc').append([rec('default', 'default', 0, 7), rec('role', 'pirate', 0, 8)]);
    const again = await live.read('run-abc');
    expect(again.stored).toBe(2);
    const set = await loadPersonaSet(again.files);
    at(mean(8), 1).forEach((v, j) => expect(set.vector(0, 1)[j]).toBeCloseTo(v, 5));
    db.close();
  });

  it('the list of runs counts what is stored when the run record lags a batch behind (a tab closed after the batch was written)', async () => {
    const db = await openExtractDb(new FakeIDBFactory());
    await putRun(db, { ...runInfo('running'), done: 2 });
    await new IdbRolloutStore(db, 'run-abc').append([rec('default', 'default', 0, 0), rec('default', 'default', 1, 1), rec('role', 'pirate', 0, 2), rec('role', 'pirate', 1, 3)]);
    expect((await listRuns(db)).map((r) => [r.id, r.done])).toEqual([['run-abc', 4]]);
    await putRun(db, { ...runInfo('complete'), done: 6 });
    expect((await listRuns(db))[0].done).toBe(6);
    db.close();
  });
});
