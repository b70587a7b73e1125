/**
 * Decode benchmark in headless Chromium (`npx tsx bench/decode-browser.bench.ts [--quick]`), JSON
 * lines on stdout, ending with one {"bench":"decode-browser","stage":"summary", ...} line.
 *
 * bench/decode.bench.ts measures the WASM choice (our int8 decoder, src/core/lm/own/session.ts
 * `createOwnEngine`) in Node 20; the product runs that WASM in a browser, whose V8 compiles it
 * differently (Chromium has relaxed SIMD on by default; on a CPU with AVX-VNNI its int8 dot product
 * is exact there, which the u8 kernel of src/core/lm/int8-gemv-wasm.ts uses). This bench measures
 * the same figures where the product runs: Debian's /usr/bin/chromium through playwright-core,
 * a page from a local node:http server with COOP same-origin + COEP require-corp (so the page is
 * cross-origin isolated: SharedArrayBuffer and the kernel pool work), and in a module Web Worker
 * (bench/browser/decode.worker.ts, bundled with esbuild at start) the decoder as the model worker
 * opens it: `createOwnEngine(ort, onnx, cfg, { pool })` with `ort` = onnxruntime-common's Tensor and
 * a pool from workers/own-pool.ts `browserKernelPool(2)` (its helper, workers/own-kernel.worker.ts,
 * bundled apart and served where own-pool.ts spawns it: `./own-kernel.worker.ts` next to the
 * decode worker's bundle).
 *
 * The model: decode.bench.ts's, built in Node (Qwen3-0.6B's shape, --layers N: 4 with --quick,
 * else 28; random weights, seed 1; `buildDecoder(..., { style: 'optimum', dtype: 'q8' })`),
 * served to the page as one file that the worker fetches. The prompt and the intervention axis
 * come from the same Pcg32(7) draws as decode.bench.ts's.
 *
 * First every engine warms up (--warmup 3 passes of a generation, one with interventions, and batches
 * of 3 and 8: Chromium runs a wasm function on Liftoff code until it has run a while, then on
 * TurboFan's, each kernel shape on its own; without it the first figures' own side ran up to ~10%
 * below the same engine's later ones). Every ratio is contender / baseline in A/B rounds interleaved
 * in this one page session (a warm-up of each, then --rounds rounds; the order swapped each round;
 * each side's median), tokens/s from the loop's own decode timer; the definitions are decode.bench.ts's:
 *
 *   wasm_vs_native         our decoder in Chromium, 1 thread, `engine.generate(prompt, { maxNewTokens,
 *                          stopIds: [] }).decodeTokensPerSecond` vs the same file on onnxruntime-node
 *                          (CPU EP, 1 thread, graphOptimizationLevel 'all') in this Node process;
 *   chromium_vs_node       our decoder, 1 thread, in Chromium vs the same in this Node process (what
 *                          bench/decode.bench.ts measures; node_kernel: the kernel it ran there);
 *   instrumented_vs_plain  taps + steering at 2 layers + capping at 2 layers + projections every token
 *                          vs none of them (the same engine without interventions);
 *   batch3_vs_sequential   tokens/s over 3 rows in one batched Conversation (rows r % 3 = 0 plain,
 *                          1 steer + cap, 2 cap) vs 3 one-row runs (B * (new - 1) tokens over decodeMs);
 *   batch8_vs_batch1       the same for 8 rows vs 1; both on the model worker's engine (the 2-thread
 *                          kernel pool, `batch_engine` says; one thread where no pool loaded), and on
 *                          one thread as batch3_vs_sequential_1thread / batch8_vs_batch1_1thread. One
 *                          row is memory-bound (2 threads stream ~1.3x one), 8 rows compute-bound
 *                          (the int8 dots of 8 rows split over both cores), so batching gains more
 *                          on the pool: the product's configuration, so the headline;
 *   threads2_vs_1          an engine with a 2-thread kernel pool vs one without, short rounds in pairs
 *                          (--thread-tokens tokens), the median over the pairs no other process
 *                          disturbed (threads2_vs_1_all: every pair), as decode.bench.ts's threadsSection:
 *                          a pair is quiet when in none of its rounds more than 0.3 core (other + steal)
 *                          went elsewhere, from /proc/stat around each round less this Node process's CPU
 *                          and Chromium's (its whole process tree, from /proc/<pid>/stat);
 *   rows_same_greedy_tokens  whether each row of a batch of 3 / of 8 makes the tokens that row makes
 *                          alone (same prompt, same interventions);
 *   u8dot_vs_dot           (--kernel auto, where the u8 kernel is exact and setInt8KernelPreference is
 *                          there) 1-thread decode tokens/s of an engine on the u8dot kernel vs one made
 *                          under the preference 'dot', both in this page session;
 *   same_greedy_tokens_as_native  whether Chromium's 1-thread engine and onnxruntime-node make the
 *                          same greedy tokens (informative: the two quantise activations alike, but a
 *                          near tie may go either way).
 * Every A/B line and the summary carry other_cores: the CPU the rest of the machine used during the
 * rounds (cores; the machine's 2 cores are shared with other work; the summary's median and max over
 * every round, and max_by_figure: the most any round of each figure saw), and the load average.
 *
 * The kernel: with `--kernel auto` (default) whatever int8-gemv-wasm.ts picks (u8dot where its probe
 * found relaxed SIMD's dot exact for uint8 activations, else dot); `--kernel dot` forces the SIMD128
 * i32x4.dot_i16x8_s kernel for every engine, through `setInt8KernelPreference` (set in the decode
 * worker before any engine is made; a linear hands its kernel to the pool's helpers with its
 * weights). The summary's `kernel` is `integerKernel()` after the preference (where the module has
 * it; else 'u8dot' where `int8GemvWasm().u8Exact` and the preference is not 'dot'), `engine_kernels`
 * each engine's; `preference_setter` says whether the setter was there (without it `--kernel dot`
 * changes nothing).
 *
 * Engines are made in setup ('one': no pool, 'two': a pool of 2, 'oneDot'); one that fails to load
 * is reported (engine_errors; its figures are null) rather than ending the run, and
 * wasm_instances_in_worker counts the WebAssembly instances each made in the decode worker (the pool's
 * helper makes as many again for its slices). Why: each of our kernels' instances has a memory of its
 * own, and Chromium's V8 reserves every 32-bit wasm memory's guard region inside its sandbox, which
 * here holds about 124 a renderer process (page and workers together; measured: 124 one-page
 * memories, then "could not allocate memory"; Node 20 makes thousands). Before int8 arenas (a
 * memory per linear) one engine held ~113 at 28 layers (`--layers 28 --section load --no-threads`:
 * 125 instances, 11 memories left), so a 2-thread engine or two engines did not load
 * ("WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance"); with
 * arenas (every linear of an engine in one memory per kernel module and thread, int8-gemv-wasm.ts)
 * `--layers 28 --section load` loads with 3 instances in the worker and 122 memories left.
 * wasm_memories_free_at_end: how many more the process took at the end.
 * `--section load` makes only the model worker's configuration (one engine with a 2-thread pool; with
 * --no-threads one without) and says whether it loaded.
 *
 * Measured (Chromium 156.0.8078.114, 2 cores shared with other work; src as of 6d3839c plus the
 * kernel engineers' uncommitted decoder edits, 20:05-20:10 UTC; --quick ~40-70 s, full ~2 min):
 *   --quick (u8dot; other_cores median 0, max 0.16): wasm_vs_native 0.91 (114.7 vs 126.0 tokens/s),
 *     chromium_vs_node 1.01 (Node: dot kernel, 107.8), threads2_vs_1 1.27 (8/8 quiet pairs; 141.9 vs
 *     110.4), batch3_vs_sequential 1.73 (196.5 vs 113.5), batch8_vs_batch1 2.02 (228.8 vs 113.5),
 *     instrumented_vs_plain 0.99, u8dot_vs_dot 1.12 (112.9 vs 101.0); rows' tokens the same;
 *   --quick --kernel dot (other_cores median 0.02): wasm_vs_native 0.78 (97.9 vs 125.0), chromium_vs_node
 *     1.05, threads2_vs_1 1.27 (8/10), batch3_vs_sequential 1.27, batch8_vs_batch1 1.40, instrumented 1.02;
 *   28 layers (u8dot; other_cores median 0.02, max 0.6): wasm_vs_native 0.86 (35.7 vs 41.5),
 *     chromium_vs_node 1.02, batch3_vs_sequential 1.53, batch8_vs_batch1 1.66, instrumented 1.06;
 *     no threads figure (the 2-thread engine does not load, above).
 * Loaded runs (other_cores ~1) move every ratio by 10-30% and leave few quiet thread pairs.
 *
 * Importable: `runBrowserDecode(options)` returns the summary object (and prints the lines unless
 * `log` is given), for bench/decode.bench.ts to fold in. Options (CLI): --quick, --layers N,
 * --prompt 16, --new 8 (16 full), --rounds 5 (batch pairs: one fewer), --warmup 3, --kernel auto|dot,
 * --thread-tokens 16, --thread-pairs (quick 24, full 40), --thread-quiet 8, --thread-s (quick 60, full
 * 180), --section load, --no-threads, --no-native, --no-node, --no-kernel-ab, --headful (a visible
 * window, for debugging). Greedy; stop ids off so every run makes exactly --new tokens.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig, presetConfigJson, type DecoderConfig } from '../src/core/lm/config';
import { LmEngine } from '../src/core/lm/generate';
import { Pcg32 } from '../src/core/lm/sampling';
import { buildDecoder } from '../src/core/lm/builder';
import { CHROMIUM_ARGS } from '../playwright.config';
import { machineCpu, TICK_MS } from './machine';

export interface BrowserDecodeOptions {
  quick?: boolean;
  /** Decoder layers (default 4 with quick, else 28). */
  layers?: number;
  promptTokens?: number;
  /** New tokens per generation (default 8 with quick, else 16). */
  newTokens?: number;
  rounds?: number;
  /** 'auto': the kernel int8-gemv-wasm.ts picks; 'dot': the SIMD128 dot_i16x8 kernel. */
  kernel?: 'auto' | 'dot';
  /** Run the threads pairs (default true where the machine has 2 cores or more). */
  threads?: boolean;
  /** Run wasm_vs_native (default true). */
  native?: boolean;
  /** Warm-up passes over every engine before the figures (default 3; see the file comment). */
  warmup?: number;
  /** Run chromium_vs_node: the same decoder in this Node process (default true). */
  nodeOwn?: boolean;
  /** Run u8dot_vs_dot where there is a choice (default true; only with kernel 'auto'). */
  kernelAb?: boolean;
  threadTokens?: number;
  threadPairs?: number;
  threadQuiet?: number;
  threadS?: number;
  /**
   * 'load': only the model worker's configuration (one engine with a 2-thread pool; without
   * threads, one without), whether it loads and the wasm memories it leaves; no figures.
   */
  section?: 'load' | 'profile';
  /** The q8 optimum-style file, when the caller has built it already (same config). */
  model?: Uint8Array;
  /** Where the JSON lines go (default: console.log of each, with bench: 'decode-browser'). */
  log?: (o: Record<string, unknown>) => void;
  executablePath?: string;
  headful?: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => +x.toFixed(3);
