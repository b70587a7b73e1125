/**
 * The own decoder's kernel pool (src/core/lm/own/pool.ts): decode tokens/s of `OwnDecoder.greedy`
 * with its linears on 2 threads (the caller + one worker_threads helper, workers/own-pool-node.ts)
 * vs 1, on the Qwen3-0.6B shape (random weights, optimum-style q8 file as bench/decode.bench.ts
 * builds it), --layers 4 by default (--layers 28 for the full depth).
 *
 * Pairs of rounds, interleaved (2-thread first, then 1-thread first, alternating); each round is
 * one greedy run of --prompt (16) then --new (8) tokens, decode tokens/s from the loop's own timer.
 * Each round records the CPU the rest of the machine used meanwhile (/proc/stat busy minus this
 * process, helpers included) and the VM's steal time, in cores; a pair is `quiet` when in both
 * rounds at most 0.3 core was taken elsewhere. Pairs go on until --pairs (24), --quiet (8) quiet
 * ones or --seconds (90); with --wait-quiet, each pair first waits (up to 10 s, polling /proc/stat
 * every 0.5 s) for a moment when the rest of the machine takes under 0.3 core. Summary: threads2_vs_1 = median over quiet pairs of tps(2) / tps(1) (null
 * with fewer than 3), threads2_vs_1_all = over every pair; same_tokens: both made the same ids.
 *
 * --ops js|wasm (default wasm): the decoder's work between the linears on its scalar JavaScript or
 * on ops-wasm.ts (OwnDecoderOptions.ops), both sides of a pair the same. --ops ab instead pairs
 * wasm ops against js ops on one thread, or both on the pool with an explicit --threads (the same
 * interleaving; `ratio` = tps(wasm) / tps(js), summary ops_wasm_vs_js).
 *
 *   npx tsx bench/own-threads.bench.ts [--wait-quiet] [--layers 4] [--threads 2] [--spin-us 2000] [--pairs 24] [--quiet 8] [--seconds 90] [--ops js|wasm|ab]
 */
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig, presetConfigJson } from '../src/core/lm/config';
import { buildDecoder } from '../src/core/lm/builder';
import { OwnDecoder } from '../src/core/lm/own/decoder';
import { nodeKernelPool } from '../workers/own-pool-node';
import { machineCpu } from './machine';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const LAYERS = arg('layers', 4);
const PROMPT = arg('prompt', 16);
const NEW = arg('new', 8);
const THREADS = arg('threads', 2);
const SPIN_US = process.argv.includes('--spin-us') ? arg('spin-us', 2000) : undefined;
const MAX_PAIRS = arg('pairs', 24);
const WANT_QUIET = arg('quiet', 8);
const BUDGET_MS = 1000 * arg('seconds', 90);
const QUIET = 0.3;
const WAIT_QUIET = process.argv.includes('--wait-quiet');
const OPS = (() => {
  const i = process.argv.indexOf('--ops');
  const v = i >= 0 ? process.argv[i + 1] : 'wasm';
  if (v !== 'js' && v !== 'wasm' && v !== 'ab') throw new Error(`--ops must be js, wasm or ab, not ${v}`);
  return v;
})();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => +x.toFixed(3);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'own-threads', ...o }));


