/**
 * The shapes every source (files, a folder, a URL, the official release, in-browser extraction)
 * turns into. Analysis and views only ever see a PersonaSet.
 */
import type { DType, RawTensor } from '../tensor';

/** One file of a source, read lazily: a File in the browser, a path in Node, a URL on the hub. */
export interface VirtualFile {
  /** Path relative to the source's root, '/'-separated, e.g. `role_vectors/ghost.pt` or `ghost.pt`. */
  path: string;
  /** Size in bytes when known in advance. */
  size?: number;
  read(): Promise<Uint8Array>;
}

export type MemberKind = 'role' | 'trait' | 'vector';

export interface LoadOptions {
  /** Members whose mean is the default vector (overrides a `default` member or `default_vector.*` file). */
  defaultNames?: string[];
  /** Names for an (N, d) / (N, L, d) array, in row order. */
  names?: string[];
  /** Turn unknown pickled classes into inert records instead of refusing (still never executes anything). */
  dataOnly?: boolean;
  /** Also check the CRC-32 of tensor storages in .pt files and of .npz entries (default false, as torch.load; ~1 s per 360 MB). */
  verifyChecksums?: boolean;
  /** Called after each file is read and parsed. */
  onProgress?: (p: { done: number; total: number; path: string }) => void;
  signal?: AbortSignal;
}

/**
 * Named vectors, N members x (L layers or none) x dim, values held in their stored dtype.
 * The default vector is not a member: it is kept apart so that PCA never fits on it.
 */
export interface PersonaSet {
  /** How the source was recognised, e.g. `pt-folder`, `release`, `dict-file`, `array+names`, `safetensors`, `npz`, `tsv`. */
  readonly format: string;
  /** Member names in a stable order (roles first, then traits, each sorted as found). */
  readonly names: readonly string[];
  readonly kinds: readonly MemberKind[];
  /** Number of layers, or null when every member is a single (d,) vector. */
  readonly layers: number | null;
  readonly dim: number;
  /** Stored dtype of the member vectors. */
  readonly dtype: DType;
  /** How the default was found: a member called `default`, a `default_vector.*` file, or `mean of a, b`. null when there is none. */
  readonly defaultLabel: string | null;
  /** Precomputed axis shipped with the source (the release's `assistant_axis.pt`), (L, d) or (d,). */
  readonly storedAxis: RawTensor | null;
  /** Other objects found beside the vectors (for example the release's `capping_config.pt`), as parsed. */
  readonly extras: Record<string, unknown>;
  /**
   * Every member at one layer, decoded to float32, N x dim row-major. `layer` is ignored when `layers` is null.
   * Pass `out` (length N x dim) to reuse a buffer across layers: fresh multi-MB arrays cost page faults.
   */
  layer(layer: number, out?: Float32Array): Float32Array;
  /** One member at one layer as float32. */
  vector(index: number, layer: number): Float32Array;
  /** The default vector at one layer, or null. */
  defaultAt(layer: number): Float32Array | null;
  /** Bytes held (raw storage). */
  readonly byteSize: number;
}
