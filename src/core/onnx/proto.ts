/**
 * ONNX ModelProto reading and writing with protobufjs, plus small constructors for graph pieces.
 *
 * Decoded objects are plain JS objects with ONNX's own snake_case field names. `bytes` fields
 * (raw_data, attribute `s`) are views into the input buffer: decoding a 500 MB model copies no
 * weights. int64 fields come back as JS numbers (exact up to 2^53; INT64_MAX/MIN, which exports use
 * as "to the end" in Slice, are restored exactly on encode). Repeated fields are always arrays.
 */
import protobuf from 'protobufjs';
import { FormatError } from '../errors';
import { ONNX_PROTO } from './schema';

// ---------- types ----------

export interface StringStringEntry { key: string; value: string }
export interface OperatorSetId { domain?: string; version: number }

export interface Dimension { dim_value?: number; dim_param?: string; denotation?: string }
export interface TensorShape { dim: Dimension[] }
export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShape };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShape };
  denotation?: string;
}
export interface ValueInfo { name: string; type?: TypeProto; doc_string?: string; metadata_props?: StringStringEntry[] }

export interface TensorProto {
  dims: number[];
  data_type?: number;
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  string_data?: Uint8Array[];
  /** keys `location`, `offset`, `length` (and optionally `checksum`) when data_location = EXTERNAL. */
  external_data?: StringStringEntry[];
  data_location?: number;
  metadata_props?: StringStringEntry[];
}

export interface SparseTensorProto { values?: TensorProto; indices?: TensorProto; dims: number[] }

export interface AttributeProto {
  name: string;
  type?: number;
  ref_attr_name?: string;
  doc_string?: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntry[];
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input: ValueInfo[];
  output: ValueInfo[];
  value_info: ValueInfo[];
  quantization_annotation?: { tensor_name?: string; quant_parameter_tensor_names?: StringStringEntry[] }[];
  metadata_props?: StringStringEntry[];
}

