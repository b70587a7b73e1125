/**
 * Decode benchmark (`npx tsx bench/decode.bench.ts [--quick]`), JSON lines on stdout.
 *
 * A decoder of Qwen3-0.6B's shape (d 1024, 16 heads / 8 kv heads of 128, MLP 3072, vocab 151936,
 * tied embeddings; 28 layers, or 4 with --quick), random weights, built with our builder at run
 * time. Every ratio is contender / baseline measured in this process, in A/B rounds interleaved
 * (A, B, A, B, ...; or A, B, C, ... for several runners; the median of each side), tokens/s from the
 * loop's own decode timer, every runner generating through `LmEngine.generate` / `Conversation`.
 *
 * The WASM choice is what the product runs on WASM (src/core/lm/pick.ts with `ownDecoder`, as the
 * model worker asks: the 8-bit `_quantized` file) opened as workers/model-load.ts opens it: our int8
 * decoder (src/core/lm/own/session.ts `createOwnEngine`, instrumented; `nodeKernelPool` for 2
 * threads, the model worker's `browserKernelPool` twin). The summary's keys are measured on it:
 *
 *   wasm_vs_native          the WASM choice (our decoder, 1 thread) vs the same file on onnxruntime-node
 *                           (CPU EP), 1 thread;
 *   own_vs_ort_web          the WASM choice vs the same file on onnxruntime-web WASM (what the WASM
 *                           choice was before), 1 thread; own_same_greedy_tokens: they make the same tokens;
 *   wasm_vs_q4_wasm         the WASM choice vs the q4 (MatMulNBits) file on onnxruntime-web;
 *   wasm_int8_vs_fp32       the WASM choice vs the fp32 file on onnxruntime-web;
 *   q4_converted_vs_choice  the q4 file converted at load (MatMulNBits -> per-column int8) on onnxruntime-web
 *                           vs the WASM choice;
 *   q4_converted_own_vs_ortweb  that converted file on our decoder (what the model worker opens a
 *                           q4-only repo on) vs on onnxruntime-web;
 *   threads2_vs_1           the WASM choice with a 2-thread kernel pool vs 1 thread (two engines in this
 *                           process; the pool's helper is a worker thread of it), short rounds in pairs,
 *                           the median over the pairs no other process disturbed (threads2_vs_1_all: every
 *                           pair; see threadsSection; `--section threads` runs just the threads pairs);
 *   instrumented_vs_plain   taps + steering at 2 layers + capping at 2 layers + projections every token vs
 *                           none of them (our decoder always presents the instrumented graph: its plain
 *                           side is the same engine without interventions);
 *   batch3_vs_sequential    tokens/s over 3 rows in one batched Conversation vs 3 one-row runs;
 *   batch8_vs_batch1        the same for 8 rows vs 1;
 *   kv_reuse_turn10_speedup time to first token of turn 10 of a chat: a fresh prefill of the whole chat
 *                           / the conversation that kept its cache (only turn 10's tokens are fed);
 *   finished_rows_sliced_speedup  8 rows, 1 generating and 7 done (prefill-only): decode tokens/s with
 *                           the done rows sliced out of the batch / riding along as padding;
 *   genai_turn_rowwise_speedup  a genai (GroupQueryAttention) graph on onnxruntime-web (our decoder has no
 *                           GQA limit, so this one stays there), 3 rows with a cache, a later turn of
 *                           --turn tokens each: one token per step at batch 3 (what GQA allows at batch > 1)
 *                           / each row alone at batch 1, all its tokens in one pass (conversation.ts).
 * (`--section rows` runs just the last two.) The same measurements on onnxruntime-web (its plain graph,
 * or the instrumented one where interventions are needed; threads in two child processes, as
 * onnxruntime-web fixes its thread count when the wasm starts) stay as `ortweb_*` keys, e.g.
 * ortweb_wasm_vs_native (0.30-0.34 quiet, before our decoder), ortweb_threads2_vs_1 (in --quick a
 * 60 s budget for its pairs). `--section own` runs the first three (own_wasm_vs_native, own_vs_ort_web,
 * ortweb_wasm_vs_native). tokens_per_s names runners `<dtype>_own`, `<dtype>_ortweb`, `<dtype>_native`, ...
 *
 * Where the product runs. The app runs our decoder's WASM in a browser, whose V8 compiles it
 * differently from Node 20's: Chromium has relaxed SIMD on, and on a CPU with AVX-VNNI its int8 dot
 * product is exact for uint8 activations, so the kernels pick the u8dot kernel there (a probe at
 * start decides; src/core/lm/int8-gemv-wasm.ts), while Node 20 runs the dot kernel. So the run ends
 * with bench/decode-browser.bench.ts (`runBrowserDecode`: the same file and prompt in a Web Worker of
 * headless Chromium, cross-origin isolated, its own A/B rounds and quiet pairs, onnxruntime-node in
 * this process as the native side), and the summary's `wasm_vs_native`, `threads2_vs_1`,
 * `batch3_vs_sequential`, `batch8_vs_batch1` and `instrumented_vs_plain` are Chromium's figures
 * (`wasm_engine` says so; `chromium` holds the rest: kernel, batch_engine (Chromium's batch keys are
 * the model worker's 2-thread pool's; the 1-thread ones beside them), u8dot_vs_dot, chromium_vs_node,
 * tokens/s, other_cores) with this process's (1 thread) under `node`. Without Chromium (or with --no-chromium) they are
 * this process's, and `wasm_engine` says that. The other keys are this process's either way.
 *
 * What follows was measured on onnxruntime-web, before our decoder became the WASM choice:
 *
 * Why threads2_vs_1 used to swing from 1.37 to 0.80 between quiet runs: other work on the 2 cores.
 * Per round, a 2-thread decode needs both cores: when another process takes one (other_cores ~1.0
 * in the threads_round lines), 2 threads fall to 0.5-0.9x of 1 thread (~15 vs ~20 tokens/s: the
 * pool's threads wait on each other while one is descheduled), while 1 thread barely notices; with
 * other_cores < 0.1 the same pairs give 1.3-2.0x (2 threads use ~1.9 cores). The load comes and
 * goes within a run, so pairs are bimodal: the full `--quick` run at 08:14 UTC had 7 quiet pairs of
 * 24 (median 1.70; 33.9 vs ~20 tokens/s) and 17 disturbed (all-pair median 0.80); `--quick --section
 * threads` at 08:18, all 8 pairs quiet: 1.68. Not a setting: onnxruntime-web's threaded build runs
 * every session on the env's global thread pools (wasm/api.cc: OrtCreateSession calls
 * DisablePerSessionThreads; OrtInit sets only the thread count), and the session config entries
 * `session.intra_op.allow_spinning` / `session.force_spinning_stop` act on per-session pools only
 * (inference_session.cc). Measured, `--section threads --child-extra
 * '{"session.intra_op.allow_spinning":"0"}'` (a third child, 2 threads, with the entry): 1.07x the
 * default over 8 quiet pairs, 0.98x over 16 mostly disturbed ones, the same ~1.9 cores used when
 * quiet and the same fall under load; so createSession sets nothing for it. The idle children and
 * the bench parent take < 0.1 core (counted in other_cores).
 *
 * Why wasm_vs_native stays well under the 0.7 target (0.302 on a quiet machine: q8 20.3 tokens/s on
 * WASM vs 67.1 native, 1 thread, --quick). It is the int8 GEMV kernels, not our loop: onnxruntime-node's
 * MLAS runs u8s8 MatMulInteger / DynamicQuantizeMatMul with AVX2 / AVX-512 VNNI (4-way int8 dot
 * products), while onnxruntime-web's WASM build has SIMD128 only (int8 products widened to int16 and
 * summed in int32 lanes, several instructions where VNNI takes one). Measured here, one linear at
 * decode (M = 1), 1 thread, a loaded machine so only the order of magnitude counts: a layer's
 * 1024 x 3072 int8 weights (3 MB, cache-resident, compute-bound) take ~1 ms on WASM vs ~0.1 ms native
 * (5-10x); the tied lm_head's 151936 x 1024 int8 (148 MB, memory-bound) ~57 ms vs ~30 ms (~0.5x).
 * The --quick model (4 layers) is lm_head-heavy, the 28-layer one body-heavy; but a real 28-layer
 * token streams every layer from memory, where native is slower too: all of a step's linears in one
 * graph (bench/int8-gemv.bench.ts chain) gave onnxruntime-web 0.31x native at 4 layers and 0.45x at
 * 28 (GEMV time only). The ways around it do not fit: fp32 MatMul runs at ~0.8x native on
 * WASM (memory-bound either way) but Qwen3-0.6B in fp32 needs ~9.6 GB of wasm heap at session
 * creation (pick.ts wasmHeapEstimate; even 4 layers, 1.5 GB, fail with std::bad_alloc), and an fp32
 * lm_head beside an int8 body reads 4x the bytes (622 MB per token): measured 141-283 ms on WASM
 * vs 57 ms for the int8 one, slower. graphOptimizationLevel 'all' (DynamicQuantizeLinear + MatMulInteger fused
 * to MatMulIntegerToFloat) vs 'disabled' was inside the noise of a loaded machine (46 vs 54 ms for
 * 16 such layers; 200 vs 176 ms for the lm_head). WebGPU (q4f16 / q4) is the fast path in a browser.
 *
 * The one lever left, quantified: our own int8 kernel in WASM SIMD128 outside onnxruntime
 * (src/core/lm/int8-gemv-wasm.ts; `npx tsx bench/int8-gemv.bench.ts`, 1 thread, 9 A/B rounds
 * interleaved in one process; two runs, 08:25 and 08:28 UTC, load average ~2.3, peak RSS 5.2 GB).
 * Measured for a whole decode step, every linear of 28 layers + the lm_head (568 MB of distinct int8
 * weights, streamed from memory as in a real token), one row, GEMV time per token:
 *   ours (plain SIMD128, i32x4.dot_i16x8_s) 56.7 / 51.3 ms, ours (relaxed SIMD dot) 50.6 / 58.6 ms,
 *   onnxruntime-node 76.9 / 67.9 ms, onnxruntime-web 172.5 / 165.6 ms
 * -> own kernel 1.32-1.52x native, onnxruntime-web 0.41-0.45x; at 4 layers (--quick, 3 rounds)
 * 24.4 / 33.4 / 106 ms: 1.37x, and onnxruntime-web 0.31x, what this bench measures for the
 * whole decode (0.30-0.34), so GEMV is the gap. One linear, GB/s of weights read at one row:
 *   (run 1 / run 2)              ours: dot_i16x8  relaxed      extmul       ort-web    ort-node
 *   layer 1024x3072 (3 MB)       21.8 / 15.6      27.4 / 19.2  12.3 / 10.3  4.8 / 4.9  37.7 / 28.5
 *   lm_head 1024x151936 (148 MB) 17.7 / 20.5      20.3 / 21.4  12.3 / 14.3  4.2 / 4.7  12.0 / 12.0
 * Cache-resident our kernel is 0.6-0.7x native (SIMD128 widens int8 to int16 where VNNI does 4-way
 * int8 dot products) but 4.5x onnxruntime-web, whose kernel is compute-bound at ~4-5 GB/s even
 * from cache; streaming from memory ours passes native (native's M = 1 int8 path reads at 12 GB/s
 * here). So yes: a WASM decoder of our own on this kernel could pass 0.7x native for one row
 * (measured GEMV 1.3-1.5x), if the rest of a step (attention, norms, rotary, the loop; a few ms)
 * stays small; that is our own decoder for the WASM backend, not built. Batches gain less: at
 * M = 3 / 8 rows our kernel is compute-bound (best variant 0.23-0.30 / 0.18-0.28x native on the
 * layer, 0.62-0.70 / 0.49-0.52x on the lm_head) while VNNI takes extra rows almost free. Relaxed
 * SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s (browsers' default; Node 20 behind a V8 flag) is
 * 5-25% faster on one linear, not on the whole step, and needs 7-bit activations: twice the
 * quantisation error (the agree lines: 0.8% vs 0.4% rms).
 *
 * The machine's own 2-vs-1 thread read bandwidth (bench/bandwidth.ts, WebAssembly SIMD in Node), measured
 * just before the Chromium part, goes into the summary as `bandwidth` (skip it with --no-bandwidth):
 * threads2_vs_1 of a memory-bound decode is bounded by it, so read the two side by side.
 *
 * Ends with one line {"bench":"decode","stage":"summary", ...}: the ratios, absolute tokens/s per
 * runner and the backend names. Options: --quick, --layers N, --prompt 16, --new 8, --rounds 3,
 * --section rows|threads|own, --thread-tokens 16, --thread-pairs, --thread-quiet 8, --thread-s.
 * Greedy; stop ids off so every run makes exactly --new tokens.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig, presetConfigJson, type DecoderConfig } from '../src/core/lm/config';
import { LmEngine, unitRows } from '../src/core/lm/generate';
import { buildInterventions } from '../src/core/lm/interventions';
import { createSession, type Ort } from '../src/core/lm/ort';
import { Pcg32 } from '../src/core/lm/sampling';
import { buildDecoder, type ModelDType } from '../src/core/lm/builder';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { dequantizeMatMulNBits } from '../src/core/onnx/rewrite/dequantize';
import { pickWeights } from '../src/core/lm/pick';
import { createOwnEngine, createOwnSession } from '../src/core/lm/own/session';
import { nodeKernelPool } from '../workers/own-pool-node';
import { runBrowserDecode } from './decode-browser.bench';
import { measureBandwidth, type BandwidthResult } from './bandwidth';
import type { RowParams } from '../src/core/lm/rows';
import { machineCpu } from './machine';

const arg = (name: string, dflt: number | string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : String(dflt);
};
const quick = process.argv.includes('--quick');
const LAYERS = Number(arg('layers', quick ? 4 : 28));
const PROMPT = Number(arg('prompt', 16));
const NEW = Number(arg('new', quick ? 8 : 16));
const ROUNDS = Number(arg('rounds', 3));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => +x.toFixed(3);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'decode', ...o }));
const mb = (b: number) => Math.round(b / 2 ** 20);

const cfgJson = { ...presetConfigJson('qwen3-0.6b'), num_hidden_layers: LAYERS };
const WEB = 'onnxruntime-web wasm';
const NATIVE = 'onnxruntime-node cpu';
const OWN = 'our int8 decoder: TypeScript + WASM SIMD128 int8 (src/core/lm/own/session.ts createOwnEngine, what the model worker runs 8-bit files on)';

type Model = { onnx: Uint8Array; externalData?: { path: string; data: Uint8Array }[] };

function build(cfg: DecoderConfig, dtype: ModelDType): Model {
  const t0 = performance.now();
  const b = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype });
  line({ stage: 'build', dtype, layers: cfg.numLayers, model_mb: mb(b.onnx.byteLength), build_s: r3((performance.now() - t0) / 1000) });
  return { onnx: b.onnx };
}

async function engineFor(ort: Ort, ortModule: unknown, cfg: DecoderConfig, m: Model, ep: 'wasm' | 'cpu', instrument = false): Promise<LmEngine> {
  const opts = { executionProviders: [ep], graphOptimizationLevel: 'all' as const, logSeverityLevel: 4 as const, intraOpNumThreads: 1, interOpNumThreads: 1 };
  const session = instrument
    ? await createSession(ort, instrumentDecoder(m.onnx, { hiddenSize: cfg.hiddenSize, externalData: m.externalData }), opts)
    : await ort.InferenceSession.create(m.onnx, { ...opts, externalData: m.externalData });
  return new LmEngine(ortModule as never, session as never, cfg, { style: 'optimum' });
}

/** The WASM choice as the product opens it (workers/model-load.ts): our int8 decoder, instrumented, with a kernel pool of `threads` (none: 1 thread). */
async function ownEngine(ortModule: unknown, cfg: DecoderConfig, m: Model, threads = 1): Promise<{ engine: LmEngine; close(): Promise<void> }> {
  const t0 = performance.now();
  const pool = threads > 1 ? await nodeKernelPool(threads) : undefined;
  const engine = createOwnEngine(ortModule as never, m.onnx, cfg, { externalData: m.externalData, pool });
  line({ stage: 'own_load', threads: pool?.threads ?? 1, load_s: r3((performance.now() - t0) / 1000) });
  return { engine, close: async () => { await engine.dispose(); await pool?.close(); } };
}

