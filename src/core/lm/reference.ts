/**
 * An independent forward pass of a Llama / Qwen2 / Qwen3 decoder in plain TypeScript, written from
 * HF transformers' modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py (read, not copied).
 * Float64 throughout; slow and simple on purpose — it is the yardstick the ONNX graphs are held to.
 *
 *   h = embed[ids]
 *   per layer: h += o_proj(attn(rope(q_norm?(q_proj(rms(h)))), rope(k_norm?(k_proj(rms(h)))), v_proj(rms(h))))   -> resid_mid
 *              h += down(silu(gate(rms(h))) * up(rms(h)))                                                       -> resid_post
 *   logits = lm_head(rms(h))
 */
import { decodeF32 } from '../tensor';
import type { Checkpoint } from './checkpoint';
import { lmHeadName } from './checkpoint';
import type { DecoderConfig } from './config';

export interface ReferenceOutput {
  /** seq x vocab, row-major. */
  logits: Float32Array;
  /** Per layer, the residual stream after the block (seq x d). */
  residPost: Float32Array[];
  /** Per layer, the residual stream after attention, before the MLP (seq x d). */
  residMid: Float32Array[];
}

export interface ReferenceOptions {
  /** Position of each token (defaults to 0..seq-1). */
  positionIds?: number[];
}

type Vec = Float64Array;

function load(ck: Checkpoint, name: string): Float64Array {
  return Float64Array.from(decodeF32(ck.tensor(name)));
}

/** y[s, out] = x[s, in] . W[out, in]^T (+ b). */
function linear(x: Vec, seq: number, W: Vec, outDim: number, inDim: number, b?: Vec): Vec {
  const y = new Float64Array(seq * outDim);
  for (let t = 0; t < seq; t++) {
    const xo = t * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += x[xo + i] * W[wo + i];
      y[t * outDim + o] = acc + (b ? b[o] : 0);
    }
  }
  return y;
}

/** RMSNorm over consecutive groups of `dim` values: w * x / sqrt(mean(x^2) + eps). */
function rmsNorm(x: Vec, dim: number, w: Vec, eps: number): Vec {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i] ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = w[i] * (x[r * dim + i] * inv);
  }
  return y;
}

/** Rotate-half RoPE in place on x[seq, heads, headDim]. */
function applyRope(x: Vec, seq: number, heads: number, headDim: number, pos: number[], invFreq: Float64Array): void {
  const half = headDim / 2;
  for (let t = 0; t < seq; t++) {
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const ang = pos[t] * invFreq[i];
        const c = Math.cos(ang), s = Math.sin(ang);
        const x1 = x[o + i], x2 = x[o + half + i];
        // q*cos + rotate_half(q)*sin, rotate_half(q) = cat(-x2, x1)
        x[o + i] = x1 * c - x2 * s;
        x[o + half + i] = x2 * c + x1 * s;
      }
    }
  }
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/**
 * Inverse RoPE frequencies, kept separate from config.ts's ropeInvFreq on purpose (the builder uses
 * that one): written from HF's _compute_default_rope_parameters / _compute_llama3_parameters /
 * linear scaling, vectorised the way HF writes it (scale all, then override the medium band).
 */
function invFrequencies(cfg: DecoderConfig): Float64Array {
  const dim = cfg.headDim;
  const base = Array.from({ length: dim / 2 }, (_, i) => 1 / cfg.ropeTheta ** ((2 * i) / dim));
  const rs = cfg.ropeScaling;
  if (!rs) return Float64Array.from(base);
  if (rs.type === 'linear') return Float64Array.from(base.map((f) => f / rs.factor));
  const lowFreqWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
  const highFreqWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
  return Float64Array.from(base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const scaled = wavelen > lowFreqWavelen ? f / rs.factor : f;
    const smooth = (rs.originalMaxPositionEmbeddings / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
    const smoothed = ((1 - smooth) * scaled) / rs.factor + smooth * scaled;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMedium ? smoothed : scaled;
  }));
}

