import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { tensorFromF32 } from '../tensor';
import { detectFormat, readTensorFile } from './detect';
import { writeNpy, writeNpz } from './npy';
import { pickleDump } from './pickle';
import { PyDict } from './py';
import { readPt, writePt } from './pt';
import { writeSafetensors } from './safetensors';
import { hasRealData, readShared, realDataReason } from './test-data';
import { checkByteFlips, checkTruncations } from './test-props';
import { writeMetadataTsv, writeVectorsTsv } from './tsv';
import { writeZip } from './zip';

const enc = new TextEncoder();
const t = tensorFromF32(new Float32Array([1, 2, 3, 4]), [2, 2]);

describe('detectFormat (by content, never by name)', () => {
  it('recognises every format', () => {
    expect(detectFormat(writePt({ a: t }))).toBe('pt');
    expect(detectFormat(writeNpz({ a: t }))).toBe('npz');
    expect(detectFormat(writeNpy(t))).toBe('npy');
    expect(detectFormat(writeSafetensors({ a: t }))).toBe('safetensors');
    expect(detectFormat(pickleDump(new PyDict([['a', 1]])))).toBe('pickle');
    expect(detectFormat(enc.encode(' [1, 2]'))).toBe('json');
    expect(detectFormat(enc.encode('{"a": [1]}'))).toBe('json');
    expect(detectFormat(writeVectorsTsv(t))).toBe('tsv');
    expect(detectFormat(writeMetadataTsv(['ghost', 'pirate']))).toBe('text');
  });

  it('ignores misleading file names', () => {
    const r = readTensorFile(writeNpy(t), 'vectors.safetensors');
    expect(r.format).toBe('npy');
  });

  it('says what it found and what it accepts for unknown content', () => {
    const f = () => detectFormat(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]), 'a.bin');
    expect(f).toThrow(FormatError);
    expect(f).toThrow(/"a\.bin".*7f 45 4c 46.*accepted: PyTorch \.pt, safetensors/);
    expect(() => detectFormat(new Uint8Array(0), 'x')).toThrow(/empty/);
    expect(() => detectFormat(writeZip([{ name: 'readme.txt', data: enc.encode('hi') }]), 'z.zip')).toThrow(/neither a PyTorch file/);
  });

  it('puts the file name in read errors', () => {
    const bad = writeNpy(t).slice(0, 100);
    expect(() => readTensorFile(bad, 'roles/ghost.npy')).toThrow(/"roles\/ghost\.npy"/);
  });

  it('reads projector metadata with a header as {columns, rows}', () => {
    const r = readTensorFile(writeMetadataTsv({ columns: ['name', 'kind'], rows: [['a', 'role']] }));
    expect(r.format).toBe('text');
    expect((r.value as PyDict).get('columns')).toEqual(['name', 'kind']);
  });
});

describe('corrupted and truncated files of every format give typed errors', () => {
  const samples: [string, Uint8Array][] = [
    ['pt', writePt({ vector: tensorFromF32(new Float32Array(8).fill(0.5), [8]), role: 'ghost', type: 'mean' })],
    ['npz', writeNpz({ a: t })],
    ['npy', writeNpy(t)],
    ['safetensors', writeSafetensors({ a: t }, { m: 'x' })],
    ['json', enc.encode(JSON.stringify({ names: ['a'], vectors: [[1, 2]] }))],
    ['tsv', writeVectorsTsv(t)],
  ];
  it.each(samples)('%s', (_name, bytes) => {
    checkByteFlips(bytes, (b) => readTensorFile(b, 'f'), 250);
    checkTruncations(bytes, (b) => readTensorFile(b, 'f'), 300);
  });

  it.skipIf(!hasRealData)(`a real torch.save file (vectors/ghost.pt): every flip or cut is caught or harmless (${realDataReason})`, () => {
    const bytes = readShared('vectors/ghost.pt');
    checkByteFlips(bytes, (b) => readPt(b), 300);
    const { refused, cuts } = checkTruncations(bytes, (b) => readPt(b), 300);
    expect(refused).toBe(cuts);
  });
});
