/**
 * The machine's streaming read bandwidth as WebAssembly SIMD128 code sees it, on 1 thread and on 2
 * (node:worker_threads), in Node: the ceiling of a memory-bound decode's 2-thread speed-up.
 *
 * Decode of a small model streams its weights once a token, so its tokens/s with a kernel pool of
 * 2 threads against 1 (threads2_vs_1 in bench/own-threads.bench.ts, bench/decode-browser.bench.ts)
 * cannot exceed what a second core adds to the memory bandwidth: `bandwidth2_vs_1` here, measured
 * in the same runtime. Each thread is a worker owning its own WebAssembly.Memory of `mb` MiB (the
 * pool's helpers each hold their own slice of the weights), filled with a known pattern before any
 * timing (every page touched once: first-touch page faults are no bandwidth). The kernel, a wasm
 * function built with src/core/math/wasm-asm.ts, loops v128.load over the buffer, 64 bytes a pass
 * of the loop into 4 independent i32x4.add accumulators, and stores their sum: each worker checks
 * it against the lane sums computed in JavaScript while filling (on the first call, after the
 * warm-up that lets V8 tier the function up to TurboFan, and after every timed run), and
 * `measureBandwidth` throws on a mismatch before it times anything.
 *
 * The kernel is not the bound: on the 2-core AMD EPYC VM this was written on, it reads a
 * cache-resident 0.5 MiB at ~65-80 GB/s on one thread (Node 20; Liftoff code as fast as TurboFan's)
 * against ~20-27 GB/s over 256 MiB, and a C loop of SSE2 loads (4 accumulators, gcc -O2) run
 * beside it read 256 MiB at 19-30 GB/s on 1 thread and 25-55 on 2: the same range, as noisy.
 *
 * A timed run: every thread of the run (worker 0 alone, or workers 0 and 1) meets the others at a
 * spin barrier on a SharedArrayBuffer (Atomics), then reads its whole buffer `passes` times; each
 * thread stamps its start and end (performance.timeOrigin + now(), comparable across threads), and
 * the run's time is the last end minus the first start (the slowest thread's wall). GB/s = bytes
 * read by all threads / that time, in 1e9 bytes a second. Rounds interleave the two sides (1T then
 * 2T, then 2T then 1T, ...); the result gives each side's median and the median of the per-round
 * ratios 2T / 1T. Another process on the cores lowers both sides, the 2-thread side more (with one
 * core taken elsewhere the ratio falls to ~1): trust the ratio only with the machine otherwise idle.
 * Each round records the cores the rest of the machine took meanwhile (other_cores, from /proc/stat
 * as bench/own-threads.bench.ts does); the `_quiet` figures are the medians over the rounds where
 * that was at most QUIET_CORES (null with fewer than 3 such rounds). The CLI, bench/bandwidth.bench.ts,
 * also prints loadavg.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { machineCpu } from './machine';
import { compileModule, emitter, funcBody, moduleBytes, op, V128 } from '../src/core/math/wasm-asm';

export interface BandwidthOptions {
  /** MiB of each thread's buffer (default 256: well past any cache). */
  mb?: number;
  /** Rounds, each one timed run of 1 thread and one of 2 (default 15). */
  rounds?: number;
  /** Reads of the whole buffer in one timed run (default 8). */
  passes?: number;
}

export interface BandwidthRound {
  round: number;
  /** Which side ran first in this round. */
  order: '1T,2T' | '2T,1T';
  one_thread_gb_s: number;
  two_threads_gb_s: number;
  /** two_threads_gb_s / one_thread_gb_s. */
  ratio: number;
  /** How far apart the 2 threads started after the barrier, ms. */
  start_skew_ms: number;
  /** Cores the rest of the machine took during the round (/proc/stat busy minus this process, plus steal); null off Linux. */
  other_cores: number | null;
}

export interface BandwidthResult {
  runtime: string;
  mb: number;
  passes: number;
  rounds: number;
  /** Medians over the rounds. */
  one_thread_gb_s: number;
  two_threads_gb_s: number;
  /** Median of the per-round ratios two_threads / one_thread. */
  bandwidth2_vs_1: number;
  /** Median of the rounds' other_cores (null off Linux): above ~0.3 the figures are the shared machine's, not the hardware's. */
  other_cores: number | null;
  /** Rounds in which the rest of the machine took at most QUIET_CORES (0 off Linux). */
  quiet_rounds: number;
  /** The three medians over the quiet rounds only; null with fewer than 3 of them. */
  one_thread_gb_s_quiet: number | null;
  two_threads_gb_s_quiet: number | null;
  bandwidth2_vs_1_quiet: number | null;
  per_round: BandwidthRound[];
  /** Seconds to start the workers and fill and check the buffers; seconds of the whole call. */
  setup_s: number;
  elapsed_s: number;
}

