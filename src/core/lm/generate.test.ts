import { beforeAll, describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { buildDecoder } from './builder';
import { instrumentDecoder } from '../onnx/instrument';
import { randomCheckpoint } from './checkpoint';
import { parseConfig, tinyConfigJson, type DecoderConfig } from './config';
import { LmEngine, projectPosition, projectSequence, unitRows, type TokenEvent } from './generate';
import { buildInterventions, noInterventions } from './interventions';
import { createSession, type Ort } from './ort';
import { argmax, Pcg32, sampleToken, type SamplingParams } from './sampling';

const ort = ortNode as unknown as Ort;

async function makeEngine(style: 'optimum' | 'genai', overrides: Record<string, unknown> = {}, seed = 3) {
  const raw = tinyConfigJson('qwen3', { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 512, ...overrides });
  const cfg = parseConfig(raw);
  const built = buildDecoder(randomCheckpoint(cfg, { seed }), { style, dtype: 'fp32' });
  const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
  const session = await createSession(ort, inst, { graphOptimizationLevel: 'disabled' });
  return { engine: new LmEngine(ortNode, session, cfg), cfg };
}

function randomUnitRows(cfg: DecoderConfig, seed: number): Float32Array {
  const r = new Pcg32(seed);
  const v = new Float32Array(cfg.numLayers * cfg.hiddenSize).map(() => r.float() - 0.5);
  return unitRows(v, cfg.numLayers, cfg.hiddenSize);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('LmEngine on an instrumented decoder (onnxruntime-node)', () => {
  let engine: LmEngine;
  let cfg: DecoderConfig;
  const prompt = [5, 77, 300, 12, 9, 410];
  beforeAll(async () => {
    ({ engine, cfg } = await makeEngine('optimum'));
  });

  it('each token is argmax (greedy) or sampleToken of the logits that chose it, with sampling switched on mid-run', async () => {
    const params: { sampling?: SamplingParams } = {};
    const hot: SamplingParams = { temperature: 0.8, topK: 0, topP: 0.9 };
    const res = await engine.generate(prompt, {
      maxNewTokens: 8, seed: 11, params, recordLogits: true,
      onToken: (e) => {
        if (e.index === 2) params.sampling = hot;
      },
    });
    expect(res.ids).toHaveLength(8);
    const rng = new Pcg32(11);
    res.ids.forEach((id, k) => expect(id).toBe(k <= 2 ? argmax(res.logits![k]) : sampleToken(res.logits![k], hot, rng)));
  });

  it('recognises the instrumented graph and its inputs', () => {
    expect(engine.instrumented).toBe(true);
    expect(engine.hasPositionIds).toBe(true);
    expect(engine.kvType).toBe('float32');
  });

  it('with steering and capping on, cached generation gives the logits and taps of recomputing without cache (1e-4)', async () => {
    const dims = { numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize };
    const axis = randomUnitRows(cfg, 1);
    const iv = buildInterventions(dims, {
      steer: [{ vector: axis, layers: [0, 2], alpha: 1.5 }],
      cap: [{ vector: randomUnitRows(cfg, 2), layers: [1], tau: 0.3 }],
    });
    const params = { ...iv, axis, sampling: { temperature: 0.9, topK: 50, topP: 0.95 } };
    const res = await engine.generate(prompt, { maxNewTokens: 8, seed: 4, params, recordLogits: true });
    expect(res.ids).toHaveLength(8);
    for (let k = 0; k < res.ids.length; k++) {
      const seq = [...prompt, ...res.ids.slice(0, k)];
      const full = await engine.forward(seq, iv);
      const V = cfg.vocabSize;
      const last = full.logits.subarray((seq.length - 1) * V, seq.length * V);
      expect(maxAbsDiff(res.logits![k], last)).toBeLessThan(1e-4);
      const proj = projectPosition(full.residPost!, cfg.numLayers, full.seq, cfg.hiddenSize, seq.length - 1, axis);
      expect(maxAbsDiff(res.projections[k]!, proj)).toBeLessThan(1e-4);
      // The teacher-forced drift API gives the same numbers at every position.
      const all = projectSequence(full, cfg, axis)!;
      expect(all).toHaveLength(seq.length);
      expect(maxAbsDiff(all[seq.length - 1], proj)).toBe(0);
    }
    // The interventions really act: without them the logits differ.
    const plain = await engine.forward(prompt, noInterventions(dims));
    const steered = await engine.forward(prompt, iv);
    expect(maxAbsDiff(plain.logits, steered.logits)).toBeGreaterThan(1e-2);
  });

  it('reproduces a sampled generation from its seed, and another seed differs', async () => {
    const sampling = { temperature: 1.2, topK: 0, topP: 0.98 };
    const a = await engine.generate(prompt, { maxNewTokens: 12, seed: 42, params: { sampling } });
    const b = await engine.generate(prompt, { maxNewTokens: 12, seed: 42, params: { sampling } });
    const c = await engine.generate(prompt, { maxNewTokens: 12, seed: 43, params: { sampling } });
    expect(a.ids).toEqual(b.ids);
    expect(a.ids).not.toEqual(c.ids);
  });

  it('stops at a stop token, which ends the ids and is not fed back', async () => {
    const greedy = await engine.generate(prompt, { maxNewTokens: 6 });
    expect(greedy.stopReason).toBe('max-tokens');
    const stopAt = greedy.ids[3];
    const firstIdx = greedy.ids.indexOf(stopAt);
    const r = await engine.generate(prompt, { maxNewTokens: 6, stopIds: [stopAt] });
    expect(r.stopReason).toBe('eos');
    expect(r.ids).toEqual(greedy.ids.slice(0, firstIdx + 1));
  });

  it('interrupts between tokens and stays usable: the next generation equals a fresh one', async () => {
    const fresh = await engine.generate(prompt, { maxNewTokens: 10 });
    const ac = new AbortController();
    const seen: number[] = [];
    const r = await engine.generate(prompt, {
      maxNewTokens: 10,
      signal: ac.signal,
      onToken: (e) => {
        seen.push(e.id);
        if (e.index === 2) ac.abort();
      },
    });
    expect(r.stopReason).toBe('interrupted');
    expect(r.ids).toEqual(fresh.ids.slice(0, 3));
    // An interrupt while another generation waits for the engine does not break it either.
    const ac2 = new AbortController();
    const p1 = engine.generate(prompt, { maxNewTokens: 10, signal: ac2.signal });
    const p2 = engine.generate(prompt, { maxNewTokens: 10 });
    ac2.abort();
    const [r1, r2] = await Promise.all([p1, p2]);
    expect(r1.stopReason).toBe('interrupted');
    expect(r2.ids).toEqual(fresh.ids);
  });

  it('breaking out of the token iterator frees the engine', async () => {
    const fresh = await engine.generate(prompt, { maxNewTokens: 5 });
    const got: number[] = [];
    for await (const e of engine.stream(prompt, { maxNewTokens: 5 })) {
      got.push(e.id);
      if (got.length === 2) break;
    }
    expect(got).toEqual(fresh.ids.slice(0, 2));
    expect((await engine.generate(prompt, { maxNewTokens: 5 })).ids).toEqual(fresh.ids);
  });

  it('takes a new steering coefficient between tokens: the next tap moves by exactly alpha at the steered layer', async () => {
    const axis = randomUnitRows(cfg, 7);
    const dims = { numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize };
    const params: { steer?: Float32Array; axis: Float32Array } = { axis };
    const baseline = await engine.generate(prompt, { maxNewTokens: 6, params: { axis } });
    const events: TokenEvent[] = [];
    const alpha = 4;
    const r = await engine.generate(prompt, {
      maxNewTokens: 6,
      params,
      onToken: (e) => {
        events.push(e);
        if (e.index === 2) params.steer = buildInterventions(dims, { steer: [{ vector: axis, layers: [1], alpha }] }).steer;
      },
    });
    // Tokens 0..2 were chosen before the change: identical to the baseline.
    expect(r.ids.slice(0, 3)).toEqual(baseline.ids.slice(0, 3));
    for (let k = 0; k < 3; k++) expect(maxAbsDiff(events[k].projections!, baseline.projections[k]!)).toBeLessThan(1e-5);
    // Token 3's forward pass is the first with steering; its input and KV history equal the baseline's,
    // so at layer 1 the projection grows by alpha, layer 0 is untouched.
    const p3 = events[3].projections!;
    const b3 = baseline.projections[3]!;
    expect(p3[1] - b3[1]).toBeCloseTo(alpha, 4);
    expect(p3[0]).toBeCloseTo(b3[0], 5);
  });

  it('refuses bad requests with readable errors', async () => {
    await expect(engine.generate([], { maxNewTokens: 3 })).rejects.toThrow(/empty/);
    await expect(engine.generate([cfg.vocabSize], { maxNewTokens: 3 })).rejects.toThrow(/outside the model's vocabulary/);
    await expect(engine.generate(prompt, { maxNewTokens: 0 })).rejects.toThrow(/at least 1/);
    await expect(engine.generate(prompt, { maxNewTokens: 2, params: { steer: new Float32Array(3) } })).rejects.toThrow(/steering feed/);
    // Still usable afterwards.
    expect((await engine.generate(prompt, { maxNewTokens: 2 })).ids).toHaveLength(2);
  });

  it('reports prefill and decode speed separately', async () => {
    const r = await engine.generate(prompt, { maxNewTokens: 5 });
    expect(r.promptTokens).toBe(prompt.length);
    expect(r.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(r.decodeTokensPerSecond).toBeGreaterThan(0);
  });
});

describe('LmEngine on the genai export style', () => {
  it('generates with the KV cache consistently with a no-cache pass', async () => {
    const { engine, cfg } = await makeEngine('genai');
    const prompt = [3, 4, 5, 6];
    const dims = { numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize };
    const iv = buildInterventions(dims, { steer: [{ vector: randomUnitRows(cfg, 9), layers: [1], alpha: 2 }] });
    const res = await engine.generate(prompt, { maxNewTokens: 5, params: iv, recordLogits: true });
    const seq = [...prompt, ...res.ids.slice(0, 4)];
    const full = await engine.forward(seq, iv);
    const V = cfg.vocabSize;
    expect(maxAbsDiff(res.logits![4], full.logits.subarray((seq.length - 1) * V))).toBeLessThan(1e-4);
    await engine.dispose();
    await expect(engine.generate(prompt, { maxNewTokens: 1 })).rejects.toThrow(/unloaded/);
  });
});

describe('LmEngine on onnxruntime-web (WASM, in Node)', () => {
  it('generates the same tokens, logits and taps as on onnxruntime-node', async () => {
    const raw = tinyConfigJson('qwen3', { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 512 });
    const cfg = parseConfig(raw);
    const built = buildDecoder(randomCheckpoint(cfg, { seed: 8 }), { style: 'optimum', dtype: 'fp32' });
    const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
    ortWeb.env.wasm.numThreads = 1;
    const web = new LmEngine(ortWeb, await createSession(ortWeb as unknown as Ort, inst, { executionProviders: ['wasm'] }), cfg);
    const node = new LmEngine(ortNode, await createSession(ort, inst), cfg);
    const axis = randomUnitRows(cfg, 3);
    const iv = buildInterventions({ numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize }, { steer: [{ vector: axis, layers: [0], alpha: 1 }], cap: [{ vector: axis, layers: [1], tau: 0.5 }] });
    const opts = { maxNewTokens: 6, params: { ...iv, axis }, recordLogits: true };
    const a = await web.generate([1, 2, 3], opts);
    const b = await node.generate([1, 2, 3], opts);
    expect(a.ids).toEqual(b.ids);
    for (let k = 0; k < a.ids.length; k++) {
      expect(maxAbsDiff(a.logits![k], b.logits![k])).toBeLessThan(1e-4);
      expect(maxAbsDiff(a.projections[k]!, b.projections[k]!)).toBeLessThan(1e-4);
    }
    await web.dispose();
    await node.dispose();
  });
});
