/**
 * PersonaSet built from member tensors kept in their stored dtype. Each member is a run of
 * L*d (or d) elements inside some RawTensor (its own file's tensor, or one row of an (N, L, d)
 * array), so `layer(l)` decodes just N x d values and nothing is ever decoded whole.
 */
import { DataError } from '../errors';
import { DTYPE_BYTES, decodeF32, numel, tensorFromF32, type DType, type RawTensor } from '../tensor';
import type { MemberKind, PersonaSet } from './types';

/** Where one member's values live: `count` elements of `tensor` from element `start`. */
export interface MemberSource {
  tensor: RawTensor;
  start: number;
}

export interface PersonaSetInit {
  format: string;
  names: string[];
  kinds?: MemberKind[];
  /** Per-member sources (same length as names). */
  members: MemberSource[];
  /** null for single (d,) vectors. */
  layers: number | null;
  dim: number;
  /** The default vector as a source, or the list of member sources whose mean it is. */
  defaultSource?: MemberSource | MemberSource[] | null;
  defaultLabel?: string | null;
  storedAxis?: RawTensor | null;
  extras?: Record<string, unknown>;
}

class TensorPersonaSet implements PersonaSet {
  readonly format: string;
  readonly names: readonly string[];
  readonly kinds: readonly MemberKind[];
  readonly layers: number | null;
  readonly dim: number;
  readonly dtype: DType;
  readonly defaultLabel: string | null;
  readonly storedAxis: RawTensor | null;
  readonly extras: Record<string, unknown>;
  readonly byteSize: number;
  private readonly members: MemberSource[];
  private readonly def: MemberSource[] | null;

