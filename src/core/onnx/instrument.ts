/**
 * Instrument an ONNX decoder (onnxruntime-genai builder or Optimum export) for persona work:
 *
 *   after every layer L's residual sum (TransformerLens `blocks.L.hook_resid_post`), for batch row b
 *   (r = b when the intervention inputs have one row per batch row, r = 0 when they have one row):
 *     h <- h + steer[r, L]                                          (steering; zeros = off)
 *     h <- h + relu(cap_tau[r, L] - h.cap_axis[r, L]) cap_axis[r, L] (capping; tau = -Infinity = off)
 *   in float32 even when the residual is float16 (Cast in, Cast out), and every consumer of the
 *   residual (the next block, the final norm) reads the modified stream. Where the sum lives
 *   inside a fused skip norm (genai exports), the norm is split: explicit Add, intervention, then
 *   the same norm op fed (h', 0), which with everything off is bitwise the original. The packed
 *   output `resid_post` [L, batch, seq, d] reports h after steering and capping at every layer, and
 *   `cap_lift` [L, batch, seq] the amount the cap added along its axis (relu(tau - h.a); > 0 where
 *   the cap raised the projection), so a runner can count clamped (layer, token) positions.
 *
 * Row layout: steer [R, L, d], cap_axis [R, L, d], cap_tau [R, L] with R = batch or 1 (broadcast).
 * Every op broadcasts on its leading axis (Add/Sub/Mul numpy-style, MatMul's batch dims), so one
 * graph serves a batch of rows each with its own interventions, and R = 1 for the common case.
 *
 * The new inputs are plain graph inputs fed on every run (onnxruntime-web does not expose
 * overridable initializers), so they can change between tokens without a new session. Only ops
 * that onnxruntime-web has on WASM and WebGPU are used (Split, Transpose, Add, MatMul, Sub, Relu,
 * Mul, Cast, Unsqueeze, Concat, Squeeze; no Max): six per layer, plus the casts for a float16 residual and
 * the explicit sum for a fused norm. The weights are not copied: large initializers become
 * external data pointing into the original bytes.
 */
import { PersonaSpaceError } from '../errors';
import {
  attrInt, attrInts, decodeModel, encodeModel, externalDataRef, makeNode, makeTensor, makeValueInfo, TensorDataType, valueInfoDims,
  type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfo,
} from './proto';
import { externalizeWeights, type ExternalFile } from './rewrite/externalize';
import { GraphIndex } from './rewrite/graph';
import { locateResidualStream, type ExportStyle, type ResidualStream } from './rewrite/locate';

export { UnsupportedGraphError, detectStyle, type ExportStyle } from './rewrite/locate';
export type { ExternalFile } from './rewrite/externalize';

/** Graph input: steering vectors, float32 [rows, numLayers, hiddenSize]; [r, L] is added at layer L of row r (rows = batch or 1). */
export const STEER_INPUT = 'steer';
/** Graph input: capping axes, float32 [rows, numLayers, hiddenSize]; unit vectors, zeros = off. */
export const CAP_AXIS_INPUT = 'cap_axis';
/** Graph input: capping thresholds, float32 [rows, numLayers]; -Infinity = off. */
export const CAP_TAU_INPUT = 'cap_tau';
/** Graph output: resid_post after steering and capping, float32 [numLayers, batch, seq, hiddenSize]. */
export const RESID_POST_OUTPUT = 'resid_post';
/** Graph output (with taps): relu(cap_tau - h.cap_axis), float32 [numLayers, batch, seq]; > 0 where the cap raised h. */
export const CAP_LIFT_OUTPUT = 'cap_lift';
/** Symbolic name of the intervention inputs' row dimension. */
export const ROWS_DIM = 'intervention_rows';

export type ResidDtype = 'float32' | 'float16';