/** Decode tokens/s of one greedy generation (the loop's own timer, steps after the first). */
async function decodeTps(engine: LmEngine, prompt: number[], n: number, params?: RowParams & { axis?: Float32Array }): Promise<number> {
  const r = await engine.generate(prompt, { maxNewTokens: n, stopIds: [], params });
  return r.decodeTokensPerSecond;
}

/** A/B rounds interleaved; each side's median. */
async function ab(name: string, a: () => Promise<number>, b: () => Promise<number>, rounds = ROUNDS): Promise<{ a: number; b: number; ratio: number }> {
  await a();
  await b(); // warm-up
  const as: number[] = [], bs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    as.push(await a());
    bs.push(await b());
  }
  const res = { a: median(as), b: median(bs), ratio: median(as) / median(bs) };
  line({ stage: 'ab', name, a: as.map(r3), b: bs.map(r3), ratio: r3(res.ratio) });
  return res;
}

/** Several runners in interleaved rounds (each round runs every one, in order); each one's median. */
async function rounds(name: string, fns: Record<string, () => Promise<number>>, n = ROUNDS): Promise<Record<string, number>> {
  const keys = Object.keys(fns);
  for (const k of keys) await fns[k](); // warm-up
  const got: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  for (let i = 0; i < n; i++) for (const k of keys) got[k].push(await fns[k]());
  const med = Object.fromEntries(keys.map((k) => [k, median(got[k])]));
  line({ stage: 'rounds', name, ...Object.fromEntries(keys.map((k) => [k, got[k].map(r3)])) });
  return med;
}
const ratioLine = (name: string, a: number, b: number) => {
  line({ stage: 'ab', name, a: r3(a), b: r3(b), ratio: r3(a / b) });
  return { a, b, ratio: a / b };
};

