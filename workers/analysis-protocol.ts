/** Messages between the page and the analysis worker (shared by both sides). */
import type { CachedSetInfo } from '../src/core/hub';
import type { CompareResult, LayerAnalysis, LayerProfile, SetInfo } from '../src/core/view/types';

/** Set A is the one on the map; set B is the comparison set. */
export type Slot = 'A' | 'B';

export interface LoadProgress {
  phase: 'download' | 'parse';
  filesDone: number;
  filesTotal: number;
  bytesLoaded: number;
  bytesTotal: number | null;
  filesCached: number;
  /** File that just progressed. */
  path: string;
}

export interface WorkerError {
  code: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: WorkerError };

export interface LoadRequestOptions {
  /** Members whose mean is the default (overrides the file's default). */
  defaultNames?: string[];
  /** Hub origin (from `?hub=`), default https://huggingface.co. */
  hub?: string;
  /** Release: include trait_vectors/ too. */
  traits?: boolean;
}

export interface LocalFile {
  path: string;
  file: File;
}

export interface AnalysisApi {
  /** Local files (paths relative to the dropped/picked folder). */
  loadFiles(slot: Slot, files: LocalFile[], opts: LoadRequestOptions, onProgress: (p: LoadProgress) => void): Promise<Result<SetInfo>>;
  /** A URL: a file, a hub folder (`.../tree/main/x`, `hf://...`), `release:<modelId>`, or `synthetic:<n>[x<layers>]`. */
  loadUrl(slot: Slot, url: string, opts: LoadRequestOptions, onProgress: (p: LoadProgress) => void): Promise<Result<SetInfo>>;
  /** Cancel the load in progress for a slot (the set already loaded stays). */
  cancel(slot: Slot): void;
  /** Drop a slot's set. */
  unload(slot: Slot): void;
  analyze(slot: Slot, layer: number): Promise<Result<LayerAnalysis>>;
  profile(slot: Slot, onLayer: (done: number, total: number) => void): Promise<Result<LayerProfile | null>>;
  compare(layerA: number, layerB: number): Promise<Result<CompareResult>>;
  cacheList(): Promise<Result<CachedSetInfo[]>>;
  cacheDelete(id: string): Promise<Result<CachedSetInfo[]>>;
}
