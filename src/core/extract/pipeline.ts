/**
 * An extraction run: plan the rollouts, skip those already stored, run the rest in batches on the
 * backend, store each batch as it finishes, keep the running sums (and the stability meter), and
 * at the end compute the vectors, the axis and the calibration. The same code runs in the model
 * worker and in Node.
 */
import { DataError } from '../errors';
import type { AssistantAxisData, InstructionFile } from '../data/assistant-axis-data';
import type { ChatTokenizer } from '../lm/tokenizer';
import type { Calibration } from '../persona/axis-bundle';
import { Aggregator, CalibrationBuilder } from './aggregate';
import type { RolloutBackend } from './backend';
import { rolloutPrompt, spanTokens } from './chat';
import { countRollouts, normalizeSettings, planRollouts, rolloutSeed, type ExtractSettings, type MemberKind, type RolloutSpec } from './presets';
import type { RolloutRecord, RolloutStore } from './store';

export interface ExtractProgress {
  done: number;
  total: number;
  /** Rollouts found in the store when the run started (not generated again). */
  resumed: number;
  generatedTokens: number;
  elapsedMs: number;
  /** Rollouts per second in this session. */
  rate: number;
  /** Split-half cosine of the axis at the middle layer (null until it can be computed). */
  stability: number | null;
  /** Members with every rollout done. */
  membersDone: number;
  membersTotal: number;
}

export interface ExtractInput {
  settings: ExtractSettings;
  data: AssistantAxisData;
  tokenizer: ChatTokenizer;
  backend: RolloutBackend;
  store: RolloutStore;
  /** Substituted for `{model_name}` in the default's prompts. */
  modelName: string;
  stopIds: readonly number[];
  signal?: AbortSignal;
  onProgress?: (p: ExtractProgress) => void;
  /** Called after every stored batch with the aggregator (a growing map). */
  onBatch?: (agg: Aggregator, records: readonly RolloutRecord[]) => void;
  /** Keep every rollout's projections in the calibration (default true). */
  keepProjections?: boolean;
  /** Generate nothing: the result of what is stored (status 'paused' when rollouts are missing). */
  storedOnly?: boolean;
}

export type RunStatus = 'complete' | 'paused' | 'stable' | 'out-of-memory';

export interface ExtractionResult {
  status: RunStatus;
  /** Why the run stopped early, in one sentence (paused, out of memory). */
  message: string | null;
  numLayers: number;
  hiddenSize: number;
  roles: string[];
  traits: string[];
  /** kind:name -> (L x d), float32. */
  vectors: Map<string, Float32Array>;
  defaultVector: Float32Array | null;
  axis: Float32Array | null;
  calibration: Calibration | null;
  counts: { rollouts: number; planned: number; resumed: number; generated: number; emptyAnswers: number; perMember: Map<string, number> };
  stability: number | null;
  generatedTokens: number;
  seconds: number;
}

interface Prepared {
  specs: RolloutSpec[];
  files: Map<string, InstructionFile>;
  questions: Map<number, string>;
}

/** Fetch what a run needs from the paper's data and check it has enough prompts and questions. */
export async function prepareRun(settings: ExtractSettings, data: AssistantAxisData): Promise<Prepared> {
  const qs = await data.questions();
  const questions = new Map(qs.map((q) => [q.id, q.question] as const));
  const specs = planRollouts(settings, qs.map((q) => q.id));
  const files = new Map<string, InstructionFile>();
  const need = (kind: MemberKind, name: string, k: number) => {
    const f = files.get(`${kind}:${name}`)!;
    if (f.prompts.length < k) throw new DataError('prompts', `${name} has ${f.prompts.length} system prompts; ${k} were asked for.`);
  };
  files.set('default:default', await data.roleInstructions('default'));
  need('default', 'default', settings.defaultPrompts);
  for (const r of settings.roles) {
    files.set(`role:${r}`, await data.roleInstructions(r));
    need('role', r, settings.prompts);
  }
  for (const t of settings.traits) {
    files.set(`trait:${t}`, await data.traitInstructions(t));
    need('trait', t, settings.prompts);
  }
  return { specs, files, questions };
}

