/**
 * Find the residual stream of a decoder graph by structure: the export style from the op types,
 * then the chain of residual sums from the embedding to the final norm. Names are only a
 * cross-check (a disagreement becomes a warning, never the answer).
 *
 * - genai builder style: every norm after layer 0's first is a fused Skip(Simplified)LayerNormalization
 *   whose output 3 is input + skip, the running residual. The chain alternates resid_mid[i]
 *   (post_attention_layernorm) and resid_post[i] (the next layer's input_layernorm); the last link
 *   is the final norm, which does not expose its sum, so it is marked `fusedFinalNorm`.
 * - Optimum style: the residual sums are plain Add nodes, one input of which is computed from the
 *   other (the sublayer reads the stream it is added back to). The longest chain of such Adds, each
 *   feeding the next, alternates resid_mid[i] and resid_post[i].
 */
import { PersonaSpaceError } from '../../errors';
import { TensorDataType, type NodeProto } from '../proto';
import { GraphIndex, tensorDims } from './graph';

export type ExportStyle = 'genai' | 'optimum';

export interface ResidualSite {
  layer: number;
  /** The tensor that holds resid_post[layer] in the original graph (absent for a fused final norm that hides it). */
  tensor?: string;
  /** genai: the final Skip*LayerNormalization whose internal sum is resid_post of the last layer. */
  fusedFinalNorm?: NodeProto;
}

export interface ResidualStream {
  style: ExportStyle;
  numLayers: number;
  hiddenSize: number;
  /** TensorDataType of the residual (FLOAT or FLOAT16). */
  residType: number;
  sites: ResidualSite[];
  warnings: string[];
}

export const SKIP_NORM_OPS = ['SkipSimplifiedLayerNormalization', 'SkipLayerNormalization'];
const GENAI_MARKERS = ['SkipSimplifiedLayerNormalization', 'SkipLayerNormalization', 'GroupQueryAttention'];
const PLAIN_NORM_OPS = ['SimplifiedLayerNormalization', 'RMSNormalization', 'LayerNormalization'];
const ATTENTION_OPS = ['GroupQueryAttention', 'MultiHeadAttention', 'Attention', 'PackedAttention'];
const LINEAR_OPS = new Set(['MatMul', 'MatMulNBits', 'Gemm', 'MatMulInteger', 'QLinearMatMul', 'DynamicQuantizeMatMul']);

export class UnsupportedGraphError extends PersonaSpaceError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('onnx-unsupported-graph', message, details);
    this.name = 'UnsupportedGraphError';
  }
}

const EXPECTED =
  'Expected a decoder exported by the onnxruntime-genai builder (SkipSimplifiedLayerNormalization, GroupQueryAttention, MatMulNBits) ' +
  'or by Optimum/torch.onnx (RMSNorm spelled out with Pow and ReduceMean, residual Add nodes)';

/** Which export style the op types say this graph is, or undefined. */
export function detectStyle(index: GraphIndex): ExportStyle | undefined {
  if (index.countOps(...GENAI_MARKERS) > 0 && index.countOps(...SKIP_NORM_OPS) > 0) return 'genai';
  const spelledRms = index.countOps('Pow') > 0 && index.countOps('ReduceMean') > 0;
  const plainNorm = index.countOps(...PLAIN_NORM_OPS) > 0;
  if ((spelledRms || plainNorm) && index.countOps('Add') > 0 && index.countOps(...LINEAR_OPS) > 0) return 'optimum';
  return undefined;
}

export function locateResidualStream(index: GraphIndex, opts: { hiddenSize?: number } = {}): ResidualStream {
  const style = detectStyle(index);
  if (!style) {
    throw new UnsupportedGraphError(`${EXPECTED}; found ${index.opHistogram() || 'an empty graph'}.`, { ops: index.opHistogram() });
  }
  const found = style === 'genai' ? genaiChain(index) : optimumChain(index);
  const { sites, warnings } = found;
  const numLayers = sites.length;

  const attention = index.countOps(...ATTENTION_OPS) || index.countOps('Softmax');
  if (attention && attention !== numLayers) warnings.push(`found ${numLayers} residual layers but ${attention} attention blocks`);

  const firstTensor = sites[0].tensor ?? sites[0].fusedFinalNorm!.input[0];
  const residType = index.elemType(firstTensor) ?? (style === 'genai' ? index.elemType(found.gamma!) : undefined);
  if (residType !== TensorDataType.FLOAT && residType !== TensorDataType.FLOAT16) {
    throw new UnsupportedGraphError(
      `The residual stream of this model is ${residType === undefined ? 'of unknown type' : `of ONNX type ${residType}`}; only float32 and float16 residuals are supported.`,
    );
  }
  const hiddenSize = opts.hiddenSize ?? findHiddenSize(index, style, found, firstTensor);
  if (!hiddenSize) throw new UnsupportedGraphError('Could not tell the hidden size of this model from its graph; pass it explicitly.');
  return { style, numLayers, hiddenSize, residType, sites, warnings };
}

interface Chain { sites: ResidualSite[]; warnings: string[]; gamma?: string }

