/**
 * Toy decoders for tests: the residual-stream skeleton of both export styles (embedding, per layer
 * a norm -> linear "attention" -> residual add, a norm -> ReLU MLP -> residual add, final norm,
 * lm_head) with seeded random weights. No attention or RoPE: these exercise the graph rewrite, not
 * the model; the real builder's models (core/lm/builder) exercise the rest.
 */
import {
  attrFloat, attrInt, encodeModel, makeNode, makeTensor, makeValueInfo, TensorDataType,
  type NodeProto, type TensorProto,
} from '../proto';
import { f32ToF16Bits } from '../../tensor';

export interface ToyOptions {
  style: 'genai' | 'optimum';
  numLayers: number;
  hiddenSize: number;
  vocabSize?: number;
  dtype?: 'float32' | 'float16';
  seed?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32 - 0.5;
  };
}

export function toyDecoder(o: ToyOptions): Uint8Array {
  const { numLayers: L, hiddenSize: d } = o;
  const V = o.vocabSize ?? 16;
  const fp16 = o.dtype === 'float16';
  const T = fp16 ? TensorDataType.FLOAT16 : TensorDataType.FLOAT;
  const rand = rng(o.seed ?? 7);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const weight = (name: string, dims: number[], scale: number, offset = 0): string => {
    const n = dims.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n).map(() => offset + scale * rand());
    inits.push(makeTensor(name, T, dims, fp16 ? new Uint16Array(Array.from(v, f32ToF16Bits)) : v));
    return name;
  };
  const scalar = (name: string, v: number): string => {
    inits.push(makeTensor(name, T, [], fp16 ? new Uint16Array([f32ToF16Bits(v)]) : new Float32Array([v])));
    return name;
  };
  const eps = 1e-5;
  inits.push(makeTensor('/axes_last', TensorDataType.INT64, [1], new BigInt64Array([-1n])));

  nodes.push(makeNode('Gather', [weight('model.embed_tokens.weight', [V, d], 2), 'input_ids'], ['/model/embed_tokens/Gather_output_0'], '/model/embed_tokens/Gather', [attrInt('axis', 0)]));
  let r = '/model/embed_tokens/Gather_output_0';

  const linear = (scope: string, x: string, din: number, dout: number, tag: string): string => {
    const out = `${scope}/${tag}/MatMul_output_0`;
    nodes.push(makeNode('MatMul', [x, weight(`${scope}.${tag}.weight`, [din, dout], 1 / Math.sqrt(din))], [out], `${scope}/${tag}/MatMul`));
    return out;
  };
  const mlp = (scope: string, x: string): string => {
    const h = linear(scope, x, d, 2 * d, 'up_proj');
    nodes.push(makeNode('Relu', [h], [`${scope}/Relu_output_0`], `${scope}/Relu`));
    return linear(scope, `${scope}/Relu_output_0`, 2 * d, d, 'down_proj');
  };
  const attn = (scope: string, x: string): string => linear(scope, x, d, d, 'o_proj');

  if (o.style === 'optimum') {
    scalar('/eps', eps);
    scalar('/two', 2);
    scalar('/one', 1);
    const rms = (scope: string, x: string, w: string): string => {
      const p = (k: string) => `${scope}/${k}`;
      nodes.push(
        makeNode('Pow', [x, '/two'], [p('Pow_output_0')], p('Pow')),
        makeNode('ReduceMean', [p('Pow_output_0'), '/axes_last'], [p('ReduceMean_output_0')], p('ReduceMean'), [attrInt('keepdims', 1)]),
        makeNode('Add', [p('ReduceMean_output_0'), '/eps'], [p('Add_output_0')], p('Add')),
        makeNode('Sqrt', [p('Add_output_0')], [p('Sqrt_output_0')], p('Sqrt')),
        makeNode('Div', ['/one', p('Sqrt_output_0')], [p('Div_output_0')], p('Div')),
        makeNode('Mul', [x, p('Div_output_0')], [p('Mul_output_0')], p('Mul')),
        makeNode('Mul', [w, p('Mul_output_0')], [p('Mul_1_output_0')], p('Mul_1')),
      );
      return p('Mul_1_output_0');
    };
    for (let i = 0; i < L; i++) {
      const s = `/model/layers.${i}`;
      const a = attn(`${s}/self_attn`, rms(`${s}/input_layernorm`, r, weight(`${s}.in_norm`, [d], 0.2, 1)));
      nodes.push(makeNode('Add', [r, a], [`${s}/Add_output_0`], `${s}/Add`));
      const m = mlp(`${s}/mlp`, rms(`${s}/post_attention_layernorm`, `${s}/Add_output_0`, weight(`${s}.post_norm`, [d], 0.2, 1)));
      nodes.push(makeNode('Add', [`${s}/Add_output_0`, m], [`${s}/Add_1_output_0`], `${s}/Add_1`));
      r = `${s}/Add_1_output_0`;
    }
    const f = rms('/model/norm', r, weight('model.norm.weight', [d], 0.2, 1));
    nodes.push(makeNode('MatMul', [f, weight('lm_head.weight', [d, V], 1 / Math.sqrt(d))], ['logits'], '/lm_head/MatMul'));
  } else {
    const ln = (name: string, x: string, w: string, out: string): void => {
      nodes.push(makeNode('SimplifiedLayerNormalization', [x, w], [out], name, [attrInt('axis', -1), attrFloat('epsilon', eps), attrInt('stash_type', 1)]));
    };
    const skip = (name: string, x: string, res: string, w: string, out: string, sum: string | undefined): void => {
      nodes.push(makeNode('SkipSimplifiedLayerNormalization', [x, res, w], sum ? [out, '', '', sum] : [out], name, [attrFloat('epsilon', eps)], 'com.microsoft'));
    };
    let normed = '/model/layers.0/input_layernorm/output_0';
    ln('/model/layers.0/input_layernorm/LayerNorm', r, weight('/model/layers.0.in_norm', [d], 0.2, 1), normed);
    for (let i = 0; i < L; i++) {
      const s = `/model/layers.${i}`;
      const a = attn(`${s}/attn`, normed);
      const mid = `${s}/post_attention_layernorm/output_3`;
      skip(`${s}/post_attention_layernorm/SkipLayerNorm`, a, r, weight(`${s}.post_norm`, [d], 0.2, 1), `${s}/post_attention_layernorm/output_0`, mid);
      const m = mlp(`${s}/mlp`, `${s}/post_attention_layernorm/output_0`);
      const last = i === L - 1;
      const n = last ? `/model/layers.${L}/final_norm_layernorm` : `/model/layers.${i + 1}/input_layernorm`;
      normed = `${n}/output_0`;
      r = `${n}/output_3`;
      skip(`${n}/SkipLayerNorm`, m, mid, weight(`${n}.weight`, [d], 0.2, 1), normed, last ? undefined : r);
    }
    nodes.push(makeNode('MatMul', [normed, weight('lm_head.weight', [d, V], 1 / Math.sqrt(d))], ['logits'], '/lm_head/MatMul'));
  }
  return encodeModel({
    ir_version: 8,
    opset_import: [{ domain: '', version: 18 }, { domain: 'com.microsoft', version: 1 }],
    producer_name: 'persona-space-toy',
    graph: {
      name: 'toy',
      node: nodes,
      initializer: inits,
      input: [makeValueInfo('input_ids', TensorDataType.INT64, ['batch_size', 'sequence_length'])],
      output: [makeValueInfo('logits', T, ['batch_size', 'sequence_length', V])],
      value_info: [],
    },
  });
}
