/** Many points: a 20,000 x 64 array with names draws every point (never subsampled) and stays interactive. */
import { test, expect } from '@playwright/test';
import { byId, expectMapPoints } from './fixtures/app';
import { writeManyPoints, type ManyFixture } from './fixtures/many';

let fx: ManyFixture;
test.beforeAll(() => {
  fx = writeManyPoints(20_000, 64);
});
test.afterAll(() => fx?.remove());

test('20,000 points from an .npy + names.json are all drawn, and zoom keeps them', async ({ page }) => {
  await page.goto('/');
  await byId(page, 'file-input').setInputFiles(fx.paths);
  const map = await expectMapPoints(page, 20_000);
  await expect(map).toHaveAttribute('data-default', '1');
  await expect(byId(page, 'set-summary')).toContainText(/20[,.\u202f ]?000/);
  const box = (await map.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 5; i++) await page.mouse.wheel(0, -200);
  await expect(map).toHaveAttribute('data-points', '20000');
  await byId(page, 'search').fill('response-12345');
  await expect(map).toHaveAttribute('data-highlighted', /^[1-9]\d*$/);
});
