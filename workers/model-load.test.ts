/**
 * The model worker's loader (model-load.ts loadModelIn) in Node, the same code the worker runs, with
 * a Node environment: onnxruntime-web (WASM) and our int8 decoder with a worker_threads kernel pool.
 * An 8-bit file opens on our decoder (runtime 'own', the pool's threads, no onnxruntime session) and
 * gives onnxruntime-web's greedy tokens; a file our decoder cannot read falls back to onnxruntime-web
 * and the load sentence says so; unloading the model ends the pool; error codes still cross the
 * worker boundary.
 */
import * as ortWeb from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDecoder, type ModelDType } from '../src/core/lm/builder';
import { randomCheckpoint } from '../src/core/lm/checkpoint';
import { syntheticConfig, type ModelLoadProgress, type ModelSource } from '../src/core/lm/model-source';
import { syntheticTokenizerFiles } from '../src/core/lm/tokenizer';
import { parseConfig } from '../src/core/lm/config';
import { pickWeights } from '../src/core/lm/pick';
import { int8GemvWasm } from '../src/core/lm/int8-gemv-wasm';
import { createOwnEngine } from '../src/core/lm/own/session';
import { corr } from '../src/core/lm/builder/ort-node.testkit';
import { dequantizeMatMulNBits } from '../src/core/onnx/rewrite/dequantize';
import { nodeKernelPool } from './own-pool-node';
import { convertStage, loadModelIn, PREPARE_STAGE, type KernelPoolHandle, type LoadEnv } from './model-load';
import { ModelCore, errorInfo, guarded } from './model-core';
import { ModelWorkerError, workerErrorFrom } from './model-protocol';

const THREADS = 2;
const pools: { threads: number; closed: boolean }[] = [];

const env: LoadEnv = {
  configureWasm: () => {
    ortWeb.env.wasm.numThreads = 1;
    ortWeb.env.logLevel = 'fatal';
    return THREADS;
  },
  isolated: true,
  probeWebGpu: async () => ({ ok: false, shaderF16: false, why: 'no WebGPU in Node', software: false }),
  ownDecoder: int8GemvWasm() !== null,
  kernelPool: async (threads): Promise<KernelPoolHandle> => {
    const pool = await nodeKernelPool(threads);
    const rec = { threads: pool.threads, closed: false };
    pools.push(rec);
    return Object.assign(Object.create(pool) as KernelPoolHandle, {
      threads: pool.threads,
      load: pool.load.bind(pool),
      close: async () => { rec.closed = true; await pool.close(); },
    });
  },
};

const config = syntheticConfig({ num_hidden_layers: 2 });
const ck = randomCheckpoint(config, { seed: 11 });
const tok = syntheticTokenizerFiles();
/** A model folder; `configSays` overrides what its config.json says (not the weights). */
function folder(dtype: ModelDType, configSays: Record<string, unknown> = {}): Record<string, Uint8Array> {
  const b = buildDecoder(ck, { style: 'optimum', dtype });
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  return {
    'config.json': enc({ ...config, ...configSays }),
    'generation_config.json': enc({ eos_token_id: config.eos_token_id }),
    'tokenizer.json': enc(tok.tokenizerJSON),
    'tokenizer_config.json': enc(tok.tokenizerConfig),
    [`onnx/${b.fileName}`]: b.onnx,
  };
}

const load = (source: ModelSource) => loadModelIn(env, source, { device: 'wasm' }, { signal: new AbortController().signal, cache: null });
const PROMPT = [72, 105, 33, 10, 200];

