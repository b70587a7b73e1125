/**
 * The explorer's own features in a real Chromium on the shared real dataset (275 roles + default,
 * Llama 3.1 8B layer 16): tabs, the polished map (Esc, Isolate, default card, keyboard stepping,
 * the 390 px header), what is said (no-layer exports, projection reference, no ties), and the
 * Projector-like features (neighbours, custom axis, UMAP, groups and tags).
 */
import { test, expect, type Page } from '@playwright/test';
import { existsSync } from 'node:fs';
import { byId, catchDownload, clearSelection, expectMapPoints, loadSharedThroughFileInput, sharedReference } from './fixtures/app';
import { SHARED_VECTORS, sharedVectorPaths } from './fixtures/shared-data';

test.skip(!existsSync(SHARED_VECTORS), `needs the shared dataset at ${SHARED_VECTORS}`);

let page: Page;

test.beforeAll(async ({ browser }) => {
  if (!existsSync(SHARED_VECTORS)) return;
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  await page.goto('/');
  await loadSharedThroughFileInput(page);
});

test.afterAll(async () => {
  await page?.close();
});

async function subtitle(): Promise<string> {
  return (await byId(page, 'map-subtitle').textContent()) ?? '';
}

test('tabs: Explorer | Chat lab | Extraction, in the hash, by keyboard, the map kept while away', async () => {
  const tabs = page.getByRole('tab');
  await expect(tabs).toHaveText(['Explorer', 'Chat lab', 'Extraction']);
  await expect(byId(page, 'tab-explorer')).toHaveAttribute('aria-selected', 'true');
  // Mark the map's element: if the explorer were unmounted and mounted again, the mark would be gone.
  await byId(page, 'map').evaluate((el) => el.setAttribute('data-e2e-mark', 'kept'));
  await byId(page, 'tab-chat').click();
  await expect(byId(page, 'tab-chat')).toHaveAttribute('aria-selected', 'true');
  expect(new URL(page.url()).hash).toContain('tab=chat');
  await expect(byId(page, 'chat-lab')).toBeVisible();
  await expect(byId(page, 'map')).toBeHidden();
  // Arrow keys move between tabs (the focused tab activates).
  await byId(page, 'tab-chat').focus();
  await page.keyboard.press('ArrowRight');
  await expect(byId(page, 'tab-extract')).toHaveAttribute('aria-selected', 'true');
  await expect(byId(page, 'tab-extract')).toBeFocused();
  expect(new URL(page.url()).hash).toContain('tab=extract');
  await page.keyboard.press('Home');
  await expect(byId(page, 'tab-explorer')).toHaveAttribute('aria-selected', 'true');
  expect(new URL(page.url()).hash).not.toContain('tab=');
  await expect(byId(page, 'map')).toBeVisible();
  await expect(byId(page, 'map')).toHaveAttribute('data-e2e-mark', 'kept');
  await expectMapPoints(page, 275);
  // A render counter for benches that count map renders.
  expect(Number(await byId(page, 'map').getAttribute('data-renders'))).toBeGreaterThan(0);
});

test('Esc leaving Enlarge keeps the pins; Isolate says how many points are drawn', async () => {
  await byId(page, 'search').fill('ghost');
  await byId(page, 'search').press('Enter');
  await expect(byId(page, 'pinned-card')).toHaveCount(1);
  await byId(page, 'enlarge-map').click();
  await expect(page.locator('.map-panel.enlarged')).toHaveCount(1);
  await page.keyboard.press('Escape');
  await expect(page.locator('.map-panel.enlarged')).toHaveCount(0);
  await expect(byId(page, 'pinned-card')).toHaveCount(1);
  await byId(page, 'search').fill('');
  await byId(page, 'isolate').click();
  await expect(byId(page, 'map')).toHaveAttribute('data-points', '1');
  expect(await subtitle()).toContain('1 of 275 points drawn');
  // The pressed button stays readable: its text colour differs from its background.
  const { color, bg } = await byId(page, 'isolate').evaluate((el) => ({ color: getComputedStyle(el).color, bg: getComputedStyle(el).backgroundColor }));
  expect(color).not.toBe(bg);
  await byId(page, 'isolate').hover();
  const hovered = await byId(page, 'isolate').evaluate((el) => ({ color: getComputedStyle(el).color, bg: getComputedStyle(el).backgroundColor }));
  expect(hovered.color).not.toBe(hovered.bg);
  await byId(page, 'isolate').click();
  await page.keyboard.press('Escape');
  await expect(byId(page, 'pinned-card')).toHaveCount(0);
  expect(await subtitle()).toContain('275 of 275 points drawn, none left out');
});

