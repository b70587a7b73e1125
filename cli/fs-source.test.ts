import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeF32, type RawTensor } from '../src/core/tensor';
import { readPt } from '../src/core/formats/pt';
import { pyGet } from '../src/core/formats/py';
import { hasRealData, LLAMA_L16, readShared, realDataReason } from '../src/core/formats/test-data';
import { loadPersonaSetFromPath, virtualFilesFromPath } from './fs-source';
import { DataError } from '../src/core/errors';

describe.skipIf(!hasRealData)(`loading the real llama-3.1-8b-L16 vectors/ folder (${realDataReason})`, () => {
  it('lists the folder as 276 files with relative paths', async () => {
    const files = await virtualFilesFromPath(path.join(LLAMA_L16, 'vectors'));
    expect(files).toHaveLength(276);
    expect(files.map((f) => f.path)).toContain('ghost.pt');
    expect(files.every((f) => !f.path.includes('/'))).toBe(true);
  });

  it('loads 275 roles + default, dim 4096, bfloat16, single layer', async () => {
    const progress: number[] = [];
    const set = await loadPersonaSetFromPath(path.join(LLAMA_L16, 'vectors'), { onProgress: (p) => progress.push(p.done) });
    expect(set.format).toBe('pt-folder');
    expect(set.names).toHaveLength(275);
    expect(set.names).not.toContain('default');
    expect(set.names).toContain('ghost');
    expect(set.layers).toBeNull();
    expect(set.dim).toBe(4096);
    expect(set.dtype).toBe('bfloat16');
    expect(set.defaultLabel).toBe('default');
    expect(progress).toHaveLength(276);
    expect(progress[275]).toBe(276);
    // The default equals default.pt, the same vector saved as a raw tensor.
    const raw = decodeF32(readPt(readShared('default.pt')) as RawTensor);
    expect(Array.from(set.defaultAt(0)!)).toEqual(Array.from(raw));
    // layer(0) row i equals member i's own file.
    const i = set.names.indexOf('ghost');
    const ghost = decodeF32(pyGet(readPt(readShared('vectors/ghost.pt')), 'vector') as RawTensor);
    expect(Array.from(set.layer(0).subarray(i * 4096, (i + 1) * 4096))).toEqual(Array.from(ghost));
    expect(Array.from(set.vector(i, 0))).toEqual(Array.from(ghost));
  });

  it('takes the default as the mean of named members when asked', async () => {
    const set = await loadPersonaSetFromPath(path.join(LLAMA_L16, 'vectors'), { defaultNames: ['ghost', 'pirate'] });
    // 275 roles minus the two named ones; the `default` file is superseded, not made a member.
    expect(set.names).toHaveLength(273);
    expect(set.names).not.toContain('ghost');
    expect(set.names).not.toContain('default');
    expect(set.defaultLabel).toBe('mean of ghost, pirate');
    const g = decodeF32(pyGet(readPt(readShared('vectors/ghost.pt')), 'vector') as RawTensor);
    const p = decodeF32(pyGet(readPt(readShared('vectors/pirate.pt')), 'vector') as RawTensor);
    const d = set.defaultAt(0)!;
    for (const j of [0, 1, 100, 4095]) expect(d[j]).toBeCloseTo((g[j] + p[j]) / 2, 6);
  });

  it('honours an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(loadPersonaSetFromPath(path.join(LLAMA_L16, 'vectors'), { signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' });
  });
});

describe('virtualFilesFromPath', () => {
  it('says when a path does not exist', async () => {
    await expect(virtualFilesFromPath('/nonexistent/persona')).rejects.toBeInstanceOf(DataError);
  });
});
