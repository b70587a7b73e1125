/**
 * Pieces both export styles share: the graph's inputs/outputs (as transformers.js expects them),
 * linear layers (MatMul on a transposed weight, or MatMulNBits for 4-bit), the embedding and lm_head.
 */
import { f16BitsToF32, numel } from '../../tensor';
import { checkpointSpec, lmHeadName, tensorF32, type Checkpoint } from '../checkpoint';
import type { DecoderConfig } from '../config';
import { attrInt, makeValueInfo, TensorDataType } from '../../onnx/proto';
import { type GraphBuilder } from './graph';
import { f32ToF16Array, quantizeQ4, quantizeQ8, transpose, f32ToF16Bits } from './weights';

export type ExportStyle = 'genai' | 'optimum';
/**
 * fp32 / fp16: plain MatMul; q4 / q4f16: 4-bit com.microsoft.MatMulNBits (block 32); q8 / int8 /
 * uint8: the hub's `_quantized` / `_int8` / `_uint8` shape (onnxruntime dynamic quantisation as
 * transformers.js' conversion script runs it: DynamicQuantizeLinear + MatMulInteger on per-tensor
 * weights, the embedding table quantised the same way and read by Gather + DequantizeLinear).
 * q8 and int8 are the same graph (symmetric int8 weights, what `_quantized` holds for models without
 * Conv); uint8 has asymmetric uint8 weights.
 */
export type ModelDType = 'fp32' | 'fp16' | 'q4' | 'q4f16' | 'q8' | 'int8' | 'uint8';
export const MODEL_DTYPES: readonly ModelDType[] = ['fp32', 'fp16', 'q4', 'q4f16', 'q8', 'int8', 'uint8'];

export interface EmitContext {
  g: GraphBuilder;
  ck: Checkpoint;
  cfg: DecoderConfig;
  dtype: ModelDType;
  blockSize: number;
  accuracyLevel: number;
  /** HF tensor name -> shape, from the config (no tensor is read to learn a shape). */
  shapes: Map<string, number[]>;
  /** Reused float32 buffer for weights that are only read while converting (grown on demand). */
  scratch: Float32Array;
  /** q4/q4f16: embedding table as 4-bit com.microsoft.GatherBlockQuantized instead of Gather. */
  quantizeEmbeddings: boolean;
}

export function makeContext(g: GraphBuilder, ck: Checkpoint, dtype: ModelDType, blockSize: number, accuracyLevel: number, quantizeEmbeddings = false): EmitContext {
  const shapes = new Map(checkpointSpec(ck.config).map((s) => [s.name, s.shape]));
  return { g, ck, cfg: ck.config, dtype, blockSize, accuracyLevel, shapes, scratch: new Float32Array(0), quantizeEmbeddings };
}

function shapeOf(ctx: EmitContext, name: string): number[] {
  return ctx.shapes.get(name) ?? ctx.ck.tensor(name).shape;
}

/** A weight as float32 in the reused scratch buffer: valid only until the next call. */
function scratchF32(ctx: EmitContext, name: string): Float32Array {
  const n = numel(shapeOf(ctx, name));
  if (ctx.scratch.length < n) ctx.scratch = new Float32Array(n);
  return tensorF32(ctx.ck, name, ctx.scratch.subarray(0, n));
}

export const isQ4 = (d: ModelDType) => d === 'q4' || d === 'q4f16';
export const isQ8 = (d: ModelDType) => d === 'q8' || d === 'int8' || d === 'uint8';
export const actOf = (d: ModelDType) => (d === 'fp16' || d === 'q4f16' ? 'float16' : 'float32') as 'float16' | 'float32';

/** A weight as a fresh float32 array (safe to keep as an initializer). */
export function f32(ctx: EmitContext, name: string): Float32Array {
  return tensorF32(ctx.ck, name, new Float32Array(numel(shapeOf(ctx, name))));
}

/** Graph inputs and outputs shared by both styles (names and dims as transformers.js exports use). */
export function declareIO(ctx: EmitContext): void {
  const { g, cfg } = ctx;
  const act = g.actType;
  g.inputs.push(makeValueInfo('input_ids', TensorDataType.INT64, ['batch_size', 'sequence_length']));
  g.inputs.push(makeValueInfo('attention_mask', TensorDataType.INT64, ['batch_size', 'total_sequence_length']));
  g.inputs.push(makeValueInfo('position_ids', TensorDataType.INT64, ['batch_size', 'sequence_length']));
  for (let i = 0; i < cfg.numLayers; i++) {
    for (const kv of ['key', 'value']) {
      g.inputs.push(makeValueInfo(`past_key_values.${i}.${kv}`, act, ['batch_size', cfg.numKvHeads, 'past_sequence_length', cfg.headDim]));
    }
  }
  g.outputs.push(makeValueInfo('logits', act, ['batch_size', 'sequence_length', cfg.vocabSize]));
  for (let i = 0; i < cfg.numLayers; i++) {
    for (const kv of ['key', 'value']) {
      g.outputs.push(makeValueInfo(`present.${i}.${kv}`, act, ['batch_size', cfg.numKvHeads, 'total_sequence_length', cfg.headDim]));
    }
  }
}

