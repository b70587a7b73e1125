/**
 * The release's traits are drawn (squares, their own toggle) and called traits, against a local
 * hub in the release layout (e2e/fixtures/release.ts: 3 layers, 275 roles + the traits).
 */
import { test, expect } from '@playwright/test';
import { existsSync, readFileSync } from 'node:fs';
import { startHubServer, type HubServer } from './hub-server';
import { makeTmpRepos, type TmpRepos } from './fixtures/tmp-repo';
import { RELEASE_REPO_ID, writeReleaseFixture } from './fixtures/release';
import { byId, expectMapPoints } from './fixtures/app';
import { SHARED_VECTORS } from './fixtures/shared-data';

test.skip(!existsSync(SHARED_VECTORS), `needs the shared dataset at ${SHARED_VECTORS}`);

const MODEL = 'gemma-2-27b';
let tmp: TmpRepos;
let server: HubServer;

test.beforeAll(async () => {
  if (!existsSync(SHARED_VECTORS)) return;
  tmp = makeTmpRepos();
  writeReleaseFixture(tmp, { modelId: MODEL, layers: 3, traits: true });
  server = await startHubServer({ root: { [RELEASE_REPO_ID]: tmp.repoDir(RELEASE_REPO_ID) }, type: 'dataset' });
});

test.afterAll(async () => {
  await server?.close();
  tmp?.remove();
});

test('traits are drawn beside the roles with their own marks and toggle, and ranked as traits', async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(server.origin)}`);
  await page.getByLabel(/include the 240 trait vectors/).check();
  // A load that fails lists no empty "0 B · incomplete" row in the cache.
  server.addFault({ path: `${MODEL}/role_vectors/absurdist.pt`, afterBytes: 0, times: 1000 });
  await byId(page, `release-${MODEL}`).click();
  await expect(byId(page, 'load-error')).toBeVisible({ timeout: 60_000 });
  await expect(byId(page, 'cache-list')).not.toContainText('0 B');
  server.clearFaults();
  await byId(page, `release-${MODEL}`).click();
  await expect(byId(page, 'set-summary')).toContainText('240 traits', { timeout: 60_000 });
  await expectMapPoints(page, 275 + 240);
  await expect(byId(page, 'map-subtitle')).toContainText('traits as squares');
  // the PCA is fit on the roles only: the scree is the roles' (the real layer's 27.6 %)
  await expect(byId(page, 'scree')).toContainText('27.6 %');
  await expect(page.getByRole('heading', { name: /Roles and traits along the axis/ })).toBeVisible();
  await byId(page, 'show-traits').uncheck();
  await expectMapPoints(page, 275);
  await expect(byId(page, 'axis-rank-row')).toHaveCount(275);
  await byId(page, 'show-traits').check();
  await expectMapPoints(page, 515);
  // colour by group: roles and traits apart
  await byId(page, 'color-select').selectOption('group');
  await expect(byId(page, 'group-legend')).toContainText('role');
  await expect(byId(page, 'group-legend')).toContainText('trait');
  await byId(page, 'group-filter').getByLabel('role').uncheck();
  await expectMapPoints(page, 240);
  // the exported SVG draws the traits as squares
  const [download] = await Promise.all([page.waitForEvent('download'), byId(page, 'export-svg-map').click()]);
  const text = readFileSync((await download.path())!, 'utf8');
  expect((text.match(/<rect x=/g) ?? []).length).toBe(240);
});