test('hovering the map re-renders the map, not the page (the store is read through selectors)', async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = (await byId(page, 'map').boundingBox())!;
  const pageBefore = Number(await byId(page, 'explorer').getAttribute('data-renders'));
  const mapBefore = Number(await byId(page, 'map').getAttribute('data-renders'));
  for (let i = 0; i < 30; i++) await page.mouse.move(box.x + box.width * (0.2 + i * 0.02), box.y + box.height * 0.5);
  await page.mouse.move(box.x + 3, box.y + 3);
  await expect.poll(async () => Number(await byId(page, 'map').getAttribute('data-renders'))).toBeGreaterThan(mapBefore);
  expect(Number(await byId(page, 'explorer').getAttribute('data-renders'))).toBe(pageBefore);
});

test('the default star can be hovered and has its card', async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  const at = await byId(page, 'map').getAttribute('data-default-at');
  expect(at).toMatch(/^\d+,\d+$/);
  const [x, y] = at!.split(',').map(Number);
  const box = (await byId(page, 'map').boundingBox())!;
  await page.mouse.move(box.x + x, box.y + y);
  await expect(byId(page, 'default-card')).toBeVisible();
  await expect(byId(page, 'default-card')).toContainText('Assistant (default)');
  await page.mouse.move(box.x + 3, box.y + 3);
  await expect(byId(page, 'default-card')).toHaveCount(0);
});

test('the keyboard steps from point to point: n takes the rank-1 role, Shift+arrows move, Enter pins', async () => {
  const { set, pca } = await sharedReference();
  void pca;
  await page.locator('[data-testid=map] canvas').focus();
  await page.keyboard.press('n');
  const card = byId(page, 'hover-card');
  await expect(card).toBeVisible();
  // rank 1 = the most Assistant-like role
  await expect(card).toContainText('1 / 275');
  const first = (await card.locator('.card-name').textContent())!;
  expect(set.names.some((n) => first.startsWith(n))).toBe(true);
  await page.keyboard.press('Shift+ArrowLeft');
  await expect(card.locator('.card-name')).not.toHaveText(first);
  await page.keyboard.press('Enter');
  await expect(byId(page, 'pinned-card')).toHaveCount(1);
  await page.keyboard.press('Escape');
  await expect(byId(page, 'pinned-card')).toHaveCount(0);
});

test('a pinned role lists its nearest neighbours by cosine at this layer', async () => {
  await byId(page, 'search').fill('ghost');
  await byId(page, 'search').press('Enter');
  const rows = byId(page, 'pinned-card').getByTestId('neighbour-row');
  await expect(rows).toHaveCount(8);
  // Same as the core on the full 4096-d vectors
  const { set } = await sharedReference();
  const g = set.names.indexOf('ghost');
  const X = set.layer(0), d = set.dim;
  const cos = (i: number) => {
    let s = 0, a = 0, b = 0;
    for (let j = 0; j < d; j++) { s += X[g * d + j] * X[i * d + j]; a += X[g * d + j] ** 2; b += X[i * d + j] ** 2; }
    return s / Math.sqrt(a * b);
  };
  const best = set.names.map((_, i) => i).filter((i) => i !== g).sort((p, q) => cos(q) - cos(p))[0];
  await expect(rows.first()).toContainText(set.names[best]);
  await expect(rows.first()).toContainText(cos(best).toFixed(3));
  await clearSelection(page);
});

test('a custom axis: @default − @roles is the Assistant Axis (cos 1.000), with a labelled axis', async () => {
  await byId(page, 'layout-custom').click();
  await expect(byId(page, 'custom-info')).toContainText('cos with the Assistant Axis 1.000');
  await expect(byId(page, 'map')).toHaveAttribute('data-layout', 'custom');
  await expectMapPoints(page, 275);
  const svg = await catchDownload(page, () => byId(page, 'export-svg-map').click());
  expect(svg.text).toContain('@default − @roles');
  expect(svg.download.suggestedFilename()).toBe('persona-space-map-custom.svg');
  await byId(page, 'custom-a').fill('ghost, spirit');
  await byId(page, 'custom-b').fill('assistant');
  await byId(page, 'custom-run').click();
  await expect(byId(page, 'custom-info')).toContainText(/vs 1 vectors/);
  await byId(page, 'custom-a').fill('zzzz-no-such-role');
  await byId(page, 'custom-run').click();
  await expect(byId(page, 'custom-error')).toContainText('first query matches no member');
  await expectMapPoints(page, 275);
});

