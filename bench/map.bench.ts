/**
 * Map benchmark in headless Chromium (Debian's /usr/bin/chromium) against the built app
 * (`npm run build` first; served here with vite preview). Prints JSON lines:
 * - page load to the empty state (baseline) vs time to first map for the shared dataset
 *   (setInputFiles of 276 .pt files -> map drawn with 275 points), median of 3;
 * - a 20,000 x 64 set (.npy + names through the file input): time to first map, and frame
 *   times (requestAnimationFrame deltas) during a scripted wheel-zoom + drag-pan, against the
 *   same gesture on the 275-point map.
 * - renders during 60 hovers over the 275-point map: the map's and the page's React renders
 *   (data-renders), so a regression that re-renders the page on every hover shows as a ratio.
 * Run: npx tsx bench/map.bench.ts (E2E_DIST=<folder> serves another build folder than dist/)
 */
import { chromium, type Page } from 'playwright-core';
import { preview } from 'vite';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CHROMIUM_ARGS } from '../playwright.config';
import { REPO_ROOT, sharedVectorPaths } from '../e2e/fixtures/shared-data';
import { writeManyPoints } from '../e2e/fixtures/many';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}
const r1 = (x: number) => Math.round(x * 10) / 10;
function emit(o: Record<string, unknown>) {
  console.log(JSON.stringify({ bench: 'map', ...o }));
}

/** In-page clock: from the file input's change event to the map reporting `n` points. */
async function armFirstMapClock(page: Page, n: number): Promise<void> {
  await page.evaluate(`(() => {
    window.__tChange = 0; window.__tDrawn = 0;
    document.addEventListener('change', () => { if (!window.__tChange) window.__tChange = performance.now(); }, { capture: true });
    const mo = new MutationObserver(() => {
      const m = document.querySelector('[data-testid="map"]');
      if (m && m.getAttribute('data-points') === '${n}' && !window.__tDrawn) { window.__tDrawn = performance.now(); mo.disconnect(); }
    });
    mo.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-points'] });
  })()`);
}
async function readFirstMapClock(page: Page): Promise<number> {
  return (await page.evaluate('window.__tDrawn - window.__tChange')) as number;
}

/** Top functions by self time during `fn` (Chrome CPU profile), when BENCH_PROFILE=1. */
async function profile(page: Page, fn: () => Promise<unknown>): Promise<{ fn: string; self_ms: number }[] | null> {
  if (!process.env.BENCH_PROFILE) {
    await fn();
    return null;
  }
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  await fn();
  const { profile: prof } = await cdp.send('Profiler.stop');
  const self = new Map<string, number>();
  const dt = new Map<number, number>();
  prof.samples?.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas?.[i] ?? 0) / 1000));
  for (const node of prof.nodes) {
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (dt.get(node.id) ?? 0));
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => ({ fn: k, self_ms: r1(v) }));
}

async function waitPoints(page: Page, n: number, timeout = 120_000) {
  await page.waitForFunction(
    (want) => document.querySelector('[data-testid="map"]')?.getAttribute('data-points') === String(want),
    n,
    { polling: 'raf', timeout },
  );
}

