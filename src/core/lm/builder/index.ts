/**
 * Build an ONNX decoder (transformers.js-compatible inputs/outputs) from an HF-style checkpoint,
 * in either export style found in the wild (see FORMATS.md section 5):
 *
 *   buildDecoder(checkpoint, { style: 'genai' | 'optimum', dtype: 'fp32' | 'fp16' | 'q4' | 'q4f16' | 'q8' | 'int8' | 'uint8' })
 *     -> { onnx, externalData?, fileName, externalDataName? }
 *
 * Weights are read from the checkpoint one tensor at a time and converted (transposed, rounded to
 * fp16 or 4-bit quantised) into the graph; the result holds the converted weights once plus the
 * encoded bytes.
 */
import type { Checkpoint } from '../checkpoint';
import { DataError } from '../../errors';
import { encodeModel, encodeModelChunks, type ModelProto } from '../../onnx/proto';
import { actOf, isQ8, makeContext, MODEL_DTYPES, type ExportStyle, type ModelDType } from './common';
import { GraphBuilder } from './graph';
import { buildGenaiGraph } from './genai';
import { buildOptimumGraph } from './optimum';

export type { ExportStyle, ModelDType } from './common';
export { MODEL_DTYPES } from './common';
export { quantizeQ4, dequantizeQ4, quantizeQ8, dequantizeQ8, f32ToF16Bits, f32ToF16Array, transpose } from './weights';

export interface BuildOptions {
  style: ExportStyle;
  dtype: ModelDType;
  /**
   * Put weights of >= 1 KiB into a side file (`<file>_data`). 'auto' (default) does so only when the
   * weights would push the .onnx file past 1.8 GB (protobuf's 2 GB limit).
   */
  externalData?: boolean | 'auto';
  /** MatMulNBits block size (default 32). */
  blockSize?: number;
  /**
   * MatMulNBits accuracy_level (0 = compute in the activation type; 4 = int8 compute, faster on CPU).
   * Default 4 for q4 and 0 for q4f16 (onnxruntime's CPU int8 path was seen to lose accuracy with fp16
   * activations in the optimum-style graph).
   */
  accuracyLevel?: number;
  /**
   * q4/q4f16 only: store the embedding table 4-bit too, read by com.microsoft.GatherBlockQuantized
   * (as onnxruntime-genai does for int4 models); cuts a Qwen3-0.6B-shaped q4 file by ~0.5 GB. Default false.
   */
  quantizeEmbeddings?: boolean;
  /** genai style: rows of the rotary cos/sin caches (default min(max_position_embeddings, 32768)). */
  contextLength?: number;
}

export interface BuiltDecoder {
  onnx: Uint8Array;
  /** Present when weights were written as external data; save it as `externalDataName` beside the .onnx. */
  externalData?: Uint8Array;
  /** `model<suffix>.onnx` per the hub convention for this dtype. */
  fileName: string;
  externalDataName?: string;
}

/** File name suffix per dtype, as hub repos name them. */
export const DTYPE_SUFFIX: Record<ModelDType, string> = { fp32: '', fp16: '_fp16', q4: '_q4', q4f16: '_q4f16', q8: '_quantized', int8: '_int8', uint8: '_uint8' };

export function modelFileName(dtype: ModelDType): string {
  return `model${DTYPE_SUFFIX[dtype]}.onnx`;
}

/** Rough bytes the weights take in a given dtype (to decide on external data). */
export function estimateWeightBytes(ck: Checkpoint, dtype: ModelDType): number {
  const c = ck.config;
  const layer = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize;
  const emb = c.vocabSize * c.hiddenSize;
  const per = dtype === 'fp32' ? 4 : dtype === 'fp16' ? 2 : isQ8(dtype) ? 1 : 0.5 + 4 / 32;
  const embPer = dtype === 'fp16' || dtype === 'q4f16' ? 2 : isQ8(dtype) ? 1 : 4; // upper bound (4-bit when quantizeEmbeddings)
  return layer * c.numLayers * per + emb * embPer + emb * per;
}

/** A built decoder as pieces, for writing to disk without assembling the whole file in memory. */
export interface BuiltDecoderChunks {
  /** Concatenated in order, these are the .onnx file. */
  onnxChunks: Uint8Array[];
  /** Pieces of the external data file at their byte offsets (gaps are zeros); empty when none. */
  externalChunks: { offset: number; bytes: Uint8Array }[];
  externalSize: number;
  fileName: string;
  externalDataName?: string;
}

function buildModel(checkpoint: Checkpoint, options: BuildOptions): { model: ModelProto; g: GraphBuilder; fileName: string; externalDataName?: string } {
  const { style, dtype } = options;
  if (style !== 'genai' && style !== 'optimum') throw new DataError('build-style', `Unknown export style "${style}" (use genai or optimum).`);
  if (!MODEL_DTYPES.includes(dtype)) throw new DataError('build-dtype', `Unknown dtype "${dtype}" (use ${MODEL_DTYPES.join(', ')}).`);
  const blockSize = options.blockSize ?? 32;
  if (![16, 32, 64, 128].includes(blockSize)) throw new DataError('build-block', `MatMulNBits block size must be 16, 32, 64 or 128, got ${blockSize}.`);
  const fileName = modelFileName(dtype);
  const ext = options.externalData ?? 'auto';
  const useExternal = ext === true || (ext === 'auto' && estimateWeightBytes(checkpoint, dtype) > 1.8e9);
  const externalDataName = useExternal ? `${fileName}_data` : undefined;
  const g = new GraphBuilder(actOf(dtype), externalDataName ? { location: externalDataName, threshold: 1024 } : undefined);
  const ctx = makeContext(g, checkpoint, dtype, blockSize, options.accuracyLevel ?? (dtype === 'q4' ? 4 : 0), options.quantizeEmbeddings ?? false);
  if (style === 'optimum') buildOptimumGraph(ctx);
  else buildGenaiGraph(ctx, options.contextLength ?? Math.min(checkpoint.config.maxPositionEmbeddings, 32768));

  const model: ModelProto = {
    ir_version: 8,
    opset_import: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    producer_name: 'persona-space',
    producer_version: `builder/${style}`,
    graph: {
      name: `${checkpoint.config.modelType}-${style}-${dtype}`,
      node: g.nodes,
      initializer: g.initializers,
      input: g.inputs,
      output: g.outputs,
      value_info: [],
    },
    metadata_props: [
      { key: 'persona_space.style', value: style },
      { key: 'persona_space.dtype', value: dtype },
      { key: 'persona_space.model_type', value: checkpoint.config.modelType },
    ],
  };
  return { model, g, fileName, externalDataName: g.externalChunks().length ? externalDataName : undefined };
}

export function buildDecoder(checkpoint: Checkpoint, options: BuildOptions): BuiltDecoder {
  const { model, g, fileName, externalDataName } = buildModel(checkpoint, options);
  const externalData = g.externalData();
  return { onnx: encodeModel(model), externalData, fileName, externalDataName };
}

/** Like buildDecoder, but hands back the file contents as pieces (no whole-file copy). */
export function buildDecoderChunks(checkpoint: Checkpoint, options: BuildOptions): BuiltDecoderChunks {
  const { model, g, fileName, externalDataName } = buildModel(checkpoint, options);
  return { onnxChunks: encodeModelChunks(model), externalChunks: g.externalChunks(), externalSize: g.externalSize, fileName, externalDataName };
}
