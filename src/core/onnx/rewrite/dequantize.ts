/**
 * Load-time conversion of 4-bit `com.microsoft.MatMulNBits` linear layers for backends whose 4-bit
 * kernel is slow (onnxruntime-web's WASM MatMulNBits runs ~35x slower than native):
 *
 *   target 'fp32': MatMul(A, W^T) with the dequantised weights in float32 — exactly the numbers the
 *                  4-bit file computes with, at fp32 MatMul speed, 8x the memory of the 4-bit codes;
 *   target 'int8': DynamicQuantizeLinear + MatMulInteger on per-column symmetric int8 weights (the
 *                  dynamic-quantisation shape of the hub's `_quantized` files), 2x the memory of the
 *                  codes, a small extra rounding on top of the 4-bit one.
 *
 * Only float32-activation nodes are converted (q4f16 keeps its nodes). The new weights are handed
 * back as in-memory external data files (no protobuf re-encoding of gigabytes); initializers the
 * graph no longer uses are dropped, and the remaining large ones stay views into the original bytes.
 * `dequantizeCost` tells, before anything is allocated, how many bytes the converted weights need.
 */
import { DataError, FormatError } from '../../errors';
import {
  attrInt, decodeModel, encodeModel, getAttrInt, makeExternalTensor, makeNode, makeTensor, tensorBytes, TensorDataType,
  type GraphProto, type NodeProto, type TensorProto,
} from '../proto';
import { externalizeWeights, type ExternalFile } from './externalize';
import { runSteps, runStepsAsync, type StepsOptions } from '../../steps';

export type DequantizeTarget = 'fp32' | 'int8';

export interface DequantizeOptions {
  target: DequantizeTarget;
  /** The model's own external data files (`model_q4.onnx_data`, ...). */
  externalData?: ExternalFile[];
  /** Most weights converted a step (default CONVERT_STEP_WEIGHTS; tests pass a few hundred). */
  stepWeights?: number;
}

export interface DequantizeResult {
  /** The rewritten model (small: large weights are external). */
  model: Uint8Array;
  /** Every external data file the rewritten model needs (original views + the converted weights). */
  externalData: ExternalFile[];
  /** Nodes converted, and bytes of the weights they now hold. */
  converted: number;
  bytes: number;
}

export interface DequantizeCost {
  /** MatMulNBits nodes that would be converted. */
  nodes: number;
  /** Bytes of the 4-bit weights (codes, scales, zero points) they hold now. */
  q4Bytes: number;
  /** Bytes of the converted weights. */
  convertedBytes: number;
}

const WEIGHTS_PATH = 'persona-space.dequantized';

interface NBitsNode {
  node: NodeProto;
  N: number;
  K: number;
  blockSize: number;
}

/** The MatMulNBits nodes this rewrite converts: 4-bit, no g_idx, float32 scales. */
function convertible(graph: GraphProto): NBitsNode[] {
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const out: NBitsNode[] = [];
  for (const node of graph.node) {
    if (node.op_type !== 'MatMulNBits' || node.domain !== 'com.microsoft') continue;
    if ((getAttrInt(node, 'bits', 4) ?? 4) !== 4) continue;
    if (node.input[4]) continue; // g_idx (act-order) layouts are not handled
    const scales = inits.get(node.input[2]);
    if (!inits.has(node.input[1]) || scales?.data_type !== TensorDataType.FLOAT) continue;
    const N = getAttrInt(node, 'N') ?? 0;
    const K = getAttrInt(node, 'K') ?? 0;
    const blockSize = getAttrInt(node, 'block_size') ?? 0;
    if (!(N > 0 && K > 0 && blockSize >= 16 && (blockSize & (blockSize - 1)) === 0)) {
      throw new FormatError('onnx-matmulnbits', `MatMulNBits node ${node.name} has impossible attributes (N ${N}, K ${K}, block_size ${blockSize}).`);
    }
    out.push({ node, N, K, blockSize });
  }
  return out;
}

const convertedSize = (n: NBitsNode, target: DequantizeTarget) => (target === 'fp32' ? n.N * n.K * 4 : n.N * n.K + n.N * 4);

