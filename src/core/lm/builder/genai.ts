/**
 * The onnxruntime-genai model-builder style: fused contrib ops.
 *
 * - layer 0 opens with `SimplifiedLayerNormalization` (`/model/layers.0/input_layernorm/LayerNorm`);
 *   every later norm is `com.microsoft.SkipSimplifiedLayerNormalization(input, skip, gamma)` with
 *   outputs [`<node>/output_0`, '', '', `<node>/output_3`], output 3 being input + skip (the residual):
 *     `/model/layers.{i}/post_attention_layernorm/SkipLayerNorm` output 3 = resid_mid[i]
 *     `/model/layers.{i+1}/input_layernorm/SkipLayerNorm`   output 3 = resid_post[i]
 *     `/model/layers.{N}/final_norm_layernorm/SkipLayerNorm` has only output 0, so resid_post[N-1]
 *     is not a graph value until an instrumenter adds output 3;
 * - RoPE by `com.microsoft.RotaryEmbedding` (position_ids + cos/sin caches, rotate-half), then
 *   `com.microsoft.GroupQueryAttention` (do_rotary=0) fed seqlens_k = sum(attention_mask) - 1 and
 *   total_sequence_length = attention_mask.shape[1], both int32 and computed in-graph.
 *   GroupQueryAttention assumes right padding (or none): batches with left padding are not supported.
 * - linear layers: MatMul, or com.microsoft.MatMulNBits for q4/q4f16.
 */
import { ropeInvFreq } from '../config';
import { attrFloat, attrInt, TensorDataType } from '../../onnx/proto';
import { biasOf, declareIO, emitEmbedding, emitLinear, emitLmHead, emitMlp, emitOProj, f32, type EmitContext } from './common';

