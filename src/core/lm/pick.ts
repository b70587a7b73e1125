/**
 * Which weights file to load, per backend, from the files a model repo (or folder) offers, with the
 * bytes to download, the memory it will need and one sentence saying why.
 *
 * File names are transformers.js': `onnx/model<suffix>.onnx` (or `decoder_model_merged<suffix>.onnx`),
 * suffix by dtype: fp32 none, `_fp16`, `_quantized` (8-bit, int8 weights for decoders), `_int8`,
 * `_uint8`, `_q4` (MatMulNBits), `_q4f16`; external weights beside them (`<file>_data`, `_data_1`, ...).
 *
 * WebGPU: q4f16 when the adapter has `shader-f16`, else q4 (then fp16 / fp32 if those are all there is).
 * WASM, ranked by what `bench/decode.bench.ts` measured on onnxruntime-web (Qwen3-0.6B shape, 1 thread):
 *   int8 (`_quantized` / `_int8`) ≈ fp32 in speed at a quarter of the memory and download;
 *   fp32; then a q4 file converted at load time (src/core/onnx/rewrite/dequantize.ts) to fp32 MatMul
 *   (exactly the q4 numbers) or, when fp32 does not fit, to int8 — both run at fp32 speed where
 *   MatMulNBits runs ~10x slower; uint8 (~3.5x slower than int8); q4 as is; fp16 / q4f16 do not run.
 * On WASM everything lives in one wasm32 heap of at most 4 GiB, estimated before loading (see
 * `wasmHeapEstimate`); a choice that does not fit is skipped (or refused with a sentence).
 *
 * With `ownDecoder` (WebAssembly SIMD is there, so our int8 decoder, src/core/lm/own, runs 8-bit
 * files; the model worker opens them on it) the WASM order is q8, int8, uint8 (the same speed on our
 * kernel: uint8 codes are shifted at load), then a q4 file converted at load to per-column int8 for
 * our decoder (one more rounding than the q4 numbers, at our decoder's speed; a dtype asked for
 * keeps the file's own numbers), then as above; those choices say `runtime: 'own'` and
 * carry their own memory estimate (`ownMemoryEstimate`): our decoder puts no weights in one wasm32
 * heap (each linear has its own WebAssembly.Memory; the file's bytes are held in JS while loading,
 * then freed), so the 4 GiB limit applies per linear (`ownLargestLinearBytes`: the lm_head's
 * vocab x hidden int8 codes, or a fused gate/up), not to the whole model.
 */
import { DataError } from '../errors';
import type { DecoderConfig } from './config';

export type WeightsDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16';
export type Conversion = 'fp32' | 'int8';

export interface OfferedFile {
  /** Path from the repo / folder root, e.g. `onnx/model_q4.onnx`. */
  path: string;
  size: number;
}

export interface PickRequest {
  files: readonly OfferedFile[];
  backend: 'webgpu' | 'wasm';
  /** WebGPU adapter feature `shader-f16`. */
  shaderF16?: boolean;
  /** The model's config (KV cache size, conversion sizes); without it the estimates are coarser. */
  config?: Pick<DecoderConfig, 'numLayers' | 'numKvHeads' | 'headDim' | 'hiddenSize' | 'vocabSize' | 'intermediateSize' | 'numHeads'>;
  /** Rows run at once and tokens each may hold, for the KV cache estimate (defaults 3 and 2048). */
  rows?: number;
  contextTokens?: number;
  /** A dtype the person asked for (otherwise the fastest for the backend). */
  dtype?: WeightsDtype;
  /** Heap limit for WASM (default 4 GiB, wasm32); for our int8 decoder, the limit of one linear's memory. */
  wasmHeapBytes?: number;
  /**
   * WASM: our int8 decoder (src/core/lm/own) will run 8-bit files (q8 / int8 / uint8) — WebAssembly
   * SIMD is there. Their memory is then estimated for it (`ownMemoryEstimate`), not for one
   * onnxruntime-web heap. Default false (every choice on onnxruntime-web).
   */
  ownDecoder?: boolean;
}

/** What runs the chosen file: our int8 decoder (8-bit files on WASM) or onnxruntime-web. */
export type WeightsRuntime = 'own' | 'onnxruntime-web';

