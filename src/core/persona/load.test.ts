import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataError, PersonaSpaceError, UnsafePickleError } from '../errors';
import { writeJsonVectors } from '../formats/json';
import { writeNpy, writeNpz } from '../formats/npy';
import { PyDict } from '../formats/py';
import { writePt } from '../formats/pt';
import { writeSafetensors } from '../formats/safetensors';
import { writeMetadataTsv, writeVectorsTsv } from '../formats/tsv';
import { decodeF32, f32ToBf16Bits, tensorFromF32, type RawTensor } from '../tensor';
import { loadPersonaSet, readNamesFile } from './load';
import { createPersonaSet, defaultTensor, stackMembers } from './persona-set';
import type { VirtualFile } from './types';
import { props } from '../formats/test-props';

const vf = (path: string, bytes: Uint8Array): VirtualFile => ({ path, size: bytes.length, read: async () => bytes });
const enc = new TextEncoder();

/** bf16 (L, d) tensor whose element [l, j] is seed + l + j/100 (exact in bf16 for small values? close enough: compared after rounding). */
function bf16(shape: number[], f: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = new Uint16Array(n);
  for (let i = 0; i < n; i++) u[i] = f32ToBf16Bits(f(i));
  return { dtype: 'bfloat16', shape, data: new Uint8Array(u.buffer) };
}
const f32 = (shape: number[], f: (i: number) => number) => tensorFromF32(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)), shape);

