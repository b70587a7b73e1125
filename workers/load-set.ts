/**
 * The analysis worker's way to every PersonaSource (src/core/persona/source.ts): the hub loaders
 * with the worker's file cache, the synthetic generator, and (where a host has one) an extraction
 * store. The one place the worker reaches the core readers.
 */
import { defaultFileCache, loadFromUrl, loadRelease, releaseModel, type FileCache, type HubLoadOptions } from '../src/core/hub';
import { loadPersonaSet } from '../src/core/persona/load';
import { loadPersonaSource, type LoadedSource, type PersonaSource, type SourceDeps, type SourceLoadOptions } from '../src/core/persona/source';
import type { LoadOptions, PersonaSet, VirtualFile } from '../src/core/persona/types';
import { syntheticPersonaSet } from '../src/core/persona/synthetic';
import { openExtractDb, StoredRunReader } from './extract-store-idb';

export function loadSetFromFiles(files: VirtualFile[], opts: LoadOptions): Promise<PersonaSet> {
  return loadPersonaSet(files, opts);
}

/** The deps the worker gives loadPersonaSource; `cache` is the worker's file cache (IndexedDB in a browser). */
export function workerSourceDeps(cache: () => FileCache, readExtraction?: SourceDeps['readExtraction']): SourceDeps {
  return {
    loadUrl: async (url, opts) => ({ files: await readUrlFiles(url, opts, cache) }),
    loadRelease: (opts) => loadRelease({ cache: cache(), ...opts }),
    releaseLabel: (id) => releaseModel(id),
    synthetic: (p) => syntheticPersonaSet({ n: p.n, layers: p.layers, dim: p.dim, seed: p.seed }),
    ...(readExtraction ? { readExtraction } : {}),
  };
}

let cache: FileCache | null = null;
/** The worker's one file cache, opened on first use. */
export function workerFileCache(): FileCache {
  cache ??= defaultFileCache();
  return cache;
}

/** The files at a URL (a file or a hub folder) through the worker's hub loader and file cache. */
export async function readUrlFiles(url: string, opts: HubLoadOptions & { hub?: string } = {}, cache: () => FileCache = workerFileCache): Promise<VirtualFile[]> {
  return (await loadFromUrl(url, { cache: cache(), ...opts })).files;
}

/**
 * `extraction:<runId>` from the browser's extraction store (IndexedDB, shared with the model worker
 * that writes it): the run's stored rollouts as a release-layout folder, labelled partial when the
 * run has not finished. The database opens on first use; a run read again reads only the rollouts
 * stored since (StoredRunReader), which is what the live map during an extraction relies on.
 */
export function idbExtractionReader(idb: () => IDBFactory = () => indexedDB): NonNullable<SourceDeps['readExtraction']> {
  let reader: Promise<StoredRunReader> | null = null;
  return async (runId, signal) => {
    reader ??= openExtractDb(idb()).then(
      (db) => new StoredRunReader(db),
      (e: unknown) => {
        reader = null;
        throw e;
      },
    );
    const r = await (await reader).read(runId, signal);
    return { files: r.files, label: r.label };
  };
}

/** The worker's deps: where IndexedDB exists, extraction runs too. */
function defaultDeps(): SourceDeps {
  return workerSourceDeps(workerFileCache, typeof indexedDB !== 'undefined' ? (extractionReader ??= idbExtractionReader()) : undefined);
}
let extractionReader: NonNullable<SourceDeps['readExtraction']> | null = null;

export function loadSource(source: PersonaSource, opts: SourceLoadOptions, deps: SourceDeps = defaultDeps()): Promise<LoadedSource> {
  return loadPersonaSource(source, deps, opts);
}
