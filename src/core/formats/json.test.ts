import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { decodeF32, isRawTensor, tensorFromF32, type RawTensor } from '../tensor';
import { readJson, writeJsonVectors } from './json';
import { PyDict, pyGet } from './py';
import { checkByteFlips, checkTruncations, props } from './test-props';

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

describe('JSON vectors', () => {
  it('reads a list of numbers, nested lists, {name: [...]} and {names, vectors}', () => {
    const a = readJson(json([1, 2, 3])) as RawTensor;
    expect(a.shape).toEqual([3]);
    const b = readJson(json([[1, 2], [3, 4], [5, 6]])) as RawTensor;
    expect(b.shape).toEqual([3, 2]);
    const c = readJson(json({ ghost: [1, 2], pirate: [3, 4] })) as PyDict;
    expect(Array.from(decodeF32(c.get('pirate') as RawTensor))).toEqual([3, 4]);
    const d = readJson(json({ names: ['x', 'y'], vectors: [[1], [2]] }));
    expect(pyGet(d, 'names')).toEqual(['x', 'y']);
    expect(isRawTensor(pyGet(d, 'vectors'))).toBe(true);
    expect(readJson(json(['a', 'b']))).toEqual(['a', 'b']);
  });

  it('round-trips {names, vectors} for (N, d) and (N, L, d)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), (n, l, d, layered) => {
        const shape = layered ? [n, l, d] : [n, d];
        const v = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => i * 0.5 - 1);
        const names = Array.from({ length: n }, (_, i) => `r${i}`);
        const back = readJson(writeJsonVectors(names, tensorFromF32(v, shape)));
        expect(pyGet(back, 'names')).toEqual(names);
        const t = pyGet(back, 'vectors') as RawTensor;
        expect(t.shape).toEqual(shape);
        expect(Array.from(decodeF32(t))).toEqual(Array.from(v));
      }),
      props({ numRuns: 60 }),
    );
  });

  it('accepts the NaN and Infinity that Python\'s json module writes (not inside strings)', () => {
    const v = readJson(enc.encode('{"NaN name": [NaN, Infinity, -Infinity, 1.5]}')) as PyDict;
    expect(Array.from(decodeF32(v.get('NaN name') as RawTensor))).toEqual([NaN, Infinity, -Infinity, 1.5]);
    expect(readJson(enc.encode('["a \\"NaN\\"", "b"]'))).toEqual(['a "NaN"', 'b']);
  });

  it('refuses ragged arrays and invalid JSON with typed errors', () => {
    expect(() => readJson(json([[1, 2], [3]]))).toThrow(/not rectangular/);
    expect(() => readJson(enc.encode('{"a": [1, 2'))).toThrow(/not valid JSON/);
  });

  it('refuses deep nesting with a typed sentence before walking it (arrays, objects, mixed)', () => {
    const deepArray = '['.repeat(100_000) + '1' + ']'.repeat(100_000);
    const deepObject = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    const deepMixed = '[{"a":'.repeat(50_000) + '1' + '}]'.repeat(50_000);
    for (const text of [deepArray, deepObject, deepMixed]) {
      let err: unknown;
      try {
        readJson(enc.encode(text));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as FormatError).code).toBe('json-depth');
      expect((err as FormatError).message).toBe('The JSON nests more than 64 levels deep.');
    }
    // 64 levels is still read (a shape of 63 ones and a 2)
    const ok = readJson(enc.encode('['.repeat(63) + '[1,2]' + ']'.repeat(63))) as RawTensor;
    expect(ok.shape).toEqual([...new Array(63).fill(1), 2]);
  });

  it('bounds the shape by what the text can hold before allocating (12 kB promising 1e18 numbers)', () => {
    let text = '0';
    for (let k = 0; k < 6; k++) text = '[' + text + ',0'.repeat(999) + ']';
    expect(text.length).toBeLessThan(13_000);
    expect(() => readJson(enc.encode(text))).toThrow(FormatError);
    expect(() => readJson(enc.encode(text))).toThrow(/The JSON array is not rectangular: expected shape \[1000, 1000, 1000, 1000, 1000, 1000\] throughout\./);
  });

  it('gives only typed errors for flipped bytes and refuses every truncation', () => {
    const f = json({ names: ['a', 'b'], vectors: [[1.5, 2], [3, -4]] });
    checkByteFlips(f, readJson, 400);
    const { refused, cuts } = checkTruncations(f, readJson);
    expect(refused).toBe(cuts);
  });
});