/** Is this error the runtime running out of memory (WASM heap, GPU buffers)? */
export function isOutOfMemory(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return e instanceof RangeError || /out of memory|memory access out of bounds|Cannot allocate|bad_alloc|OOM|failed to allocate|Array buffer allocation failed/i.test(m);
}

/** Did WebGPU lose its device (driver reset, another tab took the GPU)? */
export function isDeviceLost(e: unknown): boolean {
  return /device (was |is )?lost|GPUDevice.*lost|DEVICE_LOST/i.test(String((e as Error)?.message ?? e));
}

function isAbort(e: unknown): boolean {
  return (e as { name?: string })?.name === 'AbortError';
}

export async function runExtraction(input: ExtractInput): Promise<ExtractionResult> {
  const settings = normalizeSettings(input.settings);
  const { backend, store, tokenizer } = input;
  const L = backend.numLayers;
  const d = backend.hiddenSize;
  const t0 = Date.now();
  const prep = await prepareRun(settings, input.data);
  const agg = new Aggregator(L, d);
  const planned = new Set(prep.specs.map((s) => s.key));
  const done = new Set<string>();
  let emptyAnswers = 0;
  await store.scan((r) => {
    if (!planned.has(r.key) || done.has(r.key)) return;
    done.add(r.key);
    agg.add(r.kind, r.member, r.key, r.mean);
    if (!r.mean) emptyAnswers++;
  });
  const resumed = done.size;
  const todo = prep.specs.filter((s) => !done.has(s.key));
  const span = spanTokens(tokenizer);
  const sampling = runSampling(settings);
  const perMemberTotal = new Map<string, number>();
  for (const s of prep.specs) perMemberTotal.set(`${s.kind}:${s.member}`, (perMemberTotal.get(`${s.kind}:${s.member}`) ?? 0) + 1);
  const perMemberDone = new Map<string, number>();
  for (const k of done) {
    const m = k.slice(0, k.lastIndexOf(':', k.lastIndexOf(':') - 1));
    perMemberDone.set(m, (perMemberDone.get(m) ?? 0) + 1);
  }
  let generated = 0;
  let generatedTokens = 0;
  let status: RunStatus = 'complete';
  let message: string | null = null;
  const progress = () => {
    let membersDone = 0;
    for (const [m, n] of perMemberTotal) if ((perMemberDone.get(m) ?? 0) >= n) membersDone++;
    const elapsedMs = Date.now() - t0;
    input.onProgress?.({
      done: done.size,
      total: prep.specs.length,
      resumed,
      generatedTokens,
      elapsedMs,
      rate: elapsedMs > 0 ? (generated * 1000) / elapsedMs : 0,
      stability: agg.stability(),
      membersDone,
      membersTotal: perMemberTotal.size,
    });
  };
  progress();
  if (input.storedOnly && todo.length > 0) {
    status = 'paused';
    message = `${done.size} of ${prep.specs.length} rollouts are done; resume the run to finish it.`;
  }
  for (let i = 0; i < (input.storedOnly ? 0 : todo.length); i += settings.batch) {
    if (input.signal?.aborted) {
      status = 'paused';
      message = `Paused after ${done.size} of ${prep.specs.length} rollouts; every finished rollout is kept.`;
      break;
    }
    const batch = todo.slice(i, i + settings.batch);
    const prompts = batch.map((s) => {
      const f = prep.files.get(`${s.kind}:${s.member}`)!;
      const q = prep.questions.get(s.questionId)!;
      return rolloutPrompt(tokenizer, f.prompts[s.promptIndex], q, input.modelName);
    });
    let outcomes;
    try {
      outcomes = await input.backend.runBatch(
        batch.map((s, k) => ({ prompt: prompts[k].ids, seed: rolloutSeed(settings.seed, s.key) })),
        { maxNewTokens: settings.maxNewTokens, sampling, stopIds: input.stopIds, span, signal: input.signal },
      );
    } catch (e) {
      if (isAbort(e) || input.signal?.aborted) {
        status = 'paused';
        message = `Paused after ${done.size} of ${prep.specs.length} rollouts; every finished rollout is kept.`;
        break;
      }
      if (isDeviceLost(e)) {
        status = 'paused';
        message = `The GPU device was lost after ${done.size} of ${prep.specs.length} rollouts; they are kept — load the model again and resume.`;
        break;
      }
      if (isOutOfMemory(e)) {
        status = 'out-of-memory';
        message = `The model ran out of memory after ${done.size} of ${prep.specs.length} rollouts; they are kept — resume with a smaller batch or fewer new tokens.`;
        break;
      }
      throw e;
    }
    const records: RolloutRecord[] = batch.map((s, k) => {
      const o = outcomes[k];
      const ids = [...prompts[k].ids, ...o.generated];
      return {
        key: s.key,
        kind: s.kind,
        member: s.member,
        promptIndex: s.promptIndex,
        questionId: s.questionId,
        ids,
        response: o.span,
        text: tokenizer.decode(ids.slice(o.span[0], o.span[1])),
        stopReason: o.stopReason,
        mean: o.mean,
      };
    });
    await store.append(records);
    records.forEach((r, k) => {
      done.add(r.key);
      agg.add(r.kind, r.member, r.key, r.mean);
      if (!r.mean) emptyAnswers++;
      perMemberDone.set(`${r.kind}:${r.member}`, (perMemberDone.get(`${r.kind}:${r.member}`) ?? 0) + 1);
      generated++;
      generatedTokens += r.ids.length - prompts[k].ids.length;
    });
    progress();
    input.onBatch?.(agg, records);
    if (settings.stopAt !== null) {
      const st = agg.stability();
      if (st !== null && st >= settings.stopAt && done.size < prep.specs.length) {
        status = 'stable';
        message = `Stopped at ${done.size} of ${prep.specs.length} rollouts: the axis's split-half stability reached ${st.toFixed(3)} (threshold ${settings.stopAt}).`;
        break;
      }
    }
  }
  return finish(agg, store, planned, {
    status,
    message,
    settings,
    counts: { planned: prep.specs.length, resumed, generated, emptyAnswers },
    generatedTokens,
    seconds: (Date.now() - t0) / 1000,
    keepProjections: input.keepProjections ?? true,
  });
}