export interface InstrumentInfo {
  style: ExportStyle;
  numLayers: number;
  hiddenSize: number;
  /** dtype of the model's own residual stream (the taps and interventions are float32 regardless). */
  residDtype: ResidDtype;
  /** Every input / output of the instrumented graph, in graph order. */
  inputNames: string[];
  outputNames: string[];
  /** The same, with element type and dims (numbers, or symbolic names such as 'batch_size'). */
  inputs: GraphIO[];
  outputs: GraphIO[];
  /** Things the structural search noticed but did not stop on (e.g. node names that disagree). */
  warnings: string[];
}

export interface GraphIO {
  name: string;
  /** onnxruntime tensor type: 'float32', 'float16', 'int64', ... */
  type: string;
  dims: (number | string)[];
}

export interface InstrumentedModel {
  /** The rewritten ModelProto; a few kB when the weights are external. */
  graph: Uint8Array;
  /** Pass as the onnxruntime session option `externalData` (views into the original bytes, no copies). */
  externalData: ExternalFile[];
  info: InstrumentInfo;
}

export interface InstrumentOptions {
  /** The model's own external data files (`model.onnx_data`, ...), by the location the graph names. */
  externalData?: ExternalFile[];
  /** Initializers of at least this many bytes stay in the original buffer (default 1024). */
  externalizeThreshold?: number;
  /** Virtual file name for the weights left in the model bytes (default `persona-space.weights`). */
  weightsPath?: string;
  /** Add the packed `resid_post` output (default true). Without it only steering and capping are added. */
  taps?: boolean;
  /** The hidden size, when the graph does not reveal it. */
  hiddenSize?: number;
}

const PREFIX = '/persona_space';

export function instrumentDecoder(modelBytes: Uint8Array, opts: InstrumentOptions = {}): InstrumentedModel {
  const model = decodeModel(modelBytes);
  const index = new GraphIndex(model.graph);
  for (const name of [STEER_INPUT, CAP_AXIS_INPUT, CAP_TAU_INPUT, RESID_POST_OUTPUT, CAP_LIFT_OUTPUT]) {
    if (index.producer.has(name) || index.graphInputs.has(name) || index.initializers.has(name)) {
      throw new PersonaSpaceError('onnx-already-instrumented', `This model already has a tensor named "${name}"; was it instrumented twice?`);
    }
  }
  const stream = locateResidualStream(index, { hiddenSize: opts.hiddenSize });
  rewrite(model, index, stream, opts.taps ?? true);
  return finish(model, modelBytes, stream, opts);
}

/**
 * The uninstrumented graph with every resid_post[L] made a graph output (named as in the graph,
 * the last layer's hidden sum made visible): the reference the instrumented taps are checked against.
 */
export function exposeResidualStream(modelBytes: Uint8Array, opts: InstrumentOptions = {}): InstrumentedModel & { residualNames: string[] } {
  const model = decodeModel(modelBytes);
  const index = new GraphIndex(model.graph);
  const stream = locateResidualStream(index, { hiddenSize: opts.hiddenSize });
  const names: string[] = [];
  for (const site of stream.sites) {
    let name = site.tensor ?? site.fusedNorm!.output[3];
    if (!name) {
      const norm = site.fusedNorm!;
      name = `${PREFIX}/layers.${site.layer}/resid_post_hidden_sum`;
      while (norm.output.length < 3) norm.output.push('');
      norm.output[3] = name;
    }
    names.push(name);
    if (!model.graph.output.some((o) => o.name === name)) {
      model.graph.output.push(makeValueInfo(name, stream.residType, ['batch', 'sequence', stream.hiddenSize]));
    }
  }
  return { ...finish(model, modelBytes, stream, opts), residualNames: names };
}

