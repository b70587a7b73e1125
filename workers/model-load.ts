/**
 * Loading a chat model in the model worker: backend choice (WebGPU / WASM, with the reason), WASM
 * set-up (the app's own .wasm, threads when cross-origin isolated), fetching the files, the
 * tokenizer, instrumenting the graph and creating the session.
 */
import * as ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { parseConfig } from '../src/core/lm/config';
import { LmEngine, kvCacheOutputLocations } from '../src/core/lm/generate';
import { loadModelFiles, stopTokenIds, type ModelLoadProgress, type ModelSource } from '../src/core/lm/model-source';
import { ChatTokenizer } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { createSession, type Ort } from '../src/core/lm/ort';
import type { FileCache } from '../src/core/hub/cache';
import type { DeviceRequest, LoadOptions, ModelInfo } from './model-protocol';

export interface LoadedModel {
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  info: ModelInfo;
}

export async function chooseBackend(req: DeviceRequest, needsF16: boolean): Promise<{ backend: 'webgpu' | 'wasm'; reason: string }> {
  if (req === 'wasm') return { backend: 'wasm', reason: 'WASM requested.' };
  const gpu = (self.navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ features: Set<string> } | null> } }).gpu;
  const fallback = (why: string) => {
    if (req === 'webgpu') throw Object.assign(new Error(why), { name: 'webgpu-unavailable' });
    return { backend: 'wasm' as const, reason: why + '; using WASM.' };
  };
  if (!gpu) return fallback('WebGPU adapter unavailable: navigator.gpu missing');
  let adapter: { features: Set<string> } | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return fallback(`WebGPU adapter unavailable: requestAdapter failed (${(e as Error).message})`);
  }
  if (!adapter) return fallback('WebGPU adapter unavailable: requestAdapter() returned null');
  if (needsF16 && !adapter.features.has('shader-f16')) return fallback('WebGPU has no shader-f16, which this fp16 model needs');
  return { backend: 'webgpu', reason: 'Using WebGPU.' };
}

export function configureWasm(): number {
  ort.env.wasm.wasmPaths = { wasm: ortWasmUrl };
  const isolated = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = isolated ? Math.max(1, Math.min(4, self.navigator.hardwareConcurrency ?? 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  return threads;
}


/** Fetch, instrument and open a model; the caller owns the result. */
export async function loadModel(
  source: ModelSource,
  options: LoadOptions,
  ctx: { signal: AbortSignal; cache: FileCache | null; onProgress?: (p: ModelLoadProgress) => void },
): Promise<LoadedModel> {
  const { signal, cache } = ctx;
  const onProgress = ctx.onProgress;
  const t0 = performance.now();
  const files = await loadModelFiles(source, {
    signal: signal,
    cache: options.cache === false ? undefined : cache ?? undefined,
    onProgress: onProgress ? (p) => void Promise.resolve(onProgress(p)).catch(() => {}) : undefined,
  });
  const config = parseConfig(files.config);
  const tokenizer = await ChatTokenizer.fromFiles(files.tokenizer);
  const inst = instrumentDecoder(files.model, { externalData: files.externalData, hiddenSize: config.hiddenSize });
  const needsF16 = inst.info.residDtype === 'float16';
  const threads = configureWasm();
  let { backend, reason } = await chooseBackend(options.device ?? 'auto', needsF16);
  const create = (ep: 'webgpu' | 'wasm') =>
    createSession(ort as unknown as Ort, inst, {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
      // On WebGPU the KV cache never leaves the GPU: present.* go straight back in as past.
      ...(ep === 'webgpu' ? { preferredOutputLocation: kvCacheOutputLocations(config.numLayers) } : {}),
    });
  let session: Awaited<ReturnType<typeof create>>;
  try {
    session = await create(backend);
  } catch (e) {
    if (backend !== 'webgpu' || options.device === 'webgpu') throw e;
    reason = `WebGPU session failed (${(e as Error).message}); using WASM.`;
    backend = 'wasm';
    session = await create('wasm');
  }
  if (backend === 'wasm') reason += threads > 1 ? ` WASM with ${threads} threads (cross-origin isolated).` : ' WASM single-threaded (the page is not cross-origin isolated).';
  const engineOptions = { style: inst.info.style }; // batched rows (extraction, chat) pad per export style
  const engine = new LmEngine(ort, session, config, engineOptions);
  const info: ModelInfo = {
    label: files.label,
    backend,
    reason: reason.trim(),
    threads: backend === 'wasm' ? threads : 0,
    numLayers: config.numLayers,
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    modelType: config.modelType,
    style: inst.info.style,
    residDtype: inst.info.residDtype,
    stopIds: stopTokenIds(files.config, files.generationConfig, tokenizer.eosId),
    bytes: files.bytes,
    loadMs: performance.now() - t0,
    warnings: inst.info.warnings,
  };
  return { engine, tokenizer, info };
}
