import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, PersonaSpaceError, UnsafePickleError } from '../errors';
import { decodeF32, f32ToBf16Bits, numel, type RawTensor } from '../tensor';
import { PICKLE_OP, pickleDump } from './pickle';
import { checkByteFlips, checkTruncations } from './test-props';
import { PyDict, PyObject, isRawTensor, pyGet } from './py';
import { readPt, writePt } from './pt';
import { hasRealData, readShared, realDataReason } from './test-data';
import { writeZip } from './zip';

const enc = new TextEncoder();

/** A .pt archive around hand-written pickle bytes (and optional storages). */
function ptWith(pkl: number[] | Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  return writeZip([
    { name: 'archive/data.pkl', data: pkl instanceof Uint8Array ? pkl : new Uint8Array(pkl) },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: enc.encode('3\n') },
  ]);
}
const s = (t: string) => [...enc.encode(t)];
const binunicode = (t: string) => {
  const b = enc.encode(t);
  return [PICKLE_OP.BINUNICODE, b.length & 255, (b.length >> 8) & 255, 0, 0, ...b];
};

describe.skipIf(!hasRealData)(`real torch.save files (llama-3.1-8b-L16) (${realDataReason})`, () => {
  it('reads a reference-pipeline dict {vector, type, role} with a bf16 (4096,) tensor', () => {
    const v = readPt(readShared('vectors/ghost.pt'));
    expect(v).toBeInstanceOf(PyDict);
    const vec = pyGet(v, 'vector') as RawTensor;
    expect(isRawTensor(vec)).toBe(true);
    expect(vec.dtype).toBe('bfloat16');
    expect(vec.shape).toEqual([4096]);
    expect(vec.data.byteLength).toBe(8192);
    expect(pyGet(v, 'role')).toBe('ghost');
    expect(pyGet(v, 'type')).toBe('mean');
    const f = decodeF32(vec);
    expect(f.every(Number.isFinite)).toBe(true);
    expect(f.some((x) => x !== 0)).toBe(true);
  });

  it('reads default.pt (a raw tensor) equal to vectors/default.pt["vector"]', () => {
    const raw = readPt(readShared('default.pt')) as RawTensor;
    const dict = readPt(readShared('vectors/default.pt'));
    const vec = pyGet(dict, 'vector') as RawTensor;
    expect(raw.shape).toEqual([4096]);
    expect(raw.dtype).toBe('bfloat16');
    expect(Array.from(raw.data)).toEqual(Array.from(vec.data));
  });

  it('reads reference_pca_basis.pt: numpy float32 arrays, floats, ints and strings', () => {
    const v = readPt(readShared('reference_pca_basis.pt'));
    for (const k of ['role_mean', 'pc1', 'pc2', 'pc3']) {
      const t = pyGet(v, k) as RawTensor;
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual([4096]);
    }
    const pc1 = decodeF32(pyGet(v, 'pc1') as RawTensor);
    // First values cross-checked with Python's struct.unpack on the pickled bytes.
    expect(pc1[0]).toBeCloseTo(0.0017516540829092264, 9);
    expect(pc1[1]).toBeCloseTo(-0.0017091126646846533, 9);
    let norm = 0;
    for (const x of pc1) norm += x * x;
    expect(Math.sqrt(norm)).toBeCloseTo(1, 4);
    expect(pyGet(v, 'var_frac_top3')).toEqual([0.27582991123199463, 0.16833454370498657, 0.07037618011236191]);
    expect(pyGet(v, 'cos_pc1_lu')).toBeCloseTo(0.81781, 5);
    expect(pyGet(v, 'n_roles_used')).toBe(275);
    expect(pyGet(v, 'hidden_dim')).toBe(4096);
    expect(typeof pyGet(v, 'source')).toBe('string');
  });
});

