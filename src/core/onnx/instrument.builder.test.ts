/**
 * The acceptance proofs of instrumentation on real decoders from the model builder (attention,
 * RoPE, KV-cache inputs, MatMulNBits), both export styles and every dtype the builder writes.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, tinyConfigJson, type DecoderConfig } from '../lm/config';
import { randomCheckpoint } from '../lm/checkpoint';
import { referenceForward } from '../lm/reference';
import { createSession, interventionFeeds, offFeeds, prefillFeeds, tapRow, type Ort } from '../lm/ort';
import { instrumentDecoder } from './instrument';
import { decodeModel } from './proto';
import { buildInterventions } from '../lm/interventions';
import { decodeF32 } from '../tensor';
import { buildDecoder, type ExportStyle, type ModelDType } from '../lm/builder';
import { dot, Harness, maxAbsDiff, proveInstrumentation, randomVector, toF32, unit, type ModelCase } from './rewrite/prove.testkit';

const IDS = [[5, 17, 200, 3, 9, 41, 77]];

function decoderFeeds(cfg: DecoderConfig, fp16: boolean) {
  return (o: Ort, B: number, S: number) => {
    const feeds: ModelCase extends { extraFeeds?: (...a: never[]) => infer R } ? R : never = {};
    feeds.attention_mask = new o.Tensor('int64', new BigInt64Array(B * S).fill(1n), [B, S]);
    const pos = new BigInt64Array(B * S);
    for (let i = 0; i < B * S; i++) pos[i] = BigInt(i % S);
    feeds.position_ids = new o.Tensor('int64', pos, [B, S]);
    for (let i = 0; i < cfg.numLayers; i++) {
      for (const kv of ['key', 'value']) {
        feeds[`past_key_values.${i}.${kv}`] = fp16
          ? new o.Tensor('float16', new Uint16Array(0), [B, cfg.numKvHeads, 0, cfg.headDim])
          : new o.Tensor('float32', new Float32Array(0), [B, cfg.numKvHeads, 0, cfg.headDim]);
      }
    }
    return feeds;
  };
}

function builtCase(style: ExportStyle, dtype: ModelDType, family: 'qwen3' | 'llama' = 'qwen3') {
  const cfg = parseConfig(tinyConfigJson(family, { num_hidden_layers: 3 }));
  const ck = randomCheckpoint(cfg, { seed: 3 });
  const built = buildDecoder(ck, { style, dtype });
  const fp16 = dtype === 'fp16' || dtype === 'q4f16';
  const c: ModelCase = { label: `${family}-${style}-${dtype}`, bytes: built.onnx, vocabSize: cfg.vocabSize, extraFeeds: decoderFeeds(cfg, fp16) };
  return { cfg, ck, c, fp16 };
}

describe('instrumented builder decoders', () => {
  for (const style of ['genai', 'optimum'] as const) {
    for (const dtype of ['fp32', 'q4', 'fp16', 'q4f16'] as const) {
      it(`${style} ${dtype}: everything off = original; steering and capping exact`, async () => {
        const { cfg, c, fp16 } = builtCase(style, dtype);
        const h = await new Harness(ort, c).open();
        expect(h.dims).toMatchObject({ style, numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize, residDtype: fp16 ? 'float16' : 'float32' });
        expect(h.dims.warnings).toEqual([]);
        await proveInstrumentation(h, IDS, fp16 ? { logitTol: 1e-2, tapRelTol: 2 ** -9 } : { logitTol: 1e-6, tapRelTol: 1e-6 });
      });
    }
  }

  for (const style of ['genai', 'optimum'] as const) {
    it(`${style} fp32: the taps are the reference forward pass's resid_post (independent of the graph)`, async () => {
      const { cfg, ck, c } = builtCase(style, 'fp32', 'llama');
      const ref = referenceForward(cfg, ck, IDS[0]);
      const h = await new Harness(ort, c).open();
      const off = await h.run(IDS);
      expect(maxAbsDiff(off.logits, ref.logits)).toBeLessThan(1e-4);
      for (let l = 0; l < cfg.numLayers; l++) {
        const rows = new Float32Array(IDS[0].length * cfg.hiddenSize);
        for (let s = 0; s < IDS[0].length; s++) rows.set(tapRow(off.tap, l, 0, s), s * cfg.hiddenSize);
        expect(maxAbsDiff(rows, ref.residPost[l])).toBeLessThan(1e-4);
      }
    });
  }

  it('with steering and capping on, both export styles of one checkpoint agree (the change reaches every later layer)', async () => {
    const cfg = parseConfig(tinyConfigJson('qwen3', { num_hidden_layers: 3 }));
    const ck = randomCheckpoint(cfg, { seed: 5 });
    const open = (style: ExportStyle) =>
      new Harness(ort, { label: style, bytes: buildDecoder(ck, { style, dtype: 'fp32' }).onnx, vocabSize: cfg.vocabSize, extraFeeds: decoderFeeds(cfg, false) }).open();
    const [g, o] = [await open('genai'), await open('optimum')];
    const off = await o.run(IDS);
    const axis = randomVector(cfg.hiddenSize, 8);
    const a = unit(axis);
    const ps = IDS[0].map((_, s) => dot(tapRow(off.tap, 1, 0, s), a)).sort((x, y) => x - y);
    const iv = buildInterventions(g.dims, {
      steer: [{ vector: randomVector(cfg.hiddenSize, 2), layers: [0, 2], alpha: 3 }],
      cap: [{ vector: axis, layers: [1], tau: ps[ps.length - 2] }],
    });
    const [rg, ro] = [await g.run(IDS, iv), await o.run(IDS, iv)];
    expect(maxAbsDiff(rg.logits, off.logits)).toBeGreaterThan(0.05); // the interventions matter...
    expect(maxAbsDiff(rg.logits, ro.logits)).toBeLessThan(1e-4); // ...and both graphs apply them the same way
    expect(maxAbsDiff(rg.tap.data, ro.tap.data)).toBeLessThan(1e-4);
  });

  it('steering the last layer reaches the logits: logits = lm_head(RMSNorm(tap))', async () => {
    for (const style of ['genai', 'optimum'] as const) {
      const { cfg, ck, c } = builtCase(style, 'fp32', 'llama');
      const h = await new Harness(ort, c).open();
      const r = await h.run(IDS, buildInterventions(h.dims, { steer: [{ vector: randomVector(cfg.hiddenSize, 4), layers: [cfg.numLayers - 1], alpha: 5 }] }));
      const norm = decodeF32(ck.tensor('model.norm.weight'));
      const head = decodeF32(ck.tensor(ck.has('lm_head.weight') ? 'lm_head.weight' : 'model.embed_tokens.weight'));
      const d = cfg.hiddenSize, V = cfg.vocabSize;
      for (let s = 0; s < IDS[0].length; s++) {
        const x = tapRow(r.tap, cfg.numLayers - 1, 0, s);
        const rms = 1 / Math.sqrt(dot(x, x) / d + cfg.rmsNormEps);
        const y = Float64Array.from(x, (v, j) => v * rms * norm[j]);
        const logits = Float64Array.from({ length: V }, (_, k) => dot(y, head.subarray(k * d, (k + 1) * d)));
        expect(maxAbsDiff(logits, r.logits.subarray(s * V, (s + 1) * V))).toBeLessThan(1e-4);
      }
    }
  });

  it('an ORT-optimised export (fused SimplifiedLayerNormalization, FusedMatMul, QuickGelu) is found and instrumented the same way', async () => {
    const { cfg, c } = builtCase('optimum', 'q4');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ps-ortopt-'));
    try {
      const file = path.join(dir, 'optimized.onnx');
      await ort.InferenceSession.create(c.bytes, { graphOptimizationLevel: 'extended', optimizedModelFilePath: file, logSeverityLevel: 3 });
      const bytes = new Uint8Array(await fs.readFile(file));
      const ops = new Set(decodeModel(bytes).graph.node.map((n) => n.op_type));
      expect(ops.has('SimplifiedLayerNormalization') && !ops.has('Pow')).toBe(true);
      const h = await new Harness(ort, { ...c, label: 'ort-optimised', bytes }).open();
      expect(h.dims).toMatchObject({ style: 'optimum', numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize });
      await proveInstrumentation(h, IDS, { logitTol: 1e-6, tapRelTol: 1e-6 });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  for (const [style, dtype] of [['genai', 'q4f16'], ['optimum', 'q4']] as const) {
    it(`${style} ${dtype} on onnxruntime-web (WASM): the same proofs`, async () => {
      ortWeb.env.wasm.numThreads = 1;
      const { c, fp16 } = builtCase(style, dtype);
      const h = await new Harness(ortWeb, c).open();
      await proveInstrumentation(h, IDS, fp16 ? { logitTol: 1e-2, tapRelTol: 2 ** -9 } : { logitTol: 1e-6, tapRelTol: 1e-6 });
    });
  }

  it('prefillFeeds fills input_ids, attention_mask, position_ids and empty caches from the graph inputs', async () => {
    for (const dtype of ['fp32', 'q4f16'] as const) {
      const { c } = builtCase('genai', dtype);
      const h = await new Harness(ort, c).open();
      const byHand = await h.run(IDS);
      const out = await h.instrumented.run({ ...prefillFeeds(ort, h.dims, IDS), ...offFeeds(ort, h.dims) });
      expect(maxAbsDiff(toF32(out.logits), byHand.logits)).toBe(0);
      expect(() => prefillFeeds(ort, h.dims, [[1, 2], [3]])).toThrow(/same number of tokens/);
    }
  });

  it('taps: false adds steering and capping without the packed output', async () => {
    const { cfg, c } = builtCase('optimum', 'fp32');
    const plain = instrumentDecoder(c.bytes, { taps: false });
    expect(plain.info.outputNames).not.toContain('resid_post');
    const s = await createSession(ort, plain);
    const feeds = prefillFeeds(ort, plain.info, IDS);
    const off = toF32((await s.run({ ...feeds, ...offFeeds(ort, plain.info) })).logits);
    const on = toF32((await s.run({ ...feeds, ...interventionFeeds(ort, buildInterventions(plain.info, { steer: [{ vector: randomVector(cfg.hiddenSize, 1), layers: [1], alpha: 4 }] })) })).logits);
    const h = await new Harness(ort, c).open();
    expect(maxAbsDiff(off, (await h.run(IDS)).logits)).toBe(0);
    expect(maxAbsDiff(on, off)).toBeGreaterThan(1e-3);
  });

  it('the rewritten graph is a few kB and the weights stay views of the original bytes', () => {
    for (const dtype of ['fp32', 'q4'] as const) {
      const { c } = builtCase('genai', dtype);
      const h = new Harness(ort, c);
      expect(h.inst.graph.byteLength).toBeLessThan(64 * 1024);
      expect(h.inst.graph.byteLength).toBeLessThan(c.bytes.byteLength / 4);
      for (const f of h.inst.externalData) expect(f.data.buffer).toBe(c.bytes.buffer);
    }
  });
});
