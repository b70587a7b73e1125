import { describe, expect, it } from 'vitest';
import { decodeF32 } from '../../tensor';
import { type Checkpoint } from '../checkpoint';
import { referenceForward } from '../reference';
import { decodeModel, externalDataRef } from '../../onnx/proto';
import { buildDecoder, dequantizeQ4, f32ToF16Bits, modelFileName, quantizeQ4 } from './index';
import { corr, createSession, maxAbsDiff, step, TINY_IDS as IDS, tinyModel } from './ort-node.testkit';

// untied, so that the reference can use the q4-rounded lm_head while keeping the exact embedding
const { cfg, ck } = tinyModel('qwen3', 3, { tie_word_embeddings: false });
const ref = referenceForward(cfg, ck, IDS);

/** Every matrix replaced by what 4-bit MatMulNBits will actually multiply by (the embedding too when asked). */
function dequantizedCheckpoint(src: Checkpoint, embeddings = false): Checkpoint {
  return {
    ...src,
    tensor(name) {
      const t = src.tensor(name);
      if (t.shape.length !== 2 || (name === 'model.embed_tokens.weight' && !embeddings)) return t;
      const [N, K] = t.shape;
      const w = dequantizeQ4(quantizeQ4(decodeF32(t), N, K));
      return { dtype: 'float32', shape: t.shape, data: new Uint8Array(w.buffer) };
    },
  };
}

describe('weight conversions', () => {
  it('f32 -> f16 rounds to nearest even and handles the edges', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('4-bit block quantisation error stays within half a step; zeros stay exact', () => {
    const N = 5, K = 70; // K not a multiple of the block size
    const w = new Float32Array(N * K).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    w[3] = 0;
    const q = quantizeQ4(w, N, K);
    expect(q.kBlocks).toBe(3);
    expect(q.packed.length).toBe(N * 3 * 16);
    expect(q.zeroPoints.length).toBe(N * 2);
    const back = dequantizeQ4(q);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      const s = q.scales[n * q.kBlocks + Math.floor(k / 32)];
      expect(Math.abs(back[n * K + k] - w[n * K + k])).toBeLessThanOrEqual(s / 2 + 1e-6);
    }
    expect(back[3]).toBe(0);
  });
});

