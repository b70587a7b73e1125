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

/** IEEE half bits -> the float they stand for (subnormals, infinities and NaN included). */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// float16 -> float32 for all 65536 bit patterns (256 kB, built once).
const f16Table = Float32Array.from({ length: 65536 }, (_, h) => f16BitsToF32(h));

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

/**
 * The bfloat16 bits of the float32 whose bits are `u`: round-to-nearest-even (as torch does),
 * NaN kept a quiet NaN. The one place this rounding is spelled out; callers loop over it.
 */
export function bf16BitsOfF32Bits(u: number): number {
  return (u & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 -> bfloat16 bits with round-to-nearest-even (as torch does). */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  return bf16BitsOfF32Bits(scratchU32[0]);
}

/** float32 values -> bfloat16 bits, round-to-nearest-even, into `out` when given. */
export function f32ToBf16Array(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  if (out.length !== values.length) throw new DataError('out-size', `A buffer of ${out.length} values cannot hold ${values.length} bfloat16 values.`);
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < u32.length; i++) out[i] = bf16BitsOfF32Bits(u32[i]);
  return out;
}

export function tensorFromF32(values: Float32Array, shape: number[]): RawTensor {
  if (numel(shape) !== values.length) throw new DataError('shape', `Shape [${shape}] does not hold ${values.length} values.`);
  return { dtype: 'float32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

const f16Scratch = new Float32Array(1);
const f16ScratchU32 = new Uint32Array(f16Scratch.buffer);

/** float32 -> IEEE half bits, round-to-nearest-even, overflow to infinity (as numpy/torch do). */
export function f32ToF16Bits(x: number): number {
  f16Scratch[0] = x;
  const u = f16ScratchU32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  // a carry out of the mantissa correctly rounds up into the next binade (or to infinity)
  return sign | h;
}

export function f32ToF16Array(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}
