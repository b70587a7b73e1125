/**
 * Chat lab benchmark in headless Chromium (Debian's /usr/bin/chromium) against the built app
 * (`npx vite build --outDir DIR` first; BENCH_DIST=DIR, default dist/), synthetic model served
 * hub-style (e2e/fixtures/chat.ts). The explorer shows a synthetic set of the model's shape (so
 * the map is drawn, trajectories included). Prints JSON lines:
 * - frame time p50 / p95 (requestAnimationFrame deltas) while three panes stream, with the chat
 *   lab visible and with the map visible (the lab streaming in its hidden tab), each against an
 *   idle baseline window measured in the same round (A/B interleaved, BENCH_ROUNDS rounds);
 * - map renders per streamed token (the map's data-renders counter, sampled every frame while a
 *   pane streams; target 0), and apart from it the renders when a turn ends (its trajectory point
 *   is added to the map: one new polyline vertex per pane, expected).
 * Run: npx vite build --outDir /tmp/chat-dist && BENCH_DIST=/tmp/chat-dist npx tsx bench/chat.bench.ts
 */
import { chromium, type Page } from 'playwright-core';
import { preview } from 'vite';
import { CHROMIUM_ARGS } from '../playwright.config';
import { CHAT_D, CHAT_LAYERS, CHAT_REPO, startChatFixture } from '../e2e/fixtures/chat';
import { REPO_ROOT } from '../e2e/fixtures/shared-data';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 160);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
}
const r2 = (x: number) => Math.round(x * 100) / 100;
function emit(o: Record<string, unknown>) {
  console.log(JSON.stringify({ bench: 'chat', ...o }));
}

async function startFrames(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.__frames = []; window.__framesOn = true;
    let last = performance.now();
    const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__framesOn) requestAnimationFrame(tick); };
    requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
  })()`);
}
async function stopFrames(page: Page): Promise<number[]> {
  return (await page.evaluate('(() => { window.__framesOn = false; return window.__frames; })()')) as number[];
}
/** Counts, every frame, the map's renders that happen while some pane streams (a token arrives). */
async function startRenderWatch(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.__streamRenders = 0; window.__watchOn = true;
    const map = () => Number(document.querySelector('[data-testid="map"]')?.getAttribute('data-renders') ?? 0);
    let last = map();
    const tick = () => {
      const now = map();
      if (now !== last && document.querySelector('.chat-pane[data-streaming]')) window.__streamRenders += now - last;
      last = now;
      if (window.__watchOn) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`);
}
async function stopRenderWatch(page: Page): Promise<number> {
  return (await page.evaluate('(() => { window.__watchOn = false; return window.__streamRenders; })()')) as number;
}
const tokCount = (page: Page) => page.evaluate(() => document.querySelectorAll('[data-testid="msg-assistant"] [data-testid="tok"]').length);
const mapRenders = (page: Page) => page.evaluate(() => Number(document.querySelector('[data-testid="map"]')?.getAttribute('data-renders') ?? NaN));

async function main() {
  const fx = await startChatFixture();
  const server = await preview({ root: REPO_ROOT, logLevel: 'silent', build: { outDir: process.env.BENCH_DIST ?? 'dist' }, preview: { host: '127.0.0.1', port: 4191, strictPort: false, open: false } });
  const base = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4191/';
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(`${base}${fx.query}`);
    // The map: a synthetic set with the model's shape.
    await page.getByTestId('url-input').fill(`synthetic:275x${CHAT_LAYERS}d${CHAT_D}`);
    await page.getByTestId('url-load').click();
    await page.locator('[data-testid="map"][data-points="275"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('tab-chat').click();
    await page.getByTestId('chat-dtype').selectOption('fp32');
    await page.getByTestId('chat-hub-input').fill(CHAT_REPO);
    await page.getByTestId('chat-hub-load').click();
    await page.getByTestId('chat-model-info').waitFor({ timeout: 60_000 });
    await page.getByTestId('chat-axis-file').setInputFiles(fx.axisPath);
    await page.getByTestId('chat-axis-info').waitFor({ timeout: 30_000 });
    await page.getByTestId('chat-maxTokens').fill(String(TOKENS));
    await page.getByTestId('chat-maxTokens').blur();

    const streamWhile = async (view: 'chat' | 'explorer') => {
      // Idle window (baseline) in the same view, then one send measured until the lab is idle again.
      await page.getByTestId(view === 'chat' ? 'tab-chat' : 'tab-explorer').click();
      await startFrames(page);
      await page.waitForTimeout(1500);
      const idle = await stopFrames(page);
      if (view === 'explorer') await page.getByTestId('tab-chat').click();
      await page.getByTestId('chat-input').fill('Tell me about yourself, at length.');
      const tok0 = await tokCount(page);
      await page.getByTestId('chat-send').click();
      await page.getByTestId('chat-stop').waitFor({ state: 'attached' });
      if (view === 'explorer') await page.getByTestId('tab-explorer').click();
      const r0 = await mapRenders(page);
      await startFrames(page);
      await startRenderWatch(page);
      await page.locator('[data-testid="chat-stop"]:disabled').waitFor({ state: 'attached', timeout: 900_000 });
      const frames = await stopFrames(page);
      const streamRenders = await stopRenderWatch(page);
      await page.waitForTimeout(300);
      const r1 = await mapRenders(page);
      const tokens = (await tokCount(page)) - tok0;
      // Undo: every round streams the same conversation length.
      await page.getByTestId('tab-chat').click();
      await page.getByTestId('chat-undo').click();
      await page.locator('[data-testid="chat-undo"]:disabled').waitFor({ state: 'attached' });
      return { idle, frames, tokens, renders: r1 - r0, streamRenders };
    };

    for (let round = 0; round < ROUNDS; round++) {
      for (const view of round % 2 === 0 ? (['chat', 'explorer'] as const) : (['explorer', 'chat'] as const)) {
        const r = await streamWhile(view);
        emit({
          round, view: view === 'chat' ? 'chat lab visible' : 'map visible', panes: 3, tokens_streamed: r.tokens,
          frame_ms_p50: r2(pct(r.frames, 0.5)), frame_ms_p95: r2(pct(r.frames, 0.95)), idle_frame_ms_p95: r2(pct(r.idle, 0.95)),
          p95_ratio_vs_idle: r2(pct(r.frames, 0.95) / pct(r.idle, 0.95)), target_p95_ms: 33,
          ...(view === 'explorer' ? {
            map_renders_while_streaming: r.streamRenders, map_renders_per_token: r.tokens ? r2(r.streamRenders / r.tokens) : null, target_renders_per_token: 0,
            map_renders_whole_send: r.renders,
          } : {}),
        });
      }
    }
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    await fx.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