function finish(model: ModelProto, modelBytes: Uint8Array, stream: ResidualStream, opts: InstrumentOptions): InstrumentedModel {
  const ext = externalizeWeights(model.graph, modelBytes, {
    path: opts.weightsPath ?? 'persona-space.weights',
    threshold: opts.externalizeThreshold ?? 1024,
    existing: opts.externalData,
  });
  const graph = encodeModel(model);
  return {
    graph,
    externalData: ext.files,
    info: {
      style: stream.style,
      numLayers: stream.numLayers,
      hiddenSize: stream.hiddenSize,
      residDtype: stream.residType === TensorDataType.FLOAT16 ? 'float16' : 'float32',
      inputNames: model.graph.input.map((v) => v.name),
      outputNames: model.graph.output.map((v) => v.name),
      inputs: model.graph.input.map(graphIO),
      outputs: model.graph.output.map(graphIO),
      warnings: stream.warnings,
    },
  };
}

const ORT_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

function graphIO(v: ValueInfo): GraphIO {
  return { name: v.name, type: ORT_TYPES[v.type?.tensor_type?.elem_type ?? 0] ?? 'unknown', dims: valueInfoDims(v) };
}

/** The external data files a model's graph refers to (e.g. `model.onnx_data`), to be read beside it. */
export function externalDataLocations(modelBytes: Uint8Array): string[] {
  const model = decodeModel(modelBytes);
  const out = new Set<string>();
  const visit = (g: GraphProto) => {
    for (const t of g.initializer) {
      const ref = externalDataRef(t);
      if (ref) out.add(ref.location);
    }
    for (const n of g.node) for (const a of n.attribute) {
      if (a.g) visit(a.g);
      for (const sg of a.graphs ?? []) visit(sg);
    }
  };
  visit(model.graph);
  return [...out];
}

/** Opset of the default ONNX domain (decides whether axes are attributes or inputs). */
function defaultOpset(model: ModelProto): number {
  const o = model.opset_import.find((x) => !x.domain || x.domain === 'ai.onnx');
  if (!o) throw new PersonaSpaceError('onnx-no-opset', 'This ONNX model does not say which ONNX opset it uses.');
  return Number(o.version);
}