/** What converting would cost, from the graph alone (no weight is read). */
export function dequantizeCost(graphOrBytes: GraphProto | Uint8Array, target: DequantizeTarget): DequantizeCost {
  const graph = graphOrBytes instanceof Uint8Array ? decodeModel(graphOrBytes).graph : graphOrBytes;
  const nodes = convertible(graph);
  let q4Bytes = 0, convertedBytes = 0;
  for (const n of nodes) {
    const kBlocks = Math.ceil(n.K / n.blockSize);
    q4Bytes += n.N * kBlocks * (n.blockSize / 2) + n.N * kBlocks * 4 + n.N * Math.ceil(kBlocks / 2);
    convertedBytes += convertedSize(n, target);
  }
  return { nodes: nodes.length, q4Bytes, convertedBytes };
}

/**
 * W^T [K, N] (the MatMul layout) from MatMulNBits' B [N][kBlocks][blockSize/2] (low nibble first),
 * scales [N * kBlocks], zero points packed 4-bit [N][ceil(kBlocks/2)] or one float per block, or
 * absent (8). dequant = (code - zero point) * scale. Written into `out` when given.
 */
export function dequantizeNBits(
  packed: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array | Float32Array | null,
  N: number, K: number, blockSize: number, out = new Float32Array(N * K),
): Float32Array {
  checkNBits(packed, scales, N, K, blockSize);
  dequantizeColumns(packed, scales, zeroPoints, N, K, blockSize, out, 0, N, N, 0);
  return out;
}

function checkNBits(packed: Uint8Array, scales: Float32Array, N: number, K: number, blockSize: number): void {
  const kBlocks = Math.ceil(K / blockSize);
  if (packed.length < N * kBlocks * (blockSize / 2) || scales.length < N * kBlocks) {
    throw new FormatError('onnx-matmulnbits', `A MatMulNBits weight holds ${packed.length} bytes and ${scales.length} scales; N ${N}, K ${K}, block ${blockSize} need ${N * kBlocks * (blockSize / 2)} and ${N * kBlocks}.`);
  }
}

/** Columns [n0, n1) of dequantizeNBits' W^T, column n of row k at out[k * stride + n - first] (all of it: 0, N, N, 0). */
function dequantizeColumns(
  packed: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array | Float32Array | null,
  N: number, K: number, blockSize: number, out: Float32Array, n0: number, n1: number, stride: number, first: number,
): void {
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const zpRow = Math.ceil(kBlocks / 2);
  for (let n = n0; n < n1; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const scale = scales[n * kBlocks + b];
      let zp = 8;
      if (zeroPoints instanceof Float32Array) zp = zeroPoints[n * kBlocks + b];
      else if (zeroPoints) {
        const zb = zeroPoints[n * zpRow + (b >> 1)];
        zp = b & 1 ? zb >> 4 : zb & 15;
      }
      const base = (n * kBlocks + b) * blob;
      const k0 = b * blockSize;
      const k1 = Math.min(K, k0 + blockSize);
      for (let k = k0; k < k1; k++) {
        const byte = packed[base + ((k - k0) >> 1)];
        const code = (k - k0) & 1 ? byte >> 4 : byte & 15;
        out[k * stride + n - first] = (code - zp) * scale;
      }
    }
  }
}

/**
 * Most weights one step of the conversion handles: 4 Mi (whole columns, at least one a step), so
 * 16 MiB of float32 weights a step (the own decoder's LOAD_STEP_BYTES, there of int8 codes). A
 * weight costs ~4x here what the decoder's repack does (dequantise, column max, divide, round):
 * Node 20 took ~0.4-0.5 s a step at 16 Mi for 'int8', so a node of more (the Qwen3-0.6B lm_head,
 * 151,936 x 1,024: one ~3.5 s step before) is converted a chunk of columns a step, ~0.1 s each.
 */
export const CONVERT_STEP_WEIGHTS = 4 * 2 ** 20;

/**
 * A node's weights converted, a chunk of `stepWeights` weights (whole columns) a step, a yield
 * (the weights done) between two chunks: W^T [K, N] in float32 ('fp32'), or per-column symmetric int8 codes [K, N]
 * with their scales ('int8': code = round(w / s_n), s_n = max |w[:, n]| / 127, each chunk's
 * float32 weights dequantised into scratch of its own, not all N x K).
 */
