/**
 * The model runtime in a real Chromium: the test page's worker loads a synthetic model through the
 * hub URL scheme from a local server, generates with per-layer taps, takes a new steering
 * coefficient mid-generation, is interrupted, and generates again. No request may leave 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { startHubServer, type HubServer } from './hub-server';
import { writeSyntheticModelRepo } from './fixtures/synthetic-model';

const REPO = 'e2e-org/synthetic-qwen3-ONNX';
const L = 4;
const D = 64;

interface PlainEvent { index: number; id: number; text: string; projections: number[] | null; stop: boolean }

let root: string;
let hub: HubServer;

test.beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'ps-e2e-runtime-'));
  const dir = path.join(root, REPO);
  writeSyntheticModelRepo(dir, { layers: L, hiddenSize: D, seed: 11 });
  hub = await startHubServer({ root: { [REPO]: { dir, type: 'model' } } });
});

test.afterAll(async () => {
  await hub?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function waitForEvents(page: Page, n: number): Promise<PlainEvent[]> {
  await page.waitForFunction((k) => (window as any).runtime.events().length >= k, n, { timeout: 60_000 });
  return page.evaluate(() => (window as any).runtime.events());
}

test('the model worker loads from the hub scheme, streams taps, takes steering mid-generation, interrupts and generates again', async ({ page, context }) => {
  const offHost: string[] = [];
  const seen: string[] = [];
  // Every request (page and worker) is checked; anything not on 127.0.0.1 is refused and recorded.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    seen.push(url.href);
    if (url.protocol !== 'blob:' && url.protocol !== 'data:' && url.hostname !== '127.0.0.1') {
      offHost.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') console.log('[page]', m.text());
  });

  await page.goto('/e2e/pages/runtime.html');
  await expect(page.locator('#status')).toHaveText('ready');

  const info = await page.evaluate(
    ([hubOrigin, repo]) => (window as any).runtime.load({ kind: 'hub', hub: hubOrigin, repo, revision: 'main', dtype: 'fp32' }, 'wasm'),
    [hub.origin, REPO],
  );
  expect(info.backend).toBe('wasm');
  expect(info.numLayers).toBe(L);
  expect(info.hiddenSize).toBe(D);
  expect(info.reason).toMatch(/WASM/);
  expect(info.reason).toMatch(/single-threaded|threads/);
  expect(await page.evaluate(() => (window as any).runtime.progressCount())).toBeGreaterThan(0);
  // The files came through the hub URL scheme, external data included.
  expect(hub.count(`/${REPO}/resolve/main/onnx/model.onnx_data`)).toBeGreaterThan(0);
  expect(hub.count(`/${REPO}/resolve/main/tokenizer.json`)).toBeGreaterThan(0);

  // A unit axis per layer (the same direction everywhere) and a steering vector along it at layer 1.
  const dir = Array.from({ length: D }, (_, j) => Math.cos(j * 0.71));
  const axis = Array.from({ length: L }, () => dir).flat();
  const unit = (() => {
    const n = Math.hypot(...dir);
    return dir.map((x) => x / n);
  })();
  const alpha = 6;
  const steer = Array.from({ length: L }, (_, l) => (l === 1 ? unit.map((x) => alpha * x) : new Array(D).fill(0))).flat();
  const messages = [{ role: 'user', content: 'Tell me who you are.' }];

  // 1. A baseline: greedy, no interventions, stop tokens off (always 12 tokens).
  await page.evaluate(([m, a]) => (window as any).runtime.start({ messages: m, maxNewTokens: 12, stopIds: [], params: { axis: a } }), [messages, axis] as const);
  const baseline = await page.evaluate(() => (window as any).runtime.finish());
  expect(baseline.ids).toHaveLength(12);
  expect(baseline.projections[0]).toHaveLength(L);
  expect(baseline.decodeTokensPerSecond).toBeGreaterThanOrEqual(0);

  // Teacher forcing over prompt + reply (the drift API) reproduces the streamed taps: token k was
  // chosen by the pass at position prompt_len - 1 + k.
  const promptIds: number[] = (await page.evaluate((m) => (window as any).runtime.chatPrompt(m), messages)).ids;
  const tf: number[][] = await page.evaluate(([ids, a]) => (window as any).runtime.forward(ids, a), [[...promptIds, ...baseline.ids], axis] as const);
  expect(tf).toHaveLength(promptIds.length + baseline.ids.length);
  for (let k = 0; k < baseline.ids.length; k++) {
    tf[promptIds.length - 1 + k].forEach((p, l) => expect(p).toBeCloseTo(baseline.projections[k][l], 3));
  }

  // 2. Same generation, long; after the first events, steering is switched on from the page, then interrupted.
  await page.evaluate(([m, a]) => (window as any).runtime.start({ messages: m, maxNewTokens: 1500, stopIds: [], params: { axis: a } }), [messages, axis] as const);
  await waitForEvents(page, 2);
  await page.evaluate((s) => (window as any).runtime.setParams({ steer: s }), steer);
  const afterChange = (await page.evaluate(() => (window as any).runtime.events())).length;
  await waitForEvents(page, afterChange + 3);
  await page.evaluate(() => (window as any).runtime.interrupt());
  const steered = await page.evaluate(() => (window as any).runtime.finish());
  const events: PlainEvent[] = await page.evaluate(() => (window as any).runtime.events());
  expect(steered.stopReason).toBe('interrupted');
  expect(steered.ids.length).toBeLessThan(1500);
  expect(events).toHaveLength(steered.ids.length);

  // 3. After the interrupt the worker generates again: unsteered, at least as many tokens (and at least the
  // baseline's 12, however early the interrupt landed), reproducing the baseline.
  const n = Math.max(steered.ids.length, baseline.ids.length);
  await page.evaluate(([m, a, k]) => (window as any).runtime.start({ messages: m, maxNewTokens: k, stopIds: [], params: { axis: a } }), [messages, axis, n] as const);
  const again = await page.evaluate(() => (window as any).runtime.finish());
  expect(again.ids.slice(0, 12)).toEqual(baseline.ids);
  expect(again.ids).toHaveLength(n);

  // The first pass that saw the new coefficient: layer 1's tap rises by exactly alpha there (its input
  // token and history are the unsteered run's), layer 0 (before the steered layer) is unchanged, and
  // every earlier event equals the unsteered run.
  const s = events.findIndex((e) => Math.abs(e.projections![1] - again.projections[e.index][1]) > 1e-3);
  expect(s).toBeGreaterThan(0);
  expect(s).toBeLessThanOrEqual(afterChange + 1);
  for (let k = 0; k < s; k++) {
    expect(events[k].id).toBe(again.ids[k]);
    expect(events[k].projections![0]).toBeCloseTo(again.projections[k][0], 4);
  }
  expect(events[s].projections![1] - again.projections[s][1]).toBeCloseTo(alpha, 3);
  expect(events[s].projections![0]).toBeCloseTo(again.projections[s][0], 4);

  // The ORT wasm binary came from the app itself; nothing left 127.0.0.1.
  expect(seen.some((u) => u.startsWith(`http://127.0.0.1:${process.env.E2E_PORT ?? 4173}/`) && u.endsWith('.wasm'))).toBe(true);
  expect(offHost).toEqual([]);
});

test('on WebGPU (SwiftShader) the KV cache stays on the GPU and the taps agree with WASM', async ({ page }) => {
  // SwiftShader compiles every WebGPU kernel on the CPU: about 2.5 minutes on 2 busy cores, so this
  // runs when asked for (E2E_WEBGPU=1), not in every CI run. It passed when this was written.
  test.skip(!process.env.E2E_WEBGPU, 'set E2E_WEBGPU=1 to run the (slow) SwiftShader WebGPU check');
  test.setTimeout(300_000);
  await page.goto('/e2e/pages/runtime.html');
  await expect(page.locator('#status')).toHaveText('ready');
  const hasAdapter = await page.evaluate(async () => {
    const gpu = (navigator as any).gpu;
    return !!gpu && !!(await gpu.requestAdapter().catch(() => null));
  });
  test.skip(!hasAdapter, 'no WebGPU adapter in this Chromium');
  const source = { kind: 'hub', hub: hub.origin, repo: REPO, revision: 'main', dtype: 'fp32' };
  const axis = Array.from({ length: L * D }, (_, i) => Math.sin(i * 0.13));
  const messages = [{ role: 'user', content: 'Hello there.' }];
  const run = async (device: string) => {
    const info = await page.evaluate(([s, d]) => (window as any).runtime.load(s, d), [source, device] as const);
    await page.evaluate(([m, a]) => (window as any).runtime.start({ messages: m, maxNewTokens: 6, stopIds: [], params: { axis: a } }), [messages, axis] as const);
    return { info, res: await page.evaluate(() => (window as any).runtime.finish()) };
  };
  const gpu = await run('webgpu');
  expect(gpu.info.backend).toBe('webgpu');
  expect(gpu.info.reason).toMatch(/WebGPU/);
  const wasm = await run('wasm');
  expect(gpu.res.ids).toHaveLength(6);
  // Same first token (prefill) and close taps on it; later tokens may part at near-ties.
  expect(gpu.res.ids[0]).toBe(wasm.res.ids[0]);
  gpu.res.projections[0].forEach((p: number, l: number) => expect(Math.abs(p - wasm.res.projections[0][l])).toBeLessThan(1e-2));
  // Decoding with the GPU-resident cache reproduces the WASM run wherever the tokens agree.
  const agree = gpu.res.ids.findIndex((id: number, k: number) => id !== wasm.res.ids[k]);
  const n = agree < 0 ? 6 : agree;
  for (let k = 1; k < n; k++) gpu.res.projections[k].forEach((p: number, l: number) => expect(Math.abs(p - wasm.res.projections[k][l])).toBeLessThan(1e-2));
});
