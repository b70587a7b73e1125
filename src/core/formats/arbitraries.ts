/** Test-only fast-check arbitraries for tensors and Python values. */
import fc from 'fast-check';
import { DTYPE_BYTES, numel, type DType, type RawTensor } from '../tensor';
import { PyDict, type PyValue } from './py';

export const ALL_DTYPES: DType[] = ['bfloat16', 'float16', 'float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

export function arbTensor(dtypes: DType[] = ALL_DTYPES, maxRank = 3, maxDim = 4): fc.Arbitrary<RawTensor> {
  return fc
    .record({ dtype: fc.constantFrom(...dtypes), shape: fc.array(fc.integer({ min: 0, max: maxDim }), { maxLength: maxRank }) })
    .chain(({ dtype, shape }) => {
      const n = numel(shape) * DTYPE_BYTES[dtype];
      const bytes = dtype === 'bool' ? fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n }).map((a) => new Uint8Array(a)) : fc.uint8Array({ minLength: n, maxLength: n });
      return bytes.map((data) => ({ dtype, shape, data }));
    });
}

/** Python values the .pt writer can write (dict keys are strings or ints). */
export const arbPyValue: fc.Arbitrary<PyValue> = fc.letrec<{ v: PyValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }).filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
    fc.double({ noNaN: true }).filter((x) => !Number.isInteger(x)),
    fc.string(),
    fc.uint8Array({ maxLength: 16 }),
    arbTensor(ALL_DTYPES, 2, 3) as fc.Arbitrary<PyValue>,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie('v')), { maxLength: 4 }).map((kv) => new PyDict(kv)),
  ),
})).v;