function* convertSteps(
  packed: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array | Float32Array | null,
  N: number, K: number, blockSize: number, target: DequantizeTarget, stepWeights: number,
): Generator<number, { data: Uint8Array; scale: Float32Array | null }, void> {
  checkNBits(packed, scales, N, K, blockSize);
  const cols = Math.max(1, Math.floor(stepWeights / K));
  const wT = target === 'fp32' ? new Float32Array(N * K) : null;
  const codes = target === 'int8' ? new Int8Array(K * N) : null;
  const s = new Float32Array(target === 'int8' ? N : 0);
  const part = codes ? new Float32Array(K * Math.min(N, cols)) : null;
  for (let c0 = 0; c0 < N; c0 += cols) {
    if (c0 > 0) yield c0 * K;
    const c1 = Math.min(N, c0 + cols);
    if (wT) {
      dequantizeColumns(packed, scales, zeroPoints, N, K, blockSize, wT, c0, c1, N, 0);
      continue;
    }
    // the chunk's columns [K, w] in part, then their scales and codes
    const w = c1 - c0;
    dequantizeColumns(packed, scales, zeroPoints, N, K, blockSize, part!, c0, c1, w, c0);
    const colMax = new Float32Array(w);
    for (let k = 0; k < K; k++) for (let c = 0; c < w; c++) { const a = Math.abs(part![k * w + c]); if (a > colMax[c]) colMax[c] = a; }
    for (let c = 0; c < w; c++) s[c0 + c] = colMax[c] > 0 ? colMax[c] / 127 : 1;
    for (let k = 0; k < K; k++) for (let c = 0; c < w; c++) codes![k * N + c0 + c] = Math.max(-127, Math.min(127, Math.round(part![k * w + c] / s[c0 + c])));
  }
  return wT ? { data: new Uint8Array(wT.buffer), scale: null } : { data: new Uint8Array(codes!.buffer), scale: s };
}

const asF32 = (b: Uint8Array) => (b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : new Float32Array(b.slice().buffer));

/**
 * How far a conversion got: MatMulNBits nodes converted of all, and their weights (N x K each). A
 * node of more than CONVERT_STEP_WEIGHTS weights takes several steps: `done` counts it once its
 * last is done, `weightsDone` grows within it.
 */
export interface DequantizeProgress {
  done: number;
  total: number;
  weightsDone: number;
  weights: number;
}

/** Convert every eligible MatMulNBits node (see the module comment). */
export function dequantizeMatMulNBits(modelBytes: Uint8Array, opts: DequantizeOptions): DequantizeResult {
  return runSteps(dequantizeSteps(modelBytes, opts));
}

/**
 * dequantizeMatMulNBits in steps (the same steps), the event loop's turn after each: progress
 * (nodes and weights converted of all, 0 first), a cancel between steps (an AbortError); a node
 * is one step, or (more than `stepWeights` weights, CONVERT_STEP_WEIGHTS by default) one a chunk of its columns.
 */
export function dequantizeMatMulNBitsAsync(modelBytes: Uint8Array, opts: DequantizeOptions & StepsOptions<DequantizeProgress>): Promise<DequantizeResult> {
  return runStepsAsync(dequantizeSteps(modelBytes, opts), opts, 'Converting the 4-bit weights was cancelled.');
}

