/**
 * Axis files: one unnamed tensor of shape (n_layers, d) — the release's `assistant_axis.pt`, a
 * contrast vector per layer — or (d,) — one direction for every layer — in a `.pt`, `.npy`,
 * `.npz` or `.safetensors` (any float dtype, bf16 and f16 included). They are an axis, never a
 * set of personas: `readAxisFile` reads one (values kept in the stored dtype, a layer decoded when
 * asked), and the personas loader refuses one with an `AxisOnlyError` ("load it as an axis")
 * instead of asking for row names (which would turn 80 layers into 80 "roles").
 */
import { DataError } from '../errors';
import { readTensorFile, type FileFormat, type ReadFileOptions } from '../formats/detect';
import { findTensors, isPyDict, type PyValue } from '../formats/py';
import { decodeF32, DTYPE_BYTES, isRawTensor, numel, type DType, type RawTensor } from '../tensor';

/** Bounds on what counts as an axis, checked before anything is decoded. */
export const AXIS_LIMITS = {
  /** Biggest axis file read (an fp32 (80, 8192) axis of a 70B model is 2.6 MB; contrast files a few MB). */
  maxBytes: 256 * 1024 * 1024,
  /** More rows than any model has layers (Llama 3.1 405B has 126): such an array is a set of vectors, not an axis. */
  maxLayers: 256,
  /** Widest hidden size accepted. */
  maxDim: 1 << 17,
} as const;

const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(['bfloat16', 'float16', 'float32', 'float64']);

/** Keys under which a dict holds its one axis tensor (`{"axis": tensor, "metadata": {...}}`, contrast files). */
const AXIS_KEYS = ['axis', 'direction', 'vector', 'vec'];

export interface AxisFile {
  /** The file's name (labels and sentences). */
  name: string;
  format: FileFormat;
  /** n_layers for an (n_layers, d) tensor; null for a (d,) one (the same direction at every layer). */
  layers: number | null;
  dim: number;
  /** The stored dtype (the values stay in it until a layer is decoded). */
  dtype: DType;
  /** The tensor as stored. */
  tensor: RawTensor;
  /** Where in the file the tensor sits: '' for a bare tensor, else its key ("axis", "arr_0", ...). */
  key: string;
  /** What the file says about the axis (`metadata` of `{"axis", "metadata"}`), when it says anything. */
  metadata: PyValue | null;
}

/** The personas loader met an axis file: load it as an axis. */
export class AxisOnlyError extends DataError {
  readonly layers: number | null;
  readonly dim: number;
  constructor(path: string, t: RawTensor) {
    const layers = t.shape.length === 2 ? t.shape[0] : null;
    const dim = t.shape[t.shape.length - 1];
    super('axis-only', `"${path}" is an axis file (${axisShapeText(layers, dim)}), not a set of personas: load it as an axis.`, { path, layers, dim, dtype: t.dtype });
    this.name = 'AxisOnlyError';
    this.layers = layers;
    this.dim = dim;
  }
}

/** "80 layers x 8192" or "one direction of d = 4096 for every layer". */
export function axisShapeText(layers: number | null, dim: number): string {
  return layers === null ? `one direction of d = ${dim} for every layer` : `${layers} layer${layers === 1 ? '' : 's'} x ${dim}`;
}

/** A rank-1 or rank-2 float tensor within the bounds (rows <= maxLayers): the shape an axis has. */
export function isAxisShaped(t: RawTensor): boolean {
  if (!FLOAT_DTYPES.has(t.dtype)) return false;
  const s = t.shape;
  if (s.length === 1) return s[0] >= 1 && s[0] <= AXIS_LIMITS.maxDim;
  if (s.length === 2) return s[0] >= 1 && s[0] <= AXIS_LIMITS.maxLayers && s[1] >= 1 && s[1] <= AXIS_LIMITS.maxDim;
  return false;
}

/**
 * The axis a parsed file holds when it holds nothing else: a bare tensor, `{"axis": t, "metadata": ...}`,
 * or a container (npz, safetensors, a dict) with exactly one tensor — shaped as an axis. A
 * reference-pipeline role file (`{"vector", "role", "type"}`) is a member, not an axis. Null otherwise.
 */
export function axisTensorOf(value: PyValue): { tensor: RawTensor; key: string; metadata: PyValue | null } | null {
  if (isRawTensor(value)) return isAxisShaped(value) ? { tensor: value, key: '', metadata: null } : null;
  if (!isPyDict(value)) return null;
  if (value.has('role') || value.has('type')) return null;
  const tensors = [...value].filter(([, v]) => isRawTensor(v));
  if (tensors.length !== 1) return null;
  const [k, t] = tensors[0] as [unknown, RawTensor];
  const key = String(k);
  const others = [...value.keys()].filter((x) => String(x) !== key);
  // Only metadata may sit beside the tensor.
  if (others.some((x) => String(x) !== 'metadata' && String(x) !== '__metadata__')) return null;
  if (!isAxisShaped(t)) return null;
  return { tensor: t, key, metadata: value.has('metadata') ? (value.get('metadata') ?? null) : null };
}

export interface ReadAxisOptions extends ReadFileOptions {
  /** When a file holds several tensors, take the one of this shape (a model's layers and hidden size). */
  prefer?: { layers: number; dim: number };
}

/**
 * Read an axis file. Errors are one sentence each: too big, no tensor, several tensors, not
 * (n_layers, d) or (d,), not floats, more rows than a model has layers, non-finite values.
 */
