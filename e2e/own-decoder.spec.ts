/**
 * Our int8 decoder in a real Chromium, inside the model worker: a hub-style repo offering q8 and q4
 * files (served from another origin) loads its `_quantized` file on WASM, on our decoder (runtime
 * 'own', no onnxruntime session) with a kernel pool of more than one thread when the page is
 * cross-origin isolated and has the cores; the load sentence says so in one sentence; it generates,
 * with projections along an axis and steering moving them; the synthetic model built in q8 in the
 * worker loads on it too; an fp32 model stays on onnxruntime-web.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { startHubServer, type HubServer } from './hub-server';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { syntheticConfig } from '../src/core/lm/model-source';
import { syntheticTokenizerFiles } from '../src/core/lm/tokenizer';
import { buildDecoder, type ModelDType } from '../src/core/lm/builder';

const REPO = 'e2e-org/synthetic-q8-ONNX';
let root: string;
let hub: HubServer;

function writeRepo(dir: string, dtypes: ModelDType[]) {
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const config = syntheticConfig({ num_hidden_layers: 3 });
  const ck = randomCheckpoint(config, { seed: 9 });
  for (const dtype of dtypes) {
    const built = buildDecoder(ck, { style: 'optimum', dtype });
    writeFileSync(path.join(dir, 'onnx', built.fileName), built.onnx);
  }
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: config.eos_token_id }));
  const tok = syntheticTokenizerFiles();
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJSON));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
}

test.beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'ps-e2e-own-'));
  writeRepo(path.join(root, REPO), ['q8', 'q4']);
  hub = await startHubServer({ root: { [REPO]: { dir: path.join(root, REPO), type: 'model' } } });
});

test.afterAll(async () => {
  await hub?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

test('8-bit weights run on our int8 decoder in the model worker, on several WASM threads when isolated, and generate', async ({ page }) => {
  test.setTimeout(120_000);
  page.on('console', (m) => { if (m.type() === 'error') console.log('[page]', m.text()); });
  await page.goto('/e2e/pages/runtime.html');
  await expect(page.locator('#status')).toHaveText('ready');
  const isolated = await page.evaluate(() => self.crossOriginIsolated);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  expect(isolated).toBe(true);

  const info = await page.evaluate(([h, repo]) => (window as any).runtime.load({ kind: 'hub', hub: h, repo, revision: 'main' }, 'wasm'), [hub.origin, REPO]);
  expect(info.backend).toBe('wasm');
  expect(info.runtime).toBe('own');
  expect(info.file).toBe('onnx/model_quantized.onnx');
  expect(info.dtype).toBe('q8');
  expect(info.style).toBe('optimum');
  expect(info.threads).toBe(Math.min(4, cores));
  if (cores > 1) expect(info.threads).toBeGreaterThan(1);
  expect(info.reason).toMatch(new RegExp(`^onnx/model_quantized\\.onnx \\(q8; .*\\), run by our int8 decoder \\(~4x onnxruntime-web's decode speed\\), on WASM with ${info.threads} threads \\(cross-origin isolated\\): the fastest on WASM`));
  expect(info.reason.trim().split(/\.\s+\S/).length).toBe(1);
  expect(hub.count(`/${REPO}/resolve/main/onnx/model_q4.onnx`)).toBe(0);

  // greedy tokens, with projections along an axis; steering at layer 1 moves layer 1's projection by alpha
  const L = info.numLayers, D = info.hiddenSize;
  const axis = Array.from({ length: L * D }, (_, i) => (i % D === 0 ? 1 : 0)); // unit rows: e_0 at every layer
  const run = async (steer: number[] | undefined) => {
    await page.evaluate(([a, s]) => (window as any).runtime.start({ promptIds: [72, 105, 33], maxNewTokens: 5, stopIds: [], params: { axis: a, ...(s ? { steer: s } : {}) } }), [axis, steer] as const);
    return page.evaluate(() => (window as any).runtime.finish());
  };
  const plain = await run(undefined);
  expect(plain.ids).toHaveLength(5);
  expect(plain.projections[0]).toHaveLength(L);
  const alpha = 3;
  const steer = Array.from({ length: L * D }, (_, i) => (i === 1 * D ? alpha : 0));
  const steered = await run(steer);
  expect(steered.ids).toHaveLength(5);
  // the first token's projections: the prompt is the same, so only the steering differs
  expect(steered.projections[0][0]).toBeCloseTo(plain.projections[0][0], 4);
  expect(steered.projections[0][1] - plain.projections[0][1]).toBeCloseTo(alpha, 3);

  // the synthetic model, built in q8 in the worker, opens on our decoder too; fp32 stays on onnxruntime-web
  const syn = await page.evaluate(() => (window as any).runtime.load({ kind: 'synthetic', seed: 3, dtype: 'q8' }, 'wasm'));
  expect(syn.runtime).toBe('own');
  await page.evaluate(() => (window as any).runtime.start({ promptIds: [72, 105], maxNewTokens: 3, stopIds: [] }));
  expect((await page.evaluate(() => (window as any).runtime.finish())).ids).toHaveLength(3);
  const fp32 = await page.evaluate(() => (window as any).runtime.load({ kind: 'synthetic', seed: 3 }, 'wasm'));
  expect(fp32.runtime).toBe('onnxruntime-web');
  expect(fp32.reason).toMatch(/, run by onnxruntime-web, on WASM/);
});