describe('quantised and half-precision models', () => {
  for (const style of ['genai', 'optimum'] as const) {
    it(`${style} q4 (accuracy_level 0) equals the reference run on the dequantised weights`, async () => {
      const built = buildDecoder(ck, { style, dtype: 'q4', accuracyLevel: 0 });
      expect(built.fileName).toBe('model_q4.onnx');
      const r = await step(await createSession(built.onnx), cfg, IDS);
      const dq = referenceForward(cfg, dequantizedCheckpoint(ck), IDS);
      expect(maxAbsDiff(r.logits, dq.logits)).toBeLessThan(2e-4);
      expect(corr(r.logits, ref.logits)).toBeGreaterThan(0.95);
    });

    it(`${style} q4 (default int8 compute), fp16 and q4f16 run and stay close to fp32`, async () => {
      for (const dtype of ['q4', 'fp16', 'q4f16'] as const) {
        const built = buildDecoder(ck, { style, dtype });
        expect(built.fileName).toBe(modelFileName(dtype));
        const fp16 = dtype !== 'q4';
        const s = await createSession(built.onnx);
        const r = await step(s, cfg, IDS, undefined, { fp16 });
        expect(r.outputs.logits.type).toBe(fp16 ? 'float16' : 'float32');
        const c = corr(r.logits, ref.logits);
        expect(c, dtype).toBeGreaterThan(dtype === 'fp16' ? 0.9999 : 0.95);
        // the cache works in every dtype
        const a = await step(s, cfg, IDS.slice(0, 4), undefined, { fp16 });
        const b = await step(s, cfg, IDS.slice(4), a.present, { fp16 });
        expect(maxAbsDiff(b.logits, r.logits.subarray(4 * cfg.vocabSize))).toBeLessThan(fp16 ? 0.05 : 0.02);
      }
    });
  }

  it('4-bit embeddings (GatherBlockQuantized) equal the reference on dequantised weights, in both styles', async () => {
    const dq = referenceForward(cfg, dequantizedCheckpoint(ck, true), IDS);
    for (const style of ['genai', 'optimum'] as const) {
      const built = buildDecoder(ck, { style, dtype: 'q4', accuracyLevel: 0, quantizeEmbeddings: true });
      const m = decodeModel(built.onnx);
      expect(m.graph.node.find((n) => n.name === '/model/embed_tokens/GatherBlockQuantized')?.domain).toBe('com.microsoft');
      const r = await step(await createSession(built.onnx), cfg, IDS);
      expect(maxAbsDiff(r.logits, dq.logits)).toBeLessThan(2e-4);
      // and in q4f16 it runs and stays close
      const h = buildDecoder(ck, { style, dtype: 'q4f16', quantizeEmbeddings: true });
      const rh = await step(await createSession(h.onnx), cfg, IDS, undefined, { fp16: true });
      expect(corr(rh.logits, dq.logits)).toBeGreaterThan(0.99);
    }
  });

  it('q4 models are much smaller than fp32 ones', () => {
    const fp32 = buildDecoder(ck, { style: 'genai', dtype: 'fp32' }).onnx.byteLength;
    const q4 = buildDecoder(ck, { style: 'genai', dtype: 'q4' }).onnx.byteLength;
    const matrices = 2 * (cfg.hiddenSize * (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim + cfg.numHeads * cfg.headDim * cfg.hiddenSize + 3 * cfg.hiddenSize * cfg.intermediateSize);
    // 4-bit codes + a float scale per 32 weights, instead of 4 bytes per weight
    expect(fp32 - q4).toBeGreaterThan(matrices * 4 * 0.8);
  });
});

describe('external data', () => {
  it('writes weights to model.onnx_data and the model runs from it with the same logits', async () => {
    const built = buildDecoder(ck, { style: 'optimum', dtype: 'fp32', externalData: true });
    expect(built.externalDataName).toBe('model.onnx_data');
    expect(built.externalData!.byteLength).toBeGreaterThan(built.onnx.byteLength * 10);
    const m = decodeModel(built.onnx);
    const ext = m.graph.initializer.filter((t) => externalDataRef(t));
    expect(ext.length).toBeGreaterThan(10);
    for (const t of ext) expect(externalDataRef(t)!.offset % 4096).toBe(0);
    const s = await createSession(built.onnx, [{ path: built.externalDataName!, data: built.externalData! }]);
    const r = await step(s, cfg, IDS);
    expect(maxAbsDiff(r.logits, ref.logits)).toBeLessThan(1e-4);
  });
});

describe('onnxruntime-web (WASM, in Node)', () => {
  it('runs a genai q4 model (4-bit embeddings too) and an optimum fp32 model with the same numbers as onnxruntime-node', async () => {
    const ortWeb = await import('onnxruntime-web');
    ortWeb.env.wasm.numThreads = 1;
    for (const [style, dtype] of [['genai', 'q4'], ['optimum', 'fp32']] as const) {
      const built = buildDecoder(ck, { style, dtype, accuracyLevel: 0, quantizeEmbeddings: true });
      const session = await ortWeb.InferenceSession.create(built.onnx);
      const feeds: Record<string, InstanceType<typeof ortWeb.Tensor>> = {
        input_ids: new ortWeb.Tensor('int64', BigInt64Array.from(IDS.map(BigInt)), [1, IDS.length]),
        attention_mask: new ortWeb.Tensor('int64', BigInt64Array.from(IDS.map(() => 1n)), [1, IDS.length]),
        position_ids: new ortWeb.Tensor('int64', BigInt64Array.from(IDS.map((_, i) => BigInt(i))), [1, IDS.length]),
      };
      for (let i = 0; i < cfg.numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ortWeb.Tensor('float32', new Float32Array(0), [1, cfg.numKvHeads, 0, cfg.headDim]);
      const out = await session.run(feeds);
      const nodeRun = await step(await createSession(built.onnx), cfg, IDS);
      expect(maxAbsDiff(out.logits.data as Float32Array, nodeRun.logits)).toBeLessThan(1e-4);
      await session.release();
    }
  });
});
