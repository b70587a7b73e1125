/**
 * Hostile downloads in Chromium: a web page served for a .safetensors, a truncated .pt, a size
 * over the per-file cap and a hub folder that lists itself. Each load fails with its one sentence,
 * the set loaded before stays on the map, and nothing bad is cached (the same URL fails again with
 * the same sentence instead of loading a poisoned copy). Last, a set whose names hold control
 * characters and markup exports the map as well-formed XML.
 */
import { test, expect, type Page } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import { writePt } from '../src/core/formats/pt';
import { tensorFromF32 } from '../src/core/tensor';
import { xmlWellFormedError } from '../src/core/testing/xml-wellformed';
import { byId, catchDownload, expectMapPoints } from './fixtures/app';

const N = 40;
const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Length, Content-Range, ETag, Link' };
const HTML = '<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>';
const good = writePt(tensorFromF32(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), [64]));

let server: Server;
let origin = '';
let page: Page;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }) => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'Access-Control-Allow-Headers': '*' });
      return res.end();
    }
    if (u.pathname === '/files/vectors.safetensors') {
      res.writeHead(200, { ...CORS, 'Content-Type': 'text/html; charset=utf-8' });
      return res.end(HTML);
    }
    if (u.pathname === '/files/cut.pt') {
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/octet-stream' });
      return res.end(Buffer.from(good.subarray(0, good.length - 60)));
    }
    if (u.pathname === '/files/huge.pt') {
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/octet-stream', 'Content-Length': String(3 * 2 ** 30) });
      res.write(Buffer.alloc(1024));
      return; // never more: the client must refuse on the header alone
    }
    if (u.pathname.startsWith('/api/datasets/o/n/tree/main/loop')) {
      const dir = decodeURIComponent(u.pathname.replace('/api/datasets/o/n/tree/main/', ''));
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' });
      return res.end(JSON.stringify([{ type: 'directory', path: dir }, { type: 'directory', path: `${dir}/loop` }]));
    }
    res.writeHead(404, CORS);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto('/');
  await byId(page, 'url-input').fill(`synthetic:${N}`);
  await byId(page, 'url-load').click();
  await expectMapPoints(page, N);
});

test.afterAll(async () => {
  await page?.close();
  server?.closeAllConnections?.();
  await new Promise((r) => server?.close(r));
});

async function loadFails(url: string, sentence: RegExp): Promise<void> {
  await byId(page, 'url-input').fill(url);
  await byId(page, 'url-load').click();
  await expect(byId(page, 'load-error')).toContainText(sentence, { timeout: 30_000 });
  // the set loaded before is still there
  await expectMapPoints(page, N);
}

// Between two tries of one URL another failure changes the sentence, so the second sentence is
// fresh: had the bad answer been cached, the second try would read it and fail differently.
const PAGE_RE = /answered with a web page \(text\/html\) instead of vectors\.safetensors: the address may lead to a sign-in, error or index page rather than the file; nothing was kept\./;
const CUT_RE = /sent cut\.pt, but it is not a PyTorch file \(.+\); nothing was kept\./;

test('a web page served with 200 for a .safetensors: one sentence, the set kept, and the same again (nothing cached)', async () => {
  await loadFails(`${origin}/files/vectors.safetensors`, PAGE_RE);
  await loadFails(`${origin}/files/cut.pt`, CUT_RE);
  await loadFails(`${origin}/files/vectors.safetensors`, PAGE_RE);
});

test('a truncated .pt is refused before caching, the set kept, the same again', async () => {
  await loadFails(`${origin}/files/cut.pt`, CUT_RE);
  await loadFails(`${origin}/files/vectors.safetensors`, PAGE_RE);
  await loadFails(`${origin}/files/cut.pt`, CUT_RE);
});

test('a Content-Length over the per-file cap is refused on the header, the set kept', async () => {
  await loadFails(`${origin}/files/huge.pt`, /huge\.pt \(3221 MB\) is larger than the 2 GiB one download may hold; it was not downloaded\./);
});

test('a hub folder whose listing nests itself without end stops with a sentence, the set kept', async () => {
  await loadFails(`${origin}/datasets/o/n/tree/main/loop`, /The listing of o\/n\/loop goes more than 32 folders deep; a folder may be listing itself\./);
});

test('names with control characters and markup: the map and the compare chart export as well-formed SVG', async () => {
  const names = ['bell\u0007one', 'esc\u001b[31m', 'nul\u0000x', 'a<b>&c', '"q" & \'s\'', ']]>', '__proto__', 'plain',
    'form\u000cfeed', 'vt\u000bx', 'tab\tin', 'ok'];
  const vectors = names.map((_, i) => Array.from({ length: 8 }, (_, j) => Math.sin((i + 1) * (j + 2)) + (i % 3)));
  await byId(page, 'file-input').setInputFiles({ name: 'hostile-names.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ names, vectors })) });
  await expectMapPoints(page, names.length);
  const svg = await catchDownload(page, () => byId(page, 'export-svg-map').click());
  expect(xmlWellFormedError(svg.text)).toBeNull();
  expect(svg.text).toContain('a&lt;b&gt;&amp;c');
  expect(svg.text).toContain('bell\ufffdone');
  // the compare chart names members in its tooltips: its SVG (serialised from the page) is well-formed too
  await byId(page, 'compare-load').click();
  await byId(page, 'compare-file-input').setInputFiles({ name: 'hostile-names.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ names, vectors })) });
  await expect(byId(page, 'compare-pearson')).toContainText('1.000', { timeout: 60_000 });
  const cmp = await catchDownload(page, () => byId(page, 'export-svg-compare').click());
  expect(cmp.text).toContain('<title>a&lt;b&gt;&amp;c');
  expect(xmlWellFormedError(cmp.text)).toBeNull();
});
