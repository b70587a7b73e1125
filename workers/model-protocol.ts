/**
 * The model worker's protocol: the types that cross the page <-> worker boundary. The page imports
 * these (through model-client.ts) and never the worker's code.
 */
import type { GenerateResult, LiveParams } from '../src/core/lm/generate';
import type { ChatMessage } from '../src/core/lm/tokenizer';
import { PersonaSpaceError } from '../src/core/errors';

export type DeviceRequest = 'auto' | 'webgpu' | 'wasm';

export interface LoadOptions {
  device?: DeviceRequest;
  /** Use the persistent browser cache for hub files (default true). */
  cache?: boolean;
}

export interface ModelInfo {
  label: string;
  backend: 'webgpu' | 'wasm';
  /** File, dtype, runtime, backend, threads and why, in one sentence (e.g. "onnx/model_q4f16.onnx (q4f16; ...), run by onnxruntime-web, on WebGPU: the fastest ..."). */
  reason: string;
  /**
   * What runs the model: our int8 decoder (src/core/lm/own: 8-bit files on WASM) or onnxruntime-web.
   * Always set by the model worker (optional only for hand-made infos in tests).
   */
  runtime?: 'own' | 'onnxruntime-web';
  /** WASM threads the runtime uses (1 when not cross-origin isolated; our decoder's kernel pool size); 0 on WebGPU. */
  threads: number;
  /** The weights file loaded (e.g. `onnx/model_quantized.onnx`), its dtype, a load-time conversion, and the memory estimated for it. */
  file?: string;
  dtype?: string;
  convert?: 'fp32' | 'int8' | null;
  memoryBytes?: number;
  numLayers: number;
  hiddenSize: number;
  vocabSize: number;
  modelType: string;
  /** Export style the instrumenter recognised. */
  style: string;
  residDtype: string;
  stopIds: number[];
  bytes: number;
  loadMs: number;
  warnings: string[];
}

export interface GenerateRequest {
  /** A chat (the template is applied with a generation prompt, thinking off) ... */
  messages?: ChatMessage[];
  /** ... or raw prompt ids. */
  promptIds?: number[];
  maxNewTokens: number;
  seed?: number;
  /** Initial live params (sampling, steer/cap feeds, projection axis); change them with setParams. */
  params?: LiveParams;
  /** Override the model's stop ids ([] = run to maxNewTokens). */
  stopIds?: number[];
}

export interface WorkerGenerateResult extends Omit<GenerateResult, 'logits'> {
  promptText: string | null;
}

export interface WorkerError {
  code: string;
  message: string;
}


// ------------------------------------------------------------------------------------ chat lab

export type {
  CapSettings,
  ChatEvent,
  ChatMessageView,
  ChatSettings,
  ChatSettingsPatch,
  ChatSnapshot,
  PaneId,
  PaneSettings,
  PaneSnapshot,
  ResolvedPane,
  ResolvedSettings,
  SpanValues,
  SteerSettings,
} from '../src/core/chat/types';
export type { PresetContent, PresetInfo } from '../src/core/chat/presets';

/** What the worker says about the axis it was given (for the sliders and reference lines). */
export interface AxisSummary {
  label: string;
  source: 'extraction' | 'file' | 'explorer';
  numLayers: number;
  hiddenSize: number;
  /** |axis[L]| per layer. */
  norms: number[];
  /** Per layer, mean and sd of the role projections (null for an axis file). */
  roleMean: number[] | null;
  roleSd: number[] | null;
  defaultProjection: number[] | null;
  hasCalibration: boolean;
  /** n_layers // 2. */
  defaultLayer: number;
  /** The paper's cap window proportions (~70–85 % of depth). */
  defaultCapWindow: number[];
}

/**
 * A failure in the model worker, as the page sees it: `code` (e.g. `no-model`, `no-axis`, `busy`,
 * `bad-request`, `webgpu-unavailable`, `axis-shape`) and `message`, one sentence to show as is.
 */
export class ModelWorkerError extends PersonaSpaceError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ModelWorkerError';
  }
}

export function isModelWorkerError(e: unknown): e is ModelWorkerError {
  return e instanceof ModelWorkerError;
}

/** Marker on errors thrown across the boundary: the Error's `name` carries the code. */
export const WORKER_ERROR_PREFIX = 'ps:';

/** An error thrown in the worker, as the page receives it from Comlink, back into a ModelWorkerError. */
export function workerErrorFrom(e: unknown): unknown {
  const err = e as { name?: unknown; message?: unknown } | null;
  if (err && typeof err.name === 'string' && err.name.startsWith(WORKER_ERROR_PREFIX)) {
    return new ModelWorkerError(err.name.slice(WORKER_ERROR_PREFIX.length), typeof err.message === 'string' ? err.message : 'The model worker failed.');
  }
  return e;
}
