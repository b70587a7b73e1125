/**
 * The model worker's protocol: the types that cross the page <-> worker boundary. The page imports
 * these (through model-client.ts) and never the worker's code.
 */
import type { GenerateResult, LiveParams } from '../src/core/lm/generate';
import type { ChatMessage } from '../src/core/lm/tokenizer';

export type DeviceRequest = 'auto' | 'webgpu' | 'wasm';

export interface LoadOptions {
  device?: DeviceRequest;
  /** Use the persistent browser cache for hub files (default true). */
  cache?: boolean;
}

export interface ModelInfo {
  label: string;
  backend: 'webgpu' | 'wasm';
  /** Why this backend, in a sentence (e.g. "WebGPU adapter unavailable: navigator.gpu missing"). */
  reason: string;
  /** WASM threads (1 when not cross-origin isolated). */
  threads: number;
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

