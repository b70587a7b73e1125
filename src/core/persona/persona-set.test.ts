import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPE_BYTES, decodeF32, type DType, type RawTensor } from '../tensor';
import { createPersonaSet, stackMembers } from './persona-set';
import { props } from '../formats/test-props';

const DTYPES: DType[] = ['bfloat16', 'float16', 'float32', 'float64', 'int32', 'int8', 'uint8'];

/** Random raw bytes for a dtype (floats limited to finite patterns by masking the exponent's top bit). */
function rawBytes(dtype: DType, n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n * DTYPE_BYTES[dtype]);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < b.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = s & 0xff;
  }
  const bpe = DTYPE_BYTES[dtype];
  if (dtype === 'bfloat16' || dtype === 'float16' || dtype === 'float32' || dtype === 'float64') {
    for (let i = bpe - 1; i < b.length; i += bpe) b[i] &= 0x3f; // keep exponents small: no NaN/Inf
  }
  return b;
}

describe('PersonaSet decoding', () => {
  it('layer(l), vector(i, l) and stackMembers agree with a direct decode for every dtype, aligned or not', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DTYPES),
        fc.integer({ min: 1, max: 5 }),
        fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer(),
        (dtype, N, L, d, misalign, seed) => {
          const per = (L ?? 1) * d;
          const bpe = DTYPE_BYTES[dtype];
          // Members as views at an odd byte offset inside a bigger buffer (as in a zip), when misaligned.
          const members: RawTensor[] = Array.from({ length: N }, (_, i) => {
            const raw = rawBytes(dtype, per, seed + i);
            const host = new Uint8Array(raw.length + misalign);
            host.set(raw, misalign);
            return { dtype, shape: L === null ? [d] : [L, d], data: host.subarray(misalign) };
          });
          const s = createPersonaSet({ names: members.map((_, i) => `m${i}`), vectors: members });
          expect(s.dtype).toBe(dtype);
          const all = stackMembers(s);
          expect(all.data.length).toBe(N * per * bpe);
          for (let l = 0; l < (L ?? 1); l++) {
            const x = s.layer(l);
            for (let i = 0; i < N; i++) {
              const want = Array.from(decodeF32(members[i], l * d, d));
              expect(Array.from(x.subarray(i * d, (i + 1) * d))).toEqual(want);
              expect(Array.from(s.vector(i, l))).toEqual(want);
              expect(Array.from(decodeF32(all, (i * (L ?? 1) + l) * d, d))).toEqual(want);
            }
          }
        },
      ),
      props({ numRuns: 200 }),
    );
  });
});

describe('defaults named "default"', () => {
  it('--default may name a member literally called default, with others', async () => {
    const { loadPersonaSet } = await import('./load');
    const { writeSafetensors } = await import('../formats/safetensors');
    const { tensorFromF32 } = await import('../tensor');
    const t = (v: number[]) => tensorFromF32(Float32Array.from(v), [v.length]);
    const bytes = writeSafetensors({ default: t([1, 0]), default_2: t([3, 0]), a: t([0, 1]), b: t([0, 3]) });
    const file = { path: 'x.safetensors', read: async () => bytes };
    const s = await loadPersonaSet([file], { defaultNames: ['default', 'default_2'] });
    expect([...s.names]).toEqual(['a', 'b']);
    expect(s.defaultLabel).toBe('mean of default, default_2');
    expect(Array.from(s.defaultAt(0)!)).toEqual([2, 0]);
    // Without --default the member called default is the default, as before.
    const plain = await loadPersonaSet([file]);
    expect(plain.defaultLabel).toBe('default');
    expect([...plain.names]).toEqual(['default_2', 'a', 'b']);
  });
  it('defaultCandidates lists every default* member', async () => {
    const { defaultCandidates } = await import('./persona-set');
    expect(defaultCandidates(['a', 'default', 'default_1', 'Default-2', 'defaulter', 'b'])).toEqual(['default', 'default_1', 'Default-2']);
  });
});