test('UMAP beside PCA: seeded, with progress, same seed gives the same picture', async () => {
  await byId(page, 'layout-umap').click();
  await expect(byId(page, 'map')).toHaveAttribute('data-layout', 'umap', { timeout: 60_000 });
  await expectMapPoints(page, 275);
  const a = await catchDownload(page, () => byId(page, 'export-svg-map').click());
  expect(a.text).toContain('UMAP 1 (seed 42, cosine)');
  await byId(page, 'umap-run').click();
  await expect(byId(page, 'umap-run')).toBeVisible({ timeout: 60_000 });
  const b = await catchDownload(page, () => byId(page, 'export-svg-map').click());
  const circles = (t: string) => t.match(/<circle[^>]*>/g)!.join('\n');
  expect(circles(b.text)).toBe(circles(a.text));
  await byId(page, 'umap-seed').fill('7');
  await byId(page, 'umap-run').click();
  // cancel is offered while it runs (it may finish before the click lands on a fast machine)
  await expect(byId(page, 'umap-run')).toBeVisible({ timeout: 60_000 });
  const c = await catchDownload(page, () => byId(page, 'export-svg-map').click());
  expect(c.text).toContain('seed 7');
  expect(circles(c.text)).not.toBe(circles(a.text));
  // in three dimensions, drawn in 3D
  await byId(page, 'umap-dims').selectOption('3');
  await byId(page, 'umap-run').click();
  await expect(byId(page, 'map')).toHaveAttribute('data-mode', '3d', { timeout: 60_000 });
  await expectMapPoints(page, 275);
  await byId(page, 'umap-dims').selectOption('2');
  await byId(page, 'layout-pca').click();
  await expect(byId(page, 'map')).toHaveAttribute('data-mode', '2d');
  await expect(byId(page, 'map')).toHaveAttribute('data-layout', 'pca');
});

test('colour and filter by group: tag a selection, colour by tag, hide the untagged', async () => {
  await byId(page, 'search').fill('ghost, pirate');
  await byId(page, 'search').press('Enter');
  await byId(page, 'tag-input').fill('spooky');
  await byId(page, 'tag-apply').click();
  await byId(page, 'color-select').selectOption('group');
  await expect(byId(page, 'group-legend')).toContainText('spooky');
  await expect(byId(page, 'group-legend')).toContainText('untagged');
  await byId(page, 'search').fill('');
  await clearSelection(page);
  await byId(page, 'group-filter').getByLabel('untagged').uncheck();
  // The map redraws after the filter changes: wait for the filtered count, then read it.
  const points = async () => Number(await byId(page, 'map').getAttribute('data-points'));
  await expect.poll(points).toBeLessThan(10);
  const n = await points();
  expect(n).toBeGreaterThanOrEqual(2);
  expect(n).toBeLessThan(10);
  expect(await subtitle()).toContain(`${n} of 275 points drawn`);
  await byId(page, 'group-filter').getByLabel('untagged').check();
  await byId(page, 'group-by').selectOption('kind');
  await byId(page, 'color-select').selectOption('axis');
  await expectMapPoints(page, 275);
});

test('projections read raw or from the role centroid, with the default and centroid marks; exports say no layer', async () => {
  await expect(byId(page, 'axis-marks')).toContainText('h · axis');
  await byId(page, 'projection-ref').selectOption('centroid');
  await expect(byId(page, 'axis-marks')).toContainText('role centroid 0');
  await expect(byId(page, 'axis-marks')).toContainText('default ★');
  await byId(page, 'projection-ref').selectOption('raw');
  await expect(byId(page, 'ranking-ends')).toContainText('Assistant end');
  const csv = await catchDownload(page, () => byId(page, 'export-csv').click());
  expect(csv.download.suggestedFilename()).not.toMatch(/layer/);
  const json = await catchDownload(page, () => byId(page, 'export-json').click());
  expect(JSON.parse(json.text).layer).toBeNull();
  const png = await catchDownload(page, () => byId(page, 'export-png-map').click());
  expect(png.download.suggestedFilename()).toBe('persona-space-map.png');
});

