/**
 * An extraction run opened in the explorer as a persona set: a run kept in this browser's
 * extraction store (IndexedDB, written here in the store's own layout, as the model worker writes
 * it) is loaded by typing `extraction:<runId>` in the URL field; a run not finished says so in the
 * set's name; the share link names the run and restores it in a new page; a run that is not in this
 * browser is one sentence and the set on the map stays.
 */
import { test, expect, type Page } from '@playwright/test';
import { byId, expectMapPoints } from './fixtures/app';

const L = 4, D = 16;
const ROLES = ['pirate', 'ghost', 'tutor', 'bard', 'jester'];
const RUN = 'run-e2e0000000000001';

/** Write a run of ROLES (1 prompt x 2 questions each, 2 default rollouts) into the page's extraction store; `missing` rollouts left out. */
async function seedRun(page: Page, missing: number): Promise<void> {
  await page.evaluate(
    async ({ L, D, ROLES, RUN, missing }) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('persona-space-extract', 1);
        r.onupgradeneeded = () => {
          if (!r.result.objectStoreNames.contains('runs')) r.result.createObjectStore('runs', { keyPath: 'id' });
          if (!r.result.objectStoreNames.contains('rollouts')) r.result.createObjectStore('rollouts');
        };
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const settings = { preset: 'custom', roles: ROLES, traits: [], prompts: 1, questions: 2, defaultPrompts: 1, defaultQuestions: 2, maxNewTokens: 8, batch: 2, seed: 0, temperature: 0.7, topP: 0.9, stopAt: null };
      const rows: [string, string, number][] = [['default', 'default', 0], ['default', 'default', 1]];
      ROLES.forEach((r) => rows.push(['role', r, 0], ['role', r, 1]));
      const kept = rows.slice(0, rows.length - missing);
      const tx = db.transaction(['runs', 'rollouts'], 'readwrite');
      tx.objectStore('runs').put({ id: RUN, model: 'synthetic', modelName: 'Tiny', numLayers: L, hiddenSize: D, settings, status: missing ? 'paused' : 'complete', message: null, done: kept.length, total: rows.length, stability: null, createdAt: 1, updatedAt: 2 });
      kept.forEach(([kind, member, q], seq) => {
        const k = seq + 1;
        const mean = Float32Array.from({ length: L * D }, (_, i) => Math.sin(k * 1.3 + i * 0.21) + (kind === 'default' ? 2 : 0));
        tx.objectStore('rollouts').put({ key: `${kind}:${member}:0:${q}`, kind, member, promptIndex: 0, questionId: q, ids: [1, 2, 3], response: [1, 3], text: 'x', stopReason: 'eos', mean: mean.buffer }, [RUN, seq]);
      });
      await new Promise<void>((resolve, reject) => { tx.oncomplete = () => resolve(); tx.onerror = () => reject(tx.error); });
      db.close();
    },
    { L, D, ROLES, RUN, missing },
  );
}

test('extraction:<runId> opens a stored run on the map (partial runs say so); the share link restores it', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto('/');
  // The last role has one rollout of its two: a partial run, every role drawn.
  await seedRun(page, 1);
  await byId(page, 'url-input').fill(`extraction:${RUN}`);
  await byId(page, 'url-load').click();
  await expectMapPoints(page, ROLES.length);
  await expect(byId(page, 'map')).toHaveAttribute('data-default', '1');
  await expect(byId(page, 'set-name-A')).toContainText(`extraction ${RUN} (Tiny), partial: 11 of 12 rollouts`);

  // Finished: the same source reads the whole run (only the new rollout is read again).
  await seedRun(page, 0);
  await byId(page, 'url-load').click();
  await expect(byId(page, 'set-name-A')).toContainText(`extraction ${RUN} (Tiny) ·`);
  await expect(byId(page, 'set-name-A')).not.toContainText('partial');

  await byId(page, 'share-link').click();
  const link = await byId(page, 'share-url').inputValue();
  expect(link).toContain(`src=${encodeURIComponent(`extraction:${RUN}`)}`);
  const again = await context.newPage();
  await again.goto(link);
  await expectMapPoints(again, ROLES.length);
  await expect(byId(again, 'set-name-A')).toContainText(`extraction ${RUN} (Tiny)`);

  // A run this browser does not have: one sentence, the set stays.
  await byId(again, 'url-input').fill('extraction:run-not-here');
  await byId(again, 'url-load').click();
  await expect(byId(again, 'load-error')).toContainText('There is no extraction run "run-not-here" in this browser');
  await expectMapPoints(again, ROLES.length);
  await context.close();
});
