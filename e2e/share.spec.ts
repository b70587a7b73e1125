/**
 * Loading by URL from a hub-shaped server, and the share link: it carries the source URL and the
 * view, and opening it in a new page loads the same data and restores the same view.
 */
import { test, expect, type Page } from '@playwright/test';
import { startHubServer, type HubServer } from './hub-server';
import { byId, expectMapPoints } from './fixtures/app';
import { SHARED_DATASET, HAVE_SHARED_VECTORS, SHARED_REASON } from './fixtures/shared-data';

test.skip(!HAVE_SHARED_VECTORS, SHARED_REASON);

const REPO = 'shared/llama-3.1-8b-L16';
let server: HubServer;

test.beforeAll(async () => {
  // the read-only shared dataset folder served as a dataset repo
  server = await startHubServer({ root: { [REPO]: SHARED_DATASET }, type: 'dataset' });
});

test.afterAll(async () => {
  await server?.close();
});

async function view(page: Page) {
  const map = byId(page, 'map');
  const attrs = await map.evaluate((el) =>
    Object.fromEntries(['data-points', 'data-default', 'data-pcx', 'data-pcy', 'data-mode', 'data-highlighted'].map((k) => [k, el.getAttribute(k)])),
  );
  return { ...attrs, color: await byId(page, 'color-select').inputValue(), pinned: (await byId(page, 'pinned-card').allTextContents()).map((t) => t.trim()) };
}

test('a hub folder URL loads; the share link restores layer, components, colour, selection and points', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(`/?hub=${encodeURIComponent(server.origin)}`);
  const src = `${server.origin}/datasets/${REPO}/tree/main/vectors`;
  await byId(page, 'url-input').fill(src);
  await byId(page, 'url-load').click();
  await expectMapPoints(page, 275);
  expect(server.count('/resolve/main/vectors/')).toBe(276);

  await byId(page, 'pc-x-select').selectOption('2');
  await byId(page, 'pc-y-select').selectOption('3');
  await byId(page, 'color-select').selectOption('pc2');
  await byId(page, 'axis-filter').fill('ghost');
  await byId(page, 'axis-rank-row').filter({ hasText: 'ghost' }).first().click();
  await byId(page, 'axis-filter').fill('');
  await expect(byId(page, 'pinned-card')).toHaveCount(1);
  const map = byId(page, 'map');
  await expect(map).toHaveAttribute('data-pcx', '2');
  await expect(map).toHaveAttribute('data-pcy', '3');
  const before = await view(page);
  expect(before.pinned).toHaveLength(1);
  expect(before.pinned[0]).toContain('ghost');

  await byId(page, 'share-link').click();
  const link = await byId(page, 'share-url').inputValue();
  expect(link).toContain(`src=${encodeURIComponent(src)}`);
  expect(link).toMatch(/pcx=2/);
  expect(link).toMatch(/sel=ghost/);

  const other = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await other.goto(link);
  await expectMapPoints(other, 275);
  await expect(byId(other, 'map')).toHaveAttribute('data-pcx', '2');
  await expect(byId(other, 'pinned-card')).toHaveCount(1);
  expect(await view(other)).toEqual(before);
  await other.close();
  await page.close();
});

test('an hf:// folder path resolves against ?hub=; a connection dropped once is resumed silently (Range 206)', async ({ page }) => {
  server.addFault({ path: 'vectors/ghost.pt', afterBytes: 4000 });
  const n0 = server.requests.length;
  await page.goto(`/?hub=${encodeURIComponent(server.origin)}`);
  await byId(page, 'url-input').fill(`hf://datasets/${REPO}/vectors`);
  await byId(page, 'url-load').click();
  await expectMapPoints(page, 275);
  await expect(byId(page, 'load-error')).toHaveCount(0);
  const ghost = server.requests.slice(n0).filter((r) => r.path.endsWith('/vectors/ghost.pt'));
  expect(ghost[0]).toMatchObject({ status: 200, fault: 'drop after 4000' });
  // Chromium's HTTP cache may split the resumed range into a validation request and the rest;
  // either way nothing before byte 4000 is fetched again.
  expect(ghost.length).toBeGreaterThan(1);
  for (const r of ghost.slice(1)) {
    expect(r.status).toBe(206);
    expect(r.range).toMatch(/^bytes=4000-/);
  }
});

test('a file URL that does not exist shows a not-found sentence next to the URL field', async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(server.origin)}`);
  await byId(page, 'url-input').fill(`${server.origin}/datasets/${REPO}/resolve/main/vectors/nobody.pt`);
  await byId(page, 'url-load').click();
  await expect(byId(page, 'load-error')).toContainText('nobody.pt was not found');
});
