/**
 * The model picker's short list: real small chat models on the hub, with the download size and the
 * memory they need, shown before anything is fetched.
 *
 * Where the numbers come from: parameter counts and shapes are the models' own config.json / model
 * cards (Qwen3-0.6B: 28 layers, d 1024, 0.44 B non-embedding + 0.16 B embedding parameters; Qwen2.5-0.5B:
 * 24 x 896, 0.36 B + 0.14 B; Llama-3.2-1B: 16 x 2048, 0.97 B + 0.26 B; SmolLM2-360M: 32 x 960,
 * 0.31 B + 0.05 B). File sizes are estimated from them the way transformers.js exports store weights:
 * MatMul weights at the dtype's width (q4: 4 bits + one fp scale per 32 = 0.5625 B, q8: 1 B, fp16: 2 B,
 * fp32: 4 B), the embedding table in float32 for q4/q8/fp32 and float16 for q4f16/fp16. The hub's
 * real sizes differ by a few per cent; the per-file progress shows the real ones once fetching starts.
 * Memory = the weights once in memory + the KV cache of three panes at 2,048 tokens + ~150 MB runtime.
 */
import type { ModelDtype, ModelSource } from '../../core/lm/model-source';

export interface ModelChoice {
  id: string;
  label: string;
  repo: string;
  layers: number;
  hidden: number;
  kvHeads: number;
  headDim: number;
  /** Parameters outside / inside the embedding table. */
  body: number;
  embed: number;
  dtypes: ModelDtype[];
  note?: string;
}

export const MODEL_CHOICES: readonly ModelChoice[] = [
  { id: 'qwen3-0.6b', label: 'Qwen3 0.6B', repo: 'onnx-community/Qwen3-0.6B-ONNX', layers: 28, hidden: 1024, kvHeads: 8, headDim: 128, body: 0.44e9, embed: 0.156e9, dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'], note: 'thinking off' },
  { id: 'qwen2.5-0.5b', label: 'Qwen2.5 0.5B Instruct', repo: 'onnx-community/Qwen2.5-0.5B-Instruct', layers: 24, hidden: 896, kvHeads: 2, headDim: 64, body: 0.358e9, embed: 0.136e9, dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'] },
  { id: 'llama-3.2-1b', label: 'Llama 3.2 1B Instruct', repo: 'onnx-community/Llama-3.2-1B-Instruct', layers: 16, hidden: 2048, kvHeads: 8, headDim: 64, body: 0.974e9, embed: 0.263e9, dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'] },
  { id: 'smollm2-360m', label: 'SmolLM2 360M Instruct', repo: 'HuggingFaceTB/SmolLM2-360M-Instruct', layers: 32, hidden: 960, kvHeads: 5, headDim: 64, body: 0.31e9, embed: 0.047e9, dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'] },
];

const MATMUL_BYTES: Record<ModelDtype, number> = { fp32: 4, fp16: 2, q8: 1, q4: 0.5625, q4f16: 0.5625 };
const EMBED_BYTES: Record<ModelDtype, number> = { fp32: 4, fp16: 2, q8: 4, q4: 4, q4f16: 2 };

/** Estimated download (bytes) of one model at one dtype. */
export function downloadEstimate(m: ModelChoice, dtype: ModelDtype): number {
  return Math.round(m.body * MATMUL_BYTES[dtype] + m.embed * EMBED_BYTES[dtype]);
}

/** Estimated memory (bytes): weights + KV cache of `rows` panes at `context` tokens (fp32 cache; fp16 for *f16 dtypes) + runtime. */
export function memoryEstimate(m: ModelChoice, dtype: ModelDtype, rows = 3, context = 2048): number {
  const kvBytes = dtype === 'fp16' || dtype === 'q4f16' ? 2 : 4;
  const kv = rows * context * m.layers * 2 * m.kvHeads * m.headDim * kvBytes;
  return downloadEstimate(m, dtype) + kv + 150e6;
}

/** What the lab loads: a hub model, a local folder (files read), or the built-in synthetic model. */
export type ModelRequest =
  | { kind: 'hub'; repo: string; dtype: ModelDtype; hub?: string; revision?: string }
  | { kind: 'folder'; label: string; files: Record<string, Uint8Array>; dtype?: ModelDtype }
  | { kind: 'synthetic' };

export function toSource(r: ModelRequest): ModelSource {
  if (r.kind === 'hub') return { kind: 'hub', repo: r.repo, dtype: r.dtype, hub: r.hub, revision: r.revision ?? 'main' };
  if (r.kind === 'folder') return { kind: 'files', files: r.files, dtype: r.dtype, label: r.label };
  return { kind: 'synthetic' };
}

/**
 * A hub id or URL typed by a person: `org/name`, `https://huggingface.co/org/name[/tree/rev]`, or any
 * mirror's `https://host/org/name`. Null when it is neither.
 */
/** owner/name with hub-legal characters, no segment starting with a dot (no `..`). */
export function isRepoId(s: string): boolean {
  return /^[\w-][\w.-]*\/[\w-][\w.-]*$/.test(s);
}

export function parseHubInput(text: string): { repo: string; hub?: string; revision?: string } | null {
  const t = text.trim().replace(/\/+$/, '');
  if (isRepoId(t)) return { repo: t };
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  const segs = u.pathname.split('/').filter(Boolean);
  if (segs.length < 2) return null;
  const repo = `${segs[0]}/${segs[1]}`;
  if (!isRepoId(repo)) return null;
  const revision = segs[2] === 'tree' || segs[2] === 'resolve' ? segs[3] : undefined;
  return { repo, hub: u.origin === 'https://huggingface.co' ? undefined : u.origin, revision };
}

/** The short string a share link carries for a model ('synthetic', or 'hub:<repo>@<dtype>'). Folders cannot be linked. */
export function modelKey(r: ModelRequest | null): string | null {
  if (!r) return null;
  if (r.kind === 'synthetic') return 'synthetic';
  if (r.kind === 'hub') return `hub:${r.repo}@${r.dtype}${r.hub ? `@${r.hub}` : ''}`;
  return null;
}

export function modelFromKey(key: string): ModelRequest | null {
  if (key === 'synthetic') return { kind: 'synthetic' };
  const m = /^hub:([\w.-]+\/[\w.-]+)@(fp32|fp16|q8|q4|q4f16)(?:@(https?:\/\/[^@]+))?$/.exec(key);
  if (!m || !isRepoId(m[1])) return null;
  return { kind: 'hub', repo: m[1], dtype: m[2] as ModelDtype, hub: m[3] };
}