const q3 = (x: number | null | undefined) => (x == null ? null : r3(x));
const mb = (b: number) => Math.round(b / 2 ** 20);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');


/** CPU time (ms, user + system) of a process and all its descendants, from /proc/<pid>/stat; null off Linux. */
function treeCpuMs(root: number | undefined): number | null {
  if (root === undefined) return null;
  try {
    const stats = new Map<number, { ppid: number; ms: number }>();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const s = readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
        stats.set(Number(d), { ppid: Number(f[1]), ms: (Number(f[11]) + Number(f[12])) * TICK_MS });
      } catch {
        // gone meanwhile
      }
    }
    const kids = new Map<number, number[]>();
    for (const [pid, s] of stats) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), pid]);
    let ms = 0;
    const stack = [root];
    while (stack.length) {
      const p = stack.pop()!;
      ms += stats.get(p)?.ms ?? 0;
      stack.push(...(kids.get(p) ?? []));
    }
    return ms;
  } catch {
    return null;
  }
}

/**
 * The page and the two worker bundles (esbuild, ESM): the decode worker, and the product's kernel
 * helper where workers/own-pool.ts spawns it (`new URL('./own-kernel.worker.ts', import.meta.url)`,
 * which esbuild leaves as it is: next to the decode worker's URL).
 */
