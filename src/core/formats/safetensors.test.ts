import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { arbTensor } from './arbitraries';
import { readSafetensors, writeSafetensors } from './safetensors';
import { checkByteFlips, checkTruncations, props } from './test-props';

const enc = new TextEncoder();

function handMade(header: object, body: Uint8Array): Uint8Array {
  const h = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + body.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(body, 8 + h.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips tensors of every dtype and the __metadata__', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'), arbTensor()), { selector: (x) => x[0], maxLength: 4 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (entries, meta) => {
        const file = writeSafetensors(new Map(entries), meta);
        const back = readSafetensors(file);
        expect(back.metadata).toEqual(meta);
        expect([...back.tensors.keys()].sort()).toEqual(entries.map((e) => e[0]).sort());
        for (const [k, t] of entries) expect(back.tensors.get(k)).toEqual(t);
      }),
      props({ numRuns: 150 }),
    );
  });

  it('aligns tensor data to 8 bytes after the header', () => {
    const f = writeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Uint8Array(12) } });
    const n = new DataView(f.buffer).getUint32(0, true);
    expect((8 + n) % 8).toBe(0);
  });

  it('refuses a byte-count / shape mismatch', () => {
    const f = handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(() => readSafetensors(f)).toThrow(/needs 12 bytes but spans 8/);
  });

  it('refuses data past the end, a bad dtype and overlapping tensors', () => {
    expect(() => readSafetensors(handMade({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)))).toThrow(/truncated/);
    expect(() => readSafetensors(handMade({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)))).toThrow(/not supported/);
    expect(() =>
      readSafetensors(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12))),
    ).toThrow(/overlap/);
  });

  it('refuses a header length beyond the file', () => {
    const f = new Uint8Array(16);
    new DataView(f.buffer).setUint32(0, 1000, true);
    expect(() => readSafetensors(f)).toThrow(FormatError);
  });

  it('gives only typed errors for flipped bytes and refuses every truncation', () => {
    const f = writeSafetensors({ a: { dtype: 'bfloat16', shape: [2, 3], data: new Uint8Array(12).fill(1) }, b: { dtype: 'int64', shape: [2], data: new Uint8Array(16) } }, { k: 'v' });
    checkByteFlips(f, readSafetensors, 400);
    const { refused, cuts } = checkTruncations(f, readSafetensors);
    expect(refused).toBe(cuts);
  });
});
