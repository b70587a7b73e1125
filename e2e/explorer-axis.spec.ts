/**
 * "Load as axis" in a real Chromium: an axis file built here ((n_layers, d) bf16 .pt) is loaded
 * beside the open set; the page's projection ranking and cos per layer are checked against the
 * same sums done here; a file of another width is refused in a sentence and nothing is lost; an
 * axis file opened as a set gets the axis-only sentence and a one-click "Load it as an axis";
 * "Use in chat lab" hands it to the lab (which takes it once its model is loaded); `inspect`
 * reports the file as an axis. With ../shared: the real Llama 3.1 8B L16 axis (default -
 * mean(roles)), inside a 3-layer file, against the real set.
 */
import { test, expect, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeNpy } from '../src/core/formats/npy';
import { writePt } from '../src/core/formats/pt';
import { f32ToBf16Bits, tensorFromF32, type RawTensor } from '../src/core/tensor';
import type { PersonaSet } from '../src/core/persona/types';
import { syntheticPersonaSet } from '../workers/synthetic';
import { byId, expectMapPoints, loadSharedThroughFileInput, publishScreenshot, screenshot, sharedReference } from './fixtures/app';
import { CHAT_D, CHAT_LAYERS, CHAT_REPO, startChatFixture, type ChatFixture } from './fixtures/chat';
import { HAVE_SHARED_VECTORS, REPO_ROOT, SHARED_REASON } from './fixtures/shared-data';
import { startHubServer, type HubServer } from './hub-server';

const N = 40, L = CHAT_LAYERS, D = CHAT_D;

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let j = 0; j < a.length; j++) s += a[j] * b[j]; return s; };
const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
const bf16Round = (r: ArrayLike<number>) => new Float32Array(Uint32Array.from(Array.from(r, (x) => f32ToBf16Bits(x) << 16)).buffer);

/** default - mean(roles) at layer l, from the set's vectors. */
function ownAxis(set: PersonaSet, l: number): Float64Array {
  const d = set.dim, n = set.names.length, all = set.layer(l), def = set.defaultAt(l)!;
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += all[i * d + j] / n;
  return Float64Array.from(def, (v, j) => v - mu[j]);
}

function bf16Rows(rows: ArrayLike<number>[], shape: number[]): RawTensor {
  const d = rows[0].length;
  const u = new Uint16Array(rows.length * d);
  rows.forEach((r, l) => { for (let j = 0; j < d; j++) u[l * d + j] = f32ToBf16Bits(r[j]); });
  return { dtype: 'bfloat16', shape, data: new Uint8Array(u.buffer) };
}

/** Names in the page's order and their values, from the axis-file ranking. */
async function pageRanking(page: Page): Promise<{ names: string[]; values: number[] }> {
  const rows = byId(page, 'axis-file-rank-row');
  const names = await rows.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.name ?? ''));
  const values = await rows.evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.value)));
  return { names, values };
}

async function pageCos(page: Page): Promise<number[]> {
  return byId(page, 'axis-file-cos-table').locator('tbody tr').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.cos)));
}

/** The ranking here: members by h . a / |a| at layer l, highest first. */
function expected(set: PersonaSet, l: number, a: Float32Array): { names: string[]; values: number[] } {
  const all = set.layer(l), d = set.dim, na = Math.hypot(...a);
  const p = set.names.map((_, i) => dot(all.subarray(i * d, (i + 1) * d), a) / na);
  const order = p.map((_, i) => i).sort((x, y) => p[y] - p[x] || x - y);
  return { names: order.map((i) => set.names[i]), values: order.map((i) => p[i]) };
}

let fx: ChatFixture;
/** Serves this spec's files, so an axis file can be opened by URL. */
let files: HubServer;
let tmp = '';
let page: Page;
const set = syntheticPersonaSet({ n: N, layers: L, dim: D });
// A contrast file: the set's own axis at even layers, another fixed direction at odd ones.
const other = Float64Array.from({ length: D }, (_, j) => Math.cos(j * 0.37) + 0.3);
const rows = Array.from({ length: L }, (_, l) => (l % 2 === 0 ? ownAxis(set, l) : other));
const file = (n: string) => path.join(tmp, n);

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }) => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ps-e2e-axis-'));
  writeFileSync(file('contrast.pt'), writePt(bf16Rows(rows, [L, D])));
  writeFileSync(file('wide.npy'), writeNpy(tensorFromF32(new Float32Array(L * (D + 16)).fill(0.5), [L, D + 16])));
  fx = await startChatFixture();
  files = await startHubServer({ root: { 'me/axes': tmp } });
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(`/${fx.query}`);
  await byId(page, 'url-input').fill(`synthetic:${N}x${L}d${D}`);
  await byId(page, 'url-load').click();
  await expectMapPoints(page, N);
});