/** Wheel-zoom in and out, then drag-pan, over the map while recording rAF timestamps. */
async function gestureFrames(page: Page): Promise<number[]> {
  const box = await page.getByTestId('map').boundingBox();
  if (!box) throw new Error('map has no box');
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  // A string, not a function: tsx (esbuild keepNames) would inject a `__name` helper the page lacks.
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__rec = true;
    const loop = (t) => { window.__frames.push(t); if (window.__rec) requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  })()`);
  for (let i = 0; i < 10; i++) {
    await page.mouse.wheel(0, -120);
    await page.waitForTimeout(16);
  }
  for (let i = 0; i < 10; i++) {
    await page.mouse.wheel(0, 120);
    await page.waitForTimeout(16);
  }
  await page.mouse.down();
  for (let i = 0; i < 40; i++) {
    const a = (i / 40) * Math.PI * 2;
    await page.mouse.move(cx + Math.cos(a) * 150, cy + Math.sin(a) * 100);
    await page.waitForTimeout(16);
  }
  await page.mouse.up();
  const frames = (await page.evaluate('(() => { window.__rec = false; return window.__frames; })()')) as number[];
  const deltas: number[] = [];
  for (let i = 1; i < frames.length; i++) deltas.push(frames[i] - frames[i - 1]);
  return deltas;
}

/** React renders of the map and of the page while the pointer crosses the map `hovers` times. */
async function hoverRenders(page: Page, hovers: number) {
  const box = await page.getByTestId('map').boundingBox();
  if (!box) throw new Error('map has no box');
  const read = async () => ({
    map: Number(await page.getByTestId('map').getAttribute('data-renders')),
    page: Number(await page.getByTestId('explorer').getAttribute('data-renders')),
  });
  const before = await read();
  for (let i = 0; i < hovers; i++) {
    await page.mouse.move(box.x + box.width * (0.15 + (0.7 * i) / hovers), box.y + box.height * (0.3 + 0.4 * ((i * 7) % hovers) / hovers));
    await page.waitForTimeout(10);
  }
  await page.mouse.move(box.x + 2, box.y + 2);
  await page.waitForTimeout(100);
  const after = await read();
  const mapRenders = after.map - before.map, pageRenders = after.page - before.page;
  return { hovers, map_renders: mapRenders, page_renders: pageRenders, page_renders_per_hover: r1(pageRenders / hovers) };
}

function frameStats(deltas: number[]) {
  return {
    frames: deltas.length,
    median_ms: r1(median(deltas)),
    p95_ms: r1(pct(deltas, 0.95)),
    max_ms: r1(Math.max(...deltas)),
    over_33ms: deltas.filter((d) => d > 33.4).length,
    fps: r1(1000 / (deltas.reduce((a, b) => a + b, 0) / deltas.length)),
  };
}

async function main() {
  const dist = process.env.E2E_DIST ?? 'dist';
  if (!existsSync(path.resolve(REPO_ROOT, dist, 'index.html'))) {
    console.error('Build the app first: npm run build');
    process.exit(1);
  }
  const server = await preview({ root: REPO_ROOT, logLevel: 'silent', build: { outDir: dist }, preview: { host: '127.0.0.1', port: 4190, strictPort: false, open: false } });
  const base = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4190/';
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const many = writeManyPoints(20_000, 64);
  try {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const shared = sharedVectorPaths();
    const loadMs: number[] = [];
    const firstMapMs: number[] = [];
    const inPageMs: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const page = await ctx.newPage();
      let t0 = performance.now();
      await page.goto(base);
      await page.getByTestId('file-input').waitFor({ state: 'attached' });
      loadMs.push(performance.now() - t0);
      await armFirstMapClock(page, 275);
      t0 = performance.now();
      await page.getByTestId('file-input').setInputFiles(shared);
      await waitPoints(page, 275);
      firstMapMs.push(performance.now() - t0);
      inPageMs.push(await readFirstMapClock(page));
      await page.close();
    }
    const baseline = median(loadMs);
    emit({ metric: 'page_load_to_empty_state_ms', median: r1(baseline), runs: loadMs.map(r1) });
    emit({ metric: 'time_to_first_map_ms', dataset: 'llama-3.1-8b-L16 (276 .pt files, 275 x 4096 bf16)', median: r1(median(firstMapMs)), runs: firstMapMs.map(r1), in_page_change_to_map_ms: r1(median(inPageMs)), ratio_vs_page_load: r1(median(firstMapMs) / baseline) });

    // Frame times: the same gesture on 275 points (baseline) and on 20,000 points.
    const page = await ctx.newPage();
    await page.goto(base);
    await page.getByTestId('file-input').setInputFiles(shared);
    await waitPoints(page, 275);
    await page.waitForTimeout(300);
    const small = frameStats(await gestureFrames(page));
    emit({ metric: 'pan_zoom_frames', points: 275, ...small });
    emit({ metric: 'hover_renders', points: 275, ...(await hoverRenders(page, 60)) });

    await armFirstMapClock(page, 20_000);
    const t0 = performance.now();
    await page.getByTestId('file-input').setInputFiles(many.paths);
    await waitPoints(page, 20_000);
    const manyFirst = performance.now() - t0;
    emit({ metric: 'time_to_first_map_ms', dataset: '20000 x 64 float32 .npy + names.json', median: r1(manyFirst), runs: [r1(manyFirst)], in_page_change_to_map_ms: r1(await readFirstMapClock(page)) });
    await page.waitForTimeout(300);
    let deltas: number[] = [];
    const top = await profile(page, async () => {
      deltas = await gestureFrames(page);
    });
    const big = frameStats(deltas);
    if (top) emit({ metric: 'pan_zoom_profile_top_self_time', points: 20_000, top });
    emit({ metric: 'pan_zoom_frames', points: 20_000, ...big, median_ratio_vs_275: r1(big.median_ms / small.median_ms), p95_ratio_vs_275: r1(big.p95_ms / small.p95_ms) });
    await ctx.close();
  } finally {
    many.remove();
    await browser.close();
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
