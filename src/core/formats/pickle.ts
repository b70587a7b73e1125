/**
 * A safe unpickler: a pickle is a program, so this is an interpreter for its data opcodes only.
 * Globals are looked up in a short allow-list of pure data constructors (tensor rebuilding,
 * OrderedDict, numpy array reconstruction, ...), implemented here in TypeScript. Any other global
 * is refused with an UnsafePickleError naming it, before anything else happens; in data-only mode
 * it becomes an inert PyObject instead. No opcode can import, call or evaluate anything else.
 *
 * Every size the input can declare is checked against what is left of the input or a limit, and
 * every opcode consumes at least one byte, so random bytes terminate quickly with a FormatError.
 */
import { FormatError, PersonaSpaceError, UnsafePickleError } from '../errors';
import { DTYPE_BYTES, f16BitsToF32, isRawTensor, numel, type DType, type RawTensor } from '../tensor';
import { PyDict, PyGlobal, PyObject, type PyKey, type PyValue } from './py';
import { latin1String, OP } from './pickle-ops';
import { byteswap, cStrides, gatherStrided, isCContiguous } from './strided';

export interface UnpickleOptions {
  /** Turn objects of classes outside the allow-list into inert PyObject records instead of refusing. */
  dataOnly?: boolean;
  /** Resolves persistent ids (torch storages). Without it, a persistent id is an error. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Most values on the stack at once (default 5 000 000). */
  maxStack?: number;
  /** Most memo entries (default 5 000 000). */
  maxMemo?: number;
  /** Largest tensor a strided/expanded view may be copied into (default 2 GiB). */
  maxTensorBytes?: number;
  /** Most bytes all copied (strided / stride-0) views of one pickle may take together (default 512 MiB). */
  maxCopiedBytes?: number;
}

/** A torch storage handed to the unpickler by persistent_load: raw little-endian bytes of one dtype. */
export class TorchStorage extends PyObject {
  constructor(
    readonly dtype: DType,
    readonly data: Uint8Array,
    readonly key: string,
  ) {
    super('torch.storage', [key]);
  }
  get numel(): number {
    return this.data.length / DTYPE_BYTES[this.dtype];
  }
}