  constructor(init: PersonaSetInit) {
    const { names, members, dim, layers } = init;
    if (names.length !== members.length) throw new DataError('names-count', `There are ${names.length} names for ${members.length} vectors.`);
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) throw new DataError('duplicate-name', `The name "${n}" appears twice.`);
      seen.add(n);
    }
    if (!(dim > 0)) throw new DataError('dim', 'The vectors have no dimensions.');
    if (layers !== null && !(layers > 0)) throw new DataError('layers', 'The vectors have no layers.');
    const per = (layers ?? 1) * dim;
    const check = (s: MemberSource, what: string) => {
      if (s.start < 0 || s.start + per > numel(s.tensor.shape)) throw new DataError('member-range', `${what} lies outside its tensor.`);
    };
    members.forEach((m, i) => check(m, `Member "${names[i]}"`));
    this.format = init.format;
    this.names = names;
    this.kinds = init.kinds ?? names.map(() => 'vector' as const);
    this.layers = layers;
    this.dim = dim;
    this.members = members;
    const d = init.defaultSource ?? null;
    this.def = d === null ? null : Array.isArray(d) ? d : [d];
    this.def?.forEach((s) => check(s, 'The default vector'));
    if (this.def && this.def.length === 0) this.def = null;
    this.defaultLabel = this.def ? (init.defaultLabel ?? 'default') : null;
    this.storedAxis = init.storedAxis ?? null;
    this.extras = init.extras ?? {};
    // Most common dtype among members (they may differ; each is decoded on its own).
    const counts = new Map<DType, number>();
    for (const m of members) counts.set(m.tensor.dtype, (counts.get(m.tensor.dtype) ?? 0) + 1);
    let best: DType = members[0]?.tensor.dtype ?? 'float32';
    for (const [k, c] of counts) if (c > (counts.get(best) ?? 0)) best = k;
    this.dtype = best;
    const buffers = new Set<Uint8Array>();
    for (const m of members) buffers.add(m.tensor.data);
    for (const m of this.def ?? []) buffers.add(m.tensor.data);
    let bytes = 0;
    for (const b of buffers) bytes += b.byteLength;
    this.byteSize = bytes;
  }

  private checkLayer(layer: number): number {
    if (this.layers === null) return 0;
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) {
      throw new DataError('layer', `Layer ${layer} does not exist; this set has layers 0 to ${this.layers - 1}.`);
    }
    return layer;
  }

  /** Per-member typed views over the whole member (bf16 as u16, f32 as f32), built once; null where decodeF32 must do it. */
  private views: (Uint16Array | Float32Array | null)[] | null = null;

  private memberViews(): (Uint16Array | Float32Array | null)[] {
    if (this.views) return this.views;
    const per = (this.layers ?? 1) * this.dim;
    this.views = this.members.map(({ tensor: t, start }) => {
      const bpe = DTYPE_BYTES[t.dtype];
      const off = t.data.byteOffset + start * bpe;
      if (off % bpe !== 0) return null;
      if (t.dtype === 'bfloat16') return new Uint16Array(t.data.buffer, off, per);
      if (t.dtype === 'float32') return new Float32Array(t.data.buffer, off, per);
      return null;
    });
    return this.views;
  }

  layer(layer: number, into?: Float32Array): Float32Array {
    const l = this.checkLayer(layer);
    const d = this.dim;
    if (into && into.length !== this.members.length * d) {
      throw new DataError('out-size', `The output buffer holds ${into.length} values; ${this.members.length} x ${d} are needed.`);
    }
    const out = into ?? new Float32Array(this.members.length * d);
    const out32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
    const views = this.memberViews();
    const base = l * d;
    // Hot path of every analysis: one tight loop per member, no allocation per member.
    for (let i = 0; i < this.members.length; i++) {
      const v = views[i];
      const o = i * d;
      if (v instanceof Uint16Array) {
        for (let j = 0; j < d; j++) out32[o + j] = v[base + j] << 16;
      } else if (v instanceof Float32Array) {
        out.set(v.subarray(base, base + d), o);
      } else {
        const m = this.members[i];
        decodeF32(m.tensor, m.start + base, d, out.subarray(o, o + d));
      }
    }
    return out;
  }

  vector(index: number, layer: number): Float32Array {
    const l = this.checkLayer(layer);
    const m = this.members[index];
    if (!m) throw new DataError('member', `There is no member ${index}; the set has ${this.members.length}.`);
    return decodeF32(m.tensor, m.start + l * this.dim, this.dim);
  }

  /** Every member stacked in one raw tensor, (N, d) or (N, L, d), in the stored dtype (float32 if members differ). */
  stacked(): RawTensor {
    const per = (this.layers ?? 1) * this.dim;
    const shape = this.layers === null ? [this.members.length, this.dim] : [this.members.length, this.layers, this.dim];
    const uniform = this.members.every((m) => m.tensor.dtype === this.dtype);
    if (!uniform) {
      const out = new Float32Array(this.members.length * per);
      this.members.forEach((m, i) => decodeF32(m.tensor, m.start, per, out.subarray(i * per, (i + 1) * per)));
      return tensorFromF32(out, shape);
    }
    const bpe = DTYPE_BYTES[this.dtype];
    const first = this.members[0];
    // Already one contiguous block (an (N, ...) array source): a view, no copy.
    if (first && this.members.every((m, i) => m.tensor === first.tensor && m.start === first.start + i * per)) {
      return { dtype: this.dtype, shape, data: first.tensor.data.subarray(first.start * bpe, (first.start + this.members.length * per) * bpe) };
    }
    const out = new Uint8Array(this.members.length * per * bpe);
    this.members.forEach((m, i) => out.set(m.tensor.data.subarray(m.start * bpe, (m.start + per) * bpe), i * per * bpe));
    return { dtype: this.dtype, shape, data: out };
  }

  /** A default held as one stored vector, as a view in its stored dtype; null otherwise (none, or a mean). */
  storedDefault(): RawTensor | null {
    if (this.def?.length !== 1) return null;
    const shape = this.layers === null ? [this.dim] : [this.layers, this.dim];
    const per = (this.layers ?? 1) * this.dim;
    const s = this.def[0];
    const bpe = DTYPE_BYTES[s.tensor.dtype];
    return { dtype: s.tensor.dtype, shape, data: s.tensor.data.subarray(s.start * bpe, (s.start + per) * bpe) };
  }

  defaultAt(layer: number): Float32Array | null {
    if (!this.def) return null;
    const l = this.checkLayer(layer);
    const d = this.dim;
    if (this.def.length === 1) return decodeF32(this.def[0].tensor, this.def[0].start + l * d, d);
    const acc = new Float64Array(d);
    const tmp = new Float32Array(d);
    for (const s of this.def) {
      decodeF32(s.tensor, s.start + l * d, d, tmp);
      for (let j = 0; j < d; j++) acc[j] += tmp[j];
    }
    const out = new Float32Array(d);
    for (let j = 0; j < d; j++) out[j] = acc[j] / this.def.length;
    return out;
  }
}

