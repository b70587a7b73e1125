/**
 * Loading a chat model in the model worker: backend choice (WebGPU / WASM, with the reason), the
 * weights file for that backend (src/core/lm/pick.ts: from the files the repo or folder offers),
 * WASM set-up (the app's own .wasm, threads when cross-origin isolated), fetching the files, the
 * tokenizer, a load-time q4 conversion when the picker asks for one, instrumenting the graph and
 * creating the session. onnxruntime's own log lines are silenced (errors reach the user as ours).
 *
 * The runtime on WASM: an 8-bit file (q8 / int8 / uint8) opens on our int8 decoder
 * (src/core/lm/own/session.ts createOwnEngineAsync: instrumented, so taps, steering and capping work)
 * when WebAssembly SIMD is there, with a kernel pool of the WASM threads (workers/own-pool.ts) when
 * the page is cross-origin isolated; no graph is instrumented and no onnxruntime session made. Its
 * weights are prepared a linear at a time with the worker's event loop turning between them, so
 * progress ('Preparing weights for our int8 decoder', linears done of all) goes out and a cancel
 * stops it (the pool closed, nothing kept); so does a q4 file's conversion to int8 before it. A
 * file our decoder cannot read (FormatError) falls back to onnxruntime-web, said in the load
 * sentence. Everything else runs on onnxruntime-web as before. `ModelInfo.runtime` says which.
 *
 * The environment (onnxruntime-web's set-up, isolation, the WebGPU probe, the kernel pool) is a
 * `LoadEnv`: `loadModel` uses the browser's, tests drive `loadModelIn` in Node with their own.
 */
import * as ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { parseConfig, type DecoderConfig } from '../src/core/lm/config';
import { LmEngine, kvCacheOutputLocations } from '../src/core/lm/generate';
import { loadModelFiles, stopTokenIds, type ModelLoadProgress, type ModelSource } from '../src/core/lm/model-source';
import { dtypeOfFile, ownRunsDtype, pickWeights, wasmHeapEstimate, WASM_HEAP_BYTES, type OfferedFile, type PickRequest, type WeightsChoice, type WeightsDtype, type WeightsRuntime } from '../src/core/lm/pick';
import { int8GemvWasm } from '../src/core/lm/int8-gemv-wasm';
import { createOwnEngineAsync, type OwnSessionOptions } from '../src/core/lm/own/session';
import { nextTask } from '../src/core/steps';
import { ChatTokenizer } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { dequantizeMatMulNBitsAsync, type DequantizeTarget } from '../src/core/onnx/rewrite/dequantize';
import { createSession, type Ort } from '../src/core/lm/ort';
import { listHubFolder } from '../src/core/hub/list';
import { fetchWithProgress } from '../src/core/hub/fetch';
import { hubFileUrl } from '../src/core/hub/url';
import { DataError, FormatError } from '../src/core/errors';
import { softwareAdapter, usesWebGpu, type GpuAdapterLike } from '../src/core/lm/adapter';
import type { FileCache } from '../src/core/hub/cache';
import type { LoadOptions, ModelInfo } from './model-protocol';

export interface LoadedModel {
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  info: ModelInfo;
  /** What to release after the engine (our decoder's kernel pool), when there is anything. */
  close?: () => Promise<void>;
}

/** A kernel pool for our decoder's linears, with its helpers to end. */
export type KernelPoolHandle = NonNullable<OwnSessionOptions['pool']> & { close(): Promise<void> };

/** What loading needs of the place it runs in (the model worker's, or a test's in Node). */
export interface LoadEnv {
  /** Set onnxruntime-web's WASM backend up; returns its threads. */
  configureWasm(): number;
  /** The page is cross-origin isolated (SharedArrayBuffer; threads). */
  isolated: boolean;
  probeWebGpu(): Promise<GpuProbe>;
  /** Our int8 decoder can run here (WebAssembly SIMD). */
  ownDecoder: boolean;
  /** A kernel pool of `threads` threads for our decoder (none: every linear on the calling thread). */
  kernelPool?: (threads: number) => Promise<KernelPoolHandle>;
}

export interface GpuProbe { ok: boolean; shaderF16: boolean; why: string; software: boolean }

