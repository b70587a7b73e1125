import { describe, expect, it } from 'vitest';
import { parseConfig, presetConfigJson } from './config';
import { dtypeOfFile, offeredWeights, ownLargestLinearBytes, ownMemoryEstimate, pickWeights, WASM_HEAP_BYTES, wasmHeapEstimate, type OfferedFile, type PickRequest } from './pick';
import { DataError } from '../errors';

const qwen = parseConfig(presetConfigJson('qwen3-0.6b'));
const llama = parseConfig(presetConfigJson('llama-3.2-1b'));
/** Qwen3-0.6B's shape with 4 layers (the bench's --quick model). */
const qwen4 = parseConfig({ ...presetConfigJson('qwen3-0.6b'), num_hidden_layers: 4 });
const MB = 1e6;
/** Sizes as on onnx-community/Qwen3-0.6B-ONNX (rounded). */
const QWEN_FULL: OfferedFile[] = [
  { path: 'config.json', size: 1000 },
  { path: 'onnx/model.onnx', size: 0.5 * MB }, { path: 'onnx/model.onnx_data', size: 3008 * MB },
  { path: 'onnx/model_fp16.onnx', size: 0.5 * MB }, { path: 'onnx/model_fp16.onnx_data', size: 1504 * MB },
  { path: 'onnx/model_quantized.onnx', size: 754 * MB },
  { path: 'onnx/model_int8.onnx', size: 754 * MB },
  { path: 'onnx/model_uint8.onnx', size: 754 * MB },
  { path: 'onnx/model_q4.onnx', size: 919 * MB },
  { path: 'onnx/model_q4f16.onnx', size: 571 * MB },
];
/** A ~175M-parameter model: fp32 (external data) and q4f16. */
const SMALL: OfferedFile[] = [{ path: 'onnx/model.onnx', size: 0.5 * MB }, { path: 'onnx/model.onnx_data', size: 700 * MB }, { path: 'onnx/model_q4f16.onnx', size: 130 * MB }];
const only = (...names: string[]) => QWEN_FULL.filter((f) => !f.path.endsWith('.onnx') && !f.path.endsWith('_data') || names.some((n) => f.path === `onnx/${n}` || f.path === `onnx/${n}_data`));

