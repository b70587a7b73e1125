/**
 * The analysis worker's sources: every kind goes through core's loadPersonaSource with the
 * worker's deps (hub loaders + its file cache, the synthetic generator), against a local hub.
 */
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
import { loadSource, workerSourceDeps } from './load-set';

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