// ---- child process: one onnxruntime-web instance with N threads, driven over IPC ----
/** Extra session options a child is created with (`--child-extra '{"session.intra_op.allow_spinning":"0"}'`), for experiments. */
async function child(threads: number, file: string, extra: Record<string, string>) {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = threads;
  ortWeb.env.logLevel = 'fatal';
  const cfg = parseConfig(cfgJson);
  const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' as const, logSeverityLevel: 4 as const, ...(Object.keys(extra).length ? { extra } : {}) };
  const session = await createSession(ortWeb as unknown as Ort, { graph: new Uint8Array(readFileSync(file)), externalData: [] }, opts);
  const engine = new LmEngine(ortWeb as never, session as never, cfg, { style: 'optimum' });
  const prompt = Array.from({ length: PROMPT }, (_, i) => 1000 + i * 37);
  process.on('message', async (m: { tokens?: number }) => {
    const c0 = process.cpuUsage();
    const tps = await decodeTps(engine, prompt, m.tokens ?? NEW);
    const c = process.cpuUsage(c0);
    process.send!({ tps, cpuMs: (c.user + c.system) / 1000 });
  });
  process.send!({ ready: true });
}

/** One side of the threads pairs: a child process (onnxruntime-web) or an engine in this process (our decoder: its kernel pool's threads are this process's). */
type Runner = { run(tokens?: number): Promise<{ tps: number; cpuMs: number }>; inProcess: boolean; close(): void };
type Child = Runner & { proc: ChildProcess };
function inProcessRunner(engine: LmEngine, prompt: number[]): Runner {
  return {
    inProcess: true,
    close() {},
    async run(tokens?: number) {
      const c0 = process.cpuUsage();
      const tps = await decodeTps(engine, prompt, tokens ?? NEW);
      const c = process.cpuUsage(c0);
      return { tps, cpuMs: (c.user + c.system) / 1000 };
    },
  };
}
function startChild(threads: number, file: string, extra: Record<string, string> = {}): Promise<Child> {
  const proc = fork(import.meta.filename, ['--child', String(threads), file, '--child-extra', JSON.stringify(extra), ...process.argv.slice(2)], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('message', () =>
      resolve({
        proc,
        inProcess: false,
        close: () => proc.kill(),
        run: (tokens?: number) => new Promise((r) => { proc.once('message', (m: { tps: number; cpuMs: number }) => r(m)); proc.send({ tokens }); }),
      }),
    );
  });
}


