/**
 * WebAssembly memories in a real Chromium: V8 reserves ~8 GiB of address space per wasm memory and
 * a renderer ~1 TiB, so a page and its workers hold ~124 memories. A model of 120 layers (tiny
 * width: 481 int8 linears) on a 2-thread kernel pool, in a cross-origin-isolated page:
 *   - e2e/pages/memories.html: its linears as the own decoder's `Linear`s with an int8 arena on the
 *     page and one in each pool helper load and run (one memory or two per thread), their outputs
 *     the same as on one thread; without arenas (a memory per linear and thread) they do not load;
 *   - e2e/pages/runtime.html: the same model, built in q8 by the model worker, loads on our decoder
 *     with a pool of 2+ threads and generates (needs OwnDecoder to pass an arena to its Linears).
 */
import { expect, test } from '@playwright/test';

const LAYERS = 120;

test('a 120-layer model\'s int8 linears on a 2-thread pool: with arenas they load and run (one-thread numbers); without, the renderer runs out of wasm memories', async ({ page }) => {
  test.setTimeout(180_000);
  page.on('console', (m) => { if (m.type() === 'error') console.log('[page]', m.text()); });
  await page.goto('/e2e/pages/memories.html');
  await expect(page.locator('#status')).toHaveText('ready');
  const info = await page.evaluate(() => (window as any).memories.info());
  expect(info.isolated).toBe(true);
  expect(info.simd).toBe(true);

  const two = await page.evaluate((l) => (window as any).memories.load(l, 2, true), LAYERS);
  expect(two.error).toBeUndefined();
  expect(two.ok).toBe(true);
  expect(two.threads).toBe(2);
  expect(two.linears).toBe(4 * LAYERS + 1);
  expect(two.instances).toBe(1); // one kernel module on this page (u8dot or dot), one memory
  const one = await page.evaluate((l) => (window as any).memories.load(l, 1, true), LAYERS);
  expect(one.ok).toBe(true);
  expect(one.instances).toBe(1);
  expect(two.sums).toEqual(one.sums);

  // a model that fits without arenas (21 layers: 85 linears on one thread): the same numbers as in arenas on 2 threads
  const own = await page.evaluate(() => (window as any).memories.load(21, 1, false));
  expect(own.error).toBeUndefined();
  const pooled = await page.evaluate(() => (window as any).memories.load(21, 2, true));
  expect(pooled.sums).toEqual(own.sums);

  // before arenas: a memory per linear and thread (962) is far past the renderer's ~124
  const before = await page.evaluate((l) => (window as any).memories.load(l, 2, false), LAYERS);
  expect(before.ok).toBe(false);
  expect(before.error).toMatch(/memory/i);
});

test('the 120-layer model built in q8 by the model worker loads on our decoder with a pool of 2+ threads and generates', async ({ page }) => {
  test.setTimeout(180_000);
  page.on('console', (m) => { if (m.type() === 'error') console.log('[page]', m.text()); });
  await page.goto('/e2e/pages/runtime.html');
  await expect(page.locator('#status')).toHaveText('ready');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  test.skip(cores < 2, 'one core: the model worker makes no kernel pool');
  const info = await page.evaluate((l) => (window as any).runtime.load({ kind: 'synthetic', seed: 3, dtype: 'q8', config: { num_hidden_layers: l } }, 'wasm'), LAYERS);
  expect(info.runtime).toBe('own');
  expect(info.numLayers).toBe(LAYERS);
  expect(info.threads).toBeGreaterThanOrEqual(2);
  expect(info.reason).not.toMatch(/did not start/);
  await page.evaluate(() => (window as any).runtime.start({ promptIds: [72, 105, 33], maxNewTokens: 4, stopIds: [] }));
  const r = await page.evaluate(() => (window as any).runtime.finish());
  expect(r.ids).toHaveLength(4);
});
