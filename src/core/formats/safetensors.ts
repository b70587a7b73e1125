/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then raw bytes.
 * Tensors come back as views into the input.
 */
import { FormatError } from '../errors';
import { DTYPE_BYTES, numel, type DType, type RawTensor } from '../tensor';

const ST_TO_DTYPE: Record<string, DType> = {
  BF16: 'bfloat16', F16: 'float16', F32: 'float32', F64: 'float64',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const DTYPE_TO_ST: Record<DType, string> = Object.fromEntries(Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Headers above this are refused (the format's own reference implementation caps at 100 MB). */
const MAX_HEADER = 100 * 2 ** 20;

export interface Safetensors {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string> | null;
}

export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  return n >= 2 && n <= Math.min(MAX_HEADER, bytes.length - 8) && bytes[8] === 0x7b; // '{'
}

const err = (msg: string, details?: Record<string, unknown>) => new FormatError('safetensors-invalid', msg, details);

export function readSafetensors(bytes: Uint8Array): Safetensors {
  if (bytes.length < 8) throw err('The safetensors file is too short to hold a header.');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER) throw err(`The safetensors header claims ${n} bytes, more than the ${MAX_HEADER}-byte limit.`);
  if (8 + n > bytes.length) throw new FormatError('safetensors-truncated', `The safetensors file is truncated: its header needs ${n} bytes, ${bytes.length - 8} are there.`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw err('The safetensors header is not valid JSON.');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw err('The safetensors header is not a JSON object.');
  const body = bytes.subarray(8 + n);
  const found: [string, RawTensor, number][] = [];
  let metadata: Record<string, string> | null = null;
  const spans: [number, number][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) throw err('The safetensors __metadata__ is not an object.');
      metadata = Object.create(null) as Record<string, string>;
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw err(`The safetensors __metadata__ value "${k}" is not a string.`);
        metadata[k] = v;
      }
      continue;
    }
    const o = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof o !== 'object' || o === null) throw err(`The safetensors entry "${name}" is not an object.`);
    const dtype = typeof o.dtype === 'string' ? ST_TO_DTYPE[o.dtype] : undefined;
    if (!dtype) throw new FormatError('safetensors-dtype', `The safetensors tensor "${name}" has dtype ${JSON.stringify(o.dtype)}, which is not supported.`);
    if (!Array.isArray(o.shape) || !o.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) throw err(`The safetensors tensor "${name}" has an invalid shape.`);
    const off = o.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[0] > off[1]) {
      throw err(`The safetensors tensor "${name}" has invalid data offsets.`);
    }
    const shape = o.shape as number[];
    const [b, e] = off as [number, number];
    const expect = numel(shape) * DTYPE_BYTES[dtype];
    if (e - b !== expect) {
      throw new FormatError('tensor-bytes', `The safetensors tensor "${name}" of shape [${shape.join(', ')}] (${dtype}) needs ${expect} bytes but spans ${e - b}.`);
    }
    if (e > body.length) throw new FormatError('safetensors-truncated', `The safetensors file is truncated: tensor "${name}" ends past the end of the file.`);
    if (e > b) spans.push([b, e]);
    found.push([name, { dtype, shape, data: body.subarray(b, e) }, b]);
  }
  // Overlapping tensors would alias each other's bytes; the format forbids it.
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i][0] < spans[i - 1][1]) throw err('Two safetensors tensors overlap.');
  // File order (by offset): JSON object order is not kept by JSON.parse for integer-like names.
  found.sort((x, y) => x[2] - y[2]);
  return { tensors: new Map(found.map(([k, t]) => [k, t])), metadata };
}

/** A tensor's place in a safetensors header: its data follow the header in the order given. */
export interface SafetensorsEntry { name: string; dtype: DType; shape: number[] }

/**
 * The header alone (length prefix + JSON, space-padded to 8 bytes) for tensors whose data follow
 * in order, so a writer can stream data it makes one tensor at a time instead of holding them all.
 */
export function safetensorsHeader(entries: readonly SafetensorsEntry[], metadata?: Record<string, string>): Uint8Array {
  // Null prototype: a tensor (or metadata key) called __proto__ is data, not the object's prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = Object.assign(Object.create(null), metadata);
  let off = 0;
  for (const { name, dtype, shape } of entries) {
    if (name === '__metadata__') throw new FormatError('safetensors-name', 'A tensor cannot be called __metadata__.');
    const len = numel(shape) * DTYPE_BYTES[dtype];
    header[name] = { dtype: DTYPE_TO_ST[dtype], shape, data_offsets: [off, off + len] };
    off += len;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces to 8 bytes so tensor data stays aligned.
  const padded = (json.length + 7) & ~7;
  const out = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(out.buffer).setUint32(0, padded, true);
  out.set(json, 8);
  return out;
}

function isEntryList(t: object): t is readonly (readonly [string, RawTensor])[] {
  return Array.isArray(t);
}

/** One safetensors file in memory, tensors in the order given. */
export function writeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor> | readonly (readonly [string, RawTensor])[],
  metadata?: Record<string, string>,
): Uint8Array {
  const entries: readonly (readonly [string, RawTensor])[] =
    tensors instanceof Map ? [...tensors] : isEntryList(tensors) ? tensors : Object.entries(tensors);
  for (const [name, t] of entries) {
    const len = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.length !== len) throw new FormatError('tensor-bytes', `Tensor "${name}" holds ${t.data.length} bytes, not ${len}.`);
  }
  const header = safetensorsHeader(entries.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  const out = new Uint8Array(header.length + entries.reduce((a, [, t]) => a + t.data.length, 0));
  out.set(header);
  let p = header.length;
  for (const [, t] of entries) {
    out.set(t.data, p);
    p += t.data.length;
  }
  return out;
}