describe('writePt / readPt round trip', () => {
  it('keeps dtypes, shapes, bytes, nested containers and scalars', () => {
    const f32: RawTensor = { dtype: 'float32', shape: [2, 3], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, -6.5]).buffer) };
    const bf: RawTensor = { dtype: 'bfloat16', shape: [4], data: new Uint8Array(new Uint16Array([1, 2, 3].map(f32ToBf16Bits).concat([0])).buffer) };
    const i64: RawTensor = { dtype: 'int64', shape: [2], data: new Uint8Array(new BigInt64Array([-3n, 2n ** 40n]).buffer) };
    const bool: RawTensor = { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) };
    const bytes = writePt({ a: f32, nested: { b: bf, list: [i64, bool, 'x', 3, 2.5, null, true, 2n ** 70n] } });
    const v = readPt(bytes);
    const a = pyGet(v, 'a') as RawTensor;
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(decodeF32(a))).toEqual([1, 2, 3, 4, 5, -6.5]);
    const nested = pyGet(v, 'nested');
    expect(Array.from(decodeF32(pyGet(nested, 'b') as RawTensor))).toEqual([1, 2, 3, 0]);
    const list = pyGet(nested, 'list') as unknown[];
    expect(Array.from(decodeF32(list[0] as RawTensor))).toEqual([-3, 2 ** 40]);
    expect((list[1] as RawTensor).dtype).toBe('bool');
    expect(list.slice(2)).toEqual(['x', 3, 2.5, null, true, 2n ** 70n]);
  });

  it('checks storage checksums only when asked (like torch.load), the pickle always', () => {
    const t: RawTensor = { dtype: 'float32', shape: [4], data: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) };
    const f = writePt({ t });
    const idx = f.findIndex((_, i) => f[i] === 0x00 && f[i + 1] === 0x00 && f[i + 2] === 0x80 && f[i + 3] === 0x3f); // 1.0f
    const damaged = f.slice();
    damaged[idx + 3] ^= 0x40;
    expect(decodeF32(pyGet(readPt(damaged), 't') as RawTensor)[0]).not.toBe(1);
    expect(() => readPt(damaged, { verifyCrc: true })).toThrow(/checksum/);
    const pklAt = f.findIndex((_, i) => f[i] === 0x80 && f[i + 1] === 0x02);
    const badPickle = f.slice();
    badPickle[pklAt + 3] ^= 1;
    expect(() => readPt(badPickle)).toThrow(/checksum/);
  });

  it('shares one storage between two references to the same bytes', () => {
    const t: RawTensor = { dtype: 'float32', shape: [2], data: new Uint8Array(8) };
    const v = readPt(writePt([t, t])) as RawTensor[];
    expect(v[0].data.buffer).toBe(v[1].data.buffer);
    expect(v[0].data.byteOffset).toBe(v[1].data.byteOffset);
  });
});

/** A pickle calling _rebuild_tensor_v2 on storage "0" with a given offset/size/stride. */
function tensorPickle(storageType: string, numelDeclared: number, offset: number, size: number[], stride: number[]): number[] {
  const ints = (xs: number[]) => [PICKLE_OP.MARK, ...xs.flatMap((x) => [PICKLE_OP.BININT1, x]), PICKLE_OP.TUPLE];
  return [
    PICKLE_OP.PROTO, 2,
    PICKLE_OP.GLOBAL, ...s('torch._utils\n_rebuild_tensor_v2\n'),
    PICKLE_OP.MARK,
    PICKLE_OP.MARK, ...binunicode('storage'), PICKLE_OP.GLOBAL, ...s(`torch\n${storageType}\n`), ...binunicode('0'), ...binunicode('cpu'),
    PICKLE_OP.BININT1, numelDeclared, PICKLE_OP.TUPLE, PICKLE_OP.BINPERSID,
    PICKLE_OP.BININT1, offset, ...ints(size), ...ints(stride), PICKLE_OP.NEWFALSE,
    PICKLE_OP.GLOBAL, ...s('collections\nOrderedDict\n'), PICKLE_OP.EMPTY_TUPLE, PICKLE_OP.REDUCE,
    PICKLE_OP.TUPLE, PICKLE_OP.REDUCE, PICKLE_OP.STOP,
  ];
}

