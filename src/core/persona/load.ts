/**
 * loadPersonaSet: every file-based source (a folder of per-role files, the official release
 * layout, one dict file, an (N, d) / (N, L, d) array plus names, safetensors, .npz, projector
 * TSV + metadata) turned into one PersonaSet. Layouts are recognised from paths and content.
 */
import { DataError, PersonaSpaceError } from '../errors';
import { readTensorFile, type FileFormat } from '../formats/detect';
import { metadataNames } from '../formats/tsv';
import { isPyDict, PyDict, PyObject, type PyValue } from '../formats/py';
import { DTYPE_BYTES, isRawTensor, numel, type RawTensor } from '../tensor';
import { AxisOnlyError, axisTensorOf } from './axis-file';
import { memberShape, oddOneOut, personaSetFromSources, withDefaultNames, type MemberSource } from './persona-set';
import type { LoadOptions, MemberKind, PersonaSet, VirtualFile } from './types';

interface Parsed {
  path: string;
  /** File name without folders and without its last extension. */
  stem: string;
  format: FileFormat;
  value: PyValue;
}

function normPath(p: string): string {
  return p.replace(/\\/g, '/').replace(/^\.?\//, '').replace(/\/+/g, '/');
}

function stemOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

function isHidden(path: string): boolean {
  return path.split('/').some((seg) => seg.startsWith('.') && seg !== '.' && seg !== '..');
}

function aborted(): PersonaSpaceError {
  return new PersonaSpaceError('aborted', 'Loading was cancelled.');
}

/** The vector a per-member file holds: a raw tensor, the reference pipeline's {vector, ...}, {axis, ...}, or {layer: tensor}. */
export function memberTensor(value: PyValue, path: string): RawTensor | null {
  if (isRawTensor(value)) return value;
  if (isPyDict(value)) {
    for (const key of ['vector', 'axis', 'direction', 'vec']) {
      const v = value.get(key);
      if (isRawTensor(v)) return v;
    }
    const layered = perLayerDict(value, path);
    if (layered) return layered;
  }
  return null;
}

/** {0: (d,), 1: (d,), ...} -> (L, d), copied once (dtypes must agree). */
function perLayerDict(d: PyDict, path: string): RawTensor | null {
  if (d.size === 0) return null;
  const entries: [number, RawTensor][] = [];
  for (const [k, v] of d) {
    const idx = typeof k === 'number' ? k : typeof k === 'bigint' ? Number(k) : typeof k === 'string' && /^\d+$/.test(k) ? Number(k) : NaN;
    if (!Number.isInteger(idx) || !isRawTensor(v) || v.shape.length !== 1) return null;
    entries.push([idx, v]);
  }
  entries.sort((a, b) => a[0] - b[0]);
  entries.forEach(([idx], i) => {
    if (idx !== i) throw new DataError('layer-keys', `"${path}" holds per-layer vectors, but layer ${i} is missing.`);
  });
  const first = entries[0][1];
  const dim = first.shape[0];
  const bpe = DTYPE_BYTES[first.dtype];
  const out = new Uint8Array(entries.length * dim * bpe);
  entries.forEach(([idx, t]) => {
    if (t.dtype !== first.dtype || t.shape[0] !== dim) throw new DataError('layer-shape', `"${path}": layer ${idx} differs in shape or dtype from layer 0.`);
    out.set(t.data, idx * dim * bpe);
  });
  return { dtype: first.dtype, shape: [entries.length, dim], data: out };
}

function stringList(v: PyValue): string[] | null {
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

/** Names from a parsed names/metadata file (string list, or a {columns, rows} TSV). */
function namesFrom(v: PyValue): string[] | null {
  const list = stringList(v);
  if (list) return list;
  if (isPyDict(v) && Array.isArray(v.get('columns')) && Array.isArray(v.get('rows'))) {
    return metadataNames({ columns: v.get('columns') as string[], rows: v.get('rows') as string[][] });
  }
  return null;
}

/** Names from a names file: a JSON list of strings, a text file with one name per line, or a projector metadata TSV. */
export function readNamesFile(bytes: Uint8Array, path = 'the names file'): string[] {
  const r = readTensorFile(bytes, path);
  const names = namesFrom(r.value);
  if (!names) throw new DataError('names-file', `"${path}" is not a list of names (a JSON list of strings or one name per line).`);
  return names;
}

interface Draft {
  format: string;
  names: string[];
  kinds: MemberKind[];
  tensors: RawTensor[];
  /** Members stacked in one array: (tensor, start) pairs instead of whole tensors. */
  sources?: MemberSource[];
  layers?: number | null;
  dim?: number;
  def: RawTensor | null;
  defLabel: string | null;
  storedAxis: RawTensor | null;
  extras: Record<string, unknown>;
}

const RELEASE_DIRS: Record<string, MemberKind> = { role_vectors: 'role', trait_vectors: 'trait' };

/** Keys under which a lone tensor is an (N, d) / (N, L, d) array rather than one member's vector. */
const GENERIC_ARRAY_KEYS = new Set(['arr_0', 'x', 'data', 'array', 'vectors', 'embeddings', 'acts', 'activations', 'matrix', 'weights', 'tensor']);

export async function loadPersonaSet(files: VirtualFile[], opts: LoadOptions = {}): Promise<PersonaSet> {
  let list = files.map((f) => ({ f, path: normPath(f.path) })).filter((x) => x.path && !isHidden(x.path));
  if (list.length === 0) throw new DataError('empty', 'No files to load (hidden files are skipped).');
  // A dropped folder arrives as `folder/...`: strip a directory shared by every file.
  if (list.length > 1) {
    for (;;) {
      const first = list[0].path.split('/')[0];
      if (!list.every((x) => x.path.startsWith(first + '/'))) break;
      if (RELEASE_DIRS[first] !== undefined) break;
      list = list.map((x) => ({ ...x, path: x.path.slice(first.length + 1) }));
    }
  }
  list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const parsed: Parsed[] = [];
  const skipped: { path: string; reason: string }[] = [];
  let done = 0;
  for (const { f, path } of list) {
    if (opts.signal?.aborted) throw aborted();
    const bytes = await f.read();
    if (opts.signal?.aborted) throw aborted();
    try {
      const r = readTensorFile(bytes, path, { dataOnly: opts.dataOnly, verifyCrc: opts.verifyChecksums ?? false });
      parsed.push({ path, stem: stemOf(path), format: r.format, value: r.value });
    } catch (e) {
      // Unreadable files beside a release's vectors (a README in another format, ...) are skipped;
      // anywhere else every file matters, so the error stands.
      if (!(e instanceof PersonaSpaceError) || !isReleaseExtra(path, list.map((x) => x.path))) throw e;
      skipped.push({ path, reason: e.message });
    }
    opts.onProgress?.({ done: ++done, total: list.length, path });
  }

  const draft = isRelease(parsed) ? fromRelease(parsed) : fromGeneric(parsed, opts);
  if (skipped.length) draft.extras.skipped = skipped;
  return finish(draft, opts);
}

/** A top-level file of a release folder that is not one of its vector files. */
function isReleaseExtra(path: string, all: string[]): boolean {
  const release = all.some((p) => RELEASE_DIRS[p.split('/')[0]] !== undefined && p.includes('/'));
  if (!release || path.includes('/')) return false;
  const stem = stemOf(path);
  return stem !== 'default_vector' && stem !== 'assistant_axis';
}

function isRelease(parsed: Parsed[]): boolean {
  return parsed.some((p) => RELEASE_DIRS[p.path.split('/')[0]] !== undefined && p.path.includes('/'));
}

function fromRelease(parsed: Parsed[]): Draft {
  const d: Draft = { format: 'release', names: [], kinds: [], tensors: [], def: null, defLabel: null, storedAxis: null, extras: {} };
  const groups: Record<string, Parsed[]> = { role: [], trait: [] };
  for (const p of parsed) {
    const top = p.path.split('/')[0];
    const kind = RELEASE_DIRS[top];
    if (kind && p.path.includes('/')) {
      groups[kind].push(p);
    } else if (p.stem === 'default_vector' || p.stem === 'default') {
      d.def = need(memberTensor(p.value, p.path), p.path, 'a default vector');
      d.defLabel = p.path;
    } else if (p.stem === 'assistant_axis') {
      d.storedAxis = need(memberTensor(p.value, p.path), p.path, 'an axis');
      if (isPyDict(p.value) && p.value.has('metadata')) d.extras.assistant_axis_metadata = p.value.get('metadata');
    } else {
      d.extras[p.stem] = p.value;
    }
  }
  // Nine names of the official release are both a role and a trait (ascetic, stoic, ...): the
  // role keeps the plain name, the trait becomes "stoic (trait)", so every name stays unique.
  const roleNames = new Set(groups.role.map((p) => p.stem));
  for (const kind of ['role', 'trait'] as const) {
    for (const p of groups[kind]) {
      d.names.push(kind === 'trait' && roleNames.has(p.stem) ? `${p.stem} (trait)` : p.stem);
      d.kinds.push(kind);
      d.tensors.push(need(memberTensor(p.value, p.path), p.path, 'a vector'));
    }
  }
  return d;
}

function need(t: RawTensor | null, path: string, what: string): RawTensor {
  if (!t) throw new DataError('no-vector', `"${path}" does not hold ${what} (expected a tensor or a dict with a "vector" entry).`);
  return t;
}

function fromGeneric(parsed: Parsed[], opts: LoadOptions): Draft {
  const d: Draft = { format: '', names: [], kinds: [], tensors: [], def: null, defLabel: null, storedAxis: null, extras: {} };
  // Names files: lists of strings, or metadata TSVs.
  const namesFiles = parsed.filter((p) => namesFrom(p.value) !== null && (p.format === 'json' || p.format === 'text'));
  let data = parsed.filter((p) => !namesFiles.includes(p));
  const defaultFile = data.find((p) => p.stem === 'default_vector');
  if (defaultFile) {
    d.def = need(memberTensor(defaultFile.value, defaultFile.path), defaultFile.path, 'a default vector');
    d.defLabel = defaultFile.path;
    data = data.filter((p) => p !== defaultFile);
  }
  const axisFile = data.find((p) => p.stem === 'assistant_axis');
  if (axisFile && data.length > 2) {
    d.storedAxis = memberTensor(axisFile.value, axisFile.path);
    data = data.filter((p) => p !== axisFile);
  }
  if (data.length === 0) throw new DataError('no-vectors', 'None of the files holds vectors (only names or metadata were found).');

  const names = (): string[] | null => {
    if (opts.names) return opts.names;
    if (namesFiles.length > 1) throw new DataError('names-files', `Several names files were found (${namesFiles.map((p) => p.path).join(', ')}); keep one.`);
    return namesFiles.length ? namesFrom(namesFiles[0].value) : null;
  };

  if (data.length === 1) {
    const p = data[0];
    const v = p.value;
    // One unnamed (n_layers, d) or (d,) tensor is an axis, never personas (80 layers are not 80 roles).
    const lone = opts.defaultNames?.length ? null : axisTensorOf(v);
    if (lone && names() === null) throw new AxisOnlyError(p.path, lone.tensor);
    // An (N, d) / (N, L, d) array with names.
    // A dict holding one (a, b) tensor is an array when names come with it or its key says "array"
    // (np.savez's arr_0, vectors, ...); under any other key it is one member with layers.
    const stacked = stackedArray(v);
    const onlyKey = isPyDict(v) && v.size === 1 ? String([...v.keys()][0]) : null;
    if (stacked && (onlyKey === null || GENERIC_ARRAY_KEYS.has(onlyKey.toLowerCase()) || names() !== null)) {
      const ns = names();
      if (!ns) {
        throw new DataError('names-needed', `"${p.path}" holds an array of shape [${stacked.shape.join(', ')}]; give its row names (a names file or --names).`);
      }
      return fromStacked(d, stacked, ns, p.format === 'tsv' ? 'tsv' : 'array+names');
    }
    if (isPyDict(v)) {
      const sub = v.get('vectors');
      const subNames = v.get('names');
      if (isRawTensor(sub) && stringList(subNames ?? null)) return fromStacked(d, sub, opts.names ?? (subNames as string[]), 'array+names');
      if (!memberTensor(v, p.path)) {
        // A dict name -> tensor (or name -> {vector, ...}).
        d.format = p.format === 'safetensors' ? 'safetensors' : p.format === 'npz' ? 'npz' : 'dict-file';
        for (const [k, x] of v) {
          const t = isRawTensor(x) ? x : isPyDict(x) ? memberTensor(x, `${p.path}[${String(k)}]`) : null;
          if (t) {
            d.names.push(String(k));
            d.tensors.push(t);
            d.kinds.push('vector');
          } else d.extras[String(k)] = x;
        }
        if (d.tensors.length === 0) throw new DataError('no-vectors', `"${p.path}" holds a dictionary without any tensors.`);
        return d;
      }
    }
    if (v instanceof PyObject) {
      throw new DataError('no-vectors', `"${p.path}" holds a ${v.__class__} object, not vectors; read it with readTensorFile in data-only mode.`);
    }
  }

  // A folder of per-member files.
  const formats = new Set(data.map((p) => p.format));
  d.format = formats.size === 1 ? `${[...formats][0]}-folder` : 'folder';
  // Files that each hold a dict of several tensors (the reference pipeline's activations/<role>.pt,
  // key -> per-response vector) make a folder of many members, named "<file>/<key>".
  const many = data.every((p) => isPyDict(p.value) && !memberTensor(p.value, p.path) && tensorEntries(p.value).length > 0);
  if (many) {
    d.format = `${d.format}-entries`;
    for (const p of data) {
      for (const [k, t] of tensorEntries(p.value as PyDict)) {
        d.names.push(`${p.stem}/${k}`);
        d.tensors.push(t);
        d.kinds.push('vector');
      }
    }
    return d;
  }
  for (const p of data) {
    const t = memberTensor(p.value, p.path);
    if (!t) throw new DataError('no-vector', `"${p.path}" does not hold a vector (expected a tensor or a dict with a "vector" entry).`);
    d.names.push(p.stem);
    d.tensors.push(t);
    d.kinds.push(d.format === 'pt-folder' ? 'role' : 'vector');
  }
  return d;
}

function tensorEntries(d: PyDict): [string, RawTensor][] {
  const out: [string, RawTensor][] = [];
  for (const [k, v] of d) if (isRawTensor(v)) out.push([String(k), v]);
  return out;
}

/** A rank-2/3 tensor that stands for N members (a bare array, or a dict/npz/safetensors with just one such array). */
function stackedArray(v: PyValue): RawTensor | null {
  if (isRawTensor(v)) return v.shape.length === 2 || v.shape.length === 3 ? v : null;
  if (isPyDict(v) && v.size === 1) {
    const only = [...v.values()][0];
    if (isRawTensor(only) && (only.shape.length === 2 || only.shape.length === 3)) return only;
  }
  return null;
}

function fromStacked(d: Draft, t: RawTensor, names: readonly string[], format: string): Draft {
  if (t.shape.length !== 2 && t.shape.length !== 3) throw new DataError('shape', `An array of shape [${t.shape.join(', ')}] is not (N, d) or (N, L, d).`);
  const N = t.shape[0];
  let ns = [...names];
  // Projector metadata sometimes carries a header row for a single column; tolerate exactly one extra line.
  if (ns.length === N + 1 && (ns[0].toLowerCase() === 'name' || ns[0].toLowerCase() === 'names' || ns[0].toLowerCase() === 'role')) ns = ns.slice(1);
  if (ns.length !== N) throw new DataError('names-count', `There are ${ns.length} names for ${N} rows of the array of shape [${t.shape.join(', ')}].`);
  const layers = t.shape.length === 3 ? t.shape[1] : null;
  const dim = t.shape[t.shape.length - 1];
  const per = (layers ?? 1) * dim;
  if (numel(t.shape) * DTYPE_BYTES[t.dtype] !== t.data.length) throw new DataError('tensor-bytes', 'The array holds the wrong number of bytes for its shape.');
  d.format = format;
  d.names = ns;
  d.kinds = ns.map(() => 'vector');
  d.sources = ns.map((_, i) => ({ tensor: t, start: i * per }));
  d.layers = layers;
  d.dim = dim;
  return d;
}

function finish(d: Draft, opts: LoadOptions): PersonaSet {
  let names = d.names;
  let kinds: MemberKind[] | undefined = d.kinds;
  let members: MemberSource[];
  let layers: number | null;
  let dim: number;
  if (d.sources) {
    members = d.sources;
    layers = d.layers ?? null;
    dim = d.dim ?? 0;
  } else {
    if (d.tensors.length === 0) throw new DataError('no-vectors', 'No vectors were found.');
    // A member called `default` is the default (unless it is the only member).
    const di = names.indexOf('default');
    // Not when --default names `default` itself among the members to average (withDefaultNames does it).
    if (di >= 0 && names.length > 1 && !d.def && !opts.defaultNames?.includes('default')) {
      d.def = d.tensors[di];
      d.defLabel = 'default';
      names = names.filter((_, i) => i !== di);
      kinds = kinds.filter((_, i) => i !== di);
      d.tensors = d.tensors.filter((_, i) => i !== di);
    }
    // Same shape everywhere; name the odd one out against the most common shape.
    const key = (t: RawTensor) => t.shape.join('x');
    const counts = new Map<string, number>();
    for (const t of d.tensors) counts.set(key(t), (counts.get(key(t)) ?? 0) + 1);
    const common = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    const refIdx = d.tensors.findIndex((t) => key(t) === common);
    d.tensors.forEach((t, i) => {
      if (key(t) !== common) throw oddOneOut(names[i], t.shape, d.tensors[refIdx].shape, names[refIdx]);
    });
    ({ layers, dim } = memberShape(d.tensors[refIdx]));
    members = d.tensors.map((t) => ({ tensor: t, start: 0 }));
  }
  let defaultSource: MemberSource | MemberSource[] | null = null;
  let defaultLabel = d.defLabel;
  // A row called `default` of a stacked array is the default too (what `convert` writes).
  const dr = names.indexOf('default');
  if (d.sources && dr >= 0 && names.length > 1 && !d.def && !opts.defaultNames?.includes('default')) {
    defaultSource = members[dr];
    defaultLabel = 'default';
    names = names.filter((_, i) => i !== dr);
    kinds = kinds?.filter((_, i) => i !== dr);
    members = members.filter((_, i) => i !== dr);
  }
  if (d.def) {
    if (d.def.shape.join('x') !== (layers === null ? `${dim}` : `${layers}x${dim}`)) {
      throw new DataError('default-shape', `The default vector has shape [${d.def.shape.join(', ')}], unlike the members' [${layers === null ? dim : `${layers}, ${dim}`}].`);
    }
    defaultSource = { tensor: d.def, start: 0 };
  }
  let storedAxis = d.storedAxis;
  if (storedAxis && storedAxis.shape[storedAxis.shape.length - 1] !== dim) storedAxis = null;
  return personaSetFromSources(
    withDefaultNames({ format: d.format, names, kinds, members, layers, dim, defaultSource, defaultLabel, storedAxis, extras: d.extras }, opts.defaultNames),
  );
}
