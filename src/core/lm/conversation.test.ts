import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { buildDecoder, type ExportStyle } from './builder';
import { instrumentDecoder } from '../onnx/instrument';
import { randomCheckpoint } from './checkpoint';
import { parseConfig, tinyConfigJson, type DecoderConfig } from './config';
import { BatchConversation, checkFinite, GenerationError, setLogitsScan, type StepOutput } from './conversation';
import { LmEngine, unitRows } from './generate';
import { buildInterventions, noInterventions } from './interventions';
import { createSession, INPUT_IDS, type DecoderSessionLike, type Ort } from './ort';
import type { PositionEvent, RowParams } from './rows';
import { Pcg32 } from './sampling';

async function makeEngine(style: ExportStyle, ort: Ort = ortNode as unknown as Ort, overrides: Record<string, unknown> = {}) {
  const raw = tinyConfigJson('qwen3', { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 512, max_position_embeddings: 96, ...overrides });
  const cfg = parseConfig(raw);
  const built = buildDecoder(randomCheckpoint(cfg, { seed: 3 }), { style, dtype: 'fp32' });
  const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
  const session = await createSession(ort, inst, { graphOptimizationLevel: 'disabled' });
  // Every forward pass's input_ids shape [batch, tokens], to see which rows ran.
  const calls: number[][] = [];
  const spy: DecoderSessionLike = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds) => {
      calls.push([...feeds[INPUT_IDS].dims]);
      return session.run(feeds as Parameters<typeof session.run>[0]) as ReturnType<DecoderSessionLike['run']>;
    },
    release: () => session.release(),
  };
  return { engine: new LmEngine(ort, spy, cfg, { style }), cfg, calls };
}

function randomUnitRows(cfg: DecoderConfig, seed: number): Float32Array {
  const r = new Pcg32(seed);
  const v = new Float32Array(cfg.numLayers * cfg.hiddenSize).map(() => r.float() - 0.5);
  return unitRows(v, cfg.numLayers, cfg.hiddenSize);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i] - b[i]);
    if (!(x <= m)) m = x;
  }
  return m;
}

/** Three rows with different interventions: off, steered, steered + capped. */
function rowParams(cfg: DecoderConfig): RowParams[] {
  const dims = { numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize };
  const steer = buildInterventions(dims, { steer: [{ vector: randomUnitRows(cfg, 1), layers: [0, 2], alpha: 2 }] });
  const both = buildInterventions(dims, {
    steer: [{ vector: randomUnitRows(cfg, 2), layers: [1], alpha: -1.5 }],
    cap: [{ vector: randomUnitRows(cfg, 3), layers: [1, 2], tau: 0.4 }],
  });
  return [{}, { ...steer }, { ...both, sampling: { temperature: 0.8, topK: 40, topP: 0.95 } }];
}

interface Recorded { ids: number[][]; logits: Float32Array[][]; positions: PositionEvent[][] }

async function runRecorded(conv: BatchConversation, params: RowParams[], axis: Float32Array, maxNewTokens: number, extra: { seeds?: number[]; stopIds?: number[][]; generate?: boolean[] } = {}): Promise<Recorded> {
  const B = conv.rows;
  const rec: Recorded = { ids: [], logits: Array.from({ length: B }, () => []), positions: Array.from({ length: B }, () => []) };
  const res = await conv.drive({
    maxNewTokens, params, axis, keepResid: true, ...extra,
    onLogits: (r, l) => rec.logits[r].push(l.slice()),
    onPosition: (e) => rec.positions[e.row].push({ ...e, resid: e.resid!.slice() }),
  });
  rec.ids = res.rows.map((r) => r.ids);
  return rec;
}

const PROMPTS = [[5, 77, 300, 12, 9], [41, 2], [7, 8, 9, 10, 11, 12, 13, 14]];

