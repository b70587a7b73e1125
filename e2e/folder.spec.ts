/** The folder picker: the whole vectors/ folder through <input webkitdirectory>. */
import { test } from '@playwright/test';
import { byId, expectMapPoints } from './fixtures/app';
import { SHARED_VECTORS, HAVE_SHARED_VECTORS, SHARED_REASON } from './fixtures/shared-data';

test.skip(!HAVE_SHARED_VECTORS, SHARED_REASON);

test('loading the shared vectors/ folder through the folder input draws 275 roles and the default', async ({ page }) => {
  await page.goto('/');
  await byId(page, 'folder-input').setInputFiles(SHARED_VECTORS);
  const map = await expectMapPoints(page, 275);
  await test.expect(map).toHaveAttribute('data-default', '1');
});
