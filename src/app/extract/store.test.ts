/**
 * The extraction tab's model load: a listed hub model goes to the model worker with no dtype pinned
 * (its picker takes the fastest file for the backend it lands on: a fixed q4f16, the list's first
 * dtype, cannot run on WASM at all), and the synthetic model as itself. Cancelling a load: the
 * worker's cancelLoad, 'Cancelled.' and the tab's other state as it was.
 */
import { describe, expect, it } from 'vitest';
import type { ModelLoadProgress, ModelSource } from '../../core/lm/model-source';
import type { ModelClient } from '../../../workers/model-client';
import { ModelWorkerError } from '../../../workers/model-protocol';
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

describe('extraction store: cancelling a model load', () => {
  const INFO = { label: 'tiny', numLayers: 2, hiddenSize: 8, backend: 'wasm' };
  /** A worker whose loads report a preparing stage and wait; cancelLoad rejects the waiting load as the model worker does (code 'aborted', 'Cancelled.'). */
  function fakeWorker() {
    const calls = { load: 0, cancel: 0 };
    let pending: { reject: (e: unknown) => void; resolve: (v: unknown) => void } | null = null;
    const fake = {
      load: (_s: ModelSource, _o: unknown, onProgress?: (p: ModelLoadProgress) => void) => {
        calls.load++;
        onProgress?.({ file: 'Preparing weights for our int8 decoder', loaded: 3, total: 9, filesDone: 3, filesTotal: 3, stage: { unit: 'linears' } });
        return new Promise((resolve, reject) => { pending = { resolve, reject }; });
      },
      cancelLoad: async () => {
        calls.cancel++;
        pending?.reject(new ModelWorkerError('aborted', 'Cancelled.'));
        pending = null;
      },
      extractRuns: async () => [],
    } as unknown as ModelClient;
    return { fake, calls, finish: () => { pending?.resolve(INFO); pending = null; } };
  }

  it('Cancel during the preparing stage calls the worker\'s cancelLoad; the load ends as "Cancelled." with no error, the form and the last run\'s results as they were; Load again works', async () => {
    const w = fakeWorker();
    setExtractClientFactory(() => w.fake);
    const st = useExtract.getState;
    st().setModelId('synthetic');
    st().setForm({ roles: 'pirate, ghost', seed: 7 });
    const summary = { runId: 'r1', status: 'paused', rollouts: 3, generated: 3, seconds: 1, message: 'Paused after 3 rollouts.' };
    useExtract.setState({ runId: 'r1', summary: summary as never, notice: summary.message, stabilityTrace: [0.5, 0.7] });
    const form = st().form;
    // nothing loading: Cancel does not reach the worker
    st().cancelLoad();
    expect(w.calls.cancel).toBe(0);

    const loading = st().loadModel();
    expect(st().loading).toMatchObject({ file: 'Preparing weights for our int8 decoder', loaded: 3, total: 9, stage: { unit: 'linears' } });
    expect(st().model).toBeNull();
    st().cancelLoad();
    await loading;
    expect(w.calls).toEqual({ load: 1, cancel: 1 });
    expect(st().loading).toBeNull();
    expect(st().loadStatus).toBe('Cancelled.');
    expect(st().error).toBeNull();
    expect(st().model).toBeNull();
    expect(st().form).toBe(form);
    expect(st().form).toMatchObject({ roles: 'pirate, ghost', seed: 7 });
    expect(st()).toMatchObject({ runId: 'r1', summary, notice: summary.message, stabilityTrace: [0.5, 0.7] });

    // a load after it: the status goes, the model comes
    const again = st().loadModel();
    expect(st().loadStatus).toBeNull();
    w.finish();
    await again;
    expect(st().model).toMatchObject({ label: 'tiny', numLayers: 2 });
    expect(st().loadStatus).toBeNull();
    expect(st().error).toBeNull();
  });

  it('a load that fails otherwise says why as an error, not "Cancelled."', async () => {
    const fake = {
      load: async () => { throw new ModelWorkerError('network', 'The download of config.json failed.'); },
      cancelLoad: async () => {},
      extractRuns: async () => [],
    } as unknown as ModelClient;
    setExtractClientFactory(() => fake);
    await useExtract.getState().loadModel();
    expect(useExtract.getState().error).toBe('The download of config.json failed.');
    expect(useExtract.getState().loadStatus).toBeNull();
    expect(useExtract.getState().loading).toBeNull();
  });
});