function rewrite(model: ModelProto, index: GraphIndex, stream: ResidualStream, taps: boolean): void {
  const g = model.graph;
  const opset = defaultOpset(model);
  const { numLayers: L, hiddenSize: d, residType } = stream;
  const fp16 = residType === TensorDataType.FLOAT16;
  const newInit: TensorProto[] = [];
  const ones = `${PREFIX}/split_ones`;
  const axesInit = new Map<number, string>();
  const axesName = (axis: number) => {
    let n = axesInit.get(axis);
    if (!n) {
      n = `${PREFIX}/axes_${axis}`;
      axesInit.set(axis, n);
      newInit.push(makeTensor(n, TensorDataType.INT64, [1], new BigInt64Array([BigInt(axis)])));
    }
    return n;
  };
  if (opset >= 13) newInit.push(makeTensor(ones, TensorDataType.INT64, [L], new BigInt64Array(L).fill(1n)));
  const unsqueeze = (x: string, axis: number, out: string, name: string): NodeProto =>
    opset >= 13 ? makeNode('Unsqueeze', [x, axesName(axis)], [out], name) : makeNode('Unsqueeze', [x], [out], name, [attrInts('axes', [axis])]);
  const squeeze = (x: string, axis: number, out: string, name: string): NodeProto =>
    opset >= 13 ? makeNode('Squeeze', [x, axesName(axis)], [out], name) : makeNode('Squeeze', [x], [out], name, [attrInts('axes', [axis])]);
  /** One piece per layer along `axis`, each keeping that axis with size 1. */
  const splitPerLayer = (x: string, axis: number, suffix: string): NodeProto => {
    const outs = Array.from({ length: L }, (_, i) => `${PREFIX}/layers.${i}/${suffix}`);
    return opset >= 13
      ? makeNode('Split', [x, ones], outs, `${PREFIX}/Split_${suffix}`, [attrInt('axis', axis)])
      : makeNode('Split', [x], outs, `${PREFIX}/Split_${suffix}`, [attrInt('axis', axis), attrInts('split', new Array(L).fill(1))]);
  };
  // Per-layer slices of the inputs, made once at the top of the graph (R = rows, 1 or batch):
  // steer [R, 1, d], cap_axis [R, 1, d], cap_axis as columns [R, d, 1] (one batched MatMul
  // projection), cap_tau [R, 1, 1]; each broadcasts against the residual [batch, seq, d].
  const head: NodeProto[] = [
    splitPerLayer(STEER_INPUT, 1, 'steer'),
    splitPerLayer(CAP_AXIS_INPUT, 1, 'cap_axis'),
    makeNode('Transpose', [CAP_AXIS_INPUT], [`${PREFIX}/cap_axis_t`], `${PREFIX}/TransposeCapAxis`, [attrInts('perm', [0, 2, 1])]),
    splitPerLayer(`${PREFIX}/cap_axis_t`, 2, 'cap_axis_col'),
    unsqueeze(CAP_TAU_INPUT, 2, `${PREFIX}/cap_tau_3d`, `${PREFIX}/UnsqueezeCapTau`),
    splitPerLayer(`${PREFIX}/cap_tau_3d`, 1, 'cap_tau'),
  ];

  // Nodes to insert right after a given original node (keeps the graph topologically sorted).
  const after = new Map<NodeProto, NodeProto[]>();
  const replaced = new Map<NodeProto, NodeProto[]>();
  const tapNames: string[] = [];
  const liftNames: string[] = [];
  let zeros: string | undefined; // a zero tensor shaped like the stream, made once for the split skip norms

  for (const site of stream.sites) {
    const i = site.layer;
    const p = `${PREFIX}/layers.${i}`;
    const nodes: NodeProto[] = [];
    let raw: string; // the residual as the model computed it
    let out: string; // the name every consumer reads afterwards
    let anchor: NodeProto;
    const norm = site.fusedNorm;
    if (norm) {
      // A fused skip norm computes its output 0 from the sum inside the op: compute the sum
      // explicitly, intervene, then normalise with the same op fed (h', 0), so that with
      // everything off the result is bitwise the same.
      raw = `${p}/resid_post_raw`;
      if (!zeros) {
        zeros = `${PREFIX}/zeros`;
        newInit.push(makeTensor(`${PREFIX}/zero`, residType, [], fp16 ? new Uint16Array([0]) : new Float32Array([0])));
        nodes.push(makeNode('Mul', [stream.embedding, `${PREFIX}/zero`], [zeros], `${PREFIX}/Zeros`));
      }
      const bias = norm.input[norm.op_type === 'SkipLayerNormalization' ? 4 : 3];
      nodes.push(makeNode('Add', [norm.input[0], norm.input[1]], [bias ? `${p}/resid_no_bias` : raw], `${p}/ResidualAdd`));
      if (bias) nodes.push(makeNode('Add', [`${p}/resid_no_bias`, bias], [raw], `${p}/ResidualBiasAdd`));
      out = norm.output[3] || `${p}/resid_post`;
      anchor = norm;
    } else {
      const prod = index.producer.get(site.tensor!)!;
      raw = `${p}/resid_post_raw`;
      out = site.tensor!;
      prod.node.output[prod.outputIndex] = raw;
      anchor = prod.node;
    }

    let h = raw;
    if (fp16) {
      nodes.push(makeNode('Cast', [raw], [`${p}/resid_f32`], `${p}/CastUp`, [attrInt('to', TensorDataType.FLOAT)]));
      h = `${p}/resid_f32`;
    }
    const tap = fp16 ? `${p}/resid_post_f32` : out;
    nodes.push(
      makeNode('Add', [h, `${p}/steer`], [`${p}/steered`], `${p}/Steer`),
      makeNode('MatMul', [`${p}/steered`, `${p}/cap_axis_col`], [`${p}/cap_proj`], `${p}/CapProjection`),
      makeNode('Sub', [`${p}/cap_tau`, `${p}/cap_proj`], [`${p}/cap_gap`], `${p}/CapGap`),
      makeNode('Relu', [`${p}/cap_gap`], [`${p}/cap_push`], `${p}/CapRelu`),
      makeNode('Mul', [`${p}/cap_push`, `${p}/cap_axis`], [`${p}/cap_delta`], `${p}/CapDelta`),
      makeNode('Add', [`${p}/steered`, `${p}/cap_delta`], [tap], `${p}/Cap`),
    );
    if (fp16) nodes.push(makeNode('Cast', [tap], [out], `${p}/CastDown`, [attrInt('to', TensorDataType.FLOAT16)]));
    if (taps) {
      nodes.push(unsqueeze(tap, 0, `${p}/tap`, `${p}/Tap`), unsqueeze(`${p}/cap_push`, 0, `${p}/lift`, `${p}/Lift`));
      tapNames.push(`${p}/tap`);
      liftNames.push(`${p}/lift`);
    }

    if (norm) {
      const inputs = [out, zeros!, ...norm.input.slice(2)];
      if (norm.op_type === 'SkipLayerNormalization') inputs.splice(4); else inputs.splice(3); // drop the bias: already in the sum
      const outputs = norm.output.slice(0, 3);
      nodes.push({ ...norm, name: `${norm.name ?? `${p}/norm`}/persona_space`, input: inputs, output: outputs });
      replaced.set(anchor, nodes);
    } else {
      after.set(anchor, nodes);
    }
  }

  const nodeList: NodeProto[] = [...head];
  for (const n of g.node) {
    const r = replaced.get(n);
    if (r) { nodeList.push(...r); continue; }
    nodeList.push(n);
    const a = after.get(n);
    if (a) nodeList.push(...a);
  }
  g.node = nodeList;
  if (taps) {
    g.node.push(
      makeNode('Concat', tapNames, [RESID_POST_OUTPUT], `${PREFIX}/ConcatTaps`, [attrInt('axis', 0)]),
      makeNode('Concat', liftNames, [`${PREFIX}/cap_lift_4d`], `${PREFIX}/ConcatLifts`, [attrInt('axis', 0)]),
      squeeze(`${PREFIX}/cap_lift_4d`, 3, CAP_LIFT_OUTPUT, `${PREFIX}/SqueezeLifts`),
    );
  }
  g.initializer.push(...newInit);

  const [batch, seq] = tokenDims(g);
  g.input.push(
    makeValueInfo(STEER_INPUT, TensorDataType.FLOAT, [ROWS_DIM, L, d]),
    makeValueInfo(CAP_AXIS_INPUT, TensorDataType.FLOAT, [ROWS_DIM, L, d]),
    makeValueInfo(CAP_TAU_INPUT, TensorDataType.FLOAT, [ROWS_DIM, L]),
  );
  if (taps) {
    g.output.push(
      makeValueInfo(RESID_POST_OUTPUT, TensorDataType.FLOAT, [L, batch, seq, d]),
      makeValueInfo(CAP_LIFT_OUTPUT, TensorDataType.FLOAT, [L, batch, seq]),
    );
  }
}

/** The batch and sequence dims of the token input (symbolic names or numbers). */
function tokenDims(g: GraphProto): [number | string, number | string] {
  const ids = g.input.find((v) => v.name === 'input_ids') ?? g.input.find((v) => v.type?.tensor_type?.shape?.dim?.length === 2);
  const dims = ids?.type?.tensor_type?.shape?.dim ?? [];
  const pick = (k: number, dflt: string) => (dims[k]?.dim_param || (dims[k]?.dim_value ? Number(dims[k].dim_value) : dflt));
  return [pick(0, 'batch_size'), pick(1, 'sequence_length')];
}
