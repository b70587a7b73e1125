/**
 * The chat lab's model table with our int8 decoder (modelPlan's `ownDecoder`, as ModelPicker passes it
 * where WebAssembly SIMD is there): 8-bit files on WASM are planned for it, with its memory estimate,
 * so Llama 3.2 1B in q8, over one wasm32 heap on onnxruntime-web, is offered.
 */
import { describe, expect, it } from 'vitest';
import { LAB_DTYPES, MODEL_CHOICES, modelFromKey, modelKey, modelPlan, toSource } from './models';

describe('model table with our int8 decoder', () => {
  const llama = MODEL_CHOICES.find((m) => m.id === 'llama-3.2-1b')!;
  it('Llama 3.2 1B q8 on WASM: refused for onnxruntime-web\'s heap, planned for our decoder', () => {
    const web = modelPlan(llama, 'q8', 'wasm');
    expect(web.choice).toBeNull();
    expect(web.error).toMatch(/over the 4\.3 GB a wasm32 heap can hold/);
    const own = modelPlan(llama, 'q8', 'wasm', false, true);
    expect(own.choice).toMatchObject({ file: 'onnx/model_quantized.onnx', dtype: 'q8', runtime: 'own' });
    expect(own.choice!.reason).toMatch(/our int8 decoder/);
    // file + weights in the kernels + three panes x 2,048 tokens of fp32 KV cache (16 layers x 2 x 8 heads x 64) + working
    const kv = 3 * 2048 * 16 * 2 * 8 * 64 * 4;
    expect(own.choice!.memoryBytes).toBeGreaterThan(2 * own.choice!.downloadBytes + kv);
    expect(own.choice!.memoryBytes).toBeLessThan(2 * own.choice!.downloadBytes + kv + 400e6);
  });
  it("'auto' weights (the lab's default) are the picker's fastest per backend: 8-bit on our decoder on WASM, q4f16 on WebGPU with shader-f16, q4 without", () => {
    expect(LAB_DTYPES[0]).toBe('auto');
    for (const m of MODEL_CHOICES) {
      const wasm = modelPlan(m, 'auto', 'wasm', false, true);
      expect(wasm.error).toBeNull();
      expect(wasm.choice).toMatchObject({ dtype: 'q8', runtime: 'own', convert: null });
      expect(modelPlan(m, 'auto', 'webgpu', true, true).choice).toMatchObject({ dtype: 'q4f16', runtime: 'onnxruntime-web' });
      expect(modelPlan(m, 'auto', 'webgpu', false, true).choice).toMatchObject({ dtype: 'q4' });
      // what a pinned dtype would give: q4f16 does not run on WASM at all
      expect(modelPlan(m, 'q4f16', 'wasm', false, true).error).toMatch(/do not run on onnxruntime-web's WASM backend/);
    }
    // 'auto' leaves the file to the model worker's picker (no dtype in the source), and survives a share link
    const req = { kind: 'hub' as const, repo: 'onnx-community/Qwen3-0.6B-ONNX', dtype: 'auto' as const };
    expect(toSource(req)).toEqual({ kind: 'hub', repo: req.repo, dtype: undefined, hub: undefined, revision: 'main' });
    expect(modelFromKey(modelKey(req)!)).toEqual({ kind: 'hub', repo: req.repo, dtype: 'auto', hub: undefined });
    expect(toSource({ ...req, dtype: 'q8' }).kind === 'hub' && (toSource({ ...req, dtype: 'q8' }) as { dtype?: string }).dtype).toBe('q8');
  });
  it('WebGPU and q4 plans do not change', () => {
    for (const m of MODEL_CHOICES) {
      expect(modelPlan(m, 'q4f16', 'webgpu', true, true)).toEqual(modelPlan(m, 'q4f16', 'webgpu', true));
      expect(modelPlan(m, 'q4', 'wasm', false, true)).toEqual(modelPlan(m, 'q4', 'wasm'));
    }
  });
});
