/**
 * PyTorch `torch.save` archives: a ZIP holding `<prefix>/data.pkl` and one `<prefix>/data/<key>`
 * entry of raw little-endian bytes per storage. The pickle is run by the safe unpickler; storages
 * come back as views into the file (stored entries), so tensors that are plain contiguous views
 * of a storage cost no copy.
 */
import { FormatError } from '../errors';
import { DTYPE_BYTES, isRawTensor, numel, type DType, type RawTensor } from '../tensor';
import { PyDict, PyGlobal, type PyValue } from './py';
import { PICKLE_OP, pickleDump, TORCH_STORAGE_DTYPES, TorchStorage, unpickle, unpickleAt, type PickleWriter } from './pickle';
import { openZip, writeZip, type ZipLimits } from './zip';

export interface ReadPtOptions extends ZipLimits {
  /** Turn objects of unknown classes into inert records instead of refusing the file. */
  dataOnly?: boolean;
  /** Most bytes the copied (strided, stride-0) views of the whole file may take (default 512 MiB). */
  maxCopiedBytes?: number;
  /**
   * `verifyCrc` (from ZipLimits) applies to tensor storages and defaults to false here, as in
   * torch.load: checking 360 MB costs about a second. The pickle's checksum is always checked.
   */
}

/** The first bytes of a legacy (pre-1.6, non-zip) torch.save file: a pickled magic number. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

export function isLegacyTorch(bytes: Uint8Array): boolean {
  if (bytes.length < LEGACY_MAGIC.length) return false;
  return LEGACY_MAGIC.every((b, i) => bytes[i] === b);
}

/** Find `<prefix>/data.pkl` (the prefix is the archive's name when it was saved; any is accepted). */
function findPickle(names: Iterable<string>): string | null {
  let best: string | null = null;
  for (const n of names) {
    if (n === 'data.pkl' || (n.endsWith('/data.pkl') && n.indexOf('/') === n.length - 9)) {
      if (best !== null) throw new FormatError('pt-ambiguous', 'The archive holds more than one data.pkl.');
      best = n;
    }
  }
  return best;
}

/** Read a torch.save archive into Python values (tensors as RawTensor; see py.ts for the rest). */
export function readPt(bytes: Uint8Array, opts: ReadPtOptions = {}): PyValue {
  if (isLegacyTorch(bytes)) return readLegacyPt(bytes, opts);
  const verifyStorages = opts.verifyCrc ?? false;
  const zip = openZip(bytes, { ...opts, verifyCrc: true });
  const pkl = findPickle(zip.entries.keys());
  if (!pkl) throw new FormatError('pt-no-pickle', 'The ZIP archive holds no data.pkl, so it is not a PyTorch file.');
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const order = zip.entries.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() : 'little';
  if (order !== 'little') {
    throw new FormatError('pt-byteorder', `The archive was saved with ${order}-endian storages; only little-endian files are supported.`);
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
      throw new FormatError('pt-persistent-id', 'The pickle refers to external data of an unknown kind.');
    }
    const [, type, keyV, , numelV] = pid;
    const key = String(keyV);
    const cached = storages.get(key);
    if (cached) return cached;
    const dtype = storageDtype(type);
    const entry = `${prefix}data/${key}`;
    if (!zip.entries.has(entry)) throw new FormatError('pt-storage-missing', `The archive lacks storage "${key}" (entry ${entry}); it is truncated or damaged.`);
    const data = zip.read(entry, verifyStorages);
    const count = typeof numelV === 'number' ? numelV : typeof numelV === 'bigint' ? Number(numelV) : NaN;
    const bpe = DTYPE_BYTES[dtype];
    // UntypedStorage counts bytes; typed storages count elements.
    if (!Number.isFinite(count) || data.length !== count * bpe) {
      throw new FormatError(
        'pt-storage-size',
        `Storage "${key}" should hold ${count} ${dtype} values (${count * bpe} bytes) but holds ${data.length} bytes.`,
        { key, numel: count, bytes: data.length },
      );
    }
    const s = new TorchStorage(dtype, data, key);
    storages.set(key, s);
    return s;
  };
  return unpickle(zip.read(pkl), { dataOnly: opts.dataOnly, persistentLoad, maxCopiedBytes: opts.maxCopiedBytes });
}

