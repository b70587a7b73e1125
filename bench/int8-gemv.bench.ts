/**
 * int8 GEMV benchmark (`npx tsx bench/int8-gemv.bench.ts [--quick]`), JSON lines on stdout.
 *
 * The question it answers: could a decoder of our own on WASM, with its own int8 kernel instead of
 * onnxruntime-web's, reach 0.7x onnxruntime-node (bench/decode.bench.ts wasm_vs_native)?
 *
 * One linear y = x . W^T, int8 weights, M = 1, 3, 8 activation rows, 1 thread, in this process, A/B
 * rounds interleaved (each contender once per round, order rotated; medians over rounds):
 *   ours_extmul, ours_dot, ours_relaxed  src/core/lm/int8-gemv-wasm.ts (WebAssembly SIMD128, the
 *                          relaxed one with relaxed SIMD's int8 dot product: browsers' default, Node 20
 *                          behind a V8 flag this bench sets; per-column weight scales, activations
 *                          quantised per row in JS; the float path end to end), 4 columns per step,
 *                          one row per pass; *_c1r4: 1 column per step, 4 rows per pass (for M > 1)
 *   ort_web                onnxruntime-web WASM, the decoder's own q8 chain as a one-node-per-op graph:
 *                          DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul (graph optimisation
 *                          'all' fuses it as in the decoder); per-tensor weight scale
 *   ort_native             onnxruntime-node CPU EP, the same graph (MLAS: AVX2 / AVX-512 VNNI)
 * on two shapes of Qwen3-0.6B: a layer's gate/up projection 1024 -> 3072 (3 MB of weights: stays in
 * cache when called over and over, so compute-bound) and the tied lm_head 1024 -> 151936 (148 MB:
 * memory-bound). Figures: ms per call and GB/s of weights read (N x K bytes / time).
 *
 * The closing line projects one decode token of the real model (28 layers, 15 MB of int8 weights
 * each, plus the lm_head; 0.6 GB a token, far beyond any cache, so every weight byte comes from
 * memory): time = body bytes / min(layer GB/s, lm_head GB/s) + lm_head bytes / lm_head GB/s, i.e.
 * a layer runs at its compute speed or at the memory speed, whichever is lower. GEMV time only
 * (attention, norms and the loop add the same few ms to each).
 * Then `chain`, measured: every linear of a decode step (L layers + the lm_head, distinct weights)
 * per token, ours vs onnxruntime-web vs onnxruntime-node (--chain-layers, quick 4, else 28).
 * Options: --quick (fewer rounds, 4 chain layers), --rounds N, --chain-layers N.
 *
 * `--section rows` (alone; `npm run bench:int8-gemv -- --section rows --quick`, ~1-2 minutes): batched
 * rows on the own decoder's call, `matmulInteger` (uint8 activations with a zero point, uint8
 * weights with per-column zero points), on every Qwen3-0.6B linear shape (q/k/v fused, o,
 * gate+up fused, down, lm_head), M = 1, 3, 8 rows: `auto` (load options { kernel: 'dot',
 * zeroPoint }: passes and column steps picked by M) against `r1` (the former own/linear.ts
 * options { cols: 4, rowsPerPass: 1 }: one pass per row). Each linear is loaded in enough copies
 * to pass ~48 MB (L3 is 32 MB here), called in turn, so weights come from memory as in a decode
 * step. Rounds interleaved, order alternated; medians of wall time and of process CPU time (the
 * CPU time is the steadier one on a shared machine). Ratios: time of M rows / time of M = 1 on
 * the same linear; targets M = 3 <= 1.35x, M = 8 <= 2.4x.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { int8GemvWasm, type Int8Linear } from '../src/core/lm/int8-gemv-wasm';
import { GraphBuilder } from '../src/core/lm/builder/graph';
import { attrInt, encodeModel, makeValueInfo, TensorDataType } from '../src/core/onnx/proto';
import { createSession, type Ort, type OrtSession } from '../src/core/lm/ort';
import { Pcg32 } from '../src/core/lm/sampling';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const quick = process.argv.includes('--quick');
const ROUNDS = arg('rounds', quick ? 5 : 9);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => +x.toFixed(3);

/**
 * Median ms per runner over ROUNDS interleaved rounds (after one warm-up call each); each round
 * starts one runner later than the last, so no runner always follows the same one.
 */