interface Row { what: string; req: Partial<PickRequest> & { files: OfferedFile[] }; file: string; dtype: string; convert: string | null; reason: RegExp }
const TABLE: Row[] = [
  { what: 'WebGPU with shader-f16: q4f16', req: { files: QWEN_FULL, backend: 'webgpu', shaderF16: true }, file: 'onnx/model_q4f16.onnx', dtype: 'q4f16', convert: null, reason: /shader-f16/ },
  { what: 'WebGPU without shader-f16: q4', req: { files: QWEN_FULL, backend: 'webgpu', shaderF16: false }, file: 'onnx/model_q4.onnx', dtype: 'q4', convert: null, reason: /without shader-f16/ },
  { what: 'WebGPU with f16 but no q4f16 file: q4', req: { files: only('model_q4.onnx', 'model.onnx'), backend: 'webgpu', shaderF16: true }, file: 'onnx/model_q4.onnx', dtype: 'q4', convert: null, reason: /no q4f16/ },
  { what: 'WASM, everything on offer: int8 _quantized', req: { files: QWEN_FULL, backend: 'wasm' }, file: 'onnx/model_quantized.onnx', dtype: 'q8', convert: null, reason: /fastest on WASM/ },
  { what: 'WASM, only _int8', req: { files: only('model_int8.onnx', 'model_q4.onnx'), backend: 'wasm' }, file: 'onnx/model_int8.onnx', dtype: 'int8', convert: null, reason: /int8/ },
  { what: 'WASM, a small model with fp32 and q4f16: fp32 (with external data)', req: { files: SMALL, backend: 'wasm' }, file: 'onnx/model.onnx', dtype: 'fp32', convert: null, reason: /no int8 file/ },
  { what: 'WASM, a 1.25 GB fp32 file (loads on onnxruntime-web): fp32', req: { files: [{ path: 'onnx/model.onnx', size: 1250 * MB }], backend: 'wasm', config: qwen4, rows: 1, contextTokens: 256 }, file: 'onnx/model.onnx', dtype: 'fp32', convert: null, reason: /fastest on offer/ },
  { what: 'WASM, only q4 of a 4-layer model: converted to fp32 (it fits)', req: { files: [{ path: 'onnx/model_q4.onnx', size: 150 * MB }], backend: 'wasm', config: qwen4, rows: 1, contextTokens: 1024 }, file: 'onnx/model_q4.onnx', dtype: 'q4', convert: 'fp32', reason: /same numbers/ },
  { what: 'WASM, Qwen3-0.6B only q4, 3 rows x 512: converted to int8 (fp32 would not fit)', req: { files: only('model_q4.onnx', 'model_q4f16.onnx'), backend: 'wasm', config: qwen, contextTokens: 512 }, file: 'onnx/model_q4.onnx', dtype: 'q4', convert: 'int8', reason: /fp32 would not fit/ },
  { what: 'WASM, Qwen3-0.6B q4 + uint8: q4 converted to int8 beats uint8', req: { files: only('model_q4.onnx', 'model_uint8.onnx'), backend: 'wasm', config: qwen, rows: 1, contextTokens: 512 }, file: 'onnx/model_q4.onnx', dtype: 'q4', convert: 'int8', reason: /4-bit/ },
  { what: 'WASM, asked for q4f16 on WebGPU', req: { files: QWEN_FULL, backend: 'webgpu', shaderF16: true, dtype: 'q4' }, file: 'onnx/model_q4.onnx', dtype: 'q4', convert: null, reason: /asked/ },
  { what: 'WASM, asked for fp32 of a small model', req: { files: SMALL, backend: 'wasm', dtype: 'fp32' }, file: 'onnx/model.onnx', dtype: 'fp32', convert: null, reason: /asked/ },
];