export interface WeightsChoice {
  /** The .onnx path to load. */
  file: string;
  /** Its external data files (paths from the root). */
  externalData: string[];
  dtype: WeightsDtype;
  /** Converted at load time (MatMulNBits -> fp32 or int8), or null. */
  convert: Conversion | null;
  /** One sentence, for people: the file, its size and memory, and why. */
  reason: string;
  /** Just the why (a clause ending in a full stop). */
  why: string;
  downloadBytes: number;
  /** Estimated memory when loaded (wasm heap on WASM; GPU + heap on WebGPU; our decoder's peak), bytes. */
  memoryBytes: number;
  /** Who runs it. */
  runtime: WeightsRuntime;
}

export const WASM_HEAP_BYTES = 4 * 2 ** 30;

const SUFFIX_DTYPE: Record<string, WeightsDtype> = {
  '': 'fp32', _fp16: 'fp16', _quantized: 'q8', _int8: 'int8', _uint8: 'uint8', _q4: 'q4', _q4f16: 'q4f16',
};
const FILE_RE = /^(?:(.*)\/)?(model|decoder_model_merged)(_fp16|_quantized|_int8|_uint8|_q4f16|_q4)?\.onnx$/;

interface Candidate {
  file: string;
  dtype: WeightsDtype;
  externalData: string[];
  downloadBytes: number;
  /** The largest single file of the set (the .onnx or one external-data chunk). */
  largestPiece: number;
}

/** Working memory beside weights and KV cache (arena, activations of a prefill chunk). */
const WORKING_BYTES = 128 * 2 ** 20;

/**
 * Peak wasm heap of an onnxruntime-web session over `weightBytes` of weights whose largest single
 * file is `largestPiece`, with `runtime` bytes in use once it runs (KV cache, logits, working memory).
 * Measured on onnxruntime-web 1.31 (WASM, in Node, random Qwen3-0.6B-shape models, fp32 and int8
 * alike): session creation leaves the heap at 2.0-2.1x the weights — the file is copied into the
 * heap, then its initializers are materialised (and prepacked for MatMul / MatMulInteger) before
 * the copy is freed — and the heap must also find room for the largest file once more as one
 * contiguous block while it grows: a 1.25 GB fp32 file loads within 4 GiB, a 1.5 GB one (4 layers
 * of Qwen3-0.6B) fails with std::bad_alloc, which 2.1x + the file (3.9 vs 4.7 GB) separates. The
 * heap never shrinks, and the KV cache grows later into the freed copy: once running, the session
 * needs ~1.1x the weights + `runtime`. The estimate is the larger of the two.
 */
export function wasmHeapEstimate(weightBytes: number, largestPiece: number, runtime: number): number {
  return Math.max(2.1 * weightBytes + largestPiece + WORKING_BYTES, 1.1 * weightBytes + runtime);
}

/**
 * Peak memory of our int8 decoder (src/core/lm/own) over an 8-bit file of `fileBytes`: while it
 * loads, the file's bytes are held in JS beside the weights it copies into the kernels' memories
 * (`kernelBytes`: every linear's codes, repacked, plus the embedding rows and norms it keeps), and
 * then the KV cache and working memory (`runtime`) come on top once it runs. The file is freed after
 * loading, so the sum over-counts the running state a little; it is the number to plan with.
 */
export function ownMemoryEstimate(fileBytes: number, kernelBytes: number, runtime: number): number {
  return fileBytes + kernelBytes + runtime;
}

/**
 * Bytes of the largest single linear our int8 decoder loads (one WebAssembly.Memory each, so each
 * must stay under 4 GiB): the lm_head's vocab x hidden codes, the fused q/k/v or gate/up, or the
 * down projection, int8 each; null without a config.
 */