async function interleavedMedians<R extends { name: string }>(runners: R[], time: (r: R) => Promise<number>): Promise<Record<string, number>> {
  for (const r of runners) await time(r); // warm-up
  const ms = new Map<string, number[]>(runners.map((r) => [r.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < runners.length; j++) {
      const r = runners[(round + j) % runners.length];
      ms.get(r.name)!.push(await time(r));
    }
  }
  return Object.fromEntries([...ms].map(([k, v]) => [k, median(v)]));
}
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'int8-gemv', ...o }));

/**
 * The decoder's q8 linears (builder/common.ts emitMatMulInteger) in one graph, each alone on an input
 * of its width: x<K> [M, K] -> y<i> [M, N_i]; DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul.
 */
function q8Graph(linears: { wT: Int8Array; K: number; N: number; scale: number }[]): Uint8Array {
  const g = new GraphBuilder('float32');
  for (const K of new Set(linears.map((l) => l.K))) g.inputs.push(makeValueInfo(`x${K}`, TensorDataType.FLOAT, ['M', K]));
  linears.forEach(({ wT, K, N, scale }, i) => {
    g.outputs.push(makeValueInfo(`y${i}`, TensorDataType.FLOAT, ['M', N]));
    const Wq = g.init(`w${i}_quantized`, TensorDataType.INT8, [K, N], wT);
    const Ws = g.init(`w${i}_scale`, TensorDataType.FLOAT, [], new Float32Array([scale]));
    const Wz = g.init(`w${i}_zero_point`, TensorDataType.INT8, [], new Int8Array([0]));
    const [xq, xs, xz] = g.op(`/l${i}`, 'DynamicQuantizeLinear', [`x${K}`], { outputs: 3 });
    const yi = g.op1(`/l${i}`, 'MatMulInteger', [xq, Wq, xz, Wz]);
    const yf = g.op1(`/l${i}`, 'Cast', [yi], { attrs: [attrInt('to', TensorDataType.FLOAT)] });
    const sc = g.op1(`/l${i}`, 'Mul', [xs, Ws]);
    g.op1(`/l${i}`, 'Mul', [yf, sc], { outputs: [`y${i}`] });
  });
  return encodeModel({
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: 'persona-space',
    graph: { name: 'q8-linears', node: g.nodes, initializer: g.initializers, input: g.inputs, output: g.outputs, value_info: [] },
  });
}

/** Random int8 codes in [-127, 127] (xorshift: fast enough for 0.6 GB). */
function randomCodes(n: number, seed: number): Int8Array {
  const w = new Int8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = ((x >>> 0) % 255) - 127;
  }
  return w;
}

