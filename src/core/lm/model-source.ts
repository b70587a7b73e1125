/**
 * Where a chat model's files come from, and getting them into memory:
 * - `hub`: the Hugging Face URL scheme `<hub>/<repo>/resolve/<rev>/<file>` (huggingface.co or any
 *   mirror / local test server), with per-file progress, cancel, retries and an optional cache;
 * - `files`: the contents of a local folder, already read (the CLI reads it from disk, the app from
 *   a folder picker) — paths relative to the model folder;
 * - `synthetic`: a tiny random decoder built on the spot (seeded), with a byte-level tokenizer, so
 *   everything works with no download at all.
 *
 * The layout is that of transformers.js model repos: config.json, generation_config.json,
 * tokenizer.json, tokenizer_config.json, onnx/model<suffix>.onnx and its external data
 * (`model<suffix>.onnx_data`, `_1`, `_2`, ... — the names are read from the graph itself).
 */
import { DataError, FormatError } from '../errors';
import { decodeModel, externalDataRef, type GraphProto } from '../onnx/proto';
import { hubFileUrl } from '../hub/url';
import { fetchWithProgress } from '../hub/fetch';
import type { FileCache } from '../hub/cache';
import { HubError } from '../hub/errors';
import type { TokenizerFiles } from './tokenizer';
import { syntheticTokenizerFiles } from './tokenizer';
import type { ModelDType } from './builder/common';

export type ModelDtype = 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
/** transformers.js file-name suffix per dtype. */
export const DTYPE_SUFFIX: Record<ModelDtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', q4: '_q4', q4f16: '_q4f16' };

export type ModelSource =
  | { kind: 'hub'; hub?: string; repo: string; revision?: string; dtype?: ModelDtype; /** Overrides the dtype's file name, e.g. `onnx/decoder_model_merged.onnx`. */ onnxFile?: string }
  | { kind: 'files'; files: Record<string, Uint8Array>; dtype?: ModelDtype; onnxFile?: string; label?: string }
  | {
      kind: 'synthetic';
      /** config.json overrides (default: a tiny Qwen3 with the byte tokenizer's 259 tokens). */
      config?: Record<string, unknown>;
      seed?: number;
      style?: 'genai' | 'optimum';
      /** Any dtype the builder writes (q8 / int8 / uint8 open on our own decoder on WASM). */
      dtype?: ModelDType;
    };

export interface ModelFiles {
  /** Parsed config.json. */
  config: Record<string, unknown>;
  /** Parsed generation_config.json, or null when the model has none. */
  generationConfig: Record<string, unknown> | null;
  tokenizer: TokenizerFiles;
  /** The .onnx file's bytes. */
  model: Uint8Array;
  /** External weight files by the location name the graph uses. */
  externalData: { path: string; data: Uint8Array }[];
  /** What was loaded, for people: e.g. `onnx-community/Qwen3-0.6B-ONNX · onnx/model_q4.onnx`. */
  label: string;
  /** Bytes of all files. */
  bytes: number;
}

export interface ModelLoadProgress {
  /** File being loaded (path inside the repo), a stage of the synthetic build, or a load stage's words (see `stage`). */
  file: string;
  loaded: number;
  total: number | null;
  filesDone: number;
  /** Known so far: grows once the graph names its external data files. */
  filesTotal: number;
  cached?: boolean;
  /**
   * Set for a stage after the downloads, not a file: `file` then says it in words ('Preparing
   * weights for our int8 decoder'), and `loaded` of `total` count `unit` ('linears'; total null:
   * a stage with no count). `fraction` (0 to 1), where given, is the share of the stage's work
   * done, by weights: it moves within a big linear (the lm_head is ~35% of a 0.6B model's), while
   * the count of linears moves at each linear's end.
   */
  stage?: { unit: string; fraction?: number };
}

export interface ModelLoadOptions {
  signal?: AbortSignal;
  onProgress?: (p: ModelLoadProgress) => void;
  cache?: FileCache;
  fetch?: typeof fetch;
}