describe('pickWeights', () => {
  for (const row of TABLE) {
    it(row.what, () => {
      const c = pickWeights({ backend: 'wasm', ...row.req });
      expect(c.file).toBe(row.file);
      expect(c.dtype).toBe(row.dtype);
      expect(c.convert).toBe(row.convert);
      expect(c.reason).toMatch(row.reason);
      expect(c.runtime).toBe('onnxruntime-web');
      expect(c.reason.split(/\.\s/).length, 'one sentence').toBe(1);
      expect(c.memoryBytes).toBeGreaterThanOrEqual(c.downloadBytes);
      const size = (p: string) => row.req.files.find((f) => f.path === p)!.size;
      expect(c.externalData).toEqual(row.req.files.filter((f) => f.path === `${c.file}_data`).map((f) => f.path));
      expect(c.downloadBytes).toBe(size(c.file) + c.externalData.reduce((t, p) => t + size(p), 0));
      if (row.req.backend === 'wasm') {
        expect(c.memoryBytes).toBeLessThanOrEqual(WASM_HEAP_BYTES);
        // the heap holds the weights about twice over at session creation, and more
        expect(c.memoryBytes).toBeGreaterThan(2.1 * c.downloadBytes);
      }
    });
  }

  it('bytes: download is the file plus its chunks; q4 -> fp32 heap is ~3.1x the fp32 size of every linear layer', () => {
    const files = [{ path: 'onnx/model_q4.onnx', size: 100 }, { path: 'onnx/model_q4.onnx_data', size: 1000 }, { path: 'onnx/model_q4.onnx_data_1', size: 10 }, { path: 'onnx/model_q4.onnx_data_x', size: 5 }];
    const c = pickWeights({ files, backend: 'wasm', config: qwen4, rows: 1, contextTokens: 16 });
    expect(c.externalData).toEqual(['onnx/model_q4.onnx_data', 'onnx/model_q4.onnx_data_1']);
    expect(c.downloadBytes).toBe(1110);
    expect(c.convert).toBe('fp32');
    const linear = 4 * (1024 * (16 + 16) * 128 + 16 * 128 * 1024 + 3 * 1024 * 3072) + 151936 * 1024;
    expect(c.memoryBytes).toBeGreaterThan(3.1 * linear * 4 * 0.85);
    expect(c.memoryBytes).toBeLessThan(3.1 * linear * 4 + 256 * 2 ** 20);
  });

  it('WASM fp32 that onnxruntime-web cannot create refuses in one sentence: Qwen3-0.6B (3 GB external data), and one 1.5 GB file (4 layers; std::bad_alloc there)', () => {
    const cases: PickRequest[] = [
      { files: only('model.onnx', 'model_q4f16.onnx'), backend: 'wasm', config: qwen, rows: 1, contextTokens: 1024 },
      { files: QWEN_FULL, backend: 'wasm', dtype: 'fp32', config: qwen, rows: 1, contextTokens: 256 },
      { files: [{ path: 'onnx/model.onnx', size: 1500 * MB }], backend: 'wasm', config: qwen4, rows: 1, contextTokens: 256 },
    ];
    for (const req of cases) {
      let err: unknown;
      try { pickWeights(req); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).code).toBe('model-too-large');
      expect((err as DataError).message).toMatch(/onnx\/model\.onnx would need ~\d+\.\d GB.*over the 4\.3 GB a wasm32 heap can hold/);
    }
    // the estimate: at creation 2.1x the weights + the largest file once more; running, 1.1x the weights + the runtime
    expect(wasmHeapEstimate(1e9, 5e8, 1e8)).toBeCloseTo(2.1e9 + 5e8 + 128 * 2 ** 20, -3);
    expect(wasmHeapEstimate(1e9, 5e8, 3e9)).toBeCloseTo(1.1e9 + 3e9, -3);
  });

  it('WASM refuses, in one sentence naming the limit, when nothing fits (Llama 1B shape, fp32 only, long context)', () => {
    const files = [{ path: 'onnx/model.onnx', size: 1e6 }, { path: 'onnx/model.onnx_data', size: 4.9e9 }];
    expect(() => pickWeights({ files, backend: 'wasm', config: llama })).toThrow(DataError);
    expect(() => pickWeights({ files, backend: 'wasm', config: llama })).toThrow(/wasm32 heap.*4\.3 GB|4\.3 GB.*wasm32/);
    try { pickWeights({ files, backend: 'wasm', config: llama }); } catch (e) { expect((e as DataError).code).toBe('model-too-large'); }
  });

  it('fp16-only repos: refused on WASM, refused on WebGPU without shader-f16, chosen with it', () => {
    const files = [{ path: 'onnx/model_fp16.onnx', size: 1e9 }];
    expect(() => pickWeights({ files, backend: 'wasm' })).toThrow(/fp16.*WebGPU with shader-f16/);
    expect(() => pickWeights({ files, backend: 'webgpu', shaderF16: false })).toThrow(/shader-f16/);
    expect(pickWeights({ files, backend: 'webgpu', shaderF16: true }).dtype).toBe('fp16');
  });

  it('no weights at all, or a dtype not on offer, is a clear sentence', () => {
    expect(() => pickWeights({ files: [{ path: 'config.json', size: 1 }], backend: 'wasm' })).toThrow(/no ONNX weights/);
    expect(() => pickWeights({ files: only('model_q4.onnx'), backend: 'wasm', dtype: 'q8' })).toThrow(/no q8 weights.*model_q4/);
  });

  it('names: onnx/ before the root, model before decoder_model_merged; unrelated .onnx files ignored', () => {
    const o = offeredWeights([{ path: 'decoder_model_merged_q4.onnx', size: 1 }, { path: 'onnx/model_q4.onnx', size: 2 }, { path: 'onnx/vision_encoder.onnx', size: 3 }, { path: 'onnx/decoder_model_merged.onnx', size: 4 }]);
    expect(o.map((c) => c.file).sort()).toEqual(['onnx/decoder_model_merged.onnx', 'onnx/model_q4.onnx']);
  });

  it('file names say their dtype', () => {
    expect(dtypeOfFile('onnx/model_quantized.onnx')).toBe('q8');
    expect(dtypeOfFile('onnx/decoder_model_merged_uint8.onnx')).toBe('uint8');
    expect(dtypeOfFile('onnx/model.onnx')).toBe('fp32');
    expect(dtypeOfFile('onnx/vision_encoder.onnx')).toBeNull();
  });
});