function transposeCodes(w: Int8Array, N: number, K: number): Int8Array {
  const wT = new Int8Array(K * N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wT[k * N + n] = w[n * K + k];
  return wT;
}

type Runner = { name: string; call(x: Float32Array, M: number): Promise<unknown> | unknown };

async function main() {
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); // before the kernels are built
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'fatal';
  const ortNode = await import('onnxruntime-node');
  const gemv = int8GemvWasm();
  if (!gemv) throw new Error('WebAssembly SIMD is not available here.');
  if (!gemv.relaxed) throw new Error('Relaxed SIMD is not available here.');
  line({ stage: 'start', quick, rounds: ROUNDS, node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavg: r3(os.loadavg()[0]) });

  const shapes = [
    { name: 'layer 1024x3072', K: 1024, N: 3072 },
    { name: 'lm_head 1024x151936', K: 1024, N: 151936 },
  ];
  const Ms = [1, 3, 8];
  const gbs: Record<string, Record<string, Record<number, number>>> = {};
  const rng = new Pcg32(11);
  for (const sh of shapes) {
    const { K, N } = sh;
    const w = new Int8Array(N * K);
    for (let i = 0; i < w.length; i++) w[i] = Math.floor(rng.float() * 255) - 127;
    const scale = 0.01;
    const graph = q8Graph([{ wT: transposeCodes(w, N, K), K, N, scale }]);
    const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' as const, intraOpNumThreads: 1, interOpNumThreads: 1 };
    const sWeb: OrtSession = await createSession(ortWeb as unknown as Ort, { graph, externalData: [] }, opts);
    const sNode: OrtSession = await createSession(ortNode as unknown as Ort, { graph, externalData: [] }, { ...opts, executionProviders: ['cpu'] });
    const ours: Record<string, Int8Linear> = {
      extmul: gemv.load(w, N, K, scale, { kernel: 'extmul', cols: 4, rowsPerPass: 1 }),
      dot: gemv.load(w, N, K, scale, { kernel: 'dot', cols: 4, rowsPerPass: 1 }),
      dot_c1r4: gemv.load(w, N, K, scale, { kernel: 'dot', cols: 1, rowsPerPass: 4 }),
      relaxed: gemv.load(w, N, K, scale, { kernel: 'relaxed', cols: 4, rowsPerPass: 1 }),
      relaxed_c1r4: gemv.load(w, N, K, scale, { kernel: 'relaxed', cols: 1, rowsPerPass: 4 }),
    };
    const ortRun = (ort: { Tensor: typeof ortWeb.Tensor }, s: OrtSession) => async (x: Float32Array, M: number) => {
      const out = await s.run({ [`x${K}`]: new ort.Tensor('float32', x, [M, K]) as never });
      return out.y0.data;
    };
    const runners: Runner[] = [
      { name: 'ours_extmul', call: (x, M) => ours.extmul.matmul(x, M) },
      { name: 'ours_dot', call: (x, M) => ours.dot.matmul(x, M) },
      { name: 'ours_dot_c1r4', call: (x, M) => ours.dot_c1r4.matmul(x, M) },
      { name: 'ours_relaxed', call: (x, M) => ours.relaxed.matmul(x, M) },
      { name: 'ours_relaxed_c1r4', call: (x, M) => ours.relaxed_c1r4.matmul(x, M) },
      { name: 'ort_web', call: ortRun(ortWeb, sWeb) },
      { name: 'ort_native', call: ortRun(ortNode as unknown as { Tensor: typeof ortWeb.Tensor }, sNode) },
    ];
    // agreement: each contender's output vs the float64 product of the same int8 weights (8-bit
    // activations, each its own rounding: relative rms error)
    {
      const x = Float32Array.from({ length: K }, () => rng.float() * 2 - 1);
      const ref = new Float64Array(N);
      for (let n = 0; n < N; n++) {
        let f = 0;
        for (let k = 0; k < K; k++) f += x[k] * w[n * K + k];
        ref[n] = f * scale;
      }
      const err: Record<string, number> = {};
      for (const r of runners) {
        const y = (await r.call(x, 1)) as Float32Array;
        let num = 0, den = 0;
        for (let n = 0; n < N; n++) { num += (y[n] - ref[n]) ** 2; den += ref[n] ** 2; }
        err[r.name] = +Math.sqrt(num / den).toExponential(2);
      }
      line({ stage: 'agree', shape: sh.name, rel_rms_vs_float64: err });
    }
    const bytes = N * K;
    gbs[sh.name] = {};
    for (const M of Ms) {
      const x = Float32Array.from({ length: M * K }, () => rng.float() * 2 - 1);
      // calls per timing: ~30 ms of work at native speed
      const reps = Math.max(1, Math.round(0.03 / ((bytes * M ** 0.5) / 20e9)));
      const time = async (r: Runner) => {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) await r.call(x, M);
        return (performance.now() - t0) / reps;
      };
      const med = await interleavedMedians(runners, time);
      const g = Object.fromEntries(Object.entries(med).map(([k, v]) => [k, bytes / (v / 1000) / 1e9]));
      for (const [k, v] of Object.entries(g)) (gbs[sh.name][k] ??= {} as Record<number, number>)[M] = v;
      const plain = Math.max(g.ours_extmul, g.ours_dot, g.ours_dot_c1r4);
      const best = Math.max(plain, g.ours_relaxed, g.ours_relaxed_c1r4);
      line({
        stage: 'ab', shape: sh.name, M, reps, weight_mb: r3(bytes / 2 ** 20),
        ms: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, r3(v)])),
        gb_s: Object.fromEntries(Object.entries(g).map(([k, v]) => [k, r3(v)])),
        ours_best_vs_native: r3(best / g.ort_native), ours_plain_simd_vs_native: r3(plain / g.ort_native), ort_web_vs_native: r3(g.ort_web / g.ort_native), ours_best_vs_ort_web: r3(best / g.ort_web),
        loadavg: r3(os.loadavg()[0]),
      });
    }
    await sWeb.release();
    await sNode.release();
  }

  // one decode token of Qwen3-0.6B (M = 1), GEMV time only; also at 4 layers (decode.bench.ts --quick)
  const d = 1024;
  const layerBytes = d * (2048 + 1024 + 1024) + 2048 * d + 3 * d * 3072; // q, k, v, o, gate, up, down
  const headBytes = 151936 * d;
  const names = ['ours_extmul', 'ours_dot', 'ours_dot_c1r4', 'ours_relaxed', 'ours_relaxed_c1r4', 'ort_web', 'ort_native'];
  const tokenMs = (L: number) => {
    const t: Record<string, number> = {};
    for (const k of names) {
      const lay = gbs['layer 1024x3072'][k][1], head = gbs['lm_head 1024x151936'][k][1];
      t[k] = (1000 * ((L * layerBytes) / Math.min(lay, head) + headBytes / head)) / 1e9;
    }
    const plain = Math.min(t.ours_extmul, t.ours_dot, t.ours_dot_c1r4);
    const ours = Math.min(plain, t.ours_relaxed, t.ours_relaxed_c1r4);
    return {
      layers: L,
      token_ms: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, r3(v)])),
      own_kernel_vs_native: r3(t.ort_native / ours),
      own_plain_simd_kernel_vs_native: r3(t.ort_native / plain),
      ort_web_vs_native: r3(t.ort_native / t.ort_web),
      own_kernel_vs_ort_web: r3(t.ort_web / ours),
    };
  };
  const chain = await chainSection(gemv, ortWeb as unknown as Ort, ortNode as unknown as Ort);
  line({
    stage: 'summary',
    measured_chain: chain,
    projected_28_layers: tokenMs(28),
    projected_4_layers: tokenMs(4),
    gb_s_m1: Object.fromEntries(Object.entries(gbs).map(([s, v]) => [s, Object.fromEntries(Object.entries(v).map(([k, m]) => [k, r3(m[1])]))])),
    target: 0.7,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  });
}