/**
 * y = x . W^T (+ b) for an HF Linear weight W [N, K]; the node is `<scope>/MatMul` (or
 * `<scope>/MatMulNBits`), the bias `<scope>/Add`. Reads and converts one tensor at a time.
 */
export function emitLinear(ctx: EmitContext, scope: string, x: string, weightName: string, biasName?: string, output?: string): string {
  const { g } = ctx;
  const [N, K] = shapeOf(ctx, weightName);
  const w = scratchF32(ctx, weightName);
  const base = scope.replace(/^\//, '').replace(/\//g, '.');
  const outs = biasName || !output ? undefined : [output];
  let y: string;
  if (isQ4(ctx.dtype)) {
    const f16 = ctx.dtype === 'q4f16';
    const q = quantizeQ4(w, N, K, ctx.blockSize, f16 ? (s) => f16BitsToF32(f32ToF16Bits(s)) : undefined);
    const B = g.init(`${base}.MatMulNBits.weight_Q4`, TensorDataType.UINT8, [N, q.kBlocks, ctx.blockSize / 2], q.packed);
    const S = f16
      ? g.init(`${base}.MatMulNBits.scales`, TensorDataType.FLOAT16, [N * q.kBlocks], f32ToF16Array(q.scales))
      : g.init(`${base}.MatMulNBits.scales`, TensorDataType.FLOAT, [N * q.kBlocks], q.scales);
    const Z = g.init(`${base}.MatMulNBits.zero_points`, TensorDataType.UINT8, [N * Math.ceil(q.kBlocks / 2)], q.zeroPoints);
    const attrs = [attrInt('K', K), attrInt('N', N), attrInt('bits', 4), attrInt('block_size', ctx.blockSize)];
    if (ctx.accuracyLevel) attrs.push(attrInt('accuracy_level', ctx.accuracyLevel));
    y = g.op1(scope, 'MatMulNBits', [x, B, S, Z], { domain: 'com.microsoft', attrs, outputs: outs });
  } else if (isQ8(ctx.dtype)) {
    y = emitMatMulInteger(ctx, scope, base, x, w, N, K, outs);
  } else {
    const W = g.initAct(`${base}.MatMul.weight`, [K, N], transpose(w, N, K));
    y = g.op1(scope, 'MatMul', [x, W], { outputs: outs });
  }
  if (biasName) {
    const b = g.initAct(`${base}.Add.bias`, [N], f32(ctx, biasName));
    y = g.op1(scope, 'Add', [y, b], { outputs: output ? [output] : undefined });
  }
  return y;
}

/**
 * y = x . W^T in Optimum's dynamic-quantisation shape: DynamicQuantizeLinear(x) -> (xq uint8, xs, xz);
 * MatMulInteger(xq, Wq, xz, wz) -> int32; Cast to float; Mul by xs * ws. onnxruntime fuses the chain
 * into DynamicQuantizeMatMul / MatMulIntegerToFloat at load.
 */
function emitMatMulInteger(ctx: EmitContext, scope: string, base: string, x: string, w: Float32Array, N: number, K: number, outs?: string[]): string {
  const { g } = ctx;
  const signed = ctx.dtype !== 'uint8';
  const q = quantizeQ8(w, N, K, signed);
  const T = signed ? TensorDataType.INT8 : TensorDataType.UINT8;
  const Wq = g.init(`${base}.MatMul.weight_quantized`, T, [K, N], q.codes);
  const Ws = g.init(`${base}.MatMul.weight_scale`, TensorDataType.FLOAT, [], new Float32Array([q.scale]));
  const Wz = g.init(`${base}.MatMul.weight_zero_point`, T, [], signed ? new Int8Array([q.zeroPoint]) : new Uint8Array([q.zeroPoint]));
  const [xq, xs, xz] = g.op(scope, 'DynamicQuantizeLinear', [x], { outputs: 3 });
  const yi = g.op1(scope, 'MatMulInteger', [xq, Wq, xz, Wz]);
  const yf = g.op1(scope, 'Cast', [yi], { attrs: [attrInt('to', TensorDataType.FLOAT)] });
  const s = g.op1(scope, 'Mul', [xs, Ws]);
  return g.op1(scope, 'Mul', [yf, s], { outputs: outs });
}

/**
 * Gather(embed_tokens, input_ids): `/model/embed_tokens/Gather`; or, for 4-bit models asked to,
 * `/model/embed_tokens/GatherBlockQuantized` over the table in MatMulNBits' layout (rows = tokens,
 * 4-bit codes along the hidden axis, a scale and zero point per block).
 */
export function emitEmbedding(ctx: EmitContext): string {
  const { g, cfg } = ctx;
  const name = 'model.embed_tokens.weight';
  const V = cfg.vocabSize, d = cfg.hiddenSize;
  if (ctx.quantizeEmbeddings && isQ4(ctx.dtype) && d % ctx.blockSize === 0) {
    const f16 = ctx.dtype === 'q4f16';
    const q = quantizeQ4(scratchF32(ctx, name), V, d, ctx.blockSize, f16 ? (s) => f16BitsToF32(f32ToF16Bits(s)) : undefined);
    const data = g.init(`${name}_Q4`, TensorDataType.UINT8, [V, d / 2], q.packed);
    const scales = f16
      ? g.init(`${name}_scales`, TensorDataType.FLOAT16, [V, q.kBlocks], f32ToF16Array(q.scales))
      : g.init(`${name}_scales`, TensorDataType.FLOAT, [V, q.kBlocks], q.scales);
    const zp = g.init(`${name}_zero_points`, TensorDataType.UINT8, [V, Math.ceil(q.kBlocks / 2)], q.zeroPoints);
    return g.op1('/model/embed_tokens', 'GatherBlockQuantized', [data, 'input_ids', scales, zp], {
      domain: 'com.microsoft',
      attrs: [attrInt('gather_axis', 0), attrInt('quantize_axis', 1), attrInt('block_size', ctx.blockSize), attrInt('bits', 4)],
    });
  }
  if (isQ8(ctx.dtype)) {
    // as onnxruntime's GatherQuant writes it: an 8-bit table (per-tensor), gathered, then dequantised
    const signed = ctx.dtype !== 'uint8';
    const T = signed ? TensorDataType.INT8 : TensorDataType.UINT8;
    const q = quantizeQ8(scratchF32(ctx, name), V, d, signed, false);
    const data = g.init(`${name}_quantized`, T, [V, d], q.codes);
    const s = g.init(`${name}_scale`, TensorDataType.FLOAT, [], new Float32Array([q.scale]));
    const z = g.init(`${name}_zero_point`, T, [], signed ? new Int8Array([q.zeroPoint]) : new Uint8Array([q.zeroPoint]));
    const gathered = g.op1('/model/embed_tokens', 'Gather', [data, 'input_ids']);
    return g.op1('/model/embed_tokens', 'DequantizeLinear', [gathered, s, z]);
  }
  const E = g.initAct(name, [V, d], f32(ctx, name));
  return g.op1('/model/embed_tokens', 'Gather', [E, 'input_ids']);
}

/** The lm_head projection writing graph output `logits`. */
export function emitLmHead(ctx: EmitContext, x: string): void {
  emitLinear(ctx, '/lm_head', x, lmHeadName(ctx.cfg), undefined, 'logits');
}

/** Attention's output projection of layer `layer`, node scope `<attnScope>/o_proj`. */
export function emitOProj(ctx: EmitContext, attnScope: string, layer: number, x: string): string {
  const w = `model.layers.${layer}.self_attn.o_proj.weight`;
  return emitLinear(ctx, `${attnScope}/o_proj`, x, w, biasOf(ctx, w, ctx.cfg.oBias));
}

/**
 * The SwiGLU MLP of layer `layer` under `/model/layers.{layer}/mlp` (both styles spell it the
 * same way): down(silu(gate(x)) * up(x)), SiLU as x * Sigmoid(x). Returns the down projection.
 */
export function emitMlp(ctx: EmitContext, layer: number, x: string): string {
  const { g } = ctx;
  const M = `/model/layers.${layer}/mlp`;
  const lin = (n: string, input: string) => {
    const w = `model.layers.${layer}.mlp.${n}.weight`;
    return emitLinear(ctx, `${M}/${n}`, input, w, biasOf(ctx, w, ctx.cfg.mlpBias));
  };
  const gate = lin('gate_proj', x);
  const up = lin('up_proj', x);
  const act = g.op1(`${M}/act_fn`, 'Mul', [gate, g.op1(`${M}/act_fn`, 'Sigmoid', [gate])]);
  return lin('down_proj', g.op1(M, 'Mul', [act, up]));
}

/** Bias names present for a projection (undefined when the config has none). */
export function biasOf(ctx: EmitContext, weightName: string, has: boolean): string | undefined {
  if (!has) return undefined;
  const b = weightName.replace(/\.weight$/, '.bias');
  return ctx.ck.has(b) ? b : undefined;
}
