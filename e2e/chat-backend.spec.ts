/**
 * The chat lab's backend selector in a real Chromium: WASM asked for is what the worker loads (no
 * WebGPU probe in its reason), the choice survives a reload of the tab (session storage), and
 * `auto` goes back to the worker's own rules (which look at WebGPU first and say what they found);
 * the weights setting defaults to `auto` too (the picker's fastest file for the backend).
 */
import { test, expect } from '@playwright/test';

test('auto / WebGPU / WASM: the choice reaches the model worker and is kept for the session', async ({ page }) => {
  await page.goto('/#tab=chat');
  await expect(page.getByTestId('chat-lab')).toBeVisible({ timeout: 60_000 });
  const select = page.getByTestId('chat-backend-select');
  await expect(select).toHaveValue('auto');
  await expect(select.locator('option')).toHaveText(['auto', 'WebGPU', 'WASM']);
  await select.selectOption('wasm');
  // the weights default to 'auto': on WASM every listed model is planned as its 8-bit file, on our decoder
  await expect(page.getByTestId('chat-dtype')).toHaveValue('auto');
  const plans = page.getByTestId('chat-model-plan');
  expect(await plans.count()).toBeGreaterThan(0);
  for (const t of await plans.allTextContents()) expect(t).toMatch(/memory on WASM · .*· q8$/);
  await page.getByTestId('chat-model-synthetic').click();
  const backend = page.getByTestId('chat-backend');
  await expect(backend).toContainText('Backend: WASM', { timeout: 60_000 });
  // Asked for WASM, the worker never probed WebGPU: its reason names no adapter.
  await expect(backend).toContainText(/synthetic qwen3 \(4 layers, d 64, seed 0\), run by [^,]+, on WASM/);
  await expect(backend).not.toContainText(/adapter/);
  // Nor is WASM excused as a fallback: it was asked for.
  await expect(backend).not.toContainText('nothing is wrong');

  await page.reload();
  await expect(page.getByTestId('chat-lab')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('chat-backend-select')).toHaveValue('wasm');

  // auto: the worker probes WebGPU (a hardware adapter is used; a software one or none is named in the reason).
  await page.getByTestId('chat-backend-select').selectOption('auto');
  await page.getByTestId('chat-model-synthetic').click();
  await expect(page.getByTestId('chat-backend')).toContainText(/Backend: WebGPU|software adapter|adapter unavailable/, { timeout: 60_000 });
});