/**
 * Measured, not projected: every linear of a decode step of `--chain-layers` layers (quick 4, else
 * 28) plus the lm_head, distinct random weights (0.6 GB at 28 layers: streamed from memory as in a
 * real decode), one row; ours one linear after another, onnxruntime all of them in one graph (one
 * run a token). GEMV time per token only.
 */
async function chainSection(gemv: NonNullable<ReturnType<typeof int8GemvWasm>>, ortWeb: Ort, ortNode: Ort) {
  const L = arg('chain-layers', quick ? 4 : 28);
  const dims: [number, number][] = [[1024, 2048], [1024, 1024], [1024, 1024], [2048, 1024], [1024, 3072], [1024, 3072], [3072, 1024]]; // [K, N]: q k v o gate up down
  const linears: { w: Int8Array; K: number; N: number }[] = [];
  let seed = 1;
  for (let l = 0; l < L; l++) for (const [K, N] of dims) linears.push({ w: randomCodes(N * K, seed++), K, N });
  linears.push({ w: randomCodes(151936 * 1024, seed), K: 1024, N: 151936 });
  const bytes = linears.reduce((a, l) => a + l.K * l.N, 0);
  const graph = q8Graph(linears.map((l) => ({ wT: transposeCodes(l.w, l.N, l.K), K: l.K, N: l.N, scale: 0.01 })));
  const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' as const, intraOpNumThreads: 1, interOpNumThreads: 1 };
  const sWeb = await createSession(ortWeb, { graph, externalData: [] }, opts);
  const sNode = await createSession(ortNode, { graph, externalData: [] }, { ...opts, executionProviders: ['cpu'] });
  const oursDot = linears.map((l) => gemv.load(l.w, l.N, l.K, 0.01, { kernel: 'dot' }));
  const oursRelaxed = linears.map((l) => gemv.load(l.w, l.N, l.K, 0.01, { kernel: 'relaxed' }));
  linears.length = 0; // the loaded copies are what runs
  const rng = new Pcg32(5);
  const xs = new Map([1024, 2048, 3072].map((K) => [K, Float32Array.from({ length: K }, () => rng.float() * 2 - 1)]));
  const ortFeeds = (T: Ort['Tensor']) => Object.fromEntries([...xs].map(([K, x]) => [`x${K}`, new T('float32', x, [1, K])]));
  const runners: { name: string; token(): Promise<unknown> | unknown }[] = [
    { name: 'ours_dot', token: () => { for (const lin of oursDot) lin.matmul(xs.get(lin.K)!, 1); } },
    { name: 'ours_relaxed', token: () => { for (const lin of oursRelaxed) lin.matmul(xs.get(lin.K)!, 1); } },
    { name: 'ort_web', token: () => sWeb.run(ortFeeds(ortWeb.Tensor) as never) },
    { name: 'ort_native', token: () => sNode.run(ortFeeds(ortNode.Tensor) as never) },
  ];
  const time = async (r: (typeof runners)[number]) => {
    const t0 = performance.now();
    await r.token();
    return performance.now() - t0;
  };
  const med = await interleavedMedians(runners, time);
  const ours = Math.min(med.ours_dot, med.ours_relaxed);
  const res = {
    layers: L,
    weight_mb: Math.round(bytes / 2 ** 20),
    token_ms: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, r3(v)])),
    gb_s: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, r3(bytes / (v / 1000) / 1e9)])),
    own_kernel_vs_native: r3(med.ort_native / ours),
    own_plain_simd_kernel_vs_native: r3(med.ort_native / med.ours_dot),
    ort_web_vs_native: r3(med.ort_native / med.ort_web),
    own_kernel_vs_ort_web: r3(med.ort_web / ours),
  };
  line({ stage: 'chain', ...res, loadavg: r3(os.loadavg()[0]) });
  await sWeb.release();
  await sNode.release();
  return res;
}

