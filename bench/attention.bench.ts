/**
 * Attention benchmark (`npx tsx bench/attention.bench.ts [--steps N] [--rounds R]`), JSON lines on
 * stdout, a summary line last. Figures are onnxruntime-free: our int8 decoder
 * (src/core/lm/own/decoder.ts, `ops: 'wasm'`) on Node 20's WebAssembly (the browser runs the same
 * ops module, src/core/lm/own/ops-wasm.ts, which uses no relaxed SIMD), one thread.
 *
 * A decoder of Qwen3-0.6B's shape (16 heads / 8 kv heads of 128) with 2 layers, random weights,
 * built at run time; each row's cache is filled with random keys and values up to the context
 * (16, 256, 1024 tokens; and 8 rows at 256), then decode steps (one token a row) are timed with
 * setStepProfile: `phases` lines give ms per step per layer and row of 'attn_prep' and 'attention'.
 * `kernels` lines split one layer's attention of a row (8 kv heads, 2 query heads each) into the
 * ops module's parts: the copy of the keys and values (loadKv), the scores (dots), the softmax (in
 * JavaScript), the weighted sum of values (wsum) and the rest.
 * `ab` lines: A/B rounds interleaved in this process (A, B, A, B, ...; the median step of each
 * side) of the attention path before (setAttentionPath('f64'): float64 sums) and now ('f32');
 * ratio = before / now (above 1: now is faster). Another process may share the cores: trust only
 * the ratios, which are measured in the same rounds.
 */
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig, presetConfigJson } from '../src/core/lm/config';
import { buildDecoder } from '../src/core/lm/builder';
import { Pcg32 } from '../src/core/lm/sampling';
import { OwnDecoder, STEP_PHASES, setAttentionPath, setStepProfile, type OwnCache } from '../src/core/lm/own/decoder';
import { WasmOps } from '../src/core/lm/own/ops-wasm';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const STEPS = arg('steps', 16), ROUNDS = arg('rounds', 9);
const LAYERS = 2;
const r4 = (x: number) => +x.toFixed(4);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'attention', ...o }));
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const cfg = parseConfig({ ...presetConfigJson('qwen3-0.6b'), num_hidden_layers: LAYERS });
const { numKvHeads: KV, numHeads: H, headDim: hd } = cfg;
const group = H / KV;
const onnx = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype: 'q8' }).onnx;
const dec = OwnDecoder.fromOnnx(onnx, cfg, undefined, { ops: 'wasm' });
const rng = new Pcg32(5);

/** A cache holding `ctx` tokens of random keys (RMS-normed scale) and values, room for `more`. */
function filledCache(ctx: number, more: number): OwnCache {
  const c = dec.newCache();
  c.reserve(ctx + more);
  for (let l = 0; l < LAYERS; l++) for (let h = 0; h < KV; h++) for (let u = 0; u < ctx; u++) {
    const o = (h * c.stride + u) * hd;
    for (let i = 0; i < hd; i++) { c.keys[l][o + i] = 2 * (rng.float() - 0.5); c.values[l][o + i] = rng.float() - 0.5; }
  }
  c.length = ctx;
  return c;
}

/** `steps` decode steps of `rows` rows at context ctx (fresh caches); ms per step of each phase. */
function run(ctx: number, rows: number, steps: number): Float64Array {
  const caches = Array.from({ length: rows }, () => filledCache(ctx, steps + 1));
  dec.step(caches.map((kv) => ({ ids: [7], positions: [ctx], slots: [ctx], kv, mask: null }))); // warm
  const p = new Float64Array(STEP_PHASES.length);
  setStepProfile(p);
  for (let s = 1; s <= steps; s++) dec.step(caches.map((kv, b) => ({ ids: [11 + b], positions: [ctx + s], slots: [ctx + s], kv, mask: null })), { logits: 'last' });
  setStepProfile(null);
  return p.map((v) => v / steps);
}

const PH = (n: (typeof STEP_PHASES)[number]) => STEP_PHASES.indexOf(n);
const CASES = [[16, 1], [256, 1], [1024, 1], [256, 8]] as const;

// ---- phases per step ----
for (const path of ['f64', 'f32'] as const) {
  setAttentionPath(path);
  for (const [ctx, rows] of CASES) {
    const p = run(ctx, rows, STEPS);
    const per = (k: number) => r4(p[k] / LAYERS / rows);
    line({ stage: 'phases', path, ctx, rows, steps: STEPS, attention_ms_per_layer_row: per(PH('attention')), attn_prep_ms_per_layer_row: per(PH('attn_prep')), step_ms: r4(p[PH('step')]) });
  }
}

