/**
 * The persona map in a real Chromium against the built app, on the shared real dataset
 * (../shared/datasets/llama-3.1-8b-L16/vectors, 275 roles + default, Llama 3.1 8B layer 16).
 * Numbers on the page are checked against the core run in Node on the same files.
 */
import { test, expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  byId,
  catchDownload,
  clearSelection,
  expectMapPoints,
  loadSharedThroughFileInput,
  parseCsv,
  publishScreenshot,
  screenshot,
  sharedReference,
} from './fixtures/app';
import { SHARED_VECTORS, HAVE_SHARED_VECTORS, SHARED_REASON } from './fixtures/shared-data';
import { noisySecondSet } from './fixtures/second-set';
import { hostilePt, truncated } from './fixtures/pt';
import { loadPersonaSet } from '../src/core/persona/load';
import { comparePc1 } from '../src/core/persona/analysis';
import { ROLE_NAMES } from '../src/core/persona/names';

test.skip(!HAVE_SHARED_VECTORS, SHARED_REASON);

// One page for the whole file: loading once keeps the suite fast. A failing test restarts the
// worker, and beforeAll loads again for the tests after it.
let page: Page;

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  await page.goto('/');
  await loadSharedThroughFileInput(page);
});

test.afterAll(async () => {
  await page?.close();
});

test('the map shows 275 role points, the default marker, PC1 x PC2 in 2D', async () => {
  const map = byId(page, 'map');
  await expect(map).toHaveAttribute('data-points', '275');
  await expect(map).toHaveAttribute('data-default', '1');
  await expect(map).toHaveAttribute('data-pcx', '1');
  await expect(map).toHaveAttribute('data-pcy', '2');
  await expect(map).toHaveAttribute('data-mode', '2d');
  await expect(byId(page, 'set-summary')).toContainText('275 roles');
  await expect(byId(page, 'set-summary')).toContainText('4096');
  // single-layer set: no layer slider
  await expect(byId(page, 'layer-slider')).toHaveCount(0);
});

test('the scree shows PC1 at 27.6 % and |cos(axis, PC1)| 0.818 is displayed', async () => {
  await expect(byId(page, 'scree')).toContainText('27.6 %');
  await expect(byId(page, 'scree')).toContainText('16.8 %');
  await expect(byId(page, 'cos-axis-pc1')).toContainText('0.818');
});

test('searching "ghost" highlights exactly one point; clearing removes it', async () => {
  await byId(page, 'search').fill('ghost');
  await expect(byId(page, 'map')).toHaveAttribute('data-highlighted', '1');
  await clearSelection(page);
});

test('the CSV export has 276 rows whose PC1 values match the core', async () => {
  const { text, download } = await catchDownload(page, () => byId(page, 'export-csv').click());
  expect(download.suggestedFilename()).toMatch(/\.csv$/);
  const { header, rows } = parseCsv(text);
  expect(header.slice(0, 5)).toEqual(['name', 'kind', 'pc1', 'pc2', 'pc3']);
  expect(header).toContain('axis_projection');
  expect(header).toContain('rank');
  expect(rows).toHaveLength(276);
  const col = (n: string) => header.indexOf(n);
  const { set, pca } = await sharedReference();
  const defaults = rows.filter((r) => r[col('kind')] === 'default');
  expect(defaults).toHaveLength(1);
  const roles = rows.filter((r) => r[col('kind')] !== 'default');
  expect(new Set(roles.map((r) => r[col('name')]))).toEqual(new Set(ROLE_NAMES));
  let worst = 0;
  for (const r of roles) {
    const i = set.names.indexOf(r[col('name')]);
    const want = pca.coords[i * pca.k];
    const got = Number(r[col('pc1')]);
    worst = Math.max(worst, Math.abs(got - want) / Math.max(1, Math.abs(want)));
  }
  expect(worst).toBeLessThan(1e-4);
  expect(Math.abs(Number(defaults[0][col('pc1')]) - pca.defaultCoords![0])).toBeLessThan(1e-4 * Math.max(1, Math.abs(pca.defaultCoords![0])));
  // the Assistant end of PC1 is positive (sign convention): the default sits on it
  expect(Number(defaults[0][col('pc1')])).toBeGreaterThan(0);
});