describe('strided and offset views', () => {
  const storage = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).buffer);
  it('returns a view (no copy) for a contiguous slice with an offset', () => {
    const t = readPt(ptWith(tensorPickle('FloatStorage', 12, 2, [2, 3], [3, 1]), { '0': storage })) as RawTensor;
    expect(Array.from(decodeF32(t))).toEqual([2, 3, 4, 5, 6, 7]);
    expect(t.data.byteLength).toBe(24);
    expect(t.data.buffer.byteLength).toBeGreaterThan(48); // still inside the archive's buffer
  });
  it('copies a transposed view into C order', () => {
    const t = readPt(ptWith(tensorPickle('FloatStorage', 12, 0, [4, 3], [1, 4]), { '0': storage })) as RawTensor;
    expect(t.shape).toEqual([4, 3]);
    expect(Array.from(decodeF32(t))).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  });
  it('handles stride-0 (expanded) views', () => {
    const t = readPt(ptWith(tensorPickle('FloatStorage', 12, 5, [3, 2], [0, 1]), { '0': storage })) as RawTensor;
    expect(Array.from(decodeF32(t))).toEqual([5, 6, 5, 6, 5, 6]);
  });
  it('refuses an expanded (stride 0) view that would need hundreds of MB from a tiny file', () => {
    // Patch sizes (200, 200) into (12000, 12000) with BININT2.
    const big = tensorPickle('FloatStorage', 12, 0, [200, 200], [0, 0]);
    const at = big.findIndex((b, i) => b === PICKLE_OP.BININT1 && big[i + 1] === 200);
    big.splice(at, 4, PICKLE_OP.BININT2, 0xe0, 0x2e, PICKLE_OP.BININT2, 0xe0, 0x2e); // 12000 x 12000 float32 = 576 MB
    expect(() => readPt(ptWith(big, { '0': storage }))).toThrow(/over the limit/);
  });

  it('caps the copies of the whole file, not per tensor: many stride-0 views of one storage are refused before copying', () => {
    // A list of 40 expanded (200, 200) float32 views (160 kB each, 6.4 MB together) of one 48-byte storage.
    const view = tensorPickle('FloatStorage', 12, 0, [200, 200], [0, 0]);
    const body = view.slice(view[0] === PICKLE_OP.PROTO ? 2 : 0, view.lastIndexOf(PICKLE_OP.STOP));
    const many = [PICKLE_OP.PROTO, 2, PICKLE_OP.MARK, ...Array.from({ length: 40 }, () => body).flat(), PICKLE_OP.LIST, PICKLE_OP.STOP];
    const file = ptWith(many, { '0': storage });
    expect((readPt(file) as RawTensor[]).length).toBe(40);
    const f = () => readPt(file, { maxCopiedBytes: 2 * 2 ** 20 });
    expect(f).toThrow(FormatError);
    expect(f).toThrow(/would expand to more than 2 MiB of copies, over the limit for one file/);
  });

  it('refuses a view that reads past its storage', () => {
    const f = () => readPt(ptWith(tensorPickle('FloatStorage', 12, 8, [2, 3], [3, 1]), { '0': storage }));
    expect(f).toThrow(FormatError);
    expect(f).toThrow(/reaches element 13 of a storage holding only 12/);
  });
  it('refuses a storage whose byte count disagrees with its declared numel', () => {
    const f = () => readPt(ptWith(tensorPickle('FloatStorage', 13, 0, [12], [1]), { '0': storage }));
    expect(f).toThrow(/should hold 13 float32 values \(52 bytes\) but holds 48/);
  });
  it('refuses big-endian archives', () => {
    const f = writeZip([
      { name: 'archive/data.pkl', data: new Uint8Array(tensorPickle('FloatStorage', 12, 0, [12], [1])) },
      { name: 'archive/byteorder', data: enc.encode('big') },
      { name: 'archive/data/0', data: storage },
    ]);
    expect(() => readPt(f)).toThrow(/big-endian/);
  });

  it('refuses a missing storage entry (truncated archive)', () => {
    expect(() => readPt(ptWith(tensorPickle('FloatStorage', 12, 0, [12], [1])))).toThrow(/lacks storage "0"/);
  });
  it('reads every supported storage type with its dtype', () => {
    const types: [string, string, number][] = [
      ['BFloat16Storage', 'bfloat16', 2], ['HalfStorage', 'float16', 2], ['FloatStorage', 'float32', 4],
      ['DoubleStorage', 'float64', 8], ['LongStorage', 'int64', 8], ['IntStorage', 'int32', 4],
      ['BoolStorage', 'bool', 1], ['ByteStorage', 'uint8', 1], ['CharStorage', 'int8', 1], ['ShortStorage', 'int16', 2],
    ];
    for (const [st, dt, bpe] of types) {
      const t = readPt(ptWith(tensorPickle(st, 3, 0, [3], [1]), { '0': new Uint8Array(3 * bpe) })) as RawTensor;
      expect(t.dtype).toBe(dt);
      expect(numel(t.shape)).toBe(3);
    }
  });
});

