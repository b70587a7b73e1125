/**
 * A small helper for writing ONNX graphs the way exporters name them: a node is
 * `<scope>/<OpType>` (then `_1`, `_2`, ... within the same scope) and its outputs are
 * `<node name>_output_<k>`, as torch.onnx does (so `/model/layers.3/Add_1` yields
 * `/model/layers.3/Add_1_output_0`).
 *
 * Initializers are kept as views (no copy) until the model is encoded; with external data,
 * tensors of at least `externalThreshold` bytes are laid out in one side buffer instead.
 */
import {
  attrFloat, attrInt, attrInts, makeExternalTensor, makeNode, makeTensor, TensorDataType, toBigInt64,
  type AttributeProto, type NodeProto, type TensorProto, type ValueInfo,
} from '../../onnx/proto';
import { f32ToF16Array } from './weights';

export type ActType = 'float32' | 'float16';

export interface OpOptions {
  attrs?: AttributeProto[];
  domain?: string;
  /** Number of outputs (auto-named) or explicit output names ('' = unused optional output). */
  outputs?: number | string[];
  /** Override the node name (otherwise `<scope>/<opType>[_n]`). */
  name?: string;
}

export interface ExternalLayout {
  location: string;
  /** Tensors of at least this many bytes go to the external file. */
  threshold: number;
}

const ALIGN = 4096;

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private readonly counts = new Map<string, number>();
  private readonly consts = new Map<string, string>();
  private readonly extChunks: { offset: number; bytes: Uint8Array }[] = [];
  private extSize = 0;

  constructor(readonly act: ActType, readonly external?: ExternalLayout) {}

  get actType(): number {
    return this.act === 'float16' ? TensorDataType.FLOAT16 : TensorDataType.FLOAT;
  }

  /** Add a node; returns its output names. */
  op(scope: string, opType: string, inputs: string[], o: OpOptions = {}): string[] {
    let name = o.name;
    if (!name) {
      const key = `${scope}/${opType}`;
      const n = this.counts.get(key) ?? 0;
      this.counts.set(key, n + 1);
      name = n === 0 ? key : `${key}_${n}`;
    }
    const outs = Array.isArray(o.outputs) ? o.outputs : Array.from({ length: o.outputs ?? 1 }, (_, k) => `${name}_output_${k}`);
    this.nodes.push(makeNode(opType, inputs, outs, name, o.attrs ?? [], o.domain ?? ''));
    return outs;
  }

  /** Single-output shorthand. */
  op1(scope: string, opType: string, inputs: string[], o: OpOptions = {}): string {
    return this.op(scope, opType, inputs, o)[0];
  }

  /** An initializer from raw little-endian bytes (kept as a view). */
  init(name: string, dataType: number, dims: number[], bytes: Uint8Array | ArrayBufferView): string {
    const raw = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.external && raw.byteLength >= this.external.threshold) {
      const offset = Math.ceil(this.extSize / ALIGN) * ALIGN;
      this.extChunks.push({ offset, bytes: raw });
      this.extSize = offset + raw.byteLength;
      this.initializers.push(makeExternalTensor(name, dataType, dims, this.external.location, offset, raw.byteLength));
    } else {
      this.initializers.push(makeTensor(name, dataType, dims, raw));
    }
    return name;
  }

  /** A float initializer in the activation dtype. */
  initAct(name: string, dims: number[], values: Float32Array): string {
    return this.act === 'float16' ? this.init(name, TensorDataType.FLOAT16, dims, f32ToF16Array(values)) : this.init(name, TensorDataType.FLOAT, dims, values);
  }

  /** A cached int64 constant (dims [] = scalar). */
  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `/model/constants/INT64/${dims.length ? `[${dims}]` : 'scalar'}/${values.join('_')}`;
      this.init(name, TensorDataType.INT64, dims, new BigInt64Array(values.map(toBigInt64)));
      this.consts.set(key, name);
    }
    return name;
  }

  /** A cached float constant in the activation dtype (or float32 when `f32`). */
  fconst(values: number[], dims: number[] = [values.length], f32 = false): string {
    const type = f32 || this.act === 'float32' ? 'FLOAT' : 'FLOAT16';
    const key = `${type}:${dims.join('x')}:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `/model/constants/${type}/${dims.length ? `[${dims}]` : 'scalar'}/${values.join('_')}`;
      if (type === 'FLOAT') this.init(name, TensorDataType.FLOAT, dims, new Float32Array(values));
      else this.init(name, TensorDataType.FLOAT16, dims, f32ToF16Array(new Float32Array(values)));
      this.consts.set(key, name);
    }
    return name;
  }

  /** The external data file as pieces at their offsets (write them out in order, zero-filled between). */
  externalChunks(): { offset: number; bytes: Uint8Array }[] {
    return this.extChunks;
  }

  get externalSize(): number {
    return this.extSize;
  }

  /** The external data file's bytes (undefined when nothing went external). */
  externalData(): Uint8Array | undefined {
    if (!this.extChunks.length) return undefined;
    const out = new Uint8Array(this.extSize);
    for (const c of this.extChunks) out.set(c.bytes, c.offset);
    return out;
  }
}

export const A = { int: attrInt, float: attrFloat, ints: attrInts };
