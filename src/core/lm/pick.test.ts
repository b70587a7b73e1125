import { describe, expect, it } from 'vitest';
import { parseConfig, presetConfigJson } from './config';
import { offeredWeights, pickWeights, WASM_HEAP_BYTES, wasmHeapEstimate, type OfferedFile, type PickRequest } from './pick';
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
});
