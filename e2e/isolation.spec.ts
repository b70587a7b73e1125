/**
 * Cross-origin isolation and the weights picker in a real Chromium:
 * 1. the preview server (as the dev server) sends COOP/COEP: the page is crossOriginIsolated, hub
 *    downloads from another origin (the local hub, CORS) still work, the model worker runs WASM on
 *    more than one thread, and it loads the file the picker chose for WASM (the int8 `_quantized`
 *    file over q4; a q4-only repo converted to int8 at load for our decoder) and says so in one sentence;
 * 2. a static host that sends no headers at all: public/sw.js adds them, and after its one reload
 *    the page is isolated too.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, mkdirSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { startHubServer, type HubServer } from './hub-server';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { syntheticConfig } from '../src/core/lm/model-source';
import { syntheticTokenizerFiles } from '../src/core/lm/tokenizer';
import { buildDecoder, type ModelDType } from '../src/core/lm/builder';

const BOTH = 'e2e-org/synthetic-both-ONNX';
const Q4ONLY = 'e2e-org/synthetic-q4-ONNX';
let root: string;
let hub: HubServer;

function writeRepo(dir: string, dtypes: ModelDType[]) {
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const config = syntheticConfig({ num_hidden_layers: 2 });
  const ck = randomCheckpoint(config, { seed: 5 });
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
  root = mkdtempSync(path.join(tmpdir(), 'ps-e2e-isolation-'));
  writeRepo(path.join(root, BOTH), ['q4', 'q8', 'q4f16']);
  writeRepo(path.join(root, Q4ONLY), ['q4']);
  hub = await startHubServer({ root: { [BOTH]: { dir: path.join(root, BOTH), type: 'model' }, [Q4ONLY]: { dir: path.join(root, Q4ONLY), type: 'model' } } });
});

test.afterAll(async () => {
  await hub?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

test('the preview server isolates the page; the worker runs WASM on several threads with the picked weights; the hub (another origin) still works', async ({ page }) => {
  page.on('console', (m) => { if (m.type() === 'error') console.log('[page]', m.text()); });
  const res = await page.goto('/e2e/pages/runtime.html');
  expect(res?.headers()['cross-origin-opener-policy']).toBe('same-origin');
  expect(res?.headers()['cross-origin-embedder-policy']).toBe('require-corp');
  await expect(page.locator('#status')).toHaveText('ready');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);

  const info = await page.evaluate(([h, repo]) => (window as any).runtime.load({ kind: 'hub', hub: h, repo, revision: 'main' }, 'wasm'), [hub.origin, BOTH]);
  expect(info.backend).toBe('wasm');
  expect(info.threads).toBe(Math.min(4, cores));
  if (cores > 1) expect(info.threads).toBeGreaterThan(1);
  expect(info.file).toBe('onnx/model_quantized.onnx');
  expect(info.dtype).toBe('q8');
  expect(info.reason).toMatch(new RegExp(`model_quantized\\.onnx .* on WASM with ${info.threads} threads \\(cross-origin isolated\\): the fastest on WASM`));
  expect(info.reason.trim().split(/\.\s+\S/).length).toBe(1); // one sentence
  expect(hub.count(`/${BOTH}/resolve/main/onnx/model_quantized.onnx`)).toBe(1);
  expect(hub.count(`/${BOTH}/resolve/main/onnx/model_q4.onnx`)).toBe(0);
  // it generates
  await page.evaluate(() => (window as any).runtime.start({ promptIds: [72, 105], maxNewTokens: 4, stopIds: [] }));
  expect((await page.evaluate(() => (window as any).runtime.finish())).ids).toHaveLength(4);

  // only q4 on offer: converted to int8 at load, for our int8 decoder
  const q4 = await page.evaluate(([h, repo]) => (window as any).runtime.load({ kind: 'hub', hub: h, repo, revision: 'main' }, 'wasm'), [hub.origin, Q4ONLY]);
  expect(q4.file).toBe('onnx/model_q4.onnx');
  expect(q4.convert).toBe('int8');
  expect(q4.runtime).toBe('own');
  expect(q4.threads).toBe(info.threads);
  expect(q4.reason).toMatch(/converted to int8 at load; .*\), run by our int8 decoder .*: the fastest on WASM without an 8-bit file/);
  await page.evaluate(() => (window as any).runtime.start({ promptIds: [72, 105], maxNewTokens: 3, stopIds: [] }));
  expect((await page.evaluate(() => (window as any).runtime.finish())).ids).toHaveLength(3);
});

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.json': 'application/json' };

test('a static host with no header control: the service worker isolates the page after one reload', async ({ browser }) => {
  const dist = path.resolve(process.env.E2E_DIST ?? 'dist');
  // a bare static server: no COOP/COEP, no CORS, nothing
  const server: Server = createServer(async (req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(dist, p.endsWith('/') ? p + 'index.html' : p);
    if (!file.startsWith(dist)) { res.writeHead(403).end(); return; }
    try {
      const body = await fsp.readFile(file);
      res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const first = await page.goto(`${origin}/index.html`);
    expect(first?.headers()['cross-origin-embedder-policy']).toBeUndefined();
    await page.waitForFunction(() => self.crossOriginIsolated === true, undefined, { timeout: 30_000 });
    // a page opened later is controlled from the start, and isolated at once
    const runtime = await context.newPage();
    await runtime.goto(`${origin}/e2e/pages/runtime.html`);
    await expect(runtime.locator('#status')).toHaveText('ready');
    expect(await runtime.evaluate(() => self.crossOriginIsolated)).toBe(true);
  } finally {
    await context.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