describe.skipIf(!env.ownDecoder)('model worker loader: our int8 decoder on WASM', () => {
  const core = new ModelCore((s, o, c) => loadModelIn(env, s, o, c));
  const api = guarded(core);
  afterAll(() => core.dispose());

  it('a q8 folder opens on our decoder with a 2-thread pool, says so in one sentence, and gives onnxruntime-web\'s greedy tokens', async () => {
    const own = await load({ kind: 'files', files: folder('q8'), label: 'q8 folder' });
    expect(own.info.runtime).toBe('own');
    expect(own.info.backend).toBe('wasm');
    expect(own.info.threads).toBe(THREADS);
    expect(own.info.file).toBe('onnx/model_quantized.onnx');
    expect(own.info.dtype).toBe('q8');
    expect(own.info.style).toBe('optimum');
    expect(own.engine.instrumented).toBe(true);
    expect(own.info.reason).toMatch(/^onnx\/model_quantized\.onnx \(q8; .* memory\), run by our int8 decoder \(~4x onnxruntime-web's decode speed\), on WASM with 2 threads \(cross-origin isolated\): the fastest on WASM \(8-bit weights on our int8 decoder/);
    expect(own.info.reason.trim().split(/\.\s+\S/).length).toBe(1);
    // the same file on onnxruntime-web, forced by a named-file source with our decoder off
    const web = await loadModelIn({ ...env, ownDecoder: false }, { kind: 'files', files: folder('q8'), onnxFile: 'onnx/model_quantized.onnx' }, { device: 'wasm' }, { signal: new AbortController().signal, cache: null });
    expect(web.info.runtime).toBe('onnxruntime-web');
    const a = await own.engine.generate(PROMPT, { maxNewTokens: 6, stopIds: [] });
    const b = await web.engine.generate(PROMPT, { maxNewTokens: 6, stopIds: [] });
    expect(a.ids).toHaveLength(6);
    expect(a.ids).toEqual(b.ids);
    await own.engine.dispose();
    await own.close?.();
    await web.engine.dispose();
    expect(pools.at(-1)).toEqual({ threads: THREADS, closed: true });
  });

  it('a file our decoder cannot read falls back to onnxruntime-web, said in the load sentence, and generates', async () => {
    const before = pools.length;
    // config.json says MLP 96 wide, the weights are 128: our decoder checks every linear against the
    // config and refuses; onnxruntime never reads intermediate_size and runs the file as it is
    const files = folder('q8', { intermediate_size: 96 });
    const m = await load({ kind: 'files', files });
    expect(m.info.runtime).toBe('onnxruntime-web');
    expect(m.info.dtype).toBe('q8');
    expect(m.info.reason).toMatch(/, run by onnxruntime-web, on WASM with 2 threads \(cross-origin isolated\): the 8-bit file picked for our int8 decoder; our int8 decoder cannot run it \(.*the config says.*\), so onnxruntime-web does\.$/);
    // the memory said is onnxruntime-web's heap estimate now, not our decoder's
    const offered = Object.entries(files).map(([path, b]) => ({ path, size: b.byteLength }));
    const cfg = parseConfig({ ...config, intermediate_size: 96 });
    const req = { files: offered, backend: 'wasm' as const, config: cfg, rows: 3, contextTokens: 2048, dtype: 'q8' as const };
    expect(m.info.memoryBytes).toBe(pickWeights(req).memoryBytes);
    expect(m.info.memoryBytes).not.toBe(pickWeights({ ...req, ownDecoder: true }).memoryBytes);
    expect(m.info.reason.trim().split(/\.\s+[A-Z]/).length).toBe(1);
    // the pool made for it was ended
    expect(pools.slice(before).every((p) => p.closed)).toBe(true);
    expect((await m.engine.generate(PROMPT, { maxNewTokens: 3, stopIds: [] })).ids).toHaveLength(3);
    await m.engine.dispose();
  });

  it('a kernel pool that does not start leaves our decoder on one thread, said so; not isolated: one thread, no pool', async () => {
    const failing: LoadEnv = { ...env, kernelPool: async () => { throw new Error('Worker is not defined.'); } };
    const m = await loadModelIn(failing, { kind: 'files', files: folder('q8') }, { device: 'wasm' }, { signal: new AbortController().signal, cache: null });
    expect(m.info.runtime).toBe('own');
    expect(m.info.threads).toBe(1);
    expect(m.info.reason).toMatch(/on WASM single-threaded: .*; our int8 decoder's 2 kernel threads did not start \(Worker is not defined\), so it runs on one thread\.$/);
    expect(m.close).toBeUndefined();
    await m.engine.dispose();
    const before = pools.length;
    const open = await loadModelIn({ ...env, isolated: false }, { kind: 'files', files: folder('q8') }, { device: 'wasm' }, { signal: new AbortController().signal, cache: null });
    expect(open.info.threads).toBe(1);
    expect(open.info.reason).toMatch(/on WASM single-threaded \(the page is not cross-origin isolated\)/);
    expect(pools.length).toBe(before);
    await open.engine.dispose();
  });

  it('a q4-only folder is converted to int8 at load and opens on our decoder: the same numbers as the converted file run directly, close to the 4-bit ones', async () => {
    const files = folder('q4');
    const own = await load({ kind: 'files', files });
    expect(own.info.runtime).toBe('own');
    expect(own.info.file).toBe('onnx/model_q4.onnx');
    expect(own.info.dtype).toBe('q4');
    expect(own.info.threads).toBe(THREADS);
    expect(own.info.reason).toMatch(/^onnx\/model_q4\.onnx \(q4, converted to int8 at load; .* memory\), run by our int8 decoder \(~4x onnxruntime-web's decode speed\), on WASM with 2 threads \(cross-origin isolated\): the fastest on WASM without an 8-bit file \(the 4-bit weights re-quantised to per-column int8/);
    expect(own.info.reason.trim().split(/\.\s+\S/).length).toBe(1);
    // the same engine as our decoder on the converted file, opened by hand
    const d = dequantizeMatMulNBits(files['onnx/model_q4.onnx'], { target: 'int8' });
    const direct = createOwnEngine(ortWeb as never, d.model, parseConfig(config), { externalData: d.externalData });
    const a = await own.engine.forward(PROMPT);
    const b = await direct.forward(PROMPT);
    expect(a.logits).toEqual(b.logits);
    // and near the 4-bit numbers (onnxruntime-web runs the file converted to fp32: exactly the q4 weights)
    const web = await loadModelIn({ ...env, ownDecoder: false }, { kind: 'files', files }, { device: 'wasm' }, { signal: new AbortController().signal, cache: null });
    expect(web.info.reason).toMatch(/converted to fp32 at load/);
    const c = await web.engine.forward(PROMPT);
    expect(corr(a.logits, c.logits)).toBeGreaterThan(0.99);
    expect(a.logits).not.toEqual(c.logits);
    await Promise.all([own.engine.dispose(), direct.dispose(), web.engine.dispose()]);
    await own.close?.();
  });

  it('a q4 folder our decoder cannot read after converting runs on onnxruntime-web as the int8 graph, said so', async () => {
    const before = pools.length;
    const m = await load({ kind: 'files', files: folder('q4', { intermediate_size: 96 }) });
    expect(m.info.runtime).toBe('onnxruntime-web');
    expect(m.info.reason).toMatch(/^onnx\/model_q4\.onnx \(q4, converted to int8 at load; .*\), run by onnxruntime-web, on WASM with 2 threads \(cross-origin isolated\): the 4-bit weights converted to int8 for our int8 decoder; our int8 decoder cannot run it \(.*\), so onnxruntime-web does\.$/);
    expect(pools.slice(before).every((p) => p.closed)).toBe(true);
    expect((await m.engine.generate(PROMPT, { maxNewTokens: 3, stopIds: [] })).ids).toHaveLength(3);
    await m.engine.dispose();
  });

  it('fp32 stays on onnxruntime-web; the synthetic model in q8 opens on our decoder', async () => {
    const fp32 = await load({ kind: 'files', files: folder('fp32') });
    expect(fp32.info.runtime).toBe('onnxruntime-web');
    expect(fp32.info.reason).toMatch(/, run by onnxruntime-web, on WASM/);
    await fp32.engine.dispose();
    const syn = await load({ kind: 'synthetic', seed: 4, dtype: 'q8' } as unknown as ModelSource);
    expect(syn.info.runtime).toBe('own');
    expect((await syn.engine.generate(PROMPT, { maxNewTokens: 2, stopIds: [] })).ids).toHaveLength(2);
    await syn.engine.dispose();
    await syn.close?.();
  });

  it('preparing the weights for our decoder is a progress row of its own after the files (linears done of all, 0 to all), after the 4-bit conversion\'s row for a q4 folder', async () => {
    const seen: ModelLoadProgress[] = [];
    const m = await loadModelIn(env, { kind: 'files', files: folder('q4') }, { device: 'wasm' }, { signal: new AbortController().signal, cache: null, onProgress: (p) => seen.push(p) });
    expect(m.info.runtime).toBe('own');
    const LINEARS = 4 * m.info.numLayers + 1;
    const files = seen.filter((p) => !p.stage);
    const stages = seen.slice(files.length);
    // the files first, then the stages
    expect(seen.slice(0, files.length)).toEqual(files);
    const filesTotal = files.at(-1)!.filesTotal;
    expect(stages.every((p) => p.filesDone === filesTotal && p.filesTotal === filesTotal)).toBe(true);
    // the conversion: a row counting its MatMulNBits nodes (the 7 linears a layer and the lm_head), 0 to all
    const conv = stages.filter((p) => p.file === convertStage('int8'));
    expect(stages.slice(0, conv.length)).toEqual(conv);
    const NODES = 7 * m.info.numLayers + 1;
    expect(conv.map((p) => p.loaded)).toEqual(Array.from({ length: NODES + 1 }, (_, i) => i));
    expect(conv.every((p) => p.total === NODES && p.stage?.unit === 'linears')).toBe(true);
    const prep = stages.slice(conv.length);
    expect(prep.every((p) => p.file === PREPARE_STAGE && p.total === LINEARS && p.stage?.unit === 'linears')).toBe(true);
    expect(prep.map((p) => p.loaded)).toEqual(Array.from({ length: LINEARS + 1 }, (_, i) => i));
    // each row's bar: the share of its weights done, from 0 to 1, never back
    for (const rows of [conv, prep]) {
      const fr = rows.map((p) => p.stage?.fraction);
      expect(fr[0]).toBe(0);
      expect(fr.at(-1)).toBe(1);
      for (let i = 1; i < fr.length; i++) expect(fr[i]!).toBeGreaterThanOrEqual(fr[i - 1]!);
    }
    // the prepare row's fraction is by weight bytes, not by linears: the lm_head (the last) is more than 1 / LINEARS of them
    expect(1 - prep.at(-2)!.stage!.fraction!).toBeGreaterThan(1 / LINEARS);
    await m.engine.dispose();
    await m.close?.();
  });

  it('a cancel while the weights are being prepared: the load rejects as cancelled (code aborted), its pool is closed, no model is kept, and the next load works', async () => {
    const core = new ModelCore((s, o, c) => loadModelIn(env, s, o, c));
    const api = guarded(core);
    const before = pools.length;
    let cancelledAt = -1;
    let after = 0;
    const err = await api.load({ kind: 'files', files: folder('q8') }, {}, (p) => {
      if (cancelledAt >= 0) after++;
      if (p.file === PREPARE_STAGE && p.loaded === 3 && cancelledAt < 0) {
        cancelledAt = p.loaded;
        void api.cancelLoad();
      }
    }).then(() => null, (e: unknown) => workerErrorFrom(e as Error));
    expect(cancelledAt).toBe(3);
    expect(err).toBeInstanceOf(ModelWorkerError);
    expect((err as ModelWorkerError).code).toBe('aborted');
    expect((err as ModelWorkerError).message).toBe('Cancelled.');
    // no linear was built after the cancel, and the pool made for the load was closed
    expect(after).toBe(0);
    expect(pools.length).toBe(before + 1);
    expect(pools.at(-1)!.closed).toBe(true);
    let noModel: unknown;
    try {
      await api.chatSend('hi');
    } catch (e) {
      noModel = e;
    }
    expect((noModel as Error).name).toBe('ps:no-model');
    const info = await api.load({ kind: 'files', files: folder('q8') });
    expect(info.runtime).toBe('own');
    expect(pools.at(-1)!.closed).toBe(false);
    await core.dispose();
    expect(pools.at(-1)!.closed).toBe(true);
  });

  it('a cancel while a q4 file is converted to int8 rejects as cancelled before any pool is made', async () => {
    const before = pools.length;
    const ac = new AbortController();
    const err = await loadModelIn(env, { kind: 'files', files: folder('q4') }, { device: 'wasm' }, {
      signal: ac.signal, cache: null,
      onProgress: (p) => { if (p.file === convertStage('int8') && p.loaded === 2) ac.abort(); },
    }).then(() => null, (e: unknown) => e);
    expect((err as Error)?.name).toBe('AbortError');
    expect(errorInfo(err)).toEqual({ code: 'aborted', message: 'Cancelled.' });
    expect(pools.length).toBe(before);
  });

  it('through the model worker core: chat with steering on our decoder; unloading ends the pool; codes cross the boundary', async () => {
    const info = await api.load({ kind: 'files', files: folder('q8') });
    expect(info.runtime).toBe('own');
    const pool = pools.at(-1)!;
    expect(pool.closed).toBe(false);
    const L = info.numLayers, D = info.hiddenSize;
    api.setAxis({ label: 'test axis', source: 'file', numLayers: L, hiddenSize: D, axis: new Float32Array(L * D).map((_, i) => Math.cos(i * 0.3)), roleStats: null, defaultProjection: null, calibration: null });
    api.chatSettings({ sampling: { temperature: 0, maxTokens: 4 }, panes: { steered: { steer: { amount: 4 } } } });
    const snap = await api.chatSend('Who are you?');
    const d = snap.panes.default!.messages[1], s = snap.panes.steered!.messages[1];
    expect(d.role).toBe('assistant');
    // steering moved the steered pane's projections at the steered layer
    expect(s.generated!.mean![1]).not.toBeCloseTo(d.generated!.mean![1], 3);
    // a load replaces the model: the old pool ends
    await api.load({ kind: 'files', files: folder('fp32') });
    expect(pool.closed).toBe(true);
    await core.dispose();
    let err: unknown;
    try {
      await api.chatSend('hi');
    } catch (e) {
      err = workerErrorFrom(Object.assign(new Error((e as Error).message), { name: (e as Error).name }));
    }
    expect(err).toBeInstanceOf(ModelWorkerError);
    expect((err as ModelWorkerError).code).toBe('no-model');
  });
});
