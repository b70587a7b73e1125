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
import { FormatError } from '../../errors';
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
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const zpRow = Math.ceil(kBlocks / 2);
  if (packed.length < N * kBlocks * blob || scales.length < N * kBlocks) {
    throw new FormatError('onnx-matmulnbits', `A MatMulNBits weight holds ${packed.length} bytes and ${scales.length} scales; N ${N}, K ${K}, block ${blockSize} need ${N * kBlocks * blob} and ${N * kBlocks}.`);
  }
  for (let n = 0; n < N; n++) {
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
        out[k * N + n] = (code - zp) * scale;
      }
    }
  }
  return out;
}

const asF32 = (b: Uint8Array) => (b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : new Float32Array(b.slice().buffer));

/** How far a conversion got: MatMulNBits nodes converted of all. */
export interface DequantizeProgress {
  done: number;
  total: number;
}

/** Convert every eligible MatMulNBits node (see the module comment). */
export function dequantizeMatMulNBits(modelBytes: Uint8Array, opts: DequantizeOptions): DequantizeResult {
  return runSteps(dequantizeSteps(modelBytes, opts));
}

/**
 * dequantizeMatMulNBits in steps (the same steps), the event loop's turn after each node: progress
 * (nodes converted of all, 0 first), a cancel between nodes (an AbortError).
 */
export function dequantizeMatMulNBitsAsync(modelBytes: Uint8Array, opts: DequantizeOptions & StepsOptions<DequantizeProgress>): Promise<DequantizeResult> {
  return runStepsAsync(dequantizeSteps(modelBytes, opts), opts, 'Converting the 4-bit weights was cancelled.');
}

/** The conversion, a node a step. */
function* dequantizeSteps(modelBytes: Uint8Array, opts: DequantizeOptions): Generator<DequantizeProgress, DequantizeResult, void> {
  const model = decodeModel(modelBytes);
  const graph = model.graph;
  const files = new Map((opts.externalData ?? []).map((f) => [f.path, f.data]));
  const read = (t: TensorProto) => tensorBytes(t, (loc) => files.get(loc) ?? files.get(loc.replace(/^\.\//, '')));
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const nodes = convertible(graph);
  const newFiles: ExternalFile[] = [];
  const replaced = new Map<NodeProto, NodeProto[]>();
  let bytes = 0;
  yield { done: 0, total: nodes.length };
  for (const [i, n] of nodes.entries()) {
    const { node, N, K, blockSize } = n;
    const zpT = node.input[3] ? inits.get(node.input[3]) : undefined;
    if (node.input[3] && !zpT) throw new FormatError('onnx-matmulnbits', `MatMulNBits node ${node.name} takes zero points from a computed tensor, which cannot be converted.`);
    const zp = zpT ? (zpT.data_type === TensorDataType.FLOAT ? asF32(read(zpT)) : read(zpT)) : null;
    const wT = dequantizeNBits(read(inits.get(node.input[1])!), asF32(read(inits.get(node.input[2])!)), zp, N, K, blockSize);
    const base = (node.name || `matmulnbits_${i}`).replace(/MatMulNBits/g, 'MatMul');
    const y = node.output[0];
    const bias = node.input[5];
    const mmOut = bias ? `${base}_output_0/no_bias` : y;
    const path = `${WEIGHTS_PATH}.${i}`;
    const out: NodeProto[] = [];
    if (opts.target === 'fp32') {
      const w = `${base}.weight_dequantized`;
      graph.initializer.push(makeExternalTensor(w, TensorDataType.FLOAT, [K, N], path, 0, wT.byteLength));
      newFiles.push({ path, data: new Uint8Array(wT.buffer) });
      out.push(makeNode('MatMul', [node.input[0], w], [mmOut], base));
    } else {
      // per-column symmetric int8: code = round(w / s_n), s_n = max |w[:, n]| / 127
      const colMax = new Float32Array(N);
      for (let k = 0; k < K; k++) for (let c = 0; c < N; c++) { const a = Math.abs(wT[k * N + c]); if (a > colMax[c]) colMax[c] = a; }
      const s = colMax.map((m) => (m > 0 ? m / 127 : 1));
      const codes = new Int8Array(K * N);
      for (let k = 0; k < K; k++) for (let c = 0; c < N; c++) codes[k * N + c] = Math.max(-127, Math.min(127, Math.round(wT[k * N + c] / s[c])));
      const w = `${base}.weight_quantized`;
      graph.initializer.push(makeExternalTensor(w, TensorDataType.INT8, [K, N], path, 0, codes.byteLength));
      graph.initializer.push(makeTensor(`${base}.weight_scale`, TensorDataType.FLOAT, [N], s));
      graph.initializer.push(makeTensor(`${base}.weight_zero_point`, TensorDataType.INT8, [], new Int8Array([0])));
      newFiles.push({ path, data: new Uint8Array(codes.buffer) });
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
    yield { done: i + 1, total: nodes.length };
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