export function personaSetFromSources(init: PersonaSetInit): PersonaSet {
  return new TensorPersonaSet(init);
}

/**
 * All members as one raw tensor (N, d) / (N, L, d) for writing (convert): the stored dtype is
 * kept, so a bf16 release is copied once in bf16 and never widened to float32 as a whole.
 * Works on any PersonaSet; sets not built here are assembled layer by layer in float32.
 */
export function stackMembers(set: PersonaSet): RawTensor {
  if (set instanceof TensorPersonaSet) return set.stacked();
  const L = set.layers ?? 1;
  const N = set.names.length;
  const out = new Float32Array(N * L * set.dim);
  for (let l = 0; l < L; l++) {
    const x = set.layer(l);
    for (let i = 0; i < N; i++) out.set(x.subarray(i * set.dim, (i + 1) * set.dim), (i * L + l) * set.dim);
  }
  return tensorFromF32(out, set.layers === null ? [N, set.dim] : [N, L, set.dim]);
}

/**
 * The default vector as a raw tensor ((d,) or (L, d)), or null: a stored default keeps its
 * dtype (a view, no copy); a mean of several members comes back as float32.
 */
export function defaultTensor(set: PersonaSet): RawTensor | null {
  const stored = set instanceof TensorPersonaSet ? set.storedDefault() : null;
  if (stored) return stored;
  if (set.defaultAt(0) === null) return null;
  const L = set.layers ?? 1;
  const out = new Float32Array(L * set.dim);
  for (let l = 0; l < L; l++) out.set(set.defaultAt(l) as Float32Array, l * set.dim);
  return tensorFromF32(out, set.layers === null ? [set.dim] : [L, set.dim]);
}

/** Interpret a member tensor's shape: (d,) -> single layer, (L, d) -> L layers. */
export function memberShape(t: RawTensor): { layers: number | null; dim: number } {
  if (t.shape.length === 1) return { layers: null, dim: t.shape[0] };
  if (t.shape.length === 2) return { layers: t.shape[0], dim: t.shape[1] };
  throw new DataError('member-shape', `A vector of shape [${t.shape.join(', ')}] is neither (d,) nor (layers, d).`);
}

export interface CreatePersonaSetInput {
  names: string[];
  /**
   * The vectors: one tensor per member ((d,) or (L, d)), one stacked tensor (N, d) / (N, L, d),
   * or float32 arrays (one per member, or one N*d row-major block with `dim` given).
   */
  vectors: RawTensor[] | RawTensor | Float32Array[] | Float32Array;
  /** Needed when `vectors` is a Float32Array block or Float32Array[] with layers: the vector length. */
  dim?: number;
  /** Layers for Float32Array input ((L*d) per member); null/undefined = single layer. */
  layers?: number | null;
  kinds?: MemberKind[];
  /** Default vector ((d,) / (L, d)), or member names whose mean is the default (they leave the members). */
  default?: RawTensor | Float32Array | null;
  defaultNames?: string[];
  defaultLabel?: string;
  storedAxis?: RawTensor | null;
  extras?: Record<string, unknown>;
  format?: string;
}