test.afterAll(async () => {
  await page?.close();
  await fx?.close();
  await files?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** `persona-space inspect ...` as a person runs it; its stderr is in the failure message. */
function inspect(...args: string[]): string {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'cli/bin.mjs'), 'inspect', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

test('inspect reports the file as an axis: format, layers, dim, dtype', () => {
  expect(JSON.parse(inspect(file('contrast.pt'), '--json'))).toMatchObject({ format: 'pt', kind: 'axis', layers: L, dim: D, dtype: 'bfloat16' });
  expect(inspect(file('contrast.pt'))).toContain(`axis (pt): ${L} layers, ${D} dims, bfloat16`);
});

test('an axis file opened as a set: the axis-only sentence (no names asked), the set kept, one click loads it as an axis', async () => {
  await byId(page, 'file-input').setInputFiles(file('contrast.pt'));
  const err = byId(page, 'load-error');
  await expect(err).toContainText(`"contrast.pt" is an axis file (${L} layers x ${D}), not a set of personas: load it as an axis.`);
  await expect(err).not.toContainText(/names/i);
  await expectMapPoints(page, N);
  await byId(page, 'load-as-axis').click();
  await expect(byId(page, 'axis-file-info')).toContainText('contrast.pt');
});

test('an axis file at a URL: opened as a set it gets the same sentence and one click; the panel takes the URL too', async () => {
  const url = `${files.origin}/datasets/me/axes/resolve/main/contrast.pt`;
  await byId(page, 'url-input').fill(url);
  await byId(page, 'url-load').click();
  const err = byId(page, 'load-error');
  await expect(err).toContainText(`"contrast.pt" is an axis file (${L} layers x ${D}), not a set of personas: load it as an axis.`);
  await expectMapPoints(page, N);
  await byId(page, 'axis-file-remove').click();
  await expect(byId(page, 'axis-file-info')).toHaveCount(0);
  await byId(page, 'load-as-axis').click();
  await expect(byId(page, 'axis-file-info')).toContainText(`contrast.pt · pt · ${L} layers × ${D} · bfloat16`);
  await expect(byId(page, 'axis-file-rank-row')).toHaveCount(N);
  // The same file by the panel's URL field; a URL that is not there is one sentence and the axis stays.
  await byId(page, 'axis-file-remove').click();
  await byId(page, 'axis-file-url').fill(url);
  await byId(page, 'axis-file-url-load').click();
  await expect(byId(page, 'axis-file-info')).toContainText(`contrast.pt · pt · ${L} layers × ${D} · bfloat16`);
  await byId(page, 'axis-file-url').fill(`${files.origin}/datasets/me/axes/resolve/main/missing.pt`);
  await byId(page, 'axis-file-url-load').click();
  await expect(byId(page, 'axis-file-error')).toBeVisible();
  await expect(byId(page, 'axis-file-info')).toContainText('contrast.pt');
  await expectMapPoints(page, N);
});

test('Load as axis: the ranking at the current layer and cos per layer match the sums done here; the layer slider follows', async () => {
  await byId(page, 'axis-file-input').setInputFiles(file('contrast.pt'));
  await expect(byId(page, 'axis-file-info')).toContainText(`contrast.pt · pt · ${L} layers × ${D} · bfloat16`);
  const mid = Math.floor(L / 2);
  await expect(byId(page, 'axis-file-ranking')).toHaveAttribute('data-layer', String(mid));
  await expect(byId(page, 'axis-file-marks')).toContainText('Projection on contrast.pt');
  for (const l of [mid, 2]) {
    if (l !== mid) {
      await byId(page, 'layer-slider').fill(String(l));
      await expect(byId(page, 'axis-file-ranking')).toHaveAttribute('data-layer', String(l));
    }
    const want = expected(set, l, bf16Round(rows[l]));
    const got = await pageRanking(page);
    expect(got.names).toEqual(want.names);
    got.values.forEach((v, i) => expect(v).toBeCloseTo(want.values[i], 4));
    const here = cos(bf16Round(rows[l]), ownAxis(set, l));
    expect(Number(await byId(page, 'axis-file-cos-here').textContent())).toBeCloseTo(here, 3);
  }
  await expect(byId(page, 'axis-file-cos')).toBeVisible();
  await byId(page, 'axis-file-cos').locator('summary').click();
  const c = await pageCos(page);
  expect(c).toHaveLength(L);
  c.forEach((v, l) => {
    if (l % 2 === 0) expect(v).toBeGreaterThan(0.9999);
    else expect(v).toBeCloseTo(cos(bf16Round(other), ownAxis(set, l)), 5);
  });
  // UPDATE_DOCS_SCREENSHOT=1 copies it to docs/explorer-axis.png for the README.
  publishScreenshot(await screenshot(page, 'explorer-axis-file'), 'explorer-axis.png');
});

test('a file of another width: one sentence, the set and the axis file loaded before both stay', async () => {
  await byId(page, 'axis-file-input').setInputFiles(file('wide.npy'));
  await expect(byId(page, 'axis-file-error')).toHaveText(`The axis "wide.npy" has d = ${D + 16} but the open set's vectors have d = ${D}, so it belongs to another model; the set stays as it is.`);
  await expect(byId(page, 'axis-file-info')).toContainText('contrast.pt');
  await expect(byId(page, 'axis-file-rank-row')).toHaveCount(N);
  await expectMapPoints(page, N);
});

test('Use in chat lab: the lab takes the axis file once its model is loaded', async () => {
  await byId(page, 'axis-file-to-chat').click();
  await expect(byId(page, 'tab-chat')).toHaveAttribute('aria-selected', 'true');
  await expect(byId(page, 'chat-lab')).toBeVisible({ timeout: 60_000 });
  await byId(page, 'chat-dtype').selectOption('fp32');
  await byId(page, 'chat-hub-input').fill(CHAT_REPO);
  await byId(page, 'chat-hub-load').click();
  await expect(byId(page, 'chat-model-info')).toBeVisible({ timeout: 60_000 });
  await expect(byId(page, 'chat-axis-info')).toContainText('contrast.pt', { timeout: 30_000 });
  await expect(byId(page, 'chat-axis-info')).toContainText(`${L} × ${D}`);
  await byId(page, 'tab-explorer').click();
  await expect(byId(page, 'axis-file-chat-note')).toContainText('contrast.pt');
});

test.describe('the real Llama 3.1 8B L16 set', () => {
  test.skip(!HAVE_SHARED_VECTORS, SHARED_REASON);

  test('its own axis (default - mean(roles)) as row 1 of a 3-layer bf16 file: the ranking, row picking and cos per file layer', async ({ browser }) => {
    const p = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    try {
      await p.goto('/');
      await loadSharedThroughFileInput(p);
      const { set: real } = await sharedReference();
      const own = ownAxis(real, 0);
      const rnd = Float64Array.from({ length: real.dim }, (_, j) => Math.sin(j * 1.7) + Math.cos(j * 0.13));
      const fileRows = [rnd, own, Float64Array.from(own, (v) => -v)];
      writeFileSync(file('l16_axis.pt'), writePt({ axis: bf16Rows(fileRows, [3, real.dim]), metadata: { note: 'default - mean(roles), Llama 3.1 8B L16' } }));
      await byId(p, 'axis-file-input').setInputFiles(file('l16_axis.pt'));
      await expect(byId(p, 'axis-file-info')).toContainText('l16_axis.pt · pt · 3 layers × 4096 · bfloat16');
      // A single-layer set takes the file's middle layer: the set's own axis.
      await expect(byId(p, 'axis-file-ranking')).toHaveAttribute('data-axis-row', '1');
      const want = expected(real, 0, bf16Round(own));
      const got = await pageRanking(p);
      expect(got.names).toEqual(want.names);
      got.values.forEach((v, i) => expect(v).toBeCloseTo(want.values[i], 3));
      // The same order as the explorer's own ranking along the axis.
      const mainTop = await byId(p, 'axis-rank-row').locator('.rank-name').evaluateAll((els) => els.slice(0, 10).map((e) => e.textContent));
      expect(got.names.slice(0, 10)).toEqual(mainTop);
      await byId(p, 'axis-file-cos').locator('summary').click();
      const c = await pageCos(p);
      expect(c[0]).toBeCloseTo(cos(bf16Round(rnd), own), 4);
      expect(c[1]).toBeGreaterThan(0.9999);
      expect(c[2]).toBeLessThan(-0.9999);
      // Row 2 (the negated axis) reverses the ranking.
      await byId(p, 'axis-file-row').fill('2');
      await expect(byId(p, 'axis-file-ranking')).toHaveAttribute('data-axis-row', '2');
      expect((await pageRanking(p)).names).toEqual([...want.names].reverse());
    } finally {
      await p.close();
    }
  });
});