export async function probeWebGpu(): Promise<GpuProbe> {
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

/** The model worker's environment. */
export function browserLoadEnv(): LoadEnv {
  return {
    configureWasm,
    isolated: (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    probeWebGpu,
    ownDecoder: int8GemvWasm() !== null,
    kernelPool: async (threads) => (await import('./own-pool')).browserKernelPool(threads),
  };
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
  ownDecoder: boolean,
): Promise<{ choice: WeightsChoice | null; note: string; req?: PickRequest }> {
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
  const req: PickRequest = { files, backend, shaderF16, config, rows: PLAN_ROWS, contextTokens: PLAN_CONTEXT, ownDecoder: backend === 'wasm' && ownDecoder };
  const asked = source.dtype && (source.dtype as string) !== 'auto' ? (source.dtype as WeightsDtype) : undefined;
  if (asked) {
    try {
      return { choice: pickWeights({ ...req, dtype: asked }), note: '', req };
    } catch (e) {
      // a dtype this backend cannot run (fp16 on WASM) or that is not on offer: the fastest instead, said so
      if (!(e instanceof DataError) || !['wasm-no-f16', 'webgpu-no-f16', 'model-no-weights'].includes(e.code)) throw e;
      return { choice: pickWeights(req), note: `${asked} was asked for, but ${e.message.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase())}`, req };
    }
  }
  return { choice: pickWeights(req), note: '', req };
}

const gb = (b: number) => `${(b / 1e9).toFixed(b < 1e9 ? 2 : 1)} GB`;

/** Our decoder's decode speed against onnxruntime-web's on the same 8-bit file (bench/decode.bench.ts own_vs_ort_web, one thread, Node: 3.67 and 3.96 in two sessions). */
const OWN_SPEED = '~4x onnxruntime-web\'s decode speed';

/** One sentence: file, dtype, runtime, backend, threads and why. */
function describeLoad(
  label: string, choice: WeightsChoice | null, backend: 'webgpu' | 'wasm', runtime: WeightsRuntime, threads: number, isolated: boolean, notes: string[],
): string {
  const where = backend === 'webgpu' ? 'WebGPU'
    : threads > 1 ? `WASM with ${threads} threads (cross-origin isolated)`
    : isolated ? 'WASM single-threaded' : 'WASM single-threaded (the page is not cross-origin isolated)';
  const what = choice
    ? `${choice.file} (${choice.dtype}${choice.convert ? `, converted to ${choice.convert} at load` : ''}; ${gb(choice.downloadBytes)} download, ~${gb(choice.memoryBytes)} memory)`
    : label;
  const by = runtime === 'own' ? `our int8 decoder (${OWN_SPEED})` : 'onnxruntime-web';
  const why = choice ? `: ${choice.why.replace(/\.$/, '')}` : '';
  const extra = notes.filter(Boolean).map((n) => n.replace(/\.$/, '').replace(/; using WASM$/, ''));
  return `${what}, run by ${by}, on ${where}${why}${extra.length ? `; ${extra.join('; ')}` : ''}.`;
}

/** The load stages after the downloads, as progress rows say them. */
export const convertStage = (target: DequantizeTarget): string => `Converting 4-bit weights to ${target}`;
export const PREPARE_STAGE = 'Preparing weights for our int8 decoder';

/**
 * A turn of the worker's event loop (its messages, a cancel among them, are answered) without
 * timers' 4 ms clamp on nested timeouts: a message through a fresh MessageChannel (a timer where
 * there is none).
 */
export function macrotask(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return nextTask();
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/** Whether our decoder refused the file (it cannot read it), so onnxruntime-web should run it instead. */
function ownRefused(e: unknown): e is FormatError | DataError {
  return e instanceof FormatError || (e instanceof DataError && e.code === 'no-wasm-simd');
}

/** Fetch, instrument and open a model in the model worker; the caller owns the result. */
export function loadModel(
  source: ModelSource,
  options: LoadOptions,
  ctx: { signal: AbortSignal; cache: FileCache | null; onProgress?: (p: ModelLoadProgress) => void },
): Promise<LoadedModel> {
  return loadModelIn(browserLoadEnv(), source, options, ctx);
}

/** Fetch and open a model (our int8 decoder, or an instrumented onnxruntime-web session) in `env`; the caller owns the result. */
export async function loadModelIn(
  env: LoadEnv,
  source: ModelSource,
  options: LoadOptions,
  ctx: { signal: AbortSignal; cache: FileCache | null; onProgress?: (p: ModelLoadProgress) => void },
): Promise<LoadedModel> {
  const { signal, cache } = ctx;
  const onProgress = ctx.onProgress;
  const t0 = performance.now();
  const threads = env.configureWasm();
  const device = options.device ?? 'auto';
  // 1. the backend (before the weights: the file depends on it)
  let backend: 'webgpu' | 'wasm' = 'wasm';
  let shaderF16 = false;
  const notes: string[] = [];
  if (device !== 'wasm') {
    const p = await env.probeWebGpu();
    if (usesWebGpu(device, p.ok ? p : null)) { backend = 'webgpu'; shaderF16 = p.shaderF16; }
    else if (p.ok) notes.push(p.why + '; using WASM');
    else if (device === 'webgpu') throw webgpuUnavailable(p.why);
    else notes.push(p.why);
  }
  // 2. the weights for it
  let choice: WeightsChoice | null = null;
  let pickReq: PickRequest | undefined;
  if (source.kind !== 'synthetic') {
    const picked = await chooseWeights(source, backend, shaderF16, { signal, cache }, env.ownDecoder);
    choice = picked.choice;
    pickReq = picked.req;
    if (picked.note) notes.push(picked.note);
    if (choice) source = { ...source, onnxFile: choice.file };
  }
  // the file's dtype when the picker did not choose it (a named file, an unlisted repo, the synthetic model)
  const fileDtype = choice?.dtype
    ?? (source.kind !== 'synthetic' && source.onnxFile ? dtypeOfFile(source.onnxFile) : null)
    ?? ((source as { dtype?: string }).dtype as WeightsDtype | undefined)
    ?? (source.kind === 'synthetic' ? 'fp32' : null);
  let filesTotal = 0;
  const report = (p: ModelLoadProgress) => {
    filesTotal = p.filesTotal;
    if (onProgress) void Promise.resolve(onProgress(p)).catch(() => {});
  };
  const files = await loadModelFiles(source, {
    signal: signal,
    cache: options.cache === false ? undefined : cache ?? undefined,
    onProgress: report,
  });
  /** A stage after the downloads, as a progress row of its own. */
  /** A stage's row: `loaded` of `total` `unit`, and the share of its weights done (the bar: it moves within a big linear). */
  const stage = (file: string, loaded: number, total: number, unit: string, done: number, all: number) =>
    report({ file, loaded, total, filesDone: filesTotal, filesTotal, stage: { unit, fraction: all > 0 ? done / all : loaded >= total ? 1 : 0 } });
  const config = parseConfig(files.config);
  const tokenizer = await ChatTokenizer.fromFiles(files.tokenizer);
  let model = files.model;
  let externalData = files.externalData;
  /** The file's 4-bit weights converted to `target`, a linear a step (progress, and a cancel between them). */
  const convert = async (target: DequantizeTarget) => {
    const d = await dequantizeMatMulNBitsAsync(model, {
      target, externalData, signal, yieldNow: macrotask,
      onProgress: (p) => stage(convertStage(target), p.done, p.total, 'linears', p.weightsDone, p.weights),
    });
    model = d.model;
    externalData = d.externalData;
  };

  // 3a. our int8 decoder for an 8-bit file on WASM, or a q4 file converted to int8 for it
  const ownConvert = choice?.runtime === 'own' && choice.convert === 'int8';
  let converted = false;
  if (backend === 'wasm' && env.ownDecoder && ((ownRunsDtype(fileDtype) && !choice?.convert) || ownConvert) && (!choice || choice.runtime === 'own')) {
    if (ownConvert) {
      await convert('int8');
      converted = true;
    }
    let pool: KernelPoolHandle | undefined;
    const want = env.isolated ? threads : 1;
    if (want > 1 && env.kernelPool) {
      try {
        pool = await env.kernelPool(want);
      } catch (e) {
        notes.push(`our int8 decoder's ${want} kernel threads did not start (${(e as Error).message.replace(/\.$/, '')}), so it runs on one thread`);
      }
    }
    try {
      // in steps, the worker's messages (a cancel) answered between them, progress as a row of its own
      const engine = await createOwnEngineAsync(ort as unknown as Parameters<typeof createOwnEngineAsync>[0], model, config, {
        externalData, pool, signal, yieldNow: macrotask,
        onProgress: (p) => stage(PREPARE_STAGE, p.linearsDone, p.linears, 'linears', p.bytesDone, p.bytes),
      });
      const ownThreads = pool?.threads ?? 1;
      const info: ModelInfo = {
        ...baseInfo(files, config, tokenizer, choice, t0),
        backend: 'wasm',
        runtime: 'own',
        reason: describeLoad(files.label, choice, 'wasm', 'own', ownThreads, env.isolated, notes),
        threads: ownThreads,
        style: engine.style ?? 'optimum',
        residDtype: 'float32',
        warnings: [],
      };
      return { engine, tokenizer, info, close: pool ? () => pool.close() : undefined };
    } catch (e) {
      await pool?.close().catch(() => {});
      if (!ownRefused(e)) throw e;
      const why = (e as Error).message.replace(/\.$/, '');
      notes.push(`our int8 decoder cannot run it (${why.replace(/^./, (c) => c.toLowerCase())}), so onnxruntime-web does`);
      // onnxruntime-web holds the weights in one wasm32 heap: the file must fit its estimate
      if (choice && pickReq && converted) {
        // the q4 file is already converted to int8: onnxruntime-web runs that graph, if it fits
        const weights = model.byteLength + (externalData ?? []).reduce((a, f) => a + f.data.byteLength, 0);
        if (wasmHeapEstimate(weights, weights, 0) > WASM_HEAP_BYTES) throw new DataError('model-too-large', `Our int8 decoder cannot run ${choice.file} converted to int8 (${why.replace(/^./, (c) => c.toLowerCase())}), and onnxruntime-web cannot hold it in one wasm32 heap.`);
        choice = { ...choice, runtime: 'onnxruntime-web', why: 'the 4-bit weights converted to int8 for our int8 decoder.' };
      } else if (choice && pickReq) {
        try {
          const web = pickWeights({ ...pickReq, ownDecoder: false, dtype: choice.dtype });
          choice = { ...web, why: 'the 8-bit file picked for our int8 decoder.', reason: web.reason.replace(/: the dtype asked for\.$/, ': the 8-bit file picked for our int8 decoder.') };
        } catch (fit) {
          if (fit instanceof DataError && fit.code === 'model-too-large') {
            throw new DataError('model-too-large', `Our int8 decoder cannot run ${choice.file} (${why.replace(/^./, (c) => c.toLowerCase())}), and onnxruntime-web cannot hold it: ${fit.message.replace(/^./, (c) => c.toLowerCase())}`);
          }
          throw fit;
        }
      }
    }
  }

  // 3b. onnxruntime-web: instrument the graph, open a session
  if (choice?.convert && !converted) {
    await convert(choice.convert);
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
    ...baseInfo(files, config, tokenizer, choice, t0),
    backend,
    runtime: 'onnxruntime-web',
    reason: describeLoad(files.label, choice, backend, 'onnxruntime-web', threads, env.isolated, notes),
    threads: backend === 'wasm' ? threads : 0,
    style: inst.info.style,
    residDtype: inst.info.residDtype,
    warnings: inst.info.warnings,
  };
  return { engine, tokenizer, info };
}

/** The fields of ModelInfo that do not depend on the runtime. */
function baseInfo(
  files: Awaited<ReturnType<typeof loadModelFiles>>, config: DecoderConfig, tokenizer: ChatTokenizer, choice: WeightsChoice | null, t0: number,
): Omit<ModelInfo, 'backend' | 'runtime' | 'reason' | 'threads' | 'style' | 'residDtype' | 'warnings'> {
  return {
    label: files.label,
    file: choice?.file ?? files.label.split(' · ').pop(),
    dtype: choice?.dtype,
    convert: choice?.convert ?? null,
    memoryBytes: choice?.memoryBytes,
    numLayers: config.numLayers,
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    modelType: config.modelType,
    stopIds: stopTokenIds(files.config, files.generationConfig, tokenizer.eosId),
    bytes: files.bytes,
    loadMs: performance.now() - t0,
  };
}