export function onnxPath(dtype: ModelDtype = 'fp32', onnxFile?: string): string {
  return onnxFile ?? `onnx/model${DTYPE_SUFFIX[dtype]}.onnx`;
}

function parseJson(bytes: Uint8Array, file: string): Record<string, unknown> {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new FormatError('model-json', `${file} is not a valid JSON object (${(e as Error).message}).`, { file });
  }
}

/** Names of the external data files a graph refers to, in first-use order. */
export function externalDataFiles(graph: GraphProto): string[] {
  const seen = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const ref = externalDataRef(t);
    if (ref) seen.add(ref.location);
  }
  for (const n of graph.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t) {
        const ref = externalDataRef(a.t);
        if (ref) seen.add(ref.location);
      }
    }
  }
  for (const l of seen) checkExternalLocation(l);
  return [...seen];
}

/**
 * An ONNX external-data `location` must name a file next to the model: no folders, no `..`, no
 * absolute or drive paths, no hidden files, no control characters. Throws FormatError otherwise.
 */
export function checkExternalLocation(location: string): string {
  // eslint-disable-next-line no-control-regex
  if (!location || /[/\\\u0000-\u001f]/.test(location) || location.startsWith('.') || /^[A-Za-z]:/.test(location)) {
    throw new FormatError('onnx-external-path', `The graph refers to external data "${location}" outside its folder; only files next to the model are read.`, { location });
  }
  return location;
}

