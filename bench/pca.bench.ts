/**
 * PCA benchmark (`npx tsx bench/pca.bench.ts`), JSON lines on stdout:
 *  1. one layer of 275 x d (d = 1024, 4096, 8192; random data with a planted low-rank structure):
 *     median / min ms over 7 runs after 5 warm-up runs (so the JIT has settled; float32 input: the
 *     float32 Gram path), numpy's float64 centred Gram + eigh interleaved (A/B, one thread; each
 *     side timed after two untimed runs), the float64 Gram path and the plain-JS kernels; how far
 *     the float32 path's components are from the float64 path's;
 *  2. a whole synthetic 275 x 80 x 8192 bf16 set held in memory (~360 MB): cos(axis, PC1) at every
 *     layer (decode + PCA + axis per layer) on one thread and on a pool of 2 worker_threads
 *     (workers/pca-pool*.ts, the browser worker's code), against numpy on 2 and on 1 threads, total
 *     seconds and peak RSS, and a baseline that only decodes every layer;
 *  2b, 3. the pool and one layer again with relaxed SIMD's multiply-add in the Gram kernel (browsers'
 *     default; Node 20 behind a V8 flag, set at run time after the Node-default figures), against numpy.
 * Options: --quick (d = 1024 only, 3 runs, 8 layers) for a smoke run; --d 4096,8192 (the widths of
 * sections 1 and 3); --no-set (skip sections 2 and 2b, the 80-layer set); --runs N (A/B rounds).
 * Wall time suffers when other processes share the 2 cores, so every figure also comes as process
 * CPU time (user + system, all threads) and each line carries the load average at its start.
 */
