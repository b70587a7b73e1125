/**
 * The extraction tab's model load: a listed hub model goes to the model worker with no dtype pinned
 * (its picker takes the fastest file for the backend it lands on: a fixed q4f16, the list's first
 * dtype, cannot run on WASM at all), and the synthetic model as itself.
 */
import { describe, expect, it } from 'vitest';
import type { ModelSource } from '../../core/lm/model-source';
import type { ModelClient } from '../../../workers/model-client';
import { MODEL_CHOICES } from '../chat/models';
import { setExtractClientFactory, useExtract } from './store';

describe('extraction store: loading a model', () => {
  it('asks the worker for the listed repo with the dtype left to its picker', async () => {
    const sources: ModelSource[] = [];
    const fake = {
      load: async (source: ModelSource) => {
        sources.push(source);
        return { label: 'x', numLayers: 2, hiddenSize: 8, backend: 'wasm' };
      },
      extractRuns: async () => [],
    } as unknown as ModelClient;
    setExtractClientFactory(() => fake);
    const qwen = MODEL_CHOICES[0];
    useExtract.getState().setModelId(qwen.id);
    await useExtract.getState().loadModel();
    expect(useExtract.getState().error).toBeNull();
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({ kind: 'hub', repo: qwen.repo });
    expect((sources[0] as { dtype?: string }).dtype).toBeUndefined();
    useExtract.getState().setModelId('synthetic');
    await useExtract.getState().loadModel();
    expect(sources[1]).toEqual({ kind: 'synthetic' });
    expect(useExtract.getState().model).toMatchObject({ numLayers: 2, hiddenSize: 8, backend: 'wasm' });
  });
});