test('screenshots of the main views: map, 3D, ranking, compare', async () => {
  // map (2D): the plain view for the README, then with one role found
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.mouse.move(5, 5);
  await page.waitForTimeout(300);
  publishScreenshot(await screenshot(page, 'map'));
  await byId(page, 'search').fill('ghost');
  await expect(byId(page, 'map')).toHaveAttribute('data-highlighted', '1');
  await page.waitForTimeout(300);
  await screenshot(page, 'map-search');
  await clearSelection(page);

  // ranking list: both ends visible, filterable
  const ranking = byId(page, 'axis-ranking');
  await expect(ranking.getByTestId('axis-rank-row')).toHaveCount(275);
  await screenshot(ranking, 'ranking');
  await byId(page, 'axis-filter').fill('ghost');
  await expect(ranking.getByTestId('axis-rank-row')).toHaveCount(1);
  await byId(page, 'axis-filter').fill('');

  // 3D
  await byId(page, 'mode-3d').click();
  await expect(byId(page, 'map')).toHaveAttribute('data-mode', '3d');
  await expect(byId(page, 'map')).toHaveAttribute('data-points', '275');
  const box = await byId(page, 'map').boundingBox();
  if (box) {
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 30, { steps: 8 });
    await page.mouse.up();
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.mouse.move(5, 5);
  await page.waitForTimeout(200);
  await screenshot(page, '3d');
  await byId(page, 'mode-3d').click();
  await expect(byId(page, 'map')).toHaveAttribute('data-mode', '2d');

  // compare with a second set: the same roles with seeded noise (a stand-in for another model)
  const files = noisySecondSet();
  const a = (await sharedReference()).set;
  const b = await loadPersonaSet(files.map((f) => ({ path: f.name, read: async () => new Uint8Array(f.buffer) })));
  const want = comparePc1(a, null, b, null);
  if (await byId(page, 'compare-load').isVisible()) await byId(page, 'compare-load').click();
  await byId(page, 'compare-file-input').setInputFiles(files);
  await expect(byId(page, 'compare-pearson')).toContainText(want.pearson.toFixed(3), { timeout: 60_000 });
  await expect(byId(page, 'compare-spearman')).toContainText(want.spearman.toFixed(3));
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await byId(page, 'compare-scatter').scrollIntoViewIfNeeded();
  await screenshot(page, 'compare');
  await expectMapPoints(page, 275);
});

test('PNG and SVG of each chart and the JSON export download as valid files', async () => {
  for (const chart of ['map', 'scree', 'compare']) {
    const png = await catchDownload(page, () => byId(page, `export-png-${chart}`).click());
    expect(png.download.suggestedFilename()).toMatch(/\.png$/);
    expect([...png.bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.bytes.length).toBeGreaterThan(2000);
    const svg = await catchDownload(page, () => byId(page, `export-svg-${chart}`).click());
    expect(svg.download.suggestedFilename()).toMatch(/\.svg$/);
    expect(svg.text).toMatch(/<svg[\s>]/);
    expect(svg.text).toMatch(/<\/svg>\s*$/);
  }
  const svgMap = await catchDownload(page, () => byId(page, 'export-svg-map').click());
  expect((svgMap.text.match(/<circle/g) ?? []).length).toBeGreaterThanOrEqual(275);
  const json = await catchDownload(page, () => byId(page, 'export-json').click());
  const parsed = JSON.parse(json.text);
  expect(JSON.stringify(parsed)).toContain('"ghost"');
});

test('a hostile .pt (pickle calling os.system) shows an error and leaves the loaded set intact', async () => {
  await byId(page, 'file-input').setInputFiles([{ name: 'evil.pt', mimeType: 'application/octet-stream', buffer: Buffer.from(hostilePt()) }]);
  await expect(byId(page, 'load-error')).toBeVisible();
  await expect(byId(page, 'load-error')).toContainText('os.system');
  await expect(byId(page, 'map')).toHaveAttribute('data-points', '275');
  await expect(byId(page, 'scree')).toContainText('27.6 %');
});

test('a truncated file shows an error and leaves the loaded set intact', async () => {
  const ghost = readFileSync(path.join(SHARED_VECTORS, 'ghost.pt'));
  await byId(page, 'file-input').setInputFiles([{ name: 'ghost.pt', mimeType: 'application/octet-stream', buffer: Buffer.from(truncated(ghost, 3000)) }]);
  await expect(byId(page, 'load-error')).toBeVisible();
  await expect(byId(page, 'load-error')).not.toBeEmpty();
  await expect(byId(page, 'map')).toHaveAttribute('data-points', '275');
});