describe('official release layout', () => {
  const L = 4, d = 8;
  const member = (k: number) => bf16([L, d], (i) => k + i / 8);
  const files = [
    vf('qwen-3-32b/role_vectors/pirate.pt', writePt(member(2))),
    vf('qwen-3-32b/role_vectors/ghost.pt', writePt(member(1))),
    vf('qwen-3-32b/trait_vectors/calm.pt', writePt(member(3))),
    vf('qwen-3-32b/trait_vectors/ghost.pt', writePt(member(4))),
    vf('qwen-3-32b/default_vector.pt', writePt(member(10))),
    vf('qwen-3-32b/assistant_axis.pt', writePt({ axis: member(-1), metadata: { note: 'x' } })),
    vf('qwen-3-32b/capping_config.pt', writePt({ vectors: { v0: { vector: bf16([d], () => 1), layer: 2 } }, experiments: [{ id: 'layers_1:2-p0.25', interventions: [{ vector: 'v0', cap: 0.5 }] }] })),
    vf('qwen-3-32b/.cache/junk.pt', new Uint8Array([1, 2, 3])),
    vf('qwen-3-32b/logo.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0])),
  ];

  it('loads roles then traits, the default, the stored axis and the capping config', async () => {
    const s = await loadPersonaSet(files);
    expect(s.format).toBe('release');
    // A trait named like a role is told apart (the real release has nine such pairs).
    expect(s.names).toEqual(['ghost', 'pirate', 'calm', 'ghost (trait)']);
    expect(s.kinds).toEqual(['role', 'role', 'trait', 'trait']);
    expect(s.layers).toBe(L);
    expect(s.dim).toBe(d);
    expect(s.dtype).toBe('bfloat16');
    expect(s.defaultLabel).toBe('default_vector.pt');
    expect(s.storedAxis?.shape).toEqual([L, d]);
    const cap = s.extras.capping_config as PyDict;
    expect(cap).toBeInstanceOf(PyDict);
    expect((cap.get('experiments') as PyDict[])[0].get('id')).toBe('layers_1:2-p0.25');
    // layer 2 decodes only that layer: rows are each member's [2, :]
    const x = s.layer(2);
    expect(x.length).toBe(4 * d);
    expect(Array.from(x.subarray(0, d))).toEqual(Array.from(decodeF32(member(1), 2 * d, d)));
    expect(Array.from(x.subarray(2 * d, 3 * d))).toEqual(Array.from(decodeF32(member(3), 2 * d, d)));
    expect(Array.from(s.defaultAt(3)!)).toEqual(Array.from(decodeF32(member(10), 3 * d, d)));
    expect(() => s.layer(L)).toThrow(DataError);
    // Reusing an output buffer gives the same values.
    const buf = new Float32Array(4 * d);
    expect(s.layer(2, buf)).toBe(buf);
    expect(Array.from(buf)).toEqual(Array.from(x));
    expect(() => s.layer(2, new Float32Array(5))).toThrow(/4 x 8 are needed/);
    // For writing: all members in bf16, member-major, and the default as stored.
    const all = stackMembers(s);
    expect(all.dtype).toBe('bfloat16');
    expect(all.shape).toEqual([4, L, d]);
    expect(Array.from(decodeF32(all, (2 * L + 1) * d, d))).toEqual(Array.from(decodeF32(member(3), d, d)));
    expect(defaultTensor(s)?.data).toEqual(member(10).data);
    expect(s.byteSize).toBe(5 * L * d * 2);
    expect(s.extras.skipped).toEqual([{ path: 'logo.png', reason: expect.stringContaining('not a format this tool reads') }]);
  });

  it('reports progress per file and honours abort', async () => {
    const seen: string[] = [];
    await loadPersonaSet(files, { onProgress: (p) => seen.push(`${p.done}/${p.total}`) });
    expect(seen).toEqual(['1/8', '2/8', '3/8', '4/8', '5/8', '6/8', '7/8', '8/8']);
    const ac = new AbortController();
    const p = loadPersonaSet(files, { signal: ac.signal, onProgress: (q) => q.done === 2 && ac.abort() });
    await expect(p).rejects.toMatchObject({ code: 'aborted' });
  });
});

describe('folders of per-member files', () => {
  it('reads raw tensors, dicts {vector, role, type} and per-layer dicts, names from file names', async () => {
    const s = await loadPersonaSet([
      vf('vecs/a.npy', writeNpy(f32([2, 3], (i) => i))),
      vf('vecs/b.pt', writePt({ vector: f32([2, 3], (i) => 10 + i), role: 'b', type: 'mean' })),
      vf('vecs/c.pt', writePt(new PyDict([[0, f32([3], (i) => 20 + i)], [1, f32([3], (i) => 23 + i)]]))),
      vf('vecs/default.safetensors', writeSafetensors({ vector: f32([2, 3], () => 7) })),
    ]);
    expect(s.format).toBe('folder');
    expect(s.names).toEqual(['a', 'b', 'c']);
    expect(s.defaultLabel).toBe('default');
    expect(Array.from(s.layer(1))).toEqual([3, 4, 5, 13, 14, 15, 23, 24, 25]);
    expect(Array.from(s.defaultAt(0)!)).toEqual([7, 7, 7]);
  });

  it('reads activations/<role>.pt dicts (key -> per-response vector) as one member per response', async () => {
    const s = await loadPersonaSet([
      vf('activations/ghost.pt', writePt({ pos_p0_q1: f32([2, 3], () => 1), pos_p0_q2: f32([2, 3], () => 2) })),
      vf('activations/pirate.pt', writePt({ pos_p0_q1: f32([2, 3], () => 3) })),
    ]);
    expect(s.format).toBe('pt-folder-entries');
    expect(s.names).toEqual(['ghost/pos_p0_q1', 'ghost/pos_p0_q2', 'pirate/pos_p0_q1']);
    expect(s.layers).toBe(2);
    expect(Array.from(s.layer(1))).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3]);
  });

  it('names the member whose shape differs', async () => {
    const p = loadPersonaSet([
      vf('a.pt', writePt(f32([4], () => 1))),
      vf('b.pt', writePt(f32([4], () => 1))),
      vf('odd.pt', writePt(f32([5], () => 1))),
    ]);
    await expect(p).rejects.toBeInstanceOf(DataError);
    await expect(p).rejects.toThrow(/"odd" has shape \[5\]/);
  });

  it('makes the mean of --default members the default and removes them', async () => {
    const s = await loadPersonaSet(['a', 'b', 'c'].map((n, k) => vf(`${n}.pt`, writePt(f32([2], () => k)))), { defaultNames: ['a', 'c'] });
    expect(s.names).toEqual(['b']);
    expect(s.defaultLabel).toBe('mean of a, c');
    expect(Array.from(s.defaultAt(0)!)).toEqual([1, 1]);
    await expect(loadPersonaSet([vf('a.pt', writePt(f32([2], () => 0)))], { defaultNames: ['zzz'] })).rejects.toThrow(/"zzz" is not a member/);
  });

  it('names the file and the global when a member file is hostile', async () => {
    const evil = new Uint8Array([0x80, 2, 0x63, ...new TextEncoder().encode('posix\nsystem\n'), 0x29, 0x52, 0x2e]);
    const { writeZip } = await import('../formats/zip');
    const pt = writeZip([{ name: 'evil/data.pkl', data: evil }]);
    const p = loadPersonaSet([vf('a.pt', writePt(f32([2], () => 0))), vf('evil.pt', pt)]);
    await expect(p).rejects.toBeInstanceOf(UnsafePickleError);
    await expect(p).rejects.toThrow(/"evil\.pt".*"posix\.system"/);
  });

  it('refuses a file that holds no vector', async () => {
    await expect(loadPersonaSet([vf('a.pt', writePt({ note: 'hi' })), vf('b.pt', writePt(f32([2], () => 0)))])).rejects.toThrow(/"a\.pt" does not hold a vector/);
  });
});

