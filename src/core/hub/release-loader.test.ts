/**
 * The official-release loader end to end in Node: a local hub serves a folder in the release
 * layout (made from the shared real dataset, see e2e/fixtures/release.ts) under the hub's URL
 * scheme; loadRelease downloads it (a dropped connection first fails clearly, then a retry works),
 * loadPersonaSet reads it, and PCA at the real layer reproduces the dataset's reference numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../../../e2e/hub-server';
import { makeTmpRepos, type TmpRepos } from '../../../e2e/fixtures/tmp-repo';
import { writeReleaseFixture, type ReleaseFixture } from '../../../e2e/fixtures/release';
import { loadRelease } from './load';
import { MemoryFileCache } from './cache';
import { RELEASE_REPO, releaseFiles } from './release';
import { HubError } from './errors';
import { loadPersonaSet } from '../persona/load';
import { pcaAtLayer } from '../persona/analysis';
import { hasRealData, realDataReason } from '../formats/test-data';

let tmp: TmpRepos;
let server: HubServer;
let fx: ReleaseFixture;

beforeAll(async () => {
  if (!hasRealData) return; // the fixture is made from the shared real vectors
  tmp = makeTmpRepos();
  fx = writeReleaseFixture(tmp, { modelId: 'gemma-2-27b', layers: 3 });
  server = await startHubServer({ root: { [RELEASE_REPO]: tmp.repoDir(RELEASE_REPO) }, type: 'dataset' });
});

afterAll(async () => {
  await server?.close();
  tmp?.remove();
});

describe.skipIf(!hasRealData)(`official release from a hub-shaped server${hasRealData ? '' : ` (${realDataReason})`}`, () => {
  it('the fixture has exactly the files the loader asks for', () => {
    expect([...fx.files].sort()).toEqual([...releaseFiles('gemma-2-27b')].sort());
  });

  it('a dropped connection fails with a clear error; loading again works and reproduces the reference PCA', async () => {
    server.addFault({ path: 'gemma-2-27b/role_vectors/ghost.pt', afterBytes: 5000 });
    let err: unknown;
    try {
      await loadRelease({ hub: server.origin, modelId: 'gemma-2-27b', retries: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).code).toBe('network');
    expect((err as HubError).message).toMatch(/^The connection to 127\.0\.0\.1:\d+ dropped after .* of ghost\.pt; try again\.$/);

    let last = { filesDone: 0, filesTotal: 0, bytesLoaded: 0 };
    const files = await loadRelease({ hub: server.origin, modelId: 'gemma-2-27b', retries: 0, onProgress: (p) => (last = p) });
    expect(files).toHaveLength(517);
    expect(last).toMatchObject({ filesDone: 517, filesTotal: 517, bytesLoaded: fx.bytes });

    const set = await loadPersonaSet(files);
    expect(set.layers).toBe(3);
    expect(set.dim).toBe(4096);
    expect(set.kinds.filter((k) => k === 'role')).toHaveLength(275);
    expect(set.kinds.filter((k) => k === 'trait')).toHaveLength(240);
    expect(set.defaultLabel).not.toBeNull();
    expect(set.storedAxis?.shape).toEqual([3, 4096]);
    const pca = pcaAtLayer(set, fx.realLayer);
    expect(pca.n).toBe(275);
    expect(pca.explainedVarianceRatio[0]).toBeCloseTo(0.27583, 4);
    expect(pca.explainedVarianceRatio[1]).toBeCloseTo(0.16833, 4);
    expect(pca.cosAxisPc![0]).toBeCloseTo(0.81781, 4);
  });

  it('retries resume a dropped file with a Range request, and a cached release loads with no request', async () => {
    server.addFault({ path: 'gemma-2-27b/default_vector.pt', afterBytes: 9000 });
    const cache = new MemoryFileCache();
    const n0 = server.requests.length;
    const files = await loadRelease({ hub: server.origin, modelId: 'gemma-2-27b', retries: 2, retryDelayMs: 1, cache });
    expect(files).toHaveLength(517);
    const dv = server.requests.slice(n0).filter((r) => r.path.endsWith('gemma-2-27b/default_vector.pt'));
    expect(dv.map((r) => r.status)).toEqual([200, 206]);
    expect(dv[1].range).toBe('bytes=9000-');

    const n1 = server.count();
    const again = await loadRelease({ hub: server.origin, modelId: 'gemma-2-27b', cache });
    expect(server.count()).toBe(n1);
    expect(again).toHaveLength(517);
    const [info] = await cache.list();
    expect(info).toMatchObject({ files: 517, bytes: fx.bytes, complete: true, label: 'Gemma 2 27B (official release)' });
  });
});
