/**
 * The weights of an 8-bit decoder ONNX file, read by graph structure (never by node or initializer
 * names, which real hub files do not keep) with our own protobuf reader, for the decoder in
 * ./decoder.ts. What it accepts is what onnxruntime's dynamic quantisation (`quantize_dynamic` /
 * `ONNXQuantizer` in IntegerOps mode, as transformers.js' scripts/quantize.py runs it for
 * `model_quantized.onnx`, `model_int8.onnx`, `model_uint8.onnx`) writes over an optimum export or
 * an onnxruntime-genai graph:
 *
 *   linear     DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq [K, N], xz, wz?) -> Cast(float)
 *              -> Mul(., Mul(xs, ws)) or Mul(Mul(., xs), ws), operands on either side (-> Add bias, either side);
 *              Wq int8 or uint8 (an initializer, or Transpose of one), ws / wz per tensor or per output
 *              column, wz absent = 0;
 *   roles      linears grouped by the tensor they quantise (q/k/v share one input, gate/up another),
 *              in dataflow order: per layer [q, k, v] -> o -> [gate, up] -> down, then lm_head, each
 *              checked against the config's shapes; k and v told apart by the past_key_values.{i}.key /
 *              .value they meet downstream (or GroupQueryAttention's input slot), gate by its Sigmoid;
 *   norms      the RMSNorm feeding each group: Mul(w, x * 1/sqrt(mean(x^2) + eps)) spelled out (Pow,
 *              ReduceMean, Add, Sqrt, Div or Reciprocal, either operand order), or SimplifiedLayerNormalization
 *              / SkipSimplifiedLayerNormalization / RMSNormalization; q/k norms (Qwen3) found downstream of
 *              q and k; eps checked against the config;
 *   embedding  Gather(table, input_ids) -> DequantizeLinear(., scale, zero point) on an 8-bit per-tensor
 *              table, Gather on DequantizeLinear(table), or a float32 table;
 *   rotary     RotaryEmbedding's cos / sin caches (genai style), `/model/rotary_emb/inv_freq` or the one
 *              float constant of head_dim / 2 values the positions are multiplied by (optimum style),
 *              else computed from the config;
 *   genai      GroupQueryAttention with q/k/v separate or packed into one linear (split here), RoPE by
 *              RotaryEmbedding or by GroupQueryAttention itself (do_rotary, cos / sin caches as inputs 7 / 8);
 *   merged     `decoder_model_merged*.onnx`: the If node's with-past branch (the one reading past_key_values).
 *
 * Refused, each with one FormatError sentence (the product then uses onnxruntime-web): float32 or
 * run-time-quantised linears (e.g. an lm_head kept float32 or tied to the embedding through a
 * Transpose), MatMulNBits / GatherBlockQuantized (4-bit) files, fused contrib linears, fused q/k/v other than
 * a packed GroupQueryAttention's, fused gate/up,
 * per-row embedding scales, norms that are not plain RMSNorms, shapes or eps that differ from the
 * config, external data whose `location` leaves the model's folder or whose offset / length do not
 * fit the file given.
 *
 * Every shape read from the file is checked against the config (itself bounded by parseConfig), and
 * every byte count against the bytes present, before anything is allocated.
 */
import { DataError, FormatError } from '../../errors';
import {
  DATA_LOCATION_EXTERNAL, DATA_TYPE_BYTES, decodeModel, getAttr, getAttrFloat, getAttrInt, tensorBytes, TensorDataType,
  type GraphProto, type NodeProto, type TensorProto,
} from '../../onnx/proto';
import { GraphIndex, tensorDims } from '../../onnx/rewrite/graph';
import type { ExternalFile } from '../../onnx/rewrite/externalize';
import type { DecoderConfig } from '../config';
import { runSteps } from '../../steps';
import { LOAD_STEP_BYTES } from '../int8-gemv-wasm';

/** One linear y = x . W^T (+ b) as MatMulInteger holds it. */
export interface QLinear {
  /** W [N, K] (HF Linear layout), int8 or uint8 codes. */
  codes: Int8Array | Uint8Array;
  N: number;
  K: number;
  /** Per output column (a per-tensor value repeated). */
  scale: Float32Array;
  zeroPoint: Int32Array;
  bias?: Float32Array;
}

/**
 * A linear found and checked in the file whose codes are not laid out [N, K] yet: `layOut()` does
 * it (the transposing copy of MatMulInteger's [K, N] codes, most of reading a file's time).
 */
export interface PendingLinear extends Omit<QLinear, 'codes'> {
  layOut(): QLinear;
  /**
   * layOut in steps (../../steps.ts): at most `stepBytes` codes copied a step (whole columns, at
   * least one; default LOAD_STEP_BYTES), a yield (the codes laid out so far) between two chunks of
   * columns only. The same codes as layOut.
   */
  layOutSteps(stepBytes?: number): Generator<number, QLinear, void>;
}

export interface OwnWeights {
  /** `layers.{i}.{q,k,v,o,gate,up,down}` and `lm_head`. */
  linears: Map<string, QLinear>;
  /** Embedding rows: int8/uint8 codes [V, d] with a scale and zero point (DequantizeLinear), or float32. */
  embedding: { codes: Int8Array | Uint8Array; scale: number; zeroPoint: number } | { table: Float32Array };
  /** HF names (`model.layers.{i}.input_layernorm.weight`, ..., `model.norm.weight`) -> float32 values. */
  norms: Map<string, Float32Array>;
  /** Optimum style: inv_freq [hd / 2]; genai style: cos / sin caches [rows, hd / 2]. */
  rotary: { invFreq: Float32Array } | { cos: Float32Array; sin: Float32Array; rows: number } | null;
  style: 'optimum' | 'genai';
}

function bad(message: string, details?: Record<string, unknown>): never {
  throw new FormatError('own-weights', message, details);
}

/** Expected [N, K] of every linear from the config. */
export function linearShapes(cfg: DecoderConfig): Map<string, [number, number]> {
  const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: I } = cfg;
  const m = new Map<string, [number, number]>();
  for (let i = 0; i < cfg.numLayers; i++) {
    m.set(`layers.${i}.q`, [H * hd, d]);
    m.set(`layers.${i}.k`, [KV * hd, d]);
    m.set(`layers.${i}.v`, [KV * hd, d]);
    m.set(`layers.${i}.o`, [d, H * hd]);
    m.set(`layers.${i}.gate`, [I, d]);
    m.set(`layers.${i}.up`, [I, d]);
    m.set(`layers.${i}.down`, [d, I]);
  }
  m.set('lm_head', [cfg.vocabSize, d]);
  return m;
}

