/**
 * Python values as the readers hand them over (pickles, .npz, JSON).
 *
 * Representation (one rule each, so consumers never guess):
 * - None -> null; bool -> boolean; float -> number; int -> number, or bigint beyond 2^53;
 * - str -> string; bytes/bytearray -> Uint8Array;
 * - list and tuple -> JS arrays (the distinction is not kept);
 * - dict and OrderedDict -> `PyDict` (a Map: insertion order kept, keys may be str, int, ...);
 * - set/frozenset -> JS Set;
 * - torch tensors and numpy arrays -> RawTensor (stored dtype, C-contiguous);
 * - a global that was referenced but not called (e.g. `torch.float32`) -> PyGlobal;
 * - in data-only mode, any other object -> PyObject, an inert record of its class name,
 *   constructor arguments and state. Nothing in these values can run code.
 */
import { isRawTensor, type RawTensor } from '../tensor';

export type PyKey = string | number | bigint | boolean | null | PyValue;

export class PyDict extends Map<PyKey, PyValue> {}

export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object of a class outside the allow-list, read in data-only mode: data, never behaviour. */
export class PyObject {
  state: PyValue | undefined = undefined;
  /** Items appended to it (list subclasses) or set on it (dict subclasses), when the pickle did so. */
  listItems: PyValue[] = [];
  dictItems: PyDict = new PyDict();
  constructor(
    readonly __class__: string,
    readonly args: PyValue[],
  ) {}
  /** An attribute from the pickled state (the object's `__dict__`), e.g. `components_` of a PCA. */
  attr(name: string): PyValue | undefined {
    const s = this.state;
    if (s instanceof PyDict) return s.get(name);
    // (dict_state, slot_state) tuples
    if (Array.isArray(s) && s.length === 2) {
      for (const part of s) if (part instanceof PyDict && part.has(name)) return part.get(name);
    }
    return undefined;
  }
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | RawTensor
  | PyValue[]
  | PyDict
  | Set<PyValue>
  | PyGlobal
  | PyObject;

export function isPyDict(v: unknown): v is PyDict {
  return v instanceof Map;
}

/** dict[key]; an int key matches both number and bigint spellings. */
export function pyGet(d: PyValue | undefined, key: string | number): PyValue | undefined {
  if (d instanceof Map) {
    if (d.has(key)) return d.get(key);
    if (typeof key === 'number' && Number.isSafeInteger(key) && d.has(BigInt(key))) return d.get(BigInt(key));
    return undefined;
  }
  if (d instanceof PyObject && typeof key === 'string') return d.attr(key);
  return undefined;
}

export function pyKeys(d: PyDict): PyKey[] {
  return [...d.keys()];
}

export { isRawTensor };

/**
 * A JSON-friendly copy for display and logs: dicts become objects, tensors a summary.
 * Depth-limited, so cyclic pickles (a list that holds itself) terminate.
 */
export function pyToPlain(v: PyValue | undefined, depth = 32): unknown {
  if (depth <= 0) return '…';
  if (v === undefined || v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v ?? null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (isRawTensor(v)) return { dtype: v.dtype, shape: v.shape };
  if (Array.isArray(v)) return v.map((x) => pyToPlain(x, depth - 1));
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = pyToPlain(x, depth - 1);
    return o;
  }
  if (v instanceof Set) return [...v].map((x) => pyToPlain(x, depth - 1));
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyObject) return { __class__: v.__class__, args: pyToPlain(v.args, depth - 1), state: pyToPlain(v.state, depth - 1) };
  return String(v);
}

/** Tensors found in a value, with a dotted path to each (depth-limited, each container visited once). */
export function findTensors(v: PyValue, maxDepth = 16): { path: string; tensor: RawTensor }[] {
  const out: { path: string; tensor: RawTensor }[] = [];
  const seen = new Set<object>();
  const walk = (x: PyValue | undefined, path: string, depth: number): void => {
    if (x === null || x === undefined || typeof x !== 'object' || depth > maxDepth) return;
    if (isRawTensor(x)) {
      out.push({ path, tensor: x });
      return;
    }
    if (seen.has(x)) return;
    seen.add(x);
    const join = (k: unknown) => (path ? `${path}.${String(k)}` : String(k));
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, join(i), depth + 1));
    else if (x instanceof Map) for (const [k, y] of x) walk(y, join(k), depth + 1);
    else if (x instanceof PyObject) walk(x.state, path, depth + 1);
  };
  walk(v, '', 0);
  return out;
}