describe('single-file sources', () => {
  it('a dict name -> tensor in one .pt, with `default` as the default and other entries as extras', async () => {
    const s = await loadPersonaSet([vf('all.pt', writePt({ ghost: f32([3], () => 1), pirate: f32([3], () => 2), default: f32([3], () => 5), note: 'x' }))]);
    expect(s.format).toBe('dict-file');
    expect(s.names).toEqual(['ghost', 'pirate']);
    expect(s.extras.note).toBe('x');
    expect(Array.from(s.defaultAt(0)!)).toEqual([5, 5, 5]);
  });

  it('a dict with a single (L, d) entry and no names is an axis file, not personas (axis-file.test.ts)', async () => {
    await expect(loadPersonaSet([vf('one.safetensors', writeSafetensors({ ghost: bf16([3, 4], () => 1) }))])).rejects.toThrow(/is an axis file \(3 layers x 4\).*load it as an axis/);
  });

  it('safetensors with one tensor per name', async () => {
    const s = await loadPersonaSet([vf('v.safetensors', writeSafetensors({ ghost: bf16([2, 4], () => 1), pirate: bf16([2, 4], () => 2) }))]);
    expect(s.format).toBe('safetensors');
    expect(s.names).toEqual(['ghost', 'pirate']);
    expect(s.layers).toBe(2);
    expect(s.dtype).toBe('bfloat16');
  });

  it('an (N, d) .npy plus a names JSON list', async () => {
    const s = await loadPersonaSet([vf('x.npy', writeNpy(f32([3, 2], (i) => i))), vf('names.json', enc.encode('["a", "b", "c"]'))]);
    expect(s.format).toBe('array+names');
    expect(s.names).toEqual(['a', 'b', 'c']);
    expect(s.layers).toBeNull();
    expect(Array.from(s.vector(2, 0))).toEqual([4, 5]);
  });

  it('a row called `default` of an array is the default', async () => {
    const s = await loadPersonaSet([vf('x.npy', writeNpy(f32([3, 2], (i) => i))), vf('names.json', enc.encode('["a", "default", "c"]'))]);
    expect(s.names).toEqual(['a', 'c']);
    expect(s.defaultLabel).toBe('default');
    expect(Array.from(s.defaultAt(0)!)).toEqual([2, 3]);
    expect(Array.from(s.layer(0))).toEqual([0, 1, 4, 5]);
  });

  it('an (N, L, d) array plus a names text file, decoded one layer at a time', async () => {
    const N = 3, L = 5, d = 4;
    const t = bf16([N, L, d], (i) => i);
    const s = await loadPersonaSet([vf('acts.safetensors', writeSafetensors({ acts: t })), vf('names.txt', enc.encode('r0\nr1\nr2\n'))]);
    expect(s.layers).toBe(L);
    expect(s.byteSize).toBe(N * L * d * 2);
    const all = stackMembers(s);
    expect(all.shape).toEqual([N, L, d]);
    expect(all.data).toEqual(t.data);
    const x = s.layer(3);
    for (let i = 0; i < N; i++) expect(Array.from(x.subarray(i * d, (i + 1) * d))).toEqual(Array.from(decodeF32(t, i * L * d + 3 * d, d)));
  });

  it('takes names from options and asks for names when there are none', async () => {
    const arr = writeNpz({ x: f32([2, 3], () => 0) });
    const s = await loadPersonaSet([vf('a.npz', arr)], { names: ['p', 'q'] });
    expect(s.names).toEqual(['p', 'q']);
    // Without names, 2 rows are the layers of an axis (axis-file.test.ts); past a model's depth, rows need names.
    await expect(loadPersonaSet([vf('a.npz', arr)])).rejects.toThrow(/is an axis file \(2 layers x 3\)/);
    await expect(loadPersonaSet([vf('b.npz', writeNpz({ x: f32([300, 3], () => 0) }))])).rejects.toThrow(/give its row names/);
    await expect(loadPersonaSet([vf('a.npz', arr)], { names: ['p'] })).rejects.toThrow(/1 names for 2 rows/);
  });

  it('projector vectors TSV + metadata TSV', async () => {
    const s = await loadPersonaSet([
      vf('vectors.tsv', writeVectorsTsv(f32([2, 3], (i) => i / 2))),
      vf('metadata.tsv', writeMetadataTsv({ columns: ['kind', 'name'], rows: [['role', 'ghost'], ['role', 'pirate']] })),
    ]);
    expect(s.format).toBe('tsv');
    expect(s.names).toEqual(['ghost', 'pirate']);
    expect(Array.from(s.vector(1, 0))).toEqual([1.5, 2, 2.5]);
  });

  it('reads names files on their own (for --names)', () => {
    expect(readNamesFile(enc.encode('["a", "b"]'))).toEqual(['a', 'b']);
    expect(readNamesFile(enc.encode('a\nb\r\nc\n'))).toEqual(['a', 'b', 'c']);
    expect(readNamesFile(writeMetadataTsv({ columns: ['id', 'role'], rows: [['1', 'x'], ['2', 'y']] }))).toEqual(['x', 'y']);
    expect(() => readNamesFile(enc.encode('{"a": 1}'), 'n.json')).toThrow(/"n\.json" is not a list of names/);
  });

  it('JSON {names, vectors}', async () => {
    const s = await loadPersonaSet([vf('set.json', writeJsonVectors(['a', 'b'], f32([2, 2], (i) => i)))]);
    expect(s.names).toEqual(['a', 'b']);
    expect(Array.from(s.layer(0))).toEqual([0, 1, 2, 3]);
  });

  it('rejects an empty source and bad files with PersonaSpaceErrors', async () => {
    await expect(loadPersonaSet([])).rejects.toBeInstanceOf(DataError);
    await expect(loadPersonaSet([vf('x.pt', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))])).rejects.toBeInstanceOf(PersonaSpaceError);
  });
});