import { pca, pcaBackend, setPcaBackend, type PcaWorkspace } from '../src/core/math/pca';
import { createPersonaSet } from '../src/core/persona/persona-set';
import { cosAxisPcPerLayer } from '../src/core/persona/analysis';
import { rng } from '../src/core/math/testing';
import type { RawTensor } from '../src/core/tensor';
import { createPcaPool } from '../workers/pca-pool';
import { nodePcaWorker } from '../workers/pca-pool-node';
import os from 'node:os';
import v8 from 'node:v8';
import { setRelaxedSimd, wasmGram32 } from '../src/core/math/gram32-wasm';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// numpy baseline (bench/pca_numpy.py): float64 centred Gram + eigh, timed inside Python, run as a
// child process between our rounds (A/B interleaved). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
// unset for that command alone (they slow a current OpenBLAS), and its threads pinned.
const PY = process.env.PYTHON ?? 'python3';
const script = fileURLToPath(new URL('./pca_numpy.py', import.meta.url));
const tmp = mkdtempSync(join(os.tmpdir(), 'pca-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const numpyHere = spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
let blasInfo: string | null = null;
function numpyRun(file: string, n: number, L: number, d: number, dtype: string, threads: number, warmups: number): number | null {
  if (!numpyHere) return null;
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(PY, [script, file, String(n), String(L), String(d), dtype, '1', String(warmups)], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`numpy baseline failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { times_ms: number[]; blas: string; numpy: string };
  blasInfo = `numpy ${out.numpy}, ${out.blas}`;
  return out.times_ms[0];
}

const quick = process.argv.includes('--quick');
const argValue = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const dims = argValue('--d')?.split(',').map(Number);
if (dims && !dims.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`--d wants widths such as 4096,8192, got ${argValue('--d')}`);
const withSet = !process.argv.includes('--no-set');
const runsArg = argValue('--runs');
const N = 275;
const node = process.version;
const mb = (b: number) => Math.round(b / 2 ** 20);

function planted(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed);
  const rank = 8;
  const dirs = Array.from({ length: rank }, () => Float32Array.from({ length: d }, () => r() - 0.5));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const w = Array.from({ length: rank }, (_, t) => (r() - 0.5) * (8 / (t + 1)));
    const o = i * d;
    for (let j = 0; j < d; j++) {
      let v = 0.5 + 0.3 * (r() - 0.5);
      for (let t = 0; t < rank; t++) v += w[t] * dirs[t][j];
      x[o + j] = v;
    }
  }
  return x;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const load = () => +os.loadavg()[0].toFixed(2);

type Phases = NonNullable<PcaWorkspace['timings']>;

/** Untimed runs before each timed one in an A/B round, on both sides (pca_numpy.py's `warmups`). */
const AB_WARMUPS = 2;
function timedAfterWarmups(f: () => void): number {
  for (let w = 0; w < AB_WARMUPS; w++) f();
  const t = performance.now();
  f();
  return performance.now() - t;
}

function timeLayer(x: Float32Array, d: number, runs: number): { median: number; min: number; cpuMedian: number; phases: Record<string, number> } {
  const ws: PcaWorkspace = { timings: { centre: 0, product: 0, eigen: 0, components: 0 } };
  for (let w = 0; w < 5; w++) pca(x, N, d, { components: 3 }, ws);
  const times: number[] = [];
  const cpu: number[] = [];
  const phases: Record<keyof Phases, number[]> = { centre: [], product: [], eigen: [], components: [] };
  for (let r = 0; r < runs; r++) {
    const c = cpuMs();
    const t = performance.now();
    pca(x, N, d, { components: 3 }, ws);
    times.push(performance.now() - t);
    cpu.push(cpuMs() - c);
    for (const k of Object.keys(phases) as (keyof Phases)[]) phases[k].push(ws.timings![k]);
  }
  const phaseMedians = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, +median(v).toFixed(1)]));
  return { median: median(times), min: Math.min(...times), cpuMedian: median(cpu), phases: phaseMedians };
}

// 1. One layer (Node's default WebAssembly: no relaxed SIMD).
setRelaxedSimd(false);
const runs = runsArg ? Math.max(1, Number(runsArg)) : quick ? 3 : 7;
for (const d of dims ?? (quick ? [1024] : [1024, 4096, 8192])) {
  const x = planted(N, d, d);
  const loadavg = load();
  const backend = pcaBackend();
  const fast = timeLayer(x, d, runs);
  // Interleaved A/B against numpy: one of ours, one of numpy's, `runs` times; each side times one
  // run after AB_WARMUPS untimed ones in the same round (numpy's inside its process), so neither
  // side is timed on caches the other just evicted.
  const file = join(tmp, `layer-${d}.f32`);
  writeFileSync(file, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  const oursAB: number[] = [];
  const npAB: number[] = [];
  const abWs: PcaWorkspace = {};
  for (let r = 0; r < runs && numpyHere; r++) {
    oursAB.push(timedAfterWarmups(() => pca(x, N, d, { components: 3 }, abWs)));
    npAB.push(numpyRun(file, N, 1, d, 'float32', 1, AB_WARMUPS)!);
  }
  setPcaBackend('js');
  const js = timeLayer(x, d, runs);
  // The float64 Gram (every input's path before float32 input got the float32 Gram), and how far
  // the float32 path's components and variances are from it.
  setPcaBackend('wasm-f64');
  const f64 = timeLayer(x, d, runs);
  const ref = pca(x, N, d, { components: 3 });
  setPcaBackend('wasm');
  const got = pca(x, N, d, { components: 3 });
  let maxAngle = 0;
  let maxVarRel = 0;
  for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += ref.components[c * d + j] * got.components[c * d + j];
    maxAngle = Math.max(maxAngle, 1 - Math.abs(s));
    maxVarRel = Math.max(maxVarRel, Math.abs(ref.explainedVariance[c] - got.explainedVariance[c]) / ref.explainedVariance[c]);
  }
  console.log(
    JSON.stringify({
      bench: 'pca-one-layer',
      n: N,
      d,
      components: 3,
      backend,
      runs,
      median_ms: +fast.median.toFixed(1),
      min_ms: +fast.min.toFixed(1),
      cpu_median_ms: +fast.cpuMedian.toFixed(1),
      phase_median_ms: fast.phases,
      baseline: 'js-kernel',
      js_median_ms: +js.median.toFixed(1),
      js_min_ms: +js.min.toFixed(1),
      js_cpu_median_ms: +js.cpuMedian.toFixed(1),
      speedup_vs_js: +(js.median / fast.median).toFixed(2),
      f64_gram_median_ms: +f64.median.toFixed(1),
      f64_gram_phase_median_ms: f64.phases,
      vs_f64_gram_max_1_minus_cos: +maxAngle.toExponential(1),
      vs_f64_gram_max_variance_rel: +maxVarRel.toExponential(1),
      numpy: numpyHere ? 'float64 centred Gram + eigh, 1 thread' : 'absent (python3 with numpy not found)',
      ours_ab_median_ms: numpyHere ? +median(oursAB).toFixed(1) : undefined,
      numpy_ab_median_ms: numpyHere ? +median(npAB).toFixed(1) : undefined,
      ratio_vs_numpy: numpyHere ? +(median(oursAB) / median(npAB)).toFixed(2) : undefined,
      target_ratio_vs_numpy: 1.0,
      blas: blasInfo ?? undefined,
      loadavg,
      loadavg_end: load(),
      node,
    }),
  );
}

// 2. A whole 275 x 80 x 8192 bf16 set.
if (withSet) {
  const L = quick ? 8 : 80;
  const d = 8192;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  // Each layer: a few planted directions (different per layer) plus noise; bf16 by truncation.
  const data = new Uint16Array(N * L * d);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const r = rng(7);
  const rank = 4;
  const dirs = Array.from({ length: rank }, () => Float32Array.from({ length: d }, () => r() - 0.5));
  const def = new Uint16Array(L * d);
  let s = 0x12345678;
  for (let i = 0; i < N; i++) {
    const w = Array.from({ length: rank }, (_, t) => (r() - 0.5) * (6 / (t + 1)));
    for (let l = 0; l < L; l++) {
      const o = (i * L + l) * d;
      const shift = (l * 97) % d; // rotate the directions from layer to layer
      for (let j = 0; j < d; j++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5; // xorshift32
        let v = 0.25 * ((s >>> 0) / 4294967296 - 0.5);
        const jj = (j + shift) % d;
        for (let t = 0; t < rank; t++) v += w[t] * dirs[t][jj];
        f[0] = v;
        data[o + j] = u[0] >>> 16;
      }
    }
  }
  for (let l = 0; l < L; l++) {
    const shift = (l * 97) % d;
    for (let j = 0; j < d; j++) {
      f[0] = 3 * dirs[0][(j + shift) % d] + 0.5 * dirs[2][(j + shift) % d];
      def[l * d + j] = u[0] >>> 16;
    }
  }
  const tensor: RawTensor = { dtype: 'bfloat16', shape: [N, L, d], data: new Uint8Array(data.buffer) };
  const names = Array.from({ length: N }, (_, i) => `role${i}`);
  const set = createPersonaSet({ names, vectors: tensor, default: { dtype: 'bfloat16', shape: [L, d], data: new Uint8Array(def.buffer) } as RawTensor });
  const buildS = (performance.now() - t0) / 1000;

  // Baseline: decode every layer, nothing else.
  const loadavg = load();
  let peakBase = process.memoryUsage().rss;
  let c = cpuMs();
  let t = performance.now();
  let sink = 0;
  const buffer = new Float32Array(N * d);
  for (let l = 0; l < L; l++) {
    const x = set.layer(l, buffer);
    const dv = set.defaultAt(l)!;
    sink += x[0] + dv[0];
    peakBase = Math.max(peakBase, process.memoryUsage().rss);
  }
  const decodeS = (performance.now() - t) / 1000;
  const decodeCpuS = (cpuMs() - c) / 1000;

  // The analysis: decode + PCA + axis + cos(axis, PC1) at every layer.
  let peak = process.memoryUsage().rss;
  c = cpuMs();
  t = performance.now();
  const rows = cosAxisPcPerLayer(set, 1, { onLayer: () => (peak = Math.max(peak, process.memoryUsage().rss)) });
  const totalS = (performance.now() - t) / 1000;
  const totalCpuS = (cpuMs() - c) / 1000;
  const cos = rows.map((row) => row.cosAxisPc![0]);
  // numpy on two threads over the same bf16 layers, then ours again (A/B/A), one round each.
  // The same analysis on a pool of 2 worker_threads (the browser worker's code); started and warmed
  // up before the clock starts (an app keeps its pool).
  const poolStart = performance.now();
  const pool = createPcaPool(nodePcaWorker, { size: 2 });
  const warm = createPersonaSet({ names: names.slice(0, 8), vectors: new Float32Array(8 * 2 * 64).map((_, i) => Math.sin(i)), dim: 64, layers: 2 });
  await pool.cosAxisPcPerLayer(warm, 1);
  const poolStartS = (performance.now() - poolStart) / 1000;
  t = performance.now();
  c = cpuMs();
  const pooled = await pool.cosAxisPcPerLayer(set, 1);
  let poolS = (performance.now() - t) / 1000;
  const poolCpuS = (cpuMs() - c) / 1000;
  let poolMaxDiff = 0;
  pooled.forEach((row, l) => (poolMaxDiff = Math.max(poolMaxDiff, Math.abs(row.cosAxisPc![0] - rows[l].cosAxisPc![0]), Math.abs(row.explainedVarianceRatio[0] - rows[l].explainedVarianceRatio[0]))));
  let npS: number | null = null;
  let np1S: number | null = null;
  let np2S: number | null = null;
  let total2S = totalS;
  if (numpyHere) {
    const file = join(tmp, 'set.bf16');
    writeFileSync(file, new Uint8Array(data.buffer));
    // Two threads as the target says, and one: on a shared, loaded 2-core machine OpenBLAS's
    // second thread can make it slower; the ratio is taken against numpy's faster figure.
    np2S = numpyRun(file, N, L, d, 'bfloat16', 2, 0)! / 1000;
    np1S = numpyRun(file, N, L, d, 'bfloat16', 1, 0)! / 1000;
    npS = Math.min(np1S, np2S);
    rmSync(file, { force: true });
    const t2 = performance.now();
    cosAxisPcPerLayer(set, 1);
    total2S = (performance.now() - t2) / 1000;
    const t3 = performance.now();
    await pool.cosAxisPcPerLayer(set, 1);
    poolS = Math.min(poolS, (performance.now() - t3) / 1000);
  }
  pool.close();
  console.log(
    JSON.stringify({
      bench: 'cos-axis-pc1-all-layers',
      n: N,
      layers: L,
      d,
      dtype: 'bfloat16',
      backend: pcaBackend(),
      set_mb: mb(set.byteSize),
      build_s: +buildS.toFixed(2),
      baseline: 'decode-every-layer',
      decode_only_s: +decodeS.toFixed(2),
      decode_only_cpu_s: +decodeCpuS.toFixed(2),
      total_s: +totalS.toFixed(2),
      total_cpu_s: +totalCpuS.toFixed(2),
      per_layer_ms: +((totalS * 1000) / L).toFixed(1),
      time_ratio_vs_decode: +(totalS / decodeS).toFixed(1),
      numpy: numpyHere ? 'float64 centred Gram + eigh per layer (bf16 decoded in numpy), 2 and 1 threads; ratio vs the faster' : 'absent (python3 with numpy not found)',
      numpy_2_threads_s: np2S === null ? undefined : +np2S.toFixed(2),
      numpy_1_thread_s: np1S === null ? undefined : +np1S.toFixed(2),
      ours_second_round_s: npS === null ? undefined : +total2S.toFixed(2),
      ratio_vs_numpy_1_thread_ours: npS === null ? undefined : +(Math.min(totalS, total2S) / npS).toFixed(2),
      pool_workers: 2,
      pool_start_s: +poolStartS.toFixed(2),
      pool_s: +poolS.toFixed(2),
      pool_cpu_s: +poolCpuS.toFixed(2),
      pool_max_diff_vs_1_thread: poolMaxDiff,
      ratio_vs_numpy: npS === null ? undefined : +(poolS / npS).toFixed(2),
      target_ratio_vs_numpy: 1.0,
      rss_before_set_mb: mb(rssBefore),
      peak_rss_decode_mb: mb(peakBase),
      peak_rss_mb: mb(peak),
      rss_ratio_vs_decode: +(peak / peakBase).toFixed(3),
      max_rss_process_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      min_cos_pc1: +Math.min(...cos).toFixed(4),
      target_s: 10,
      target_peak_mb: 1536,
      loadavg,
      loadavg_end: load(),
      node,
      sink: Number.isFinite(sink),
    }),
  );

  // The same pool with relaxed SIMD's multiply-add in the workers' Gram kernel (browsers' default;
  // Node 20 behind a V8 flag, set here for the rest of the run; workers started after it get it).
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  const poolR = createPcaPool(nodePcaWorker, { size: 2 });
  await poolR.cosAxisPcPerLayer(warm, 1);
  const loadR = load();
  let poolRS = Infinity;
  for (let round = 0; round < 2; round++) {
    const tr = performance.now();
    await poolR.cosAxisPcPerLayer(set, 1);
    poolRS = Math.min(poolRS, (performance.now() - tr) / 1000);
  }
  poolR.close();
  console.log(
    JSON.stringify({
      bench: 'cos-axis-pc1-all-layers-relaxed-simd',
      n: N,
      layers: L,
      d,
      pool_workers: 2,
      pool_s: +poolRS.toFixed(2),
      numpy_s: npS === null ? undefined : +npS.toFixed(2),
      numpy: 'the faster of the 2- and 1-thread numpy runs above (same run, same data)',
      ratio_vs_numpy: npS === null ? undefined : +(poolRS / npS).toFixed(2),
      loadavg: loadR,
      loadavg_end: load(),
      node,
    }),
  );
}

// 3. One layer with relaxed SIMD's multiply-add in the float32 Gram kernel: what Chrome 114+ and
// Firefox 120+ run by default; Node 20 only behind --experimental-wasm-relaxed-simd, set at run
// time at the end of section 2 (sections 1 and 2 measured Node's default). A/B interleaved with numpy.
{
  // The V8 flag is set at the end of section 2 (for the rest of the run); here when that was skipped.
  if (!withSet) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  setRelaxedSimd(true);
  const fused = wasmGram32()?.fused ?? false;
  for (const d of dims ?? (quick ? [1024] : [4096, 8192])) {
    const x = planted(N, d, d);
    const loadavg = load();
    const file = join(tmp, `layer-${d}.f32`);
    writeFileSync(file, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    const ws: PcaWorkspace = { timings: { centre: 0, product: 0, eigen: 0, components: 0 } };
    for (let w = 0; w < 3; w++) pca(x, N, d, { components: 3 }, ws);
    const ours: number[] = [];
    const np: number[] = [];
    const product: number[] = [];
    for (let r = 0; r < runs; r++) {
      ours.push(timedAfterWarmups(() => pca(x, N, d, { components: 3 }, ws)));
      product.push(ws.timings!.product);
      if (numpyHere) np.push(numpyRun(file, N, 1, d, 'float32', 1, AB_WARMUPS)!);
    }
    console.log(
      JSON.stringify({
        bench: 'pca-one-layer-relaxed-simd',
        n: N,
        d,
        relaxed_simd: fused,
        runs,
        median_ms: +median(ours).toFixed(1),
        product_median_ms: +median(product).toFixed(1),
        numpy_ab_median_ms: numpyHere ? +median(np).toFixed(1) : undefined,
        ratio_vs_numpy: numpyHere ? +(median(ours) / median(np)).toFixed(2) : undefined,
        loadavg,
        loadavg_end: load(),
        node,
      }),
    );
  }
}