for (const style of ['optimum', 'genai'] as const) {
  describe(`Conversation, ${style} export`, () => {
    it('each row of a padded batch equals the same row run alone (1e-4), with its own steering, capping, seed and stop', async () => {
      const { engine, cfg } = await makeEngine(style);
      const params = rowParams(cfg);
      const axis = randomUnitRows(cfg, 9);
      const batch = engine.conversation(3) as BatchConversation;
      PROMPTS.forEach((p, r) => batch.setTokens(r, p));
      const seeds = [1, 2, 3];
      const b = await runRecorded(batch, params, axis, 6, { seeds });
      // Turn 2: rows grow by different amounts (more padding), still batched.
      const more = [[20, 21, 22], [30], [40, 41, 42, 43, 44]];
      more.forEach((m, r) => batch.setTokens(r, [...batch.tokens(r), ...m]));
      const b2 = await runRecorded(batch, params, axis, 4, { seeds });
      for (let r = 0; r < 3; r++) {
        const alone = engine.conversation(1) as BatchConversation;
        alone.setTokens(0, PROMPTS[r]);
        const a = await runRecorded(alone, [params[r]], axis, 6, { seeds: [seeds[r]] });
        alone.setTokens(0, [...alone.tokens(0), ...more[r]]);
        const a2 = await runRecorded(alone, [params[r]], axis, 4, { seeds: [seeds[r]] });
        expect(b.ids[r]).toEqual(a.ids[0]);
        expect(b2.ids[r]).toEqual(a2.ids[0]);
        for (const [x, y] of [[b, a], [b2, a2]] as const) {
          expect(x.logits[r]).toHaveLength(y.logits[0].length);
          x.logits[r].forEach((l, k) => expect(maxAbsDiff(l, y.logits[0][k])).toBeLessThan(1e-4));
          expect(x.positions[r].map((p) => [p.position, p.id, p.clamped])).toEqual(y.positions[0].map((p) => [p.position, p.id, p.clamped]));
          x.positions[r].forEach((p, k) => {
            expect(maxAbsDiff(p.projections!, y.positions[0][k].projections!)).toBeLessThan(1e-4);
            expect(maxAbsDiff(p.resid!, y.positions[0][k].resid!)).toBeLessThan(1e-4);
          });
        }
        // every position of the row was reported once, in order
        expect([...b.positions[r], ...b2.positions[r]].map((p) => p.position)).toEqual(Array.from({ length: batch.cachedLength(r) }, (_, i) => i));
        alone.dispose();
      }
      // the rows really differ (their own interventions and seeds act)
      expect(b.ids[0]).not.toEqual(b.ids[1]);
      // capping reports clamped layers on the capped row only
      expect(b.positions[2].some((p) => p.clamped > 0)).toBe(true);
      expect(b.positions[0].every((p) => p.clamped === 0)).toBe(true);

      // Rows stop independently: row 1 stops at its own stop id, the others continue.
      const c = engine.conversation(3) as BatchConversation;
      PROMPTS.forEach((p, r) => c.setTokens(r, p));
      const stopAt = b.ids[1][2];
      const res = await c.run({ maxNewTokens: 6, params, seeds, stopIds: [[], [stopAt], []] });
      expect(res.rows[1].stopReason).toBe('eos');
      expect(res.rows[1].ids).toEqual(b.ids[1].slice(0, b.ids[1].indexOf(stopAt) + 1));
      expect(res.rows[0].ids).toEqual(b.ids[0]);
      expect(res.rows[2].ids).toEqual(b.ids[2]);
      // A row that does not generate is only prefilled.
      const d = engine.conversation(2);
      d.setTokens(0, PROMPTS[0]);
      d.setTokens(1, PROMPTS[2]);
      const rd = await d.run({ maxNewTokens: 3, params: [params[0], params[2]], generate: [true, false], seeds: [1, 3] });
      expect(rd.rows[1]).toMatchObject({ ids: [], stopReason: 'prefill-only' });
      expect(d.cachedLength(1)).toBe(PROMPTS[2].length);
      expect(rd.rows[0].ids).toEqual(b.ids[0].slice(0, 3));
      await engine.dispose();
    });

    it('the kept cache gives the logits of a full recompute over several turns (steering and capping on), and undo/edit truncation equals a recompute', async () => {
      const { engine, cfg } = await makeEngine(style);
      const params = rowParams(cfg);
      const axis = randomUnitRows(cfg, 4);
      const conv = engine.conversation(3) as BatchConversation;
      PROMPTS.forEach((p, r) => conv.setTokens(r, p));
      const V = cfg.vocabSize;
      const checkAgainstForward = async (rec: Recorded, before: number[][]) => {
        for (let r = 0; r < 3; r++) {
          for (let k = 0; k < rec.ids[r].length; k++) {
            const seq = [...before[r], ...rec.ids[r].slice(0, k)];
            const full = await engine.forward(seq, params[r]);
            expect(maxAbsDiff(rec.logits[r][k], full.logits.subarray((seq.length - 1) * V))).toBeLessThan(1e-4);
          }
        }
      };
      for (let turn = 0; turn < 3; turn++) {
        const before = [0, 1, 2].map((r) => conv.tokens(r).slice());
        const rec = await runRecorded(conv, params, axis, 4, { seeds: [turn, turn + 1, turn + 2] });
        await checkAgainstForward(rec, before);
        // the next user turn: only the new tokens are fed
        [0, 1, 2].forEach((r) => conv.setTokens(r, [...conv.tokens(r), 100 + turn, 200 + r]));
        expect([0, 1, 2].map((r) => conv.tokens(r).length - conv.cachedLength(r))).toEqual([3, 3, 3]);
      }
      // Undo: back to a shorter sequence; edit: a different continuation.
      conv.setTokens(0, conv.tokens(0).slice(0, 7));
      conv.setTokens(1, [...conv.tokens(1).slice(0, 4), 333, 334]);
      expect(conv.cachedLength(0)).toBeLessThanOrEqual(7);
      expect(conv.cachedLength(1)).toBe(4);
      const seqs = [0, 1, 2].map((r) => conv.tokens(r).slice());
      const edited = await runRecorded(conv, params, axis, 4, { seeds: [7, 8, 9] });
      await checkAgainstForward(edited, seqs);
      const fresh = engine.conversation(3) as BatchConversation;
      seqs.forEach((s, r) => fresh.setTokens(r, s));
      const ref = await runRecorded(fresh, params, axis, 4, { seeds: [7, 8, 9] });
      expect(edited.ids).toEqual(ref.ids);

      // Changing steering mid-conversation keeps the old cache; recompute() rebuilds it.
      const changed = [params[1], params[2], params[0]];
      const tokens = [0, 1, 2].map((r) => conv.tokens(r).slice());
      const kept = await runRecorded(conv, changed, axis, 3, { seeds: [1, 1, 1] });
      [0, 1, 2].forEach((r) => conv.setTokens(r, tokens[r]));
      await conv.recompute(changed);
      expect([0, 1, 2].map((r) => conv.cachedLength(r))).toEqual(tokens.map((t) => t.length - 1));
      const rebuilt = await runRecorded(conv, changed, axis, 3, { seeds: [1, 1, 1] });
      const fresh2 = engine.conversation(3) as BatchConversation;
      tokens.forEach((s, r) => fresh2.setTokens(r, s));
      const ref2 = await runRecorded(fresh2, changed, axis, 3, { seeds: [1, 1, 1] });
      for (let r = 0; r < 3; r++) rebuilt.logits[r].forEach((l, k) => expect(maxAbsDiff(l, ref2.logits[r][k])).toBeLessThan(1e-4));
      expect(kept.logits.some((rows, r) => maxAbsDiff(rows[0], ref2.logits[r][0]) > 1e-3)).toBe(true);
      await engine.dispose();
    });

    it('a finished row leaves the batch: the others run at the smaller batch and give what they give without it (1e-4); it rejoins for the next turn with its cache intact', async () => {
      const { engine, cfg, calls } = await makeEngine(style);
      const params = rowParams(cfg);
      const axis = randomUnitRows(cfg, 11);
      const seeds = [1, 2, 3];
      const V = cfg.vocabSize;
      const probe = engine.conversation(3) as BatchConversation;
      PROMPTS.forEach((p, r) => probe.setTokens(r, p));
      const first = await runRecorded(probe, params, axis, 6, { seeds });
      // row 2 samples (its own seed), so its tokens vary: it stops at the first token it had not given before
      const k = first.ids[2].findIndex((id, i) => i > 0 && first.ids[2].indexOf(id) === i);
      expect(k).toBeGreaterThan(0);
      const stopAt = first.ids[2][k];

      const conv = engine.conversation(3) as BatchConversation;
      PROMPTS.forEach((p, r) => conv.setTokens(r, p));
      calls.length = 0;
      const rec = await runRecorded(conv, params, axis, 6, { seeds, stopIds: [[], [], [stopAt]] });
      expect(rec.ids[2]).toEqual(first.ids[2].slice(0, k + 1));
      // one prefill pass, k decode passes with all three rows, then the two others alone
      expect(calls.map((c) => c[0])).toEqual([3, ...new Array(k).fill(3), ...new Array(5 - k).fill(2)]);

      // the two remaining rows, run without the finished one from the start
      const two = engine.conversation(2) as BatchConversation;
      two.setTokens(0, PROMPTS[0]);
      two.setTokens(1, PROMPTS[1]);
      const ref = await runRecorded(two, [params[0], params[1]], axis, 6, { seeds: [1, 2] });
      for (const r of [0, 1]) {
        expect(rec.ids[r]).toEqual(ref.ids[r]);
        rec.logits[r].forEach((l, i) => expect(maxAbsDiff(l, ref.logits[r][i])).toBeLessThan(1e-4));
        expect(rec.positions[r]).toHaveLength(ref.positions[r].length);
        rec.positions[r].forEach((p, i) => {
          expect(maxAbsDiff(p.projections!, ref.positions[r][i].projections!)).toBeLessThan(1e-4);
          expect(maxAbsDiff(p.resid!, ref.positions[r][i].resid!)).toBeLessThan(1e-4);
        });
      }
      // the finished row's output is what it gives alone
      const alone = engine.conversation(1) as BatchConversation;
      alone.setTokens(0, PROMPTS[2]);
      const one = await runRecorded(alone, [params[2]], axis, 6, { seeds: [3], stopIds: [[stopAt]] });
      expect(rec.ids[2]).toEqual(one.ids[0]);
      rec.logits[2].forEach((l, i) => expect(maxAbsDiff(l, one.logits[0][i])).toBeLessThan(1e-4));

      // Next turn: the parked row rejoins; every row's logits equal a full recompute (1e-4).
      const before = [0, 1, 2].map((r) => [...conv.tokens(r), 60 + r, 61, 62, 63, 64]);
      before.forEach((t, r) => conv.setTokens(r, t));
      expect([0, 1, 2].map((r) => conv.tokens(r).length - conv.cachedLength(r))).toEqual([6, 6, 6]);
      calls.length = 0;
      const next = await runRecorded(conv, params, axis, 3, { seeds: [4, 5, 6] });
      // genai: the turn goes in one multi-token pass per row at batch 1 (not six one-token passes at batch 3)
      expect(calls.slice(0, style === 'genai' ? 3 : 1)).toEqual(style === 'genai' ? [[1, 6], [1, 6], [1, 6]] : [[3, 6]]);
      expect(calls.slice(style === 'genai' ? 3 : 1).every((c) => c[0] === 3 && c[1] === 1)).toBe(true);
      for (let r = 0; r < 3; r++) {
        for (let i = 0; i < next.ids[r].length; i++) {
          const seq = [...before[r], ...next.ids[r].slice(0, i)];
          const full = await engine.forward(seq, params[r]);
          expect(maxAbsDiff(next.logits[r][i], full.logits.subarray((seq.length - 1) * V))).toBeLessThan(1e-4);
        }
      }
      await engine.dispose();
    });

    it('non-finite values and too-long sequences give typed errors, and the engine and the conversation stay usable', async () => {
      const { engine, cfg } = await makeEngine(style);
      const dims = { numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize };
      const huge = buildInterventions(dims, { steer: [{ vector: randomUnitRows(cfg, 5), layers: [1], alpha: 1e308 }] });
      const conv = engine.conversation(2);
      conv.setTokens(0, PROMPTS[0]);
      conv.setTokens(1, PROMPTS[1]);
      const ok = await conv.run({ maxNewTokens: 3, params: [{}, {}] });
      conv.setTokens(0, PROMPTS[0]);
      conv.setTokens(1, PROMPTS[1]);
      const err = await conv.run({ maxNewTokens: 3, params: [{}, huge] }).catch((e) => e);
      expect(err).toBeInstanceOf(GenerationError);
      expect(err.code).toBe('non-finite');
      await expect(engine.generate(PROMPTS[0], { maxNewTokens: 2, params: huge })).rejects.toMatchObject({ code: 'non-finite' });
      await expect(engine.forward(PROMPTS[0], huge)).rejects.toMatchObject({ code: 'non-finite' });
      // the failed step was not kept: the same run without the bad setting gives the first answer
      const again = await conv.run({ maxNewTokens: 3, params: [{}, {}] });
      expect(again.rows.map((r) => r.ids)).toEqual(ok.rows.map((r) => r.ids));

      const tooLong = Array.from({ length: cfg.maxPositionEmbeddings + 1 }, (_, i) => i % 500);
      expect(() => conv.setTokens(0, tooLong)).toThrow(GenerationError);
      await expect(engine.generate(tooLong, { maxNewTokens: 1 })).rejects.toMatchObject({ code: 'too-long' });
      await expect(engine.forward(tooLong)).rejects.toMatchObject({ code: 'too-long' });
      // a row reaching the limit while generating stops there
      const edge = engine.conversation(1);
      edge.setTokens(0, tooLong.slice(0, cfg.maxPositionEmbeddings - 2));
      const re = await edge.run({ maxNewTokens: 10, params: [{}] });
      expect(re.rows[0]).toMatchObject({ stopReason: 'max-tokens' });
      expect(edge.tokens(0)).toHaveLength(cfg.maxPositionEmbeddings);
      // and everything still works
      expect((await engine.generate(PROMPTS[0], { maxNewTokens: 3 })).ids).toEqual(ok.rows[0].ids);
      await engine.dispose();
    });
  });
}