export interface FunctionProto {
  name?: string;
  input: string[];
  output: string[];
  attribute?: string[];
  attribute_proto?: AttributeProto[];
  node: NodeProto[];
  doc_string?: string;
  opset_import: OperatorSetId[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfo[];
  metadata_props?: StringStringEntry[];
}

export interface ModelProto {
  ir_version?: number;
  opset_import: OperatorSetId[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph: GraphProto;
  metadata_props?: StringStringEntry[];
  functions?: FunctionProto[];
}

/** TensorProto.DataType values. */
export const TensorDataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
  UINT4: 21,
  INT4: 22,
} as const;
export type TensorDataTypeName = keyof typeof TensorDataType;

/** Bytes per element for the fixed-size types (UINT4/INT4 are packed two per byte). */
export const DATA_TYPE_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

export const AttributeType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

export const DATA_LOCATION_EXTERNAL = 1;

// ---------- codec ----------

let modelType: protobuf.Type | undefined;
function getModelType(): protobuf.Type {
  if (!modelType) {
    const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, arrays: true, defaults: false };

/** Decode an ONNX model. Weight bytes stay views into `bytes` (keep `bytes` alive and unchanged). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const T = getModelType();
  let msg: protobuf.Message;
  try {
    msg = T.decode(bytes);
  } catch (e) {
    throw new FormatError('onnx-decode', `This file is not a valid ONNX model (${(e as Error).message}).`);
  }
  const obj = T.toObject(msg, TO_OBJECT) as unknown as ModelProto;
  if (!obj.graph) throw new FormatError('onnx-no-graph', 'This ONNX file holds no graph.');
  return obj;
}

const TWO63 = 2 ** 63;
/** A number that protobufjs' writer would wrap (>= 2^63) becomes an exact LongBits-like value. */
function safeLong(v: number): number | { low: number; high: number } {
  if (v >= TWO63) return { low: -1, high: 0x7fffffff };
  if (v < -TWO63) return { low: 0, high: 0x80000000 | 0 };
  return v;
}
function needsLongFix(arr: number[] | undefined): boolean {
  return !!arr && arr.some((v) => v >= TWO63 || v < -TWO63);
}

function fixTensor(t: TensorProto): TensorProto {
  return needsLongFix(t.int64_data) ? { ...t, int64_data: t.int64_data!.map(safeLong) as unknown as number[] } : t;
}
function fixAttr(a: AttributeProto): AttributeProto {
  let out = a;
  if (a.i !== undefined && (a.i >= TWO63 || a.i < -TWO63)) out = { ...out, i: safeLong(a.i) as unknown as number };
  if (needsLongFix(a.ints)) out = { ...out, ints: a.ints!.map(safeLong) as unknown as number[] };
  if (a.t) { const t = fixTensor(a.t); if (t !== a.t) out = { ...out, t }; }
  if (a.g) out = { ...out, g: fixGraph(a.g) };
  if (a.graphs?.length) out = { ...out, graphs: a.graphs.map(fixGraph) };
  return out;
}
function fixNode(n: NodeProto): NodeProto {
  return n.attribute?.length ? { ...n, attribute: n.attribute.map(fixAttr) } : n;
}
function fixGraph(g: GraphProto): GraphProto {
  return { ...g, node: g.node.map(fixNode), initializer: g.initializer.map(fixTensor) };
}

function lookup(name: string): protobuf.Type {
  getModelType();
  return getModelType().root.lookupType(name);
}

function toU8(b: Uint8Array): Uint8Array {
  // In Node protobufjs returns a Buffer; hand back a plain Uint8Array view of it.
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** tag + length prefix of a length-delimited field. */
function lenPrefix(field: number, len: number): Uint8Array {
  const tag = varint(field * 8 + 2);
  const l = varint(len);
  const out = new Uint8Array(tag.length + l.length);
  out.set(tag, 0);
  out.set(l, tag.length);
  return out;
}

const sizeOf = (chunks: Uint8Array[]) => chunks.reduce((a, c) => a + c.byteLength, 0);

/** Large raw_data fields are written by hand (protobufjs' writer re-copies nested messages). */
const BIG = 1 << 16;

function tensorChunks(t: TensorProto): Uint8Array[] {
  const T = lookup('onnx.TensorProto');
  if (!t.raw_data || t.raw_data.byteLength < BIG) return [toU8(T.encode(fixTensor(t) as unknown as protobuf.Message).finish())];
  const { raw_data, ...rest } = t;
  return [toU8(T.encode(fixTensor(rest as TensorProto) as unknown as protobuf.Message).finish()), lenPrefix(9, raw_data.byteLength), raw_data];
}

/**
 * A model's serialisation as a list of chunks whose concatenation is the ModelProto (field order
 * within a message does not matter to protobuf readers, so initializers are appended after the
 * rest of the graph). Large weights are referenced, not copied: write the chunks out one by one
 * to save a whole copy of the model.
 */
export function encodeModelChunks(model: ModelProto): Uint8Array[] {
  const M = lookup('onnx.ModelProto');
  const G = lookup('onnx.GraphProto');
  const { initializer, ...graphRest } = fixGraph(model.graph);
  const graphChunks: Uint8Array[] = [toU8(G.encode({ ...graphRest, initializer: [] } as unknown as protobuf.Message).finish())];
  for (const t of initializer) {
    const tc = tensorChunks(t);
    graphChunks.push(lenPrefix(5, sizeOf(tc)), ...tc);
  }
  const head: ModelProto = { ...model, graph: undefined as unknown as GraphProto, functions: model.functions?.map((f) => ({ ...f, node: f.node.map(fixNode) })) };
  const headBytes = toU8(M.encode(head as unknown as protobuf.Message).finish());
  return [headBytes, lenPrefix(7, sizeOf(graphChunks)), ...graphChunks];
}

/** Encode a model into one buffer (each weight byte is copied once). */
export function encodeModel(model: ModelProto): Uint8Array {
  const chunks = encodeModelChunks(model);
  const out = new Uint8Array(sizeOf(chunks));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

// ---------- constructors ----------

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: AttributeProto[] = [],
  domain = '',
): NodeProto {
  return { op_type: opType, input: inputs, output: outputs, name, attribute: attributes, domain: domain || undefined };
}

export const attrInt = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
export const attrFloat = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f });
export const attrInts = (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints });
export const attrFloats = (name: string, floats: number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, floats });
export const attrString = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) });
export const attrTensor = (name: string, t: TensorProto): AttributeProto => ({ name, type: AttributeType.TENSOR, t });

/** Look up an attribute value on a node (undefined when absent). */
export function getAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}
export function getAttrInt(node: NodeProto, name: string, dflt?: number): number | undefined {
  return getAttr(node, name)?.i ?? dflt;
}
export function getAttrFloat(node: NodeProto, name: string, dflt?: number): number | undefined {
  return getAttr(node, name)?.f ?? dflt;
}
export function getAttrString(node: NodeProto, name: string): string | undefined {
  const s = getAttr(node, name)?.s;
  return s ? new TextDecoder().decode(s) : undefined;
}