function storageDtype(type: PyValue): DType {
  if (!(type instanceof PyGlobal) || type.module.split('.')[0] !== 'torch') {
    throw new FormatError('pt-storage', 'A storage in the archive has no torch storage type.');
  }
  const dtype: DType | undefined = TORCH_STORAGE_DTYPES[type.name];
  if (!dtype) throw new FormatError('pt-dtype', `The archive holds a storage of type ${type.qualified}, which is not supported.`);
  return dtype;
}

function asCount(v: PyValue | undefined): number {
  const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new FormatError('pt-storage-size', 'A storage declares an invalid size.');
  return n;
}

/**
 * The legacy (pre-1.6) torch.save layout: five concatenated pickles (magic number, protocol
 * version, sys_info, the object, the sorted storage keys), then each storage as an int64
 * element count followed by its raw bytes. Storage dtypes are only known from the object pickle,
 * so it is run twice: once to learn them (against zero-filled stand-ins), once for real.
 */
function readLegacyPt(bytes: Uint8Array, opts: ReadPtOptions): PyValue {
  const legacy = (msg: string) => new FormatError('pt-legacy', `This legacy-format PyTorch file is damaged: ${msg}.`);
  let p = unpickleAt(bytes, 0).end;
  const proto = unpickleAt(bytes, p);
  if (proto.value !== 1001) throw legacy(`unknown protocol version ${String(proto.value)}`);
  const sys = unpickleAt(bytes, proto.end);
  const le = sys.value instanceof Map ? sys.value.get('little_endian') : undefined;
  if (le === false) throw new FormatError('pt-legacy', 'This legacy PyTorch file was saved on a big-endian machine, which is not supported.');
  p = sys.end;
  const objStart = p;
  const declared = new Map<string, { dtype: DType; numel: number }>();
  const zeros = new Uint8Array(Math.max(0, bytes.length - objStart));
  const pass1 = unpickleAt(bytes, objStart, {
    dataOnly: opts.dataOnly,
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new FormatError('pt-persistent-id', 'The pickle refers to external data of an unknown kind.');
      const dtype = storageDtype(pid[1]);
      const numel = asCount(pid[4]);
      const nbytes = numel * DTYPE_BYTES[dtype];
      if (nbytes > zeros.length) throw legacy('a storage is larger than the file');
      declared.set(String(pid[2]), { dtype, numel });
      return new TorchStorage(dtype, zeros.subarray(0, nbytes), String(pid[2]));
    },
  });
  const keysPickle = unpickleAt(bytes, pass1.end);
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw legacy('the storage key list is missing');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, TorchStorage>();
  p = keysPickle.end;
  for (const key of keys as string[]) {
    const info = declared.get(key);
    if (!info) throw legacy(`storage "${key}" is listed but never used`);
    if (p + 8 > bytes.length) throw legacy('it is truncated');
    const n = Number(dv.getBigInt64(p, true));
    if (n !== info.numel) throw new FormatError('pt-storage-size', `Storage "${key}" should hold ${info.numel} values but its header says ${n}.`);
    const nbytes = n * DTYPE_BYTES[info.dtype];
    if (p + 8 + nbytes > bytes.length) throw legacy('it is truncated');
    storages.set(key, new TorchStorage(info.dtype, bytes.subarray(p + 8, p + 8 + nbytes), key));
    p += 8 + nbytes;
  }
  return unpickleAt(bytes, objStart, {
    dataOnly: opts.dataOnly,
    persistentLoad: (pid) => {
      const key = Array.isArray(pid) ? String(pid[2]) : '';
      const s = storages.get(key);
      if (!s) throw legacy(`storage "${key}" is missing`);
      const view = Array.isArray(pid) ? pid[5] : null;
      if (Array.isArray(view) && view.length === 3) {
        // (view_key, offset, size) in elements: a slice of the root storage.
        const off = asCount(view[1]);
        const size = asCount(view[2]);
        const bpe = DTYPE_BYTES[s.dtype];
        if ((off + size) * bpe > s.data.length) throw legacy('a storage view lies outside its storage');
        return new TorchStorage(s.dtype, s.data.subarray(off * bpe, (off + size) * bpe), String(view[0]));
      }
      return s;
    },
  }).value;
}