describe('Conversation on onnxruntime-web (WASM, in Node)', () => {
  it('a batched conversation gives the tokens, logits and projections of onnxruntime-node (rows leaving and rejoining the batch)', async () => {
    ortWeb.env.wasm.numThreads = 1;
    for (const style of ['optimum', 'genai'] as const) {
      const web = await makeEngine(style, ortWeb as unknown as Ort);
      const node = await makeEngine(style);
      const params = rowParams(node.cfg);
      const axis = randomUnitRows(node.cfg, 6);
      const recs: Recorded[] = [];
      for (const { engine } of [web, node]) {
        const conv = engine.conversation(3) as BatchConversation;
        PROMPTS.forEach((p, r) => conv.setTokens(r, p));
        // row 2 only prefills (it leaves the batch for the decode steps), then rejoins; the next turn
        // is long enough for a genai batch to feed it row by row at batch 1
        const r1 = await runRecorded(conv, params, axis, 4, { seeds: [1, 2, 3], generate: [true, true, false] });
        [0, 1, 2].forEach((r) => conv.setTokens(r, [...conv.tokens(r), 50 + r, 51, 52, 53, 54]));
        const r2 = await runRecorded(conv, params, axis, 3, { seeds: [1, 2, 3] });
        recs.push({ ids: [...r1.ids, ...r2.ids], logits: [...r1.logits, ...r2.logits], positions: [...r1.positions, ...r2.positions] });
      }
      // the WASM runs did slice: decode steps at batch 2, and (genai) the long turn row by row
      expect(web.calls.some((c) => c[0] === 2)).toBe(true);
      if (style === 'genai') expect(web.calls).toContainEqual([1, 5]);
      const [a, b] = recs;
      expect(a.ids).toEqual(b.ids);
      a.logits.forEach((rows, r) => rows.forEach((l, k) => expect(maxAbsDiff(l, b.logits[r][k])).toBeLessThan(1e-4)));
      a.positions.forEach((rows, r) => rows.forEach((p, k) => expect(maxAbsDiff(p.projections!, b.positions[r][k].projections!)).toBeLessThan(1e-4)));
      await web.engine.dispose();
      await node.engine.dispose();
    }
  });
});

