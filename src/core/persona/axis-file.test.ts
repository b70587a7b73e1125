import { describe, expect, it } from 'vitest';
import { PersonaSpaceError } from '../errors';
import { writeNpy, writeNpz } from '../formats/npy';
import { writePt } from '../formats/pt';
import { writeSafetensors } from '../formats/safetensors';
import { decodeF32, f32ToBf16Bits, f32ToF16Array, tensorFromF32, type RawTensor } from '../tensor';
import { AXIS_LIMITS, AxisOnlyError, axisLayer, axisToF32, axisTensorOf, describeAxisFile, readAxisFile } from './axis-file';
import { loadPersonaSet } from './load';
import type { VirtualFile } from './types';

const vf = (path: string, bytes: Uint8Array): VirtualFile => ({ path, size: bytes.length, read: async () => bytes });
const values = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
function bf16(shape: number[], f: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = Uint16Array.from({ length: n }, (_, i) => f32ToBf16Bits(f(i)));
  return { dtype: 'bfloat16', shape, data: new Uint8Array(u.buffer) };
}
function f16(shape: number[], f: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float16', shape, data: new Uint8Array(f32ToF16Array(values(n, f)).buffer) };
}
const L = 6, D = 8;
const elem = (i: number) => ((i * 7) % 13) / 4 - 1.5; // exact in bf16 and f16

describe('readAxisFile', () => {
  it('reads a raw (n_layers, d) bf16 .pt as the release writes assistant_axis.pt, values kept in bf16', () => {
    const a = readAxisFile('assistant_axis.pt', writePt(bf16([L, D], elem)));
    expect(a).toMatchObject({ format: 'pt', layers: L, dim: D, dtype: 'bfloat16', key: '' });
    expect(a.tensor.dtype).toBe('bfloat16');
    expect(Array.from(axisLayer(a, 3))).toEqual(Array.from(values(D, (j) => elem(3 * D + j))));
    expect(Array.from(axisToF32(a))).toEqual(Array.from(values(L * D, elem)));
    expect(describeAxisFile(a)).toBe('axis (pt): 6 layers, 8 dims, bfloat16');
  });

  it('reads {"axis": tensor, "metadata": {...}}, a (d,) .npy, an f16 safetensors with one tensor, an npz arr_0', () => {
    const withMeta = readAxisFile('axis.pt', writePt({ axis: bf16([L, D], elem), metadata: { model: 'x' } }));
    expect(withMeta).toMatchObject({ layers: L, dim: D, key: 'axis' });
    expect(withMeta.metadata).not.toBeNull();
    const one = readAxisFile('contrast.npy', writeNpy(tensorFromF32(values(D, elem), [D])));
    expect(one).toMatchObject({ format: 'npy', layers: null, dim: D, dtype: 'float32' });
    // A (d,) axis is the same direction at every layer.
    expect(Array.from(axisLayer(one, 5))).toEqual(Array.from(values(D, elem)));
    expect(axisToF32(one, 3).length).toBe(3 * D);
    const st = readAxisFile('dir.safetensors', writeSafetensors({ direction: f16([L, D], elem) }));
    expect(st).toMatchObject({ format: 'safetensors', layers: L, dim: D, dtype: 'float16', key: 'direction' });
    expect(Array.from(axisLayer(st, 1))).toEqual(Array.from(values(D, (j) => elem(D + j))));
    const z = readAxisFile('a.npz', writeNpz({ arr_0: tensorFromF32(values(L * D, elem), [L, D]) }));
    expect(z).toMatchObject({ format: 'npz', layers: L, key: 'arr_0' });
  });

  it('takes the tensor of the preferred shape when a file holds several', () => {
    const bytes = writePt({ a: bf16([3, D], elem), b: bf16([L, D], elem) });
    expect(() => readAxisFile('two.pt', bytes)).toThrow(/holds 2 tensors .*an axis file holds one/);
    expect(readAxisFile('two.pt', bytes, { prefer: { layers: L, dim: D } })).toMatchObject({ layers: L, key: 'b' });
  });

  it('refuses what is not an axis, each in one sentence', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty.pt', writePt({ note: 'hi' }), /holds no tensor/],
      ['cube.npy', writeNpy(tensorFromF32(values(2 * 3 * 4, elem), [2, 3, 4])), /shape \[2, 3, 4\]; an axis is \(n_layers, d\) or \(d,\)/],
      ['ints.safetensors', writeSafetensors({ x: { dtype: 'int32', shape: [4], data: new Uint8Array(16) } }), /int32 values; an axis holds floats/],
      ['set.npy', writeNpy(tensorFromF32(values((AXIS_LIMITS.maxLayers + 1) * 2, elem), [AXIS_LIMITS.maxLayers + 1, 2])), /257 rows of 2, more than any model has layers .*open it as personas/],
      ['nan.npy', writeNpy(tensorFromF32(values(2 * D, (i) => (i === D + 3 ? NaN : 1)), [2, D])), /non-finite value \(NaN\) at layer 1, index 3/],
    ];
    for (const [name, bytes, re] of cases) {
      let err: unknown;
      try { readAxisFile(name, bytes); } catch (e) { err = e; }
      expect(err, name).toBeInstanceOf(PersonaSpaceError);
      expect((err as Error).message, name).toMatch(re);
      expect((err as Error).message.split('. ').length, name).toBe(1);
    }
    expect(() => readAxisFile('big.pt', { length: AXIS_LIMITS.maxBytes + 1 } as Uint8Array)).toThrow(/far more than an axis/);
  });
});