export function buildGenaiGraph(ctx: EmitContext, contextLength: number): void {
  const { g, cfg } = ctx;
  const H = cfg.numHeads, KV = cfg.numKvHeads, hd = cfg.headDim, d = cfg.hiddenSize;
  const eps = cfg.rmsNormEps;
  declareIO(ctx);

  // --- rotary caches [contextLength, hd/2] ---
  const inv = ropeInvFreq(cfg);
  const half = hd / 2;
  const cosC = new Float32Array(contextLength * half);
  const sinC = new Float32Array(contextLength * half);
  for (let p = 0; p < contextLength; p++) {
    for (let i = 0; i < half; i++) {
      // the angle in float32, as HF computes it (inv_freq and positions are float32 there)
      const ang = Math.fround(p * Math.fround(inv[i]));
      cosC[p * half + i] = Math.cos(ang);
      sinC[p * half + i] = Math.sin(ang);
    }
  }
  const cosCache = g.initAct('cos_cache', [contextLength, half], cosC);
  const sinCache = g.initAct('sin_cache', [contextLength, half], sinC);

  // --- seqlens_k and total_sequence_length from attention_mask ---
  const ms = '/model/attn_mask_reformat/attn_mask_subgraph';
  const rsum = g.op1(ms, 'ReduceSum', ['attention_mask', g.i64([1])], { attrs: [attrInt('keepdims', 0)] });
  const seqlensK = g.op1(ms, 'Cast', [g.op1(ms, 'Sub', [rsum, g.i64([1], [])])], { attrs: [attrInt('to', TensorDataType.INT32)] });
  const totalLen64 = g.op1(ms, 'Gather', [g.op1(ms, 'Shape', ['attention_mask']), g.i64([1], [])], { attrs: [attrInt('axis', 0)] });
  const totalLen = g.op1(ms, 'Cast', [totalLen64], { attrs: [attrInt('to', TensorDataType.INT32)] });

  const norm = (scope: string, weightName: string, dims: number[], input: string, skip?: string, withResidual = true): [string, string] => {
    const w = g.initAct(weightName, dims, f32(ctx, weightName));
    if (!skip) {
      const name = `${scope}/LayerNorm`;
      const out = g.op1(scope, 'SimplifiedLayerNormalization', [input, w], {
        name,
        outputs: [`${name}/output_0`],
        attrs: [attrInt('axis', -1), attrFloat('epsilon', eps), attrInt('stash_type', 1)],
      });
      return [out, input];
    }
    const name = `${scope}/SkipLayerNorm`;
    const outs = g.op(scope, 'SkipSimplifiedLayerNormalization', [input, skip, w], {
      name,
      domain: 'com.microsoft',
      outputs: withResidual ? [`${name}/output_0`, '', '', `${name}/output_3`] : [`${name}/output_0`],
      attrs: [attrFloat('epsilon', eps)],
    });
    return [outs[0], outs[3] ?? ''];
  };

  const emb = emitEmbedding(ctx);
  let mlpOut = '';
  let residual = emb;
  for (let i = 0; i < cfg.numLayers; i++) {
    const L = `/model/layers.${i}`;
    const p = `model.layers.${i}.`;
    const [xn, res] = i === 0
      ? norm(`${L}/input_layernorm`, p + 'input_layernorm.weight', [d], emb)
      : norm(`${L}/input_layernorm`, p + 'input_layernorm.weight', [d], mlpOut, residual);
    residual = res;

    const A = `${L}/attn`;
    const proj = (n: 'q' | 'k' | 'v') => {
      const w = `${p}self_attn.${n}_proj.weight`;
      return emitLinear(ctx, `${A}/${n}_proj`, xn, w, biasOf(ctx, w, cfg.qkvBias));
    };
    let q = proj('q'), k = proj('k');
    const v = proj('v');
    if (cfg.qkNorm) {
      const headNorm = (x: string, n: 'q' | 'k', heads: number) => {
        const S = `${A}/${n}_norm`;
        const r = g.op1(S, 'Reshape', [x, g.i64([0, 0, heads, hd])]);
        const wn = `${p}self_attn.${n}_norm.weight`;
        const out = g.op1(S, 'SimplifiedLayerNormalization', [r, g.initAct(wn, [hd], f32(ctx, wn))], {
          attrs: [attrInt('axis', -1), attrFloat('epsilon', eps), attrInt('stash_type', 1)],
        });
        return g.op1(S, 'Reshape', [out, g.i64([0, 0, heads * hd])]);
      };
      q = headNorm(q, 'q', H);
      k = headNorm(k, 'k', KV);
    }
    const rope = (x: string, n: 'q' | 'k') =>
      g.op1(`${A}/${n}_rotary`, 'RotaryEmbedding', [x, 'position_ids', cosCache, sinCache], {
        domain: 'com.microsoft',
        attrs: [attrInt('interleaved', 0)],
      });
    q = rope(q, 'q');
    k = rope(k, 'k');
    const gqaName = `${A}/GroupQueryAttention`;
    const [attn] = g.op(A, 'GroupQueryAttention', [q, k, v, `past_key_values.${i}.key`, `past_key_values.${i}.value`, seqlensK, totalLen], {
      name: gqaName,
      domain: 'com.microsoft',
      outputs: [`${gqaName}/output_0`, `present.${i}.key`, `present.${i}.value`],
      attrs: [attrInt('num_heads', H), attrInt('kv_num_heads', KV), attrFloat('scale', 1 / Math.sqrt(hd)), attrInt('local_window_size', -1), attrInt('do_rotary', 0)],
    });
    const o = emitOProj(ctx, A, i, attn);

    const [x2, mid] = norm(`${L}/post_attention_layernorm`, p + 'post_attention_layernorm.weight', [d], o, residual);
    residual = mid;
    mlpOut = emitMlp(ctx, i, x2);
  }
  const [hn] = norm(`/model/layers.${cfg.numLayers}/final_norm_layernorm`, 'model.norm.weight', [d], mlpOut, residual, false);
  emitLmHead(ctx, hn);
}
