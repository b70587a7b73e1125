/**
 * Cancel a model load while it downloads, in both places that load one (the chat lab's model picker
 * and the extraction tab), then load again and see it finish. The synthetic model is served by one
 * local hub server throttled for the first load (each 64 KiB chunk waits; the whole load would take
 * the better part of a minute) and unthrottled for the second, so the page keeps its `?hub=` origin,
 * its form and its cache between the two loads.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { startHubServer, type HubServer, type HubServerOptions } from './hub-server';
import { CHAT_D, CHAT_LAYERS, CHAT_REPO } from './fixtures/chat';
import { writeSyntheticModelRepo } from './fixtures/synthetic-model';
import { MODEL_CHOICES } from '../src/app/chat/models';

/** The extraction tab offers only the listed models; the synthetic one is served under this one's repo id. */
const EXTRACT_CHOICE = MODEL_CHOICES.find((c) => c.id === 'smollm2-360m')!;
/** About 2 s per 64 KiB chunk: model.onnx_data (~1 MB) alone takes ~30 s, so Cancel lands mid-download. */
const SLOW_BYTES_PER_SECOND = 32 * 1024;
const DATA_FILE = 'onnx/model.onnx_data';

let root: string;
let dataBytes: number;
let hub: HubServer;
/** Read by the server at each request (e2e/hub-server.ts serveFile): setting bytesPerSecond turns the throttle on or off for the next requests. */
const hubOptions: HubServerOptions = { root: {} };

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'ps-e2e-load-cancel-'));
  const dir = path.join(root, 'model');
  writeSyntheticModelRepo(dir, { layers: CHAT_LAYERS, hiddenSize: CHAT_D, seed: 5 });
  dataBytes = statSync(path.join(dir, DATA_FILE)).size;
  hubOptions.root = { [CHAT_REPO]: { dir, type: 'model' }, [EXTRACT_CHOICE.repo]: { dir, type: 'model' } };
  hub = await startHubServer(hubOptions);
});

test.afterAll(async () => {
  await hub?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

test.beforeEach(({ page }) => {
  hubOptions.bytesPerSecond = SLOW_BYTES_PER_SECOND;
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
});

/** The data file's requests for `repo` so far, whether any of them sent the whole file, and the bytes sent in all. */
function dataRequests(repo: string): { n: number; complete: boolean; bytes: number } {
  const reqs = hub.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`${repo}/resolve/main/${DATA_FILE}`));
  return { n: reqs.length, complete: reqs.some((r) => r.bytes >= dataBytes), bytes: reqs.reduce((n, r) => n + r.bytes, 0) };
}

/**
 * The throttled download really stopped (not only the UI): the bytes the server sent for the data
 * file stay the same across a poll interval longer than one throttled chunk's wait, and it never
 * sent the whole file. Were it still downloading, each interval would see another chunk.
 */
async function expectDownloadStopped(repo: string) {
  const chunkWaitMs = (64 * 1024 * 1000) / SLOW_BYTES_PER_SECOND;
  let before = -1;
  await expect.poll(() => {
    const now = dataRequests(repo).bytes;
    const still = now === before;
    before = now;
    return still;
  }, { intervals: [chunkWaitMs * 1.5], timeout: 20_000, message: `the ${DATA_FILE} download goes on after Cancel` }).toBe(true);
  expect(dataRequests(repo).complete).toBe(false);
}

async function open(page: Page, tab: 'chat' | 'extract') {
  await page.goto(`/?hub=${encodeURIComponent(hub.origin)}#tab=${tab}`);
  await expect(page.getByTestId(`${tab}-lab`)).toBeVisible({ timeout: 60_000 });
}