/** `--section rows`: M = 1 / 3 / 8 rows on every Qwen3-0.6B linear shape, auto passes vs one pass per row. */
async function rowsSection() {
  const gemv = int8GemvWasm();
  if (!gemv) throw new Error('WebAssembly SIMD is not available here.');
  const rounds = arg('rounds', quick ? 5 : 9);
  line({ stage: 'start', section: 'rows', quick, rounds, node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavg: r3(os.loadavg()[0]) });
  const d = 1024;
  const shapes = [
    { name: 'qkv', N: 4096, K: d },
    { name: 'o', N: d, K: 2048 },
    { name: 'gate_up', N: 6144, K: d },
    { name: 'down', N: d, K: 3072 },
    { name: 'lm_head', N: 151936, K: d },
  ];
  const Ms = [1, 3, 8];
  const summary: Record<string, Record<string, number>> = {};
  for (const { name, N, K } of shapes) {
    const copies = Math.max(1, Math.ceil(48e6 / (N * K)));
    const rng = new Pcg32(7);
    const w = new Uint8Array(randomCodes(N * K, 3).buffer); // uint8 codes: the int8 ones' bytes
    const zeroPoint = Uint8Array.from({ length: N }, () => 100 + Math.floor(rng.float() * 56));
    const configs = {
      auto: { kernel: 'dot' as const, zeroPoint },
      r1: { kernel: 'dot' as const, cols: 4 as const, rowsPerPass: 1, zeroPoint },
    };
    const lins = Object.fromEntries(Object.entries(configs).map(([k, o]) => [k, Array.from({ length: copies }, () => gemv.load(w, N, K, 1, o))]));
    const data = new Map(Ms.map((M) => [M, { a: Uint8Array.from({ length: M * K }, () => Math.floor(rng.float() * 256)), out: new Int32Array(M * N) }]));
    // the two agree, bit for bit
    for (const M of Ms) {
      const { a } = data.get(M)!;
      const x = lins.auto[0].matmulInteger(a, 117, M), y = lins.r1[0].matmulInteger(a, 117, M);
      if (x.some((v, i) => v !== y[i])) throw new Error(`auto and r1 differ on ${name}, M = ${M}`);
    }
    // calls per timing: every copy once, and ~10 ms of work at M = 1 at least
    const reps = Math.max(copies, Math.ceil(0.01 / ((N * K) / 20e9)));
    let next = 0;
    const time = (cfg: string, M: number) => {
      const { a, out } = data.get(M)!;
      const ls = lins[cfg];
      const c0 = process.cpuUsage(), t0 = performance.now();
      for (let i = 0; i < reps; i++) ls[next++ % copies].matmulInteger(a, 117, M, out);
      const cpu = process.cpuUsage(c0);
      return { wall: (performance.now() - t0) / reps, cpu: (cpu.user + cpu.system) / 1000 / reps };
    };
    const runs = Object.keys(configs).flatMap((cfg) => Ms.map((M) => ({ cfg, M })));
    for (const r of runs) time(r.cfg, r.M); // warm-up (and tier-up)
    const wall = new Map<string, number[]>(), cpu = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const r of round % 2 ? [...runs].reverse() : runs) {
        const t = time(r.cfg, r.M), key = `${r.cfg}_m${r.M}`;
        (wall.get(key) ?? wall.set(key, []).get(key)!).push(t.wall);
        (cpu.get(key) ?? cpu.set(key, []).get(key)!).push(t.cpu);
      }
    }
    const med = (m: Map<string, number[]>) => Object.fromEntries([...m].map(([k, v]) => [k, median(v)]));
    const mw = med(wall), mc = med(cpu);
    const ratios = (m: Record<string, number>) => ({
      auto_m3_vs_m1: r3(m.auto_m3 / m.auto_m1), auto_m8_vs_m1: r3(m.auto_m8 / m.auto_m1),
      r1_m3_vs_m1: r3(m.r1_m3 / m.r1_m1), r1_m8_vs_m1: r3(m.r1_m8 / m.r1_m1),
      auto_vs_r1_m1: r3(m.auto_m1 / m.r1_m1), auto_vs_r1_m3: r3(m.auto_m3 / m.r1_m3), auto_vs_r1_m8: r3(m.auto_m8 / m.r1_m8),
    });
    const rc = ratios(mc);
    summary[name] = { m1_cpu_ms: r3(mc.auto_m1), m1_gb_s: r3((N * K) / (mc.auto_m1 / 1000) / 1e9), m3_vs_m1: rc.auto_m3_vs_m1, m8_vs_m1: rc.auto_m8_vs_m1 };
    line({
      stage: 'rows', shape: name, N, K, copies, reps, weight_mb: r3((N * K) / 2 ** 20),
      wall_ms: Object.fromEntries(Object.entries(mw).map(([k, v]) => [k, r3(v)])),
      cpu_ms: Object.fromEntries(Object.entries(mc).map(([k, v]) => [k, r3(v)])),
      ratios_cpu: rc, ratios_wall: ratios(mw),
      loadavg: r3(os.loadavg()[0]),
    });
  }
  line({ stage: 'summary', section: 'rows', per_shape_cpu: summary, targets: { m3_vs_m1: 1.35, m8_vs_m1: 2.4 }, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) });
}

const sectionArg = process.argv.indexOf('--section');
(sectionArg >= 0 && process.argv[sectionArg + 1] === 'rows' ? rowsSection() : main()).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
