/**
 * Extraction in Chromium on the built-in synthetic model, the paper's data served locally: a small
 * custom run with its counts and measured estimate shown before starting, progress and the
 * stability meter, the tab reloaded midway (every finished rollout kept in IndexedDB), resumed from
 * the list of runs without regenerating what was finished, the explorer's map growing while it
 * runs, shown on the map, exported in the release layout, deleted.
 */
import { unzipSync } from 'fflate';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { startChatFixture, type ChatFixture } from './fixtures/chat';
import { catchDownload, expectMapPoints } from './fixtures/app';

let fx: ChatFixture;
let page: Page;
const ROLES = ['pirate', 'ghost', 'tutor', 'evaluator', 'bard', 'jester'];

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  fx = await startChatFixture();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
});
test.afterAll(async () => {
  await page?.close();
  await fx?.close();
});

async function openWithModel() {
  await page.goto(`/${fx.query}#tab=extract`);
  await expect(page.getByTestId('extract-lab')).toBeVisible({ timeout: 60_000 });
  await page.getByTestId('extract-model').selectOption('synthetic');
  await page.getByTestId('extract-load').click();
  await expect(page.getByTestId('extract-model-info')).toContainText('layers', { timeout: 60_000 });
}

async function fillForm() {
  await page.getByTestId('extract-preset').selectOption('custom');
  await page.getByTestId('extract-roles').fill(ROLES.join(', '));
  for (const [k, v] of [['prompts', '1'], ['questions', String(QUESTIONS)], ['defaultPrompts', '2'], ['defaultQuestions', '2'], ['maxNewTokens', '48'], ['batch', '2'], ['temperature', '0.7']] as const) {
    await page.getByTestId(`extract-${k}`).fill(v);
  }
}

// Enough rollouts that the run is still going when the test looks for its middle: at 2 questions
// (16 rollouts) the synthetic model finished in ~3 s and the midway window (12..15 done) could pass
// unseen.
const QUESTIONS = 6;
const TOTAL = ROLES.length * QUESTIONS + 4;
const TOKENS = 48;

test('a custom run: counts and estimate before starting, progress and stability, reload midway, resume, map, export, delete', async () => {
  test.skip(!fx.hasPaperData, 'needs ../shared/datasets/assistant-axis-data');
  test.setTimeout(600_000); // WASM on a shared machine can be slow; nothing here waits on wall-clock figures
  await openWithModel();
  await fillForm();
  await expect(page.getByTestId('extract-estimate')).toContainText(`${TOTAL} rollouts (4 of the default)`);
  await expect(page.getByTestId('extract-estimate')).toContainText((TOTAL * TOKENS).toLocaleString('en-US'));
  await page.getByTestId('extract-measure').click();
  await expect(page.getByTestId('extract-eta')).not.toHaveText('—', { timeout: 30_000 });

  await page.getByTestId('extract-start').click();
  await expect(page.getByTestId('extract-progress')).toContainText(`/ ${TOTAL} rollouts`, { timeout: 30_000 });
  // The explorer's map grows while the run goes: the roles so far, after each batch that adds one.
  await expect(page.getByTestId('extract-live-map')).toBeChecked();
  await page.getByTestId('tab-explorer').click();
  await page.waitForFunction(() => {
    const w = window as unknown as { __pts?: number[] };
    const pts = (w.__pts ??= []);
    const n = Number(document.querySelector('[data-testid=map]')?.getAttribute('data-points') ?? 0);
    if (n > 0 && pts[pts.length - 1] !== n) pts.push(n);
    return pts.length >= 2;
  }, null, { timeout: 240_000, polling: 50 });
  const seen = await page.evaluate(() => (window as unknown as { __pts: number[] }).__pts);
  expect(seen[1]).toBeGreaterThan(seen[0]);
  expect(seen[1]).toBeLessThanOrEqual(ROLES.length);
  await page.getByTestId('tab-extract').click();
  // Midway: the stability meter is live (the default and two roles in each half) and rollouts are left.
  await page.waitForFunction(
    (total) => {
      const done = Number(/(\d+) \/ \d+ rollouts/.exec(document.querySelector('[data-testid=extract-progress]')?.textContent ?? '')?.[1] ?? 0);
      const st = document.querySelector('[data-testid=extract-stability]')?.textContent ?? '—';
      return st !== '—' && done >= 12 && done < total;
    },
    TOTAL,
    { timeout: 240_000 },
  );
  await page.reload();

  await openWithModel();
  const row = page.getByTestId('extract-run').first();
  await expect(row).toBeVisible();
  const cells = await row.locator('td').allTextContents();
  const [kept, total] = cells[3].split('/').map((x) => Number(x.trim()));
  expect(total).toBe(TOTAL);
  expect(kept).toBeGreaterThanOrEqual(12);
  expect(kept).toBeLessThan(TOTAL);
  await row.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByTestId('extract-summary')).toContainText(`Done: ${TOTAL} rollouts (`, { timeout: 240_000 });
  // What was kept is at least what the list showed: a batch the closing tab was writing may land in
  // IndexedDB just after the reloaded page read the list. Resume generates only the rest.
  const made = Number(/\((\d+) new\)/.exec((await page.getByTestId('extract-summary').textContent()) ?? '')?.[1]);
  const keptNow = Number(/\((\d+) kept from before\)/.exec((await page.getByTestId('extract-progress').textContent()) ?? '')?.[1]);
  expect(keptNow).toBeGreaterThanOrEqual(kept);
  expect(keptNow).toBeLessThan(TOTAL);
  expect(made).toBe(TOTAL - keptNow);
  await expect(page.getByTestId('extract-run').first().locator('td').nth(2)).toHaveText('complete');

  // Export: the release layout the paper's notebooks read.
  const { bytes } = await catchDownload(page, () => page.getByTestId('extract-export').first().click());
  const zip = unzipSync(new Uint8Array(bytes));
  const names = Object.keys(zip).map((n) => n.split('/').slice(1).join('/'));
  for (const r of ROLES) expect(names).toContain(`role_vectors/${r}.pt`);
  for (const f of ['default_vector.pt', 'assistant_axis.pt', 'persona_space.safetensors', 'calibration.json']) expect(names).toContain(f);
  const calKey = Object.keys(zip).find((n) => n.endsWith('calibration.json'))!;
  const cal = JSON.parse(new TextDecoder().decode(zip[calKey]));
  expect(cal.basis).toBe('rollouts');
  expect(cal.all.count).toBe(TOTAL);

  // On the map, like any other set.
  await page.getByTestId('extract-show-map').first().click();
  await expectMapPoints(page, ROLES.length);

  // Delete.
  await page.goto(`/${fx.query}#tab=extract`);
  await expect(page.getByTestId('extract-run').first()).toBeVisible({ timeout: 60_000 });
  await page.getByTestId('extract-delete').first().click();
  await expect(page.getByTestId('extract-run')).toHaveCount(0);
});
