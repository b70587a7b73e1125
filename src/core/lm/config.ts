/**
 * Decoder hyper-parameters read from a Hugging Face `config.json` (Llama, Qwen2, Qwen3 families),
 * with the defaults transformers applies when a key is missing.
 */
import { FormatError } from '../errors';

export type ModelFamily = 'llama' | 'qwen2' | 'qwen3';
export const SUPPORTED_MODEL_TYPES: readonly ModelFamily[] = ['llama', 'qwen2', 'qwen3'];

/** RoPE frequency scaling; only the variants HF applies to these families. */
export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | { type: 'linear'; factor: number };

export interface DecoderConfig {
  modelType: ModelFamily;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** q/k/v projections carry a bias (always for Qwen2; `attention_bias` for Llama/Qwen3). */
  qkvBias: boolean;
  /** o_proj carries a bias (`attention_bias` for Llama/Qwen3; never for Qwen2). */
  oBias: boolean;
  /** gate/up/down carry a bias (Llama's `mlp_bias`). */
  mlpBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
  /** The parsed JSON, untouched (written back next to built models). */
  raw: Record<string, unknown>;
}

export class UnsupportedModelError extends FormatError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('unsupported-model', message, details);
    this.name = 'UnsupportedModelError';
  }
}

function num(raw: Record<string, unknown>, key: string, dflt?: number): number {
  const v = raw[key];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new FormatError('config-missing', `config.json has no "${key}", which a decoder needs.`, { key });
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FormatError('config-value', `config.json "${key}" should be a number, got ${JSON.stringify(v)}.`, { key });
  return v;
}

/**
 * Upper bounds on config sizes, checked before anything is allocated or written: generous for real
 * decoders (Llama 3 405B: 126 layers, d 16384, MLP 53248, vocab 128256), small enough that a
 * hostile or mistyped config.json gets a sentence instead of a giant allocation.
 */
export const CONFIG_LIMITS: Readonly<Record<string, number>> = {
  hidden_size: 65536,
  intermediate_size: 262144,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 4096,
  vocab_size: 4194304,
  max_position_embeddings: 16777216,
};
/** Values in one tensor (the embedding or an MLP matrix) at most: 2^31, 8 GB as float32. */
export const MAX_TENSOR_VALUES = 2 ** 31;

function posInt(raw: Record<string, unknown>, key: string, dflt?: number): number {
  const v = num(raw, key, dflt);
  if (!Number.isInteger(v) || v <= 0) throw new FormatError('config-value', `config.json "${key}" should be a positive whole number, got ${v}.`, { key });
  const max = CONFIG_LIMITS[key];
  if (max !== undefined && v > max) {
    throw new FormatError('config-too-large', `config.json "${key}" is ${v}, more than the ${max} this tool supports; is the file right?`, { key, value: v, max });
  }
  return v;
}

function parseRopeScaling(raw: Record<string, unknown>): RopeScaling | undefined {
  // transformers v4 uses `rope_scaling`; v5 folds it (and rope_theta) into `rope_parameters`.
  const rs = (raw.rope_scaling ?? raw.rope_parameters) as Record<string, unknown> | null | undefined;
  if (!rs || typeof rs !== 'object') return undefined;
  const type = (rs.rope_type ?? rs.type) as string | undefined;
  if (!type || type === 'default') return undefined;
  const factor = num(rs, 'factor');
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor,
      lowFreqFactor: num(rs, 'low_freq_factor'),
      highFreqFactor: num(rs, 'high_freq_factor'),
      originalMaxPositionEmbeddings: num(rs, 'original_max_position_embeddings'),
    };
  }
  if (type === 'linear') return { type: 'linear', factor };
  throw new UnsupportedModelError(`RoPE scaling "${type}" is not supported (supported: llama3, linear, none).`, { type });
}

