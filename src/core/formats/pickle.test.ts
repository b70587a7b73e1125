import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError, PersonaSpaceError } from '../errors';
import { arbPyValue } from './arbitraries';
import { PICKLE_OP, pickleDump, unpickle } from './pickle';
import { PyDict, PyGlobal } from './py';
import { readPt, writePt } from './pt';
import { checkByteFlips, checkTruncations, onlyTypedErrors, props } from './test-props';

const enc = new TextEncoder();
const bytes = (...parts: (number | string)[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...enc.encode(p)] : [p])));

describe('unpickle', () => {
  it('round-trips Python values through pickleDump (and tensors through writePt)', () => {
    fc.assert(
      fc.property(arbPyValue, (v) => {
        expect(readPt(writePt(v))).toEqual(v);
      }),
      props({ numRuns: 150 }),
    );
  });

  it('reads protocol 0 text opcodes (what pickle.dumps(x, 0) writes)', () => {
    // pickle.dumps({'a': [1, 2.5, 'x', True, None], 'b': (3,)}, 0) in Python 3.11
    const p0 = bytes("(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\np3\naI01\naNasVb\np4\n(I3\ntp5\ns.");
    const v = unpickle(p0);
    expect(v).toEqual(new PyDict([['a', [1, 2.5, 'x', true, null]], ['b', [3]]]));
  });

  it('reads raw-unicode-escape text and python2 string literals', () => {
    expect(unpickle(bytes('V\\u00e9t\\U0001F600\n.'))).toBe('ét😀');
    expect(unpickle(bytes("S'a\\'b\\n'\np0\n."))).toBe("a'b\n");
    expect(unpickle(bytes('L12345678901234567890L\n.'))).toBe(12345678901234567890n);
  });

  it('reads protocol 4/5 framing, memoize, sets and frozensets', () => {
    const p = bytes(
      PICKLE_OP.PROTO, 4, PICKLE_OP.FRAME, 0, 0, 0, 0, 0, 0, 0, 0,
      PICKLE_OP.EMPTY_SET, PICKLE_OP.MEMOIZE, PICKLE_OP.MARK, PICKLE_OP.BININT1, 1, PICKLE_OP.BININT1, 2, PICKLE_OP.ADDITEMS,
      PICKLE_OP.MARK, PICKLE_OP.BININT1, 7, PICKLE_OP.FROZENSET, PICKLE_OP.TUPLE2, PICKLE_OP.STOP,
    );
    expect(unpickle(p)).toEqual([new Set([1, 2]), new Set([7])]);
  });

  it('keeps referenced-but-not-called torch dtypes as inert globals', () => {
    const v = unpickle(bytes(PICKLE_OP.PROTO, 2, PICKLE_OP.GLOBAL, 'torch\nbfloat16\n', PICKLE_OP.STOP));
    expect(v).toBeInstanceOf(PyGlobal);
    expect((v as PyGlobal).qualified).toBe('torch.bfloat16');
  });

  it('refuses to call an allow-listed type that is not a constructor', () => {
    const p = bytes(PICKLE_OP.PROTO, 2, PICKLE_OP.GLOBAL, 'torch\nfloat32\n', PICKLE_OP.EMPTY_TUPLE, PICKLE_OP.REDUCE, PICKLE_OP.STOP);
    expect(() => unpickle(p)).toThrow(FormatError);
  });

  it('stops at the stack limit instead of growing without bound', () => {
    const p = new Uint8Array(2 + 1000 + 1);
    p[0] = PICKLE_OP.PROTO;
    p[1] = 2;
    p.fill(PICKLE_OP.NONE, 2);
    p[p.length - 1] = PICKLE_OP.STOP;
    expect(() => unpickle(p, { maxStack: 100 })).toThrow(/more than 100 values/);
    expect(unpickle(p)).toBeNull();
  });

  it('refuses memo references to entries that do not exist, and self-referencing lists terminate', () => {
    expect(() => unpickle(bytes(PICKLE_OP.PROTO, 2, PICKLE_OP.BINGET, 3, PICKLE_OP.STOP))).toThrow(/memo entry 3/);
    // l = []; l.append(l)
    const v = unpickle(bytes(PICKLE_OP.PROTO, 2, PICKLE_OP.EMPTY_LIST, PICKLE_OP.BINPUT, 0, PICKLE_OP.BINGET, 0, PICKLE_OP.APPEND, PICKLE_OP.STOP)) as unknown[];
    expect(v[0]).toBe(v);
  });

  it('says a pickle without STOP is truncated', () => {
    expect(() => unpickle(bytes(PICKLE_OP.PROTO, 2, PICKLE_OP.NONE))).toThrow(/truncated/);
  });

  it('gives only typed errors on random bytes (no hang)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        onlyTypedErrors(() => unpickle(b));
        const withProto = new Uint8Array([0x80, 2, ...b]);
        onlyTypedErrors(() => unpickle(withProto));
        onlyTypedErrors(() => unpickle(withProto, { dataOnly: true }));
      }),
      props({ numRuns: 2000 }),
    );
  });

  it('gives only typed errors on corrupted and truncated pickles of real-looking data', () => {
    const d = new PyDict();
    d.set('names', ['a', 'b']);
    d.set('x', [1.5, 2n ** 80n, 'é', new Uint8Array([1, 2, 3]), new Set([1])]);
    const p = pickleDump(d);
    checkByteFlips(p, (b) => unpickle(b), 500);
    checkByteFlips(p, (b) => unpickle(b, { dataOnly: true }), 300);
    const { refused, cuts } = checkTruncations(p, (b) => unpickle(b));
    expect(refused).toBe(cuts);
  });

  it('is a PersonaSpaceError for unknown opcodes', () => {
    expect(() => unpickle(bytes(PICKLE_OP.PROTO, 2, 0xff))).toThrow(PersonaSpaceError);
  });
});
