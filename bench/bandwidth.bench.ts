/**
 * Memory bandwidth benchmark (`npx tsx bench/bandwidth.bench.ts [--mb 256] [--rounds 15] [--passes 8]`),
 * JSON lines on stdout, a summary line last: the streaming read bandwidth of WebAssembly SIMD128
 * code (Node's V8, the engine family the decoder runs on) on 1 thread and on 2 worker_threads,
 * each thread reading its own --mb MiB buffer --passes times a run (bench/bandwidth.ts says how).
 *
 * How to read it: decode of a small model is bound by streaming its weights, so a 2-thread kernel
 * pool's tokens/s over 1 thread's (threads2_vs_1 of bench/own-threads.bench.ts and
 * bench/decode-browser.bench.ts) is bounded by `bandwidth2_vs_1` here, the hardware's own 2-vs-1
 * bandwidth ratio: a threads2_vs_1 near it is at the ceiling. `round` lines give each round's two
 * sides (the order alternates) and how far apart the 2 threads started (start_skew_ms). GB/s are
 * 1e9 bytes a second. The cores may be shared: the start and summary lines carry loadavg (1 min);
 * with another process busy, both sides drop and the ratio with them.
 */
import { machineLine, measureBandwidth } from './bandwidth';

/** The number after --name, or undefined (measureBandwidth's default). */
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
};
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'bandwidth', ...o }));

const MB = arg('mb'), ROUNDS = arg('rounds'), PASSES = arg('passes');
line({ stage: 'start', mb: MB ?? 'default', rounds: ROUNDS ?? 'default', passes: PASSES ?? 'default', node: process.version, ...machineLine() });
const res = await measureBandwidth({ mb: MB, rounds: ROUNDS, passes: PASSES });
for (const r of res.per_round) line({ stage: 'round', ...r });
const { per_round: _, ...summary } = res;
line({ stage: 'summary', ...summary, loadavg_end: machineLine().loadavg });