describe('loading damaged folders', () => {
  it('a flipped or cut member file gives a PersonaSpaceError or a valid set, nothing else', async () => {
    const good = ['a', 'b', 'c'].map((n, k) => writePt({ vector: bf16([2, 4], (i) => k + i), role: n, type: 'mean' }));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (which, pos, x, cut) => {
        const files = good.map((b, k) => {
          if (k !== which) return vf(`${'abc'[k]}.pt`, b);
          const bad = cut ? b.slice(0, pos % b.length) : b.slice();
          if (!cut) bad[pos % b.length] ^= x;
          return vf(`${'abc'[k]}.pt`, bad);
        });
        try {
          const s = await loadPersonaSet(files);
          expect(s.names.length).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(PersonaSpaceError);
        }
      }),
      props({ numRuns: 150 }),
    );
  });
});

describe('createPersonaSet', () => {
  it('holds 20,000 points in one block and decodes them by layer', () => {
    const N = 20_000, d = 16;
    const x = Float32Array.from({ length: N * d }, (_, i) => i % 97);
    const s = createPersonaSet({ names: Array.from({ length: N }, (_, i) => `p${i}`), vectors: x, dim: d });
    expect(s.names.length).toBe(N);
    expect(s.byteSize).toBe(N * d * 4);
    const got = s.layer(0);
    let same = got.length === x.length;
    for (let i = 0; same && i < x.length; i++) same = got[i] === x[i];
    expect(same).toBe(true);
    expect(s.defaultAt(0)).toBeNull();
  });

  it('accepts per-member tensors, a default and default names', () => {
    const s = createPersonaSet({ names: ['a', 'b', 'c'], vectors: [f32([2], () => 1), f32([2], () => 2), f32([2], () => 4)], defaultNames: ['b', 'c'] });
    expect(s.names).toEqual(['a']);
    expect(Array.from(s.defaultAt(0)!)).toEqual([3, 3]);
    expect(() => createPersonaSet({ names: ['a', 'b'], vectors: [f32([2], () => 1), f32([3], () => 2)] })).toThrow(/"b" has shape \[3\]/);
  });
});
