/**
 * Where a persona set comes from, as data: files a person gave (names + bytes), a URL (a file or a
 * hub folder), the official release of one model, a synthetic set (bounded parameters), or the
 * outputs of an extraction run. `loadPersonaSource` is the one place that branches on it; what it
 * needs from outside (the hub loaders, the synthetic generator, an extraction store) comes in as
 * `deps`, so the same code runs in the analysis worker, the CLI and the tests.
 *
 * Text form (the app's URL field, `#src=` links, the CLI): `synthetic:N[xL][dD]`, `release:<modelId>`,
 * `extraction:<runId>`, anything else is a URL.
 */
import { DataError } from '../errors';
import type { DownloadProgress, HubLoadOptions, ReleaseLoadOptions } from '../hub';
import { loadPersonaSet } from './load';
import type { LoadOptions, PersonaSet, VirtualFile } from './types';

/** Parameters of a synthetic set (checked against SYNTHETIC_BOUNDS before any work). */
export interface SyntheticParams {
  n: number;
  layers: number | null;
  dim: number;
  seed?: number;
}

export type PersonaSource =
  | { kind: 'files'; files: VirtualFile[]; label?: string }
  | { kind: 'url'; url: string }
  | { kind: 'release'; modelId: string; traits?: boolean }
  | { kind: 'synthetic'; params: SyntheticParams }
  | { kind: 'extraction'; runId: string };

export type PersonaSourceKind = PersonaSource['kind'];

/** Bounds of a synthetic set: a `#src=synthetic:NxLdD` link is typed by anyone. */
export const SYNTHETIC_BOUNDS = { minN: 3, maxN: 200_000, maxLayers: 256, minDim: 2, maxDim: 16_384, maxValues: 64 * 2 ** 20 } as const;

/** The default width of a synthetic set when the text gives none. */
export const SYNTHETIC_DEFAULT_DIM = 64;

/** One sentence when the parameters are outside SYNTHETIC_BOUNDS, else null. */
export function syntheticParamsProblem(p: SyntheticParams): string | null {
  const b = SYNTHETIC_BOUNDS, nl = p.layers ?? 1;
  const whole = (v: number, lo: number, hi: number) => Number.isSafeInteger(v) && v >= lo && v <= hi;
  if (whole(p.n, b.minN, b.maxN) && whole(p.dim, b.minDim, b.maxDim) && whole(nl, 1, b.maxLayers) && p.n * p.dim * nl <= b.maxValues) return null;
  return `A synthetic set takes ${b.minN} to ${b.maxN.toLocaleString('en-US')} members, 1 to ${b.maxLayers} layers and ${b.minDim} to ${b.maxDim.toLocaleString('en-US')} dimensions, at most ${(b.maxValues / 2 ** 20).toFixed(0)} M values in all; ${p.n} x ${nl} x ${p.dim} is outside that.`;
}

/** Throws the typed error when the parameters are outside the bounds. */
export function checkSyntheticParams(p: SyntheticParams): void {
  const problem = syntheticParamsProblem(p);
  if (problem) throw new DataError('synthetic-too-large', problem, { n: p.n, layers: p.layers ?? 1, dim: p.dim });
}

const SYNTHETIC_RE = /^synthetic:(\d+)(?:x(\d+))?(?:d(\d+))?$/;
const RELEASE_RE = /^release:([\w.-]+)$/;
/** A run id in the browser; in the CLI the run's --out folder (so '/' is allowed). */
const EXTRACTION_RE = /^extraction:([\w./-]+)$/;

/**
 * The text a person typed -> a source. `synthetic:N` clamps N into the member bounds (as the app
 * always did); the layer count and width are checked when the set is made.
 */
export function parseSourceText(text: string, opts: { traits?: boolean } = {}): PersonaSource {
  const t = text.trim();
  if (!t) throw new DataError('empty-source', 'Give a file, a folder, a URL, release:<model>, or synthetic:<n>.');
  const syn = SYNTHETIC_RE.exec(t);
  if (syn) {
    const n = Math.min(SYNTHETIC_BOUNDS.maxN, Math.max(SYNTHETIC_BOUNDS.minN, Number(syn[1])));
    return { kind: 'synthetic', params: { n, layers: syn[2] ? Number(syn[2]) : null, dim: syn[3] ? Number(syn[3]) : SYNTHETIC_DEFAULT_DIM } };
  }
  if (/^synthetic:/i.test(t)) throw new DataError('synthetic-spec', `"${t}" is not a synthetic set; write synthetic:N, synthetic:NxL or synthetic:NxLdD (N members, L layers, D dimensions).`);
  const rel = RELEASE_RE.exec(t);
  if (rel) return { kind: 'release', modelId: rel[1], ...(opts.traits !== undefined ? { traits: opts.traits } : {}) };
  const ex = EXTRACTION_RE.exec(t);
  if (ex) return { kind: 'extraction', runId: ex[1] };
  return { kind: 'url', url: t };
}

/** The text form of a source (for links and labels); files have none. */
export function sourceText(source: PersonaSource): string | null {
  switch (source.kind) {
    case 'files': return null;
    case 'url': return source.url;
    case 'release': return `release:${source.modelId}`;
    case 'extraction': return `extraction:${source.runId}`;
    case 'synthetic': {
      const p = source.params;
      return `synthetic:${p.n}${p.layers !== null ? `x${p.layers}` : ''}${p.dim !== SYNTHETIC_DEFAULT_DIM ? `d${p.dim}` : ''}`;
    }
  }
}

