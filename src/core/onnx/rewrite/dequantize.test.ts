import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseConfig, tinyConfigJson } from '../../lm/config';
import { randomCheckpoint } from '../../lm/checkpoint';
import { buildDecoder, dequantizeQ4, quantizeQ4 } from '../../lm/builder';
import { corr, createSession, decoderCase, maxAbsDiff, step, TINY_IDS as IDS, tinyModel } from '../../lm/builder/ort-node.testkit';
import { decodeModel } from '../proto';
import { instrumentDecoder } from '../instrument';
import { dequantizeCost, dequantizeMatMulNBits, dequantizeNBits } from './dequantize';
import { Harness, proveInstrumentation } from './prove.testkit';
import type { Ort } from '../../lm/ort';

const { cfg, ck } = tinyModel('qwen2', 4, { num_attention_heads: 4, num_key_value_heads: 2, head_dim: 24 });

describe('MatMulNBits -> MatMul at load time', () => {
  it('decodes 4-bit blocks exactly as the builder encoded them (transposed), K not a multiple of the block', () => {
    const N = 5, K = 70;
    const w = new Float32Array(N * K).map((_, i) => Math.cos(i * 0.31) * (1 + (i % 5)));
    const q = quantizeQ4(w, N, K);
    const ref = dequantizeQ4(q); // [N, K]
    const got = dequantizeNBits(q.packed, q.scales, q.zeroPoints, N, K, 32); // [K, N]
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) expect(got[k * N + n]).toBe(ref[n * K + k]);
  });

  for (const style of ['optimum', 'genai'] as const) {
    it(`${style}: fp32 conversion computes the q4 file's numbers; int8 stays close; external data in and out`, async () => {
      const built = buildDecoder(ck, { style, dtype: 'q4', accuracyLevel: 0, externalData: true });
      const ext = [{ path: built.externalDataName!, data: built.externalData! }];
      const q4 = await step(await createSession(built.onnx, ext), cfg, IDS);
      const cost = dequantizeCost(built.onnx, 'fp32');
      expect(cost.nodes).toBe(cfg.numLayers * 7 + 1);
      const fp = dequantizeMatMulNBits(built.onnx, { target: 'fp32', externalData: ext });
      expect(fp.converted).toBe(cost.nodes);
      expect(fp.bytes).toBe(cost.convertedBytes);
      const ops = decodeModel(fp.model).graph.node.map((n) => n.op_type);
      expect(ops).not.toContain('MatMulNBits');
      expect(fp.model.byteLength).toBeLessThan(64 * 1024); // weights stay out of the protobuf
      const r = await step(await createSession(fp.model, fp.externalData), cfg, IDS);
      expect(maxAbsDiff(r.logits, q4.logits)).toBeLessThan(1e-4);

      const i8 = dequantizeMatMulNBits(built.onnx, { target: 'int8', externalData: ext });
      expect(i8.bytes).toBe(dequantizeCost(built.onnx, 'int8').convertedBytes);
      expect(i8.bytes).toBeLessThan(fp.bytes / 3);
      const r8 = await step(await createSession(i8.model, i8.externalData), cfg, IDS);
      expect(corr(r8.logits, q4.logits)).toBeGreaterThan(0.995);
    });
  }

  it('the converted graph is instrumented like any other: taps, steering and capping exact', async () => {
    const c3 = parseConfig(tinyConfigJson('qwen3', { num_hidden_layers: 3 }));
    const built = buildDecoder(randomCheckpoint(c3, { seed: 8 }), { style: 'genai', dtype: 'q4' });
    const fp = dequantizeMatMulNBits(built.onnx, { target: 'fp32' });
    expect(instrumentDecoder(fp.model, { externalData: fp.externalData }).info).toMatchObject({ style: 'genai', numLayers: 3, hiddenSize: c3.hiddenSize });
    const c = decoderCase('genai-q4-dequantized', c3, fp.model, fp.externalData);
    const h = await new Harness(ort as unknown as Ort, c).open();
    await proveInstrumentation(h, [[5, 17, 200, 3, 9, 41, 77]], { logitTol: 1e-6, tapRelTol: 1e-6 });
  });

  it('q4f16 (fp16 activations) is left alone', () => {
    const built = buildDecoder(ck, { style: 'genai', dtype: 'q4f16' });
    expect(dequantizeCost(built.onnx, 'fp32').nodes).toBe(0);
  });
});