/** Values writePt accepts: PyValue, plus plain objects (written as dicts) for convenience. */
export type PtWritable = PyValue | { [k: string]: PtWritable } | PtWritable[];

function toPy(v: PtWritable): PyValue {
  if (v === null || typeof v !== 'object') return v as PyValue;
  if (isRawTensor(v) || v instanceof Uint8Array || v instanceof Map || v instanceof Set || v instanceof PyGlobal) return v as PyValue;
  if (Array.isArray(v)) return v.map(toPy);
  if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
    const d = new PyDict();
    for (const [k, x] of Object.entries(v)) d.set(k, toPy(x as PtWritable));
    return d;
  }
  return v as PyValue;
}

const STORAGE_NAME: Record<DType, string> = {
  bfloat16: 'BFloat16Storage',
  float16: 'HalfStorage',
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

/**
 * Write a torch.save-compatible archive (protocol-2 pickle, one storage per distinct tensor).
 * `torch.load(path)` reads it back; so does readPt.
 */
export function writePt(value: PtWritable, archiveName = 'archive'): Uint8Array {
  const keys = new Map<Uint8Array, string>();
  const files: { name: string; data: Uint8Array }[] = [];
  const enc = new TextEncoder();
  const tensor = (t: RawTensor, w: PickleWriter): void => {
    const n = numel(t.shape);
    if (t.data.length !== n * DTYPE_BYTES[t.dtype]) {
      throw new FormatError('tensor-bytes', `A tensor of shape [${t.shape.join(', ')}] holds ${t.data.length} bytes instead of ${n * DTYPE_BYTES[t.dtype]}.`);
    }
    let key = keys.get(t.data);
    if (key === undefined) {
      key = String(keys.size);
      keys.set(t.data, key);
      files.push({ name: `${archiveName}/data/${key}`, data: t.data });
    }
    const k = key;
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(PICKLE_OP.MARK);
    // persistent id ('storage', torch.<X>Storage, key, 'cpu', numel)
    w.tuple([() => w.str('storage'), () => w.global('torch', STORAGE_NAME[t.dtype]), () => w.str(k), () => w.str('cpu'), () => w.int(n)]);
    w.op(PICKLE_OP.BINPERSID);
    w.int(0);
    w.tuple(t.shape.map((s) => () => w.int(s)));
    const strides: number[] = [];
    let acc = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      strides[i] = acc;
      acc *= t.shape[i];
    }
    w.tuple(strides.map((s) => () => w.int(s)));
    w.op(PICKLE_OP.NEWFALSE);
    w.global('collections', 'OrderedDict');
    w.op(PICKLE_OP.EMPTY_TUPLE);
    w.op(PICKLE_OP.REDUCE);
    w.op(PICKLE_OP.TUPLE);
    w.op(PICKLE_OP.REDUCE);
  };
  const pkl = pickleDump(toPy(value), { tensor });
  return writeZip([
    { name: `${archiveName}/data.pkl`, data: pkl },
    { name: `${archiveName}/byteorder`, data: enc.encode('little') },
    ...files,
    { name: `${archiveName}/version`, data: enc.encode('3\n') },
  ]);
}