export function ownLargestLinearBytes(c: PickRequest['config']): { bytes: number; what: string } | null {
  if (!c) return null;
  const d = c.hiddenSize;
  const parts: [number, string][] = [
    [c.vocabSize * d, `the lm_head (${c.vocabSize} x ${d})`],
    [2 * c.intermediateSize * d, `a fused gate/up projection (${2 * c.intermediateSize} x ${d})`],
    [(c.numHeads + 2 * c.numKvHeads) * c.headDim * d, `a fused q/k/v projection (${(c.numHeads + 2 * c.numKvHeads) * c.headDim} x ${d})`],
    [d * c.intermediateSize, `a down projection (${d} x ${c.intermediateSize})`],
  ];
  const [bytes, what] = parts.reduce((a, b) => (b[0] > a[0] ? b : a));
  return { bytes, what };
}

/** The dtype a transformers.js weights file name says (`onnx/model_quantized.onnx` -> q8), or null for another name. */
export function dtypeOfFile(path: string): WeightsDtype | null {
  const m = FILE_RE.exec(path);
  return m ? SUFFIX_DTYPE[m[3] ?? ''] : null;
}

/** Whether our int8 decoder (src/core/lm/own) runs files of this dtype. */
export function ownRunsDtype(d: WeightsDtype | null | undefined): boolean {
  return d === 'q8' || d === 'int8' || d === 'uint8';
}

/** The weight files on offer, one per dtype (under onnx/ first, `model` before `decoder_model_merged`). */
export function offeredWeights(files: readonly OfferedFile[]): Candidate[] {
  const byDtype = new Map<WeightsDtype, Candidate>();
  const rank = (c: { file: string }) => (c.file.startsWith('onnx/') ? 0 : 2) + (/\/?model[._]/.test(c.file.split('/').pop()!) ? 0 : 1);
  for (const f of files) {
    const m = FILE_RE.exec(f.path);
    if (!m) continue;
    const dtype = SUFFIX_DTYPE[m[3] ?? ''];
    const ext = files.filter((g) => g.path === `${f.path}_data` || g.path.startsWith(`${f.path}_data_`) && /^\d+$/.test(g.path.slice(f.path.length + 6)));
    const c: Candidate = {
      file: f.path, dtype, externalData: ext.map((g) => g.path).sort(), downloadBytes: f.size + ext.reduce((s, g) => s + g.size, 0),
      largestPiece: Math.max(f.size, ...ext.map((g) => g.size)),
    };
    const prev = byDtype.get(dtype);
    if (!prev || rank(c) < rank(prev)) byDtype.set(dtype, c);
  }
  return [...byDtype.values()];
}

const gb = (b: number) => `${(b / 1e9).toFixed(b < 1e9 ? 2 : 1)} GB`;

/** Parameters in the linear layers (incl. lm_head), from the config. */
function linearParams(c: NonNullable<PickRequest['config']>): number {
  const layer = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize;
  return layer * c.numLayers + c.vocabSize * c.hiddenSize;
}

function runtimeBytes(req: PickRequest, kvBytesPerValue: number): number {
  const c = req.config;
  if (!c) return 2 * WORKING_BYTES;
  const rows = req.rows ?? 3;
  const ctx = req.contextTokens ?? 2048;
  const kv = rows * ctx * c.numLayers * 2 * c.numKvHeads * c.headDim * kvBytesPerValue;
  // logits of a prefill chunk and working buffers
  return kv + rows * c.vocabSize * 4 * 4 + WORKING_BYTES;
}

/** Bytes the q4 weights grow by when converted (from the config, else bounded from the file size). */
function conversionGrowth(c: Candidate, to: Conversion, req: PickRequest): number {
  const bytesPerQ4Param = 0.5 + 4 / 32 + 0.5 / 32;
  const params = req.config ? linearParams(req.config) : c.downloadBytes / bytesPerQ4Param;
  return params * ((to === 'fp32' ? 4 : 1) - bytesPerQ4Param);
}