/** torch.<X>Storage class name -> dtype. */
export const TORCH_STORAGE_DTYPES: Record<string, DType> = {
  BFloat16Storage: 'bfloat16',
  HalfStorage: 'float16',
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

const TORCH_DTYPE_NAMES: Record<string, DType> = {
  bfloat16: 'bfloat16',
  float16: 'float16',
  half: 'float16',
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/** numpy dtype descr ('f4', '<f8', 'b1', ...) -> our dtype and whether it is big-endian. */
export function numpyDescr(descr: string): { dtype: DType; bigEndian: boolean } | null {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m) return null;
  const [, order, kind, sizeStr] = m;
  const size = Number(sizeStr);
  const map: Record<string, DType | undefined> = {
    f2: 'float16', f4: 'float32', f8: 'float64',
    i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
    u1: 'uint8', b1: 'bool',
  };
  const dtype = map[kind + size];
  if (!dtype) return null;
  return { dtype, bigEndian: order === '>' };
}

/** numpy.dtype(...) while it is being built; the byte order arrives later through BUILD. */
class NpDType extends PyObject {
  constructor(descr: string) {
    super('numpy.dtype', [descr]);
  }
  get descr(): string {
    return String(this.args[0]);
  }
  get bigEndian(): boolean {
    const s = this.state;
    if (Array.isArray(s) && s.length > 1 && s[1] === '>') return true;
    return this.descr.startsWith('>');
  }
}

/** An ndarray between numpy's _reconstruct and the BUILD that gives it shape, dtype and bytes. */
class NdPending extends PyObject {
  constructor() {
    super('numpy.ndarray', []);
  }
}

interface Ctx {
  dataOnly: boolean;
  maxTensorBytes: number;
  /** Bytes left for copied views in this pickle (the whole file, not one tensor). */
  copyBudget: number;
  /** The whole file's copy budget, as set (copyBudget is what is left of it). */
  copyLimit: number;
}

const bad = (msg: string, details?: Record<string, unknown>) => new FormatError('pickle-invalid', msg, details);

function asInt(v: PyValue | undefined, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw bad(`The pickle gives ${what} that is not an integer.`);
}

function asIntList(v: PyValue | undefined, what: string): number[] {
  if (!Array.isArray(v)) throw bad(`The pickle gives ${what} that is not a tuple of integers.`);
  return v.map((x) => asInt(x, what));
}

/** torch._utils._rebuild_tensor_v2 and friends: a checked view of a storage, copied only when strided. */
function rebuildTensor(storage: PyValue | undefined, offsetV: PyValue, sizeV: PyValue, strideV: PyValue, ctx: Ctx): RawTensor {
  if (!(storage instanceof TorchStorage)) throw bad('A tensor in the pickle is not backed by a storage of the archive.');
  const offset = asInt(offsetV, 'a tensor offset');
  const shape = asIntList(sizeV, 'a tensor size');
  const stride = asIntList(strideV, 'a tensor stride');
  if (stride.length !== shape.length) throw bad(`A tensor has ${shape.length} sizes but ${stride.length} strides.`);
  if (shape.some((s) => s < 0) || stride.some((s) => s < 0) || offset < 0) {
    throw new FormatError('tensor-view', 'A tensor has a negative size, stride or offset.', { shape, stride, offset });
  }
  const bpe = DTYPE_BYTES[storage.dtype];
  const n = numel(shape);
  const avail = storage.numel;
  if (n > 0) {
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
    if (last >= avail) {
      throw new FormatError(
        'tensor-view',
        `A tensor of shape [${shape.join(', ')}] reaches element ${last} of a storage holding only ${avail} elements.`,
        { shape, stride, offset, storageNumel: avail, key: storage.key },
      );
    }
  }
  // Only stride-0 (expanded) views can outgrow their storage; cap those so a tiny file cannot demand gigabytes.
  const limit = Math.min(ctx.maxTensorBytes, Math.max(storage.data.length, 256 * 2 ** 20));
  if (isCContiguous(shape, stride)) return { dtype: storage.dtype, shape, data: storage.data.subarray(offset * bpe, (offset + n) * bpe) };
  // Many small stride-0 views of one storage add up: the cap is for the whole file, checked before copying.
  if (n * bpe > ctx.copyBudget) {
    throw new FormatError('tensor-too-large', `The file's tensor views would expand to more than ${Math.round(ctx.copyLimit / 2 ** 20)} MiB of copies, over the limit for one file.`, { key: storage.key });
  }
  ctx.copyBudget -= n * bpe;
  const data = gatherStrided(storage.data, bpe, shape, stride, offset, limit);
  return { dtype: storage.dtype, shape, data };
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw bad('The pickle encodes bytes as latin-1 text holding a character above 255.');
    out[i] = c;
  }
  return out;
}


function finishNdarray(state: PyValue, ctx: Ctx): PyValue {
  if (!Array.isArray(state)) throw bad('A numpy array in the pickle has no state.');
  const st = state.length === 5 ? state.slice(1) : state;
  if (st.length !== 4) throw bad('A numpy array in the pickle has a state of unexpected length.');
  const [shapeV, dtypeV, fortranV, raw] = st;
  const shape = asIntList(shapeV, 'an array shape');
  if (shape.some((s) => s < 0)) throw bad('A numpy array has a negative dimension.');
  if (!(dtypeV instanceof NpDType)) throw bad('A numpy array in the pickle has no dtype.');
  const info = numpyDescr(dtypeV.descr);
  if (!info) {
    if (ctx.dataOnly) {
      const o = new PyObject('numpy.ndarray', [shape, dtypeV.descr]);
      o.state = state;
      return o;
    }
    throw new FormatError('numpy-dtype', `A numpy array has dtype "${dtypeV.descr}", which is not a numeric type this tool reads.`);
  }
  let bytes: Uint8Array;
  if (raw instanceof Uint8Array) bytes = raw;
  else if (typeof raw === 'string') bytes = latin1Bytes(raw);
  else throw bad('A numpy array in the pickle carries no raw bytes.');
  const bpe = DTYPE_BYTES[info.dtype];
  const n = numel(shape);
  if (bytes.length !== n * bpe) {
    throw new FormatError('tensor-bytes', `A numpy array of shape [${shape.join(', ')}] (${info.dtype}) needs ${n * bpe} bytes but holds ${bytes.length}.`);
  }
  const bigEndian = info.bigEndian || dtypeV.bigEndian;
  if (bigEndian && bpe > 1) bytes = byteswap(bytes, bpe);
  if (fortranV === true && shape.length > 1) {
    // Fortran order: element (i, j, ...) lives at reversed-C strides.
    const fStrides = cStrides([...shape].reverse()).reverse();
    bytes = gatherStrided(bytes, bpe, shape, fStrides, 0, ctx.maxTensorBytes);
  }
  return { dtype: info.dtype, shape, data: bytes };
}

