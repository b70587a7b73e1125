/**
 * The model picker's short list: real small chat models on the hub, with the download size and the
 * memory they need, shown before anything is fetched.
 *
 * The numbers are `pickWeights` (src/core/lm/pick.ts) — the same choice and estimate the model
 * worker makes at load time (file per backend, load-time q4 conversion, KV cache of three panes at
 * 2,048 tokens, the wasm32 heap limit) — over the files each repo offers. Shapes are the models'
 * config.json; the file sizes of Qwen3-0.6B are the hub's (onnx-community/Qwen3-0.6B-ONNX, rounded
 * to the MB); for the others the sizes are computed from the shapes the way transformers.js exports
 * store weights (MatMul weights at the dtype's width — q4: 4 bits + one scale per 32, q8: 1 B, fp16:
 * 2 B, fp32: 4 B — and the embedding table in float32, float16 for q4f16 / fp16), marked "≈". The
 * per-file progress shows the real sizes once fetching starts.
 */
import type { ModelDtype, ModelSource } from '../../core/lm/model-source';
import { pickWeights, type OfferedFile, type PickRequest, type WeightsChoice } from '../../core/lm/pick';

type Shape = NonNullable<PickRequest['config']>;

/** The lab's weights setting: a dtype, or 'auto' (the picker's fastest for the backend: pick.ts). */
export type LabDtype = ModelDtype | 'auto';
/** The weights setting's choices, 'auto' first (the default). */
export const LAB_DTYPES: readonly LabDtype[] = ['auto', 'q4f16', 'q4', 'q8', 'fp16', 'fp32'];

export interface ModelChoice {
  id: string;
  label: string;
  repo: string;
  layers: number;
  hidden: number;
  /** The config.json fields the weights choice reads. */
  config: Shape;
  /** The repo's ONNX files with their sizes, when known (else computed from the shape). */
  files?: readonly OfferedFile[];
  dtypes: ModelDtype[];
  note?: string;
}

const MB = 1e6;
const shape = (numLayers: number, hiddenSize: number, numHeads: number, numKvHeads: number, headDim: number, intermediateSize: number, vocabSize: number): Shape =>
  ({ numLayers, hiddenSize, numHeads, numKvHeads, headDim, intermediateSize, vocabSize });

export const MODEL_CHOICES: readonly ModelChoice[] = [
  {
    id: 'qwen3-0.6b', label: 'Qwen3 0.6B', repo: 'onnx-community/Qwen3-0.6B-ONNX', layers: 28, hidden: 1024, config: shape(28, 1024, 16, 8, 128, 3072, 151936),
    files: [
      { path: 'onnx/model.onnx', size: 0.5 * MB }, { path: 'onnx/model.onnx_data', size: 3008 * MB },
      { path: 'onnx/model_fp16.onnx', size: 0.5 * MB }, { path: 'onnx/model_fp16.onnx_data', size: 1504 * MB },
      { path: 'onnx/model_quantized.onnx', size: 754 * MB }, { path: 'onnx/model_q4.onnx', size: 919 * MB }, { path: 'onnx/model_q4f16.onnx', size: 571 * MB },
    ],
    dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'], note: 'thinking off',
  },
  { id: 'qwen2.5-0.5b', label: 'Qwen2.5 0.5B Instruct', repo: 'onnx-community/Qwen2.5-0.5B-Instruct', layers: 24, hidden: 896, config: shape(24, 896, 14, 2, 64, 4864, 151936), dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'] },
  { id: 'llama-3.2-1b', label: 'Llama 3.2 1B Instruct', repo: 'onnx-community/Llama-3.2-1B-Instruct', layers: 16, hidden: 2048, config: shape(16, 2048, 32, 8, 64, 8192, 128256), dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'] },
  { id: 'smollm2-360m', label: 'SmolLM2 360M Instruct', repo: 'HuggingFaceTB/SmolLM2-360M-Instruct', layers: 32, hidden: 960, config: shape(32, 960, 15, 5, 64, 2560, 49152), dtypes: ['q4f16', 'q4', 'fp16', 'q8', 'fp32'] },
];

const MATMUL_BYTES: Record<ModelDtype, number> = { fp32: 4, fp16: 2, q8: 1, q4: 0.5 + 4 / 32 + 0.5 / 32, q4f16: 0.5 + 2 / 32 + 0.5 / 32 };
const EMBED_BYTES: Record<ModelDtype, number> = { fp32: 4, fp16: 2, q8: 4, q4: 4, q4f16: 2 };
const FILE: Record<ModelDtype, string> = { fp32: 'model', fp16: 'model_fp16', q8: 'model_quantized', q4: 'model_q4', q4f16: 'model_q4f16' };

/** The files a transformers.js export of this shape offers, sized from the shape (when the repo's listing is not known). */
export function filesFromShape(c: Shape): OfferedFile[] {
  const linear = (c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize) * c.numLayers;
  const embed = c.vocabSize * c.hiddenSize;
  return (Object.keys(FILE) as ModelDtype[]).map((d) => ({ path: `onnx/${FILE[d]}.onnx`, size: Math.round(linear * MATMUL_BYTES[d] + embed * EMBED_BYTES[d]) }));
}

export interface ModelPlan {
  /** What the worker would load for this backend and dtype (file, download and memory), or why it cannot. */
  choice: WeightsChoice | null;
  error: string | null;
  /** Sizes from the repo's listing (else computed from the shape). */
  listed: boolean;
}

/**
 * The weights choice for one model on one backend at one dtype (three panes, 2,048 tokens).
 * `ownDecoder`: our int8 decoder will run 8-bit files on WASM (WebAssembly SIMD is there; the model
 * worker then opens them on it), so their memory is its estimate (pick.ts).
 */
export function modelPlan(m: ModelChoice, dtype: LabDtype, backend: 'webgpu' | 'wasm', shaderF16 = false, ownDecoder = false): ModelPlan {
  try {
    const choice = pickWeights({ files: m.files ?? filesFromShape(m.config), backend, shaderF16, config: m.config, rows: 3, contextTokens: 2048, dtype: dtype === 'auto' ? undefined : dtype, ownDecoder });
    return { choice, error: null, listed: !!m.files };
  } catch (e) {
    return { choice: null, error: (e as Error).message, listed: !!m.files };
  }
}

/** What the lab loads: a hub model, a local folder (files read), or the built-in synthetic model. */
export type ModelRequest =
  | { kind: 'hub'; repo: string; dtype: LabDtype; hub?: string; revision?: string }
  | { kind: 'folder'; label: string; files: Record<string, Uint8Array>; dtype?: LabDtype }
  | { kind: 'synthetic' };

export function toSource(r: ModelRequest): ModelSource {
  const dtype = r.kind !== 'synthetic' && r.dtype !== 'auto' ? r.dtype : undefined;
  if (r.kind === 'hub') return { kind: 'hub', repo: r.repo, dtype, hub: r.hub, revision: r.revision ?? 'main' };
  if (r.kind === 'folder') return { kind: 'files', files: r.files, dtype, label: r.label };
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
  const m = /^hub:([\w.-]+\/[\w.-]+)@(auto|fp32|fp16|q8|q4|q4f16)(?:@(https?:\/\/[^@]+))?$/.exec(key);
  if (!m || !isRepoId(m[1])) return null;
  return { kind: 'hub', repo: m[1], dtype: m[2] as LabDtype, hub: m[3] };
}
