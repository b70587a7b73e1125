import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseConfig, tinyConfigJson, type ModelFamily } from '../config';
import { randomCheckpoint, type Checkpoint } from '../checkpoint';
import { referenceForward, type ReferenceOutput } from '../reference';
import { decodeModel, encodeModel, makeValueInfo, TensorDataType } from '../../onnx/proto';
import { buildDecoder, type ExportStyle } from './index';
import { createSession, maxAbsDiff, step, toF32 } from './ort-node.testkit';

const IDS = [3, 17, 200, 5, 9, 41, 77];

/** Families with the feature each one exercises. */
const VARIANTS: { family: ModelFamily; what: string; overrides?: Record<string, unknown> }[] = [
  { family: 'llama', what: 'llama3 rope_scaling, untied lm_head, GQA 4:2' },
  { family: 'qwen2', what: 'q/k/v biases, tied embeddings', overrides: { num_key_value_heads: 1 } },
  { family: 'qwen3', what: 'per-head q/k RMSNorm, explicit head_dim != hidden/heads', overrides: { head_dim: 24 } },
  { family: 'llama', what: 'attention_bias (q/k/v/o) and mlp_bias, MHA, no rope scaling', overrides: { attention_bias: true, mlp_bias: true, num_key_value_heads: 4, rope_scaling: null } },
];

function setup(family: ModelFamily, overrides?: Record<string, unknown>, seed = 7) {
  const cfg = parseConfig(tinyConfigJson(family, { num_hidden_layers: 3, ...overrides }));
  const ck = randomCheckpoint(cfg, { seed });
  return { cfg, ck, ref: referenceForward(cfg, ck, IDS) };
}

/** Expose residual-stream values as extra graph outputs (what an instrumenter taps). */
function withOutputs(onnx: Uint8Array, names: string[]): Uint8Array {
  const m = decodeModel(onnx);
  for (const n of names) m.graph.output.push(makeValueInfo(n, TensorDataType.FLOAT, ['batch_size', 'sequence_length', 'hidden']));
  return encodeModel(m);
}

function tapNames(style: ExportStyle, layers: number) {
  const post: string[] = [], mid: string[] = [];
  for (let i = 0; i < layers; i++) {
    if (style === 'optimum') {
      mid.push(`/model/layers.${i}/Add_output_0`);
      post.push(`/model/layers.${i}/Add_1_output_0`);
    } else {
      mid.push(`/model/layers.${i}/post_attention_layernorm/SkipLayerNorm/output_3`);
      // the last layer's resid_post only exists inside the final norm (output 3 is not emitted)
      if (i + 1 < layers) post.push(`/model/layers.${i + 1}/input_layernorm/SkipLayerNorm/output_3`);
    }
  }
  return { post, mid };
}

async function checkAgainstReference(style: ExportStyle, cfg: ReturnType<typeof parseConfig>, ck: Checkpoint, ref: ReferenceOutput) {
  const built = buildDecoder(ck, { style, dtype: 'fp32' });
  const taps = tapNames(style, cfg.numLayers);
  const session = await createSession(withOutputs(built.onnx, [...taps.post, ...taps.mid]));
  const r = await step(session, cfg, IDS);
  expect(maxAbsDiff(r.logits, ref.logits)).toBeLessThan(1e-4);
  taps.post.forEach((n, i) => expect(maxAbsDiff(toF32(r.outputs[n]), ref.residPost[i])).toBeLessThan(1e-4));
  taps.mid.forEach((n, i) => expect(maxAbsDiff(toF32(r.outputs[n]), ref.residMid[i])).toBeLessThan(1e-4));
  expect(r.present[0].dims).toEqual([1, cfg.numKvHeads, IDS.length, cfg.headDim]);
  return r.logits;
}