function numpyScalar(args: PyValue[]): PyValue {
  const [dt, raw] = args;
  if (!(dt instanceof NpDType)) throw bad('A numpy scalar in the pickle has no dtype.');
  const info = numpyDescr(dt.descr);
  const bytes = raw instanceof Uint8Array ? raw : typeof raw === 'string' ? latin1Bytes(raw) : null;
  if (!info || !bytes || bytes.length !== DTYPE_BYTES[info.dtype]) {
    const o = new PyObject('numpy.core.multiarray.scalar', args);
    return o;
  }
  const le = info.bigEndian || dt.bigEndian ? byteswap(bytes, bytes.length) : bytes.slice();
  const dv = new DataView(le.buffer, le.byteOffset, le.length);
  switch (info.dtype) {
    case 'float16': return f16BitsToF32(dv.getUint16(0, true));
    case 'float32': return dv.getFloat32(0, true);
    case 'float64': return dv.getFloat64(0, true);
    case 'int64': {
      const b = dv.getBigInt64(0, true);
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
    }
    case 'int32': return dv.getInt32(0, true);
    case 'int16': return dv.getInt16(0, true);
    case 'int8': return dv.getInt8(0);
    case 'uint8': return dv.getUint8(0);
    case 'bool': return dv.getUint8(0) !== 0;
    default: return null;
  }
}

type Builtin = (args: PyValue[], ctx: Ctx) => PyValue;

