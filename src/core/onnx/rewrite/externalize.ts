/**
 * Leave the weights where they are: every large initializer whose bytes are a view into the
 * original model buffer becomes an external-data reference (location, offset, length) into that
 * same buffer, handed to onnxruntime as an in-memory "file". Re-encoding the graph then copies
 * only a few kB; the weights are never duplicated in JS memory.
 */
import { FormatError } from '../../errors';
import { externalDataRef, makeExternalTensor, type GraphProto, type NodeProto, type TensorProto } from '../proto';

export interface ExternalFile { path: string; data: Uint8Array }

export interface ExternalizeResult {
  /** Files onnxruntime must be given as `externalData` (views, never copies). */
  files: ExternalFile[];
  /** How many tensors now point into the model bytes, and their total size. */
  tensors: number;
  bytes: number;
}

/**
 * Rewrite `graph` (and its subgraphs) in place. `modelBytes` is the buffer the graph was decoded
 * from; `existing` are the model's own external data files (model.onnx_data ...), kept external.
 */
export function externalizeWeights(
  graph: GraphProto,
  modelBytes: Uint8Array,
  opts: { path: string; threshold: number; existing?: ExternalFile[] },
): ExternalizeResult {
  const moved: { t: TensorProto; offset: number; length: number }[] = [];
  const neededExisting = new Set<string>();
  const existing = new Map((opts.existing ?? []).map((f) => [f.path, f]));

  const visitTensor = (t: TensorProto): TensorProto => {
    const ref = externalDataRef(t);
    if (ref) {
      const file = existing.get(ref.location) ?? existing.get(stripDotSlash(ref.location));
      if (!file) {
        throw new FormatError('onnx-external-missing', `Tensor ${t.name} lives in the external data file "${ref.location}", which was not given.`);
      }
      neededExisting.add(file.path);
      return t;
    }
    const raw = t.raw_data;
    if (!raw || raw.byteLength < opts.threshold || raw.buffer !== modelBytes.buffer) return t;
    const offset = raw.byteOffset - modelBytes.byteOffset;
    if (offset < 0 || offset + raw.byteLength > modelBytes.byteLength) return t;
    moved.push({ t, offset, length: raw.byteLength });
    return t;
  };

  const visitGraph = (g: GraphProto): void => {
    g.initializer = g.initializer.map(visitTensor);
    // Large constants written as Constant nodes become initializers so they can move out too.
    const kept: NodeProto[] = [];
    for (const n of g.node) {
      const value = n.op_type === 'Constant' && n.attribute.length === 1 ? n.attribute[0] : undefined;
      const raw = value?.name === 'value' ? value.t?.raw_data : undefined;
      if (value?.t && raw && raw.byteLength >= opts.threshold && raw.buffer === modelBytes.buffer) {
        g.initializer.push(visitTensor({ ...value.t, name: n.output[0] }));
        continue;
      }
      for (const a of n.attribute) {
        if (a.g) visitGraph(a.g);
        for (const sg of a.graphs ?? []) visitGraph(sg);
      }
      kept.push(n);
    }
    g.node = kept;
  };
  visitGraph(graph);

  const files: ExternalFile[] = [];
  let bytes = 0;
  if (moved.length) {
    // One view spanning the moved tensors; offsets are rebased onto it.
    const start = Math.min(...moved.map((m) => m.offset));
    const end = Math.max(...moved.map((m) => m.offset + m.length));
    for (const m of moved) {
      const ext = makeExternalTensor(m.t.name ?? '', m.t.data_type ?? 0, m.t.dims, opts.path, m.offset - start, m.length);
      delete m.t.raw_data;
      m.t.data_location = ext.data_location;
      m.t.external_data = ext.external_data;
      bytes += m.length;
    }
    files.push({ path: opts.path, data: modelBytes.subarray(start, end) });
  }
  for (const p of neededExisting) files.push(existing.get(p)!);
  return { files, tensors: moved.length, bytes };
}

function stripDotSlash(p: string): string {
  return p.startsWith('./') ? p.slice(2) : p;
}
