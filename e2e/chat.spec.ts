/**
 * The chat lab in Chromium, with the synthetic model served hub-style from a local server: load the
 * model and an axis, three panes stream, the steering slider acts mid-answer on the Steered pane
 * only, the cap holds its floor, the drift lane equals the exported JSON, hover / click-to-turn,
 * undo, Stop, a preset replay (the paper's data served locally), the share link, a screenshot.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { CHAT_LAYERS, CHAT_REPO, LINE_SET_COORDS, PAPER_DATA, lineSetFiles, openChatWithModel, startChatFixture, tokenValues, waitIdle, type ChatFixture } from './fixtures/chat';
import { REPO_ROOT } from './fixtures/shared-data';

const SCREENSHOTS = path.join(REPO_ROOT, 'test-results', 'screenshots');
const PANES = ['default', 'steered', 'capped'] as const;

let fx: ChatFixture;
let page: Page;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }: { browser: Browser }) => {
  fx = await startChatFixture();
  page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
  page.on('console', (m) => { if (m.type() === 'error') console.log('[page]', m.text()); });
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
});

test.afterAll(async () => {
  await page?.close();
  await fx?.close();
});

async function setField(id: string, value: string) {
  await page.getByTestId(id).fill(value);
  await page.getByTestId(id).blur();
}

async function exportJson(): Promise<any> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('chat-export-json').click()]);
  return JSON.parse(readFileSync((await dl.path())!, 'utf8'));
}

async function send(text: string) {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
}

test('load the served synthetic model and an axis file; backend and reason shown', async () => {
  await openChatWithModel(page, fx);
  await expect(page.getByTestId('chat-backend')).toContainText(/WASM|WebGPU/);
  await expect(page.getByTestId('chat-axis-info')).toContainText(`${CHAT_LAYERS} × 64`);
  expect(fx.hub.count('/resolve/main/onnx/model.onnx_data')).toBeGreaterThan(0);
});

test('a message streams in all three panes; the steering slider moves the Steered pane only, at the next tokens', async () => {
  await setField('chat-maxTokens', '600');
  await setField('chat-temperature', '0');
  await send('Tell me who you are.');
  // All three stream together.
  for (const p of PANES) await expect(page.getByTestId(`pane-${p}`).getByTestId('tok').nth(3)).toBeAttached({ timeout: 60_000 });
  // Mid-answer: the slider to its top (keyboard, as a presenter would).
  const slider = page.getByTestId('chat-steer-slider');
  await slider.focus();
  // Tokens on screen before the change: the change can never alter them.
  const shownBefore = await page.getByTestId('pane-steered').getByTestId('tok').count();
  await page.keyboard.press('End');
  await expect(page.getByTestId('chat-steer-amount')).not.toHaveText('0.00');
  const movedAt = await page.getByTestId('pane-steered').getByTestId('tok').count();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="pane-steered"] [data-testid="tok"]').length > n + 8, movedAt, { timeout: 60_000 }).catch(() => undefined);
  await page.getByTestId('chat-stop').click();
  await waitIdle(page);
  const def = await tokenValues(page, 'default', 0);
  const steer = await tokenValues(page, 'steered', 0);
  expect(movedAt).toBeGreaterThan(0);
  // Same seed, same settings: identical until the change; after it the Steered values part.
  const firstDiff = steer.findIndex((v, i) => Math.abs(v - def[i]) > 1e-3);
  expect(firstDiff).toBeGreaterThan(0);
  for (let i = 0; i < firstDiff; i++) expect(steer[i]).toBeCloseTo(def[i], 4);
  // It acts from a token after those already shown, mid-answer. (How many tokens later depends on
  // how fast the backend decodes against the page's rendering: on WASM the synthetic model streams
  // hundreds of tokens a second, so the bound is the answer, not a token count.)
  expect(firstDiff).toBeGreaterThanOrEqual(shownBefore);
  expect(firstDiff).toBeLessThan(steer.length);

  // The Default pane did not move: undo, slider back to 0, the same message again reproduces it.
  await page.getByTestId('chat-undo').click();
  await expect(page.getByTestId('chat-input')).toHaveValue('Tell me who you are.');
  await page.getByTestId('chat-steer-zero').click();
  await setField('chat-maxTokens', String(def.length));
  await page.getByTestId('chat-send').click();
  await waitIdle(page);
  const def2 = await tokenValues(page, 'default', 0);
  const steer2 = await tokenValues(page, 'steered', 0);
  expect(def2.length).toBeGreaterThanOrEqual(Math.min(def.length, 5));
  for (let i = 0; i < Math.min(def.length, def2.length); i++) expect(def2[i]).toBeCloseTo(def[i], 4);
  for (let i = 0; i < Math.min(def2.length, steer2.length); i++) expect(steer2[i]).toBeCloseTo(def2[i], 4);
});

test('with the cap on, no capped layer of the Capped pane falls below its threshold', async () => {
  await setField('chat-maxTokens', '24');
  // A fixed floor above most values seen so far, so the cap must act.
  const seen = await tokenValues(page, 'default', 0);
  const tau = Math.max(...seen) + 0.5;
  await page.getByTestId('chat-cap-on').check();
  await page.getByTestId('chat-cap-fixed').check();
  await setField('chat-cap-tau', tau.toFixed(3));
  const win = await page.getByTestId('chat-cap-layers').inputValue();
  await send('And what do you like?');
  await waitIdle(page);
  await expect(page.getByTestId('chat-clamped')).not.toHaveAttribute('data-count', '0');
  const data = await exportJson();
  const capped = data.panes.capped;
  const layers: number[] = capped.settings.cap.layers;
  expect(layers.length).toBeGreaterThan(0);
  expect(win.length).toBeGreaterThan(0);
  const answers = capped.messages.filter((m: any) => m.role === 'assistant');
  const last = answers[answers.length - 1];
  expect(last.generated.per_token.length).toBeGreaterThan(0);
  for (const row of last.generated.per_token) for (const l of layers) expect(row[l]).toBeGreaterThanOrEqual(capped.resolved.cap_tau[l] - 1e-3);
  // The Default pane, uncapped, does go below it somewhere.
  const dl = data.panes.default.messages.filter((m: any) => m.role === 'assistant').pop();
  expect(dl.generated.per_token.some((row: number[]) => layers.some((l) => row[l] < capped.resolved.cap_tau[l] - 1e-3))).toBe(true);
});

test('the drift lane has one point per turn per pane, equal to the exported JSON; hover, click-to-turn, undo', async () => {
  const data = await exportJson();
  const L = data.monitor_layer;
  const points = page.getByTestId('drift-point');
  let expected = 0;
  for (const p of PANES) {
    const answers = data.panes[p].messages.filter((m: any) => m.role === 'assistant');
    expected += answers.length;
    for (let k = 0; k < answers.length; k++) {
      const v = Number(await page.locator(`[data-testid="drift-point"][data-pane="${p}"][data-turn="${k}"]`).getAttribute('data-value'));
      expect(Math.abs(v - answers[k].generated.mean[L])).toBeLessThan(1e-5);
    }
  }
  expect(expected).toBe(6);
  await expect(points).toHaveCount(expected);

  // Hover: turn, value, snippet (the Capped pane is drawn last, on top where lines meet).
  const first = page.locator('[data-testid="drift-point"][data-pane="capped"][data-turn="0"]');
  await first.hover();
  await expect(page.getByTestId('drift-tooltip')).toContainText('turn 1');
  const shown = Number(await page.getByTestId('drift-tooltip-value').textContent());
  expect(shown).toBeCloseTo(Number(await first.getAttribute('data-value')), 3);
  // Click: every pane scrolls to that turn.
  for (const p of PANES) await page.getByTestId(`pane-${p}`).locator('.chat-pane-body').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await first.click();
  for (const p of PANES) {
    const inView = await page.getByTestId(`pane-${p}`).locator('.chat-pane-body').evaluate((box, id) => {
      const el = box.querySelector(`#chat-${id}-turn-0`) as HTMLElement;
      const b = box.getBoundingClientRect(), r = el.getBoundingClientRect();
      return r.top >= b.top - 2 && r.top < b.bottom;
    }, p);
    expect(inView).toBe(true);
  }
  // "As read by the unmodified model" is a visible toggle with its own values.
  await page.getByTestId('drift-read').click();
  await expect(points).toHaveCount(expected);
  await page.getByTestId('drift-generated').click();

  // Undo removes the last turn's points.
  await page.getByTestId('chat-undo').click();
  await expect(points).toHaveCount(expected - 3);
  await expect(page.getByTestId('chat-input')).toHaveValue('And what do you like?');
});

test('Stop ends a long answer and the engine answers again', async () => {
  await page.getByTestId('chat-cap-on').uncheck();
  await setField('chat-maxTokens', '1500');
  await send('Talk for a long time.');
  await expect(page.getByTestId('pane-default').getByTestId('tok').nth(2)).toBeAttached({ timeout: 60_000 });
  await page.getByTestId('chat-stop').click();
  await waitIdle(page);
  const n = (await tokenValues(page, 'default', 1)).length;
  expect(n).toBeLessThan(1500);
  await setField('chat-maxTokens', '6');
  await send('Short now.');
  await waitIdle(page);
  await expect(page.getByTestId('pane-default').locator('[data-testid="msg-assistant"][data-turn="2"]')).toBeVisible();
  await expect(page.getByTestId('drift-point')).toHaveCount(9);
});

test('screenshot of a real session', async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, 'chat-lab.png');
  await page.screenshot({ path: file, fullPage: true });
  copyFileSync(file, path.join(REPO_ROOT, 'test-results', 'screenshots', 'chat-lab-latest.png'));
});

test('the share link restores the model, the axis, the settings and the conversation', async ({ browser }) => {
  await page.getByTestId('chat-steer-slider').fill('4');
  await expect(page.getByTestId('chat-steer-amount')).toHaveText('+4.00');
  await page.getByTestId('chat-share').click();
  const url = await page.getByTestId('chat-share-url').inputValue();
  expect(url).toContain('tab=chat');
  const before = await page.getByTestId('drift-point').count();
  const other = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await other.goto(url);
  await expect(other.getByTestId('chat-model-info')).toBeVisible({ timeout: 60_000 });
  await expect(other.getByTestId('chat-axis-info')).toBeVisible({ timeout: 30_000 });
  await expect(other.getByTestId('chat-steer-amount')).toHaveText('+4.00');
  await expect(other.getByTestId('chat-maxTokens')).toHaveValue('6');
  await expect(other.getByTestId('drift-point')).toHaveCount(before, { timeout: 120_000 });
  // The explorer does not take the lab's link for a view of local files.
  await expect(other.getByText('This link holds a view of vectors loaded from local files', { exact: false })).toHaveCount(0);
  await other.close();
});

test('a preset of the paper replays its user turns against this model, credited', async () => {
  test.skip(!fx.hasPaperData, 'needs ../shared/datasets/assistant-axis-data (the paper transcripts), absent here');
  // 15 user turns, each re-fed with its growing history in three rows: minutes on a busy 2-core machine.
  test.setTimeout(480_000);
  await setField('chat-maxTokens', '2');
  await expect(page.getByTestId('chat-preset-select')).toBeEnabled({ timeout: 30_000 });
  const options = await page.getByTestId('chat-preset-select').locator('option').allTextContents();
  expect(options.some((o) => /coding/i.test(o))).toBe(true);
  const coding = await page.getByTestId('chat-preset-select').locator('option', { hasText: /coding/i }).first().getAttribute('value');
  await page.getByTestId('chat-preset-select').selectOption(coding!);
  await page.getByTestId('chat-preset-replay').click();
  await expect(page.getByTestId('chat-preset-banner')).toContainText("user turns from the paper; the answers are this model's");
  await expect(page.getByTestId('chat-preset-banner')).toContainText('safety-research/assistant-axis, MIT');
  await waitIdle(page, 450_000);
  const transcript = JSON.parse(readFileSync(path.join(PAPER_DATA, 'transcripts/persona_drift/coding.json'), 'utf8'));
  const paperUsers: string[] = transcript.conversation.filter((m: any) => m.role === 'user').map((m: any) => m.content);
  const data = await exportJson();
  const userMsgs = data.panes.default.messages.filter((m: any) => m.role === 'user');
  // The paper's user turns, in order; the synthetic model's 2,048-token window may end the replay
  // early, and then the lab says so in one sentence.
  expect(userMsgs.length).toBeGreaterThan(2);
  userMsgs.forEach((m: any, i: number) => expect(m.content).toBe(paperUsers[i]));
  if (userMsgs.length < paperUsers.length) await expect(page.getByTestId('chat-error')).toContainText('at most 2048');
  const answers = data.panes.default.messages.filter((m: any) => m.role === 'assistant').length;
  expect(answers).toBeGreaterThan(2);
  await expect(page.getByTestId('drift-point')).toHaveCount(answers * 3);
});

test("each pane's turns are drawn on the explorer's map where their projections put them", async ({ browser }) => {
  // The explorer holds a set of this model's shape whose PC1 at every layer is the axis: a turn's
  // x on the map is then an affine function of its drift value (the same one as the roles').
  const p = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  await p.goto(`/${fx.query}`);
  await p.getByTestId('file-input').setInputFiles(lineSetFiles());
  await expect(p.getByTestId('map')).toHaveAttribute('data-points', String(LINE_SET_COORDS.length), { timeout: 60_000 });
  await p.getByTestId('tab-chat').click();
  await p.getByTestId('chat-dtype').selectOption('fp32');
  await p.getByTestId('chat-hub-input').fill(CHAT_REPO);
  await p.getByTestId('chat-hub-load').click();
  await expect(p.getByTestId('chat-model-info')).toBeVisible({ timeout: 60_000 });
  await p.getByTestId('chat-axis-file').setInputFiles(fx.axisPath);
  await expect(p.getByTestId('chat-axis-info')).toBeVisible({ timeout: 30_000 });
  for (const [id, v] of [['chat-maxTokens', '8'], ['chat-temperature', '0']]) {
    await p.getByTestId(id).fill(v);
    await p.getByTestId(id).blur();
  }
  // The Steered pane pushed along the axis, so the three lines part.
  await p.getByTestId('chat-steer-slider').fill('6');
  for (const text of ['Who are you?', 'And what do you do all day?']) {
    await p.getByTestId('chat-input').fill(text);
    await p.getByTestId('chat-send').click();
    await waitIdle(p);
  }
  const [dl] = await Promise.all([p.waitForEvent('download'), p.getByTestId('chat-export-json').click()]);
  const data = JSON.parse(readFileSync((await dl.path())!, 'utf8'));
  const L: number = data.monitor_layer;
  await p.getByTestId('tab-explorer').click();
  await p.getByTestId('layer-slider').fill(String(L));
  const map = p.getByTestId('map');
  await expect(map).toHaveAttribute('data-trajectories', '3', { timeout: 30_000 });
  await expect(p.getByTestId('trajectory-legend')).toContainText('Default');
  const [svgDl] = await Promise.all([p.waitForEvent('download'), p.getByTestId('export-svg-map').click()]);
  const svg = readFileSync((await svgDl.path())!, 'utf8');
  await p.close();

  // The roles' screen x against their PC1 coordinate (centred): one affine map, up to the sign PCA picks.
  const rolesPart = svg.slice(0, svg.indexOf('<g class="trajectory">'));
  const roleX = [...rolesPart.matchAll(/<circle cx="([-\d.]+)"/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  expect(roleX).toHaveLength(LINE_SET_COORDS.length);
  const mean = LINE_SET_COORDS.reduce((s, c) => s + c, 0) / LINE_SET_COORDS.length;
  const fit = (coords: number[]) => {
    const n = coords.length, mx = coords.reduce((s, c) => s + c, 0) / n, my = roleX.reduce((s, x) => s + x, 0) / n;
    let sxy = 0, sxx = 0;
    coords.forEach((c, i) => { sxy += (c - mx) * (roleX[i] - my); sxx += (c - mx) ** 2; });
    const a = sxy / sxx, b = my - a * mx;
    return { a, b, err: Math.max(...coords.map((c, i) => Math.abs(a * c + b - roleX[i]))) };
  };
  const asc = LINE_SET_COORDS.map((c) => c - mean);
  const up = fit(asc), down = fit([...asc].reverse());
  const f = up.err < down.err ? up : down;
  expect(f.err).toBeLessThan(0.5);
  expect(Math.abs(f.a)).toBeGreaterThan(5);

  // One polyline per pane, one vertex per assistant turn, at x = a * (drift value - roles' mean) + b.
  const lines = [...svg.matchAll(/<g class="trajectory"><title>([^<]+)<\/title><polyline points="([^"]+)"/g)].map((m) => ({
    label: m[1], pts: m[2].split(' ').map((s) => s.split(',').map(Number)),
  }));
  expect(lines).toHaveLength(3);
  const LABEL: Record<string, string> = { default: 'Default', steered: 'Steered', capped: 'Capped' };
  for (const pane of PANES) {
    const line = lines.find((l) => l.label === LABEL[pane]);
    expect(line, pane).toBeTruthy();
    const answers = data.panes[pane].messages.filter((m: any) => m.role === 'assistant');
    expect(line!.pts).toHaveLength(answers.length);
    answers.forEach((m: any, k: number) => {
      const want = f.a * (m.generated.mean[L] - mean) + f.b;
      expect(Math.abs(line!.pts[k][0] - want), `${pane} turn ${k + 1}`).toBeLessThan(0.5 + 1e-3 * Math.abs(f.a));
    });
  }
  // The steered line is somewhere else than the default one.
  const xs = (label: string) => lines.find((l) => l.label === label)!.pts.map((q) => q[0]);
  expect(Math.max(...xs('Steered').map((x, i) => Math.abs(x - xs('Default')[i])))).toBeGreaterThan(2);
});

test('a hidden pane shown again answers the turns it missed; the README screenshot: three panes, the drift lane, a cap on', async ({ browser }) => {
  // Three sends and a catch-up of the synthetic model, three rows each: minutes on a loaded 2-core machine.
  test.setTimeout(900_000);
  const p = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
  await openChatWithModel(p, fx);
  for (const [id, v] of [['chat-maxTokens', '24'], ['chat-temperature', '0.7']]) {
    await p.getByTestId(id).fill(v);
    await p.getByTestId(id).blur();
  }
  await p.getByTestId('chat-steer-slider').fill('3');
  // The cap: a fixed floor inside the usual range of the Default pane's values, so it acts now and then.
  await p.getByTestId('chat-cap-on').check();
  await p.getByTestId('chat-cap-fixed').check();
  const say = async (text: string) => {
    await p.getByTestId('chat-input').fill(text);
    await p.getByTestId('chat-send').click();
    await waitIdle(p, 300_000);
  };
  await say('Hello! Who are you, really?');
  // The window over the monitored layer too, and a floor above what the Default pane reads there: the Capped line sits on it.
  const seen = await tokenValues(p, 'default', 0);
  const L = Number(await p.getByTestId('drift-layer').textContent());
  await p.getByTestId('chat-cap-layers').fill(`${L}-${CHAT_LAYERS - 2}`);
  await p.getByTestId('chat-cap-layers').blur();
  await p.getByTestId('chat-cap-tau').fill((Math.max(...seen) + 3).toFixed(2));
  await p.getByTestId('chat-cap-tau').blur();

  // Hidden for a turn, then shown: it answers that turn first, so it has one answer per user turn.
  await p.getByTestId('pane-hide-steered').click();
  await say('Tell me about the sea.');
  await expect(p.getByTestId('pane-steered')).toHaveCount(0);
  await p.getByTestId('pane-show-steered').click();
  await waitIdle(p, 300_000);
  const answers = (pane: string) => p.getByTestId(`pane-${pane}`).getByTestId('msg-assistant');
  await expect(answers('steered')).toHaveCount(2);
  await expect(answers('steered').nth(1).getByTestId('tok').first()).toBeAttached();
  await say('Would you pretend to be a pirate for me?');
  for (const pane of PANES) await expect(answers(pane)).toHaveCount(3);
  await expect(p.getByTestId('drift-point')).toHaveCount(9);
  await expect(p.getByTestId('chat-clamped')).not.toHaveAttribute('data-count', '0');
  // The monitored layer is in the window now: the Capped pane's last answer reads at or above the floor there.
  const tau = Number(await p.getByTestId('chat-cap-tau').inputValue());
  for (const v of await tokenValues(p, 'capped', 2)) expect(v).toBeGreaterThanOrEqual(tau - 1e-3);

  // docs/chat-lab.png is written only when asked (CHAT_LAB_SCREENSHOT=1), else beside the other test screenshots.
  const out = process.env.CHAT_LAB_SCREENSHOT ? path.join(REPO_ROOT, 'docs', 'chat-lab.png') : path.join(SCREENSHOTS, 'chat-lab-readme.png');
  mkdirSync(path.dirname(out), { recursive: true });
  // The short list as a newcomer sees it on this backend: the 8-bit files (the synthetic model was loaded as fp32).
  await p.getByTestId('chat-dtype').selectOption('q8');
  await p.getByTestId('chat-lab').screenshot({ path: out });
  await p.close();
});