/**
 * 2 threads vs 1 on WASM: two child processes (onnxruntime-web fixes its thread count when the wasm
 * starts), short rounds in pairs (2-thread first, then 1-thread first, alternating); the ratio is
 * the median over pairs of tokens/s(2) / tokens/s(1), so a burst of load elsewhere spoils a pair,
 * not a side. Each round records the CPU the rest of the machine used meanwhile (/proc/stat busy
 * minus this bench's processes, so the idle children count here) and the VM's steal time, in
 * cores. A pair is `quiet` when in none of its rounds more than 0.3 core (other + steal) was taken
 * elsewhere (idle here: ~0.1-0.2). Rounds of `--thread-tokens` tokens (16) go on until
 * `--thread-quiet` quiet pairs (8), `--thread-pairs` pairs (quick 24, full 40) or `--thread-s`
 * seconds (quick 90, full 180). `threads2_vs_1` is the quiet pairs' median (what the hardware gives;
 * null with fewer than 3), `threads2_vs_1_all` every pair's (what the shared machine gave this run).
 * With `extra` (`--child-extra '{...}'` in `--section threads`), a third child (2 threads, created
 * with those session config entries) runs in every pair too: `threads2x_vs_1` (quiet pairs) and
 * `extra_vs_default_2threads` (every pair: both 2-thread children meet the same conditions).
 */
async function threadsSection(name: string, start: () => Promise<{ two: Runner; one: Runner; twoExtra?: Runner | null }>, extra: Record<string, string> = {}, budgetS = quick ? 90 : 180) {
  const maxPairs = Number(arg('thread-pairs', quick ? 24 : 40));
  const wantQuiet = Number(arg('thread-quiet', 8));
  const budgetMs = 1000 * Number(arg('thread-s', budgetS));
  const tokens = Number(arg('thread-tokens', Math.max(16, NEW)));
  const QUIET = 0.3; // cores taken elsewhere (other + steal) that a quiet pair may see
  const withExtra = Object.keys(extra).length > 0;
  const started = await start();
  const c2 = started.two, c1 = started.one, c2x = started.twoExtra ?? null;
  type Round = { tps: number; cpu: number; other: number | null; steal: number | null };
  const round = async (c: Runner): Promise<Round> => {
    const m0 = machineCpu(), p0 = process.cpuUsage(), t0 = performance.now();
    const r = await c.run(tokens);
    const wall = performance.now() - t0, p = process.cpuUsage(p0), m1 = machineCpu();
    // a child's CPU and this process's (an in-process runner's is this process's)
    const ours = (c.inProcess ? 0 : r.cpuMs) + (p.user + p.system) / 1000;
    return {
      tps: r.tps,
      cpu: r.cpuMs / wall,
      other: m0 && m1 ? Math.max(0, m1.busyMs - m0.busyMs - ours) / wall : null,
      steal: m0 && m1 ? (m1.stealMs - m0.stealMs) / wall : null,
    };
  };
  const load = (rs: Round[]) => (rs.some((r) => r.other === null || r.steal === null) ? null : Math.max(...rs.map((r) => r.other! + r.steal!)));
  try {
    for (const c of [c2, c1, c2x]) if (c) await round(c); // warm-up
    const pairs: { t2: number; t1: number; t2x: number | null; load: number | null }[] = [];
    const t0 = performance.now();
    let quietN = 0;
    while (pairs.length < maxPairs && quietN < wantQuiet && performance.now() - t0 < budgetMs) {
      const i = pairs.length;
      const order = i % 2 ? [c1, c2, c2x] : [c2x, c2, c1];
      const got = new Map<Runner, Round>();
      for (const c of order) if (c) got.set(c, await round(c));
      const [a, b, x] = [got.get(c2)!, got.get(c1)!, c2x ? got.get(c2x)! : null];
      const l = load([a, b, ...(x ? [x] : [])]);
      if (l !== null && l <= QUIET) quietN++;
      pairs.push({ t2: a.tps, t1: b.tps, t2x: x?.tps ?? null, load: l });
      line({
        stage: 'threads_round', name, i, tps_2threads: r3(a.tps), tps_1thread: r3(b.tps), ratio: r3(a.tps / b.tps),
        ...(x ? { tps_2threads_extra: r3(x.tps), ratio_extra: r3(x.tps / b.tps), cpu_2threads_extra_cores: r3(x.cpu) } : {}),
        cpu_2threads_cores: r3(a.cpu), cpu_1thread_cores: r3(b.cpu), other_cores: a.other === null ? null : r3(Math.max(a.other, b.other!)), steal_cores: a.steal === null ? null : r3(Math.max(a.steal, b.steal!)), quiet: l !== null && l <= QUIET,
      });
    }
    const quiet = pairs.filter((p) => p.load !== null && p.load <= QUIET);
    const med = (ps: typeof pairs, f: (p: (typeof pairs)[number]) => number) => (ps.length ? median(ps.map(f)) : null);
    const res = {
      a: med(quiet.length ? quiet : pairs, (p) => p.t2)!,
      b: med(quiet.length ? quiet : pairs, (p) => p.t1)!,
      ratio: quiet.length >= 3 ? med(quiet, (p) => p.t2 / p.t1) : null,
      all: med(pairs, (p) => p.t2 / p.t1)!,
      extra: withExtra && quiet.length >= 3 ? med(quiet, (p) => p.t2x! / p.t1) : null,
      // both 2-thread children see the same conditions within a pair: every pair counts
      extraVsDefault: withExtra ? med(pairs, (p) => p.t2x! / p.t2) : null,
      quietPairs: quiet.length,
      pairs: pairs.length,
    };
    const q = (x: number | null) => (x === null ? null : r3(x));
    line({
      stage: 'ab', name, tokens_per_round: tokens, pairs: res.pairs, quiet_pairs: res.quietPairs, ratio_quiet: q(res.ratio), ratio_all: r3(res.all),
      ratio_min: r3(Math.min(...pairs.map((p) => p.t2 / p.t1))), ratio_max: r3(Math.max(...pairs.map((p) => p.t2 / p.t1))),
      ...(withExtra ? { extra, threads2x_vs_1: q(res.extra), extra_vs_default_2threads: q(res.extraVsDefault) } : {}),
    });
    return res;
  } finally {
    for (const c of [c2, c1, c2x]) c?.close();
  }
}