async function bundles(): Promise<Record<string, string>> {
  const one = async (entry: string) => {
    const r = await esbuild({ entryPoints: [entry], absWorkingDir: ROOT, bundle: true, format: 'esm', platform: 'browser', target: 'chrome120', write: false, logLevel: 'error' });
    return r.outputFiles[0].text;
  };
  const [worker, helper] = await Promise.all([one(path.join(HERE, 'browser', 'decode.worker.ts')), one(path.join(ROOT, 'workers', 'own-kernel.worker.ts'))]);
  return { '/decode.worker.js': worker, '/own-kernel.worker.ts': helper, '/': PAGE };
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>decode-browser bench</title>
<script type="module">
const w = new Worker('/decode.worker.js', { type: 'module' });
let n = 0;
const waiting = new Map();
w.addEventListener('message', (e) => {
  const p = waiting.get(e.data.id);
  waiting.delete(e.data.id);
  if (e.data.ok) p.resolve(e.data.result); else p.reject(new Error(e.data.error));
});
w.addEventListener('error', (e) => {
  for (const p of waiting.values()) p.reject(new Error('the decode worker failed: ' + (e.message || 'its script did not load')));
  waiting.clear();
});
window.rpc = (cmd, args) => new Promise((resolve, reject) => { const id = ++n; waiting.set(id, { resolve, reject }); w.postMessage({ id, cmd, args }); });
window.benchReady = true;
</script>`;

/** A local server with COOP same-origin + COEP require-corp on every response (cross-origin isolation). */
function serve(files: Record<string, string>, model: Uint8Array): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const headers: Record<string, string> = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (url === '/model.onnx') {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': String(model.byteLength) });
      res.end(Buffer.from(model.buffer, model.byteOffset, model.byteLength));
      return;
    }
    const body = files[url];
    if (body === undefined) {
      res.writeHead(404, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': url === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8' });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, base: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    });
  });
}

type Sample = { v: number; other: number | null; steal: number | null; cpu: number | null };

export async function runBrowserDecode(options: BrowserDecodeOptions = {}): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const quick = options.quick ?? false;
  const LAYERS = options.layers ?? (quick ? 4 : 28);
  const PROMPT = options.promptTokens ?? 16;
  const NEW = options.newTokens ?? (quick ? 8 : 16);
  const ROUNDS = options.rounds ?? 5;
  const KERNEL = options.kernel ?? 'auto';
  const WARMUP = options.warmup ?? 3;
  const log = options.log ?? ((o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'decode-browser', ...o })));
  const line = (o: Record<string, unknown>) => log(o);
  const cfgJson = { ...presetConfigJson('qwen3-0.6b'), num_hidden_layers: LAYERS };
  const cfg: DecoderConfig = parseConfig(cfgJson);
  const loadStart = os.loadavg()[0];
  line({ stage: 'start', quick, layers: LAYERS, prompt_tokens: PROMPT, new_tokens: NEW, rounds: ROUNDS, kernel_preference: KERNEL, node: process.version, cpus: os.cpus().length, loadavg: r3(loadStart) });

  // decode.bench.ts's draws: the prompt, then the intervention axis
  const rng = new Pcg32(7);
  const prompt = Array.from({ length: PROMPT }, () => 1000 + Math.floor(rng.float() * 100000));
  const axisRaw = Array.from({ length: cfg.numLayers * cfg.hiddenSize }, () => rng.float() - 0.5);

  let onnx = options.model;
  if (!onnx) {
    const tb = performance.now();
    onnx = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype: 'q8' }).onnx;
    line({ stage: 'build', dtype: 'q8', layers: LAYERS, model_mb: mb(onnx.byteLength), build_s: r3((performance.now() - tb) / 1000) });
  }

  const files = await bundles();
  const { server, base } = await serve(files, onnx);
  let browser: Browser | undefined;
  const samples: Sample[] = [];
  try {
    browser = await chromium.launch({
      executablePath: options.executablePath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: options.headful ? CHROMIUM_ARGS.filter((a) => a !== '--headless') : CHROMIUM_ARGS,
      headless: !options.headful,
    });
    // playwright's Chromium is a child of this process: this process's tree is ours (Node + Chromium)
    const ourTree = process.pid;
    const page: Page = await browser.newPage();
    page.on('pageerror', (e) => line({ stage: 'page_error', error: e.message }));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => (window as unknown as { benchReady?: boolean }).benchReady === true);
    const rpc = <T>(cmd: string, args: Record<string, unknown> = {}) =>
      page.evaluate(([c, a]) => (window as unknown as { rpc(c: string, a: unknown): Promise<unknown> }).rpc(c, a), [cmd, args] as const) as Promise<T>;

    const wantThreads = (options.threads ?? true) && os.cpus().length >= 2;
    const setup = await rpc<Record<string, unknown>>('setup', { modelUrl: `${base}/model.onnx`, cfgJson, prompt, axis: axisRaw, newTokens: NEW, threads: wantThreads ? 2 : 1, kernel: KERNEL,
      kernelAb: options.section !== 'load' && KERNEL === 'auto' && (options.kernelAb ?? true), skipOne: options.section === 'load' && wantThreads,
    });
    const chromiumVersion = browser.version();
    line({ stage: 'setup', chromium: chromiumVersion, ...setup });
    if (options.section === 'load') {
      // the model worker's configuration alone: one engine with the pool (or, without threads, none)
      const headroom = await rpc<{ free: number; error: string | null }>('wasmHeadroom');
      const summary = {
        stage: 'summary', section: 'load', layers: LAYERS, chromium: chromiumVersion, kernel: setup.kernel, pool_threads: setup.pool_threads,
        loaded: Object.keys(setup.engine_errors as object).length === 0, engine_kernels: setup.engine_kernels, engine_errors: setup.engine_errors,
        wasm_instances_in_worker: setup.wasm_instances_in_worker, wasm_memories_free_at_end: headroom.free, model_mb: setup.model_mb,
        load_s: wantThreads ? setup.load_2threads_s : setup.load_1thread_s, wall_s: r3((performance.now() - t0) / 1000),
      };
      line(summary);
      await rpc('close');
      return { bench: 'decode-browser', ...summary };
    }
    const have = (name: string) => Boolean((setup.engine_kernels as Record<string, string>)[name]);
    for (const [name, err] of Object.entries(setup.engine_errors as Record<string, string>)) line({ stage: 'warning', warning: `engine ${name} was not made: ${err}` });
    if (!have('one')) throw new Error(`Our decoder did not load in Chromium: ${(setup.engine_errors as Record<string, string>).one}`);
    if (setup.cross_origin_isolated !== true) line({ stage: 'warning', warning: 'the page is not cross-origin isolated: the kernel pool runs 1 thread' });

    line({ stage: 'warmup', times: WARMUP, ...(await rpc<Record<string, unknown>>('warmup', { times: WARMUP })) });
    if (options.section === 'profile') {
      // where a decode step's time goes, per engine and rows (no A/B: a breakdown, not a figure)
      const out: unknown[] = [];
      for (const engine of ['one', 'two']) {
        if (!have(engine)) continue;
        for (const B of [1, 3, 8]) {
          const p = await rpc<Record<string, unknown>>('profile', { engine, B, times: ROUNDS * 2 });
          line({ stage: 'profile', engine, ...p });
          out.push({ engine, ...p });
        }
      }
      await rpc('close');
      return { bench: 'decode-browser', section: 'profile', profiles: out };
    }

    /** One round of fn, with what the rest of the machine used meanwhile (cores; this process's tree, Chromium included, is ours) and Chromium's CPU (cores). */
    const sample = async (fn: () => Promise<number>): Promise<Sample> => {
      const m0 = machineCpu(), p0 = process.cpuUsage(), c0 = treeCpuMs(ourTree), s0 = performance.now();
      const v = await fn();
      const wall = performance.now() - s0, p = process.cpuUsage(p0), m1 = machineCpu(), c1 = treeCpuMs(ourTree);
      const ours = c0 !== null && c1 !== null ? c1 - c0 : null;
      const chrome = ours === null ? null : Math.max(0, ours - (p.user + p.system) / 1000);
      const s: Sample = {
        v,
        other: m0 && m1 && ours !== null ? Math.max(0, m1.busyMs - m0.busyMs - ours) / wall : null,
        steal: m0 && m1 ? (m1.stealMs - m0.stealMs) / wall : null,
        cpu: chrome === null ? null : chrome / wall,
      };
      samples.push(s);
      return s;
    };
    const maxOther = (ss: Sample[]) => (ss.some((s) => s.other === null) ? null : r3(Math.max(...ss.map((s) => s.other!))));

    /** A/B rounds interleaved, the order swapped each round (after a warm-up of each); each side's median. */
    const ab = async (name: string, a: () => Promise<number>, b: () => Promise<number>, rounds = ROUNDS) => {
      await a();
      await b();
      const as: Sample[] = [], bs: Sample[] = [];
      for (let i = 0; i < rounds; i++) {
        if (i % 2 === 0) {
          as.push(await sample(a));
          bs.push(await sample(b));
        } else {
          bs.push(await sample(b));
          as.push(await sample(a));
        }
      }
      const res = { a: median(as.map((s) => s.v)), b: median(bs.map((s) => s.v)), ratio: 0, other: maxOther([...as, ...bs]) };
      res.ratio = res.a / res.b;
      otherBy[name.split(' ')[0] + (name.includes('2-thread pool') ? '_2threads' : '')] = res.other;
      line({ stage: 'ab', name, a: as.map((s) => r3(s.v)), b: bs.map((s) => r3(s.v)), ratio: r3(res.ratio), other_cores: as.map((s, i) => q3(Math.max(s.other ?? NaN, bs[i].other ?? NaN))), other_cores_max: res.other });
      return res;
    };

    const gen = (engine: string, instrumented = false, n = NEW) => async () => (await rpc<{ tps: number }>('generate', { engine, instrumented, n })).tps;
    const tps: Record<string, number> = {};
    const otherBy: Record<string, number | null> = {}; // the most other_cores any round of a figure saw

    // 1. wasm_vs_native: our decoder in Chromium (1 thread) vs onnxruntime-node (CPU EP, 1 thread) in this process
    let vsNative: Awaited<ReturnType<typeof ab>> | null = null;
    let sameAsNative: boolean | null = null;
    let nodeKernel: string | null = null;
    if (options.native ?? true) {
      const ortNode = await import('onnxruntime-node');
      const session = await ortNode.InferenceSession.create(onnx, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 4, intraOpNumThreads: 1, interOpNumThreads: 1 });
      const eNode = new LmEngine(ortNode as never, session as never, cfg, { style: 'optimum' });
      const nativeIds = (await eNode.generate(prompt, { maxNewTokens: NEW, stopIds: [] })).ids;
      const ownIds = (await rpc<{ ids: number[] }>('generate', { engine: 'one' })).ids;
      sameAsNative = nativeIds.join() === ownIds.join();
      vsNative = await ab('wasm_vs_native (own in chromium / onnxruntime-node, 1 thread)', gen('one'), async () => (await eNode.generate(prompt, { maxNewTokens: NEW, stopIds: [] })).decodeTokensPerSecond);
      tps.q8_own = vsNative.a;
      tps.q8_native = vsNative.b;
      await eNode.dispose();
    }

    // 1b. the same decoder, 1 thread, in Chromium vs in this Node process (what bench/decode.bench.ts measures)
    let vsNode: Awaited<ReturnType<typeof ab>> | null = null;
    if (options.nodeOwn ?? true) {
      const { Tensor } = await import('onnxruntime-common');
      const { createOwnEngine } = await import('../src/core/lm/own/session');
      const gemv = await import('../src/core/lm/int8-gemv-wasm');
      const k = gemv as unknown as { integerKernel?: () => string; setInt8KernelPreference?: (p: string) => void };
      k.setInt8KernelPreference?.(KERNEL);
      const eOwnNode = createOwnEngine({ Tensor } as never, onnx, cfg);
      nodeKernel = typeof k.integerKernel === 'function' ? k.integerKernel() : 'dot';
      vsNode = await ab('chromium_vs_node (own, 1 thread: in chromium / in node)', gen('one'), async () => (await eOwnNode.generate(prompt, { maxNewTokens: NEW, stopIds: [] })).decodeTokensPerSecond);
      tps.q8_own_node = vsNode.b;
      await eOwnNode.dispose();
    }

    // 2. instrumented vs plain (the same engine, with and without interventions)
    const vsPlain = await ab('instrumented_vs_plain (own in chromium)', gen('one', true), gen('one'));
    tps.q8_own_instrumented = vsPlain.a;
    tps.q8_own_plain = vsPlain.b;

    // 3. rows: one batched Conversation vs one-row runs
    const batch = (B: number, engine = 'one') => async () => (await rpc<{ tps: number }>('batch', { engine, B })).tps;
    const seq = (B: number, engine = 'one') => async () => (await rpc<{ tps: number }>('seq', { engine, B })).tps;
    const rr = Math.max(1, ROUNDS - 1);
    const b3 = await ab('batch3_vs_sequential_1thread (own in chromium)', batch(3), seq(3), rr);
    const b8 = await ab('batch8_vs_batch1_1thread (own in chromium)', batch(8), batch(1), rr);
    Object.assign(tps, { batch1_own: b8.b, batch3_own: b3.a, sequential3_own: b3.b, batch8_own: b8.a });
    // 3b. the same on the model worker's engine (the 2-thread kernel pool): what the chat lab's three
    // panes and extraction's rollouts run on; the summary's batch keys where it loaded
    let b3Two: Awaited<ReturnType<typeof ab>> | null = null, b8Two: Awaited<ReturnType<typeof ab>> | null = null;
    if (have('two') && setup.pool_threads === 2) {
      b3Two = await ab('batch3_vs_sequential (own in chromium, the 2-thread pool)', batch(3, 'two'), seq(3, 'two'), rr);
      b8Two = await ab('batch8_vs_batch1 (own in chromium, the 2-thread pool)', batch(8, 'two'), batch(1, 'two'), rr);
      Object.assign(tps, { batch1_own_2threads: b8Two.b, batch3_own_2threads: b3Two.a, sequential3_own_2threads: b3Two.b, batch8_own_2threads: b8Two.a });
    }
    const same3 = await rpc<{ same: boolean; differ: number[] }>('rowsSame', { engine: 'one', B: 3 });
    const same8 = await rpc<{ same: boolean; differ: number[] }>('rowsSame', { engine: 'one', B: 8 });
    const same8Two = b8Two ? await rpc<{ same: boolean; differ: number[] }>('rowsSame', { engine: 'two', B: 8 }) : null;
    line({ stage: 'rows_same', batch3: same3, batch8: same8, batch8_2threads: same8Two });

    // 4. the u8dot kernel vs the dot one, 1 thread (two engines in this session)
    let vsDot: Awaited<ReturnType<typeof ab>> | null = null;
    if (have('oneDot') && (setup.engine_kernels as Record<string, string>).oneDot === 'dot') {
      vsDot = await ab('u8dot_vs_dot (own in chromium, 1 thread)', gen('one'), gen('oneDot'));
      tps.q8_own_u8dot = vsDot.a;
      tps.q8_own_dot = vsDot.b;
    }

    // 5. threads: the engine with a 2-thread kernel pool vs the one without, pairs judged quiet from /proc/stat
    let threads: ReturnType<typeof summarisePairs> | null = null;
    if (wantThreads && have('two') && setup.pool_threads === 2) {
      const maxPairs = options.threadPairs ?? (quick ? 24 : 40);
      const wantQuiet = options.threadQuiet ?? 8;
      const budgetMs = 1000 * (options.threadS ?? (quick ? 60 : 180));
      const tokens = options.threadTokens ?? Math.max(16, NEW);
      const QUIET = 0.3;
      const two = gen('two', false, tokens), one = gen('one', false, tokens);
      await two();
      await one(); // warm-up
      const pairs: Pair[] = [];
      const threadSamples: Sample[] = [];
      const tp = performance.now();
      let quietN = 0;
      while (pairs.length < maxPairs && quietN < wantQuiet && performance.now() - tp < budgetMs) {
        const i = pairs.length;
        let a: Sample, b: Sample;
        if (i % 2) {
          b = await sample(one);
          a = await sample(two);
        } else {
          a = await sample(two);
          b = await sample(one);
        }
        threadSamples.push(a, b);
        const load = [a, b].some((s) => s.other === null || s.steal === null) ? null : Math.max(a.other! + a.steal!, b.other! + b.steal!);
        const quiet = load !== null && load <= QUIET;
        if (quiet) quietN++;
        pairs.push({ t2: a.v, t1: b.v, load, quiet });
        line({
          stage: 'threads_round', i, tps_2threads: r3(a.v), tps_1thread: r3(b.v), ratio: r3(a.v / b.v), cpu_2threads_cores: q3(a.cpu), cpu_1thread_cores: q3(b.cpu),
          other_cores: a.other === null || b.other === null ? null : r3(Math.max(a.other, b.other)), steal_cores: a.steal === null || b.steal === null ? null : r3(Math.max(a.steal, b.steal)), quiet,
        });
      }
      threads = summarisePairs(pairs);
      line({ stage: 'ab', name: 'threads2_vs_1 (own in chromium)', tokens_per_round: tokens, pairs: threads.pairs, quiet_pairs: threads.quietPairs, ratio_quiet: q3(threads.ratio), ratio_all: r3(threads.all) });
      otherBy.threads2_vs_1_all = maxOther(threadSamples);
      tps.q8_own_2threads = threads.a;
      tps.q8_own_1thread = threads.b;
    } else if (wantThreads) {
      line({ stage: 'warning', warning: have('two') ? `the kernel pool has ${String(setup.pool_threads)} threads, not 2: no threads pairs` : 'no 2-thread engine: no threads pairs' });
    }

    const kernelNow = await rpc<Record<string, unknown>>('info');
    const headroom = await rpc<{ free: number; error: string | null }>('wasmHeadroom');
    await rpc('close');
    const others = samples.map((s) => s.other).filter((x): x is number => x !== null);
    const summary: Record<string, unknown> = {
      stage: 'summary',
      quick,
      layers: LAYERS,
      prompt_tokens: PROMPT,
      new_tokens: NEW,
      rounds: ROUNDS,
      runtime: 'our int8 decoder (createOwnEngine) in a module Web Worker of headless Chromium, cross-origin isolated',
      chromium: chromiumVersion,
      cross_origin_isolated: setup.cross_origin_isolated,
      pool_threads: setup.pool_threads,
      kernel: kernelNow.kernel,
      kernel_preference: KERNEL,
      engine_kernels: setup.engine_kernels,
      engine_errors: setup.engine_errors,
      wasm_instances_in_worker: setup.wasm_instances_in_worker,
      wasm_memories_free_at_end: headroom.free,
      preference_setter: kernelNow.preference_setter,
      u8_exact: kernelNow.u8_exact,
      relaxed_simd: kernelNow.relaxed_simd,
      wasm_vs_native: q3(vsNative?.ratio),
      chromium_vs_node: q3(vsNode?.ratio),
      node_kernel: nodeKernel,
      threads2_vs_1: q3(threads?.ratio),
      threads2_vs_1_all: q3(threads?.all),
      threads_quiet_pairs: threads ? `${threads.quietPairs}/${threads.pairs}` : null,
      batch_engine: b8Two ? 'the model worker\'s engine: a 2-thread kernel pool (min(4, hardwareConcurrency) threads)' : 'one thread (no 2-thread pool here)',
      batch3_vs_sequential: r3((b3Two ?? b3).ratio),
      batch8_vs_batch1: r3((b8Two ?? b8).ratio),
      batch3_vs_sequential_1thread: r3(b3.ratio),
      batch8_vs_batch1_1thread: r3(b8.ratio),
      instrumented_vs_plain: r3(vsPlain.ratio),
      u8dot_vs_dot: q3(vsDot?.ratio),
      rows_same_greedy_tokens: same3.same && same8.same && (same8Two?.same ?? true),
      rows_same_greedy_tokens_detail: { batch3: same3, batch8: same8, batch8_2threads: same8Two },
      same_greedy_tokens_as_native: sameAsNative,
      tokens_per_s: Object.fromEntries(Object.entries(tps).map(([k, v]) => [k, r3(v)])),
      other_cores: { median: others.length ? r3(median(others)) : null, max: others.length ? r3(Math.max(...others)) : null, rounds: others.length, max_by_figure: otherBy },
      loadavg: { start: r3(loadStart), end: r3(os.loadavg()[0]) },
      cpus: os.cpus().length,
      targets: { wasm_vs_native: 0.7, threads2_vs_1: 1.3, batch3_vs_sequential: 2, batch8_vs_batch1: 3, instrumented_vs_plain: 0.95 },
      wall_s: r3((performance.now() - t0) / 1000),
    };
    line(summary);
    return { bench: 'decode-browser', ...summary };
  } finally {
    await browser?.close().catch(() => {});
    await new Promise((r) => server.close(r));
  }
}

type Pair = { t2: number; t1: number; load: number | null; quiet: boolean };
/** decode.bench.ts's threadsSection medians: the quiet pairs' ratio (null under 3 of them), every pair's, and the sides' tokens/s. */
function summarisePairs(pairs: Pair[]) {
  const quiet = pairs.filter((p) => p.quiet);
  const use = quiet.length ? quiet : pairs;
  return {
    a: median(use.map((p) => p.t2)),
    b: median(use.map((p) => p.t1)),
    ratio: quiet.length >= 3 ? median(quiet.map((p) => p.t2 / p.t1)) : null,
    all: median(pairs.map((p) => p.t2 / p.t1)),
    quietPairs: quiet.length,
    pairs: pairs.length,
  };
}

function cli() {
  const argv = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));
  const kernel = arg('kernel') ?? 'auto';
  if (kernel !== 'auto' && kernel !== 'dot') throw new Error(`--kernel takes auto or dot, not ${kernel}`);
  return runBrowserDecode({
    quick: argv.includes('--quick'),
    layers: num('layers'),
    promptTokens: num('prompt'),
    newTokens: num('new'),
    rounds: num('rounds'),
    warmup: num('warmup'),
    kernel,
    threads: argv.includes('--no-threads') ? false : undefined,
    native: argv.includes('--no-native') ? false : undefined,
    kernelAb: argv.includes('--no-kernel-ab') ? false : undefined,
    nodeOwn: argv.includes('--no-node') ? false : undefined,
    section: arg('section') === 'load' ? 'load' : arg('section') === 'profile' ? 'profile' : undefined,
    threadTokens: num('thread-tokens'),
    threadPairs: num('thread-pairs'),
    threadQuiet: num('thread-quiet'),
    threadS: num('thread-s'),
    headful: argv.includes('--headful'),
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
