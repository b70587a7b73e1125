/** The page's handle on the analysis worker (one worker per page, started on first use). */
import * as Comlink from 'comlink';
import type { AnalysisApi, LoadProgress } from './analysis-protocol';

export type { AnalysisApi, CustomProjectionResult, LoadProgress, LocalFile, NeighbourRow, Result, Slot, UmapResult, WorkerError, LoadRequestOptions } from './analysis-protocol';

let remote: Comlink.Remote<AnalysisApi> | null = null;

export function analysisWorker(): Comlink.Remote<AnalysisApi> {
  if (!remote) {
    const worker = new Worker(new URL('./analysis.worker.ts', import.meta.url), { type: 'module', name: 'analysis' });
    remote = Comlink.wrap<AnalysisApi>(worker);
  }
  return remote;
}

/** Wrap a callback so the worker can call it across the boundary. */
export function progressProxy(f: (p: LoadProgress) => void): (p: LoadProgress) => void {
  return Comlink.proxy(f);
}

export function callbackProxy<A extends unknown[]>(f: (...a: A) => void): (...a: A) => void {
  return Comlink.proxy(f);
}