/** What loadPersonaSource needs from outside core's pure code. Only the kinds a host supports need theirs. */
export interface SourceDeps {
  /** A URL -> files (src/core/hub's loadFromUrl, with the host's cache and fetch). */
  loadUrl?: (url: string, opts: HubLoadOptions & { hub?: string }) => Promise<{ files: VirtualFile[] }>;
  /** The official release -> files in the release layout (src/core/hub's loadRelease). */
  loadRelease?: (opts: ReleaseLoadOptions) => Promise<VirtualFile[]>;
  /** The release's human label for a model id (src/core/hub's releaseModel); the id when absent. */
  releaseLabel?: (modelId: string) => { id: string; label: string };
  /** A synthetic set from checked parameters (workers/synthetic.ts). */
  synthetic?: (params: SyntheticParams) => PersonaSet;
  /**
   * An extraction run's outputs in the release layout (the host's extraction store), optionally
   * with the label people see (a host that can read an unfinished run says so there).
   */
  readExtraction?: (runId: string, signal?: AbortSignal) => Promise<VirtualFile[] | { files: VirtualFile[]; label?: string }>;
}

export interface SourceLoadOptions extends LoadOptions {
  /** Hub origin (default https://huggingface.co; tests pass a local server). */
  hub?: string;
  /** Cache / fetch / retries handed to the hub loaders. */
  hubOptions?: Omit<HubLoadOptions, 'signal' | 'onProgress'>;
  /** Download progress (URL and release sources). */
  onDownload?: (p: DownloadProgress) => void;
  /** Release: include trait_vectors/ too (a `traits` on the source wins). */
  traits?: boolean;
  /** Called with the files once they are known, before they are parsed (sizes for progress). */
  onFiles?: (files: readonly VirtualFile[]) => void;
}

export interface LoadedSource {
  set: PersonaSet;
  /** Where it came from, for people ("persona-vectors/", "Llama 3.3 70B (official release)"). */
  label: string;
  /** The text form (for share links), or null for files. */
  sourceText: string | null;
  /** The files read (empty for synthetic): the worker reports their sizes as parse progress. */
  files: VirtualFile[];
}

function missing(what: string): DataError {
  return new DataError('source-unsupported', `Loading ${what} is not available here.`);
}

/** Label of files a person gave: their shared top folder ("vectors/"), the one file, or "N files". */
export function filesLabel(files: readonly { path: string }[]): string {
  const first = files[0]?.path ?? '';
  const top = first.includes('/') ? first.split('/')[0] : '';
  if (top && files.every((f) => f.path.startsWith(top + '/'))) return `${top}/`;
  return files.length === 1 ? first : `${files.length} files`;
}

/** Every source -> one PersonaSet (through loadPersonaSet for everything that is files). */
export async function loadPersonaSource(source: PersonaSource, deps: SourceDeps, opts: SourceLoadOptions = {}): Promise<LoadedSource> {
  const text = sourceText(source);
  const parse = async (files: VirtualFile[], label: string): Promise<LoadedSource> => {
    const { hub: _hub, hubOptions: _h, onDownload: _d, traits: _t, onFiles, ...loadOpts } = opts;
    onFiles?.(files);
    return { set: await loadPersonaSet(files, loadOpts), label, sourceText: text, files };
  };
  const hubOpts = { ...opts.hubOptions, signal: opts.signal, onProgress: opts.onDownload };
  switch (source.kind) {
    case 'files':
      return parse(source.files, source.label ?? filesLabel(source.files));
    case 'synthetic': {
      if (!deps.synthetic) throw missing('a synthetic set');
      checkSyntheticParams(source.params);
      const set = deps.synthetic(source.params);
      return { set, label: `synthetic set of ${source.params.n.toLocaleString('en-US')}`, sourceText: text, files: [] };
    }
    case 'release': {
      if (!deps.loadRelease) throw missing('the official release');
      const m = deps.releaseLabel?.(source.modelId) ?? { id: source.modelId, label: source.modelId };
      const files = await deps.loadRelease({ ...hubOpts, hub: opts.hub, modelId: m.id, traits: source.traits ?? opts.traits ?? false });
      return parse(files, `${m.label} (official release)`);
    }
    case 'url': {
      if (!deps.loadUrl) throw missing('a URL');
      const { files } = await deps.loadUrl(source.url, { ...hubOpts, hub: opts.hub });
      return parse(files, urlLabel(source.url));
    }
    case 'extraction': {
      if (!deps.readExtraction) throw missing('an extraction run');
      const read = await deps.readExtraction(source.runId, opts.signal);
      const { files, label } = Array.isArray(read) ? { files: read, label: undefined } : read;
      return parse(files, label ?? `extraction ${source.runId}`);
    }
  }
}

/** A URL as a label: without the scheme and trailing slashes, percent-escapes decoded when they are valid. */
export function urlLabel(url: string): string {
  const bare = url.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  try {
    return decodeURIComponent(bare);
  } catch {
    return bare;
  }
}