/** A PersonaSet from in-memory arrays (synthetic sets, benchmarks, the UI's many-point case). */
export function createPersonaSet(input: CreatePersonaSetInput): PersonaSet {
  const names = [...input.names];
  let members: MemberSource[];
  let layers: number | null;
  let dim: number;
  const v = input.vectors;
  if (v instanceof Float32Array) {
    const N = names.length;
    const per = N ? v.length / N : 0;
    dim = input.dim ?? (input.layers ? per / input.layers : per);
    layers = input.layers ?? null;
    if (!Number.isInteger(per) || per !== (layers ?? 1) * dim) {
      throw new DataError('shape', `${v.length} values do not split into ${N} vectors of ${(layers ?? 1) * dim}.`);
    }
    const t = tensorFromF32(v, layers === null ? [N, dim] : [N, layers, dim]);
    members = names.map((_, i) => ({ tensor: t, start: i * per }));
  } else if (Array.isArray(v) && (v.length === 0 || v[0] instanceof Float32Array)) {
    const arrs = v as Float32Array[];
    layers = input.layers ?? null;
    dim = input.dim ?? (arrs[0] ? arrs[0].length / (layers ?? 1) : 0);
    members = arrs.map((a, i) => {
      if (a.length !== (layers ?? 1) * dim) throw new DataError('shape', `Vector "${names[i]}" has ${a.length} values, not ${(layers ?? 1) * dim}.`);
      return { tensor: tensorFromF32(a, layers === null ? [dim] : [layers, dim]), start: 0 };
    });
  } else if (Array.isArray(v)) {
    const ts = v as RawTensor[];
    if (ts.length === 0) throw new DataError('empty', 'The set has no vectors.');
    ({ layers, dim } = memberShape(ts[0]));
    ts.forEach((t, i) => {
      const s = memberShape(t);
      if (s.layers !== layers || s.dim !== dim) throw oddOneOut(names[i], t.shape, ts[0].shape, names[0]);
    });
    members = ts.map((t) => ({ tensor: t, start: 0 }));
  } else {
    const t = v as RawTensor;
    if (t.shape.length !== 2 && t.shape.length !== 3) throw new DataError('shape', `An array of shape [${t.shape.join(', ')}] is not (N, d) or (N, L, d).`);
    if (t.shape[0] !== names.length) throw new DataError('names-count', `There are ${names.length} names for ${t.shape[0]} rows.`);
    layers = t.shape.length === 3 ? t.shape[1] : null;
    dim = t.shape[t.shape.length - 1];
    const per = (layers ?? 1) * dim;
    members = names.map((_, i) => ({ tensor: t, start: i * per }));
  }
  let defaultSource: MemberSource | MemberSource[] | null = null;
  let defaultLabel = input.defaultLabel ?? null;
  if (input.default) {
    const t = input.default instanceof Float32Array ? tensorFromF32(input.default, layers === null ? [dim] : [layers, dim]) : input.default;
    const s = memberShape(t);
    if (s.dim !== dim || s.layers !== layers) throw new DataError('default-shape', `The default vector has shape [${t.shape.join(', ')}], unlike the members.`);
    defaultSource = { tensor: t, start: 0 };
    defaultLabel ??= 'default';
  }
  return personaSetFromSources(
    withDefaultNames(
      {
        format: input.format ?? 'memory',
        names,
        kinds: input.kinds ? [...input.kinds] : undefined,
        members,
        layers,
        dim,
        defaultSource,
        defaultLabel,
        storedAxis: input.storedAxis,
        extras: input.extras,
      },
      input.defaultNames,
    ),
  );
}

export function oddOneOut(name: string, shape: readonly number[], ref: readonly number[], refName: string): DataError {
  return new DataError(
    'member-shape',
    `"${name}" has shape [${shape.join(', ')}] but "${refName}" has [${ref.join(', ')}]; all vectors must have the same shape.`,
    { name, shape, ref },
  );
}

/**
 * `init` with the named members (when any are named) removed and their mean made the default,
 * replacing whatever default it had.
 */
export function withDefaultNames(init: PersonaSetInit, defaultNames: readonly string[] | undefined): PersonaSetInit {
  if (!defaultNames?.length) return init;
  const { names, members, kinds } = init;
  const idx = defaultNames.map((n) => {
    const i = names.indexOf(n);
    if (i < 0) throw new DataError('default-name', `"${n}" is not a member of the set, so it cannot be part of the default.`);
    return i;
  });
  const drop = new Set(idx);
  const keep = names.map((_, i) => i).filter((i) => !drop.has(i));
  if (keep.length === 0) throw new DataError('default-name', 'Every member was named as default; no members would remain.');
  return {
    ...init,
    names: keep.map((i) => names[i]),
    members: keep.map((i) => members[i]),
    kinds: kinds ? keep.map((i) => kinds[i]) : undefined,
    defaultSource: idx.map((i) => members[i]),
    defaultLabel: defaultNames.length === 1 ? defaultNames[0] : `mean of ${defaultNames.join(', ')}`,
  };
}

/**
 * Members that look like defaults (`default`, `default_1`, `Default-2`, `default (trait)`), in
 * set order: what a "default = mean of" field offers when a set holds several default rollouts.
 */
export function defaultCandidates(names: readonly string[]): string[] {
  return names.filter((n) => /^default(?![a-z])/i.test(n.trim()));
}
