/** Strided element gathers shared by the readers (torch views, Fortran-order and big-endian arrays). */
import { FormatError } from '../errors';
import { numel } from '../tensor';

export function cStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** True when a (shape, stride) view walks memory in C order (size-1 dims may carry any stride). */
export function isCContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/**
 * Copy the view (shape, stride, offset in elements) of `src` into a new C-contiguous array.
 * The caller has checked bounds; `maxBytes` stops expanded views (stride 0) from exhausting memory.
 */
export function gatherStrided(
  src: Uint8Array,
  bpe: number,
  shape: readonly number[],
  stride: readonly number[],
  offset: number,
  maxBytes = 2 ** 31 - 1,
): Uint8Array {
  const n = numel(shape);
  if (n * bpe > maxBytes) throw new FormatError('tensor-too-large', `A strided tensor view would need ${n * bpe} bytes, over the limit of ${maxBytes}.`);
  const out = new Uint8Array(n * bpe);
  if (n === 0) return out;
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let srcEl = offset;
  for (let k = 0; k < n; k++) {
    const so = srcEl * bpe;
    for (let b = 0; b < bpe; b++) out[k * bpe + b] = src[so + b];
    // Advance the multi-index (last dim fastest).
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      srcEl += stride[d];
      if (idx[d] < shape[d]) break;
      srcEl -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Reverse the byte order of every element (big-endian -> little-endian) into a new array. */
export function byteswap(src: Uint8Array, bpe: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += bpe) for (let b = 0; b < bpe; b++) out[i + b] = src[i + bpe - 1 - b];
  return out;
}
