import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeF32, tensorFromF32 } from '../tensor';
import { checkByteFlips, checkTruncations } from './test-props';
import { metadataNames, readMetadataTsv, readVectorsTsv, writeMetadataTsv, writeVectorsTsv } from './tsv';

const enc = new TextEncoder();

describe('projector TSV', () => {
  it('round-trips float32 vectors exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.infiniteStream(fc.float({ noNaN: true })), (n, d, s) => {
        const v = Float32Array.from(s.take(n * d));
        const back = readVectorsTsv(writeVectorsTsv(tensorFromF32(v, [n, d])));
        expect(back.shape).toEqual([n, d]);
        expect(Array.from(decodeF32(back))).toEqual(Array.from(v));
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips single-column (no header) and multi-column (header) metadata', () => {
    const names = ['ghost', 'pirate', 'a b'];
    const single = readMetadataTsv(writeMetadataTsv(names));
    expect(metadataNames(single)).toEqual(names);
    const multi = readMetadataTsv(writeMetadataTsv({ columns: ['kind', 'role'], rows: [['role', 'ghost'], ['trait', 'calm']] }));
    expect(multi.columns).toEqual(['kind', 'role']);
    expect(metadataNames(multi)).toEqual(['ghost', 'calm']);
  });

  it('names the row of a ragged or non-numeric vectors file', () => {
    expect(() => readVectorsTsv(enc.encode('1\t2\n3\n'))).toThrow(/Row 2/);
    expect(() => readVectorsTsv(enc.encode('1\t2\n3\tx\n'))).toThrow(/Row 2, column 2/);
  });

  it('gives only typed errors for flipped bytes and truncation', () => {
    const f = writeVectorsTsv(tensorFromF32(new Float32Array([0.5, -1.25, 3, 4e-8, 1, 2]), [2, 3]));
    checkByteFlips(f, readVectorsTsv, 400);
    checkTruncations(f, readVectorsTsv);
    checkByteFlips(writeMetadataTsv({ columns: ['a', 'b'], rows: [['x', 'y']] }), readMetadataTsv, 200);
  });
});
