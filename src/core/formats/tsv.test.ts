import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeF32, tensorFromF32 } from '../tensor';
import { checkByteFlips, checkTruncations, props } from './test-props';
import { readTensorFile } from './detect';
import { metadataCell, metadataNames, readMetadataCell, readMetadataTsv, readVectorsTsv, writeMetadataTsv, writeVectorsTsv } from './tsv';

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
      props({ numRuns: 100 }),
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

  const hostile = ['__proto__', 'constructor', 'a\tb', 'a b', 'line\nbreak', 'cr\rhere', 'back\\slash', 'lit\\tab', 'lit\\n', '\\', 'trail\\',
    '=1+1', '+SUM(A1)', '-2', '@cmd', '\tlead', '\rlead', "'=quoted", "''@x", "'plain", "'", 'ghost'];

  it('names holding tabs, line breaks, backslashes and formulas round-trip one per row, none colliding', () => {
    const back = metadataNames(readMetadataTsv(writeMetadataTsv(hostile)));
    expect(back).toEqual(hostile);
    // read as a names file through format detection too (what `convert` writes beside .npy / .tsv)
    expect(readTensorFile(writeMetadataTsv(hostile), 'names.tsv').value).toEqual(hostile);
    const multi = readMetadataTsv(writeMetadataTsv({ columns: ['name', 'note\tx'], rows: hostile.map((h, i) => [h, hostile[hostile.length - 1 - i]]) }));
    expect(multi.columns).toEqual(['name', 'note\tx']);
    expect(multi.rows.map((r) => r[0])).toEqual(hostile);
    expect(multi.rows.map((r) => r[1])).toEqual([...hostile].reverse());
  });

  it('no written cell starts a spreadsheet formula or holds a raw tab or line break (OWASP)', () => {
    const text = new TextDecoder().decode(writeMetadataTsv(hostile));
    const lines = text.split('\n').slice(0, -1);
    expect(lines).toHaveLength(hostile.length);
    for (const l of lines) {
      expect(l).not.toMatch(/^[=+\-@\t\r]/);
      expect(l).not.toMatch(/[\t\r]/);
    }
    expect(metadataCell('=1+1')).toBe("'=1+1");
    expect(metadataCell('a\tb')).toBe('a\\tb');
    expect(metadataCell("'=x")).toBe("''=x");
    // a cell another tool wrote (no escapes, an apostrophe of its own) reads as it stands
    expect(readMetadataCell("'Tis")).toBe("'Tis");
    expect(readMetadataCell('C:\\path')).toBe('C:\\path');
  });

  it('property: any string survives metadataCell -> readMetadataCell (printed seed)', () => {
    const seed = 20261203;
    const alphabet = fc.constantFrom('\\', '\t', '\n', '\r', "'", '=', '+', '-', '@', 'a', 't', 'n', ' ', '\u0000', '😀');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 12 }).map((a) => a.join('')), (s) => {
        expect(readMetadataCell(metadataCell(s))).toBe(s);
        expect(metadataCell(s)).not.toMatch(/[\t\n\r]/);
      }),
      props({ numRuns: 500, seed }),
    );
  });
});
