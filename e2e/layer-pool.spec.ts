/**
 * The layer chart's all-layer PCA on the pool of PCA workers (workers/pca-pool.ts), started by the
 * analysis worker for sets with 8+ layers; and the same chart when the pool's worker cannot load
 * (the analysis worker then walks the layers itself).
 */
import { test, expect, type Page } from '@playwright/test';
import { byId, expectMapPoints } from './fixtures/app';

const SRC = `/#src=${encodeURIComponent('synthetic:60x12d64')}`;

async function chartPolyline(page: Page): Promise<string> {
  const chart = byId(page, 'layer-chart').locator('svg polyline').first();
  await expect(chart).toBeVisible({ timeout: 60_000 });
  return (await chart.getAttribute('points')) ?? '';
}

test('the layer chart comes from the PCA pool, and the same chart without it', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const poolScripts: string[] = [];
  ctx.on('request', (r) => { if (/pca-pool\.worker/.test(r.url())) poolScripts.push(r.url()); });
  const p = await ctx.newPage();
  await p.goto(SRC);
  await expectMapPoints(p, 60);
  const pooled = await chartPolyline(p);
  expect(poolScripts.length).toBeGreaterThan(0);
  expect(pooled.split(' ').length).toBe(12);
  await ctx.close();

  // The pool's script is refused: the analysis worker draws the same chart on its own.
  const ctx2 = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  let refused = 0;
  await ctx2.route(/pca-pool\.worker/, (route) => { refused++; return route.abort(); });
  const q = await ctx2.newPage();
  await q.goto(SRC);
  await expectMapPoints(q, 60);
  expect(await chartPolyline(q)).toBe(pooled);
  expect(refused).toBeGreaterThan(0);
  await ctx2.close();
});
