/**
 * The official release of the paper's vectors: HF dataset `lu-christina/assistant-axis-vectors`,
 * one folder per model (FORMATS.md section 1). File names are known in advance (the 275 roles and
 * 240 traits), so the release loads without a listing.
 */
import { ROLE_NAMES, TRAIT_NAMES } from '../persona/names';
import { DataError } from '../errors';

export const RELEASE_REPO = 'lu-christina/assistant-axis-vectors';
export const RELEASE_REPO_TYPE = 'dataset' as const;

export interface ReleaseModel {
  /** Folder in the release repo, and the id of the `release-<id>` button. */
  id: string;
  label: string;
  layers: number;
  dim: number;
  /** Whether the folder has `capping_config.pt` (Qwen and Llama only). */
  capping: boolean;
}

export const RELEASE_MODELS: readonly ReleaseModel[] = [
  { id: 'gemma-2-27b', label: 'Gemma 2 27B', layers: 46, dim: 4608, capping: false },
  { id: 'qwen-3-32b', label: 'Qwen3 32B', layers: 64, dim: 5120, capping: true },
  { id: 'llama-3.3-70b', label: 'Llama 3.3 70B', layers: 80, dim: 8192, capping: true },
];

export function releaseModel(modelId: string): ReleaseModel {
  const m = RELEASE_MODELS.find((x) => x.id === modelId);
  if (!m) {
    throw new DataError('unknown-release-model', `"${modelId}" is not a model of the release (known: ${RELEASE_MODELS.map((x) => x.id).join(', ')}).`);
  }
  return m;
}

export interface ReleaseFileOptions {
  /** Include `role_vectors/` (default true). */
  roles?: boolean;
  /** Include `trait_vectors/` (default true). */
  traits?: boolean;
}

/** Paths inside the model's folder: axis, default, capping config (when present), roles, traits. */
export function releaseFiles(modelId: string, opts: ReleaseFileOptions = {}): string[] {
  const m = releaseModel(modelId);
  const files = ['assistant_axis.pt', 'default_vector.pt'];
  if (m.capping) files.push('capping_config.pt');
  if (opts.roles ?? true) for (const r of ROLE_NAMES) files.push(`role_vectors/${r}.pt`);
  if (opts.traits ?? true) for (const t of TRAIT_NAMES) files.push(`trait_vectors/${t}.pt`);
  return files;
}

/**
 * Approximate download size in bytes (bf16 (layers, d) per vector file, plus ~1.5 kB of zip and
 * pickle per file), for showing before the person clicks.
 */
export function releaseSizeEstimate(modelId: string, opts: ReleaseFileOptions = {}): number {
  const m = releaseModel(modelId);
  const perVector = m.layers * m.dim * 2 + 1500;
  const nVectors = 2 + ((opts.roles ?? true) ? ROLE_NAMES.length : 0) + ((opts.traits ?? true) ? TRAIT_NAMES.length : 0);
  return nVectors * perVector + (m.capping ? m.dim * 4 * 40 : 0);
}