/** Parse a config.json (text or parsed object). Throws FormatError / UnsupportedModelError. */
export function parseConfig(json: string | Record<string, unknown>): DecoderConfig {
  let raw: Record<string, unknown>;
  if (typeof json === 'string') {
    try {
      raw = JSON.parse(json);
    } catch (e) {
      throw new FormatError('config-json', `config.json is not valid JSON (${(e as Error).message}).`);
    }
  } else raw = json;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError('config-json', 'config.json should hold a JSON object.');
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw new FormatError('config-missing', 'config.json has no "model_type", so the model family is unknown.');
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as ModelFamily)) {
    throw new UnsupportedModelError(`Model type "${modelType}" is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}.`, { modelType });
  }
  const family = modelType as ModelFamily;
  const hiddenSize = posInt(raw, 'hidden_size');
  const numHeads = posInt(raw, 'num_attention_heads');
  const numKvHeads = posInt(raw, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) throw new FormatError('config-value', `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads}).`);
  const headDim = posInt(raw, 'head_dim', family === 'qwen3' ? undefined : Math.floor(hiddenSize / numHeads));
  if (headDim % 2 !== 0) throw new FormatError('config-value', `head_dim (${headDim}) must be even for rotary embeddings.`);
  const ropeParams = raw.rope_parameters as Record<string, unknown> | undefined;
  const ropeTheta = num(raw, 'rope_theta', typeof ropeParams?.rope_theta === 'number' ? ropeParams.rope_theta : 10000);
  const attentionBias = raw.attention_bias === true;
  if (family === 'qwen2' && raw.use_sliding_window === true) {
    throw new UnsupportedModelError('Qwen2 sliding-window attention is not supported.');
  }
  const intermediateSize = posInt(raw, 'intermediate_size');
  const vocabSize = posInt(raw, 'vocab_size');
  for (const [what, n] of [
    ['vocab_size x hidden_size', vocabSize * hiddenSize],
    ['intermediate_size x hidden_size', intermediateSize * hiddenSize],
    ['num_attention_heads x head_dim x hidden_size', numHeads * headDim * hiddenSize],
  ] as const) {
    if (n > MAX_TENSOR_VALUES) {
      throw new FormatError('config-too-large', `config.json's sizes make one weight of ${n.toExponential(2)} values (${what}), more than the 2^31 this tool supports.`, { what, values: n });
    }
  }
  const eos = raw.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [];
  return {
    modelType: family,
    hiddenSize,
    intermediateSize,
    numLayers: posInt(raw, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling: parseRopeScaling(raw),
    vocabSize,
    // LlamaConfig, Qwen2Config and Qwen3Config all default to untied embeddings.
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    maxPositionEmbeddings: posInt(raw, 'max_position_embeddings', 2048),
    qkvBias: family === 'qwen2' ? true : attentionBias,
    oBias: family === 'qwen2' ? false : attentionBias,
    mlpBias: family === 'llama' && raw.mlp_bias === true,
    qkNorm: family === 'qwen3',
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : undefined,
    eosTokenIds,
    raw,
  };
}

/** RoPE inverse frequencies (head_dim / 2 of them), as HF's rope init functions compute them. */
export function ropeInvFreq(cfg: Pick<DecoderConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const half = cfg.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const rs = cfg.ropeScaling;
  if (rs?.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] /= rs.factor;
  } else if (rs?.type === 'llama3') {
    const lowWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
    const highWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / rs.factor;
      else if (wavelen >= highWavelen) {
        // medium frequencies: interpolate between scaled and unscaled
        const smooth = (rs.originalMaxPositionEmbeddings / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / rs.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** A small HF-style config.json object for tests, benchmarks and `model random`. */
export function tinyConfigJson(family: ModelFamily, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    architectures: [family === 'llama' ? 'LlamaForCausalLM' : family === 'qwen2' ? 'Qwen2ForCausalLM' : 'Qwen3ForCausalLM'],
    model_type: family,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    rms_norm_eps: 1e-6,
    rope_theta: family === 'llama' ? 500000 : 1000000,
    vocab_size: 256,
    max_position_embeddings: 512,
    tie_word_embeddings: family !== 'llama',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
    hidden_act: 'silu',
  };
  if (family === 'llama') {
    base.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
  }
  if (family === 'qwen3') base.attention_bias = false;
  return { ...base, ...overrides };
}

/**
 * config.json of real small chat models (shapes only, as published on the hub), for benchmarks
 * that build random models of the same size: `randomCheckpoint(presetConfigJson('qwen3-0.6b'))`.
 */
export function presetConfigJson(name: 'qwen3-0.6b' | 'llama-3.2-1b' | 'qwen2.5-0.5b'): Record<string, unknown> {
  switch (name) {
    case 'qwen3-0.6b':
      return tinyConfigJson('qwen3', {
        architectures: ['Qwen3ForCausalLM'], hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
        num_key_value_heads: 8, head_dim: 128, rms_norm_eps: 1e-6, rope_theta: 1000000, vocab_size: 151936, max_position_embeddings: 40960,
        tie_word_embeddings: true, bos_token_id: 151643, eos_token_id: 151645, torch_dtype: 'bfloat16',
      });
    case 'llama-3.2-1b':
      return tinyConfigJson('llama', {
        hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64,
        rms_norm_eps: 1e-5, rope_theta: 500000, vocab_size: 128256, max_position_embeddings: 131072, tie_word_embeddings: true,
        bos_token_id: 128000, eos_token_id: [128001, 128008, 128009], torch_dtype: 'bfloat16',
        rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      });
    case 'qwen2.5-0.5b':
      return tinyConfigJson('qwen2', {
        hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, head_dim: 64,
        rms_norm_eps: 1e-6, rope_theta: 1000000, vocab_size: 151936, max_position_embeddings: 32768, tie_word_embeddings: true,
        bos_token_id: 151643, eos_token_id: 151645, torch_dtype: 'bfloat16',
      });
  }
}
