/**
 * The analysis worker's way to every PersonaSource (src/core/persona/source.ts): the hub loaders
 * with the worker's file cache, the synthetic generator, and (where a host has one) an extraction
 * store. The one place the worker reaches the core readers.
 */
import { defaultFileCache, loadFromUrl, loadRelease, releaseModel, type FileCache } from '../src/core/hub';
import { loadPersonaSet } from '../src/core/persona/load';
import { loadPersonaSource, type LoadedSource, type PersonaSource, type SourceDeps, type SourceLoadOptions } from '../src/core/persona/source';
import type { LoadOptions, PersonaSet, VirtualFile } from '../src/core/persona/types';
import { syntheticPersonaSet } from '../src/core/persona/synthetic';

export function loadSetFromFiles(files: VirtualFile[], opts: LoadOptions): Promise<PersonaSet> {
  return loadPersonaSet(files, opts);
}

/** The deps the worker gives loadPersonaSource; `cache` is the worker's file cache (IndexedDB in a browser). */
export function workerSourceDeps(cache: () => FileCache, readExtraction?: SourceDeps['readExtraction']): SourceDeps {
  return {
    loadUrl: (url, opts) => loadFromUrl(url, { cache: cache(), ...opts }),
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

export function loadSource(source: PersonaSource, opts: SourceLoadOptions, deps: SourceDeps = workerSourceDeps(workerFileCache)): Promise<LoadedSource> {
  return loadPersonaSource(source, deps, opts);
}
