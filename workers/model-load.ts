/**
 * Loading a chat model in the model worker: backend choice (WebGPU / WASM, with the reason), the
 * weights file for that backend (src/core/lm/pick.ts: from the files the repo or folder offers),
 * WASM set-up (the app's own .wasm, threads when cross-origin isolated), fetching the files, the
 * tokenizer, a load-time q4 conversion when the picker asks for one, instrumenting the graph and
 * creating the session. onnxruntime's own log lines are silenced (errors reach the user as ours).
 */
import * as ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { parseConfig, type DecoderConfig } from '../src/core/lm/config';
import { LmEngine, kvCacheOutputLocations } from '../src/core/lm/generate';
import { loadModelFiles, stopTokenIds, type ModelLoadProgress, type ModelSource } from '../src/core/lm/model-source';
import { pickWeights, type OfferedFile, type WeightsChoice, type WeightsDtype } from '../src/core/lm/pick';
import { ChatTokenizer } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { dequantizeMatMulNBits } from '../src/core/onnx/rewrite/dequantize';
import { createSession, type Ort } from '../src/core/lm/ort';
import { listHubFolder } from '../src/core/hub/list';
import { fetchWithProgress } from '../src/core/hub/fetch';
import { hubFileUrl } from '../src/core/hub/url';
import { DataError } from '../src/core/errors';
import { softwareAdapter, usesWebGpu, type GpuAdapterLike } from '../src/core/lm/adapter';
import type { FileCache } from '../src/core/hub/cache';
import type { LoadOptions, ModelInfo } from './model-protocol';

export interface LoadedModel {
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  info: ModelInfo;
}

interface GpuProbe { ok: boolean; shaderF16: boolean; why: string; software: boolean }

async function probeWebGpu(): Promise<GpuProbe> {
  const gpu = (self.navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return { ok: false, shaderF16: false, why: 'WebGPU adapter unavailable: navigator.gpu missing', software: false };
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { ok: false, shaderF16: false, why: `WebGPU adapter unavailable: requestAdapter failed (${(e as Error).message})`, software: false };
  }
  if (!adapter) return { ok: false, shaderF16: false, why: 'WebGPU adapter unavailable: requestAdapter() returned null', software: false };
  const sw = softwareAdapter(adapter);
  return {
    ok: true,
    shaderF16: adapter.features.has('shader-f16'),
    why: sw ? `WebGPU here is a software adapter (${sw}), slower than WASM` : '',
    software: sw !== null,
  };
}

const webgpuUnavailable = (why: string) => Object.assign(new Error(why), { name: 'webgpu-unavailable' });