/**
 * Llama-3.2-1B's 8-bit export: 16 layers of 60.8M linear weights (973M) + the embedding (128256 x 2048,
 * 262M int8 codes) + the lm_head, its transposed copy, 262M more (tied, but exported twice): ~1.50 GB.
 */
const LLAMA1B_Q8 = 1.5e9;
const LLAMA_FILES: OfferedFile[] = [
  { path: 'config.json', size: 900 },
  { path: 'onnx/model_quantized.onnx', size: LLAMA1B_Q8 },
  { path: 'onnx/model_q4.onnx', size: 1.1e9 },
  { path: 'onnx/model_q4f16.onnx', size: 0.99e9 },
];
/**
 * A shape whose lm_head alone (270000 x 16384 int8 codes, 4.4 GB) cannot sit in one WebAssembly memory
 * (parseConfig already refuses any one weight over 2^31 values; the picker's bound stands on its own).
 */
const HUGE_VOCAB = { ...llama, vocabSize: 270000, hiddenSize: 16384, numHeads: 128, numKvHeads: 8, headDim: 128, numLayers: 1 };

describe('pickWeights with our int8 decoder (ownDecoder)', () => {
  const GiB = 2 ** 30;
  interface OwnRow { what: string; req: PickRequest; file: string; runtime: 'own' | 'onnxruntime-web'; memGB: [number, number]; convert?: 'int8' }
  // memory: the file held in JS while loading + the weights in the kernels + KV cache (3 rows x 2048, float32: 1.4 GB for Qwen3-0.6B) + working
  const OWN_TABLE: OwnRow[] = [
    { what: 'Qwen3-0.6B, everything on offer: the _quantized file on our decoder', req: { files: QWEN_FULL, backend: 'wasm', config: qwen, ownDecoder: true }, file: 'onnx/model_quantized.onnx', runtime: 'own', memGB: [2.9, 3.2] },
    { what: 'Qwen3-0.6B, only _uint8 and q4: uint8 on our decoder (as fast as int8 there), not q4 converted', req: { files: only('model_uint8.onnx', 'model_q4.onnx'), backend: 'wasm', config: qwen, ownDecoder: true }, file: 'onnx/model_uint8.onnx', runtime: 'own', memGB: [2.9, 3.2] },
    { what: 'Qwen3-0.6B, only q4 and q4f16: q4 converted to int8 for our decoder', req: { files: only('model_q4.onnx', 'model_q4f16.onnx'), backend: 'wasm', config: qwen, ownDecoder: true }, file: 'onnx/model_q4.onnx', runtime: 'own', memGB: [4.0, 4.8], convert: 'int8' },
    { what: 'Llama-3.2-1B q8 (1.5 GB): our decoder takes it', req: { files: LLAMA_FILES, backend: 'wasm', config: llama, ownDecoder: true }, file: 'onnx/model_quantized.onnx', runtime: 'own', memGB: [3.4, 3.7] },
    { what: 'Llama-3.2-1B q8 on onnxruntime-web: does not fit one heap (2.1x + the file), so q4 converted to int8', req: { files: LLAMA_FILES, backend: 'wasm', config: llama }, file: 'onnx/model_q4.onnx', runtime: 'onnxruntime-web', memGB: [3.5, 4.3] },
    { what: 'a small fp32 + q4f16 model: fp32 on onnxruntime-web (nothing 8-bit)', req: { files: SMALL, backend: 'wasm', ownDecoder: true }, file: 'onnx/model.onnx', runtime: 'onnxruntime-web', memGB: [2.0, 2.5] },
    { what: 'WebGPU: ownDecoder changes nothing', req: { files: QWEN_FULL, backend: 'webgpu', shaderF16: true, config: qwen, ownDecoder: true }, file: 'onnx/model_q4f16.onnx', runtime: 'onnxruntime-web', memGB: [1.2, 1.6] },
  ];
  for (const row of OWN_TABLE) {
    it(row.what, () => {
      const c = pickWeights(row.req);
      expect(c.file).toBe(row.file);
      expect(c.runtime).toBe(row.runtime);
      expect(c.convert).toBe(row.convert ?? null);
      expect(c.memoryBytes / 1e9).toBeGreaterThan(row.memGB[0]);
      expect(c.memoryBytes / 1e9).toBeLessThan(row.memGB[1]);
      expect(c.reason.split(/\.\s/).length, 'one sentence').toBe(1);
      if (row.runtime === 'own') expect(c.reason).toMatch(/our int8 decoder/);
    });
  }

  it('Llama-3.2-1B q8: refused by the onnxruntime-web heap estimate, accepted for our decoder, with the estimate it says', () => {
    const q8only = LLAMA_FILES.filter((f) => !f.path.includes('q4'));
    let err: unknown;
    try { pickWeights({ files: q8only, backend: 'wasm', config: llama }); } catch (e) { err = e; }
    expect((err as DataError).code).toBe('model-too-large');
    expect((err as DataError).message).toMatch(/model_quantized\.onnx would need ~4\.\d GB.*4\.3 GB a wasm32 heap/);
    const c = pickWeights({ files: q8only, backend: 'wasm', config: llama, ownDecoder: true });
    expect(c.runtime).toBe('own');
    expect(c.dtype).toBe('q8');
    // file + kernels (max of the file and linears + embedding) + KV (3 x 2048 x 16 layers x 2 x 8 x 64 x 4 B) + logits + working
    const kv = 3 * 2048 * 16 * 2 * 8 * 64 * 4;
    const linears = 16 * (2048 * (32 + 16) * 64 + 32 * 64 * 2048 + 3 * 2048 * 8192) + 2 * 128256 * 2048;
    const expected = ownMemoryEstimate(LLAMA1B_Q8, Math.max(LLAMA1B_Q8, linears), kv + 3 * 128256 * 16 + 128 * 2 ** 20);
    expect(c.memoryBytes).toBe(Math.round(expected));
    expect(c.memoryBytes).toBeLessThan(wasmHeapEstimate(LLAMA1B_Q8, LLAMA1B_Q8, 0));
    // asked for by dtype too
    expect(pickWeights({ files: LLAMA_FILES, backend: 'wasm', config: llama, ownDecoder: true, dtype: 'q8' }).runtime).toBe('own');
  });

  it('the 4 GiB limit applies per linear: an lm_head of 4.4 GB is refused in one sentence naming it', () => {
    expect(ownLargestLinearBytes(llama)).toEqual({ bytes: 128256 * 2048, what: 'the lm_head (128256 x 2048)' });
    const files = [{ path: 'onnx/model_quantized.onnx', size: 3.9e9 }];
    let err: unknown;
    try { pickWeights({ files, backend: 'wasm', config: HUGE_VOCAB, ownDecoder: true, rows: 1, contextTokens: 128 }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('model-too-large');
    expect((err as DataError).message).toMatch(/for our int8 decoder the lm_head \(270000 x 16384\) would need ~4\.4 GB in one WebAssembly memory, over its 4\.3 GB/);
    expect((err as DataError).message.split(/\.\s/).length).toBe(1);
    // the limit is the option's: 5 GiB takes it; 250 MB refuses Llama-3.2-1B's lm_head (263 MB), not its body
    expect(pickWeights({ files, backend: 'wasm', config: HUGE_VOCAB, ownDecoder: true, rows: 1, contextTokens: 128, wasmHeapBytes: 5 * GiB }).runtime).toBe('own');
    expect(() => pickWeights({ files: LLAMA_FILES.filter((f) => !f.path.includes('q4')), backend: 'wasm', config: llama, ownDecoder: true, wasmHeapBytes: 250e6 })).toThrow(/the lm_head \(128256 x 2048\) would need ~0\.26 GB in one WebAssembly memory/);
  });
});