test('the same files as set B get a name of their own in the comparison, and can be renamed', async () => {
  await byId(page, 'compare-load').click();
  await byId(page, 'compare-file-input').setInputFiles(sharedVectorPaths());
  await expect(byId(page, 'compare-pearson')).toContainText('1.000', { timeout: 60_000 });
  const a = (await byId(page, 'set-name-A').textContent())!.replace('✎', '').trim();
  await expect(byId(page, 'set-name-B')).toContainText('(set B)');
  await expect(byId(page, 'set-name-B')).toContainText('275 roles');
  expect((await byId(page, 'set-name-B').textContent())!.replace('✎', '').trim()).not.toBe(a);
  await byId(page, 'set-name-B').click();
  await byId(page, 'set-name-input-B').fill('copy of A');
  await byId(page, 'set-name-input-B').press('Enter');
  await expect(byId(page, 'compare-scatter')).toContainText('copy of A');
});

test('the default field stays after loading and re-analyses without a reload; the set can be renamed', async () => {
  await expect(byId(page, 'default-names')).toBeVisible();
  await expect(byId(page, 'default-current')).toContainText('now: default');
  // A name that is no member: a sentence, and the set on the map stays.
  await byId(page, 'default-names').fill('no-such-member');
  await byId(page, 'default-apply').click();
  await expect(byId(page, 'load-error')).toContainText('not a member', { timeout: 60_000 });
  await expectMapPoints(page, 275);
  // The member "assistant" as the default: it leaves the roles, the map re-analyses.
  await byId(page, 'default-names').fill('assistant');
  await byId(page, 'default-apply').click();
  await expect(byId(page, 'set-summary')).toContainText('default: assistant', { timeout: 60_000 });
  await expectMapPoints(page, 274);
  await expect(byId(page, 'map')).toHaveAttribute('data-default', '1');
  await expect(byId(page, 'default-names')).toBeVisible();
  await byId(page, 'default-names').fill('');
  await byId(page, 'default-apply').click();
  await expect(byId(page, 'set-summary')).toContainText('default: default', { timeout: 60_000 });
  await expectMapPoints(page, 275);
  await byId(page, 'set-name-A').click();
  await byId(page, 'set-name-input-A').fill('Llama 3.1 8B · L16');
  await byId(page, 'set-name-input-A').press('Enter');
  await expect(byId(page, 'set-name-A')).toContainText('Llama 3.1 8B · L16');
});

test('a share link restores the layout: a custom axis with its queries, UMAP with its seed', async ({ browser }) => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await p.goto(`/#src=${encodeURIComponent('synthetic:275x24d256')}&layer=5&pcx=1&pcy=2&color=axis&mode=2d&layout=custom&ca=${encodeURIComponent('@default')}&cb=${encodeURIComponent('@roles')}`);
  await expectMapPoints(p, 275);
  await expect(byId(p, 'map')).toHaveAttribute('data-layout', 'custom', { timeout: 60_000 });
  await expect(byId(p, 'custom-info')).toContainText('cos with the Assistant Axis 1.000');
  await expect(byId(p, 'layer-value')).toContainText('5');
  await byId(p, 'share-link').click();
  expect(await byId(p, 'share-url').inputValue()).toContain('layout=custom&ca=%40default&cb=%40roles');
  await p.goto('about:blank');
  await p.goto(`/#src=${encodeURIComponent('synthetic:275x24d256')}&pcx=1&pcy=2&color=axis&mode=2d&layout=umap&seed=3`);
  await expect(byId(p, 'map')).toHaveAttribute('data-layout', 'umap', { timeout: 60_000 });
  await expect(byId(p, 'umap-seed')).toHaveValue('3');
  await p.close();
});

test('the header works at 390 px: nothing runs off the side', async ({ browser }) => {
  const small = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await small.goto('/');
  await loadSharedThroughFileInput(small);
  const overflow = await small.evaluate(() => {
    const h = document.querySelector('.topbar')!;
    return { header: h.scrollWidth, page: document.documentElement.scrollWidth };
  });
  expect(overflow.header).toBeLessThanOrEqual(390);
  expect(overflow.page).toBeLessThanOrEqual(392);
  await expect(small.getByRole('tab', { name: 'Chat lab' })).toBeVisible();
  await small.close();
});
