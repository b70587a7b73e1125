/**
 * Extraction over the model worker's boundary: what the page sends (settings), what comes back
 * (progress events, the list of runs, the result as release-layout files).
 */
import type { Estimate, ExtractProgress, RunStatus } from '../src/core/extract/pipeline';
import type { ExtractSettings } from '../src/core/extract/presets';

export type { Estimate, ExtractProgress, ExtractSettings, RunStatus };

/** One run in the browser's list (IndexedDB). */
export interface ExtractRunInfo {
  id: string;
  /** The model, as loaded ("synthetic", "onnx-community/Qwen3-0.6B-ONNX · onnx/model_q4.onnx"). */
  model: string;
  modelName: string;
  numLayers: number;
  hiddenSize: number;
  settings: ExtractSettings;
  status: RunStatus | 'running';
  message: string | null;
  done: number;
  total: number;
  stability: number | null;
  /** Mirror of the paper's data the run used (default: GitHub at the pinned commit). */
  dataBase?: string;
  createdAt: number;
  updatedAt: number;
}

export type ExtractEvent =
  | { type: 'progress'; runId: string; progress: ExtractProgress }
  /** Members whose vectors changed in the last batch (for a growing map). */
  | { type: 'batch'; runId: string; done: number; roles: number };

export interface ExtractSummary {
  runId: string;
  status: RunStatus;
  message: string | null;
  rollouts: number;
  planned: number;
  resumed: number;
  generated: number;
  stability: number | null;
  seconds: number;
}

export interface ExtractFile {
  path: string;
  bytes: Uint8Array;
}