function genaiChain(index: GraphIndex): Chain {
  const skips = index.graph.node.filter((n) => SKIP_NORM_OPS.includes(n.op_type));
  const bySum = new Map<string, NodeProto>();
  for (const n of skips) if (n.output[3]) bySum.set(n.output[3], n);
  const heads = skips.filter((n) => !bySum.has(n.input[0]) && !bySum.has(n.input[1]));
  if (heads.length !== 1) {
    throw new UnsupportedGraphError(
      `This looks like an onnxruntime-genai export, but its ${skips.length} skip norms do not form one residual chain (${heads.length} starts).`,
    );
  }
  const chain: NodeProto[] = [heads[0]];
  for (;;) {
    const sum = chain[chain.length - 1].output[3];
    if (!sum) break;
    const next = index.consumersOf(sum).filter((c) => SKIP_NORM_OPS.includes(c.node.op_type) && c.inputIndex < 2);
    if (next.length === 0) break;
    if (next.length > 1) throw new UnsupportedGraphError(`The residual ${sum} feeds ${next.length} skip norms; expected one.`);
    chain.push(next[0].node);
  }
  if (chain.length % 2 !== 0 || chain.length !== skips.length) {
    throw new UnsupportedGraphError(
      `This looks like an onnxruntime-genai export, but its residual chain has ${chain.length} skip norms of ${skips.length}; expected two per layer.`,
    );
  }
  const last = chain[chain.length - 1];
  const lastUsed = last.output[3] && index.consumersOf(last.output[3]).length > 0;
  if (lastUsed) throw new UnsupportedGraphError('The final norm of this genai export feeds its residual onward; expected it to end the stream.');
  const numLayers = chain.length / 2;
  const warnings: string[] = [];
  const sites: ResidualSite[] = [];
  for (let i = 0; i < numLayers; i++) {
    const node = chain[2 * i + 1];
    checkName(warnings, node.name, i + 1, i === numLayers - 1 ? /final_norm|norm/ : /input_layernorm/, `resid_post[${i}]`);
    checkName(warnings, chain[2 * i].name, i, /post_attention_layernorm/, `resid_mid[${i}]`);
    sites.push(i === numLayers - 1 ? { layer: i, fusedFinalNorm: node } : { layer: i, tensor: node.output[3] });
  }
  return { sites, warnings, gamma: chain[0].input[2] };
}

function optimumChain(index: GraphIndex): Chain {
  // A residual Add: both operands computed (not constants), one an ancestor of the other.
  const residualInput = new Map<NodeProto, string>();
  for (const n of index.graph.node) {
    if (n.op_type !== 'Add' || n.input.length !== 2) continue;
    const [a, b] = n.input;
    if (!a || !b || index.constantOf(a) || index.constantOf(b)) continue;
    if (index.isAncestor(a, b)) residualInput.set(n, a);
    else if (index.isAncestor(b, a)) residualInput.set(n, b);
  }
  // Link each residual Add to the one whose output it continues.
  const byOutput = new Map<string, NodeProto>();
  for (const n of residualInput.keys()) byOutput.set(n.output[0], n);
  const next = new Map<NodeProto, NodeProto>();
  const hasPrev = new Set<NodeProto>();
  for (const [n, r] of residualInput) {
    const prev = byOutput.get(r);
    if (prev) {
      if (next.has(prev)) throw new UnsupportedGraphError(`The residual ${r} is continued by two Add nodes; expected one.`);
      next.set(prev, n);
      hasPrev.add(n);
    }
  }
  let best: NodeProto[] = [];
  for (const n of residualInput.keys()) {
    if (hasPrev.has(n)) continue;
    const chain = [n];
    for (let c = next.get(n); c; c = next.get(c)) chain.push(c);
    if (chain.length > best.length) best = chain;
  }
  if (best.length < 2 || best.length % 2 !== 0) {
    throw new UnsupportedGraphError(
      `${EXPECTED}; this graph has the plain ops of an Optimum export but its residual Adds form a chain of ${best.length}, expected two per layer. Found ${index.opHistogram()}.`,
    );
  }
  const numLayers = best.length / 2;
  const warnings: string[] = [];
  const sites: ResidualSite[] = [];
  for (let i = 0; i < numLayers; i++) {
    const tensor = best[2 * i + 1].output[0];
    checkName(warnings, tensor, i, /Add_1/, `resid_post[${i}]`);
    sites.push({ layer: i, tensor });
  }
  return { sites, warnings };
}

/** If a name speaks of `/layers.K/` with K other than expected, note it (names are a cross-check only). */
function checkName(warnings: string[], name: string | undefined, expectedLayer: number, role: RegExp, what: string): void {
  if (!name) return;
  const m = /layers\.(\d+)\//.exec(name);
  if (!m) return;
  if (Number(m[1]) !== expectedLayer || !role.test(name)) warnings.push(`${what} found structurally at "${name}"`);
}

function findHiddenSize(index: GraphIndex, style: ExportStyle, chain: Chain, residual: string): number | undefined {
  if (style === 'genai' && chain.gamma) {
    const g = index.constantOf(chain.gamma);
    if (g && tensorDims(g).length === 1) return tensorDims(g)[0];
  }
  const declared = [...index.graph.value_info, ...index.graph.output].find((v) => v.name === residual);
  const last = declared?.type?.tensor_type?.shape?.dim?.at(-1)?.dim_value;
  if (last) return Number(last);
  // The norm that reads the residual scales by a rank-1 weight of length d before any linear layer.
  const seen = new Set<string>([residual]);
  let frontier = [residual];
  for (let depth = 0; depth < 12 && frontier.length; depth++) {
    const nextFrontier: string[] = [];
    for (const t of frontier) {
      for (const { node } of index.consumersOf(t)) {
        if (LINEAR_OPS.has(node.op_type)) continue;
        if (node.op_type === 'Mul' || PLAIN_NORM_OPS.includes(node.op_type)) {
          for (const i of node.input) {
            const c = i ? index.constantOf(i) : undefined;
            if (c && tensorDims(c).length === 1 && tensorDims(c)[0] > 1) return tensorDims(c)[0];
          }
        }
        for (const o of node.output) if (o && !seen.has(o)) { seen.add(o); nextFrontier.push(o); }
      }
    }
    frontier = nextFrontier;
  }
  return undefined;
}
