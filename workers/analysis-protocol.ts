/** Messages between the page and the analysis worker (shared by both sides). */
import type { CachedSetInfo } from '../src/core/hub';
import type { AxisBundle } from '../src/core/persona/axis-bundle';
import type { MemberKind } from '../src/core/persona/types';
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
  /**
   * d-vectors (e.g. a chat's per-turn means at `layer`) in the map's PCA basis of that layer: the
   * same centring (mean of the roles) and signs as the map, k coordinates each.
   */
  projectVectors(slot: Slot, layer: number, vectors: Float32Array[]): Promise<Result<Float64Array[]>>;
  /** The open set's Assistant Axis for the model worker (every layer), transferred. */
  axisBundle(slot: Slot): Promise<Result<AxisBundle>>;
  /** The k members nearest to `name` by cosine over the full vectors at `layer`. */
  neighbours(slot: Slot, layer: number, name: string, k: number): Promise<Result<NeighbourRow[]>>;
  /** x = centroid(query A) - centroid(query B) at `layer` (`@default`, `@roles`, `@traits` or names). */
  customProjection(slot: Slot, layer: number, queryA: string, queryB: string): Promise<Result<CustomProjectionResult>>;
  /** Seeded UMAP of every member at `layer`; progress per 10 epochs; null when cancelled. */
  umap(slot: Slot, layer: number, opts: { dims: 2 | 3; seed: number; nNeighbors?: number }, onProgress: (done: number, total: number) => void): Promise<Result<UmapResult | null>>;
  /** Stop the UMAP run in progress. */
  cancelUmap(): void;
  /**
   * A feature registered in ANALYSIS_FEATURES (workers/analysis-core.ts) by name, with its input;
   * an unknown name is an error `no-feature`.
   */
  feature<O = unknown>(name: string, input: unknown): Promise<Result<O>>;
  cacheList(): Promise<Result<CachedSetInfo[]>>;
  cacheDelete(id: string): Promise<Result<CachedSetInfo[]>>;
}

export interface NeighbourRow {
  name: string;
  kind: MemberKind;
  cos: number;
}

export interface CustomProjectionResult {
  setId: string;
  layer: number;
  x: Float32Array;
  defaultX: number | null;
  norm: number;
  nA: number;
  nB: number;
  cosAxis: number | null;
}

export interface UmapResult {
  setId: string;
  layer: number;
  dims: number;
  seed: number;
  coords: Float32Array;
  defaultCoords: number[] | null;
}
