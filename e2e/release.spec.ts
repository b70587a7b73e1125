/**
 * The official-release buttons against a local hub serving a folder in the release layout
 * (e2e/fixtures/release.ts: 3 layers, the real Llama 3.1 8B vectors at layer 1): a dropped
 * connection shows a clear error and a second click works; layers; cancel; the cache.
 */
import { test, expect } from '@playwright/test';
import { startHubServer, type HubServer } from './hub-server';
import { makeTmpRepos, type TmpRepos } from './fixtures/tmp-repo';
import { RELEASE_REPO_ID, writeReleaseFixture } from './fixtures/release';
import { byId, expectMapPoints } from './fixtures/app';
import { HAVE_SHARED_VECTORS, SHARED_REASON } from './fixtures/shared-data';

const MODEL = 'gemma-2-27b';
let tmp: TmpRepos;
let server: HubServer;

// The release fixture is made from the shared real vectors.
test.skip(!HAVE_SHARED_VECTORS, SHARED_REASON);

test.beforeAll(async () => {
  if (!HAVE_SHARED_VECTORS) return;
  tmp = makeTmpRepos();
  writeReleaseFixture(tmp, { modelId: MODEL, layers: 3 });
  server = await startHubServer({ root: { [RELEASE_REPO_ID]: tmp.repoDir(RELEASE_REPO_ID) }, type: 'dataset' });
});

test.afterAll(async () => {
  await server?.close();
  tmp?.remove();
});

test('release button: a dropped connection gives an error, the retry loads, layers work, the second visit is cached and offline', async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(server.origin)}`);
  // drop every attempt at one file until the fault is lifted (outlasts the loader's own retries)
  server.addFault({ path: `${MODEL}/role_vectors/ghost.pt`, afterBytes: 5000, times: 1000 });
  await byId(page, `release-${MODEL}`).click();
  await expect(byId(page, 'load-error')).toContainText(/connection .* dropped .* ghost\.pt/, { timeout: 60_000 });
  expect(server.requests.some((r) => r.fault?.startsWith('drop') && r.path.endsWith('ghost.pt'))).toBe(true);
  await expect(byId(page, 'map')).toHaveCount(0);

  server.clearFaults();
  await byId(page, `release-${MODEL}`).click();
  await expectMapPoints(page, 275);
  await expect(byId(page, 'load-error')).toHaveCount(0);
  await expect(byId(page, 'map')).toHaveAttribute('data-default', '1');
  await expect(byId(page, 'set-summary')).toContainText('3 layers');

  // the middle layer holds the real vectors
  await expect(byId(page, 'layer-value')).toContainText('1');
  await expect(byId(page, 'scree')).toContainText('27.6 %');
  await expect(byId(page, 'cos-axis-pc1')).toContainText('0.818');
  await byId(page, 'search').fill('ghost');
  await expect(byId(page, 'map')).toHaveAttribute('data-highlighted', '1');
  await byId(page, 'layer-slider').fill('0');
  await expect(byId(page, 'layer-value')).toContainText('0');
  await expect(byId(page, 'scree')).not.toContainText('27.6 %');
  await expect(byId(page, 'map')).toHaveAttribute('data-highlighted', '1');
  await byId(page, 'layer-slider').fill('1');
  await expect(byId(page, 'scree')).toContainText('27.6 %');

  // cached: listed with its size; a reload and a click fetch nothing
  await expect(byId(page, 'cache-row')).toHaveCount(1);
  await expect(byId(page, 'cache-row')).toContainText(/Gemma 2 27B/);
  await page.reload();
  await expect(byId(page, 'cache-row')).toHaveCount(1);
  const n = server.count();
  await page.context().setOffline(true); // the second visit works offline
  await byId(page, `release-${MODEL}`).click();
  await expectMapPoints(page, 275);
  expect(server.count()).toBe(n);
  await page.context().setOffline(false);

  await byId(page, 'cache-delete').first().click();
  await expect(byId(page, 'cache-row')).toHaveCount(0);
});

test('cancel stops a release download and leaves the page usable', async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(server.origin)}`);
  server.addFault({ path: `${MODEL}/role_vectors/ghost.pt`, kind: 'stall', afterBytes: 1000, times: 1000 });
  await byId(page, `release-${MODEL}`).click();
  await expect(byId(page, 'load-progress')).toContainText(/\d+\/\d+ files/);
  await byId(page, 'load-cancel').click();
  await expect(byId(page, 'load-progress')).toHaveCount(0);
  await expect(byId(page, 'map')).toHaveCount(0);
  await expect(byId(page, `release-${MODEL}`)).toBeEnabled();
  server.clearFaults();
});