export function readAxisFile(name: string, bytes: Uint8Array, opts: ReadAxisOptions = {}): AxisFile {
  if (bytes.length > AXIS_LIMITS.maxBytes) {
    throw new DataError('axis-size', `"${name}" is ${Math.round(bytes.length / 1e6)} MB, far more than an axis; pick the axis file itself.`);
  }
  const r = readTensorFile(bytes, name, opts);
  const picked = pickAxisTensor(name, r.value, opts.prefer);
  const t = picked.tensor;
  if (numel(t.shape) * DTYPE_BYTES[t.dtype] !== t.data.length) throw new DataError('tensor-bytes', `"${name}" holds the wrong number of bytes for its shape [${t.shape.join(', ')}].`);
  const layers = t.shape.length === 2 ? t.shape[0] : null;
  const dim = t.shape[t.shape.length - 1];
  const a: AxisFile = { name, format: r.format, layers, dim, dtype: t.dtype, tensor: t, key: picked.key, metadata: picked.metadata };
  // Every value finite, checked a row at a time (nothing kept decoded).
  const row = new Float32Array(dim);
  for (let l = 0; l < (layers ?? 1); l++) {
    axisLayer(a, l, row);
    for (let j = 0; j < dim; j++) {
      if (!Number.isFinite(row[j])) throw new DataError('axis-values', `"${name}" holds a non-finite value (${row[j]}) at ${layers === null ? `index ${j}` : `layer ${l}, index ${j}`}, so it cannot be an axis.`);
    }
  }
  return a;
}

function pickAxisTensor(name: string, value: PyValue, prefer?: { layers: number; dim: number }): { tensor: RawTensor; key: string; metadata: PyValue | null } {
  const direct = axisTensorOf(value);
  if (direct) return direct;
  let found: { path: string; tensor: RawTensor }[];
  if (isPyDict(value)) {
    const named = AXIS_KEYS.map((k) => [k, value.get(k)] as const).find(([, v]) => isRawTensor(v));
    if (named) found = [{ path: named[0], tensor: named[1] as RawTensor }];
    else found = findTensors(value);
  } else found = findTensors(value);
  if (found.length === 0) throw new DataError('axis-empty', `"${name}" holds no tensor, so it cannot be an axis.`);
  if (found.length > 1) {
    const fits = prefer && found.find(({ tensor: t }) => (t.shape.length === 2 && t.shape[0] === prefer.layers && t.shape[1] === prefer.dim) || (t.shape.length === 1 && t.shape[0] === prefer.dim));
    if (fits) found = [fits];
    else {
      const list = found.slice(0, 4).map((f) => `${f.path || 'tensor'} [${f.tensor.shape.join(', ')}]`).join(', ');
      throw new DataError('axis-several', `"${name}" holds ${found.length} tensors (${list}${found.length > 4 ? ', ...' : ''}); an axis file holds one (n_layers, d) or (d,) tensor, so open this one as a set of vectors instead.`);
    }
  }
  const { path, tensor: t } = found[0];
  checkAxisShape(name, t);
  const metadata = isPyDict(value) && value.has('metadata') ? (value.get('metadata') ?? null) : null;
  return { tensor: t, key: path, metadata };
}

function checkAxisShape(name: string, t: RawTensor): void {
  const s = t.shape;
  if (s.length !== 1 && s.length !== 2) throw new DataError('axis-shape', `"${name}" holds a tensor of shape [${s.join(', ')}]; an axis is (n_layers, d) or (d,).`);
  if (!FLOAT_DTYPES.has(t.dtype)) throw new DataError('axis-dtype', `"${name}" holds ${t.dtype} values; an axis holds floats (bfloat16, float16, float32 or float64).`);
  if (s.some((x) => x < 1)) throw new DataError('axis-shape', `"${name}" holds an empty tensor of shape [${s.join(', ')}].`);
  if (s[s.length - 1] > AXIS_LIMITS.maxDim) throw new DataError('axis-shape', `"${name}" has vectors of ${s[s.length - 1]} values, more than any model's hidden size (at most ${AXIS_LIMITS.maxDim}).`);
  if (s.length === 2 && s[0] > AXIS_LIMITS.maxLayers) {
    throw new DataError('axis-rows', `"${name}" has ${s[0]} rows of ${s[1]}, more than any model has layers (at most ${AXIS_LIMITS.maxLayers}): it looks like a set of vectors, so open it as personas.`);
  }
}

/** Layer `l` of the axis decoded to float32 (a (d,) axis gives its one direction at every layer). */
export function axisLayer(a: AxisFile, l: number, out?: Float32Array): Float32Array {
  if (a.layers === null) return decodeF32(a.tensor, 0, a.dim, out);
  if (!Number.isInteger(l) || l < 0 || l >= a.layers) throw new DataError('axis-layer', `"${a.name}" has layers 0 to ${a.layers - 1}; there is no layer ${l}.`);
  return decodeF32(a.tensor, l * a.dim, a.dim, out);
}

/** The whole axis as float32, (layers x d) row-major; a (d,) axis repeated `layers` times (default 1). */
export function axisToF32(a: AxisFile, layers = a.layers ?? 1): Float32Array {
  if (a.layers !== null && layers !== a.layers) throw new DataError('axis-layers', `"${a.name}" has ${a.layers} layers, not ${layers}.`);
  const out = new Float32Array(layers * a.dim);
  for (let l = 0; l < layers; l++) axisLayer(a, l, out.subarray(l * a.dim, (l + 1) * a.dim));
  return out;
}

/** One line: `format, "axis", layers, dim, dtype` (what `inspect` prints). */
export function describeAxisFile(a: AxisFile): string {
  return `axis (${a.format}${a.key ? `, key "${a.key}"` : ''}): ${a.layers === null ? 'one layer (d,)' : `${a.layers} layers`}, ${a.dim} dims, ${a.dtype}`;
}
