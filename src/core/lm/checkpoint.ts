/**
 * HF-style decoder checkpoints: config.json + safetensors tensors under HF names
 * (`model.layers.{i}.self_attn.q_proj.weight`, ...).
 *
 * A Checkpoint hands out one tensor at a time, so a builder can convert a model of any size while
 * holding only the tensor it works on. `randomCheckpoint` makes each tensor on demand from a seed
 * (the same name and seed always give the same values), so benchmarks build Qwen3-0.6B-shaped
 * models without ever materialising 2.4 GB of weights.
 */
import { DataError } from '../errors';
import { errorNamingFile } from '../formats/file-errors';
import { readSafetensors as readSafetensorsFile, safetensorsHeader, writeSafetensors as writeSafetensorsFile, type SafetensorsEntry } from '../formats/safetensors';
import { bf16BitsOfF32Bits, decodeF32, DTYPE_BYTES, f32ToBf16Array, numel, type DType, type RawTensor } from '../tensor';
import { parseConfig, type DecoderConfig } from './config';

export interface Checkpoint {
  readonly config: DecoderConfig;
  /** Names of the tensors held (HF names). */
  names(): string[];
  has(name: string): boolean;
  /** A tensor by HF name in its stored dtype; throws DataError when absent. */
  tensor(name: string): RawTensor;
  /**
   * The tensor decoded to float32 into `out` (which must hold exactly its values); lets a builder
   * reuse one scratch buffer instead of touching fresh memory for every weight. Optional.
   */
  readF32?(name: string, out: Float32Array): Float32Array;
}

/** A tensor as float32, into `out` when given (reusing the checkpoint's fast path when it has one). */
export function tensorF32(ck: Checkpoint, name: string, out?: Float32Array): Float32Array {
  if (out && ck.readF32) return ck.readF32(name, out);
  return decodeF32(ck.tensor(name), 0, undefined, out);
}

// ---------- expected tensors ----------

export interface TensorSpec { name: string; shape: number[]; kind: 'matrix' | 'norm' | 'bias' | 'embedding' }