export function configureWasm(): number {
  ort.env.wasm.wasmPaths = { wasm: ortWasmUrl };
  const isolated = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const threads = isolated ? Math.max(1, Math.min(4, self.navigator.hardwareConcurrency ?? 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  // onnxruntime's own (coloured) log lines never reach the console; failures come back as errors
  ort.env.logLevel = 'fatal';
  return threads;
}

/** Rows and context the memory estimate assumes (the chat lab's three panes, a long chat). */
const PLAN_ROWS = 3;
const PLAN_CONTEXT = 2048;
const LIST_TIMEOUT_MS = 20_000;

/**
 * The weights to load for a hub or folder source on this backend, or null when the source names its
 * file (onnxFile) or the hub cannot list the repo (then the dtype's usual file name is used).
 */
async function chooseWeights(
  source: Exclude<ModelSource, { kind: 'synthetic' }>,
  backend: 'webgpu' | 'wasm',
  shaderF16: boolean,
  ctx: { signal: AbortSignal; cache: FileCache | null },
): Promise<{ choice: WeightsChoice | null; note: string }> {
  if (source.onnxFile) return { choice: null, note: '' };
  let files: OfferedFile[];
  let configBytes: Uint8Array | undefined;
  if (source.kind === 'files') {
    files = Object.entries(source.files).map(([path, b]) => ({ path: path.replace(/\\/g, '/').replace(/^\.\//, ''), size: b.byteLength }));
    configBytes = source.files['config.json'];
  } else {
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]);
    try {
      files = await listHubFolder({ hub: source.hub, repo: source.repo, revision: source.revision, path: 'onnx', signal });
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      return { choice: null, note: `the hub did not list the repo (${(e as Error).message}), so the ${source.dtype ?? 'fp32'} file is loaded` };
    }
    configBytes = await fetchWithProgress(hubFileUrl({ hub: source.hub, repo: source.repo, revision: source.revision, path: 'config.json' }), {
      signal: ctx.signal, cache: ctx.cache ?? undefined, setId: `model:${source.hub ?? ''}/${source.repo}@${source.revision ?? 'main'}`,
    }).catch(() => undefined);
  }
  let config: DecoderConfig | undefined;
  try {
    config = configBytes ? parseConfig(new TextDecoder().decode(configBytes)) : undefined;
  } catch {
    config = undefined; // loadModelFiles reports a bad config.json in its own words
  }
  const req = { files, backend, shaderF16, config, rows: PLAN_ROWS, contextTokens: PLAN_CONTEXT };
  const asked = source.dtype && (source.dtype as string) !== 'auto' ? (source.dtype as WeightsDtype) : undefined;
  if (asked) {
    try {
      return { choice: pickWeights({ ...req, dtype: asked }), note: '' };
    } catch (e) {
      // a dtype this backend cannot run (fp16 on WASM) or that is not on offer: the fastest instead, said so
      if (!(e instanceof DataError) || !['wasm-no-f16', 'webgpu-no-f16', 'model-no-weights'].includes(e.code)) throw e;
      return { choice: pickWeights(req), note: `${asked} was asked for, but ${e.message.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase())}` };
    }
  }
  return { choice: pickWeights(req), note: '' };
}

const gb = (b: number) => `${(b / 1e9).toFixed(b < 1e9 ? 2 : 1)} GB`;

/** One sentence: file, dtype, backend, threads and why. */
function describeLoad(label: string, choice: WeightsChoice | null, backend: 'webgpu' | 'wasm', threads: number, notes: string[]): string {
  const where = backend === 'webgpu' ? 'WebGPU' : threads > 1 ? `WASM with ${threads} threads (cross-origin isolated)` : 'WASM single-threaded (the page is not cross-origin isolated)';
  const what = choice
    ? `${choice.file} (${choice.dtype}${choice.convert ? `, converted to ${choice.convert} at load` : ''}; ${gb(choice.downloadBytes)} download, ~${gb(choice.memoryBytes)} memory)`
    : label;
  const why = choice ? `: ${choice.why.replace(/\.$/, '')}` : '';
  const extra = notes.filter(Boolean).map((n) => n.replace(/\.$/, '').replace(/; using WASM$/, ''));
  return `${what} on ${where}${why}${extra.length ? `; ${extra.join('; ')}` : ''}.`;
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
  const threads = configureWasm();
  const device = options.device ?? 'auto';
  // 1. the backend (before the weights: the file depends on it)
  let backend: 'webgpu' | 'wasm' = 'wasm';
  let shaderF16 = false;
  const notes: string[] = [];
  if (device !== 'wasm') {
    const p = await probeWebGpu();
    if (usesWebGpu(device, p.ok ? p : null)) { backend = 'webgpu'; shaderF16 = p.shaderF16; }
    else if (p.ok) notes.push(p.why + '; using WASM');
    else if (device === 'webgpu') throw webgpuUnavailable(p.why);
    else notes.push(p.why);
  }
  // 2. the weights for it
  let choice: WeightsChoice | null = null;
  if (source.kind !== 'synthetic') {
    const picked = await chooseWeights(source, backend, shaderF16, { signal, cache });
    choice = picked.choice;
    if (picked.note) notes.push(picked.note);
    if (choice) source = { ...source, onnxFile: choice.file };
  }
  const files = await loadModelFiles(source, {
    signal: signal,
    cache: options.cache === false ? undefined : cache ?? undefined,
    onProgress: onProgress ? (p) => void Promise.resolve(onProgress(p)).catch(() => {}) : undefined,
  });
  const config = parseConfig(files.config);
  const tokenizer = await ChatTokenizer.fromFiles(files.tokenizer);
  let model = files.model;
  let externalData = files.externalData;
  if (choice?.convert) {
    const d = dequantizeMatMulNBits(model, { target: choice.convert, externalData });
    model = d.model;
    externalData = d.externalData;
  }
  const inst = instrumentDecoder(model, { externalData, hiddenSize: config.hiddenSize });
  if (backend === 'webgpu' && inst.info.residDtype === 'float16' && !shaderF16) {
    if (device === 'webgpu') throw webgpuUnavailable('WebGPU has no shader-f16, which this fp16 model needs');
    backend = 'wasm';
    notes.push('WebGPU has no shader-f16, which this fp16 model needs');
  }
  const create = (ep: 'webgpu' | 'wasm') =>
    createSession(ort as unknown as Ort, inst, {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4,
      // On WebGPU the KV cache never leaves the GPU: present.* go straight back in as past.
      ...(ep === 'webgpu' ? { preferredOutputLocation: kvCacheOutputLocations(config.numLayers) } : {}),
    });
  let session: Awaited<ReturnType<typeof create>>;
  try {
    session = await create(backend);
  } catch (e) {
    if (backend !== 'webgpu' || device === 'webgpu') throw e;
    notes.push(`WebGPU session failed (${(e as Error).message.split('\n')[0]})`);
    backend = 'wasm';
    session = await create('wasm');
  }
  const engine = new LmEngine(ort, session, config, { style: inst.info.style });
  const info: ModelInfo = {
    label: files.label,
    backend,
    reason: describeLoad(files.label, choice, backend, threads, notes),
    threads: backend === 'wasm' ? threads : 0,
    file: choice?.file ?? files.label.split(' · ').pop(),
    dtype: choice?.dtype,
    convert: choice?.convert ?? null,
    memoryBytes: choice?.memoryBytes,
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
