/**
 * Hub access for the app, the workers, the CLI and the tests: URLs, listings, downloads with
 * progress/cancel/retry, caches, and the official release. Pure TypeScript (global fetch only).
 */
export { HubError, isAbortError, type HubErrorCode } from './errors';
export {
  DEFAULT_HUB,
  hubFileUrl,
  hubTreeUrl,
  hubFolderPageUrl,
  parseSourceUrl,
  type RepoType,
  type HubLocation,
  type ParsedSource,
} from './url';
export { fetchWithProgress, type ByteProgress, type FetchOptions } from './fetch';
export { listHubFolder, type HubListedFile, type ListOptions } from './list';
export { downloadFiles, type DownloadItem, type DownloadProgress, type DownloadOptions } from './download';
export {
  BrowserFileCache,
  MemoryFileCache,
  defaultFileCache,
  type FileCache,
  type CachedFile,
  type CachedSetRecord,
  type CachedSetInfo,
} from './cache';
export {
  RELEASE_REPO,
  RELEASE_REPO_TYPE,
  RELEASE_MODELS,
  releaseModel,
  releaseFiles,
  releaseSizeEstimate,
  type ReleaseModel,
  type ReleaseFileOptions,
} from './release';
export {
  loadHubSet,
  loadRelease,
  loadUrlFile,
  loadFromUrl,
  hubSetId,
  type HubLoadOptions,
  type HubSetOptions,
  type ReleaseLoadOptions,
} from './load';
