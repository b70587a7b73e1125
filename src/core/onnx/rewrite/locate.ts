/**
 * Find the residual stream of a decoder graph by structure: the export style from the op types,
 * then the chain of residual sums from the embedding to the final norm. Names are only a
 * cross-check (a disagreement becomes a warning, never the answer).
 *
 * A residual sum adds a block's output to the stream that block read, so one operand is computed
 * from the other. The longest chain of such sums, each continuing the previous one, is the stream;
 * it alternates resid_mid[i] and resid_post[i].
 * - genai builder style: the sums are fused Skip(Simplified)LayerNormalization nodes (output 3 is
 *   input + skip; the final norm does not emit it). resid_post[i] is the sum inside the next
 *   layer's input_layernorm (or the final norm), whose output 0 is computed from that sum inside
 *   the op: such a site is `fusedNorm` and the instrumenter splits it.
 * - Optimum style: the sums are plain Add nodes (`/model/layers.i/Add_1` = resid_post[i]).
 * ORT-optimised graphs that mix both kinds are handled the same way.
 */
import { PersonaSpaceError } from '../../errors';
import { TensorDataType, type NodeProto } from '../proto';
import { GraphIndex, tensorDims } from './graph';

export type ExportStyle = 'genai' | 'optimum';

export interface ResidualSite {
  layer: number;
  /** The tensor that holds resid_post[layer] in the original graph, produced by a plain Add. */
  tensor?: string;
  /**
   * A fused Skip(Simplified)LayerNormalization whose internal sum is resid_post[layer]. Its output 0
   * (the next block's normalised input) is computed from the sum inside the op, so an intervention
   * must split it: sum explicitly, intervene, normalise the result.
   */
  fusedNorm?: NodeProto;
}

export interface ResidualStream {
  style: ExportStyle;
  numLayers: number;
  hiddenSize: number;
  /** TensorDataType of the residual (FLOAT or FLOAT16). */
  residType: number;
  /** The stream before layer 0 (the embedding output), same shape and type as every residual. */
  embedding: string;
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
  const chain = residualChain(index);
  if (chain.length < 2 || chain.length % 2 !== 0) {
    throw new UnsupportedGraphError(
      `This looks like ${style === 'genai' ? 'an onnxruntime-genai' : 'an Optimum'} export, but its residual sums form a chain of ${chain.length}, expected two per layer. Found ${index.opHistogram()}.`,
    );
  }
  const numLayers = chain.length / 2;
  const warnings: string[] = [];
  const sites: ResidualSite[] = [];
  for (let i = 0; i < numLayers; i++) {
    const mid = chain[2 * i], post = chain[2 * i + 1];
    if (SKIP_NORM_OPS.includes(post.node.op_type)) {
      checkName(warnings, post.node.name, i + 1, i === numLayers - 1 ? /norm/ : /input_layernorm/, `resid_post[${i}]`);
      sites.push({ layer: i, fusedNorm: post.node });
    } else {
      checkName(warnings, post.node.output[0], i, /Add_1/, `resid_post[${i}]`);
      sites.push({ layer: i, tensor: post.node.output[0] });
    }
    if (SKIP_NORM_OPS.includes(mid.node.op_type)) checkName(warnings, mid.node.name, i, /post_attention_layernorm/, `resid_mid[${i}]`);
  }
  const attention = index.countOps(...ATTENTION_OPS) || index.countOps('Softmax');
  if (attention && attention !== numLayers) warnings.push(`found ${numLayers} residual layers but ${attention} attention blocks`);

  const embedding = chain[0].residual;
  const residType = index.elemType(embedding) ?? index.elemType(chain[0].node.input[2] ?? '');
  if (residType !== TensorDataType.FLOAT && residType !== TensorDataType.FLOAT16) {
    throw new UnsupportedGraphError(
      `The residual stream of this model is ${residType === undefined ? 'of unknown type' : `of ONNX type ${residType}`}; only float32 and float16 residuals are supported.`,
    );
  }
  const hiddenSize = opts.hiddenSize ?? findHiddenSize(index, chain, embedding);
  if (!hiddenSize) throw new UnsupportedGraphError('Could not tell the hidden size of this model from its graph; pass it explicitly.');
  return { style, numLayers, hiddenSize, residType, embedding, sites, warnings };
}

/** One residual sum: a plain Add, or a fused skip norm (its sum is output 3, possibly not emitted). */
interface Link { node: NodeProto; residual: string; sum?: string }

/**
 * The residual stream as a chain of sums. A sum adds a block's output to the stream it read:
 * an Add (or the input/skip pair of a fused skip norm) one of whose operands is computed from the
 * other. Each link's stream operand is the previous link's sum; the longest such chain is the
 * residual stream, alternating resid_mid[i] and resid_post[i].
 */
function residualChain(index: GraphIndex): Link[] {
  const links: Link[] = [];
  for (const n of index.graph.node) {
    const skip = SKIP_NORM_OPS.includes(n.op_type);
    if (!skip && (n.op_type !== 'Add' || n.input.length !== 2)) continue;
    const [a, b] = n.input;
    if (!a || !b || index.constantOf(a) || index.constantOf(b)) continue;
    const sum = skip ? n.output[3] || undefined : n.output[0];
    if (index.isAncestor(b, a)) links.push({ node: n, residual: b, sum });
    else if (index.isAncestor(a, b)) links.push({ node: n, residual: a, sum });
  }
  const bySum = new Map<string, Link>();
  for (const l of links) if (l.sum) bySum.set(l.sum, l);
  const next = new Map<Link, Link>();
  const hasPrev = new Set<Link>();
  for (const l of links) {
    const prev = bySum.get(l.residual);
    if (!prev) continue;
    if (next.has(prev)) throw new UnsupportedGraphError(`The residual ${l.residual} is continued by two sums; expected one.`);
    next.set(prev, l);
    hasPrev.add(l);
  }
  let best: Link[] = [];
  for (const l of links) {
    if (hasPrev.has(l)) continue;
    const chain = [l];
    for (let c = next.get(l); c; c = next.get(c)) chain.push(c);
    if (chain.length > best.length) best = chain;
  }
  return best;
}

/** If a name speaks of `/layers.K/` with K other than expected, note it (names are a cross-check only). */
function checkName(warnings: string[], name: string | undefined, expectedLayer: number, role: RegExp, what: string): void {
  if (!name) return;
  const m = /layers\.(\d+)\//.exec(name);
  if (!m) return;
  if (Number(m[1]) !== expectedLayer || !role.test(name)) warnings.push(`${what} found structurally at "${name}"`);
}

function findHiddenSize(index: GraphIndex, chain: Link[], embedding: string): number | undefined {
  const skip = chain.find((l) => SKIP_NORM_OPS.includes(l.node.op_type));
  if (skip) {
    const g = index.constantOf(skip.node.input[2]);
    if (g && tensorDims(g).length === 1) return tensorDims(g)[0];
  }
  const declared = [...index.graph.value_info, ...index.graph.output].find((v) => v.name === embedding);
  const last = declared?.type?.tensor_type?.shape?.dim?.at(-1)?.dim_value;
  if (last) return Number(last);
  // The norm that reads the stream scales by a rank-1 weight of length d before any linear layer.
  const seen = new Set<string>([embedding]);
  let frontier = [embedding];
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
