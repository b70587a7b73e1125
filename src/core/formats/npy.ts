/**
 * NumPy `.npy` (format versions 1, 2, 3) and `.npz` (a ZIP of `.npy` entries).
 * Fortran-order arrays are transposed into C order; big-endian arrays are byte-swapped; both
 * copy. Little-endian C-order arrays come back as views.
 */
import { FormatError } from '../errors';
import { DTYPE_BYTES, numel, type DType, type RawTensor } from '../tensor';
import { numpyDescr } from './pickle';
import { byteswap, cStrides, gatherStrided } from './strided';
import { isZip, openZip, writeZip, type ZipLimits } from './zip';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

const err = (msg: string) => new FormatError('npy-invalid', msg);

/** Parse the header dict, a Python literal like {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }. */
function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw err('The .npy header does not give descr, fortran_order and shape.');
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d{1,15}L?$/.test(s)) throw err(`The .npy header has a bad dimension "${s.slice(0, 20)}".`);
      return Number(s.replace('L', ''));
    });
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

export function readNpy(bytes: Uint8Array): RawTensor {
  if (!isNpy(bytes)) throw err('The file does not start with the .npy magic string.');
  if (bytes.length < 10) throw new FormatError('npy-truncated', 'The .npy file is truncated inside its header.');
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let hstart: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    hstart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError('npy-truncated', 'The .npy file is truncated inside its header.');
    hlen = dv.getUint32(8, true);
    hstart = 12;
  } else throw err(`The .npy file has format version ${major}, not 1, 2 or 3.`);
  if (hstart + hlen > bytes.length) throw new FormatError('npy-truncated', 'The .npy file is truncated inside its header.');
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(hstart, hstart + hlen));
  const h = parseHeader(text);
  const info = numpyDescr(h.descr);
  if (!info) throw new FormatError('npy-dtype', `The .npy array has dtype "${h.descr}", which is not a numeric type this tool reads.`);
  const bpe = DTYPE_BYTES[info.dtype];
  const n = numel(h.shape);
  const start = hstart + hlen;
  if (!Number.isSafeInteger(n * bpe)) throw err('The .npy shape is impossibly large.');
  if (bytes.length - start < n * bpe) {
    throw new FormatError('npy-truncated', `The .npy array of shape [${h.shape.join(', ')}] needs ${n * bpe} bytes of data but the file holds ${bytes.length - start}.`);
  }
  if (bytes.length - start > n * bpe) {
    throw new FormatError('tensor-bytes', `The .npy array of shape [${h.shape.join(', ')}] is followed by ${bytes.length - start - n * bpe} unexpected bytes.`);
  }
  let data = bytes.subarray(start, start + n * bpe);
  if (info.bigEndian && bpe > 1) data = byteswap(data, bpe);
  if (h.fortran && h.shape.length > 1) data = gatherStrided(data, bpe, h.shape, cStrides([...h.shape].reverse()).reverse(), 0);
  return { dtype: info.dtype, shape: h.shape, data };
}

const DESCR: Record<DType, string> = {
  bfloat16: '', // numpy has no bfloat16: written as float32 (see writeNpy)
  float16: '<f2', float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4',
  int16: '<i2', int8: '|i1', uint8: '|u1', bool: '|b1',
};

/** Write a version-1 .npy (version 2 when the header needs it). bfloat16 is widened to float32, as numpy lacks it. */
export function writeNpy(t: RawTensor): Uint8Array {
  let data = t.data;
  let descr = DESCR[t.dtype];
  if (t.dtype === 'bfloat16') {
    const n = numel(t.shape);
    const out = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      out[i * 4 + 2] = data[i * 2];
      out[i * 4 + 3] = data[i * 2 + 1];
    }
    data = out;
    descr = '<f4';
  }
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const v2 = dict.length + 11 > 65535;
  const pre = v2 ? 12 : 10;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC);
  out[6] = v2 ? 2 : 1;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (v2) dv.setUint32(8, dict.length, true);
  else dv.setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  out.set(data, total);
  return out;
}

export function isNpz(bytes: Uint8Array): boolean {
  if (!isZip(bytes)) return false;
  try {
    const z = openZip(bytes, { verifyCrc: false });
    return z.entries.size > 0 && [...z.entries.keys()].every((k) => k.endsWith('.npy') || k.endsWith('/'));
  } catch {
    return false;
  }
}

/** Read every array of an .npz; names lose their `.npy` suffix, as numpy.load does. */
export function readNpz(bytes: Uint8Array, limits: ZipLimits = {}): Map<string, RawTensor> {
  // Entry checksums are always checked: a flipped bit in an array must not load silently.
  const z = openZip(bytes, { ...limits, verifyCrc: true });
  const out = new Map<string, RawTensor>();
  for (const name of z.entries.keys()) {
    if (name.endsWith('/')) continue;
    if (!name.endsWith('.npy')) throw err(`The .npz archive holds "${name}", which is not a .npy array.`);
    try {
      out.set(name.slice(0, -4), readNpy(z.read(name)));
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(e.code, `In "${name}": ${e.message}`, e.details);
      throw e;
    }
  }
  return out;
}

export function writeNpz(arrays: Map<string, RawTensor> | Record<string, RawTensor>): Uint8Array {
  const entries = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  return writeZip(entries.map(([k, t]) => ({ name: `${k}.npy`, data: writeNpy(t) })));
}