describe('legacy (pre-1.6, non-zip) torch.save files', () => {
  /** magic, protocol version, sys_info, the object, the storage keys, then int64 numel + bytes per storage. */
  function legacyFile(obj: number[], storages: [string, number, Uint8Array][]): Uint8Array {
    const sys = new PyDict([['protocol_version', 1001], ['little_endian', true], ['type_sizes', new PyDict([['short', 2], ['int', 4], ['long', 4]])]]);
    const parts = [pickleDump(0x1950a86a20f9469cfc6cn), pickleDump(1001), pickleDump(sys), new Uint8Array(obj), pickleDump(storages.map((x) => x[0]))];
    for (const [, n, data] of storages) {
      const head = new Uint8Array(8);
      new DataView(head.buffer).setBigInt64(0, BigInt(n), true);
      parts.push(head, data);
    }
    const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
    let q = 0;
    for (const part of parts) {
      out.set(part, q);
      q += part.length;
    }
    return out;
  }
  const storage = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);

  it('reads a tensor from the legacy layout', () => {
    const f = legacyFile(tensorPickle('FloatStorage', 6, 1, [2, 2], [2, 1]), [['0', 6, storage]]);
    const t = readPt(f) as RawTensor;
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(decodeF32(t))).toEqual([1, 2, 3, 4]);
  });

  it('gives typed errors when it is truncated or its storage header disagrees', () => {
    const f = legacyFile(tensorPickle('FloatStorage', 6, 0, [6], [1]), [['0', 6, storage]]);
    const { refused, cuts } = checkTruncations(f, (b) => readPt(b));
    expect(refused).toBe(cuts);
    expect(() => readPt(legacyFile(tensorPickle('FloatStorage', 6, 0, [6], [1]), [['0', 5, storage.subarray(0, 20)]]))).toThrow(/should hold 6 values/);
    checkByteFlips(f, (b) => readPt(b), 200);
  });
});

