import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardConversation } from '../chat/conversation.testkit';
import { referenceForward } from '../lm/reference';
import { engineBackend, type RolloutBackend } from './backend';
import { HAVE_PAPER_DATA, localPaperData, tinyModel, type TinyModel } from './extract.testkit';
import { runExtraction, estimateRun, type ExtractionResult } from './pipeline';
import { normalizeSettings, type ExtractSettings } from './presets';
import { MemoryRolloutStore } from './store';
import { extractionPersonaSet } from './release';
import { pcaAtLayer } from '../persona/analysis';

const base = (over: Partial<ExtractSettings> = {}): ExtractSettings =>
  normalizeSettings({
    roles: ['pirate', 'ghost', 'tutor'],
    traits: [],
    prompts: 1,
    questions: 2,
    defaultPrompts: 2,
    defaultQuestions: 2,
    maxNewTokens: 5,
    batch: 3,
    seed: 7,
    temperature: 0.7,
    topP: 0.9,
    stopAt: null,
    preset: 'custom',
    ...over,
  });

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(!HAVE_PAPER_DATA)('extraction on a tiny synthetic model (needs ../shared/datasets/assistant-axis-data)', () => {
  let m: TinyModel;
  const data = localPaperData();
  beforeAll(async () => {
    m = await tinyModel();
  });
  afterAll(() => m?.engine.dispose());

  const rowsBackend = () => engineBackend(m.engine, { conversation: (n) => forwardConversation(m.engine, n) });
  const run = (s: ExtractSettings, backend: RolloutBackend, store = new MemoryRolloutStore(), extra: { signal?: AbortSignal; onBatch?: () => void } = {}) =>
    runExtraction({ settings: s, data, tokenizer: m.tokenizer, backend, store, modelName: 'Tiny', stopIds: m.stopIds, ...extra }).then((r) => ({ r, store }));

  it('each stored rollout mean and each role vector match an independent float64 teacher-forced forward (1e-4); the axis is default - mean(roles)', async () => {
    const { r, store } = await run(base(), rowsBackend());
    expect(r.status).toBe('complete');
    expect(store.records).toHaveLength(3 * 2 + 4);
    expect(r.counts.rollouts).toBe(10);
    const L = m.config.numLayers;
    const d = m.config.hiddenSize;
    const means = new Map<string, Float64Array[]>();
    for (const rec of store.records) {
      const [s, e] = rec.response;
      expect(e).toBeGreaterThan(s);
      // Content only: nothing of the prompt, no control token.
      expect(s).toBeGreaterThanOrEqual(rec.ids.length - 6);
      for (const id of rec.ids.slice(s, e)) expect(m.tokenizer.specialIds.has(id)).toBe(false);
      expect(rec.text).toBe(m.tokenizer.decode(rec.ids.slice(s, e)));
      const ref = referenceForward(m.config, m.checkpoint, rec.ids.slice(0, e));
      const mean = new Float64Array(L * d);
      for (let l = 0; l < L; l++) for (let p = s; p < e; p++) for (let j = 0; j < d; j++) mean[l * d + j] += ref.residPost[l][p * d + j] / (e - s);
      expect(maxDiff(rec.mean!, mean)).toBeLessThan(1e-4);
      const k = `${rec.kind}:${rec.member}`;
      means.set(k, [...(means.get(k) ?? []), mean]);
    }
    const avg = (xs: Float64Array[]) => xs[0].map((_, i) => xs.reduce((a, x) => a + x[i], 0) / xs.length);
    for (const role of ['pirate', 'ghost', 'tutor']) expect(maxDiff(r.vectors.get(`role:${role}`)!, avg(means.get(`role:${role}`)!))).toBeLessThan(1e-4);
    expect(maxDiff(r.defaultVector!, avg(means.get('default:default')!))).toBeLessThan(1e-4);
    // The axis, exactly: default - mean of the three role vectors, per element.
    const roles = r.roles.map((n) => r.vectors.get(`role:${n}`)!);
    const axis = r.defaultVector!.map((v, i) => v - roles.reduce((a, x) => a + x[i], 0) / roles.length);
    expect(Array.from(r.axis!)).toEqual(Array.from(axis));
    // Calibration: per layer, one projection per rollout, sorted percentiles.
    const cal = r.calibration!;
    expect(cal.basis).toBe('rollouts');
    expect(cal.role.count).toBe(6);
    expect(cal.default!.count).toBe(4);
    expect(cal.all.count).toBe(10);
    expect(cal.role.percentiles).toHaveLength(L);
    for (const row of cal.all.percentiles) for (let k = 1; k < row.length; k++) expect(row[k]).toBeGreaterThanOrEqual(row[k - 1]);
  });

  it('the result is a PersonaSet like any other: roles as members, the default apart, the axis stored; PCA runs on it', async () => {
    const { r } = await run(base({ traits: ['blunt'] }), rowsBackend());
    const set = extractionPersonaSet(r);
    expect([...set.names]).toEqual(['pirate', 'ghost', 'tutor', 'blunt']);
    expect([...set.kinds]).toEqual(['role', 'role', 'role', 'trait']);
    expect(set.layers).toBe(m.config.numLayers);
    expect(Array.from(set.defaultAt(1)!)).toEqual(Array.from(r.defaultVector!.subarray(m.config.hiddenSize, 2 * m.config.hiddenSize)));
    expect(set.storedAxis!.shape).toEqual([m.config.numLayers, m.config.hiddenSize]);
    // Traits do not enter the axis when there are roles.
    const roles = ['pirate', 'ghost', 'tutor'].map((n) => r.vectors.get(`role:${n}`)!);
    expect(r.axis![5]).toBe(Math.fround(r.defaultVector![5] - (roles[0][5] + roles[1][5] + roles[2][5]) / 3));
    const pca = pcaAtLayer(set, 2);
    expect(pca.explainedVarianceRatio[0]).toBeGreaterThan(0);
  });

  it('batched rows give the same vectors as one row at a time, greedy (1e-4); a seed reproduces a sampled run', async () => {
    const g = base({ temperature: 0, batch: 4 });
    const a = (await run(g, rowsBackend())).r;
    const b = (await run({ ...g, batch: 1 }, engineBackend(m.engine, { preferRows: false }))).r;
    for (const [k, v] of a.vectors) expect(maxDiff(v, b.vectors.get(k)!)).toBeLessThan(1e-4);
    expect(maxDiff(a.axis!, b.axis!)).toBeLessThan(1e-4);
    const s1 = (await run(base(), rowsBackend())).store.records.map((x) => x.ids);
    const s2 = (await run(base({ batch: 2 }), rowsBackend())).store.records.map((x) => x.ids);
    expect(s2).toEqual(s1);
  });

  it('on the engine’s own batched rows (KV cache, padding) the vectors equal one row at a time, greedy and sampled (1e-4)', async (ctx) => {
    const own = engineBackend(m.engine);
    if (!own.batched) ctx.skip(); // the engine has no rows (LmEngine.conversation) yet
    for (const temperature of [0, 0.7]) {
      const s = base({ temperature, batch: 5, roles: ['pirate', 'ghost', 'tutor', 'bard'] });
      const a = await run(s, own);
      const b = await run({ ...s, batch: 1 }, engineBackend(m.engine, { preferRows: false }));
      expect(a.store.records.map((x) => x.ids)).toEqual(b.store.records.map((x) => x.ids));
      for (const [k, v] of a.r.vectors) expect(maxDiff(v, b.r.vectors.get(k)!)).toBeLessThan(1e-4);
      expect(maxDiff(a.r.axis!, b.r.axis!)).toBeLessThan(1e-4);
    }
  });

  it('a run stopped midway and started again regenerates nothing finished and ends with the same vectors', async () => {
    const full = (await run(base(), rowsBackend())).r;
    const store = new MemoryRolloutStore();
    const ctl = new AbortController();
    const first = (await run(base(), rowsBackend(), store, { signal: ctl.signal, onBatch: () => ctl.abort() })).r;
    expect(first.status).toBe('paused');
    expect(first.message).toMatch(/kept/);
    const kept = store.records.length;
    expect(kept).toBe(3);
    const keys = store.records.map((x) => x.key);
    const second = (await run(base(), rowsBackend(), store)).r;
    expect(second.status).toBe('complete');
    expect(second.counts.resumed).toBe(kept);
    expect(second.counts.generated).toBe(10 - kept);
    expect(store.records.slice(0, kept).map((x) => x.key)).toEqual(keys);
    expect(new Set(store.records.map((x) => x.key)).size).toBe(10);
    for (const [k, v] of full.vectors) expect(Array.from(second.vectors.get(k)!)).toEqual(Array.from(v));
    expect(Array.from(second.axis!)).toEqual(Array.from(full.axis!));
  });

  it('running out of memory pauses the run with its rollouts kept', async () => {
    const inner = rowsBackend();
    let calls = 0;
    const flaky: RolloutBackend = { ...inner, runBatch: (rows, o) => (++calls === 2 ? Promise.reject(new RangeError('Array buffer allocation failed')) : inner.runBatch(rows, o)) };
    const { r, store } = await run(base(), flaky);
    expect(r.status).toBe('out-of-memory');
    expect(r.message).toMatch(/ran out of memory after 3 of 10 rollouts; they are kept/);
    expect(store.records).toHaveLength(3);
  });

  it('a lost GPU device pauses the run with its rollouts kept', async () => {
    const inner = rowsBackend();
    let calls = 0;
    const flaky: RolloutBackend = { ...inner, runBatch: (rows, o) => (++calls === 3 ? Promise.reject(new Error('WebGPU: device was lost (reason: unknown)')) : inner.runBatch(rows, o)) };
    const { r, store } = await run(base(), flaky);
    expect(r.status).toBe('paused');
    expect(r.message).toMatch(/GPU device was lost after 6 of 10 rollouts; they are kept/);
    expect(store.records).toHaveLength(6);
  });

  it('stops early once the split-half stability reaches the threshold, and reports it as it goes', async () => {
    const seen: (number | null)[] = [];
    const res: ExtractionResult = await runExtraction({
      settings: base({ roles: ['pirate', 'ghost', 'tutor', 'bard'], stopAt: 0.01, defaultQuestions: 3, questions: 3, batch: 4 }),
      data, tokenizer: m.tokenizer, backend: rowsBackend(), store: new MemoryRolloutStore(), modelName: 'Tiny', stopIds: m.stopIds,
      onProgress: (p) => seen.push(p.stability),
    });
    expect(seen.some((s) => s !== null)).toBe(true);
    expect(res.status).toBe('stable');
    expect(res.counts.rollouts).toBeLessThan(6 + 12);
    expect(res.stability!).toBeGreaterThanOrEqual(0.01);
  });

  it('unknown roles and traits are refused with one sentence before anything runs', async () => {
    await expect(run({ ...base(), roles: ['wizardly'] }, rowsBackend())).rejects.toThrow('"wizardly" is not one of the paper\'s 275 roles.');
    await expect(run({ ...base(), traits: ['grumpyish'] }, rowsBackend())).rejects.toThrow(/"grumpyish" is not one of the paper's 240 traits/);
  });

  it('estimates rollouts, tokens and time from a short warm-up', async () => {
    const e = await estimateRun(base({ batch: 2 }), { backend: rowsBackend(), tokenizer: m.tokenizer, stopIds: m.stopIds, warmupTokens: 2 });
    expect(e.rollouts).toBe(10);
    expect(e.defaultRollouts).toBe(4);
    expect(e.maxTokens).toBe(50);
    expect(e.prefillSeconds!).toBeGreaterThan(0);
    expect(e.stepSeconds!).toBeGreaterThan(0); // the engine reports its prompt pass (runRows); the rest of the call is its steps
    expect(e.seconds!).toBeCloseTo(5 * (e.prefillSeconds! + 5 * e.stepSeconds!), 6);
  });

  it("the estimate counts a batch's prompt pass once and its decode steps by the token: a backend costing P a call and S a token after the first", async () => {
    let clock = 0;
    const P = 900, S = 40; // ms
    const inner = rowsBackend();
    const calls: number[] = [];
    const timed: RolloutBackend = {
      ...inner,
      runBatch: async (rows, o) => {
        // (the inner engine's own timers are not passed on: this backend reports none)
        const out = await inner.runBatch(rows, { ...o, onPrefill: undefined });
        calls.push(o.maxNewTokens);
        clock += P + o.maxNewTokens * S; // the prompt pass, then a step a token (the last token's feed included)
        return out;
      },
    };
    const settings = base({ batch: 2, maxNewTokens: 64 });
    const e = await estimateRun(settings, { backend: timed, tokenizer: m.tokenizer, stopIds: m.stopIds, warmupTokens: 4, now: () => clock });
    // a backend that does not report its timing: the warm-up call, 1 + 4 tokens, then the prompt pass alone
    expect(calls).toEqual([1, 5, 1]);
    expect(e.prefillSeconds).toBeCloseTo(P / 1000, 12);
    expect(e.stepSeconds).toBeCloseTo(S / 1000, 12);
    // 10 rollouts in batches of 2: 5 x (P + 64 S) (63 decode steps and the last token's feed)
    expect(e.rollouts).toBe(10);
    expect(e.seconds!).toBeCloseTo((5 * (P + 64 * S)) / 1000, 9);
    // one that reports the engine's own prompt-pass timer: one measured call, the rest of its wall time its steps
    calls.length = 0;
    const reporting: RolloutBackend = {
      ...timed,
      runBatch: async (rows, o) => {
        const out = await timed.runBatch(rows, o);
        o.onPrefill?.(P);
        return out;
      },
    };
    const e2 = await estimateRun(settings, { backend: reporting, tokenizer: m.tokenizer, stopIds: m.stopIds, warmupTokens: 4, now: () => clock });
    expect(calls).toEqual([1, 5]);
    expect(e2.prefillSeconds).toBeCloseTo(P / 1000, 12);
    expect(e2.stepSeconds).toBeCloseTo(S / 1000, 12);
    expect(e2.seconds!).toBeCloseTo((5 * (P + 64 * S)) / 1000, 9);
  });
});
