/**
 * Read-only index over an ONNX graph: who produces and who consumes each tensor, initializers by
 * name, ancestry queries and a small element-type inference. Used to find the residual stream by
 * structure rather than by name.
 */
import { getAttrInt, TensorDataType, type GraphProto, type NodeProto, type TensorProto } from '../proto';

export interface Producer { node: NodeProto; index: number; outputIndex: number }

export class GraphIndex {
  readonly graph: GraphProto;
  readonly producer = new Map<string, Producer>();
  readonly consumers = new Map<string, { node: NodeProto; inputIndex: number }[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly graphInputs = new Set<string>();
  private readonly typeCache = new Map<string, number | undefined>();
  private readonly declaredTypes = new Map<string, number>();

  constructor(graph: GraphProto) {
    this.graph = graph;
    graph.node.forEach((node, index) => {
      node.output.forEach((o, outputIndex) => { if (o) this.producer.set(o, { node, index, outputIndex }); });
      node.input.forEach((i, inputIndex) => {
        if (!i) return;
        let list = this.consumers.get(i);
        if (!list) this.consumers.set(i, (list = []));
        list.push({ node, inputIndex });
      });
    });
    for (const t of graph.initializer) if (t.name) this.initializers.set(t.name, t);
    for (const v of graph.input) this.graphInputs.add(v.name);
    for (const v of [...graph.input, ...graph.value_info, ...graph.output]) {
      const et = v.type?.tensor_type?.elem_type;
      if (et) this.declaredTypes.set(v.name, et);
    }
  }

  consumersOf(name: string): { node: NodeProto; inputIndex: number }[] {
    return this.consumers.get(name) ?? [];
  }

  /** A constant tensor (initializer, or the value of a Constant node), or undefined. */
  constantOf(name: string): TensorProto | undefined {
    const init = this.initializers.get(name);
    if (init) return init;
    const p = this.producer.get(name);
    if (p && p.node.op_type === 'Constant') return p.node.attribute.find((a) => a.name === 'value')?.t;
    return undefined;
  }

  /**
   * True when tensor `ancestor` is used (directly or not) to compute tensor `name`. Reaching the
   * node that produces `ancestor` through a sibling output counts: a fused skip norm's output 0 is
   * computed from the same sum it emits as output 3.
   */
  isAncestor(ancestor: string, name: string, limit = 1 << 20): boolean {
    if (ancestor === name) return false;
    const ancestorNode = this.producer.get(ancestor)?.node;
    const seen = new Set<string>([name]);
    const stack = [name];
    let steps = 0;
    while (stack.length) {
      const t = stack.pop()!;
      const p = this.producer.get(t);
      if (!p) continue;
      for (const i of p.node.input) {
        if (!i || seen.has(i)) continue;
        if (i === ancestor) return true;
        if (ancestorNode && this.producer.get(i)?.node === ancestorNode) return true;
        seen.add(i);
        stack.push(i);
      }
      if (++steps > limit) return false;
    }
    return false;
  }

  /** Op-type histogram "Name x count", most frequent first (for error messages). */
  opHistogram(): string {
    const counts = new Map<string, number>();
    for (const n of this.graph.node) counts.set(n.op_type, (counts.get(n.op_type) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} x${v}`).join(', ');
  }

  countOps(...types: string[]): number {
    let c = 0;
    for (const n of this.graph.node) if (types.includes(n.op_type)) c++;
    return c;
  }

  /**
   * The element type (TensorProto.DataType) of a tensor: declared (inputs, value_info, outputs),
   * an initializer's, or inferred from its producer by a few rules that cover decoder graphs.
   */
  elemType(name: string): number | undefined {
    if (this.typeCache.has(name)) return this.typeCache.get(name);
    this.typeCache.set(name, undefined); // cycle guard
    const t = this.computeElemType(name);
    this.typeCache.set(name, t);
    return t;
  }

  private computeElemType(name: string): number | undefined {
    const declared = this.declaredTypes.get(name);
    if (declared) return declared;
    const c = this.constantOf(name);
    if (c?.data_type) return c.data_type;
    const p = this.producer.get(name);
    if (!p) return undefined;
    const n = p.node;
    switch (n.op_type) {
      case 'Cast': return getAttrInt(n, 'to');
      case 'Shape': case 'Size': case 'ArgMax': case 'ArgMin': case 'NonZero': return TensorDataType.INT64;
      case 'Equal': case 'Less': case 'Greater': case 'LessOrEqual': case 'GreaterOrEqual': case 'Not': case 'And': case 'Or': case 'IsNaN': case 'IsInf':
        return TensorDataType.BOOL;
      case 'GatherBlockQuantized': return this.elemType(n.input[2]);
      case 'DequantizeLinear': return this.elemType(n.input[1]);
      case 'Where': return this.elemType(n.input[1]) ?? this.elemType(n.input[2]);
      case 'ConstantOfShape': return n.attribute.find((a) => a.name === 'value')?.t?.data_type ?? TensorDataType.FLOAT;
      default:
        for (const i of n.input) {
          if (!i) continue;
          const t = this.elemType(i);
          if (t !== undefined) return t;
        }
        return undefined;
    }
  }
}

/** Numbers for a tensor's dims (a decoded TensorProto has number dims). */
export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(Number);
}