/** A tensor whose data lives in raw_data (little-endian bytes; a view is kept, not copied). */
export function makeTensor(name: string, dataType: number, dims: number[], raw: Uint8Array | ArrayBufferView): TensorProto {
  const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return { name, data_type: dataType, dims, raw_data: bytes };
}
export const makeF32Tensor = (name: string, dims: number[], values: Float32Array | number[]): TensorProto =>
  makeTensor(name, TensorDataType.FLOAT, dims, values instanceof Float32Array ? values : new Float32Array(values));
/** A JS number as an int64, saturating at INT64_MAX/MIN (so 2^63 from a decoded INT64_MAX stays INT64_MAX). */
export function toBigInt64(v: number): bigint {
  if (v >= TWO63) return 0x7fffffffffffffffn;
  if (v < -TWO63) return -0x8000000000000000n;
  return BigInt(Math.trunc(v));
}
export const makeI64Tensor = (name: string, dims: number[], values: number[]): TensorProto =>
  makeTensor(name, TensorDataType.INT64, dims, new BigInt64Array(values.map(toBigInt64)));
export const makeI32Tensor = (name: string, dims: number[], values: number[]): TensorProto =>
  makeTensor(name, TensorDataType.INT32, dims, new Int32Array(values));

/** A tensor whose bytes live in an external file (`location` relative to the model file). */
export function makeExternalTensor(name: string, dataType: number, dims: number[], location: string, offset: number, length: number): TensorProto {
  return {
    name,
    data_type: dataType,
    dims,
    data_location: DATA_LOCATION_EXTERNAL,
    external_data: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}

/** A graph input/output description; a string dim is a symbolic dimension (dim_param). */
export function makeValueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

export interface ExternalDataRef { location: string; offset: number; length?: number }

/** Where an external tensor's bytes are, or undefined when its data is inside the file. */
export function externalDataRef(t: TensorProto): ExternalDataRef | undefined {
  if (t.data_location !== DATA_LOCATION_EXTERNAL) return undefined;
  const kv = new Map((t.external_data ?? []).map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (!location) throw new FormatError('onnx-external', `Tensor ${t.name} is marked external but names no file.`);
  return { location, offset: Number(kv.get('offset') ?? 0), length: kv.has('length') ? Number(kv.get('length')) : undefined };
}

/**
 * The raw little-endian bytes of a tensor: raw_data, an external file's slice (files looked up by
 * location in `external`), or the typed repeated fields re-packed (a copy).
 */
export function tensorBytes(t: TensorProto, external?: (location: string) => Uint8Array | undefined): Uint8Array {
  const ref = externalDataRef(t);
  if (ref) {
    const file = external?.(ref.location);
    if (!file) throw new FormatError('onnx-external-missing', `Tensor ${t.name} needs external data file "${ref.location}", which was not given.`);
    const n = t.dims.reduce((a, b) => a * b, 1);
    const len = ref.length ?? n * (DATA_TYPE_BYTES[t.data_type ?? 0] ?? 0);
    if (ref.offset + len > file.byteLength) throw new FormatError('onnx-external-range', `Tensor ${t.name} reaches past the end of "${ref.location}".`);
    return file.subarray(ref.offset, ref.offset + len);
  }
  if (t.raw_data && t.raw_data.byteLength) return t.raw_data;
  const dt = t.data_type ?? 0;
  const wrap = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (dt === TensorDataType.FLOAT && t.float_data?.length) return wrap(new Float32Array(t.float_data));
  if (dt === TensorDataType.DOUBLE && t.double_data?.length) return wrap(new Float64Array(t.double_data));
  if (dt === TensorDataType.INT64 && t.int64_data?.length) return wrap(new BigInt64Array(t.int64_data.map(toBigInt64)));
  if (t.int32_data?.length) {
    const v = t.int32_data;
    switch (dt) {
      case TensorDataType.INT32: return wrap(new Int32Array(v));
      case TensorDataType.FLOAT16: case TensorDataType.BFLOAT16: case TensorDataType.UINT16: return wrap(new Uint16Array(v));
      case TensorDataType.INT16: return wrap(new Int16Array(v));
      case TensorDataType.INT8: return wrap(new Int8Array(v));
      case TensorDataType.UINT8: case TensorDataType.BOOL: return new Uint8Array(v);
    }
  }
  return new Uint8Array(0);
}

/** Shape of a graph input/output: numbers for fixed dims, strings for symbolic ones. */
export function valueInfoDims(v: ValueInfo): (number | string)[] {
  return (v.type?.tensor_type?.shape?.dim ?? []).map((d) => d.dim_value ?? d.dim_param ?? '?');
}
