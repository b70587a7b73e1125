/**
 * The weights of an 8-bit decoder ONNX file (the hub's `_quantized` / `_int8` / `_uint8` shape, as
 * src/core/lm/builder writes it), read by structure with our own protobuf reader, for the decoder
 * in ./decoder.ts:
 *
 *   linear   DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq [K, N], xz, wz) -> Cast -> Mul(., Mul(xs, ws)) (-> Add bias);
 *            named by the node's scope: `/model/layers.{i}/{self_attn|attn}/{q,k,v,o}_proj`,
 *            `/model/layers.{i}/mlp/{gate,up,down}_proj`, `/lm_head` (both export styles spell them so);
 *            weight codes int8 or uint8, scale and zero point per tensor or per output column;
 *   embedding  Gather(table, input_ids) -> DequantizeLinear(., scale, zero point), or a float32 table;
 *   norms    float32 initializers under their HF names (`model.layers.{i}.input_layernorm.weight`,
 *            `...post_attention_layernorm.weight`, `...self_attn.{q,k}_norm.weight`, `model.norm.weight`);
 *   rotary   `/model/rotary_emb/inv_freq` (optimum style) or `cos_cache` / `sin_cache` (genai style),
 *            else computed from the config.
 *
 * Every shape read from the file is checked against the config (itself bounded by parseConfig)
 * before anything is allocated.
 */
import { FormatError } from '../../errors';
import { decodeModel, tensorBytes, TensorDataType, type TensorProto } from '../../onnx/proto';
import { GraphIndex, tensorDims } from '../../onnx/rewrite/graph';
import type { ExternalFile } from '../../onnx/rewrite/externalize';
import type { DecoderConfig } from '../config';

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

export interface OwnWeights {
  /** `layers.{i}.{q,k,v,o,gate,up,down}` and `lm_head`. */
  linears: Map<string, QLinear>;
  /** Embedding rows: int8/uint8 codes [V, d] with a scale and zero point (DequantizeLinear), or float32. */
  embedding: { codes: Int8Array | Uint8Array; scale: number; zeroPoint: number } | { table: Float32Array };
  /** HF names -> float32 values. */
  norms: Map<string, Float32Array>;
  /** Optimum style: inv_freq [hd / 2]; genai style: cos / sin caches [rows, hd / 2]. */
  rotary: { invFreq: Float32Array } | { cos: Float32Array; sin: Float32Array; rows: number } | null;
  style: 'optimum' | 'genai';
}

const LINEAR_SCOPES: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^\/model\/layers\.(\d+)\/(?:self_attn|attn)\/([qkvo])_proj$/, (m) => `layers.${m[1]}.${m[2]}`],
  [/^\/model\/layers\.(\d+)\/mlp\/(gate|up|down)_proj$/, (m) => `layers.${m[1]}.${m[2]}`],
  [/^\/lm_head$/, () => 'lm_head'],
];