/** Where each worker's buffer starts in its memory (the kernel's 16-byte sum is stored at 0). */
const BASE = 65536;
const THREADS = 2;
/** A round is quiet when the rest of the machine took at most this many cores meanwhile (bench/own-threads.bench.ts's threshold). */
export const QUIET_CORES = 0.3;

/** The read kernel `read(start, end, out)`: v128 loads over [start, end) (a multiple of 64 bytes), the i32x4 sum stored at out. */
export function readKernelBytes(): Uint8Array<ArrayBuffer> {
  const [START, END, OUT, ACC] = [0, 1, 2, 3];
  const { code, e } = emitter();
  e(op.loop);
  for (let k = 0; k < 4; k++) e(op.get(ACC + k), op.get(START), op.v128Load(16 * k), op.i32x4Add, op.set(ACC + k));
  e(op.get(START), op.i32(64), op.add, op.tee(START), op.get(END), op.ltU, op.brIf(0), op.end);
  e(op.get(OUT), op.get(ACC), op.get(ACC + 1), op.i32x4Add, op.get(ACC + 2), op.get(ACC + 3), op.i32x4Add, op.i32x4Add, op.v128Store(0));
  e(op.end);
  return moduleBytes([{ name: 'read', params: 3, body: funcBody([[4, V128]], code) }]);
}

/**
 * The worker, plain JavaScript run with `eval` (no TypeScript loader needed in the thread).
 * workerData: { kernel (bytes), size (bytes of the buffer), seed, ctl (SharedArrayBuffer: arrivals at the barrier) }.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { kernel, size, seed, ctl } = workerData;
const BASE = ${BASE};
const arrivals = new Int32Array(ctl);
const { read, memory } = new WebAssembly.Instance(new WebAssembly.Module(kernel), {}).exports;
memory.grow(Math.ceil((BASE + size - memory.buffer.byteLength) / 65536));
const u32 = new Uint32Array(memory.buffer, BASE, size / 4);
const out = new Int32Array(memory.buffer, 0, 4);
// the pattern, every page touched; its lane sums (int32, wrapping) as the kernel adds them
let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
for (let i = 0; i < u32.length; i += 4) {
  const a = (Math.imul(i, 0x9e3779b1) + seed) | 0, b = (Math.imul(i + 1, 0x9e3779b1) + seed) | 0;
  const c = (Math.imul(i + 2, 0x9e3779b1) + seed) | 0, d = (Math.imul(i + 3, 0x9e3779b1) + seed) | 0;
  u32[i] = a; u32[i + 1] = b; u32[i + 2] = c; u32[i + 3] = d;
  s0 = (s0 + a) | 0; s1 = (s1 + b) | 0; s2 = (s2 + c) | 0; s3 = (s3 + d) | 0;
}
const want = [s0, s1, s2, s3];
const check = (when) => {
  const got = Array.from(out);
  if (got.some((v, l) => v !== want[l])) throw new Error('the read kernel summed ' + got.join(',') + ' ' + when + ', not the ' + want.join(',') + ' of the pattern: it did not read the whole buffer');
  out.fill(0);
};
read(BASE, BASE + size, 0);
check('on its first call');
// warm-up: enough calls for V8 to tier the kernel up from Liftoff to TurboFan, and a pause for the background compile
for (let k = 0; k < 4000; k++) read(BASE, BASE + 65536, 16);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
read(BASE, BASE + size, 0);
check('after the warm-up');
parentPort.postMessage({ type: 'ready', want });
parentPort.on('message', ({ passes, target, barrierMs }) => {
  Atomics.add(arrivals, 0, 1);
  const deadline = performance.now() + barrierMs;
  while (Atomics.load(arrivals, 0) < target) {
    if (performance.now() > deadline) throw new Error('the other bandwidth thread did not reach the barrier in ' + barrierMs + ' ms');
  }
  const start = performance.timeOrigin + performance.now();
  for (let p = 0; p < passes; p++) read(BASE, BASE + size, 0);
  const end = performance.timeOrigin + performance.now();
  check('in a timed run');
  parentPort.postMessage({ type: 'done', start, end });
});
`;

type WorkerMessage = { type: 'ready'; want: number[] } | { type: 'done'; start: number; end: number };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const r3 = (x: number) => +x.toFixed(3);

/** The worker's next message; rejects on its error or exit, or after `ms`. */
function nextMessage(w: Worker, ms: number, what: string): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const off = () => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (m: WorkerMessage) => { off(); resolve(m); };
    const onError = (err: Error) => { off(); reject(err); };
    const onExit = (code: number) => { off(); reject(new Error(`a bandwidth worker exited (code ${code}) while ${what}`)); };
    const timer = setTimeout(() => { off(); reject(new Error(`a bandwidth worker gave no answer in ${ms} ms while ${what}`)); }, ms);
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}