/** The conversion, a node a step (a chunk of a big node's columns a step). */
function* dequantizeSteps(modelBytes: Uint8Array, opts: DequantizeOptions): Generator<DequantizeProgress, DequantizeResult, void> {
  const stepWeights = opts.stepWeights ?? CONVERT_STEP_WEIGHTS;
  if (!(stepWeights > 0)) throw new DataError('dequantize-step', `A conversion step's weights are ${stepWeights}; they must be positive.`);
  const model = decodeModel(modelBytes);
  const graph = model.graph;
  const files = new Map((opts.externalData ?? []).map((f) => [f.path, f.data]));
  const read = (t: TensorProto) => tensorBytes(t, (loc) => files.get(loc) ?? files.get(loc.replace(/^\.\//, '')));
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const nodes = convertible(graph);
  const newFiles: ExternalFile[] = [];
  const replaced = new Map<NodeProto, NodeProto[]>();
  let bytes = 0;
  const weights = nodes.reduce((a, n) => a + n.N * n.K, 0);
  let weightsDone = 0;
  yield { done: 0, total: nodes.length, weightsDone, weights };
  for (const [i, n] of nodes.entries()) {
    const { node, N, K, blockSize } = n;
    const zpT = node.input[3] ? inits.get(node.input[3]) : undefined;
    if (node.input[3] && !zpT) throw new FormatError('onnx-matmulnbits', `MatMulNBits node ${node.name} takes zero points from a computed tensor, which cannot be converted.`);
    const zp = zpT ? (zpT.data_type === TensorDataType.FLOAT ? asF32(read(zpT)) : read(zpT)) : null;
    const steps = convertSteps(read(inits.get(node.input[1])!), asF32(read(inits.get(node.input[2])!)), zp, N, K, blockSize, opts.target, stepWeights);
    let r = steps.next();
    for (; !r.done; r = steps.next()) yield { done: i, total: nodes.length, weightsDone: weightsDone + r.value, weights };
    const { data, scale: s } = r.value;
    const base = (node.name || `matmulnbits_${i}`).replace(/MatMulNBits/g, 'MatMul');
    const y = node.output[0];
    const bias = node.input[5];
    const mmOut = bias ? `${base}_output_0/no_bias` : y;
    const path = `${WEIGHTS_PATH}.${i}`;
    const out: NodeProto[] = [];
    newFiles.push({ path, data });
    if (!s) {
      const w = `${base}.weight_dequantized`;
      graph.initializer.push(makeExternalTensor(w, TensorDataType.FLOAT, [K, N], path, 0, data.byteLength));
      out.push(makeNode('MatMul', [node.input[0], w], [mmOut], base));
    } else {
      // per-column symmetric int8 (convertSteps)
      const w = `${base}.weight_quantized`;
      graph.initializer.push(makeExternalTensor(w, TensorDataType.INT8, [K, N], path, 0, data.byteLength));
      graph.initializer.push(makeTensor(`${base}.weight_scale`, TensorDataType.FLOAT, [N], s));
      graph.initializer.push(makeTensor(`${base}.weight_zero_point`, TensorDataType.INT8, [], new Int8Array([0])));
      const q = [`${base}/x_quantized`, `${base}/x_scale`, `${base}/x_zero_point`];
      out.push(makeNode('DynamicQuantizeLinear', [node.input[0]], q, `${base}/DynamicQuantizeLinear`));
      out.push(makeNode('MatMulInteger', [q[0], w, q[2], `${base}.weight_zero_point`], [`${base}/int32`], `${base}/MatMulInteger`));
      out.push(makeNode('Cast', [`${base}/int32`], [`${base}/float`], `${base}/Cast`, [attrInt('to', TensorDataType.FLOAT)]));
      out.push(makeNode('Mul', [q[1], `${base}.weight_scale`], [`${base}/scale`], `${base}/ScaleMul`));
      out.push(makeNode('Mul', [`${base}/float`, `${base}/scale`], [mmOut], `${base}/Mul`));
    }
    if (bias) out.push(makeNode('Add', [mmOut, bias], [y], `${base}/BiasAdd`));
    replaced.set(node, out);
    bytes += convertedSize(n, opts.target);
    weightsDone += N * K;
    yield { done: i + 1, total: nodes.length, weightsDone, weights };
  }
  graph.node = graph.node.flatMap((nd) => replaced.get(nd) ?? [nd]);
  // drop the 4-bit initializers no node reads any more (an embedding may share them)
  const used = new Set<string>();
  const visit = (g: GraphProto) => {
    for (const nd of g.node) {
      for (const i of nd.input) used.add(i);
      for (const a of nd.attribute) {
        if (a.g) visit(a.g);
        for (const sg of a.graphs ?? []) visit(sg);
      }
    }
  };
  visit(graph);
  for (const o of graph.output) used.add(o.name);
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? ''));
  const newNames = new Set(newFiles.map((f) => f.path));
  const kept = externalizeWeights(graph, modelBytes, {
    path: 'persona-space.q4-original',
    threshold: 1024,
    existing: [...(opts.externalData ?? []), ...newFiles],
  });
  // externalizeWeights lists the existing files the graph still uses, the converted ones included
  const externalData = kept.files.filter((f) => !newNames.has(f.path)).concat(newFiles);
  return { model: encodeModel(model), externalData, converted: nodes.length, bytes };
}
