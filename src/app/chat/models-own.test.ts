/**
 * The chat lab's model table with our int8 decoder (modelPlan's `ownDecoder`, as ModelPicker passes it
 * where WebAssembly SIMD is there): 8-bit files on WASM are planned for it, with its memory estimate,
 * so Llama 3.2 1B in q8, over one wasm32 heap on onnxruntime-web, is offered.
 */
import { describe, expect, it } from 'vitest';
import { MODEL_CHOICES, modelPlan } from './models';

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
  it('WebGPU and q4 plans do not change', () => {
    for (const m of MODEL_CHOICES) {
      expect(modelPlan(m, 'q4f16', 'webgpu', true, true)).toEqual(modelPlan(m, 'q4f16', 'webgpu', true));
      expect(modelPlan(m, 'q4', 'wasm', false, true)).toEqual(modelPlan(m, 'q4', 'wasm'));
    }
  });
});