/** Rows leaving the batch: genai later-turn prefill row by row, and finished rows sliced out (A/B against sliceRows: false). */
type Ratio = { a: number; b: number; ratio: number };
async function rowsSection(web: Ort, ortWeb: unknown, cfg: DecoderConfig, prompt: number[], own?: Model): Promise<{ turn: Ratio; finished: Ratio; ownFinished: Ratio | null }> {
  const TURN_TOKENS = Number(arg('turn', 24));
  const b = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'genai', dtype: 'q8' });
  line({ stage: 'build', dtype: 'q8', style: 'genai', layers: cfg.numLayers, model_mb: mb(b.onnx.byteLength) });
  const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' as const, intraOpNumThreads: 1, interOpNumThreads: 1 };
  const session = await createSession(web, { graph: b.onnx, externalData: [] }, opts);
  const sliced = new LmEngine(ortWeb as never, session as never, cfg, { style: 'genai' });
  const riding = new LmEngine(ortWeb as never, session as never, cfg, { style: 'genai', sliceRows: false });
  const turnMs = async (engine: LmEngine) => {
    const c = engine.conversation(3);
    try {
      for (let r = 0; r < 3; r++) c.setTokens(r, prompt.map((x) => x + r));
      await c.run({ maxNewTokens: 2, stopIds: [], params: [{}, {}, {}] });
      for (let r = 0; r < 3; r++) c.setTokens(r, [...c.tokens(r), ...Array.from({ length: TURN_TOKENS }, (_, k) => 3000 + 7 * k + r)]);
      const res = await c.run({ maxNewTokens: 0, params: [{}, {}, {}] });
      return res.prefillMs;
    } finally {
      c.dispose();
    }
  };
  const turn = await ab('genai_turn_rowwise_speedup (ms: one token per step / row by row)', () => turnMs(riding), () => turnMs(sliced), Math.max(1, ROUNDS - 1));
  const oneOfEight = async (engine: LmEngine) => {
    const c = engine.conversation(8);
    try {
      for (let r = 0; r < 8; r++) c.setTokens(r, prompt.map((x) => x + r));
      const res = await c.run({ maxNewTokens: NEW, stopIds: [], params: new Array(8).fill({}), generate: [true, false, false, false, false, false, false, false] });
      return res.decodeTokensPerSecond;
    } finally {
      c.dispose();
    }
  };
  const finished = await ab('ortweb_finished_rows_sliced_speedup (tokens/s: sliced / riding along)', () => oneOfEight(sliced), () => oneOfEight(riding), Math.max(1, ROUNDS - 1));
  await sliced.dispose();
  // the same on our decoder (one session, two engines: rows sliced out / riding along), over the optimum q8 file
  let ownFinished: Ratio | null = null;
  if (own) {
    const session = createOwnSession(ortWeb as never, own.onnx, cfg, { externalData: own.externalData, reuseOutputs: true });
    const oSliced = new LmEngine(ortWeb as never, session, cfg, { style: 'optimum', kvType: 'float32' });
    const oRiding = new LmEngine(ortWeb as never, session, cfg, { style: 'optimum', kvType: 'float32', sliceRows: false });
    ownFinished = await ab('finished_rows_sliced_speedup (own; tokens/s: sliced / riding along)', () => oneOfEight(oSliced), () => oneOfEight(oRiding), Math.max(1, ROUNDS - 1));
    await oSliced.dispose();
  }
  return { turn, finished, ownFinished };
}

/**
 * Our decoder as the product opens it (createOwnEngine, LmEngine.generate), 1 thread, vs
 * onnxruntime-node and vs onnxruntime-web on the same file, rounds interleaved; the engines are the
 * caller's (same file, same prompt). Also whether it makes onnxruntime-web's greedy tokens.
 */
async function ownSection(eOwn: LmEngine, prompt: number[], eWeb: LmEngine, eNode: LmEngine) {
  // the same greedy tokens as onnxruntime-web (random weights: a check that it computes the same model)
  const same = (await eWeb.generate(prompt, { maxNewTokens: NEW, stopIds: [] })).ids.join() === (await eOwn.generate(prompt, { maxNewTokens: NEW, stopIds: [] })).ids.join();
  const m = await rounds('own / ortweb / native (tokens/s, 1 thread)', {
    own: () => decodeTps(eOwn, prompt, NEW), ortweb: () => decodeTps(eWeb, prompt, NEW), native: () => decodeTps(eNode, prompt, NEW),
  });
  line({ stage: 'own', same_greedy_tokens_as_ort_web: same });
  return {
    vsNative: ratioLine('wasm_vs_native (own / native)', m.own, m.native),
    webVsNative: ratioLine('ortweb_wasm_vs_native', m.ortweb, m.native),
    vsWeb: ratioLine('own_vs_ort_web', m.own, m.ortweb),
    same,
  };
}

/** The threads pairs on our decoder: one engine with a 2-thread kernel pool, one without, in this process. */
async function ownThreads(ortWeb: unknown, cfg: DecoderConfig, m: Model, prompt: number[], eOne: LmEngine) {
  const two = await ownEngine(ortWeb, cfg, m, 2);
  try {
    return await threadsSection('threads2_vs_1 (own)', async () => ({ two: inProcessRunner(two.engine, prompt), one: inProcessRunner(eOne, prompt) }));
  } finally {
    await two.close();
  }
}

/** The threads pairs on onnxruntime-web: two child processes over the file. */
function ortWebThreads(file: string, extra: Record<string, string> = {}, budgetS?: number) {
  return threadsSection('ortweb_threads2_vs_1', async () => ({
    two: await startChild(2, file), one: await startChild(1, file), twoExtra: Object.keys(extra).length ? await startChild(2, file, extra) : null,
  }), extra, budgetS);
}