/** Fetch every file a source needs (see the module comment). */
export async function loadModelFiles(source: ModelSource, opts: ModelLoadOptions = {}): Promise<ModelFiles> {
  if (source.kind === 'synthetic') return buildSynthetic(source, opts);
  const modelPath = onnxPath(source.dtype, source.onnxFile);
  const dir = modelPath.includes('/') ? modelPath.slice(0, modelPath.lastIndexOf('/') + 1) : '';
  let filesDone = 0;
  let filesTotal = 5;
  let get: (path: string, optional?: boolean) => Promise<Uint8Array | null>;
  let label: string;
  if (source.kind === 'hub') {
    label = `${source.repo} · ${modelPath}`;
    get = async (path, optional) => {
      const url = hubFileUrl({ hub: source.hub, repo: source.repo, revision: source.revision, path });
      try {
        const bytes = await fetchWithProgress(url, {
          signal: opts.signal,
          cache: opts.cache,
          setId: `model:${source.hub ?? ''}/${source.repo}@${source.revision ?? 'main'}`,
          fetch: opts.fetch,
          onProgress: (p) => opts.onProgress?.({ file: path, loaded: p.loaded, total: p.total, filesDone, filesTotal, cached: p.cached }),
        });
        filesDone++;
        opts.onProgress?.({ file: path, loaded: bytes.byteLength, total: bytes.byteLength, filesDone, filesTotal });
        return bytes;
      } catch (e) {
        if (optional && e instanceof HubError && e.code === 'not-found') {
          filesDone++;
          return null;
        }
        throw e;
      }
    };
  } else {
    label = `${source.label ?? 'local folder'} · ${modelPath}`;
    const norm = new Map(Object.entries(source.files).map(([k, v]) => [k.replace(/\\/g, '/').replace(/^\.\//, ''), v]));
    get = async (path, optional) => {
      const b = norm.get(path);
      if (!b && !optional) throw new DataError('model-file-missing', `The model folder has no ${path}.`, { path });
      filesDone++;
      opts.onProgress?.({ file: path, loaded: b?.byteLength ?? 0, total: b?.byteLength ?? 0, filesDone, filesTotal });
      return b ?? null;
    };
  }
  const [configB, genB, tokB, tokCfgB, model] = await Promise.all([
    get('config.json'),
    get('generation_config.json', true),
    get('tokenizer.json'),
    get('tokenizer_config.json'),
    get(modelPath),
  ]);
  let graph: GraphProto;
  try {
    graph = decodeModel(model!).graph ?? ({} as GraphProto);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError('onnx', `${modelPath} is not a readable ONNX model (${(e as Error).message}).`, { path: modelPath });
  }
  const extNames = externalDataFiles(graph);
  filesTotal += extNames.length;
  const extData = await Promise.all(extNames.map((n) => get(dir + n)));
  const externalData = extNames.map((path, i) => ({ path, data: extData[i]! }));
  const all = [configB!, genB, tokB!, tokCfgB!, model!, ...extData];
  return {
    config: parseJson(configB!, 'config.json'),
    generationConfig: genB ? parseJson(genB, 'generation_config.json') : null,
    tokenizer: { tokenizerJSON: parseJson(tokB!, 'tokenizer.json'), tokenizerConfig: parseJson(tokCfgB!, 'tokenizer_config.json') },
    model: model!,
    externalData,
    label,
    bytes: all.reduce((s, b) => s + (b?.byteLength ?? 0), 0),
  };
}

/**
 * Token ids that end a reply: generation_config's eos_token_id (it wins, as in transformers),
 * else config.json's, plus the tokenizer's eos token.
 */
export function stopTokenIds(config: Record<string, unknown>, generationConfig: Record<string, unknown> | null, tokenizerEos: number | null): number[] {
  const ids = new Set<number>();
  const add = (v: unknown) => {
    if (typeof v === 'number') ids.add(v);
    else if (Array.isArray(v)) v.forEach(add);
  };
  if (generationConfig && generationConfig.eos_token_id != null) add(generationConfig.eos_token_id);
  else add(config.eos_token_id);
  if (tokenizerEos != null) ids.add(tokenizerEos);
  return [...ids];
}

/** The built-in synthetic model's config (a tiny Qwen3 over the byte tokenizer). */
export function syntheticConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const tok = syntheticTokenizerFiles();
  return {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    vocab_size: tok.vocabSize,
    max_position_embeddings: 2048,
    tie_word_embeddings: true,
    attention_bias: false,
    eos_token_id: tok.eosIds,
    torch_dtype: 'float32',
    hidden_act: 'silu',
    ...overrides,
  };
}

async function buildSynthetic(source: Extract<ModelSource, { kind: 'synthetic' }>, opts: ModelLoadOptions): Promise<ModelFiles> {
  // Loaded on demand: only the synthetic model needs the builder.
  const [{ randomCheckpoint }, { buildDecoder }] = await Promise.all([import('./checkpoint'), import('./builder')]);
  const config = syntheticConfig(source.config);
  opts.onProgress?.({ file: 'synthetic: random weights', loaded: 0, total: null, filesDone: 0, filesTotal: 2 });
  const ckpt = randomCheckpoint(config, { seed: source.seed ?? 0 });
  if (opts.signal?.aborted) throw new HubError('aborted', 'Building the synthetic model was cancelled.');
  opts.onProgress?.({ file: 'synthetic: ONNX graph', loaded: 0, total: null, filesDone: 1, filesTotal: 2 });
  const built = buildDecoder(ckpt, { style: source.style ?? 'optimum', dtype: source.dtype ?? 'fp32' });
  const model = built.onnx;
  const externalData = built.externalData && built.externalDataName ? [{ path: built.externalDataName, data: built.externalData }] : [];
  opts.onProgress?.({ file: 'synthetic: ONNX graph', loaded: model.byteLength, total: model.byteLength, filesDone: 2, filesTotal: 2 });
  const tok = syntheticTokenizerFiles();
  return {
    config,
    generationConfig: { eos_token_id: tok.eosIds },
    tokenizer: { tokenizerJSON: tok.tokenizerJSON, tokenizerConfig: tok.tokenizerConfig },
    model,
    externalData,
    label: `synthetic ${String(config.model_type)} (${config.num_hidden_layers} layers, d ${config.hidden_size}, seed ${source.seed ?? 0})`,
    bytes: model.byteLength + externalData.reduce((s, e) => s + e.data.byteLength, 0),
  };
}
