import fc from 'fast-check';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { checkByteFlips, checkTruncations, props } from './test-props';
import { crc32, openZip, writeZip } from './zip';

const enc = new TextEncoder();

describe('zip', () => {
  it('round-trips stored entries as views into the archive, aligned to 64 bytes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.record({ name: fc.string({ minLength: 1, maxLength: 12 }), data: fc.uint8Array({ maxLength: 300 }) }), { selector: (e) => e.name, maxLength: 6 }), (files) => {
        const z = writeZip(files);
        const a = openZip(z);
        expect(a.entries.size).toBe(files.length);
        for (const f of files) {
          const got = a.read(f.name);
          expect(got).toEqual(f.data);
          expect(got.buffer).toBe(z.buffer);
          expect(a.entries.get(f.name)!.dataOffset % 64).toBe(0);
        }
      }),
      props({ numRuns: 100 }),
    );
  });

  it('reads deflated entries (as written by other zip tools)', () => {
    const data = enc.encode('hello '.repeat(1000));
    const z = zipSync({ 'a.txt': data, 'b/c.bin': new Uint8Array([1, 2, 3]) }, { level: 6 });
    const a = openZip(z);
    expect(a.entries.get('a.txt')!.method).toBe(8);
    expect(a.read('a.txt')).toEqual(data);
    expect(a.read('b/c.bin')).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('refuses a zip bomb by declared size before inflating anything', () => {
    const z = zipSync({ 'x.npy': new Uint8Array(1000) }, { level: 9 });
    // Patch the central directory's uncompressed size to 3 GiB.
    const dv = new DataView(z.buffer);
    let cd = -1;
    for (let i = z.length - 4; i >= 0; i--) if (dv.getUint32(i, true) === 0x02014b50) { cd = i; break; }
    dv.setUint32(cd + 24, 3 * 2 ** 30, true);
    expect(() => openZip(z)).toThrow(/zip bomb|over the limit/);
    expect(() => openZip(z, { maxTotalBytes: 2 ** 20 })).toThrow(FormatError);
  });

  it('refuses an entry that expands beyond what it declares (actual size check)', () => {
    const z = zipSync({ 'x.bin': new Uint8Array(100_000) }, { level: 9 });
    const dv = new DataView(z.buffer);
    let cd = -1;
    for (let i = z.length - 4; i >= 0; i--) if (dv.getUint32(i, true) === 0x02014b50) { cd = i; break; }
    dv.setUint32(cd + 24, 1000, true);
    expect(() => openZip(z).read('x.bin')).toThrow(/expands beyond its declared size/);
  });

  it('refuses a high compression ratio on a large entry', () => {
    const z = zipSync({ 'x.bin': new Uint8Array(100_000) }, { level: 1 });
    expect(openZip(z).read('x.bin').length).toBe(100_000); // small entries may compress well
    const dv = new DataView(z.buffer);
    let cd = -1;
    for (let i = z.length - 4; i >= 0; i--) if (dv.getUint32(i, true) === 0x02014b50) { cd = i; break; }
    dv.setUint32(cd + 24, 40 * 2 ** 20, true);
    expect(() => openZip(z)).toThrow(/expand .* times/);
  });

  it('refuses too many entries', () => {
    const files = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: new Uint8Array(1) }));
    expect(() => openZip(writeZip(files), { maxEntries: 10 })).toThrow(/20 entries/);
  });

  it('says "truncated" for a cut archive and "not a ZIP" for other bytes', () => {
    const z = writeZip([{ name: 'a', data: new Uint8Array(100) }]);
    expect(() => openZip(z.slice(0, 80))).toThrow(/truncated/);
    expect(() => openZip(enc.encode('just text'))).toThrow(/not a ZIP/);
  });

  it('gives only typed errors for flipped bytes and every truncation', () => {
    const stored = writeZip([{ name: 'x/data.pkl', data: enc.encode('pickle bytes') }, { name: 'x/data/0', data: new Uint8Array(64).fill(7) }]);
    const deflated = zipSync({ 'a.npy': enc.encode('abc'.repeat(200)) });
    for (const z of [stored, deflated]) {
      const readAll = (b: Uint8Array) => {
        const a = openZip(b);
        for (const k of a.entries.keys()) a.read(k);
      };
      checkByteFlips(z, readAll, 300);
      const { refused, cuts } = checkTruncations(z, readAll);
      expect(refused).toBe(cuts);
    }
  });
});

describe('archive-wide bombs', () => {
  it('refuses many small entries that together expand far past the file size, before inflating', async () => {
    const { zipSync: z } = await import('fflate');
    // 12 entries of 8 MiB of zeros each (under the 16 MiB per-entry check), ~100 kB compressed in all.
    const zero = new Uint8Array(8 * 2 ** 20);
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 12; i++) files[`a${i}.npy`] = zero;
    const bomb = z(files, { level: 9 });
    expect(bomb.length).toBeLessThan(200_000);
    const f = () => openZip(bomb);
    expect(f).toThrow(FormatError);
    expect(f).toThrow(/declares \d+ bytes of content \(\d+ times its size\), a likely zip bomb/);
  });
  it('checks .npz entry checksums: a flipped bit in an array is refused', async () => {
    const { readNpz, writeNpz } = await import('./npy');
    const { tensorFromF32 } = await import('../tensor');
    const npz = writeNpz(new Map([['a', tensorFromF32(Float32Array.of(1, 2, 3, 4), [4])]]));
    const bad = npz.slice();
    const at = npz.length - 22 - 46 - 5 - 10; // inside the stored array data, before the central directory
    bad[at] ^= 0x01;
    expect(() => readNpz(bad)).toThrow(/damaged \(checksum mismatch\)/);
    expect(readNpz(npz).get('a')!.shape).toEqual([4]);
  });
});