async function main() {
  const cfg = parseConfig({ ...presetConfigJson('qwen3-0.6b'), num_hidden_layers: LAYERS });
  let t0 = performance.now();
  const onnx = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype: 'q8' }).onnx;
  line({ stage: 'build', layers: LAYERS, model_mb: Math.round(onnx.byteLength / 2 ** 20), build_s: r3((performance.now() - t0) / 1000) });
  t0 = performance.now();
  const ab = OPS === 'ab';
  const ops = ab ? 'js' : OPS;
  // --ops ab: both decoders on one thread (or both on the pool with an explicit --threads)
  const abPool = ab && process.argv.includes('--threads');
  const pool = await nodeKernelPool(ab && !abPool ? 1 : THREADS, SPIN_US === undefined ? undefined : { spinUs: SPIN_US });
  const one = OwnDecoder.fromOnnx(onnx, cfg, undefined, abPool ? { ops, pool } : { ops });
  const load1 = performance.now() - t0;
  t0 = performance.now();
  // --ops ab: "many" is the wasm-ops decoder, "one" the js-ops one
  const many = ab ? OwnDecoder.fromOnnx(onnx, cfg, undefined, abPool ? { ops: 'wasm', pool } : { ops: 'wasm' }) : OwnDecoder.fromOnnx(onnx, cfg, undefined, { pool, ops });
  const loadT = performance.now() - t0;
  const A = ab ? 'tps_wasm_ops' : `tps_${pool.threads}threads`, Bn = ab ? 'tps_js_ops' : 'tps_1thread';
  line({ stage: 'load', threads: ab && !abPool ? 1 : pool.threads, ops: OPS, ops_used: [many.ops, one.ops], spin_us: SPIN_US ?? 'default', load_1thread_s: r3(load1 / 1000), load_pool_s: r3(loadT / 1000) });
  const prompt = Array.from({ length: PROMPT }, (_, i) => 1000 + i * 37);
  type Round = { tps: number; ids: number[]; load: number | null };
  const round = (d: OwnDecoder): Round => {
    const m0 = machineCpu(), p0 = process.cpuUsage(), w0 = performance.now();
    const g = d.greedy(prompt, NEW);
    const wall = performance.now() - w0, p = process.cpuUsage(p0), m1 = machineCpu();
    const ours = (p.user + p.system) / 1000;
    const load = m0 && m1 ? (Math.max(0, m1.busyMs - m0.busyMs - ours) + (m1.stealMs - m0.stealMs)) / wall : null;
    return { tps: g.decodeTokensPerSecond, ids: g.ids, load };
  };
  try {
    round(many);
    round(one); // warm-up (the first call also waits for the helpers' loads)
    const pairs: { t2: number; t1: number; load: number | null; same: boolean }[] = [];
    const start = performance.now();
    let quiet = 0;
    while (pairs.length < MAX_PAIRS && quiet < WANT_QUIET && performance.now() - start < BUDGET_MS) {
      const i = pairs.length;
      if (WAIT_QUIET) {
        for (let w = 0; w < 20; w++) {
          const m0 = machineCpu(), p0 = process.cpuUsage(), w0 = performance.now();
          await sleep(500);
          const m1 = machineCpu(), p = process.cpuUsage(p0), wall = performance.now() - w0;
          if (!m0 || !m1 || (Math.max(0, m1.busyMs - m0.busyMs - (p.user + p.system) / 1000) + m1.stealMs - m0.stealMs) / wall <= QUIET) break;
        }
      }
      const [a, b] = i % 2 ? (() => { const y = round(one); return [round(many), y]; })() : [round(many), round(one)];
      const l = a.load === null || b.load === null ? null : Math.max(a.load, b.load);
      const q = l !== null && l <= QUIET;
      if (q) quiet++;
      const same = a.ids.join() === b.ids.join();
      pairs.push({ t2: a.tps, t1: b.tps, load: l, same });
      line({ stage: 'round', i, [A]: r3(a.tps), [Bn]: r3(b.tps), ratio: r3(a.tps / b.tps), other_cores: l === null ? null : r3(l), quiet: q, same_tokens: same });
    }
    const qs = pairs.filter((p) => p.load !== null && p.load <= QUIET);
    const ratios = (ps: typeof pairs) => ps.map((p) => p.t2 / p.t1);
    line({
      stage: 'summary',
      layers: LAYERS, threads: ab && !abPool ? 1 : pool.threads, ops: OPS, prompt: PROMPT, new: NEW, pairs: pairs.length, quiet_pairs: qs.length,
      [ab ? 'tps_wasm_ops' : 'tps_threads']: r3(median((qs.length >= 3 ? qs : pairs).map((p) => p.t2))),
      [ab ? 'tps_js_ops' : 'tps_1thread']: r3(median((qs.length >= 3 ? qs : pairs).map((p) => p.t1))),
      [ab ? 'ops_wasm_vs_js' : 'threads2_vs_1']: qs.length >= 3 ? r3(median(ratios(qs))) : null,
      [ab ? 'ops_wasm_vs_js_all' : 'threads2_vs_1_all']: r3(median(ratios(pairs))),
      ratio_min: r3(Math.min(...ratios(pairs))), ratio_max: r3(Math.max(...ratios(pairs))),
      same_tokens: pairs.every((p) => p.same),
      machine: 'shared 2-core machine; other_cores per round says how busy',
    });
  } finally {
    await pool.close();
  }
}

await main();