function positive(name: string, v: number, integer: boolean): number {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, not ${v}`);
  return v;
}

/** Streaming read bandwidth of WebAssembly SIMD128 code on 1 thread and on 2 (see the file's header). */
export async function measureBandwidth(options: BandwidthOptions = {}): Promise<BandwidthResult> {
  const t0 = performance.now();
  const mb = positive('mb', options.mb ?? 256, false);
  const rounds = positive('rounds', options.rounds ?? 15, true);
  const passes = positive('passes', options.passes ?? 8, true);
  const size = Math.max(1, Math.round((mb * 2 ** 20) / 65536)) * 65536;
  if (BASE + size > 2 ** 32 - 65536) throw new Error(`mb = ${mb}: a wasm32 memory holds under 4 GiB`);
  const kernel = readKernelBytes();
  if (!compileModule(kernel)) throw new Error('this runtime has no WebAssembly SIMD128: the bandwidth kernel does not compile');

  const ctl = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  const failures: Error[] = [];
  try {
    for (let t = 0; t < THREADS; t++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { kernel, size, seed: 12345 + 7919 * t, ctl } });
      w.on('error', (err) => failures.push(err)); // an idle worker's error must not go unhandled
      workers.push(w);
    }
    // filling 256 MiB takes ~0.3 s; a slow or busy machine ten times that
    const setupMs = 20_000 + (size / 2 ** 20) * 40;
    await Promise.all(workers.map((w) => nextMessage(w, setupMs, 'filling and checking its buffer')));
    const setup = performance.now() - t0;

    let arrivals = 0;
    // one timed run of the first n workers: the bytes they read over the slowest one's wall, GB/s, and the spread of their starts
    const run = async (n: number) => {
      arrivals += n;
      const barrierMs = 10_000;
      const runMs = barrierMs + 10_000 + (passes * size) / 1e5; // > 10x the time at 1 GB/s
      const answers = workers.slice(0, n).map((w) => nextMessage(w, runMs, 'timing a run'));
      for (const w of workers.slice(0, n)) w.postMessage({ passes, target: arrivals, barrierMs });
      const done = (await Promise.all(answers)) as Extract<WorkerMessage, { type: 'done' }>[];
      const first = Math.min(...done.map((d) => d.start)), last = Math.max(...done.map((d) => d.end));
      return { gbs: (n * passes * size) / ((last - first) * 1e6), skew: Math.max(...done.map((d) => d.start)) - first };
    };

    const per: BandwidthRound[] = [];
    for (let i = 0; i < rounds; i++) {
      const oneFirst = i % 2 === 0;
      const m0 = machineCpu(), p0 = process.cpuUsage(), w0 = performance.now();
      let one, two;
      if (oneFirst) { one = await run(1); two = await run(2); } else { two = await run(2); one = await run(1); }
      const wall = performance.now() - w0, p = process.cpuUsage(p0), m1 = machineCpu();
      const other = m0 && m1 ? (Math.max(0, m1.busyMs - m0.busyMs - (p.user + p.system) / 1000) + m1.stealMs - m0.stealMs) / wall : null;
      per.push({ round: i, order: oneFirst ? '1T,2T' : '2T,1T', one_thread_gb_s: r3(one.gbs), two_threads_gb_s: r3(two.gbs), ratio: r3(two.gbs / one.gbs), start_skew_ms: r3(two.skew), other_cores: other === null ? null : r3(other) });
    }
    if (failures.length) throw failures[0];
    const quiet = per.filter((r) => r.other_cores !== null && r.other_cores <= QUIET_CORES);
    const quietMedian = (f: (r: BandwidthRound) => number) => (quiet.length >= 3 ? r3(median(quiet.map(f))) : null);
    return {
      runtime: `node ${process.version} wasm simd128`,
      mb: size / 2 ** 20,
      passes,
      rounds,
      one_thread_gb_s: r3(median(per.map((r) => r.one_thread_gb_s))),
      two_threads_gb_s: r3(median(per.map((r) => r.two_threads_gb_s))),
      bandwidth2_vs_1: r3(median(per.map((r) => r.ratio))),
      other_cores: per[0].other_cores === null ? null : r3(median(per.map((r) => r.other_cores ?? 0))),
      quiet_rounds: quiet.length,
      one_thread_gb_s_quiet: quietMedian((r) => r.one_thread_gb_s),
      two_threads_gb_s_quiet: quietMedian((r) => r.two_threads_gb_s),
      bandwidth2_vs_1_quiet: quietMedian((r) => r.ratio),
      per_round: per,
      setup_s: r3(setup / 1000),
      elapsed_s: r3((performance.now() - t0) / 1000),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Cores and 1-minute load average, for the lines that report these figures. */
export const machineLine = () => ({ cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavg: r3(os.loadavg()[0]) });
