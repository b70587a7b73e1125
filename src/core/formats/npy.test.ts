import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeF32, f32ToBf16Bits, type RawTensor } from '../tensor';
import { arbTensor } from './arbitraries';
import { readNpy, readNpz, writeNpy, writeNpz } from './npy';
import { checkByteFlips, checkTruncations, props } from './test-props';

const enc = new TextEncoder();

/** An .npy with a hand-written header (what numpy writes for the given dict). */
function npy(dict: string, body: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const h = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + body.length);
  out.set([0x93, ...enc.encode('NUMPY'), version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(enc.encode(h), pre);
  out.set(body, total);
  return out;
}

describe('.npy', () => {
  it('round-trips every dtype numpy has (bfloat16 is widened to float32)', () => {
    fc.assert(
      fc.property(arbTensor(['float16', 'float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']), (t) => {
        expect(readNpy(writeNpy(t))).toEqual(t);
      }),
      props({ numRuns: 150 }),
    );
    const bf: RawTensor = { dtype: 'bfloat16', shape: [2], data: new Uint8Array(new Uint16Array([f32ToBf16Bits(1.5), f32ToBf16Bits(-2)]).buffer) };
    const back = readNpy(writeNpy(bf));
    expect(back.dtype).toBe('float32');
    expect(Array.from(decodeF32(back))).toEqual([1.5, -2]);
  });

  it('reads header versions 2 and 3', () => {
    const body = new Uint8Array(new Float32Array([1, 2]).buffer);
    for (const v of [2, 3]) expect(Array.from(decodeF32(readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", body, v))))).toEqual([1, 2]);
  });

  it('transposes Fortran-order arrays into C order', () => {
    // np.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores 1 4 2 5 3 6
    const body = new Uint8Array(new Float64Array([1, 4, 2, 5, 3, 6]).buffer);
    const t = readNpy(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", body));
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(decodeF32(t))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('byte-swaps big-endian arrays', () => {
    const body = new Uint8Array(8);
    new DataView(body.buffer).setFloat32(0, 1.25, false);
    new DataView(body.buffer).setFloat32(4, -3, false);
    expect(Array.from(decodeF32(readNpy(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", body))))).toEqual([1.25, -3]);
  });

  it('refuses object and string dtypes, shape/byte mismatches and trailing bytes', () => {
    expect(() => readNpy(npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16)))).toThrow(/dtype "\|O"/);
    expect(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", new Uint8Array(8)))).toThrow(/needs 12 bytes/);
    expect(() => readNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)))).toThrow(/unexpected bytes/);
  });

  it('gives only typed errors for flipped bytes and refuses every truncation', () => {
    const f = writeNpy({ dtype: 'float32', shape: [3, 2], data: new Uint8Array(24).fill(3) });
    checkByteFlips(f, readNpy, 400);
    const { refused, cuts } = checkTruncations(f, readNpy);
    expect(refused).toBe(cuts);
  });
});

describe('.npz', () => {
  it('round-trips several arrays by name', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z_][a-z0-9_]{0,7}$/), arbTensor(['float32', 'int64', 'bool'])), { selector: (x) => x[0], maxLength: 4 }), (entries) => {
        const back = readNpz(writeNpz(new Map(entries)));
        expect([...back]).toEqual(entries);
      }),
      props({ numRuns: 80 }),
    );
  });

  it('gives only typed errors for flipped bytes and refuses every truncation', () => {
    const f = writeNpz({ x: { dtype: 'float32', shape: [2], data: new Uint8Array(8) }, names_idx: { dtype: 'int64', shape: [1], data: new Uint8Array(8) } });
    checkByteFlips(f, (b) => readNpz(b), 300);
    const { refused, cuts } = checkTruncations(f, (b) => readNpz(b));
    expect(refused).toBe(cuts);
  });
});