describe('hostile pickles', () => {
  const marker = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ps-hostile-'));
    return { dir, file: path.join(dir, 'pwned') };
  };

  it('refuses posix.system + REDUCE, names the global and runs nothing', () => {
    const { dir, file } = marker();
    const pkl = [PICKLE_OP.PROTO, 2, PICKLE_OP.GLOBAL, ...s('posix\nsystem\n'), ...binunicode(`touch ${file}`), PICKLE_OP.TUPLE1, PICKLE_OP.REDUCE, PICKLE_OP.STOP];
    let err: unknown;
    try {
      readPt(ptWith(pkl));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect((err as UnsafePickleError).global).toBe('posix.system');
    expect((err as Error).message).toContain('"posix.system"');
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    ['os', 'system'],
    ['builtins', 'eval'],
    ['__builtin__', 'exec'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['numpy', 'load'],
  ])('refuses %s.%s (GLOBAL and STACK_GLOBAL)', (mod, name) => {
    const viaGlobal = [PICKLE_OP.PROTO, 2, PICKLE_OP.GLOBAL, ...s(`${mod}\n${name}\n`), ...binunicode('1+1'), PICKLE_OP.TUPLE1, PICKLE_OP.REDUCE, PICKLE_OP.STOP];
    const expected = mod === '__builtin__' ? `builtins.${name}` : `${mod}.${name}`;
    expect(() => readPt(ptWith(viaGlobal))).toThrow(UnsafePickleError);
    expect(() => readPt(ptWith(viaGlobal))).toThrow(expected);
    const viaStack = [PICKLE_OP.PROTO, 4, ...binunicode(mod), ...binunicode(name), PICKLE_OP.STACK_GLOBAL, PICKLE_OP.EMPTY_TUPLE, PICKLE_OP.REDUCE, PICKLE_OP.STOP];
    expect(() => readPt(ptWith(viaStack))).toThrow(expected);
  });

  it('in data-only mode keeps a hostile call as an inert record (still nothing runs)', () => {
    const { dir, file } = marker();
    const pkl = [PICKLE_OP.PROTO, 2, PICKLE_OP.GLOBAL, ...s('posix\nsystem\n'), ...binunicode(`touch ${file}`), PICKLE_OP.TUPLE1, PICKLE_OP.REDUCE, PICKLE_OP.STOP];
    const v = readPt(ptWith(pkl), { dataOnly: true });
    expect(v).toBeInstanceOf(PyObject);
    expect((v as PyObject).__class__).toBe('posix.system');
    expect((v as PyObject).args).toEqual([`touch ${file}`]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('data-only mode turns a pickled sklearn PCA (NEWOBJ + BUILD) into a record whose arrays are readable', () => {
    // numpy array via _reconstruct + BUILD, as numpy pickles it (protocol 2, bytes via _codecs.encode).
    const f32 = new Float32Array([0.6, 0.8, -0.8, 0.6]);
    const latin1 = String.fromCharCode(...new Uint8Array(f32.buffer));
    const ndarray = [
      PICKLE_OP.GLOBAL, ...s('numpy.core.multiarray\n_reconstruct\n'),
      PICKLE_OP.GLOBAL, ...s('numpy\nndarray\n'), PICKLE_OP.BININT1, 0, PICKLE_OP.TUPLE1,
      PICKLE_OP.SHORT_BINBYTES, 1, 0x62, PICKLE_OP.TUPLE3, PICKLE_OP.REDUCE,
      PICKLE_OP.MARK, PICKLE_OP.BININT1, 1, PICKLE_OP.BININT1, 2, PICKLE_OP.BININT1, 2, PICKLE_OP.TUPLE2,
      PICKLE_OP.GLOBAL, ...s('numpy\ndtype\n'), ...binunicode('f4'), PICKLE_OP.NEWFALSE, PICKLE_OP.NEWTRUE, PICKLE_OP.TUPLE3, PICKLE_OP.REDUCE,
      PICKLE_OP.MARK, PICKLE_OP.BININT1, 3, ...binunicode('<'), PICKLE_OP.NONE, PICKLE_OP.NONE, PICKLE_OP.NONE,
      PICKLE_OP.BININT, 255, 255, 255, 255, PICKLE_OP.BININT, 255, 255, 255, 255, PICKLE_OP.BININT1, 0, PICKLE_OP.TUPLE, PICKLE_OP.BUILD,
      PICKLE_OP.NEWFALSE,
      PICKLE_OP.GLOBAL, ...s('_codecs\nencode\n'), ...binunicode(latin1), ...binunicode('latin1'), PICKLE_OP.TUPLE2, PICKLE_OP.REDUCE,
      PICKLE_OP.TUPLE, PICKLE_OP.BUILD,
    ];
    const pkl = [
      PICKLE_OP.PROTO, 2,
      PICKLE_OP.GLOBAL, ...s('sklearn.decomposition._pca\nPCA\n'), PICKLE_OP.EMPTY_TUPLE, PICKLE_OP.NEWOBJ,
      PICKLE_OP.EMPTY_DICT, PICKLE_OP.MARK,
      ...binunicode('n_components'), PICKLE_OP.BININT1, 2,
      ...binunicode('components_'), ...ndarray,
      ...binunicode('explained_variance_ratio_'), PICKLE_OP.EMPTY_LIST, PICKLE_OP.MARK, PICKLE_OP.BINFLOAT, 0x3f, 0xe8, 0, 0, 0, 0, 0, 0, PICKLE_OP.APPENDS,
      ...binunicode('_sklearn_version'), ...binunicode('1.5.0'),
      PICKLE_OP.SETITEMS, PICKLE_OP.BUILD, PICKLE_OP.STOP,
    ];
    expect(() => readPt(ptWith(pkl))).toThrow(/sklearn\.decomposition\._pca\.PCA/);
    const v = readPt(ptWith(pkl), { dataOnly: true }) as PyObject;
    expect(v).toBeInstanceOf(PyObject);
    expect(v.__class__).toBe('sklearn.decomposition._pca.PCA');
    const comps = v.attr('components_') as RawTensor;
    expect(comps.dtype).toBe('float32');
    expect(comps.shape).toEqual([2, 2]);
    expect(Array.from(decodeF32(comps))).toEqual(Array.from(f32));
    expect(pyGet(v, 'n_components')).toBe(2);
    expect(pyGet(v, 'explained_variance_ratio_')).toEqual([0.75]);
  });

  it('never leaks a non-PersonaSpaceError on a pickle that is not a pickle', () => {
    for (const bad of [[0x80, 2, 0x52, 0x2e], [0x80, 9], [0x80, 2, 0x68, 5], [0x80, 2, 0x75, 0x2e], [0x80, 2, 0x62]]) {
      expect(() => readPt(ptWith(bad))).toThrow(PersonaSpaceError);
    }
  });
});