test('chat lab: Cancel while the weights download says so, keeps the picker as it was; Load again finishes', async ({ page }) => {
  await open(page, 'chat');
  await page.getByTestId('chat-dtype').selectOption('fp32');
  await page.getByTestId('chat-hub-input').fill(CHAT_REPO);
  const load = page.getByTestId('chat-hub-load');
  await load.click();

  // Mid-download: the weights' own progress row is up (the throttled server has not finished it).
  const progress = page.getByTestId('chat-model-progress');
  await expect(progress.getByTestId('chat-file-progress').filter({ hasText: DATA_FILE })).toBeVisible({ timeout: 60_000 });
  await expect(load).toBeDisabled();
  expect(dataRequests(CHAT_REPO).complete).toBe(false);
  await progress.getByTestId('chat-model-cancel').click();

  // Cancelled, in the app's words; the progress goes, Load works again, the picker's inputs are kept.
  await expect(page.getByTestId('chat-model-error')).toContainText('Loading was cancelled', { timeout: 15_000 });
  await expect(page.getByTestId('chat-model-error')).toHaveAttribute('role', 'alert');
  await expect(progress).toBeHidden();
  await expect(page.getByTestId('chat-model-info')).toBeHidden();
  await expect(load).toBeEnabled();
  await expect(page.getByTestId('chat-hub-input')).toHaveValue(CHAT_REPO);
  await expect(page.getByTestId('chat-dtype')).toHaveValue('fp32');
  await expectDownloadStopped(CHAT_REPO);

  // The same repo, unthrottled: Load again and the model is ready.
  hubOptions.bytesPerSecond = undefined;
  await load.click();
  await expect(page.getByTestId('chat-model-info')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('chat-model-info')).toContainText(`${CHAT_LAYERS} layers · d = ${CHAT_D}`);
  await expect(page.getByTestId('chat-model-error')).toBeHidden();
  expect(dataRequests(CHAT_REPO).n).toBeGreaterThanOrEqual(2);
});

test('extraction tab: Cancel while the weights download says Cancelled., focus back on Load, the form kept; Load again finishes', async ({ page }) => {
  await open(page, 'extract');
  await page.getByTestId('extract-model').selectOption(EXTRACT_CHOICE.id);
  // Form values set before the load, to find again after the Cancel.
  await page.getByTestId('extract-preset').selectOption('custom');
  await page.getByTestId('extract-roles').fill('pirate, ghost, tutor');
  await page.getByTestId('extract-maxNewTokens').fill('37');
  await page.getByTestId('extract-seed').fill('4242');
  const estimate = await page.getByTestId('extract-estimate').textContent();
  expect(estimate).toContain('rollouts');

  const load = page.getByTestId('extract-load');
  await load.click();
  const cancel = page.getByTestId('extract-cancel-load');
  const lab = page.getByTestId('extract-lab');
  // Mid-download: the tab names the weights file it is fetching.
  await expect(lab.getByText(`loading ${DATA_FILE}…`)).toBeVisible({ timeout: 60_000 });
  await expect(load).toBeDisabled();
  expect(dataRequests(EXTRACT_CHOICE.repo).complete).toBe(false);
  await cancel.click();

  const status = page.getByTestId('extract-load-status');
  await expect(status).toHaveText('Cancelled.', { timeout: 15_000 });
  await expect(status).toHaveAttribute('role', 'status');
  await expect(cancel).toBeHidden();
  await expect(lab.getByText(`loading ${DATA_FILE}…`)).toBeHidden();
  await expect(load).toBeEnabled();
  await expect(load).toBeFocused();
  await expect(page.getByTestId('extract-model-info')).toBeHidden();
  await expect(page.getByTestId('extract-model')).toHaveValue(EXTRACT_CHOICE.id);
  await expect(page.getByTestId('extract-preset')).toHaveValue('custom');
  await expect(page.getByTestId('extract-roles')).toHaveValue('pirate, ghost, tutor');
  await expect(page.getByTestId('extract-maxNewTokens')).toHaveValue('37');
  await expect(page.getByTestId('extract-seed')).toHaveValue('4242');
  await expect(page.getByTestId('extract-estimate')).toHaveText(estimate!);
  await expectDownloadStopped(EXTRACT_CHOICE.repo);

  // The same repo, unthrottled: Load again (from the keyboard, where focus went) and the model is ready.
  hubOptions.bytesPerSecond = undefined;
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('extract-model-info')).toContainText(`${CHAT_LAYERS} layers x ${CHAT_D}`, { timeout: 60_000 });
  await expect(status).toBeHidden();
  await expect(page.getByTestId('extract-roles')).toHaveValue('pirate, ghost, tutor');
  await expect(page.getByTestId('extract-maxNewTokens')).toHaveValue('37');
  expect(dataRequests(EXTRACT_CHOICE.repo).n).toBeGreaterThanOrEqual(2);
});