const rebuildV2: Builtin = (a, ctx) => rebuildTensor(a[0], a[1], a[2], a[3], ctx);
const identity0: Builtin = (a) => {
  if (!isRawTensor(a[0])) throw bad('A parameter in the pickle does not wrap a tensor.');
  return a[0];
};
const reconstruct: Builtin = () => new NdPending();
const codecsEncode: Builtin = (a) => {
  const [s, enc] = a;
  if (typeof s !== 'string') throw bad('_codecs.encode is given something other than text.');
  const e = typeof enc === 'string' ? enc.toLowerCase().replace('_', '-') : 'utf-8';
  if (e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1') return latin1Bytes(s);
  if (e === 'utf-8' || e === 'utf8') return new TextEncoder().encode(s);
  throw bad(`_codecs.encode is asked for the "${String(enc)}" encoding.`);
};
const toSet: Builtin = (a) => new Set(Array.isArray(a[0]) ? a[0] : a[0] instanceof Set ? [...a[0]] : []);
const orderedDict: Builtin = (a) => {
  const d = new PyDict();
  const items = a[0];
  if (Array.isArray(items)) {
    for (const kv of items) if (Array.isArray(kv) && kv.length === 2) d.set(kv[0] as PyKey, kv[1]);
  }
  return d;
};

/**
 * The allow-list. Keys are `module.name` as spelled in pickles; values construct data only.
 * `null` marks globals that may be referenced (as types or constants) but not called.
 */
const ALLOWED: Record<string, Builtin | null> = {
  'torch._utils._rebuild_tensor_v2': rebuildV2,
  'torch._utils._rebuild_tensor': rebuildV2,
  'torch._utils._rebuild_parameter': identity0,
  'torch._utils._rebuild_parameter_with_state': identity0,
  'torch._tensor._rebuild_from_type_v2': (a, ctx) => {
    const [fn, , args] = a;
    if (!(fn instanceof PyGlobal)) throw bad('_rebuild_from_type_v2 is given something that is not a function.');
    return callGlobal(fn, Array.isArray(args) ? args : [], ctx);
  },
  'torch.Size': (a) => (Array.isArray(a[0]) ? a[0] : []),
  'torch.Tensor': null,
  'torch.nn.parameter.Parameter': null,
  'torch.device': (a) => String(a[0]),
  'torch.storage.UntypedStorage': null,
  'torch.storage.TypedStorage': null,
  'collections.OrderedDict': orderedDict,
  'builtins.set': toSet,
  'builtins.frozenset': toSet,
  'builtins.complex': (a) => new PyObject('builtins.complex', a),
  'builtins.bytearray': (a) => (a[0] instanceof Uint8Array ? a[0] : typeof a[0] === 'string' ? latin1Bytes(a[0]) : new Uint8Array(0)),
  '_codecs.encode': codecsEncode,
  'numpy.core.multiarray._reconstruct': reconstruct,
  'numpy._core.multiarray._reconstruct': reconstruct,
  'numpy.ndarray': null,
  'numpy.dtype': (a) => {
    if (typeof a[0] !== 'string') throw bad('numpy.dtype is given something other than a type code.');
    return new NpDType(a[0]);
  },
  'numpy.core.multiarray.scalar': numpyScalar,
  'numpy._core.multiarray.scalar': numpyScalar,
};
for (const k of Object.keys(TORCH_STORAGE_DTYPES)) ALLOWED[`torch.${k}`] ??= null;
for (const k of Object.keys(TORCH_DTYPE_NAMES)) ALLOWED[`torch.${k}`] = null;

/** Python 2 spellings that Python 3's unpickler maps too. */
const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

export function isAllowedGlobal(qualified: string): boolean {
  return Object.prototype.hasOwnProperty.call(ALLOWED, qualified);
}

function callGlobal(g: PyGlobal, args: PyValue[], ctx: Ctx): PyValue {
  const q = g.qualified;
  const fn = isAllowedGlobal(q) ? ALLOWED[q] : undefined;
  if (fn) return fn(args, ctx);
  if (fn === null) {
    if (ctx.dataOnly) return new PyObject(q, args);
    throw bad(`The pickle calls "${q}", which is a type, not a constructor this reader supports.`);
  }
  if (q === 'copyreg._reconstructor' && ctx.dataOnly) {
    const cls = args[0];
    return new PyObject(cls instanceof PyGlobal ? cls.qualified : 'object', []);
  }
  if (ctx.dataOnly) return new PyObject(q, args);
  throw new UnsafePickleError(q);
}


const utf8 = new TextDecoder('utf-8', { fatal: false });

function normInt(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** Two's-complement little-endian integer of any length (LONG1/LONG4), capped at 1 kB. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  if (b.length > 1024) throw bad('The pickle holds an integer over 1 kB long.');
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return normInt(v);
}

function parseIntText(s: string): number | bigint {
  const t = s.trim().replace(/L$/, '');
  if (!/^[+-]?\d{1,4000}$/.test(t)) throw bad(`The pickle holds "${t.slice(0, 40)}" where an integer belongs.`);
  return normInt(BigInt(t));
}

/** Python's raw-unicode-escape (protocol 0 UNICODE). */
function rawUnicodeEscape(b: Uint8Array): string {
  const s = latin1String(b);
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) => {
    const cp = parseInt((u4 ?? u8) as string, 16);
    if (cp > 0x10ffff) throw bad('The pickle holds an invalid unicode escape.');
    return String.fromCodePoint(cp);
  });
}

/** Python string literal (protocol 0 STRING): quoted, with backslash escapes. */
function pyStringLiteral(line: string): string {
  const q = line[0];
  if ((q !== "'" && q !== '"') || line.length < 2 || line[line.length - 1] !== q) throw bad('The pickle holds a badly quoted string.');
  const body = line.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
    return simple[e] ?? '\\' + e;
  });
}

