/**
 * The Optimum / torch.onnx export style: plain ONNX ops only.
 *
 * - RMSNorm spelled out: Pow, ReduceMean, Add(eps), Sqrt, Div(1, .), Mul, Mul(weight) — in float32
 *   (fp16 models Cast around it, as HF's LlamaRMSNorm computes in float32);
 * - per layer i, the residual adds are the nodes `/model/layers.{i}/Add` (after attention,
 *   output `/model/layers.{i}/Add_output_0` = resid_mid[i]) and `/model/layers.{i}/Add_1` (after the
 *   MLP, output `/model/layers.{i}/Add_1_output_0` = resid_post[i]); no other node sits in those scopes
 *   with those op types;
 * - attention: RoPE from position_ids (cos/sin computed in-graph), KV cache by Concat on axis 2,
 *   repeat_kv by Tile, MatMul/Softmax, causal + padding mask from attention_mask (a key j is visible
 *   to query i when attention_mask[j] = 1 and j <= past_length + i).
 */
import { ropeInvFreq } from '../config';
import { attrInt, attrInts, TensorDataType } from '../../onnx/proto';
import { biasOf, declareIO, emitEmbedding, emitLinear, emitLmHead, emitMlp, emitOProj, f32, type EmitContext } from './common';

const INT64_MAX = 2 ** 63; // encoded exactly as INT64_MAX by proto.ts

/** RMSNorm over the last axis; `weightName` from the checkpoint. */
function rmsNorm(ctx: EmitContext, scope: string, x: string, weightName: string, dims: number[]): string {
  const { g, cfg } = ctx;
  const fp16 = g.act === 'float16';
  const xf = fp16 ? g.op1(scope, 'Cast', [x], { attrs: [attrInt('to', TensorDataType.FLOAT)] }) : x;
  const sq = g.op1(scope, 'Pow', [xf, g.fconst([2], [], true)]);
  const mean = g.op1(scope, 'ReduceMean', [sq], { attrs: [attrInts('axes', [-1]), attrInt('keepdims', 1)] });
  const ve = g.op1(scope, 'Add', [mean, g.fconst([cfg.rmsNormEps], [], true)]);
  const sd = g.op1(scope, 'Sqrt', [ve]);
  const inv = g.op1(scope, 'Div', [g.fconst([1], [], true), sd]);
  let xn = g.op1(scope, 'Mul', [xf, inv]);
  if (fp16) xn = g.op1(scope, 'Cast', [xn], { attrs: [attrInt('to', TensorDataType.FLOAT16)] });
  const w = g.initAct(weightName, dims, f32(ctx, weightName));
  return g.op1(scope, 'Mul', [w, xn]);
}

/** x * cos + rotate_half(x) * sin on [b, heads, s, hd]. */
function applyRope(ctx: EmitContext, scope: string, x: string, cos: string, sin: string): string {
  const { g, cfg } = ctx;
  const half = cfg.headDim / 2;
  const x1 = g.op1(scope, 'Slice', [x, g.i64([0]), g.i64([half]), g.i64([-1])]);
  const x2 = g.op1(scope, 'Slice', [x, g.i64([half]), g.i64([INT64_MAX]), g.i64([-1])]);
  const rot = g.op1(scope, 'Concat', [g.op1(scope, 'Neg', [x2]), x1], { attrs: [attrInt('axis', -1)] });
  return g.op1(scope, 'Add', [g.op1(scope, 'Mul', [x, cos]), g.op1(scope, 'Mul', [rot, sin])]);
}