/** Every tensor an HF checkpoint of this config holds, in HF's order. */
export function checkpointSpec(cfg: DecoderConfig): TensorSpec[] {
  const d = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  const out: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, d], kind: 'embedding' }];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}.`;
    out.push({ name: p + 'input_layernorm.weight', shape: [d], kind: 'norm' });
    out.push({ name: p + 'self_attn.q_proj.weight', shape: [q, d], kind: 'matrix' });
    out.push({ name: p + 'self_attn.k_proj.weight', shape: [kv, d], kind: 'matrix' });
    out.push({ name: p + 'self_attn.v_proj.weight', shape: [kv, d], kind: 'matrix' });
    if (cfg.qkvBias) {
      out.push({ name: p + 'self_attn.q_proj.bias', shape: [q], kind: 'bias' });
      out.push({ name: p + 'self_attn.k_proj.bias', shape: [kv], kind: 'bias' });
      out.push({ name: p + 'self_attn.v_proj.bias', shape: [kv], kind: 'bias' });
    }
    if (cfg.qkNorm) {
      out.push({ name: p + 'self_attn.q_norm.weight', shape: [cfg.headDim], kind: 'norm' });
      out.push({ name: p + 'self_attn.k_norm.weight', shape: [cfg.headDim], kind: 'norm' });
    }
    out.push({ name: p + 'self_attn.o_proj.weight', shape: [d, q], kind: 'matrix' });
    if (cfg.oBias) out.push({ name: p + 'self_attn.o_proj.bias', shape: [d], kind: 'bias' });
    out.push({ name: p + 'post_attention_layernorm.weight', shape: [d], kind: 'norm' });
    out.push({ name: p + 'mlp.gate_proj.weight', shape: [I, d], kind: 'matrix' });
    out.push({ name: p + 'mlp.up_proj.weight', shape: [I, d], kind: 'matrix' });
    out.push({ name: p + 'mlp.down_proj.weight', shape: [d, I], kind: 'matrix' });
    if (cfg.mlpBias) {
      out.push({ name: p + 'mlp.gate_proj.bias', shape: [I], kind: 'bias' });
      out.push({ name: p + 'mlp.up_proj.bias', shape: [I], kind: 'bias' });
      out.push({ name: p + 'mlp.down_proj.bias', shape: [d], kind: 'bias' });
    }
  }
  out.push({ name: 'model.norm.weight', shape: [d], kind: 'norm' });
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, d], kind: 'matrix' });
  return out;
}

/** The lm_head weight's name (the embedding when tied). */
export function lmHeadName(cfg: DecoderConfig): string {
  return cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
}

// ---------- random checkpoints ----------

function hashString(s: string, seed: number): [number, number, number, number] {
  // cyrb128-style mixing of the name with the seed
  let h1 = 1779033703 ^ seed, h2 = 3144134277 ^ seed, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/**
 * Fill `out` with approximately normal values N(mean, std): an Irwin-Hall sum of four 16-bit
 * uniforms (bounded at +-3.46 std), drawn from an inlined sfc32 generator — several times faster
 * than Box-Muller, which matters when a benchmark makes 600 M weights.
 */
function fillNormal(out: Float32Array, state: [number, number, number, number], mean: number, std: number): void {
  let [a, b, c, d] = state;
  const k = std * Math.sqrt(3) / 65536;
  const m = mean - 2 * 65536 * k;
  for (let i = 0; i < out.length; i++) {
    let t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0; a = b ^ (b >>> 9); b = (c + (c << 3)) | 0; c = (c << 21) | (c >>> 11); c = (c + t) | 0;
    const r1 = t >>> 0;
    t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0; a = b ^ (b >>> 9); b = (c + (c << 3)) | 0; c = (c << 21) | (c >>> 11); c = (c + t) | 0;
    const r2 = t >>> 0;
    out[i] = m + k * ((r1 & 0xffff) + (r1 >>> 16) + (r2 & 0xffff) + (r2 >>> 16));
  }
}

export interface RandomCheckpointOptions {
  seed?: number;
  /** Stored dtype of the tensors (values are rounded to it). Default float32. */
  dtype?: 'float32' | 'bfloat16';
}

/** float32 values -> bf16 raw bytes, round-to-nearest-even. */
export function f32ToBf16Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(f32ToBf16Array(values).buffer);
}

/**
 * Values of a random tensor: matrices N(0, 1/fan_in) (so every projection keeps unit scale and
 * attention is neither uniform nor one-hot), embeddings N(0, 1/d) (logits ~ N(0, 1) when tied),
 * norms 1 + N(0, 0.1), biases N(0, 0.1).
 */
export function randomTensorValues(spec: TensorSpec, seed: number, out?: Float32Array): Float32Array {
  const state = hashString(spec.name, seed);
  const vals = out ?? new Float32Array(numel(spec.shape));
  if (vals.length !== numel(spec.shape)) throw new DataError('checkpoint-buffer', `A buffer of ${vals.length} values cannot hold "${spec.name}" [${spec.shape}].`);
  const fanIn = spec.shape[spec.shape.length - 1];
  switch (spec.kind) {
    case 'matrix': fillNormal(vals, state, 0, 1 / Math.sqrt(fanIn)); break;
    case 'embedding': fillNormal(vals, state, 0, 1 / Math.sqrt(fanIn)); break;
    case 'norm': fillNormal(vals, state, 1, 0.1); break;
    case 'bias': fillNormal(vals, state, 0, 0.1); break;
  }
  return vals;
}

/** Round float32 values to bfloat16 precision in place. */
function roundToBf16(v: Float32Array): void {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  for (let i = 0; i < u.length; i++) u[i] = bf16BitsOfF32Bits(u[i]) << 16;
}

/** A checkpoint of random weights, each tensor made when asked for (nothing is cached). */
export function randomCheckpoint(config: DecoderConfig | Record<string, unknown>, opts: RandomCheckpointOptions = {}): Checkpoint {
  const cfg = 'modelType' in config ? (config as DecoderConfig) : parseConfig(config as Record<string, unknown>);
  const seed = opts.seed ?? 0;
  const dtype = opts.dtype ?? 'float32';
  const specs = new Map(checkpointSpec(cfg).map((s) => [s.name, s]));
  const spec = (name: string) => {
    const sp = specs.get(name);
    if (!sp) throw new DataError('checkpoint-missing', `The checkpoint has no tensor "${name}".`, { name });
    return sp;
  };
  return {
    config: cfg,
    names: () => [...specs.keys()],
    has: (n) => specs.has(n),
    tensor(name) {
      const sp = spec(name);
      const vals = randomTensorValues(sp, seed);
      const data = dtype === 'bfloat16' ? f32ToBf16Bytes(vals) : new Uint8Array(vals.buffer);
      return { dtype, shape: sp.shape, data };
    },
    readF32(name, out) {
      const vals = randomTensorValues(spec(name), seed, out);
      if (dtype === 'bfloat16') roundToBf16(vals);
      return vals;
    },
  };
}

// ---------- safetensors ----------

// The codec is the general one; these names stay importable from here for checkpoint code.
export { safetensorsHeader, type SafetensorsEntry };

/** One safetensors file in memory (small checkpoints and tests); a list keeps the tensors' order. */
export function writeSafetensors(tensors: readonly (readonly [string, RawTensor])[], metadata?: Record<string, string>): Uint8Array {
  return writeSafetensorsFile(tensors, metadata);
}

/** The tensors of one safetensors file, as views into `bytes`; errors name `fileName` when given. */
export function readSafetensors(bytes: Uint8Array, fileName?: string): Map<string, RawTensor> {
  try {
    return readSafetensorsFile(bytes).tensors;
  } catch (e) {
    throw fileName === undefined ? e : errorNamingFile(e, fileName);
  }
}

/** A checkpoint over tensors already in memory (e.g. read from safetensors shards). Checks names and shapes. */
export function checkpointFromTensors(config: DecoderConfig | Record<string, unknown> | string, tensors: Map<string, RawTensor>): Checkpoint {
  const cfg = typeof config === 'object' && 'modelType' in config ? (config as DecoderConfig) : parseConfig(config as Record<string, unknown> | string);
  for (const spec of checkpointSpec(cfg)) {
    const t = tensors.get(spec.name);
    if (!t) throw new DataError('checkpoint-missing', `The checkpoint has no tensor "${spec.name}", which a ${cfg.modelType} model of this config needs.`, { name: spec.name });
    if (t.shape.join(',') !== spec.shape.join(',')) {
      throw new DataError('checkpoint-shape', `Tensor "${spec.name}" has shape [${t.shape}], but the config implies [${spec.shape}].`, { name: spec.name });
    }
    if (!['float32', 'float16', 'bfloat16'].includes(t.dtype)) throw new DataError('checkpoint-dtype', `Tensor "${spec.name}" is ${t.dtype}; weights must be float32, float16 or bfloat16.`);
  }
  return {
    config: cfg,
    names: () => [...tensors.keys()],
    has: (n) => tensors.has(n),
    tensor(name) {
      const t = tensors.get(name);
      if (!t) throw new DataError('checkpoint-missing', `The checkpoint has no tensor "${name}".`, { name });
      return t;
    },
  };
}

/** A checkpoint from config.json text and the bytes of its safetensors files (one or several shards). */
export function checkpointFromSafetensors(configJson: string | Record<string, unknown>, files: { name: string; bytes: Uint8Array }[]): Checkpoint {
  if (!files.length) throw new DataError('checkpoint-empty', 'The checkpoint folder holds no .safetensors file.');
  const all = new Map<string, RawTensor>();
  for (const f of files) for (const [n, t] of readSafetensors(f.bytes, f.name)) all.set(n, t);
  return checkpointFromTensors(configJson, all);
}

export interface ShardPlan {
  /** File name and the tensor names it holds, in order. */
  files: { file: string; tensors: SafetensorsEntry[] }[];
  /** `model.safetensors.index.json` content when there is more than one shard. */
  index?: { metadata: { total_size: number }; weight_map: Record<string, string> };
}

/** How to split a checkpoint into safetensors shards of at most `maxShardBytes` (HF file naming). */
/** Bytes a checkpoint of this config takes in `dtype` (every tensor of checkpointSpec), without making any. */
export function checkpointBytes(cfg: DecoderConfig, dtype: DType): number {
  return checkpointSpec(cfg).reduce((s, t) => s + numel(t.shape) * DTYPE_BYTES[dtype], 0);
}

export function planShards(ckpt: Checkpoint, dtype: DType, maxShardBytes = 1 << 30): ShardPlan {
  const specs = checkpointSpec(ckpt.config);
  const groups: SafetensorsEntry[][] = [[]];
  let size = 0, total = 0;
  for (const s of specs) {
    const len = numel(s.shape) * DTYPE_BYTES[dtype];
    if (size > 0 && size + len > maxShardBytes) { groups.push([]); size = 0; }
    groups[groups.length - 1].push({ name: s.name, dtype, shape: s.shape });
    size += len; total += len;
  }
  if (groups.length === 1) return { files: [{ file: 'model.safetensors', tensors: groups[0] }] };
  const n = String(groups.length).padStart(5, '0');
  const files = groups.map((g, i) => ({ file: `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`, tensors: g }));
  const weight_map: Record<string, string> = {};
  for (const f of files) for (const t of f.tensors) weight_map[t.name] = f.file;
  return { files, index: { metadata: { total_size: total }, weight_map } };
}
