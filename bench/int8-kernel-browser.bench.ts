/**
 * The int8 GEMV kernels for MatMulInteger in headless Chromium (Debian's /usr/bin/chromium): the
 * u8dot kernel (relaxed SIMD's dot, exact where the engine lowers it to AVX-VNNI's vpdpbusd) against
 * the dot kernel (i16 lanes, what Node 20 and every other engine run), on the page
 * e2e/pages/kernel.html of the built app (`npx vite build --outDir DIR` first; BENCH_DIST=DIR,
 * default dist/). Per linear shape: GB/s of weights streamed at M = 1, and time(M) / time(M = 1)
 * for M = 3 and 8, per kernel, rounds interleaved (kernel order alternating), medians; and whether
 * both kernels' outputs were the same bit for bit; the same from each kernel's fastest round
 * (best_*: on a busy machine the least disturbed one). JSON lines.
 * Run: npx vite build --outDir /tmp/k-dist && BENCH_DIST=/tmp/k-dist npx tsx bench/int8-kernel-browser.bench.ts
 *   BENCH_ROUNDS (default 7), BENCH_SHAPES ("1024x151936,1024x6144": K x N), BENCH_MS ("1,3,8"),
 *   BENCH_ROWS / BENCH_COLS (force rowsPerPass / cols on both kernels; default: each kernel's automatic ones),
 *   BENCH_KERNELS (e.g. "u8dot": only those), BENCH_SCALED=1 (matmulIntegerScaled: the float epilogue too, as ColumnSlice runs it),
 *   BENCH_COPIES=40 (40 linears of each shape in one arena, called in turn: weights streamed from
 *   memory as in a decode step; a 6 MB linear is otherwise cache-resident). Measured so (u8dot,
 *   scaled, 2026-12-05): 1024x6144 at M = 8 0.71-0.79 ms cold against 0.49-0.52 hot, 3072x1024
 *   0.42-0.44 against 0.28, the lm_head (never resident) the same either way; a step of one or two
 *   columns touches a 64-byte line of a 4-column group on its first pass and uses 16 or 32 bytes
 *   of it (weights packed by 1 measured 0.57 ms on the 1024x6144 linear, none better at 3072x1024).
 */
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { CHROMIUM_ARGS } from '../playwright.config';
import { REPO_ROOT } from '../e2e/fixtures/shared-data';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SHAPES = (process.env.BENCH_SHAPES ?? '1024x151936,1024x6144').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const MS = (process.env.BENCH_MS ?? '1,3,8').split(',').map(Number);
const ROWS = process.env.BENCH_ROWS ? Number(process.env.BENCH_ROWS) : undefined;
const SCALED = process.env.BENCH_SCALED === '1';
const COLS = process.env.BENCH_COLS ? (Number(process.env.BENCH_COLS) as 1 | 2 | 4) : undefined;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

async function main() {
  const server = await preview({ root: REPO_ROOT, logLevel: 'silent', build: { outDir: process.env.BENCH_DIST ?? 'dist' }, preview: { host: '127.0.0.1', port: 4192, strictPort: false, open: false } });
  const base = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4192/';
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`${base}e2e/pages/kernel.html`);
    await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
    const info = await page.evaluate(() => (window as any).kernel.info());
    console.log(JSON.stringify({ bench: 'int8-kernel-browser', info, rounds: ROUNDS, rowsPerPass: ROWS ?? 'auto', cols: COLS ?? 'auto', scaled: SCALED }));
    // u8dot-k1 / u8dot-k2 (only when named in BENCH_KERNELS): the u8dot kernel with one / two accumulator sets (Int8LoadOptions.k2)
    const kernels = (info.u8Exact ? ['dot', 'u8dot', 'u8dot-k1', 'u8dot-k2'] : ['dot']).filter((k) => (process.env.BENCH_KERNELS ? process.env.BENCH_KERNELS.split(',').includes(k) : !k.includes('-k')));
    for (const [K, N] of SHAPES) {
      const bytes = K * N;
      const big = bytes > 50e6;
      const o = { N, K, Ms: MS, rounds: ROUNDS, reps: big ? 5 : 9, inner: big ? 1 : 20, warm: big ? 3 : 30, rowsPerPass: ROWS, cols: COLS, kernels, scaled: SCALED, copies: Number(process.env.BENCH_COPIES ?? 1) };
      const r = await page.evaluate((opts) => (window as any).kernel.bench(opts), o);
      const ms = r.ms as Record<string, Record<number, number>>;
      for (const k of kernels) {
        const line: Record<string, unknown> = { bench: 'int8-kernel-browser', kernel: k, K, N, weightMB: r3(r.weightBytes / 1e6), ms: Object.fromEntries(MS.map((M) => [M, r3(ms[k][M])])), gbps_m1: r3(r.weightBytes / (ms[k][1] * 1e6)) };
        for (const M of MS) if (M !== 1) line[`m${M}_over_m1`] = r3(ms[k][M] / ms[k][1]);
        // the fastest round too: on a busy machine the least disturbed one
        line.best_ms = Object.fromEntries(MS.map((M) => [M, r3(r.best[k][M])]));
        line.best_gbps_m1 = r3(r.weightBytes / (r.best[k][1] * 1e6));
        for (const M of MS) if (M !== 1) line[`best_m${M}_over_m1`] = r3(r.best[k][M] / r.best[k][1]);
        console.log(JSON.stringify(line));
      }
      if (kernels.length === 2) {
        console.log(JSON.stringify({ bench: 'int8-kernel-browser', K, N, same_bits: r.same, ...Object.fromEntries(MS.map((M) => [`${kernels[1]}_over_${kernels[0]}_m${M}`.replace(/-/g, '_'), r3(ms[kernels[1]][M] / ms[kernels[0]][M])])), perRound: r.perRound }));
      }
    }
  } finally {
    await browser.close();
    await new Promise<void>((res) => server.httpServer.close(() => res()));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