describe('built decoders match the reference forward pass (fp32)', () => {
  for (const v of VARIANTS) {
    it(`${v.family}: ${v.what}; both styles agree`, async () => {
      const { cfg, ck, ref } = setup(v.family, v.overrides);
      const a = await checkAgainstReference('genai', cfg, ck, ref);
      const b = await checkAgainstReference('optimum', cfg, ck, ref);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
      // the logits carry signal: not all equal, and they vary by position
      expect(Math.max(...ref.logits) - Math.min(...ref.logits)).toBeGreaterThan(1);
    });
  }

  it('the genai graph has the fused ops and node names an instrumenter looks for', () => {
    const { ck, cfg } = setup('qwen3');
    const m = decodeModel(buildDecoder(ck, { style: 'genai', dtype: 'q4' }).onnx);
    const ops = new Set(m.graph.node.map((n) => n.op_type));
    for (const op of ['Gather', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization', 'GroupQueryAttention', 'RotaryEmbedding', 'MatMulNBits']) expect(ops).toContain(op);
    expect(ops).not.toContain('MatMul');
    const byName = new Map(m.graph.node.map((n) => [n.name, n]));
    expect(byName.get('/model/layers.0/input_layernorm/LayerNorm')?.op_type).toBe('SimplifiedLayerNormalization');
    for (let i = 1; i < cfg.numLayers; i++) expect(byName.get(`/model/layers.${i}/input_layernorm/SkipLayerNorm`)?.output).toHaveLength(4);
    const fin = byName.get(`/model/layers.${cfg.numLayers}/final_norm_layernorm/SkipLayerNorm`);
    expect(fin?.domain).toBe('com.microsoft');
    expect(fin?.output).toHaveLength(1);
  });

  it('the optimum graph uses plain ops only, with the residual adds named as torch.onnx names them', () => {
    const { ck, cfg } = setup('llama');
    const m = decodeModel(buildDecoder(ck, { style: 'optimum', dtype: 'fp32' }).onnx);
    expect(m.graph.node.every((n) => !n.domain)).toBe(true);
    const ops = new Set(m.graph.node.map((n) => n.op_type));
    for (const op of ['Pow', 'ReduceMean', 'Sqrt', 'Div', 'Softmax', 'Concat']) expect(ops).toContain(op);
    const outputs = new Set(m.graph.node.flatMap((n) => n.output));
    for (let i = 0; i < cfg.numLayers; i++) {
      expect(outputs).toContain(`/model/layers.${i}/Add_output_0`);
      expect(outputs).toContain(`/model/layers.${i}/Add_1_output_0`);
    }
  });
});

describe('KV cache', () => {
  for (const style of ['genai', 'optimum'] as const) {
    it(`${style}: prefill then token-by-token equals a full recompute`, async () => {
      const { cfg, ck, ref } = setup('llama');
      const s = await createSession(buildDecoder(ck, { style, dtype: 'fp32' }).onnx);
      let r = await step(s, cfg, IDS.slice(0, 3));
      expect(maxAbsDiff(r.logits, ref.logits.subarray(0, 3 * cfg.vocabSize))).toBeLessThan(1e-4);
      for (let t = 3; t < IDS.length; t++) {
        r = await step(s, cfg, [IDS[t]], r.present);
        expect(r.present[0].dims[2]).toBe(t + 1);
        expect(maxAbsDiff(r.logits, ref.logits.subarray(t * cfg.vocabSize, (t + 1) * cfg.vocabSize))).toBeLessThan(1e-4);
      }
      // a 2-token chunk after a cached prefix works too
      const a = await step(s, cfg, IDS.slice(0, 5));
      const b = await step(s, cfg, IDS.slice(5, 7), a.present);
      expect(maxAbsDiff(b.logits, ref.logits.subarray(5 * cfg.vocabSize, 7 * cfg.vocabSize))).toBeLessThan(1e-4);
    });
  }

  for (const style of ['genai', 'optimum'] as const) {
    it(`${style}: a batch of two unpadded sequences gives each row's own logits`, async () => {
      const { cfg, ck, ref } = setup('qwen2');
      const other = [11, 12, 13, 14, 15, 16, 17];
      const ref2 = referenceForward(cfg, ck, other);
      const s = await createSession(buildDecoder(ck, { style, dtype: 'fp32' }).onnx);
      const n = IDS.length;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from([...IDS, ...other].map(BigInt)), [2, n]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(Array(2 * n).fill(1n)), [2, n]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from([...IDS.keys(), ...IDS.keys()].map(BigInt)), [2, n]),
      };
      for (let i = 0; i < cfg.numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [2, cfg.numKvHeads, 0, cfg.headDim]);
      const logits = (await s.run(feeds)).logits.data as Float32Array;
      const V = cfg.vocabSize;
      expect(maxAbsDiff(logits.subarray(0, n * V), ref.logits)).toBeLessThan(1e-4);
      expect(maxAbsDiff(logits.subarray(n * V), ref2.logits)).toBeLessThan(1e-4);
    });
  }

  it('optimum: a left-padded row in a batch gives the same logits as running it alone', async () => {
    const { cfg, ck } = setup('qwen3');
    const s = await createSession(buildDecoder(ck, { style: 'optimum', dtype: 'fp32' }).onnx);
    const short = [9, 41, 77];
    const alone = referenceForward(cfg, ck, short).logits;
    const pad = IDS.length - short.length;
    const ids = [...IDS, ...Array(pad).fill(0), ...short];
    const mask = [...IDS.map(() => 1), ...Array(pad).fill(0), ...short.map(() => 1)];
    const pos = [...IDS.map((_, i) => i), ...Array(pad).fill(1), ...short.map((_, i) => i)];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, IDS.length]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.map(BigInt)), [2, IDS.length]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(pos.map(BigInt)), [2, IDS.length]),
    };
    for (let i = 0; i < cfg.numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [2, cfg.numKvHeads, 0, cfg.headDim]);
    const out = await s.run(feeds);
    const logits = out.logits.data as Float32Array;
    const V = cfg.vocabSize;
    const row1 = logits.subarray((IDS.length + pad) * V, 2 * IDS.length * V);
    expect(maxAbsDiff(row1, alone)).toBeLessThan(1e-4);
  });
});