/** Pick the weights (see the module comment). Throws DataError when nothing on offer can run. */
export function pickWeights(req: PickRequest): WeightsChoice {
  const offered = offeredWeights(req.files);
  if (!offered.length) {
    throw new DataError('model-no-weights', `The model offers no ONNX weights file (looked for onnx/model.onnx, model_q4.onnx, model_quantized.onnx, ...; found ${req.files.length} other files).`);
  }
  const has = (d: WeightsDtype) => offered.find((c) => c.dtype === d);
  const limit = req.wasmHeapBytes ?? WASM_HEAP_BYTES;
  const choice = (c: Candidate, convert: Conversion | null, memoryBytes: number, why: string, runtime: WeightsRuntime = 'onnxruntime-web'): WeightsChoice => ({
    file: c.file, externalData: c.externalData, dtype: c.dtype, convert, downloadBytes: c.downloadBytes, memoryBytes: Math.round(memoryBytes), why, runtime,
    reason: `${c.file}${convert ? ` converted to ${convert} at load` : ''} (${c.dtype}, ${gb(c.downloadBytes)} to download, ~${gb(memoryBytes)} in memory): ${why}`,
  });

  if (req.backend === 'webgpu') {
    const rt = runtimeBytes(req, 2);
    const order: WeightsDtype[] = req.dtype ? [req.dtype] : req.shaderF16 ? ['q4f16', 'q4', 'fp16', 'fp32', 'q8', 'int8'] : ['q4', 'fp32', 'q8', 'int8', 'uint8', 'q4f16', 'fp16'];
    for (const d of order) {
      const c = has(d);
      if (!c) continue;
      if ((d === 'fp16' || d === 'q4f16') && !req.shaderF16) {
        throw new DataError('webgpu-no-f16', `${c.file} computes in fp16, which this WebGPU adapter cannot (no shader-f16); choose q4 or fp32, or WASM.`);
      }
      const why = req.dtype ? 'the dtype asked for.'
        : d === 'q4f16' ? 'the fastest on WebGPU with shader-f16 (4-bit weights, fp16 compute).'
        : d === 'q4' ? (req.shaderF16 ? 'the fastest on offer on WebGPU (no q4f16 file).' : 'the fastest on WebGPU without shader-f16 (4-bit weights, fp32 compute).')
        : `the only WebGPU-friendly weights on offer.`;
      return choice(c, null, c.downloadBytes + rt, why);
    }
    const asked = req.dtype ? `no ${req.dtype} file` : 'none of q4f16, q4, fp16, fp32';
    throw new DataError('model-no-weights', `The model offers ${asked} for WebGPU (it has ${offered.map((c) => c.file).join(', ')}).`);
  }

  // WASM
  const rt = runtimeBytes(req, 4);
  const tooBig: string[] = [];
  const fits = (c: Candidate, mem: number, converted: boolean) => {
    if (mem <= limit) return true;
    tooBig.push(`${c.file}${converted ? ' converted' : ''} would need ~${gb(mem)}`);
    return false;
  };
  const own = req.ownDecoder === true;
  const tooBigLinear: string[] = [];
  /** Our int8 decoder's estimate for an 8-bit file: its peak, and each linear within one WebAssembly.Memory. */
  const tryOwn = (c: Candidate, why: string, convert: Conversion | null = null): WeightsChoice | null => {
    const lin = ownLargestLinearBytes(req.config);
    // without a config the largest linear is bounded by the file
    const linBytes = lin?.bytes ?? c.downloadBytes;
    if (linBytes > limit) {
      tooBigLinear.push(`${lin ? lin.what : `a linear of ${c.file}`} would need ~${gb(linBytes)} in one WebAssembly memory`);
      return null;
    }
    // a q4 file converted to int8 at load: the file and its converted weights are held in JS while loading
    const held = convert ? c.downloadBytes + conversionGrowth(c, convert, req) + c.downloadBytes : c.downloadBytes;
    const kernels = req.config ? Math.max(convert ? 0 : c.downloadBytes, linearParams(req.config) + req.config.vocabSize * req.config.hiddenSize) : held - c.downloadBytes;
    return choice(c, convert, ownMemoryEstimate(held, kernels, rt), why, 'own');
  };
  const tryFile = (d: WeightsDtype, why: string): WeightsChoice | null => {
    const c = has(d);
    if (!c) return null;
    if (own && ownRunsDtype(d)) return tryOwn(c, why);
    const mem = wasmHeapEstimate(c.downloadBytes, c.largestPiece, rt);
    return fits(c, mem, false) ? choice(c, null, mem, why) : null;
  };
  const tryQ4 = (why: (to: Conversion) => string, allowInt8 = true): WeightsChoice | null => {
    const c = has('q4');
    if (!c) return null;
    for (const to of allowInt8 ? (['fp32', 'int8'] as const) : (['fp32'] as const)) {
      // the converted graph goes to onnxruntime as one buffer
      const weights = c.downloadBytes + conversionGrowth(c, to, req);
      const mem = wasmHeapEstimate(weights, weights, rt);
      if (fits(c, mem, true)) return choice(c, to, mem, why(to));
    }
    return null;
  };
  const over = () => {
    const parts = [
      ...(tooBig.length ? [`${tooBig.join('; ')}, over the ${gb(limit)} a wasm32 heap can hold`] : []),
      ...(tooBigLinear.length ? [`for our int8 decoder ${tooBigLinear.join('; ')}, over its ${gb(limit)}`] : []),
    ];
    return parts.length ? ` (${parts.join('; ')})` : '';
  };

  if (req.dtype) {
    if (req.dtype === 'fp16' || req.dtype === 'q4f16') {
      throw new DataError('wasm-no-f16', `${req.dtype} weights do not run on onnxruntime-web's WASM backend; choose q8, fp32 or q4 (or WebGPU with shader-f16).`);
    }
    const picked = req.dtype === 'q4'
      ? tryQ4(() => 'the dtype asked for; its 4-bit MatMulNBits runs ~10x slower on WASM than the same numbers as fp32 MatMul.', false) ?? tryFile('q4', 'the dtype asked for (too large to convert; MatMulNBits is slow on WASM).')
      : tryFile(req.dtype, own && ownRunsDtype(req.dtype) ? 'the dtype asked for (8-bit weights on our int8 decoder).' : 'the dtype asked for.');
    if (picked) return picked;
    if (!has(req.dtype)) throw new DataError('model-no-weights', `The model offers no ${req.dtype} weights (it has ${offered.map((c) => c.file).join(', ')}).`);
    throw new DataError('model-too-large', `The ${req.dtype} weights do not fit in WASM memory${over()}; try fewer rows or a shorter context, or WebGPU.`);
  }
  const ownWhy = 'the fastest on WASM (8-bit weights on our int8 decoder, a quarter of fp32\'s memory).';
  const picked = (own
    ? tryFile('q8', ownWhy) ?? tryFile('int8', ownWhy) ?? tryFile('uint8', ownWhy)
    : tryFile('q8', 'the fastest on WASM (int8 MatMulInteger runs at fp32 speed there with a quarter of the memory; transformers.js\' default too).') ??
      tryFile('int8', 'the fastest on WASM (int8 MatMulInteger runs at fp32 speed there with a quarter of the memory).')) ??
    (own && has('q4') ? tryOwn(has('q4')!, 'the fastest on WASM without an 8-bit file (the 4-bit weights re-quantised to per-column int8 for our int8 decoder, ~4x onnxruntime-web on the same converted weights, at one more rounding on top of the 4-bit one; ask for q4 or fp32 for the file\'s own numbers).', 'int8') : null) ??
    tryFile('fp32', `the fastest on offer for WASM${has('q8') || has('int8') ? '' : ' (no int8 file)'}.`) ??
    tryQ4((to) => to === 'fp32'
      ? 'only 4-bit weights on offer, and WASM runs them ~10x faster as fp32 MatMul (the same numbers).'
      : 'only 4-bit weights on offer; WASM runs them ~10x faster as int8 MatMulInteger, and fp32 would not fit.') ??
    (own ? null : tryFile('uint8', 'the fastest that fits on WASM (uint8 MatMulInteger; ~3.5x slower than int8 there).')) ??
    tryFile('q4', 'the only weights that fit on WASM; 4-bit MatMulNBits is slow there (~10x slower than fp32).');
  if (picked) return picked;
  const usable = offered.filter((c) => c.dtype !== 'fp16' && c.dtype !== 'q4f16');
  if (!usable.length) {
    throw new DataError('wasm-no-f16', `The model offers only fp16 weights (${offered.map((c) => c.file).join(', ')}), which onnxruntime-web's WASM backend cannot run; use WebGPU with shader-f16.`);
  }
  throw new DataError('model-too-large', `No weights of this model fit in WASM memory${over()}; try fewer rows or a shorter context, or WebGPU.`);
}