describe('checkFinite (a step\'s residual and logits check)', () => {
  it('names the first non-finite layer and row with the SIMD pass as with the JavaScript one, padding and rows outside the batch ignored', () => {
    const shape = { numLayers: 3, numKvHeads: 1, headDim: 4, hiddenSize: 20, vocabSize: 70 };
    const { numLayers: L, hiddenSize: d, vocabSize: V } = shape;
    const rng = new Pcg32(2);
    const step = (B: number, S: number, index: number[]): StepOutput => ({
      outputs: {}, S, batch: B, index: Int32Array.from(index),
      logits: Float32Array.from({ length: B * S * V }, () => rng.float()), logitsAt: null,
      tap: { data: Float32Array.from({ length: L * B * S * d }, () => rng.float() - 0.5), dims: [L, B, S, d] },
      lift: null,
    });
    const outcome = (o: StepOutput, counts: number[], rows: (number | null)[]) => {
      const greedy = new Int32Array(counts.length).fill(-1);
      try {
        checkFinite(o, counts, rows, shape, greedy);
        return { greedy: Array.from(greedy) };
      } catch (e) {
        return { error: (e as GenerationError).code, details: (e as GenerationError).details, message: (e as Error).message };
      }
    };
    const cases: [StepOutput, number[], (number | null)[], string][] = [];
    // decode steps of 3 rows (every position real), one row not in the batch, and a padded prefill
    for (const [at, what] of [[-1, 'none'], [0, 'first'], [L * 3 * d - 1, 'last'], [d + 5, 'layer 0 row 1'], [2 * 3 * d + 2 * d, 'layer 2 row 2']] as const) {
      for (const v of [NaN, Infinity, -Infinity]) {
        const o = step(3, 1, [0, 1, 2]);
        if (at >= 0) o.tap!.data[at] = v;
        cases.push([o, [1, 1, 1], [0, 0, 0], `decode ${what} ${v}`]);
        const p = step(2, 1, [0, -1, 1]);
        if (at >= 0 && at < p.tap!.data.length) p.tap!.data[at] = v;
        cases.push([p, [1, 0, 1], [0, null, 0], `row out ${what} ${v}`]);
        const q = step(2, 3, [0, 1]);
        if (at >= 0 && at < q.tap!.data.length) q.tap!.data[at] = v;
        cases.push([q, [3, 1], [2, 0], `padded ${what} ${v}`]);
      }
    }
    const badLogits = step(3, 1, [0, 1, 2]);
    badLogits.logits[2 * V + 9] = NaN;
    cases.push([badLogits, [1, 1, 1], [0, 0, 0], 'logits']);
    try {
      for (const [o, counts, rows, what] of cases) {
        setLogitsScan('js');
        const js = outcome(o, counts, rows);
        setLogitsScan('wasm');
        expect(outcome(o, counts, rows), what).toEqual(js);
      }
    } finally {
      setLogitsScan('wasm');
    }
    // the cases include both outcomes
    expect(cases.filter(([o, c, r]) => 'error' in outcome(o, c, r)).length).toBeGreaterThan(10);
    expect(outcome(cases[0][0], [1, 1, 1], [0, 0, 0])).toHaveProperty('greedy');
  });
});

describe('Conversation API checks', () => {
  it('refuses bad rows and params with readable errors', async () => {
    const { engine } = await makeEngine('optimum');
    expect(() => engine.conversation(0)).toThrow(/1 to 256 rows/);
    const conv = engine.conversation(2);
    expect(() => conv.setTokens(2, [1])).toThrow(/Row 2 does not exist/);
    expect(() => conv.setTokens(0, [512])).toThrow(/outside the model's vocabulary/);
    conv.setTokens(0, [1, 2]);
    await expect(conv.run({ maxNewTokens: 2, params: [{}] })).rejects.toThrow(/one params object per row/);
    await expect(conv.run({ maxNewTokens: 2, params: [{}, {}] })).rejects.toThrow(/Row 1 has no tokens/);
    const r = await conv.run({ maxNewTokens: 2, params: [noInterventions({ numLayers: 3, hiddenSize: 32 }), {}], generate: [true, false] });
    expect(r.rows[0].ids).toHaveLength(2);
    conv.dispose();
    expect(() => conv.tokens(0)).toThrow(/closed/);
    await engine.dispose();
  });
});