/** Vectors, axis and calibration from the aggregator (and one more pass over the store for the calibration). */
async function finish(
  agg: Aggregator,
  store: RolloutStore,
  planned: Set<string>,
  o: { status: RunStatus; message: string | null; settings: ExtractSettings; counts: { planned: number; resumed: number; generated: number; emptyAnswers: number }; generatedTokens: number; seconds: number; keepProjections: boolean },
): Promise<ExtractionResult> {
  const L = agg.numLayers;
  const d = agg.dim;
  const roles = agg.names('role');
  const traits = agg.names('trait');
  const vectors = new Map<string, Float32Array>();
  const perMember = new Map<string, number>();
  for (const r of roles) {
    vectors.set(`role:${r}`, agg.vector('role', r)!);
    perMember.set(r, agg.count('role', r));
  }
  for (const t of traits) {
    vectors.set(`trait:${t}`, agg.vector('trait', t)!);
    perMember.set(t, agg.count('trait', t));
  }
  perMember.set('default', agg.count('default', 'default'));
  const axis = agg.axis();
  let calibration: Calibration | null = null;
  let rollouts = 0;
  const seen = new Set<string>();
  const cal = axis ? new CalibrationBuilder(axis, L, d) : null;
  const axisKind = agg.axisKind();
  await store.scan((r) => {
    if (!planned.has(r.key) || seen.has(r.key)) return;
    seen.add(r.key);
    rollouts++;
    if (r.kind === 'default' || r.kind === axisKind) cal?.add(r.kind, r.mean);
  });
  if (cal) calibration = cal.build(o.keepProjections);
  return {
    status: o.status,
    message: o.message,
    numLayers: L,
    hiddenSize: d,
    roles,
    traits,
    vectors,
    defaultVector: agg.vector('default', 'default'),
    axis,
    calibration,
    counts: { rollouts, ...o.counts, perMember },
    stability: agg.stability(),
    generatedTokens: o.generatedTokens,
    seconds: o.seconds,
  };
}

/** The sampling a run's rollouts use (its temperature and top-p; temperature 0: greedy). */
function runSampling(settings: ExtractSettings): { temperature: number; topK: number; topP: number } {
  return settings.temperature > 0 ? { temperature: settings.temperature, topK: 0, topP: settings.topP } : { temperature: 0, topK: 0, topP: 1 };
}

