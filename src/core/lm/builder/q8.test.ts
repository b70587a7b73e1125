/**
 * 8-bit models in the hub's `_quantized` / `_int8` / `_uint8` shape (dynamic quantisation:
 * DynamicQuantizeLinear + MatMulInteger, per-tensor weights): they run on onnxruntime-node and
 * onnxruntime-web (WASM) with the same numbers, stay close to the float reference, keep a working
 * KV cache, and the instrumenter finds resid_post in them (taps, steering, capping).
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseConfig, tinyConfigJson } from '../config';
import { randomCheckpoint } from '../checkpoint';
import { referenceForward } from '../reference';
import { decodeModel } from '../../onnx/proto';
import { buildDecoder, dequantizeQ8, modelFileName, quantizeQ8 } from './index';
import { corr, createSession, decoderCase, maxAbsDiff, step, TINY_IDS as IDS, tinyModel } from './ort-node.testkit';
import { Harness, proveInstrumentation } from '../../onnx/rewrite/prove.testkit';
import type { Ort } from '../ort';

const { cfg, ck } = tinyModel('qwen3', 3);
const ref = referenceForward(cfg, ck, IDS);

describe('8-bit weights', () => {
  it('per-tensor quantisation: int8 symmetric (zero point 0), uint8 asymmetric; error within half a step', () => {
    const N = 7, K = 11;
    const w = new Float32Array(N * K).map((_, i) => Math.sin(i * 0.7) * 3 - 0.5);
    for (const signed of [true, false]) {
      const q = quantizeQ8(w, N, K, signed);
      if (signed) expect(q.zeroPoint).toBe(0);
      expect(q.codes).toBeInstanceOf(signed ? Int8Array : Uint8Array);
      const back = dequantizeQ8(q); // [K, N]
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) expect(Math.abs(back[k * N + n] - w[n * K + k])).toBeLessThanOrEqual(q.scale / 2 + 1e-6);
    }
  });

  for (const style of ['optimum', 'genai'] as const) {
    for (const dtype of ['q8', 'int8', 'uint8'] as const) {
      it(`${style} ${dtype}: the hub's file name and ops; close to fp32; the cache works (to quantisation noise)`, async () => {
        const built = buildDecoder(ck, { style, dtype });
        expect(built.fileName).toBe(modelFileName(dtype));
        expect(built.fileName).toBe({ q8: 'model_quantized.onnx', int8: 'model_int8.onnx', uint8: 'model_uint8.onnx' }[dtype]);
        const ops = new Set(decodeModel(built.onnx).graph.node.map((n) => n.op_type));
        for (const op of ['DynamicQuantizeLinear', 'MatMulInteger', 'DequantizeLinear']) expect(ops.has(op), op).toBe(true);
        expect(ops.has('MatMulNBits')).toBe(false);
        const s = await createSession(built.onnx);
        const r = await step(s, cfg, IDS);
        expect(corr(r.logits, ref.logits)).toBeGreaterThan(0.99);
        const a = await step(s, cfg, IDS.slice(0, 4));
        const b = await step(s, cfg, IDS.slice(4), a.present);
        // Not equal: the activation scale is per tensor, so it depends on which tokens are fed together
        // (a property of every dynamically quantised export, not of the cache).
        const whole = r.logits.subarray(4 * cfg.vocabSize);
        expect(corr(b.logits, whole)).toBeGreaterThan(0.99);
        expect(maxAbsDiff(b.logits, whole)).toBeLessThan(0.2);
      });
    }
  }

  it('onnxruntime-web (WASM) gives the numbers onnxruntime-node gives', async () => {
    const ortWeb = await import('onnxruntime-web');
    ortWeb.env.wasm.numThreads = 1;
    const built = buildDecoder(ck, { style: 'optimum', dtype: 'q8' });
    const session = await ortWeb.InferenceSession.create(built.onnx);
    const feeds: Record<string, InstanceType<typeof ortWeb.Tensor>> = {
      input_ids: new ortWeb.Tensor('int64', BigInt64Array.from(IDS.map(BigInt)), [1, IDS.length]),
      attention_mask: new ortWeb.Tensor('int64', BigInt64Array.from(IDS.map(() => 1n)), [1, IDS.length]),
      position_ids: new ortWeb.Tensor('int64', BigInt64Array.from(IDS.map((_, i) => BigInt(i))), [1, IDS.length]),
    };
    for (let i = 0; i < cfg.numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ortWeb.Tensor('float32', new Float32Array(0), [1, cfg.numKvHeads, 0, cfg.headDim]);
    const out = await session.run(feeds);
    const nodeRun = await step(await createSession(built.onnx), cfg, IDS);
    expect(maxAbsDiff(out.logits.data as Float32Array, nodeRun.logits)).toBeLessThan(1e-3);
    await session.release();
  });

  for (const style of ['optimum', 'genai'] as const) {
    it(`${style} q8: the instrumenter finds resid_post; everything off = original; steering and capping exact`, async () => {
      const c3 = parseConfig(tinyConfigJson('qwen3', { num_hidden_layers: 3 }));
      const built = buildDecoder(randomCheckpoint(c3, { seed: 5 }), { style, dtype: 'q8' });
      const c = decoderCase(`qwen3-${style}-q8`, c3, built.onnx);
      const h = await new Harness(ort as unknown as Ort, c).open();
      expect(h.dims).toMatchObject({ style, numLayers: c3.numLayers, hiddenSize: c3.hiddenSize, residDtype: 'float32' });
      expect(h.dims.warnings).toEqual([]);
      await proveInstrumentation(h, [[5, 17, 200, 3, 9, 41, 77]], { logitTol: 1e-6, tapRelTol: 1e-6 });
    });
  }
});