export function referenceForward(config: DecoderConfig, weights: Checkpoint, inputIds: number[], opts: ReferenceOptions = {}): ReferenceOutput {
  const cfg = config;
  const seq = inputIds.length;
  const d = cfg.hiddenSize, H = cfg.numHeads, KV = cfg.numKvHeads, hd = cfg.headDim, I = cfg.intermediateSize;
  const group = H / KV;
  const pos = opts.positionIds ?? inputIds.map((_, i) => i);
  const invFreq = invFrequencies(cfg);
  const eps = cfg.rmsNormEps;

  const emb = weights.tensor('model.embed_tokens.weight');
  let h: Vec = new Float64Array(seq * d);
  for (let t = 0; t < seq; t++) {
    const row = decodeF32(emb, inputIds[t] * d, d);
    for (let i = 0; i < d; i++) h[t * d + i] = row[i];
  }

  const residPost: Float32Array[] = [];
  const residMid: Float32Array[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const opt = (n: string) => (weights.has(p + n) ? load(weights, p + n) : undefined);
    const x = rmsNorm(h, d, load(weights, p + 'input_layernorm.weight'), eps);
    let q = linear(x, seq, load(weights, p + 'self_attn.q_proj.weight'), H * hd, d, cfg.qkvBias ? opt('self_attn.q_proj.bias') : undefined);
    let k = linear(x, seq, load(weights, p + 'self_attn.k_proj.weight'), KV * hd, d, cfg.qkvBias ? opt('self_attn.k_proj.bias') : undefined);
    const v = linear(x, seq, load(weights, p + 'self_attn.v_proj.weight'), KV * hd, d, cfg.qkvBias ? opt('self_attn.v_proj.bias') : undefined);
    if (cfg.qkNorm) {
      q = rmsNorm(q, hd, load(weights, p + 'self_attn.q_norm.weight'), eps);
      k = rmsNorm(k, hd, load(weights, p + 'self_attn.k_norm.weight'), eps);
    }
    applyRope(q, seq, H, hd, pos, invFreq);
    applyRope(k, seq, KV, hd, pos, invFreq);

    const attn = new Float64Array(seq * H * hd);
    const scale = 1 / Math.sqrt(hd);
    const scores = new Float64Array(seq);
    for (let head = 0; head < H; head++) {
      const kh = Math.floor(head / group); // repeat_kv: head h reads kv head h // n_rep
      for (let t = 0; t < seq; t++) {
        const qo = (t * H + head) * hd;
        let max = -Infinity;
        for (let u = 0; u <= t; u++) {
          const ko = (u * KV + kh) * hd;
          let acc = 0;
          for (let i = 0; i < hd; i++) acc += q[qo + i] * k[ko + i];
          scores[u] = acc * scale;
          if (scores[u] > max) max = scores[u];
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) { scores[u] = Math.exp(scores[u] - max); sum += scores[u]; }
        for (let u = 0; u <= t; u++) {
          const w = scores[u] / sum;
          const vo = (u * KV + kh) * hd;
          for (let i = 0; i < hd; i++) attn[qo + i] += w * v[vo + i];
        }
      }
    }
    const o = linear(attn, seq, load(weights, p + 'self_attn.o_proj.weight'), d, H * hd, cfg.oBias ? opt('self_attn.o_proj.bias') : undefined);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    residMid.push(Float32Array.from(h));

    const x2 = rmsNorm(h, d, load(weights, p + 'post_attention_layernorm.weight'), eps);
    const g = linear(x2, seq, load(weights, p + 'mlp.gate_proj.weight'), I, d, cfg.mlpBias ? opt('mlp.gate_proj.bias') : undefined);
    const up = linear(x2, seq, load(weights, p + 'mlp.up_proj.weight'), I, d, cfg.mlpBias ? opt('mlp.up_proj.bias') : undefined);
    for (let i = 0; i < g.length; i++) g[i] = silu(g[i]) * up[i];
    const down = linear(g, seq, load(weights, p + 'mlp.down_proj.weight'), d, I, cfg.mlpBias ? opt('mlp.down_proj.bias') : undefined);
    h = h.map((val, i) => val + down[i]);
    residPost.push(Float32Array.from(h));
  }
  const xf = rmsNorm(h, d, load(weights, 'model.norm.weight'), eps);
  const logits = linear(xf, seq, load(weights, lmHeadName(cfg)), cfg.vocabSize, d);
  return { logits: Float32Array.from(logits), residPost, residMid };
}