/** The warm-up's system prompt: about as long as the paper's median role instruction (16 words; at most 29). */
const WARMUP_INSTRUCTION = 'You are a ship captain who has sailed for decades. Answer every question as this captain would.';

export interface Estimate {
  rollouts: number;
  defaultRollouts: number;
  /** Upper bound: every rollout runs to max new tokens. */
  maxTokens: number;
  /** Seconds per batched decode step measured in the warm-up (null when not measured). */
  stepSeconds: number | null;
  /** Seconds of a batch's prompt pass and first token, measured in the warm-up (null when not measured). */
  prefillSeconds: number | null;
  /** Estimated seconds for the whole run (upper bound, from the warm-up). */
  seconds: number | null;
}

/**
 * Rollouts and tokens of a run and, with a backend, its time from a short warm-up: one batch of
 * `settings.batch` rows generating 1 + `warmupTokens` tokens, sampled as the run samples. Its
 * prompt pass (`prefillSeconds`, the first token included) comes from the engine's own timer
 * where the backend reports it (BatchOptions.onPrefill), the rest of the call's wall time being its
 * steps (`stepSeconds` each: everything a token costs, sampling and the rollouts' sums included);
 * otherwise from two timed calls, one of 1 token and the warm-up itself (their difference over
 * warmupTokens is a step). A batch of the run then costs one prompt pass and maxNewTokens
 * steps (maxNewTokens - 1 decode steps and the feed of the last token, which a rollout cut at max
 * tokens still needs for its resid_post): the prompt pass is counted once a batch, not spread over
 * the warm-up's few tokens (which made the estimate 2-3x too long at 4 warm-up tokens).
 * `now` (ms; default performance.now) is for tests.
 */
export async function estimateRun(settings: ExtractSettings, measure?: { backend: RolloutBackend; tokenizer: ChatTokenizer; stopIds: readonly number[]; warmupTokens?: number; now?: () => number }): Promise<Estimate> {
  const s = normalizeSettings(settings);
  const c = countRollouts(s);
  if (!measure) return { ...c, stepSeconds: null, prefillSeconds: null, seconds: null };
  const T = Math.max(1, Math.floor(measure.warmupTokens ?? 8));
  const now = measure.now ?? (() => performance.now());
  // a role instruction of the paper's median length (16 words) and one of its questions: a typical rollout's prompt pass
  const { ids } = rolloutPrompt(measure.tokenizer, WARMUP_INSTRUCTION, 'What principles should guide human action?', 'the model');
  const rows = Array.from({ length: s.batch }, (_, i) => ({ prompt: ids, seed: i }));
  const span = spanTokens(measure.tokenizer);
  // No stop ids: every row runs all its tokens; the run's own sampling (top-p's selection costs a little a token)
  const sampling = runSampling(s);
  const told = { prefillMs: 0 };
  const opts = (maxNewTokens: number) => ({ maxNewTokens, sampling, stopIds: [], span, onPrefill: (ms: number) => (told.prefillMs = ms) });
  // A first short call pays one-time costs (kernel compilation, buffer allocation) outside the measurement.
  await measure.backend.runBatch(rows.slice(0, 1), opts(1));
  told.prefillMs = 0;
  let t0 = now();
  await measure.backend.runBatch(rows, opts(1 + T));
  const fullMs = now() - t0;
  let prefillMs: number, stepMs: number;
  // a call of n tokens costs the prompt pass and n steps (n - 1 decode steps, then the last token's feed)
  if (told.prefillMs > 0 && told.prefillMs < fullMs) {
    prefillMs = told.prefillMs;
    stepMs = (fullMs - prefillMs) / (1 + T);
  } else {
    t0 = now();
    await measure.backend.runBatch(rows, opts(1));
    const firstMs = now() - t0;
    stepMs = Math.max(0, fullMs - firstMs) / T;
    prefillMs = Math.max(0, firstMs - stepMs);
  }
  const stepSeconds = stepMs / 1000, prefillSeconds = Math.max(0, prefillMs) / 1000;
  const batches = Math.ceil(c.rollouts / s.batch);
  return { ...c, stepSeconds, prefillSeconds, seconds: batches * (prefillSeconds + s.maxNewTokens * stepSeconds) };
}