describe('axisTensorOf (what the personas loader treats as an axis)', () => {
  it('is a lone axis-shaped tensor, not a role file or a set', () => {
    expect(axisTensorOf(bf16([L, D], elem))).not.toBeNull();
    expect(axisTensorOf(bf16([L, 2, D], elem))).toBeNull();
  });
});

describe('the personas loader and axis files', () => {
  it('refuses an (80, d) axis as personas with an axis-only error that never asks for names', async () => {
    for (const [name, bytes] of [
      ['assistant_axis.pt', writePt(bf16([80, D], elem))],
      ['contrast.npy', writeNpy(tensorFromF32(values(D, elem), [D]))],
      ['axis.pt', writePt({ axis: bf16([80, D], elem), metadata: { m: 1 } })],
      ['one.safetensors', writeSafetensors({ ghost: bf16([80, D], elem) })],
    ] as const) {
      let err: unknown;
      try { await loadPersonaSet([vf(name, bytes)]); } catch (e) { err = e; }
      expect(err, name).toBeInstanceOf(AxisOnlyError);
      const e = err as AxisOnlyError;
      expect(e.code).toBe('axis-only');
      expect(e.message).toMatch(/is an axis file \((80 layers x 8|one direction of d = 8 for every layer)\), not a set of personas: load it as an axis\.$/);
      expect(e.message).not.toMatch(/name/i);
    }
  });

  it('a folder of default_vector.pt and assistant_axis.pt only: the axis file is named, not taken for 80 roles', async () => {
    const files = [vf('m/default_vector.pt', writePt(bf16([80, D], elem))), vf('m/assistant_axis.pt', writePt(bf16([80, D], elem)))];
    await expect(loadPersonaSet(files)).rejects.toThrow(/^"assistant_axis\.pt" is an axis file \(80 layers x 8\), not a set of personas: load it as an axis\.$/);
  });

  it('still loads the same array as personas when names come with it, and asks for names past a model\'s depth', async () => {
    const arr = writeNpy(tensorFromF32(values(3 * D, elem), [3, D]));
    const s = await loadPersonaSet([vf('x.npy', arr)], { names: ['a', 'b', 'c'] });
    expect(s.names).toEqual(['a', 'b', 'c']);
    expect(Array.from(s.vector(2, 0))).toEqual(Array.from(decodeF32(tensorFromF32(values(3 * D, elem), [3, D]), 2 * D, D)));
    const many = writeNpy(tensorFromF32(values(300 * 2, elem), [300, 2]));
    await expect(loadPersonaSet([vf('set.npy', many)])).rejects.toThrow(/give its row names/);
  });

  it('a reference-pipeline role file alone is still one member', async () => {
    const s = await loadPersonaSet([vf('pirate.pt', writePt({ vector: bf16([D], elem), type: 'mean', role: 'pirate' }))]);
    expect(s.names).toEqual(['pirate']);
  });
});