async function main() {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'fatal';
  const ortNode = await import('onnxruntime-node');
  const web = ortWeb as unknown as Ort;
  const native = ortNode as unknown as Ort;
  const cfg = parseConfig(cfgJson);
  const t0 = performance.now();
  line({ stage: 'start', quick, layers: LAYERS, prompt_tokens: PROMPT, new_tokens: NEW, rounds: ROUNDS, node: process.version, cpus: os.cpus().length, loadavg: r3(os.loadavg()[0]) });
  const rng = new Pcg32(7);
  const prompt = Array.from({ length: PROMPT }, () => 1000 + Math.floor(rng.float() * 100000));
  const q = (x: number | null | undefined) => (x == null ? null : r3(x));

  // What the picker takes for WASM from a repo offering every transformers.js file, with our decoder there (as in the model worker).
  const offered = ['model.onnx', 'model_fp16.onnx', 'model_quantized.onnx', 'model_int8.onnx', 'model_uint8.onnx', 'model_q4.onnx', 'model_q4f16.onnx'].map((f) => ({ path: `onnx/${f}`, size: 1e8 }));
  const choice = pickWeights({ files: offered, backend: 'wasm', config: cfg, ownDecoder: true });
  if (choice.runtime !== 'own') throw new Error(`The WASM choice ${choice.file} is not for our decoder (${choice.runtime}).`);
  const choiceDtype = choice.dtype as ModelDType;
  const wasmChoice = { file: choice.file, dtype: choice.dtype, runtime: choice.runtime };
  const backends = { wasm_choice: OWN, ortweb: WEB, native: NATIVE };

  if (arg('section', '') === 'threads') {
    const tmpT = mkdtempSync(path.join(tmpdir(), 'ps-bench-decode-'));
    try {
      const m = build(cfg, choiceDtype);
      const one = await ownEngine(ortWeb, cfg, m, 1);
      const t = await ownThreads(ortWeb, cfg, m, prompt, one.engine);
      await one.close();
      const file = path.join(tmpT, 'choice.onnx');
      writeFileSync(file, m.onnx);
      const extra = JSON.parse(arg('child-extra', '{}') as string) as Record<string, string>;
      const w = await ortWebThreads(file, extra);
      line({
        stage: 'summary', section: 'threads', layers: LAYERS, wasm_choice: wasmChoice, backends,
        threads2_vs_1: q(t.ratio), threads2_vs_1_all: r3(t.all), quiet_pairs: t.quietPairs, pairs: t.pairs,
        ortweb_threads2_vs_1: q(w.ratio), ortweb_threads2_vs_1_all: r3(w.all), ortweb_quiet_pairs: w.quietPairs, ortweb_pairs: w.pairs,
        ...(w.extra !== null ? { extra, ortweb_threads2x_vs_1: q(w.extra), ortweb_extra_vs_default_2threads: q(w.extraVsDefault) } : {}),
        tokens_per_s: { [`${choiceDtype}_own_2threads`]: r3(t.a), [`${choiceDtype}_own_1thread`]: r3(t.b), [`${choiceDtype}_ortweb_2threads`]: r3(w.a), [`${choiceDtype}_ortweb_1thread`]: r3(w.b) },
      });
    } finally {
      rmSync(tmpT, { recursive: true, force: true });
    }
    return;
  }
  if (arg('section', '') === 'rows') {
    const rows = await rowsSection(web, ortWeb, cfg, prompt, build(cfg, choiceDtype));
    line({ stage: 'summary', section: 'rows', layers: LAYERS, wasm_choice: wasmChoice, genai_turn_rowwise_speedup: r3(rows.turn.ratio), finished_rows_sliced_speedup: q(rows.ownFinished?.ratio), ortweb_finished_rows_sliced_speedup: r3(rows.finished.ratio), turn_ms: { one_token_per_step: r3(rows.turn.a), row_by_row: r3(rows.turn.b) } });
    return;
  }
  line({ stage: 'pick', backend: 'wasm', file: choice.file, dtype: choice.dtype, runtime: choice.runtime, reason: choice.reason });
  if (arg('section', '') === 'own') {
    const m = build(cfg, choiceDtype);
    const own = await ownEngine(ortWeb, cfg, m, 1);
    const eWeb = await engineFor(web, ortWeb, cfg, m, 'wasm');
    const eNode = await engineFor(native, ortNode, cfg, m, 'cpu');
    const o = await ownSection(own.engine, prompt, eWeb, eNode);
    line({
      stage: 'summary', section: 'own', layers: LAYERS, prompt_tokens: PROMPT, new_tokens: NEW, rounds: ROUNDS, wasm_choice: wasmChoice,
      own_wasm_vs_native: r3(o.vsNative.ratio), own_vs_ort_web: r3(o.vsWeb.ratio), ortweb_wasm_vs_native: r3(o.webVsNative.ratio), own_same_greedy_tokens: o.same,
      tokens_per_s: { [`${choiceDtype}_own`]: r3(o.vsNative.a), [`${choiceDtype}_native`]: r3(o.vsNative.b), [`${choiceDtype}_ortweb`]: r3(o.vsWeb.b) },
      backends, targets: { own_wasm_vs_native: 0.7 }, peak_rss_mb: mb(process.resourceUsage().maxRSS * 1024),
    });
    await own.close();
    await eWeb.dispose();
    await eNode.dispose();
    return;
  }

  const tps: Record<string, number> = {};
  const tmp = mkdtempSync(path.join(tmpdir(), 'ps-bench-decode-'));
  try {
    // 1. the WASM choice (our decoder, 1 thread) vs native and vs onnxruntime-web, same file, 1 thread
    const q8 = build(cfg, choiceDtype);
    const q8File = path.join(tmp, 'choice.onnx');
    writeFileSync(q8File, q8.onnx);
    const own = await ownEngine(ortWeb, cfg, q8, 1);
    const eOwn = own.engine;
    const eWeb = await engineFor(web, ortWeb, cfg, q8, 'wasm');
    const eNode = await engineFor(native, ortNode, cfg, q8, 'cpu');
    const o = await ownSection(eOwn, prompt, eWeb, eNode);
    tps[`${choiceDtype}_own`] = o.vsNative.a;
    tps[`${choiceDtype}_ortweb`] = o.vsWeb.b;
    tps[`${choiceDtype}_native`] = o.vsNative.b;
    await eNode.dispose();

    // vs fp32 on WASM (the picker's premise: 8-bit beats fp32 there); first, while the wasm heap is fresh
    let vsFp32: Ratio | null = null, webVsFp32: Ratio | null = null;
    try {
      const eFp32 = await engineFor(web, ortWeb, cfg, build(cfg, 'fp32'), 'wasm');
      const m = await rounds('own / ortweb / fp32 on ortweb (tokens/s)', { own: () => decodeTps(eOwn, prompt, NEW), ortweb: () => decodeTps(eWeb, prompt, NEW), fp32: () => decodeTps(eFp32, prompt, NEW) });
      vsFp32 = ratioLine('wasm_int8_vs_fp32 (own / fp32 ortweb)', m.own, m.fp32);
      webVsFp32 = ratioLine('ortweb_wasm_int8_vs_fp32', m.ortweb, m.fp32);
      tps.fp32_ortweb = m.fp32;
      await eFp32.dispose();
    } catch (e) {
      line({ stage: 'ab', name: 'wasm_int8_vs_fp32', error: (e as Error).message.split('\n')[0] });
    }

    // 2. vs the q4 file on onnxruntime-web, and vs that q4 file converted at load
    const q4 = build(cfg, 'q4');
    const eQ4 = await engineFor(web, ortWeb, cfg, q4, 'wasm');
    const q4New = Math.max(2, Math.ceil(NEW / 4)); // ~10x slower: fewer tokens, same tokens/s
    const mq4 = await rounds('own / ortweb / q4 on ortweb (tokens/s)', { own: () => decodeTps(eOwn, prompt, NEW), ortweb: () => decodeTps(eWeb, prompt, NEW), q4: () => decodeTps(eQ4, prompt, q4New) });
    const vsQ4 = ratioLine('wasm_vs_q4_wasm (own / q4 ortweb)', mq4.own, mq4.q4);
    const webVsQ4 = ratioLine('ortweb_wasm_vs_q4_wasm', mq4.ortweb, mq4.q4);
    tps.q4_ortweb = mq4.q4;
    // one wasm32 heap (4 GiB) holds every onnxruntime-web session: the q4 one goes before its conversion comes
    await eQ4.dispose();
    const conv = dequantizeMatMulNBits(q4.onnx, { target: 'int8' });
    const eConv = await engineFor(web, ortWeb, cfg, { onnx: conv.model, externalData: conv.externalData }, 'wasm');
    // what the model worker opens a q4-only repo on now: the converted file on our decoder
    const convOwn = await ownEngine(ortWeb, cfg, { onnx: conv.model, externalData: conv.externalData }, 1);
    const mc = await rounds('q4 converted (ortweb) / own / ortweb / q4 converted (own) (tokens/s)', { conv: () => decodeTps(eConv, prompt, NEW), own: () => decodeTps(eOwn, prompt, NEW), ortweb: () => decodeTps(eWeb, prompt, NEW), convOwn: () => decodeTps(convOwn.engine, prompt, NEW) }, Math.max(1, ROUNDS - 1));
    const convVsChoice = ratioLine('q4_converted_vs_choice (q4 converted on ortweb / own)', mc.conv, mc.own);
    const webConvVsChoice = ratioLine('ortweb_q4_converted_vs_choice', mc.conv, mc.ortweb);
    const convOwnVsWeb = ratioLine('q4_converted_own_vs_ortweb (q4 converted: on own / on ortweb)', mc.convOwn, mc.conv);
    tps.q4_converted_int8_ortweb = mc.conv;
    tps.q4_converted_int8_own = mc.convOwn;
    await eConv.dispose();
    await convOwn.close();

    // 4. instrumented vs plain (taps + steer 2 layers + cap 2 layers + projections every token):
    // our decoder is always the instrumented graph, so its plain side is the same engine with no params
    const eInst = await engineFor(web, ortWeb, cfg, q8, 'wasm', true);
    const L = cfg.numLayers, d = cfg.hiddenSize;
    const axis = unitRows(Float32Array.from({ length: L * d }, () => rng.float() - 0.5), L, d);
    const mid = Math.floor(L / 2);
    const iv = buildInterventions({ numLayers: L, hiddenSize: d }, {
      steer: [{ vector: axis, layers: [mid - 1, mid], alpha: 0.5 }],
      cap: [{ vector: axis, layers: [Math.min(L - 2, mid + 1), L - 1], tau: -1e3 }],
    });
    const params = { steer: iv.steer, capAxis: iv.capAxis, capTau: iv.capTau };
    const mi = await rounds('instrumented / plain (tokens/s)', {
      own_inst: () => decodeTps(eOwn, prompt, NEW, { ...params, axis }), own_plain: () => decodeTps(eOwn, prompt, NEW),
      ortweb_inst: () => decodeTps(eInst, prompt, NEW, { ...params, axis }), ortweb_plain: () => decodeTps(eWeb, prompt, NEW),
    });
    const vsPlain = ratioLine('instrumented_vs_plain (own)', mi.own_inst, mi.own_plain);
    const webVsPlain = ratioLine('ortweb_instrumented_vs_plain', mi.ortweb_inst, mi.ortweb_plain);
    tps[`${choiceDtype}_own_instrumented`] = mi.own_inst;
    tps[`${choiceDtype}_ortweb_instrumented`] = mi.ortweb_inst;
    await eWeb.dispose();

    // 5. rows: one batched Conversation vs one-row runs (instrumented, per-row steering)
    const rowsRun = async (engine: LmEngine, B: number): Promise<{ tokens: number; ms: number }> => {
      const c = engine.conversation(B);
      try {
        for (let r = 0; r < B; r++) c.setTokens(r, prompt.map((x) => x + r));
        const rowParams = Array.from({ length: B }, (_, r) => (r % 3 === 1 ? params : r % 3 === 2 ? { capAxis: iv.capAxis, capTau: iv.capTau } : {}));
        const res = await c.run({ maxNewTokens: NEW, stopIds: [], params: rowParams, axis });
        return { tokens: B * (NEW - 1), ms: res.decodeMs };
      } finally {
        c.dispose();
      }
    };
    const seqTps = async (engine: LmEngine, B: number) => {
      let tokens = 0, ms = 0;
      for (let r = 0; r < B; r++) { const x = await rowsRun(engine, 1); tokens += x.tokens; ms += x.ms; }
      return (tokens * 1000) / ms;
    };
    const batchTps = async (engine: LmEngine, B: number) => { const x = await rowsRun(engine, B); return (x.tokens * 1000) / x.ms; };
    const rr = Math.max(1, ROUNDS - 1);
    const b3 = await ab('batch3_vs_sequential (own)', () => batchTps(eOwn, 3), () => seqTps(eOwn, 3), rr);
    const b8 = await ab('batch8_vs_batch1 (own)', () => batchTps(eOwn, 8), () => batchTps(eOwn, 1), rr);
    const wb3 = await ab('ortweb_batch3_vs_sequential', () => batchTps(eInst, 3), () => seqTps(eInst, 3), rr);
    const wb8 = await ab('ortweb_batch8_vs_batch1', () => batchTps(eInst, 8), () => batchTps(eInst, 1), rr);
    Object.assign(tps, { batch1_own: b8.b, batch3_own: b3.a, batch8_own: b8.a, batch1_ortweb: wb8.b, batch3_ortweb: wb3.a, batch8_ortweb: wb8.a });

    // 6. turn 10 of a chat: kept cache vs a fresh prefill of the whole chat
    const TURN = quick ? 10 : 16; // tokens per user turn and per reply
    const history: number[] = [];
    for (let t = 0; t < 9; t++) for (let k = 0; k < 2 * TURN; k++) history.push(1000 + ((t * 131 + k * 17) % 50000));
    const turn10 = Array.from({ length: TURN }, (_, k) => 2000 + k);
    const kept = async (engine: LmEngine) => {
      const c = engine.conversation(1);
      try {
        c.setTokens(0, history);
        await c.run({ maxNewTokens: 0, params: [{}], axis });
        c.setTokens(0, [...history, ...turn10]);
        const s0 = performance.now();
        await c.run({ maxNewTokens: 1, stopIds: [], params: [{}], axis });
        return performance.now() - s0;
      } finally {
        c.dispose();
      }
    };
    const fresh = async (engine: LmEngine) => {
      const c = engine.conversation(1);
      try {
        c.setTokens(0, [...history, ...turn10]);
        const s0 = performance.now();
        await c.run({ maxNewTokens: 1, stopIds: [], params: [{}], axis });
        return performance.now() - s0;
      } finally {
        c.dispose();
      }
    };
    const kv = await ab('kv_reuse_turn10_speedup (own; ms: fresh / kept)', () => fresh(eOwn), () => kept(eOwn), rr);
    const wkv = await ab('ortweb_kv_reuse_turn10_speedup (ms: fresh / kept)', () => fresh(eInst), () => kept(eInst), rr);
    await eInst.dispose();

    // 6b. rows leaving the batch (genai later turns row by row: onnxruntime-web's GroupQueryAttention only; finished rows sliced out: both)
    const rows = await rowsSection(web, ortWeb, cfg, prompt, q8);

    // 7. threads: our decoder with a 2-thread kernel pool vs 1 (in this process), and onnxruntime-web's (two child processes)
    let threads: Awaited<ReturnType<typeof threadsSection>> | null = null;
    let webThreads: Awaited<ReturnType<typeof threadsSection>> | null = null;
    if (os.cpus().length >= 2) {
      threads = await ownThreads(ortWeb, cfg, q8, prompt, eOwn);
      tps[`${choiceDtype}_own_2threads`] = threads.a;
      // quick: a shorter budget for the onnxruntime-web pairs (the extra figure), so the run stays within 10 minutes
      webThreads = await ortWebThreads(q8File, {}, quick ? 60 : 180);
      tps[`${choiceDtype}_ortweb_2threads`] = webThreads.a;
    }
    await own.close();

    // 8. where the product runs: our decoder in a Web Worker of headless Chromium (bench/decode-browser.bench.ts),
    // the same file and prompt; its figures are the summary's WASM keys when it runs (`wasm_engine`)
    // the hardware's 2-vs-1 read bandwidth, just before the Chromium part's threads pairs (its own line, and the summary's `bandwidth`)
    let bw: BandwidthResult | null = null;
    if (!process.argv.includes('--no-bandwidth')) {
      try {
        bw = await measureBandwidth();
        const { per_round: _, ...b } = bw;
        line({ stage: 'bandwidth', ...b });
      } catch (e) {
        line({ stage: 'bandwidth', error: (e as Error).message.split('\n')[0] });
      }
    }
    let web8: Record<string, unknown> | null = null;
    const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    if (process.argv.includes('--no-chromium')) line({ stage: 'chromium', skipped: '--no-chromium' });
    else if (!existsSync(chromiumPath)) line({ stage: 'chromium', skipped: `no Chromium at ${chromiumPath}` });
    else {
      try {
        web8 = await runBrowserDecode({ quick, layers: LAYERS, promptTokens: PROMPT, newTokens: NEW, model: q8.onnx, executablePath: chromiumPath, log: (o) => line({ section: 'chromium', ...o }) });
      } catch (e) {
        line({ stage: 'chromium', error: (e as Error).message.split('\n')[0] });
      }
    }
    const nodeKeys = {
      wasm_vs_native: r3(o.vsNative.ratio), threads2_vs_1: q(threads?.ratio), batch3_vs_sequential: r3(b3.ratio), batch8_vs_batch1: r3(b8.ratio), instrumented_vs_plain: r3(vsPlain.ratio),
    };
    const fromWeb = (k: keyof typeof nodeKeys) => (web8 && typeof web8[k] === 'number' ? (web8[k] as number) : nodeKeys[k]);
    const pick = <T,>(k: string, dflt: T) => (web8 && k in web8 ? web8[k] : dflt);

    line({
      stage: 'summary',
      quick,
      layers: LAYERS,
      prompt_tokens: PROMPT,
      new_tokens: NEW,
      rounds: ROUNDS,
      wasm_choice: wasmChoice,
      backends,
      // the WASM keys: measured in Chromium (the product's engine) when it ran, else in this Node process
      wasm_engine: web8 ? `our int8 decoder in headless Chromium ${String(web8.chromium ?? '')} (Web Worker, cross-origin isolated), ${String(web8.kernel)} kernel` : `our int8 decoder in Node ${process.version}, dot kernel`,
      wasm_vs_native: fromWeb('wasm_vs_native'),
      threads2_vs_1: fromWeb('threads2_vs_1'),
      batch3_vs_sequential: fromWeb('batch3_vs_sequential'),
      batch8_vs_batch1: fromWeb('batch8_vs_batch1'),
      instrumented_vs_plain: fromWeb('instrumented_vs_plain'),
      chromium: web8
        ? {
            kernel: web8.kernel, batch_engine: pick('batch_engine', null), batch3_vs_sequential_1thread: pick('batch3_vs_sequential_1thread', null), batch8_vs_batch1_1thread: pick('batch8_vs_batch1_1thread', null), u8dot_vs_dot: pick('u8dot_vs_dot', null), chromium_vs_node: pick('chromium_vs_node', null), threads2_vs_1_all: pick('threads2_vs_1_all', null),
            threads_quiet_pairs: pick('threads_quiet_pairs', null), rows_same_greedy_tokens: pick('rows_same_greedy_tokens', null),
            same_greedy_tokens_as_native: pick('same_greedy_tokens_as_native', null), tokens_per_s: pick('tokens_per_s', null), other_cores: pick('other_cores', null),
          }
        : null,
      node: { ...nodeKeys, threads2_vs_1_all: q(threads?.all), threads_quiet_pairs: threads ? `${threads.quietPairs}/${threads.pairs}` : null },
      bandwidth: bw
        ? { bandwidth2_vs_1: bw.bandwidth2_vs_1, bandwidth2_vs_1_quiet: bw.bandwidth2_vs_1_quiet, quiet_rounds: `${bw.quiet_rounds}/${bw.rounds}`, one_thread_gb_s: bw.one_thread_gb_s, two_threads_gb_s: bw.two_threads_gb_s, runtime: bw.runtime }
        : null,
      own_vs_ort_web: r3(o.vsWeb.ratio),
      own_same_greedy_tokens: o.same,
      wasm_vs_q4_wasm: r3(vsQ4.ratio),
      wasm_int8_vs_fp32: q(vsFp32?.ratio),
      q4_converted_vs_choice: r3(convVsChoice.ratio),
      q4_converted_own_vs_ortweb: r3(convOwnVsWeb.ratio),
      kv_reuse_turn10_speedup: r3(kv.ratio),
      genai_turn_rowwise_speedup: r3(rows.turn.ratio),
      finished_rows_sliced_speedup: q(rows.ownFinished?.ratio),
      turn10_ttft_ms: { fresh: r3(kv.a), kept: r3(kv.b), context_tokens: history.length + turn10.length },
      ortweb_wasm_vs_native: r3(o.webVsNative.ratio),
      ortweb_wasm_vs_q4_wasm: r3(webVsQ4.ratio),
      ortweb_wasm_int8_vs_fp32: q(webVsFp32?.ratio),
      ortweb_q4_converted_vs_choice: r3(webConvVsChoice.ratio),
      ortweb_threads2_vs_1: q(webThreads?.ratio),
      ortweb_threads2_vs_1_all: q(webThreads?.all),
      ortweb_threads_quiet_pairs: webThreads ? `${webThreads.quietPairs}/${webThreads.pairs}` : null,
      ortweb_batch3_vs_sequential: r3(wb3.ratio),
      ortweb_batch8_vs_batch1: r3(wb8.ratio),
      ortweb_instrumented_vs_plain: r3(webVsPlain.ratio),
      ortweb_kv_reuse_turn10_speedup: r3(wkv.ratio),
      ortweb_finished_rows_sliced_speedup: r3(rows.finished.ratio),
      ortweb_turn10_ttft_ms: { fresh: r3(wkv.a), kept: r3(wkv.b) },
      tokens_per_s: Object.fromEntries(Object.entries(tps).map(([k, v]) => [k, r3(v)])),
      targets: { wasm_vs_native: 0.7, wasm_vs_q4_wasm: 10, threads2_vs_1: 1.3, batch3_vs_sequential: 2, batch8_vs_batch1: 3, instrumented_vs_plain: 0.95, kv_reuse_turn10_speedup: 3 },
      wall_s: r3((performance.now() - t0) / 1000),
      peak_rss_mb: mb(process.resourceUsage().maxRSS * 1024),
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) {
  child(Number(process.argv[ci + 1]), process.argv[ci + 2], JSON.parse(arg('child-extra', '{}') as string) as Record<string, string>).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