export function buildOptimumGraph(ctx: EmitContext): void {
  const { g, cfg } = ctx;
  const H = cfg.numHeads, KV = cfg.numKvHeads, hd = cfg.headDim, d = cfg.hiddenSize;
  const nRep = H / KV;
  const fp16 = g.act === 'float16';
  declareIO(ctx);

  // --- rotary cos/sin [b, 1, s, hd] from position_ids (float32, like HF's rotary_emb) ---
  const rs = '/model/rotary_emb';
  const inv = ropeInvFreq(cfg);
  const invName = g.init('/model/rotary_emb/inv_freq', TensorDataType.FLOAT, [hd / 2], Float32Array.from(inv));
  const posF = g.op1(rs, 'Cast', ['position_ids'], { attrs: [attrInt('to', TensorDataType.FLOAT)] });
  const posU = g.op1(rs, 'Unsqueeze', [posF, g.i64([2])]);
  const freqs = g.op1(rs, 'Mul', [posU, invName]);
  const emb = g.op1(rs, 'Concat', [freqs, freqs], { attrs: [attrInt('axis', -1)] });
  let cos = g.op1(rs, 'Cos', [emb]);
  let sin = g.op1(rs, 'Sin', [emb]);
  if (fp16) {
    cos = g.op1(rs, 'Cast', [cos], { attrs: [attrInt('to', TensorDataType.FLOAT16)] });
    sin = g.op1(rs, 'Cast', [sin], { attrs: [attrInt('to', TensorDataType.FLOAT16)] });
  }
  cos = g.op1(rs, 'Unsqueeze', [cos, g.i64([1])]);
  sin = g.op1(rs, 'Unsqueeze', [sin, g.i64([1])]);

  // --- attention mask [b, 1, s, T] (bool: visible) ---
  const ms = '/model/attn_mask';
  const one = g.i64([1], []);
  const seqLen = g.op1(ms, 'Gather', [g.op1(ms, 'Shape', ['input_ids']), one], { attrs: [attrInt('axis', 0)] });
  const total = g.op1(ms, 'Gather', [g.op1(ms, 'Shape', ['attention_mask']), one], { attrs: [attrInt('axis', 0)] });
  const past = g.op1(ms, 'Sub', [total, seqLen]);
  const kIdx = g.op1(ms, 'Range', [g.i64([0], []), total, one]);
  const qIdx = g.op1(ms, 'Range', [past, total, one]);
  const causal = g.op1(ms, 'LessOrEqual', [g.op1(ms, 'Unsqueeze', [kIdx, g.i64([0])]), g.op1(ms, 'Unsqueeze', [qIdx, g.i64([1])])]);
  const padB = g.op1(ms, 'Cast', ['attention_mask'], { attrs: [attrInt('to', TensorDataType.BOOL)] });
  const pad = g.op1(ms, 'Unsqueeze', [padB, g.i64([1, 2])]);
  const visible = g.op1(ms, 'And', [causal, pad]);
  const negFill = g.fconst([-3.4028234663852886e38], [], true);

  let h = emitEmbedding(ctx);
  for (let i = 0; i < cfg.numLayers; i++) {
    const L = `/model/layers.${i}`;
    const p = `model.layers.${i}.`;
    const xn = rmsNorm(ctx, `${L}/input_layernorm`, h, p + 'input_layernorm.weight', [d]);

    const A = `${L}/self_attn`;
    const proj = (name: string, heads: number, norm?: string) => {
      const w = `${p}self_attn.${name}_proj.weight`;
      const y = emitLinear(ctx, `${A}/${name}_proj`, xn, w, biasOf(ctx, w, ctx.cfg.qkvBias));
      let y4 = g.op1(A, 'Reshape', [y, g.i64([0, 0, heads, hd])]);
      if (norm) y4 = rmsNorm(ctx, `${A}/${name}_norm`, y4, `${p}self_attn.${norm}.weight`, [hd]);
      return g.op1(A, 'Transpose', [y4], { attrs: [attrInts('perm', [0, 2, 1, 3])] });
    };
    const q = applyRope(ctx, `${A}/rope_q`, proj('q', H, cfg.qkNorm ? 'q_norm' : undefined), cos, sin);
    const k = applyRope(ctx, `${A}/rope_k`, proj('k', KV, cfg.qkNorm ? 'k_norm' : undefined), cos, sin);
    const v = proj('v', KV);
    const presentK = g.op1(A, 'Concat', [`past_key_values.${i}.key`, k], { attrs: [attrInt('axis', 2)], outputs: [`present.${i}.key`] });
    const presentV = g.op1(A, 'Concat', [`past_key_values.${i}.value`, v], { attrs: [attrInt('axis', 2)], outputs: [`present.${i}.value`] });
    const repeat = (t: string) => {
      if (nRep === 1) return t;
      const u = g.op1(A, 'Unsqueeze', [t, g.i64([2])]);
      const tiled = g.op1(A, 'Tile', [u, g.i64([1, 1, nRep, 1, 1])]);
      return g.op1(A, 'Reshape', [tiled, g.i64([0, H, -1, hd])]);
    };
    const kr = repeat(presentK), vr = repeat(presentV);
    const kT = g.op1(A, 'Transpose', [kr], { attrs: [attrInts('perm', [0, 1, 3, 2])] });
    let scores = g.op1(A, 'MatMul', [q, kT]);
    // softmax in float32, as HF does
    if (fp16) scores = g.op1(A, 'Cast', [scores], { attrs: [attrInt('to', TensorDataType.FLOAT)] });
    scores = g.op1(A, 'Mul', [scores, g.fconst([1 / Math.sqrt(hd)], [], true)]);
    const masked = g.op1(A, 'Where', [visible, scores, negFill]);
    let probs = g.op1(A, 'Softmax', [masked], { attrs: [attrInt('axis', -1)] });
    if (fp16) probs = g.op1(A, 'Cast', [probs], { attrs: [attrInt('to', TensorDataType.FLOAT16)] });
    const ctxv = g.op1(A, 'MatMul', [probs, vr]);
    const merged = g.op1(A, 'Reshape', [g.op1(A, 'Transpose', [ctxv], { attrs: [attrInts('perm', [0, 2, 1, 3])] }), g.i64([0, 0, H * hd])]);
    const o = emitOProj(ctx, A, i, merged);
    const mid = g.op1(L, 'Add', [h, o]); // /model/layers.{i}/Add_output_0 = resid_mid[i]

    const x2 = rmsNorm(ctx, `${L}/post_attention_layernorm`, mid, p + 'post_attention_layernorm.weight', [d]);
    const down = emitMlp(ctx, i, x2);
    h = g.op1(L, 'Add', [mid, down]); // /model/layers.{i}/Add_1_output_0 = resid_post[i]
  }
  const hn = rmsNorm(ctx, '/model/norm', h, 'model.norm.weight', [d]);
  emitLmHead(ctx, hn);
}