function bad(message: string): never {
  throw new FormatError('own-weights', message);
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

export function readOwnWeights(onnx: Uint8Array, cfg: DecoderConfig, externalData: ExternalFile[] = []): OwnWeights {
  const graph = decodeModel(onnx).graph;
  const index = new GraphIndex(graph);
  const files = new Map(externalData.map((f) => [f.path, f.data]));
  const bytes = (t: TensorProto) => tensorBytes(t, (loc) => files.get(loc));
  const numel = (t: TensorProto) => tensorDims(t).reduce((a, b) => a * b, 1);
  const f32 = (t: TensorProto, what: string): Float32Array => {
    if (t.data_type !== TensorDataType.FLOAT) bad(`${what} is not float32.`);
    const b = bytes(t);
    if (b.byteLength !== numel(t) * 4) bad(`${what} holds ${b.byteLength} bytes for ${numel(t)} values.`);
    return new Float32Array(b.slice().buffer);
  };
  const ints = (t: TensorProto | undefined, what: string): { values: Int8Array | Uint8Array; signed: boolean } => {
    if (!t) bad(`${what} is not a constant.`);
    const signed = t.data_type === TensorDataType.INT8;
    if (!signed && t.data_type !== TensorDataType.UINT8) bad(`${what} is neither int8 nor uint8.`);
    const b = bytes(t);
    if (b.byteLength !== numel(t)) bad(`${what} holds ${b.byteLength} bytes for ${numel(t)} values.`);
    return { values: signed ? new Int8Array(b.buffer, b.byteOffset, b.byteLength) : b, signed };
  };
  /** A scalar or per-column constant spread to N values. */
  const perColumn = <T extends Float32Array | Int32Array>(vals: ArrayLike<number>, N: number, make: (n: number) => T, what: string): T => {
    if (vals.length !== 1 && vals.length !== N) bad(`${what} has ${vals.length} values; expected 1 or ${N}.`);
    const out = make(N);
    for (let n = 0; n < N; n++) out[n] = vals[vals.length === 1 ? 0 : n];
    return out;
  };

  const shapes = linearShapes(cfg);
  const linears = new Map<string, QLinear>();
  for (const node of graph.node) {
    if (node.op_type !== 'MatMulInteger') continue;
    const scope = (node.name ?? '').replace(/\/[^/]*$/, '');
    let key: string | undefined;
    for (const [re, f] of LINEAR_SCOPES) {
      const m = scope.match(re);
      if (m) key = f(m);
    }
    if (!key) continue;
    const want = shapes.get(key);
    if (!want) bad(`${node.name} is a linear of a layer the config does not have.`);
    const [N, K] = want;
    const dq = index.producer.get(node.input[0]);
    if (dq?.node.op_type !== 'DynamicQuantizeLinear') bad(`${node.name} is not fed by DynamicQuantizeLinear.`);
    const wT = index.constantOf(node.input[1]);
    if (!wT) bad(`${node.name}'s weights are not a constant.`);
    const dims = tensorDims(wT);
    if (dims.length !== 2 || dims[0] !== K || dims[1] !== N) bad(`${node.name}'s weights are [${dims}]; the config says [${K}, ${N}].`);
    const { values: wq } = ints(wT, `${node.name}'s weights`);
    const wz = node.input[3] ? ints(index.constantOf(node.input[3]), `${node.name}'s weight zero point`).values : new Int8Array(1);
    // Cast -> Mul(., Mul(xs, ws)) [-> Add bias]
    const cast = index.consumersOf(node.output[0]);
    if (cast.length !== 1 || cast[0].node.op_type !== 'Cast') bad(`${node.name} is not followed by one Cast.`);
    const mul = index.consumersOf(cast[0].node.output[0]);
    if (mul.length !== 1 || mul[0].node.op_type !== 'Mul') bad(`${node.name}'s Cast is not followed by one Mul.`);
    const sMul = index.producer.get(mul[0].node.input[1 - mul[0].inputIndex])?.node;
    if (sMul?.op_type !== 'Mul') bad(`${node.name}'s scale is not xs * ws.`);
    const xsName = dq.node.output[1];
    const wsName = sMul.input[0] === xsName ? sMul.input[1] : sMul.input[1] === xsName ? sMul.input[0] : bad(`${node.name}'s scale does not use the activation scale.`);
    const wsT = index.constantOf(wsName);
    if (!wsT) bad(`${node.name}'s weight scale is not a constant.`);
    const scale = perColumn(f32(wsT, `${node.name}'s weight scale`), N, (n) => new Float32Array(n), `${node.name}'s weight scale`);
    const zeroPoint = perColumn(wz, N, (n) => new Int32Array(n), `${node.name}'s weight zero point`);
    let bias: Float32Array | undefined;
    const next = index.consumersOf(mul[0].node.output[0]);
    if (next.length === 1 && next[0].node.op_type === 'Add') {
      const bT = index.constantOf(next[0].node.input[1 - next[0].inputIndex]);
      if (bT && numel(bT) === N) bias = f32(bT, `${node.name}'s bias`);
    }
    // [K, N] -> [N, K]
    const codes = wq instanceof Int8Array ? new Int8Array(N * K) : new Uint8Array(N * K);
    for (let k = 0; k < K; k++) {
      const row = k * N;
      for (let n = 0; n < N; n++) codes[n * K + k] = wq[row + n];
    }
    if (linears.has(key)) bad(`The file has two linears for ${key}.`);
    linears.set(key, { codes, N, K, scale, zeroPoint, bias });
  }
  for (const key of shapes.keys()) if (!linears.has(key)) bad(`No MatMulInteger linear for ${key}: is this an 8-bit (_quantized / _int8 / _uint8) decoder file?`);

  // embedding
  const gather = graph.node.find((n) => n.op_type === 'Gather' && n.input[1] === 'input_ids' && index.constantOf(n.input[0]));
  if (!gather) bad('No embedding lookup (Gather on input_ids) in the file.');
  const tableT = index.constantOf(gather.input[0])!;
  const tdims = tensorDims(tableT);
  if (tdims.length !== 2 || tdims[0] !== cfg.vocabSize || tdims[1] !== cfg.hiddenSize) bad(`The embedding table is [${tdims}]; the config says [${cfg.vocabSize}, ${cfg.hiddenSize}].`);
  let embedding: OwnWeights['embedding'];
  const deq = index.consumersOf(gather.output[0]);
  if (deq.length === 1 && deq[0].node.op_type === 'DequantizeLinear') {
    const s = index.constantOf(deq[0].node.input[1]);
    if (!s || numel(s) !== 1) bad('The embedding scale is not one constant.');
    const z = deq[0].node.input[2] ? ints(index.constantOf(deq[0].node.input[2]), 'The embedding zero point').values[0] : 0;
    embedding = { codes: ints(tableT, 'The embedding table').values, scale: f32(s, 'The embedding scale')[0], zeroPoint: z };
  } else embedding = { table: f32(tableT, 'The embedding table') };

  // norms
  const norms = new Map<string, Float32Array>();
  const norm = (name: string, dim: number) => {
    const t = index.initializers.get(name);
    if (!t || numel(t) !== dim) bad(`No ${dim}-value norm weight "${name}" in the file.`);
    norms.set(name, f32(t, name));
  };
  for (let i = 0; i < cfg.numLayers; i++) {
    norm(`model.layers.${i}.input_layernorm.weight`, cfg.hiddenSize);
    norm(`model.layers.${i}.post_attention_layernorm.weight`, cfg.hiddenSize);
    if (cfg.qkNorm) {
      norm(`model.layers.${i}.self_attn.q_norm.weight`, cfg.headDim);
      norm(`model.layers.${i}.self_attn.k_norm.weight`, cfg.headDim);
    }
  }
  norm('model.norm.weight', cfg.hiddenSize);

  const style = graph.node.some((n) => n.op_type === 'GroupQueryAttention') ? 'genai' : 'optimum';
  const half = cfg.headDim / 2;
  let rotary: OwnWeights['rotary'] = null;
  const inv = index.initializers.get('/model/rotary_emb/inv_freq');
  const cosT = index.initializers.get('cos_cache'), sinT = index.initializers.get('sin_cache');
  if (inv && numel(inv) === half) rotary = { invFreq: f32(inv, 'inv_freq') };
  else if (cosT && sinT && tensorDims(cosT)[1] === half && numel(cosT) === numel(sinT)) {
    rotary = { cos: f32(cosT, 'cos_cache'), sin: f32(sinT, 'sin_cache'), rows: tensorDims(cosT)[0] };
  }
  return { linears, embedding, norms, rotary, style };
}