/** Interpret `bytes` as a pickle and return the object it builds. Throws FormatError / UnsafePickleError. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): PyValue {
  return unpickleAt(bytes, 0, opts).value;
}

/** Unpickle the pickle that starts at `offset`; `end` is the offset just past its STOP (pickles may be concatenated). */
export function unpickleAt(bytes: Uint8Array, offset: number, opts: UnpickleOptions = {}): { value: PyValue; end: number } {
  try {
    const r = run(bytes.subarray(offset), opts);
    return { value: r.value, end: offset + r.end };
  } catch (e) {
    if (e instanceof PersonaSpaceError) throw e;
    // A malformed pickle can only surface as our own errors; anything else is a bug we still report as bad input.
    throw new FormatError('pickle-invalid', `The pickle is damaged (${e instanceof Error ? e.message : String(e)}).`);
  }
}

function run(bytes: Uint8Array, opts: UnpickleOptions): { value: PyValue; end: number } {
  const ctx: Ctx = { dataOnly: opts.dataOnly ?? false, maxTensorBytes: opts.maxTensorBytes ?? 2 ** 31 - 1, copyBudget: opts.maxCopiedBytes ?? 512 * 2 ** 20, copyLimit: opts.maxCopiedBytes ?? 512 * 2 ** 20 };
  const maxStack = opts.maxStack ?? 5_000_000;
  const maxMemo = opts.maxMemo ?? 5_000_000;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let p = 0;
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  const memo = new Map<number, PyValue>();
  /** Values that BUILD replaced (numpy arrays), so later memo gets see the finished object. */
  const replaced = new Map<PyValue, PyValue>();

  const need = (k: number): void => {
    if (k < 0 || p + k > n) throw new FormatError('pickle-truncated', `The pickle ends early (needs ${k} more bytes at offset ${p}).`, { offset: p });
  };
  const take = (k: number): Uint8Array => {
    need(k);
    const v = bytes.subarray(p, p + k);
    p += k;
    return v;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0 || end - p > 1 << 20) throw new FormatError('pickle-truncated', `The pickle ends early (a text field at offset ${p} has no end).`);
    const s = latin1String(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const push = (v: PyValue): void => {
    if (stack.length >= maxStack) throw new FormatError('pickle-limit', `The pickle needs more than ${maxStack} values on its stack.`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) throw bad('The pickle pops from an empty stack.');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) throw bad('The pickle reads from an empty stack.');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw bad('The pickle closes a mark it never opened.');
    stack = prev;
    return items;
  };
  const put = (i: number): void => {
    if (memo.size >= maxMemo && !memo.has(i)) throw new FormatError('pickle-limit', `The pickle stores more than ${maxMemo} memo entries.`);
    memo.set(i, top());
  };
  const get = (i: number): void => {
    if (!memo.has(i)) throw bad(`The pickle refers to memo entry ${i}, which does not exist.`);
    const v = memo.get(i) as PyValue;
    push(replaced.get(v) ?? v);
  };
  const global = (module: string, name: string): void => {
    const mod = MODULE_ALIASES[module] ?? module;
    const q = `${mod}.${name}`;
    if (!isAllowedGlobal(q) && !ctx.dataOnly) throw new UnsafePickleError(q);
    push(new PyGlobal(mod, name));
  };
  const call = (fn: PyValue, args: PyValue): void => {
    if (!(fn instanceof PyGlobal)) throw bad('The pickle calls something that is not a global.');
    if (!Array.isArray(args)) throw bad('The pickle calls a function without an argument tuple.');
    push(callGlobal(fn, args, ctx));
  };
  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (items.length % 2) throw bad('The pickle sets dictionary items with a key and no value.');
    const d = target instanceof PyDict ? target : target instanceof PyObject ? target.dictItems : null;
    if (!d) throw bad('The pickle sets items on something that is not a dictionary.');
    for (let i = 0; i < items.length; i += 2) d.set(items[i] as PyKey, items[i + 1]);
  };
  const appendItems = (target: PyValue, items: PyValue[]): void => {
    if (Array.isArray(target)) {
      for (const x of items) target.push(x);
    } else if (target instanceof PyObject) target.listItems.push(...items);
    else throw bad('The pickle appends to something that is not a list.');
  };

  while (p < n) {
    const op = bytes[p++];
    switch (op) {
      case OP.PROTO: {
        const v = take(1)[0];
        if (v > 5) throw new FormatError('pickle-protocol', `The pickle uses protocol ${v}; protocols 0 to 5 are supported.`);
        break;
      }
      case OP.FRAME: take(8); break;
      case OP.STOP: {
        const v = pop();
        return { value: replaced.get(v) ?? v, end: p };
      }
      case OP.MARK:
        if (marks.length >= maxStack) throw new FormatError('pickle-limit', 'The pickle nests too many marks.');
        marks.push(stack);
        stack = [];
        break;
      case OP.POP:
        if (stack.length) stack.pop();
        else popMark();
        break;
      case OP.POP_MARK: popMark(); break;
      case OP.DUP: push(top()); break;
      case OP.NONE: push(null); break;
      case OP.NEWTRUE: push(true); break;
      case OP.NEWFALSE: push(false); break;
      case OP.BININT: need(4); push(dv.getInt32(p, true)); p += 4; break;
      case OP.BININT1: push(take(1)[0]); break;
      case OP.BININT2: need(2); push(dv.getUint16(p, true)); p += 2; break;
      case OP.LONG1: { const k = take(1)[0]; push(decodeLong(take(k))); break; }
      case OP.LONG4: { need(4); const k = dv.getInt32(p, true); p += 4; push(decodeLong(take(k))); break; }
      case OP.INT: {
        const s = line();
        if (s === '01') push(true);
        else if (s === '00') push(false);
        else push(parseIntText(s));
        break;
      }
      case OP.LONG: push(parseIntText(line())); break;
      case OP.FLOAT: {
        const s = line().trim();
        const v = Number(s);
        if (s === '' || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s))) throw bad(`The pickle holds "${s.slice(0, 40)}" where a float belongs.`);
        push(v);
        break;
      }
      case OP.BINFLOAT: need(8); push(dv.getFloat64(p, false)); p += 8; break;
      case OP.BINUNICODE: { need(4); const k = dv.getUint32(p, true); p += 4; push(utf8.decode(take(k))); break; }
      case OP.SHORT_BINUNICODE: { const k = take(1)[0]; push(utf8.decode(take(k))); break; }
      case OP.BINUNICODE8: {
        need(8);
        const k = dv.getUint32(p, true) + dv.getUint32(p + 4, true) * 2 ** 32;
        p += 8;
        push(utf8.decode(take(k)));
        break;
      }
      case OP.UNICODE: {
        const end = bytes.indexOf(0x0a, p);
        if (end < 0) throw new FormatError('pickle-truncated', 'The pickle ends inside a text string.');
        push(rawUnicodeEscape(bytes.subarray(p, end)));
        p = end + 1;
        break;
      }
      case OP.STRING: push(pyStringLiteral(line())); break;
      // Python 2 byte strings: read as latin-1 text (what torch.load's encoding does for them).
      case OP.BINSTRING: { need(4); const k = dv.getInt32(p, true); p += 4; push(latin1String(take(k))); break; }
      case OP.SHORT_BINSTRING: { const k = take(1)[0]; push(latin1String(take(k))); break; }
      case OP.BINBYTES: { need(4); const k = dv.getUint32(p, true); p += 4; push(take(k)); break; }
      case OP.SHORT_BINBYTES: { const k = take(1)[0]; push(take(k)); break; }
      case OP.BINBYTES8:
      case OP.BYTEARRAY8: {
        need(8);
        const k = dv.getUint32(p, true) + dv.getUint32(p + 4, true) * 2 ** 32;
        p += 8;
        push(take(k));
        break;
      }
      case OP.NEXT_BUFFER:
      case OP.READONLY_BUFFER:
        throw new FormatError('pickle-unsupported', 'The pickle uses out-of-band buffers (protocol 5), which are not supported.');
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        throw new FormatError('pickle-unsupported', 'The pickle uses the extension registry, which is not supported.');
      case OP.EMPTY_LIST: push([]); break;
      case OP.EMPTY_TUPLE: push([]); break;
      case OP.EMPTY_DICT: push(new PyDict()); break;
      case OP.EMPTY_SET: push(new Set()); break;
      case OP.LIST: push(popMark()); break;
      case OP.TUPLE: push(popMark()); break;
      case OP.FROZENSET: push(new Set(popMark())); break;
      case OP.TUPLE1: push([pop()]); break;
      case OP.TUPLE2: { const b = pop(); const a = pop(); push([a, b]); break; }
      case OP.TUPLE3: { const c = pop(); const b = pop(); const a = pop(); push([a, b, c]); break; }
      case OP.DICT: { const items = popMark(); const d = new PyDict(); setItems(d, items); push(d); break; }
      case OP.APPEND: { const v = pop(); appendItems(top(), [v]); break; }
      case OP.APPENDS: { const items = popMark(); appendItems(top(), items); break; }
      case OP.SETITEM: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; }
      case OP.SETITEMS: { const items = popMark(); setItems(top(), items); break; }
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw bad('The pickle adds items to something that is not a set.');
        for (const x of items) s.add(x);
        break;
      }
      case OP.PUT: put(Number(parseIntText(line()))); break;
      case OP.BINPUT: put(take(1)[0]); break;
      case OP.LONG_BINPUT: need(4); put(dv.getUint32(p, true)); p += 4; break;
      case OP.MEMOIZE: put(memo.size); break;
      case OP.GET: get(Number(parseIntText(line()))); break;
      case OP.BINGET: get(take(1)[0]); break;
      case OP.LONG_BINGET: need(4); get(dv.getUint32(p, true)); p += 4; break;
      case OP.GLOBAL: { const m = line(); const nm = line(); global(m, nm); break; }
      case OP.STACK_GLOBAL: {
        const nm = pop();
        const m = pop();
        if (typeof m !== 'string' || typeof nm !== 'string') throw bad('The pickle names a global with something other than text.');
        global(m, nm);
        break;
      }
      case OP.INST: {
        const m = line();
        const nm = line();
        global(m, nm);
        const cls = pop();
        const args = popMark();
        call(cls, args);
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        if (items.length === 0) throw bad('The pickle builds an object without a class.');
        call(items[0], items.slice(1));
        break;
      }
      case OP.REDUCE: { const args = pop(); const fn = pop(); call(fn, args); break; }
      case OP.NEWOBJ: { const args = pop(); const cls = pop(); call(cls, args); break; }
      case OP.NEWOBJ_EX: { pop(); const args = pop(); const cls = pop(); call(cls, args); break; }
      case OP.BUILD: {
        const state = pop();
        const obj = top();
        if (obj instanceof NdPending) {
          const done = finishNdarray(state, ctx);
          stack[stack.length - 1] = done;
          replaced.set(obj, done);
        } else if (obj instanceof PyObject) {
          obj.state = state;
        }
        // State on containers and tensors (e.g. an OrderedDict's __dict__) carries nothing we keep.
        break;
      }
      case OP.PERSID: {
        const pid = line();
        if (!opts.persistentLoad) throw bad('The pickle refers to external data, but none was provided.');
        push(opts.persistentLoad(pid));
        break;
      }
      case OP.BINPERSID: {
        const pid = pop();
        if (!opts.persistentLoad) throw bad('The pickle refers to external data, but none was provided.');
        push(opts.persistentLoad(pid));
        break;
      }
      default:
        throw bad(`The pickle holds an unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${p - 1}.`, { offset: p - 1 });
    }
  }
  throw new FormatError('pickle-truncated', 'The pickle ends before its STOP opcode (the file is truncated).');
}

/** Opcode values, for writers and tests. */
export const PICKLE_OP = OP;

// The writer lives in pickle-write.ts; re-exported so callers need one import.
export { PickleWriter, pickleDump, type PickleWriteHooks } from './pickle-write';
export { latin1String } from './pickle-ops';