// ---------------------------------------------------------------------------------------------
// External data: every location inside the model's folder, every slice inside its file.

const normPath = (p: string) => p.replace(/\\/g, '/').replace(/^(\.\/)+/, '');

/** Why a location is refused, or null when it names a file inside the model's folder. */
function unsafeLocation(loc: string): string | null {
  if (!loc || /[\0]/.test(loc)) return 'is empty or holds a NUL character';
  if (/^([/\\]|[A-Za-z]:)/.test(loc) || /^[a-z][a-z0-9+.-]*:\/\//i.test(loc)) return 'is an absolute path';
  if (loc.split(/[/\\]/).some((s) => s === '..')) return 'climbs out with ".."';
  return null;
}

interface ExtSlice { file: Uint8Array; offset: number; length: number }

const DEC = /^\d{1,16}$/;

/**
 * Checks every external reference of the graph (and its subgraphs) against the files given, before
 * any weight is read: location inside the folder, offset and length whole numbers, the slice within
 * the file and exactly as long as the tensor's dims say.
 */
function externalSlices(graph: GraphProto, externalData: ExternalFile[]): Map<TensorProto, ExtSlice> {
  const files = new Map<string, Uint8Array>();
  for (const f of externalData) files.set(normPath(f.path).replace(/^.*\//, ''), f.data);
  const out = new Map<TensorProto, ExtSlice>();
  const visit = (t: TensorProto) => {
    if (t.data_location !== DATA_LOCATION_EXTERNAL) return;
    const kv = new Map((t.external_data ?? []).map((e) => [e.key, e.value]));
    const loc = kv.get('location') ?? '';
    const why = unsafeLocation(loc);
    if (why) bad(`Tensor ${t.name} keeps its data at "${loc}", which ${why}: external data must sit in the model's own folder.`, { location: loc });
    const rel = normPath(loc);
    if (rel.includes('/')) bad(`Tensor ${t.name} keeps its data in a subfolder ("${loc}"); hub models keep it beside the .onnx file.`, { location: loc });
    const file = files.get(rel);
    if (!file) bad(`Tensor ${t.name} needs the external data file "${loc}", which was not given.`, { location: loc });
    const offS = kv.get('offset') ?? '0', lenS = kv.get('length');
    if (!DEC.test(offS) || (lenS !== undefined && !DEC.test(lenS))) bad(`Tensor ${t.name} has an external offset or length that is not a whole number ("${offS}", "${lenS}").`);
    const elem = DATA_TYPE_BYTES[t.data_type ?? 0];
    const dims = tensorDims(t);
    if (!elem || dims.some((x) => !Number.isSafeInteger(x) || x < 0)) bad(`Tensor ${t.name} has a type or shape external data cannot hold.`);
    const want = dims.reduce((a, b) => a * b, 1) * elem;
    const offset = Number(offS), length = lenS === undefined ? want : Number(lenS);
    if (length !== want) bad(`Tensor ${t.name} says its external data is ${length} bytes; its shape [${dims}] needs ${want}.`);
    if (offset + length > file.byteLength) bad(`Tensor ${t.name} reaches byte ${offset + length} of "${loc}", past the end of that ${file.byteLength}-byte file.`, { location: loc });
    out.set(t, { file, offset, length });
  };
  const walk = (g: GraphProto) => {
    g.initializer.forEach(visit);
    for (const n of g.node) {
      for (const a of n.attribute) {
        if (a.t) visit(a.t);
        if (a.g) walk(a.g);
        a.graphs?.forEach(walk);
      }
    }
  };
  walk(graph);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Graph helpers

/** A merged decoder's If node: the branch that reads past_key_values, spliced into the outer graph. */
function flattenMerged(graph: GraphProto): GraphProto {
  const ifs = graph.node.filter((n) => n.op_type === 'If');
  const hasLinears = (g: GraphProto) => g.node.some((n) => n.op_type === 'MatMulInteger' || n.op_type === 'MatMul');
  if (hasLinears(graph) || !ifs.length) return graph;
  if (ifs.length !== 1) bad(`The file's graph is ${ifs.length} If nodes; a merged decoder has one.`);
  const branches = ifs[0].attribute.filter((a) => a.g).map((a) => a.g!);
  const readsPast = (g: GraphProto) => g.node.some((n) => n.input.some((i) => /^past_key_values\./.test(i)));
  const branch = branches.find((g) => hasLinears(g) && readsPast(g)) ?? branches.find(hasLinears);
  if (!branch) bad('The merged decoder\'s If node has no branch with linears.');
  return {
    ...graph,
    node: [...graph.node.filter((n) => n !== ifs[0]), ...branch.node],
    initializer: [...graph.initializer, ...branch.initializer],
    output: branch.output,
    value_info: [],
  };
}

/** Node -> position in a topological order (the file's own order where it is one). */
function topoOrder(graph: GraphProto, index: GraphIndex): Map<NodeProto, number> {
  const pos = new Map<NodeProto, number>();
  const pending = new Map<NodeProto, number>();
  const ready: NodeProto[] = [];
  for (const n of graph.node) {
    let deps = 0;
    for (const i of n.input) if (i && index.producer.has(i)) deps++;
    pending.set(n, deps);
    if (!deps) ready.push(n);
  }
  // a node with the same input twice counts it twice, and is released once per use: consistent
  let k = 0;
  for (let r = 0; r < ready.length; r++) {
    const n = ready[r];
    pos.set(n, k++);
    for (const o of n.output) {
      if (!o) continue;
      for (const c of index.consumersOf(o)) {
        const left = pending.get(c.node)! - 1;
        pending.set(c.node, left);
        if (left === 0) ready.push(c.node);
      }
    }
  }
  if (pos.size !== graph.node.length) bad('The file\'s graph has a cycle or a node whose input nothing produces in order.');
  return pos;
}

/** A MatMulInteger's linear as found: PendingLinear, and any run of its output columns as one of its own (a packed q/k/v's parts). */
interface FoundQ extends PendingLinear {
  columns(from: number, to: number): FoundQ;
}

/**
 * Columns [n0, n1) of a linear whose codes `wq` the file holds [K, Nall] (or [Nall, K] behind a
 * Transpose: `transposed`), `wq` a view of the file's bytes (checked present): laid out [N, K]
 * (HF Linear layout) only when `layOut` is called.
 */
function foundQ(wq: Int8Array | Uint8Array, transposed: boolean, Nall: number, K: number, scale: Float32Array, zeroPoint: Int32Array, bias: Float32Array | undefined, n0 = 0, n1 = Nall): FoundQ {
  const N = n1 - n0;
  function* layOutSteps(stepBytes = LOAD_STEP_BYTES): Generator<number, QLinear, void> {
    if (!(stepBytes > 0)) throw new DataError('own-weights', `A step's bytes are ${stepBytes}; they must be positive.`);
    const codes = wq instanceof Int8Array ? new Int8Array(N * K) : new Uint8Array(N * K);
    const cols = Math.max(1, Math.floor(stepBytes / K));
    for (let a = 0; a < N; a += cols) {
      if (a > 0) yield a * K;
      const b = Math.min(N, a + cols);
      if (transposed) codes.set(wq.subarray((n0 + a) * K, (n0 + b) * K), a * K);
      else {
        // the file's [K, Nall] rows, columns a..b of ours: codes[n * K + k] = wq[k * Nall + n0 + n]
        for (let k = 0; k < K; k++) {
          const row = k * Nall + n0;
          for (let n = a; n < b; n++) codes[n * K + k] = wq[row + n];
        }
      }
    }
    return { codes, N, K, scale, zeroPoint, bias };
  }
  const layOut = (): QLinear => runSteps(layOutSteps());
  const columns = (from: number, to: number) => foundQ(wq, transposed, Nall, K, scale.slice(from, to), zeroPoint.slice(from, to), bias?.slice(from, to), n0 + from, n0 + to);
  return { N, K, scale, zeroPoint, bias, layOut, layOutSteps, columns };
}

const LINEAR_START = new Set(['DynamicQuantizeLinear', 'MatMulInteger']);

/** What a norm normalises: a tensor, and the two tensors it is the sum of (when it is an Add's output or a skip norm's). */
interface NormIn { value: string; parts: [string, string] | null }

interface FoundLinear {
  /** The MatMulInteger (or float MatMul) node. */
  node: NodeProto;
  /** The float tensor it reads (the DynamicQuantizeLinear's input). */
  x: string;
  /** The tensor holding y (after scale and bias). */
  y: string;
  N: number;
  K: number;
  /** null: a float32 MatMul, refused once its role is known. */
  q: FoundQ | null;
  /** For a float MatMul: how its weight is held (transposed table, dequantised). */
  floatHow?: string;
}

/** How far reading a file got: linears laid out [N, K] of all (the config's 7 a layer and the lm_head), and their codes' bytes. */
export interface OwnReadProgress {
  linearsDone: number;
  linears: number;
  bytesDone: number;
  bytes: number;
}

/** The linears (7 a layer and the lm_head) and code bytes the config says a file holds (findOwnWeights checks the file against them). */
export function readTotals(cfg: DecoderConfig): { linears: number; bytes: number } {
  const shapes = linearShapes(cfg);
  let bytes = 0;
  for (const [N, K] of shapes.values()) bytes += N * K;
  return { linears: shapes.size, bytes };
}

/**
 * Read an 8-bit decoder file's weights (see the header) in steps (../../steps.ts): progress 0,
 * then the file parsed and every check made (findOwnWeights) and the first linear's codes laid out
 * [N, K], then one linear a step. readOwnWeights runs them at once.
 */
export function* readOwnWeightsSteps(onnx: Uint8Array, cfg: DecoderConfig, externalData: ExternalFile[] = []): Generator<OwnReadProgress, OwnWeights, void> {
  const { linears, bytes } = readTotals(cfg);
  yield { linearsDone: 0, linears, bytesDone: 0, bytes };
  const found = findOwnWeights(onnx, cfg, externalData);
  const out = new Map<string, QLinear>();
  let bytesDone = 0;
  for (const [k, f] of found.linears) {
    out.set(k, f.layOut());
    bytesDone += f.N * f.K;
    yield { linearsDone: out.size, linears, bytesDone, bytes };
  }
  return { ...found, linears: out };
}

/** Read an 8-bit decoder file's weights (readOwnWeightsSteps, at once). */
export function readOwnWeights(onnx: Uint8Array, cfg: DecoderConfig, externalData: ExternalFile[] = []): OwnWeights {
  return runSteps(readOwnWeightsSteps(onnx, cfg, externalData));
}

/** The file's weights as OwnWeights, but each linear's codes left where the file has them until `layOut()`. */
export interface FoundOwnWeights extends Omit<OwnWeights, 'linears'> {
  linears: Map<string, PendingLinear>;
}

/**
 * Parse the file and make every check readOwnWeights makes (the same FormatErrors, in the same
 * order), allocating only the small arrays (scales, zero points, biases, norms, rotary, a float32
 * embedding table): each linear's codes are laid out [N, K] when its `layOut()` is called (by
 * readOwnWeightsSteps, or by the decoder's open as it builds that linear).
 */
export function findOwnWeights(onnx: Uint8Array, cfg: DecoderConfig, externalData: ExternalFile[] = []): FoundOwnWeights {
  const model = decodeModel(onnx);
  const ext = externalSlices(model.graph, externalData);
  const graph = flattenMerged(model.graph);
  const index = new GraphIndex(graph);
  const order = topoOrder(graph, index);
  const at = (n: NodeProto) => order.get(n)!;

  const bytes = (t: TensorProto): Uint8Array => {
    const s = ext.get(t);
    return s ? s.file.subarray(s.offset, s.offset + s.length) : tensorBytes(t);
  };
  const numel = (t: TensorProto) => tensorDims(t).reduce((a, b) => a * b, 1);
  const f32 = (t: TensorProto, what: string): Float32Array => {
    if (t.data_type !== TensorDataType.FLOAT) bad(`${what} is not float32.`);
    const b = bytes(t);
    if (b.byteLength !== numel(t) * 4) bad(`${what} holds ${b.byteLength} bytes for ${numel(t)} values.`);
    return new Float32Array(b.slice().buffer);
  };
  const ints = (t: TensorProto, what: string): Int8Array | Uint8Array => {
    const signed = t.data_type === TensorDataType.INT8;
    if (!signed && t.data_type !== TensorDataType.UINT8) bad(`${what} is neither int8 nor uint8.`);
    const b = bytes(t);
    if (b.byteLength !== numel(t)) bad(`${what} holds ${b.byteLength} bytes for ${numel(t)} values.`);
    return signed ? new Int8Array(b.buffer, b.byteOffset, b.byteLength) : b;
  };
  /** A per-tensor (all dims 1) or per-column ([.., N] with leading 1s) constant spread to N values. */
  const perColumn = <T extends Float32Array | Int32Array>(t: TensorProto, vals: ArrayLike<number>, N: number, make: (n: number) => T, what: string): T => {
    const dims = tensorDims(t);
    const scalar = dims.every((x) => x === 1);
    const column = !scalar && dims[dims.length - 1] === N && dims.slice(0, -1).every((x) => x === 1);
    if (!scalar && !column) bad(`${what} has shape [${dims}]; expected one value or one per output column (${N}).`);
    const out = make(N);
    for (let n = 0; n < N; n++) out[n] = vals[scalar ? 0 : n];
    return out;
  };
  const single = (name: string) => {
    const c = index.consumersOf(name);
    return c.length === 1 ? c[0] : undefined;
  };
  const other = (n: NodeProto, name: string): string | undefined => (n.input.length === 2 ? (n.input[0] === name ? n.input[1] : n.input[1] === name ? n.input[0] : undefined) : undefined);

  // ---- refuse what is not this format, by op type
  const ops = new Set(graph.node.map((n) => n.op_type));
  if (ops.has('MatMulNBits')) {
    const nb = graph.node.find((n) => n.op_type === 'MatMulNBits')!;
    bad(`No MatMulInteger linear: this file's linears are com.microsoft.MatMulNBits (${getAttrInt(nb, 'bits', 4)}-bit, block-quantised), which our decoder does not read.`);
  }
  for (const op of ['DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearMatMul', 'GatherBlockQuantized', 'QuantizeLinear', 'QAttention', 'MultiHeadAttention', 'PackedMultiHeadAttention']) {
    if (ops.has(op)) bad(`This file uses ${op}, which our decoder does not read (it reads onnxruntime's DynamicQuantizeLinear + MatMulInteger files).`);
  }
  if (!ops.has('MatMulInteger')) bad('No MatMulInteger linear in the file: is this an 8-bit (_quantized / _int8 / _uint8) decoder file?');

  /** A 2-D weight constant, or the transpose of one. */
  const weightOf = (name: string): { t: TensorProto; transposed: boolean } | undefined => {
    const c = index.constantOf(name);
    if (c) return { t: c, transposed: false };
    const p = index.producer.get(name)?.node;
    if (p?.op_type === 'Transpose') {
      const src = index.constantOf(p.input[0]);
      const perm = getAttr(p, 'perm')?.ints;
      if (src && tensorDims(src).length === 2 && (!perm || (perm[0] === 1 && perm[1] === 0))) return { t: src, transposed: true };
    }
    return undefined;
  };

  /** A float MatMul's constant weight, through Transpose and DequantizeLinear. */
  const floatWeightOf = (name: string): { t: TensorProto; transposed: boolean; dequantised: boolean } | undefined => {
    let t = name, transposed = false, dequantised = false;
    for (let hop = 0; hop < 4; hop++) {
      const c = index.constantOf(t);
      if (c) return { t: c, transposed, dequantised };
      const p = index.producer.get(t)?.node;
      const perm = p?.op_type === 'Transpose' ? getAttr(p, 'perm')?.ints : undefined;
      if (p?.op_type === 'Transpose' && (!perm || (perm.length === 2 && perm[0] === 1 && perm[1] === 0))) transposed = !transposed;
      else if (p?.op_type === 'DequantizeLinear') dequantised = true;
      else return undefined;
      t = p.input[0];
    }
    return undefined;
  };

  // ---- every linear
  const found: FoundLinear[] = [];
  for (const node of graph.node) {
    if (node.op_type === 'MatMul') {
      const w = floatWeightOf(node.input[1]);
      if (!w || floatWeightOf(node.input[0])) continue; // attention's MatMuls (or a constant product)
      const dims = tensorDims(w.t);
      if (dims.length !== 2) continue;
      const [K, N] = w.transposed ? [dims[1], dims[0]] : dims;
      const how = [w.transposed ? 'the transpose of a table, as a tied embedding' : '', w.dequantised ? 'dequantised to float at run time' : ''].filter(Boolean).join(', ');
      found.push({ node, x: node.input[0], y: node.output[0], N, K, q: null, floatHow: how });
      continue;
    }
    if (node.op_type !== 'MatMulInteger') continue;
    const label = `MatMulInteger ${node.name || node.output[0]}`;
    const dqP = index.producer.get(node.input[0]);
    if (dqP?.node.op_type !== 'DynamicQuantizeLinear' || dqP.outputIndex !== 0) {
      if (index.producer.get(node.input[1])?.node.op_type === 'DynamicQuantizeLinear' && weightOf(node.input[0])) bad(`${label} has its weights as the first operand; our decoder reads x . W only.`);
      bad(`${label} is not fed by a DynamicQuantizeLinear of its input.`);
    }
    const dq = dqP.node;
    if (node.input[2] !== dq.output[2]) bad(`${label} does not use its DynamicQuantizeLinear's zero point.`);
    const w = weightOf(node.input[1]);
    if (!w) {
      const why = index.producer.get(node.input[1])?.node.op_type === 'DynamicQuantizeLinear' ? 'quantised at run time' : 'not a constant';
      bad(`${label}'s weights are ${why}; our decoder needs them stored 8-bit.`);
    }
    const dims = tensorDims(w.t);
    if (dims.length !== 2) bad(`${label}'s weights are [${dims}], not a matrix.`);
    const [K, N] = w.transposed ? [dims[1], dims[0]] : dims;
    const wq = ints(w.t, `${label}'s weights`);
    const signed = wq instanceof Int8Array;
    let wz: Int32Array;
    if (node.input[3]) {
      const zT = index.constantOf(node.input[3]);
      if (!zT) bad(`${label}'s weight zero point is not a constant.`);
      const z = ints(zT, `${label}'s weight zero point`);
      if (z instanceof Int8Array !== signed) bad(`${label}'s weight zero point and weights differ in type (int8 vs uint8).`);
      wz = perColumn(zT, z, N, (n) => new Int32Array(n), `${label}'s weight zero point`);
    } else wz = new Int32Array(N);
    // Cast(float) -> scale
    const cast = single(node.output[0]);
    if (cast?.node.op_type !== 'Cast' || getAttrInt(cast.node, 'to') !== TensorDataType.FLOAT) bad(`${label} is not followed by one Cast to float.`);
    const c = cast.node.output[0];
    const xs = dq.output[1];
    const m1 = single(c);
    if (m1?.node.op_type !== 'Mul') bad(`${label}'s Cast is not followed by one Mul.`);
    const o1 = other(m1.node, c)!;
    let wsName: string | undefined;
    let y = m1.node.output[0];
    const sMul = index.producer.get(o1)?.node;
    if (sMul?.op_type === 'Mul' && other(sMul, xs) !== undefined) wsName = other(sMul, xs); // Mul(cast, Mul(xs, ws))
    else if (o1 === xs || index.constantOf(o1)) { // Mul(Mul(cast, xs), ws) or Mul(Mul(cast, ws), xs)
      const m2 = single(y);
      const o2 = m2?.node.op_type === 'Mul' ? other(m2.node, y) : undefined;
      if (o1 === xs && o2 && index.constantOf(o2)) wsName = o2;
      else if (o1 !== xs && o2 === xs) wsName = o1;
      if (wsName) y = m2!.node.output[0];
    }
    const wsT = wsName ? index.constantOf(wsName) : undefined;
    if (!wsT) bad(`${label}'s output is not scaled by its input's scale times a constant weight scale.`);
    const scale = perColumn(wsT, f32(wsT, `${label}'s weight scale`), N, (n) => new Float32Array(n), `${label}'s weight scale`);
    let bias: Float32Array | undefined;
    const add = single(y);
    if (add?.node.op_type === 'Add') {
      const bName = other(add.node, y);
      const bT = bName ? index.constantOf(bName) : undefined;
      if (bT && numel(bT) === N && tensorDims(bT)[tensorDims(bT).length - 1] === N) {
        bias = f32(bT, `${label}'s bias`);
        y = add.node.output[0];
      }
    }
    // -> [N, K] when laid out (wq's N x K bytes were checked present by ints)
    found.push({ node, x: dq.input[0], y, N, K, q: foundQ(wq, w.transposed, N, K, scale, wz, bias) });
  }

  // ---- groups: linears reading the same tensor, in dataflow order
  const byX = new Map<string, FoundLinear[]>();
  for (const f of found.sort((a, b) => at(a.node) - at(b.node))) {
    const list = byX.get(f.x);
    if (list) list.push(f);
    else byX.set(f.x, [f]);
  }
  const groups = [...byX.values()];

  /** Nodes downstream of `from`, not entering another linear. */
  const downstream = (from: string): NodeProto[] => {
    const seen = new Set<NodeProto>();
    const list: NodeProto[] = [];
    const queue = [from];
    while (queue.length && list.length < 5000) {
      const t = queue.shift()!;
      for (const { node } of index.consumersOf(t)) {
        if (seen.has(node)) continue;
        seen.add(node);
        if (LINEAR_START.has(node.op_type) || (node.op_type === 'MatMul' && floatWeightOf(node.input[1]))) continue;
        list.push(node);
        queue.push(...node.output.filter(Boolean));
      }
    }
    return list;
  };

  const { hiddenSize: d, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: I, vocabSize: V } = cfg;
  const shape = (g: FoundLinear[]) => g.map((f) => `[K ${f.K}, N ${f.N}]`).join(', ');
  const expect = (g: FoundLinear[] | undefined, want: [number, number][], what: string): FoundLinear[] => {
    const wantS = want.map(([K, N]) => `[K ${K}, N ${N}]`).join(', ');
    if (!g) bad(`The file ends before ${what}; the config expects linears ${wantS} there.`);
    const sorted = (s: [number, number][]) => s.map(([K, N]) => `${K}x${N}`).sort().join();
    if (g.length !== want.length || sorted(g.map((f) => [f.K, f.N])) !== sorted(want)) {
      const fused = want.length > 1 && g.length === 1 && g[0].N === want.reduce((a, [, N]) => a + N, 0);
      if (fused) bad(`The file fuses ${what} into one linear [K ${g[0].K}, N ${g[0].N}]; our decoder reads them as separate linears.`);
      bad(`The file's ${what} linears are ${shape(g)}; the config says ${wantS}.`, { found: shape(g), expected: wantS });
    }
    return g;
  };
  const linears = new Map<string, FoundLinear>();
  const put = (key: string, f: FoundLinear) => {
    if (!f.q) {
      const how = f.floatHow ? ` (${f.floatHow})` : '';
      bad(`The file keeps ${key} as a float32 MatMul${how}, not 8-bit; our decoder runs only 8-bit linears.`);
    }
    linears.set(key, f);
  };

  let g = 0;
  for (let i = 0; i < cfg.numLayers; i++) {
    const next = groups[g];
    if (i > 0 && next?.length === 1 && next[0].K === d && next[0].N === V) bad(`The file has only ${i} decoder layers; the config says ${cfg.numLayers}.`);
    if (next?.length === 1 && next[0].K === d && next[0].N === (H + 2 * KV) * hd) {
      // q, k and v packed into one linear, as onnxruntime-genai writes them for a packed GroupQueryAttention
      const f = next[0];
      g++;
      const gqa = downstream(f.y).find((n) => n.op_type === 'GroupQueryAttention');
      if (!gqa || gqa.input[1] || gqa.input[2]) bad(`The file fuses layer ${i}'s q/k/v into one linear [K ${f.K}, N ${f.N}] that does not feed a packed GroupQueryAttention; our decoder cannot split it.`);
      if (cfg.qkNorm) bad(`The file packs layer ${i}'s q/k/v into one linear, but the config (${cfg.modelType}) normalises q and k per head, which a packed GroupQueryAttention cannot do.`);
      const m = gqa.input[3]?.match(/^past_key_values\.(\d+)\.key$/);
      if (m && Number(m[1]) !== i) bad(`Layer ${i}'s packed q/k/v feeds past_key_values.${m[1]}; the layers are out of order.`);
      let start = 0;
      for (const [r, n] of [['q', H * hd], ['k', KV * hd], ['v', KV * hd]] as const) {
        put(`layers.${i}.${r}`, { ...f, N: n, q: f.q && f.q.columns(start, start + n) });
        start += n;
      }
    } else {
      const qkv = expect(groups[g++], [[d, H * hd], [d, KV * hd], [d, KV * hd]], `layer ${i}'s q/k/v projections`);
      const roles = qkv.map((f) => {
        let role: 'q' | 'k' | 'v' | null = null;
        let layer: number | null = null;
        const reach = downstream(f.y);
        const made = new Set<string>([f.y, ...reach.flatMap((n) => n.output)]);
        for (const n of reach) {
          if (n.op_type === 'GroupQueryAttention') {
            const slot = n.input.findIndex((inp, j) => j < 3 && made.has(inp));
            if (slot < 0) bad(`Layer ${i}'s projection reaches GroupQueryAttention ${n.name} by none of its q / k / v inputs.`);
            const m = n.input[3]?.match(/^past_key_values\.(\d+)\.key$/);
            return { f, role: (['q', 'k', 'v'] as const)[slot], layer: m ? Number(m[1]) : null };
          }
          for (const inp of n.input) {
            const m = inp.match(/^past_key_values\.(\d+)\.(key|value)$/);
            if (m) {
              const r = m[2] === 'key' ? 'k' : 'v';
              if (role && role !== r) bad(`Layer ${i}'s ${role} projection meets both the key and the value cache.`);
              role = r;
              layer = Number(m[1]);
            }
          }
        }
        return { f, role: role ?? 'q', layer };
      });
      for (const r of ['q', 'k', 'v'] as const) {
        const hits = roles.filter((x) => x.role === r);
        if (hits.length !== 1) bad(`Cannot tell layer ${i}'s q, k and v projections apart (${hits.length} look like ${r}).`);
        if (hits[0].layer !== null && hits[0].layer !== i) bad(`Layer ${i}'s ${r} projection feeds past_key_values.${hits[0].layer}; the layers are out of order.`);
        const want = r === 'q' ? H * hd : KV * hd;
        if (hits[0].f.N !== want) bad(`Layer ${i}'s ${r} projection has N ${hits[0].f.N}; the config says ${want}.`);
        put(`layers.${i}.${r}`, hits[0].f);
      }
    }
    put(`layers.${i}.o`, expect(groups[g++], [[H * hd, d]], `layer ${i}'s o projection`)[0]);
    const gu = expect(groups[g++], [[d, I], [d, I]], `layer ${i}'s gate/up projections`);
    const isGate = gu.map((f) => index.consumersOf(f.y).some((c) => c.node.op_type === 'Sigmoid' || c.node.op_type === 'Swish'));
    if (isGate.filter(Boolean).length !== 1) bad(`Cannot tell layer ${i}'s gate projection from its up projection (expected one of them to feed a Sigmoid).`);
    put(`layers.${i}.gate`, gu[isGate[0] ? 0 : 1]);
    put(`layers.${i}.up`, gu[isGate[0] ? 1 : 0]);
    put(`layers.${i}.down`, expect(groups[g++], [[I, d]], `layer ${i}'s down projection`)[0]);
  }
  const head = groups[g++];
  if (head && head.length === 1 && head[0].K === d && head[0].N === V) put('lm_head', head[0]);
  else if (head && head.length === 3 && head[0].K === d) bad(`The file has more decoder layers than the config's ${cfg.numLayers}.`);
  else expect(head, [[d, V]], 'lm_head');
  if (g < groups.length) bad(`The file has ${groups.length - g} linear(s) after the lm_head that the config does not account for.`);

  // ---- norms
  const eps = Math.fround(cfg.rmsNormEps);
  const checkEps = (e: number, what: string) => {
    if (Math.abs(Math.fround(e) - eps) > 1e-3 * eps + 1e-12) bad(`${what} adds eps ${e}; the config says ${cfg.rmsNormEps}.`);
  };
  const constNum = (name: string): number | undefined => {
    const t = index.constantOf(name);
    if (!t || numel(t) !== 1 || t.data_type !== TensorDataType.FLOAT) return undefined;
    return f32(t, name)[0];
  };
  /** x * (1 / sqrt(mean(x^2) + eps)) (or x / sqrt(...)): x and eps, or undefined. */
  const rmsCore = (y: string): { x: string; eps: number } | undefined => {
    const p = index.producer.get(y)?.node;
    if (!p) return undefined;
    let x: string | undefined, sq: string | undefined;
    if (p.op_type === 'Div') { x = p.input[0]; sq = p.input[1]; }
    else if (p.op_type === 'Mul') {
      for (const [a, b] of [[p.input[0], p.input[1]], [p.input[1], p.input[0]]]) {
        const r = index.producer.get(b)?.node;
        if (r?.op_type === 'Reciprocal') { x = a; sq = r.input[0]; break; }
        if (r?.op_type === 'Div' && constNum(r.input[0]) === 1) { x = a; sq = r.input[1]; break; }
      }
    }
    const sqrt = sq ? index.producer.get(sq)?.node : undefined;
    if (!x || sqrt?.op_type !== 'Sqrt') return undefined;
    const addE = index.producer.get(sqrt.input[0])?.node;
    if (addE?.op_type !== 'Add') return undefined;
    let e: number | undefined, mean: string | undefined;
    for (const [a, b] of [[addE.input[0], addE.input[1]], [addE.input[1], addE.input[0]]]) {
      const v = constNum(b);
      if (v !== undefined) { e = v; mean = a; break; }
    }
    const rm = mean ? index.producer.get(mean)?.node : undefined;
    if (e === undefined || rm?.op_type !== 'ReduceMean' || getAttrInt(rm, 'keepdims', 1) !== 1) return undefined;
    const axesT = rm.input[1] ? index.constantOf(rm.input[1]) : undefined;
    const axes = getAttr(rm, 'axes')?.ints ?? (axesT ? Array.from(new BigInt64Array(bytes(axesT).slice().buffer), Number) : undefined);
    if (!axes || axes.length !== 1 || !(axes[0] === -1 || axes[0] >= 2)) return undefined;
    const pow = index.producer.get(rm.input[0])?.node;
    if (pow?.op_type === 'Pow' && pow.input[0] === x && constNum(pow.input[1]) === 2) return { x, eps: e };
    if (pow?.op_type === 'Mul' && pow.input[0] === x && pow.input[1] === x) return { x, eps: e };
    return undefined;
  };
  /** The RMSNorm weight a node applies, when the node is the end of an RMSNorm (null when it is not one). */
  const addParts = (x: string): [string, string] | null => {
    const p = index.producer.get(x)?.node;
    return p?.op_type === 'Add' && p.input.length === 2 ? [p.input[0], p.input[1]] : null;
  };
  const normAt = (n: NodeProto, out: string, what: string): { w: TensorProto; input: NormIn } | null => {
    const idx = n.output.indexOf(out);
    if (n.op_type === 'SimplifiedLayerNormalization' || n.op_type === 'RMSNormalization' || n.op_type === 'SkipSimplifiedLayerNormalization') {
      if (idx !== 0) return null;
      const skip = n.op_type === 'SkipSimplifiedLayerNormalization';
      if (skip && n.input[3]) bad(`${what} (${n.op_type}) adds a bias, which our decoder does not.`);
      if (!skip && getAttrInt(n, 'axis', -1) !== -1) bad(`${what} (${n.op_type}) normalises over axis ${getAttrInt(n, 'axis')}, not the last one.`);
      checkEps(getAttrFloat(n, 'epsilon', skip ? 1e-12 : 1e-5)!, what);
      const w = index.constantOf(n.input[skip ? 2 : 1]);
      if (!w) bad(`${what}'s weight is not a constant.`);
      const input: NormIn = skip ? { value: n.output[3] || `${n.name || n.output[0]} (sum)`, parts: [n.input[0], n.input[1]] } : { value: n.input[0], parts: addParts(n.input[0]) };
      return { w, input };
    }
    if (n.op_type !== 'Mul') return null;
    for (const [a, b] of [[n.input[0], n.input[1]], [n.input[1], n.input[0]]]) {
      const w = index.constantOf(a);
      if (!w || numel(w) === 1) continue;
      let y = b;
      const castP = index.producer.get(y)?.node;
      if (castP?.op_type === 'Cast' && getAttrInt(castP, 'to') === TensorDataType.FLOAT) y = castP.input[0];
      const core = rmsCore(y);
      if (core) {
        checkEps(core.eps, what);
        return { w, input: { value: core.x, parts: addParts(core.x) } };
      }
    }
    return null;
  };
  const norms = new Map<string, Float32Array>();
  const takeNorm = (key: string, w: TensorProto, dim: number, what: string) => {
    if (numel(w) !== dim || tensorDims(w)[tensorDims(w).length - 1] !== dim) bad(`${what}'s weight is [${tensorDims(w)}]; the config says ${dim} values.`);
    norms.set(key, f32(w, `${what}'s weight`));
  };
  /** The RMSNorm producing tensor `x` (through Identity / float Casts). */
  const normFeeding = (x: string, key: string, what: string): NormIn => {
    let t = x;
    for (let hop = 0; hop < 4; hop++) {
      const p = index.producer.get(t)?.node;
      if (!p) break;
      const hit = normAt(p, t, what);
      if (hit) {
        takeNorm(key, hit.w, d, what);
        return hit.input;
      }
      if (p.op_type === 'Identity' || (p.op_type === 'Cast' && getAttrInt(p, 'to') === TensorDataType.FLOAT)) t = p.input[0];
      else break;
    }
    bad(`${what} is not an RMSNorm with a constant weight (Pow / ReduceMean / Add / Sqrt chain or SimplifiedLayerNormalization) feeding its linears.`);
  };
  /** The per-head RMSNorm on q or k between its projection and attention, if any. */
  const headNorm = (f: FoundLinear, what: string): TensorProto | null => {
    for (const n of downstream(f.y)) {
      for (const o of n.output) {
        const hit = o ? normAt(n, o, what) : null;
        if (hit) return hit.w;
      }
    }
    return null;
  };
  const inNorms: NormIn[] = [], postNorms: NormIn[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    inNorms.push(normFeeding(linears.get(`layers.${i}.q`)!.x, `model.layers.${i}.input_layernorm.weight`, `Layer ${i}'s input norm`));
    postNorms.push(normFeeding(linears.get(`layers.${i}.gate`)!.x, `model.layers.${i}.post_attention_layernorm.weight`, `Layer ${i}'s post-attention norm`));
    for (const r of ['q', 'k'] as const) {
      const what = `Layer ${i}'s ${r} norm`;
      const w = headNorm(linears.get(`layers.${i}.${r}`)!, what);
      if (cfg.qkNorm && !w) bad(`${what} is missing: the config (${cfg.modelType}) normalises q and k per head, and no RMSNorm follows the ${r} projection.`);
      if (!cfg.qkNorm && w) bad(`The file normalises layer ${i}'s ${r} per head, which the config (${cfg.modelType}) does not.`);
      if (w) takeNorm(`model.layers.${i}.self_attn.${r}_norm.weight`, w, hd, what);
    }
  }
  const finalNorm = normFeeding(linears.get('lm_head')!.x, 'model.norm.weight', 'The final norm');

  // ---- attention: GroupQueryAttention's settings must be the plain ones the decoder computes
  for (const n of graph.node) {
    if (n.op_type !== 'GroupQueryAttention') continue;
    const sc = getAttrFloat(n, 'scale', 0)!;
    if (getAttrInt(n, 'num_heads') !== H || getAttrInt(n, 'kv_num_heads') !== KV) bad(`GroupQueryAttention ${n.name} has ${getAttrInt(n, 'num_heads')} / ${getAttrInt(n, 'kv_num_heads')} heads; the config says ${H} / ${KV}.`);
    if (sc !== 0 && Math.abs(sc - 1 / Math.sqrt(hd)) > 1e-6) bad(`GroupQueryAttention ${n.name} scales scores by ${sc}, not 1/sqrt(${hd}).`);
    if (getAttrInt(n, 'local_window_size', -1) !== -1 || getAttrFloat(n, 'softcap', 0) !== 0) bad(`GroupQueryAttention ${n.name} uses a sliding window or a softcap, which our decoder does not.`);
    if (getAttrInt(n, 'do_rotary', 0) !== 0 && getAttrInt(n, 'rotary_interleaved', 0) !== 0) bad(`GroupQueryAttention ${n.name} applies an interleaved rotary; our decoder rotates halves.`);
    if (n.input.length > 9 && n.input.slice(9).some(Boolean)) bad(`GroupQueryAttention ${n.name} takes position ids or an attention bias of its own, which our decoder does not.`);
  }

  // ---- embedding
  const gathers = graph.node.filter((n) => n.op_type === 'Gather' && n.input[1] === 'input_ids');
  if (gathers.length !== 1) bad(gathers.length ? 'The file looks up input_ids in more than one table.' : 'No embedding lookup (Gather on input_ids) in the file.');
  const gather = gathers[0];
  if (getAttrInt(gather, 'axis', 0) !== 0) bad('The embedding Gather is not along the table\'s rows.');
  const dqIn = index.producer.get(gather.input[0])?.node;
  let tableT = index.constantOf(gather.input[0]);
  let deq: NodeProto | undefined;
  if (!tableT && dqIn?.op_type === 'DequantizeLinear') { tableT = index.constantOf(dqIn.input[0]); deq = dqIn; }
  if (!tableT) bad('The embedding table is not a constant.');
  const tdims = tensorDims(tableT);
  if (tdims.length !== 2 || tdims[0] !== V || tdims[1] !== d) bad(`The embedding table is [${tdims}]; the config says [${V}, ${d}].`);
  if (!deq && tableT.data_type !== TensorDataType.FLOAT) {
    const after = single(gather.output[0]);
    if (after?.node.op_type === 'DequantizeLinear' && after.inputIndex === 0) deq = after.node;
    else bad('The embedding table is 8-bit but its rows are not dequantised by one DequantizeLinear.');
  }
  let embedding: OwnWeights['embedding'];
  if (deq) {
    const s = index.constantOf(deq.input[1]);
    if (!s || numel(s) !== 1) bad('The embedding table has a scale per row or block; our decoder reads one scale for the whole table.');
    let z = 0;
    if (deq.input[2]) {
      const zT = index.constantOf(deq.input[2]);
      if (!zT || numel(zT) !== 1) bad('The embedding zero point is not one constant.');
      z = ints(zT, 'The embedding zero point')[0];
    }
    embedding = { codes: ints(tableT, 'The embedding table'), scale: f32(s, 'The embedding scale')[0], zeroPoint: z };
  } else embedding = { table: f32(tableT, 'The embedding table') };
  const embOut = deq && deq !== dqIn ? deq.output[0] : gather.output[0];

  // ---- the block's wiring, as Llama / Qwen have it: h -> h + o(attn(norm(h))) -> mid + down(silu(gate) * up)
  const pair = (p: [string, string] | null, a: string, b: string) => !!p && ((p[0] === a && p[1] === b) || (p[0] === b && p[1] === a));
  const isSilu = (t: string, gate: string) => {
    const p = index.producer.get(t)?.node;
    if (p?.op_type === 'Swish' && p.input[0] === gate) return true;
    if (p?.op_type !== 'Mul') return false;
    const sig = (x: string) => { const q = index.producer.get(x)?.node; return q?.op_type === 'Sigmoid' && q.input[0] === gate; };
    return (p.input[0] === gate && sig(p.input[1])) || (p.input[1] === gate && sig(p.input[0]));
  };
  let mid = '', downY = '';
  for (let i = 0; i < cfg.numLayers; i++) {
    const inN = inNorms[i];
    if (i === 0 ? inN.value !== embOut : !pair(inN.parts, mid, downY)) {
      bad(i === 0 ? 'Layer 0\'s input norm does not read the embedding rows directly (a scaled or mixed embedding, which our decoder does not do).'
        : `Layer ${i}'s input is not layer ${i - 1}'s residual sum (mid + MLP output), as Llama / Qwen blocks have it.`);
    }
    if (!pair(postNorms[i].parts, inN.value, linears.get(`layers.${i}.o`)!.y)) bad(`Layer ${i}'s attention output is not added to its residual stream before the post-attention norm, as Llama / Qwen blocks have it.`);
    mid = postNorms[i].value;
    const down = linears.get(`layers.${i}.down`)!;
    const m = index.producer.get(down.x)?.node;
    const gateY = linears.get(`layers.${i}.gate`)!.y, upY = linears.get(`layers.${i}.up`)!.y;
    if (m?.op_type !== 'Mul' || !((isSilu(m.input[0], gateY) && m.input[1] === upY) || (isSilu(m.input[1], gateY) && m.input[0] === upY))) bad(`Layer ${i}'s MLP is not down(silu(gate) * up), which our decoder computes.`);
    downY = down.y;
  }
  if (!pair(finalNorm.parts, mid, downY)) bad(`The final norm does not read layer ${cfg.numLayers - 1}'s residual sum.`);

  // ---- rotary
  const style = ops.has('GroupQueryAttention') ? 'genai' : 'optimum';
  const half = hd / 2;
  let rotary: OwnWeights['rotary'] = null;
  const rope = graph.node.find((n) => n.op_type === 'RotaryEmbedding');
  const gqaRope = graph.node.find((n) => n.op_type === 'GroupQueryAttention' && getAttrInt(n, 'do_rotary', 0) !== 0);
  if (rope && gqaRope) bad('The file rotates q and k twice (RotaryEmbedding and GroupQueryAttention do_rotary).');
  const inv = index.initializers.get('/model/rotary_emb/inv_freq');
  if (rope || gqaRope) {
    const [cosT, sinT] = rope ? [index.constantOf(rope.input[2]), index.constantOf(rope.input[3])] : [index.constantOf(gqaRope!.input[7]), index.constantOf(gqaRope!.input[8])];
    if (rope && getAttrInt(rope, 'interleaved', 0) !== 0) bad('The file\'s RotaryEmbedding is interleaved; our decoder rotates halves.');
    if (!cosT || !sinT || tensorDims(cosT).length !== 2 || tensorDims(cosT)[1] !== half || numel(cosT) !== numel(sinT)) bad(`The rotary cos / sin caches are not constants of [rows, ${half}].`);
    rotary = { cos: f32(cosT, 'The rotary cos cache'), sin: f32(sinT, 'The rotary sin cache'), rows: tensorDims(cosT)[0] };
  } else if (inv && numel(inv) === half) rotary = { invFreq: f32(inv, 'inv_freq') };
  else {
    // by structure: the one float constant of hd / 2 values that the positions are multiplied by
    const behind = (name: string): TensorProto | undefined => {
      let t = name;
      for (let hop = 0; hop < 5; hop++) {
        const c = index.constantOf(t);
        if (c) return c;
        const p = index.producer.get(t)?.node;
        if (!p || !['Unsqueeze', 'Expand', 'Reshape', 'Identity', 'Cast'].includes(p.op_type)) return undefined;
        t = p.input[0];
      }
      return undefined;
    };
    const found = new Set<TensorProto>();
    for (const n of downstream('position_ids')) {
      for (const i of n.input) {
        const c = i ? behind(i) : undefined;
        if (c && c.data_type === TensorDataType.FLOAT && numel(c) === half) found.add(c);
      }
    }
    if (found.size === 1) rotary = { invFreq: f32([...found][0], 'inv_freq') };
  }

  const out = new Map<string, PendingLinear>();
  for (const [k, f] of linears) out.set(k, f.q!);
  return { linears: out, embedding, norms, rotary, style };
}
