/**
 * Tensors as read from files: raw little-endian bytes in the stored dtype, C-contiguous.
 * Values stay raw (bf16/f16 included) until a slice is decoded to float32.
 */
import { DataError } from './errors';

export type DType =
  | 'bfloat16'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export const DTYPE_BYTES: Record<DType, number> = {
  bfloat16: 2,
  float16: 2,
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export interface RawTensor {
  dtype: DType;
  shape: number[];
  /** C-contiguous little-endian bytes; byteLength === numel(shape) * DTYPE_BYTES[dtype]. May be a view into a larger buffer. */
  data: Uint8Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function isRawTensor(v: unknown): v is RawTensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    'dtype' in v &&
    'shape' in v &&
    'data' in v &&
    (v as RawTensor).data instanceof Uint8Array &&
    Array.isArray((v as RawTensor).shape)
  );
}

const f16Table = (() => {
  // float16 -> float32 for all 65536 bit patterns (256 kB, built once).
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/**
 * Decode `count` elements starting at element `start` of `t` into float32 (into `out` when given).
 * int64 values beyond 2^53 lose precision, as any float conversion would.
 */
export function decodeF32(t: RawTensor, start = 0, count = numel(t.shape) - start, out?: Float32Array): Float32Array {
  const total = numel(t.shape);
  if (start < 0 || count < 0 || start + count > total) {
    throw new DataError('range', `Asked for elements ${start}..${start + count} of a tensor with ${total} elements.`);
  }
  const res = out ?? new Float32Array(count);
  const bpe = DTYPE_BYTES[t.dtype];
  const off = t.data.byteOffset + start * bpe;
  const buf = t.data.buffer;
  const aligned = off % bpe === 0;
  switch (t.dtype) {
    case 'float32':
      if (aligned) res.set(new Float32Array(buf, off, count));
      else res.set(new Float32Array(t.data.slice(start * 4, (start + count) * 4).buffer));
      break;
    case 'bfloat16': {
      const u16 = aligned ? new Uint16Array(buf, off, count) : new Uint16Array(t.data.slice(start * 2, (start + count) * 2).buffer);
      const u32 = new Uint32Array(res.buffer, res.byteOffset, count);
      for (let i = 0; i < count; i++) u32[i] = u16[i] << 16;
      break;
    }
    case 'float16': {
      const u16 = aligned ? new Uint16Array(buf, off, count) : new Uint16Array(t.data.slice(start * 2, (start + count) * 2).buffer);
      for (let i = 0; i < count; i++) res[i] = f16Table[u16[i]];
      break;
    }
    default: {
      const dv = new DataView(buf, off, count * bpe);
      for (let i = 0; i < count; i++) {
        const o = i * bpe;
        switch (t.dtype) {
          case 'float64': res[i] = dv.getFloat64(o, true); break;
          case 'int64': res[i] = Number(dv.getBigInt64(o, true)); break;
          case 'int32': res[i] = dv.getInt32(o, true); break;
          case 'int16': res[i] = dv.getInt16(o, true); break;
          case 'int8': res[i] = dv.getInt8(o); break;
          case 'uint8': res[i] = dv.getUint8(o); break;
          case 'bool': res[i] = dv.getUint8(o) ? 1 : 0; break;
        }
      }
    }
  }
  return res;
}

/** float32 -> bfloat16 bits with round-to-nearest-even (as torch does). */
export function f32ToBf16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0; // NaN
  const rounded = u + 0x7fff + ((u >> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function tensorFromF32(values: Float32Array, shape: number[]): RawTensor {
  if (numel(shape) !== values.length) throw new DataError('shape', `Shape [${shape}] does not hold ${values.length} values.`);
  return { dtype: 'float32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}