// ---- one layer's attention of a row, by part (the ops module's kernels called as `attend` calls them) ----
type Internals = { kv: { idx: number; k: number; v: number; q: number; p: number; out: number; pStride: number; c: number }; dotsF: ((...a: number[]) => void)[]; wsumF: ((...a: number[]) => void)[]; f64: Float64Array; f32: Float32Array; fn: Record<string, (...a: number[]) => void>; dots: ((...a: number[]) => void)[]; wsum: ((...a: number[]) => void)[] };
function kernelSplit(ctx: number, reps: number, path: 'f32' | 'f64'): Record<string, number> {
  const ops = new WasmOps(), o = ops as unknown as Internals;
  const c = filledCache(ctx, 1), K = c.keys[0], V = c.values[0];
  const idx = Int32Array.from({ length: ctx }, (_, i) => i);
  const q = Float32Array.from({ length: H * hd }, () => rng.float() - 0.5), out = new Float32Array(H * hd);
  const t = { copy: 0, dots: 0, softmax: 0, wsum: 0, attend: 0 };
  const scale = Math.fround(1 / Math.sqrt(hd)), f = Math.fround, G = group;
  for (let r = 0; r < reps; r++) {
    for (let kh = 0; kh < KV; kh++) {
      let t0 = performance.now();
      ops.loadKv(K, V, kh * c.stride * hd, ctx, hd, idx, ctx);
      let t1 = performance.now(); t.copy += t1 - t0; t0 = t1;
      const L = o.kv, f64 = o.f64;
      if (path === 'f32') {
        // attend's own set-up (mask, scale) once, then its kernels one by one
        ops.attend(q, kh * G * hd, G, ctx, scale, out, kh * G * hd);
        t0 = performance.now();
        o.f32.set(q.subarray(kh * G * hd, (kh + 1) * G * hd), L.q >> 2);
        const nv = Math.ceil(ctx / 4);
        o.dotsF[G](L.q, L.k, L.idx, nv, 4 * hd, L.p, L.pStride, L.c);
        t1 = performance.now(); t.dots += t1 - t0; t0 = t1;
        for (let g = 0; g < G; g++) o.fn.softmaxF(L.p + g * L.pStride, nv, L.c, L.c + 80 + 16 * g);
        t1 = performance.now(); t.softmax += t1 - t0; t0 = t1;
        o.wsumF[G](L.p, L.v, L.idx, ctx, 4 * hd, L.out, hd / (4 * (G === 2 ? 4 : G === 4 ? 2 : 8)), L.pStride, L.c + 80);
        out.set(o.f32.subarray(L.out >> 2, (L.out >> 2) + G * hd), kh * G * hd);
        t1 = performance.now(); t.wsum += t1 - t0; t0 = t1;
        ops.attend(q, kh * G * hd, G, ctx, scale, out, kh * G * hd);
        t.attend += performance.now() - t0;
        continue;
      }
      f64.set(q.subarray(kh * G * hd, (kh + 1) * G * hd), L.q >> 3);
      o.dots[G](L.q, L.k, L.idx, Math.ceil((ctx * G) / 8), 4 * hd, L.p, L.pStride);
      t1 = performance.now(); t.dots += t1 - t0; t0 = t1;
      for (let g = 0; g < G; g++) {
        const p0 = (L.p + g * L.pStride) >> 3;
        let max = -Infinity;
        for (let u = p0; u < p0 + ctx; u++) { const s = f(f(f64[u]) * scale); f64[u] = s; if (s > max) max = s; }
        let sum = 0;
        for (let u = p0; u < p0 + ctx; u++) { const ex = f(Math.exp(f(f64[u] - max))); f64[u] = ex; sum += ex; }
        const inv = f(1 / f(sum));
        for (let u = p0; u < p0 + ctx; u++) f64[u] = f(f64[u] * inv);
      }
      t1 = performance.now(); t.softmax += t1 - t0; t0 = t1;
      o.wsum[G](L.p, L.v, L.idx, ctx, 4 * hd, L.out, hd / (4 * (G === 2 ? 2 : G === 4 ? 1 : 4)), L.pStride);
      o.fn.demote(L.out, G * hd, L.out);
      out.set(o.f32.subarray(L.out >> 2, (L.out >> 2) + G * hd), kh * G * hd);
      t1 = performance.now(); t.wsum += t1 - t0; t0 = t1;
      ops.attendF64(q, kh * G * hd, G, ctx, scale, out, kh * G * hd);
      t.attend += performance.now() - t0;
    }
  }
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [`${k}_ms`, r4(v / reps)]));
}
for (const path of ['f64', 'f32'] as const) {
  for (const ctx of [16, 256, 1024]) line({ stage: 'kernels', ctx, path, per: 'one layer of one row (8 kv heads, 2 query heads each)', ...kernelSplit(ctx, ctx >= 1024 ? 30 : 150, path) });
}

// ---- A/B rounds, interleaved: before (f64) / now (f32) ----
const summary: Record<string, unknown> = { bench: 'attention', stage: 'summary', engine: `Node ${process.versions.node} WebAssembly SIMD128 (no relaxed SIMD), 1 thread, onnxruntime-free`, layers: LAYERS, steps: STEPS, rounds: ROUNDS };
for (const [ctx, rows] of CASES) {
  const side = { f64: { att: [] as number[], step: [] as number[] }, f32: { att: [] as number[], step: [] as number[] } };
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of (r % 2 ? ['f32', 'f64'] : ['f64', 'f32']) as ('f32' | 'f64')[]) {
      setAttentionPath(path);
      const p = run(ctx, rows, STEPS);
      side[path].att.push(p[PH('attention')] / LAYERS / rows);
      side[path].step.push(p[PH('step')]);
    }
  }
  setAttentionPath('f32');
  const a64 = median(side.f64.att), a32 = median(side.f32.att), s64 = median(side.f64.step), s32 = median(side.f32.step);
  const key = `ctx${ctx}_rows${rows}`;
  line({ stage: 'ab', ctx, rows, attention_ms_per_layer_row: { f64: r4(a64), f32: r4(a32) }, step_ms: { f64: r4(s64), f32: r4(s32) }, attention_ratio: r4(a64 / a32), step_ratio: r4(s64 / s32) });
  summary[`attention_f64_vs_f32_${key}`] = r4(a64 / a32);
  summary[`step_f64_vs_f32_${key}`] = r4(s64 / s32);
  summary[`attention_ms_f32_${key}`] = r4(a32);
}
console.log(JSON.stringify(summary));
