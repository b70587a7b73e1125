/**
 * Names are data: members called __proto__, constructor and toString survive convert (every
 * output format), pca, and safetensors metadata; convert's .npy / .tsv outputs read back without
 * --names (the names file written beside them is found).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from './main';
import { readSafetensors, writeSafetensors } from '../src/core/formats/safetensors';
import { tensorFromF32 } from '../src/core/tensor';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ps-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cliJson(...argv: string[]): Promise<any> {
  let out = '';
  let err = '';
  const io: CliIO = { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') };
  const code = await main([...argv, '--json'], io);
  expect(err).toBe('');
  expect(code).toBe(0);
  return JSON.parse(out);
}

const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ghost'];
const src = path.join(dir, 'hostile.safetensors');
const tensors = new Map(NAMES.map((n, i) => [n, tensorFromF32(Float32Array.of(i, (i * 7) % 5, 1 - i, i * i), [4])] as const));
tensors.set('default', tensorFromF32(Float32Array.of(9, 9, 9, 9), [4]));
writeFileSync(src, writeSafetensors(tensors, { ['__proto__']: 'meta kept', constructor: 'also' }));

describe('members named like Object.prototype properties', () => {
  it('safetensors metadata keeps __proto__ and constructor keys', () => {
    const st = readSafetensors(new Uint8Array(readFileSync(src)));
    expect(Object.keys(st.metadata!)).toEqual(['__proto__', 'constructor']);
    expect(st.metadata!['__proto__']).toBe('meta kept');
    expect([...st.tensors.keys()]).toEqual([...NAMES, 'default']);
  });

  it('inspect and pca list every member', async () => {
    const info = await cliJson('inspect', src);
    expect(info.names).toEqual(NAMES);
    expect(info.default).toBe('default');
    const p = await cliJson('pca', src, '--components', '2');
    expect(Object.keys(p.coords)).toEqual(NAMES);
    expect(p.coords.__proto__).toHaveLength(2);
  });

  for (const ext of ['.safetensors', '.pt', '.npy', '.tsv']) {
    it(`convert to ${ext} keeps them all and reads back without --names`, async () => {
      const out = path.join(dir, `out${ext}`);
      await cliJson('convert', src, '--out', out);
      const back = await cliJson('inspect', out);
      expect(back.names).toEqual(NAMES);
      expect(back.default).toBe('default');
      expect(back.count).toBe(NAMES.length);
    });
  }
});
