/**
 * A decoder of our own for the WASM backend: pure TypeScript plus our WebAssembly SIMD128 int8
 * kernel (../int8-gemv-wasm.ts), running an 8-bit hub-shaped decoder file (`model_quantized.onnx`
 * and its `_int8` / `_uint8` siblings, as src/core/lm/builder writes them; weights read by
 * ./weights.ts) for the Llama / Qwen2 / Qwen3 families of config.ts. One row, a KV cache, prefill
 * and decode steps, greedy generation. Not wired into the product (see the bench's `own` section).
 *
 * Numbers follow the optimum-style graph op by op, in float32 (each op's result rounded to float32;
 * sums inside an op in float64, then rounded once):
 *   - every linear is onnxruntime's dynamic quantisation exactly: DynamicQuantizeLinear over the
 *     whole [tokens, K] input (uint8, per tensor: scale = (max(0, max x) - min(0, min x)) / 255,
 *     zero point = round-half-even(clamp(-min / scale, 0, 255)), codes = clamp(rhe(x / scale) + zero)),
 *     MatMulInteger with exact integer sums, then float(sum) * (xs * ws) (+ bias). q/k/v share one
 *     quantisation of their input (as their three DynamicQuantizeLinear nodes compute the same one),
 *     and so do gate/up: they run as one fused linear each;
 *   - RMSNorm as Pow, ReduceMean, Add eps, Sqrt, Div(1, .), Mul, Mul weight; q/k norm per head (Qwen3);
 *   - RoPE rotate-half from float32 inv_freq (or the genai file's cos/sin caches); grouped-query
 *     attention with the causal mask; softmax as exp(s - max) * (1 / sum); SiLU as x * sigmoid(x).
 * So the only difference from onnxruntime is float rounding (summation order, exp/sigmoid/cos
 * approximations), except where an activation lands within that rounding of a quantisation step.
 *
 * Taps and steering at resid_post (the residual stream after block L), as the instrumented graph
 * (core/onnx/instrument.ts) does them: h <- h + steer[L]; h <- h + relu(cap_tau[L] - h.cap_axis[L]) cap_axis[L].
 */
import { DataError } from '../../errors';
import type { DecoderConfig } from '../config';
import { ropeInvFreq } from '../config';
import type { Interventions } from '../interventions';
import { argmax as firstArgmax } from '../sampling';
import type { ExternalFile } from '../../onnx/rewrite/externalize';
import { Linear, type KernelPool } from './linear';
import { readOwnWeights, type OwnWeights } from './weights';

const f = Math.fround;

/** Round half to even (onnxruntime's std::nearbyint under the default rounding mode). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface DynamicQuant {
  codes: Uint8Array;
  scale: number;
  zeroPoint: number;
}

/** onnxruntime's DynamicQuantizeLinear (uint8, one scale and zero point for the whole tensor). Non-finite input is refused. */
export function dynamicQuantizeLinear(x: Float32Array, codes = new Uint8Array(x.length)): DynamicQuant {
  let mn = 0, mx = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < mn) mn = v;
    else if (v > mx) mx = v;
    else if (v !== v) throw new DataError('non-finite', 'An activation in the decoder is not a finite number (NaN).');
  }
  if (!Number.isFinite(mn) || !Number.isFinite(mx)) throw new DataError('non-finite', 'An activation in the decoder is not a finite number (overflow).');
  const scale = mx === mn ? 1 : f(f(mx - mn) / 255);
  const z0 = f(0 - f(mn / scale));
  const zeroPoint = roundHalfEven(Math.max(0, Math.min(255, z0)));
  for (let i = 0; i < x.length; i++) {
    const q = roundHalfEven(f(x[i] / scale)) + zeroPoint;
    codes[i] = q < 0 ? 0 : q > 255 ? 255 : q;
  }
  return { codes, scale, zeroPoint };
}

interface Layer {
  qkv: Linear;
  o: Linear;
  gateUp: Linear;
  down: Linear;
  inNorm: Float32Array;
  postNorm: Float32Array;
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
}

/** The KV cache of one row: per layer, keys (after RoPE) and values [tokens, kvHeads, headDim]. */
export class OwnCache {
  length = 0;
  keys: Float32Array[];
  values: Float32Array[];
  private capacity = 0;

  constructor(private readonly layers: number, private readonly width: number) {
    this.keys = Array.from({ length: layers }, () => new Float32Array(0));
    this.values = Array.from({ length: layers }, () => new Float32Array(0));
  }

  /** Room for `total` tokens. */
  reserve(total: number): void {
    if (total <= this.capacity) return;
    const cap = Math.max(total, this.capacity * 2, 16);
    for (let l = 0; l < this.layers; l++) {
      const k = new Float32Array(cap * this.width), v = new Float32Array(cap * this.width);
      k.set(this.keys[l].subarray(0, this.length * this.width));
      v.set(this.values[l].subarray(0, this.length * this.width));
      this.keys[l] = k;
      this.values[l] = v;
    }
    this.capacity = cap;
  }

  /** Forget everything from token `length` on (undo / edit). */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new DataError('own-cache', `The cache holds ${this.length} tokens; cannot truncate to ${length}.`);
    this.length = length;
  }
}

export interface OwnDecoderOptions {
  /** Threads for the linears (./linear.ts); without it every linear runs on the calling thread. */
  pool?: KernelPool;
}

export interface ForwardOptions {
  /** Steering and capping (rows = 1), as for the instrumented graph. */
  interventions?: Interventions;
  /** Return resid_post of every layer (after the interventions). */
  taps?: boolean;
  /**
   * 'all' (default): logits of every fed token, the lm_head's input quantised over all of them as
   * the ONNX graph does; 'last': the last token's only (its own quantisation; the same at one token).
   */
  logits?: 'all' | 'last';
}

export interface ForwardResult {
  /** [rows, vocab]: every fed token, or the last one. */
  logits: Float32Array;
  /** Per layer [tokens, d], when asked for. */
  residPost?: Float32Array[];
}

export interface GreedyResult {
  ids: number[];
  prefillMs: number;
  decodeMs: number;
  /** Tokens after the first per second of decoding (the loop's own timer, as LmEngine reports it). */
  decodeTokensPerSecond: number;
}

export class OwnDecoder {
  private readonly layers: Layer[];
  private readonly lmHead: Linear;
  private readonly finalNorm: Float32Array;
  private readonly invFreq: Float32Array;
  private readonly ropeCache: { cos: Float32Array; sin: Float32Array; rows: number } | null;
  private readonly eps: number;
  /** Bytes of weight codes held in the kernels' memories (every linear's N x K). */
  readonly weightBytes: number;

  constructor(readonly cfg: DecoderConfig, private readonly w: OwnWeights, options: OwnDecoderOptions = {}) {
    const pool = options.pool;
    const lin = (k: string) => w.linears.get(k)!;
    let bytes = 0;
    for (const q of w.linears.values()) bytes += q.N * q.K;
    this.weightBytes = bytes;
    const n = (k: string) => w.norms.get(k)!;
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => ({
      qkv: new Linear([lin(`layers.${i}.q`), lin(`layers.${i}.k`), lin(`layers.${i}.v`)], pool),
      o: new Linear([lin(`layers.${i}.o`)], pool),
      gateUp: new Linear([lin(`layers.${i}.gate`), lin(`layers.${i}.up`)], pool),
      down: new Linear([lin(`layers.${i}.down`)], pool),
      inNorm: n(`model.layers.${i}.input_layernorm.weight`),
      postNorm: n(`model.layers.${i}.post_attention_layernorm.weight`),
      qNorm: cfg.qkNorm ? n(`model.layers.${i}.self_attn.q_norm.weight`) : null,
      kNorm: cfg.qkNorm ? n(`model.layers.${i}.self_attn.k_norm.weight`) : null,
    }));
    this.lmHead = new Linear([lin('lm_head')], pool);
    this.finalNorm = n('model.norm.weight');
    const r = w.rotary;
    this.invFreq = r && 'invFreq' in r ? r.invFreq : Float32Array.from(ropeInvFreq(cfg));
    this.ropeCache = r && 'cos' in r ? r : null;
    this.eps = f(cfg.rmsNormEps);
    // the codes now live in the kernels' memories
    w.linears.clear();
  }

  /** Read an 8-bit decoder file (and its external data) for `cfg`. */
  static fromOnnx(onnx: Uint8Array, cfg: DecoderConfig, externalData?: ExternalFile[], options: OwnDecoderOptions = {}): OwnDecoder {
    return new OwnDecoder(cfg, readOwnWeights(onnx, cfg, externalData), options);
  }

  newCache(): OwnCache {
    return new OwnCache(this.cfg.numLayers, this.cfg.numKvHeads * this.cfg.headDim);
  }

  /** RMSNorm over groups of `dim` values, in place into `out`. */
  private rms(x: Float32Array, dim: number, w: Float32Array, out: Float32Array): Float32Array {
    const eps = this.eps;
    for (let o = 0; o < x.length; o += dim) {
      let ss = 0;
      for (let i = 0; i < dim; i++) { const v = x[o + i]; ss += f(v * v); }
      const inv = f(1 / f(Math.sqrt(f(f(f(ss) / dim) + eps))));
      for (let i = 0; i < dim; i++) out[o + i] = f(w[i] * f(x[o + i] * inv));
    }
    return out;
  }

  /** cos / sin [hd] of one position. */
  private rope(pos: number, cos: Float32Array, sin: Float32Array): void {
    const half = this.cfg.headDim / 2;
    const rc = this.ropeCache;
    if (rc) {
      if (pos >= rc.rows) throw new DataError('own-position', `Position ${pos} is past the file's rotary cache (${rc.rows} positions).`);
      for (let i = 0; i < half; i++) {
        cos[i] = cos[i + half] = rc.cos[pos * half + i];
        sin[i] = sin[i + half] = rc.sin[pos * half + i];
      }
      return;
    }
    for (let i = 0; i < half; i++) {
      const a = f(pos * this.invFreq[i]);
      cos[i] = cos[i + half] = f(Math.cos(a));
      sin[i] = sin[i + half] = f(Math.sin(a));
    }
  }

  private static applyRope(x: Float32Array, o: number, hd: number, cos: Float32Array, sin: Float32Array, tmp: Float32Array): void {
    const half = hd / 2;
    for (let j = 0; j < hd; j++) tmp[j] = x[o + j];
    for (let j = 0; j < hd; j++) {
      const rot = j < half ? -tmp[j + half] : tmp[j - half];
      x[o + j] = f(f(tmp[j] * cos[j]) + f(rot * sin[j]));
    }
  }

  /**
   * Feed `ids` (positions cache.length ..), appending to the cache; logits (and taps) for them.
   * Throws a DataError on non-finite activations and on positions past max_position_embeddings.
   */
  forward(ids: readonly number[], cache: OwnCache, options: ForwardOptions = {}): ForwardResult {
    const { cfg } = this;
    const S = ids.length;
    const d = cfg.hiddenSize, H = cfg.numHeads, KV = cfg.numKvHeads, hd = cfg.headDim, I = cfg.intermediateSize;
    const V = cfg.vocabSize;
    const past = cache.length, T = past + S;
    if (S === 0) throw new DataError('own-empty', 'No tokens to feed.');
    if (T > cfg.maxPositionEmbeddings) throw new DataError('too-long', `The sequence would be ${T} tokens, more than the model's ${cfg.maxPositionEmbeddings}.`);
    for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new DataError('bad-token', `Token id ${id} is outside the vocabulary (0 to ${V - 1}).`);
    const iv = options.interventions;
    if (iv && (iv.numLayers !== cfg.numLayers || iv.hiddenSize !== d)) throw new DataError('own-interventions', `The interventions are for ${iv.numLayers} layers of ${iv.hiddenSize}; the model has ${cfg.numLayers} of ${d}.`);
    cache.reserve(T);

    // embedding
    const h = new Float32Array(S * d);
    const e = this.w.embedding;
    for (let t = 0; t < S; t++) {
      const row = ids[t] * d;
      if ('table' in e) h.set(e.table.subarray(row, row + d), t * d);
      else for (let i = 0; i < d; i++) h[t * d + i] = f((e.codes[row + i] - e.zeroPoint) * e.scale);
    }

    const qDim = H * hd, kvDim = KV * hd;
    const xn = new Float32Array(S * d);
    const codes = new Uint8Array(S * Math.max(d, I, qDim));
    const qkv = new Float32Array(S * (qDim + 2 * kvDim));
    const attn = new Float32Array(S * qDim);
    const gu = new Float32Array(S * 2 * I);
    const act = new Float32Array(S * I);
    const tmpO = new Float32Array(S * d);
    const cos = new Float32Array(hd), sin = new Float32Array(hd), tmp = new Float32Array(hd);
    const scores = new Float64Array(T);
    const acc = new Float64Array(hd);
    const scale = f(1 / Math.sqrt(hd));
    const group = H / KV;
    const taps: Float32Array[] | undefined = options.taps ? [] : undefined;
    const quant = (x: Float32Array) => dynamicQuantizeLinear(x, codes.subarray(0, x.length));

    for (let l = 0; l < cfg.numLayers; l++) {
      const L = this.layers[l];
      this.rms(h, d, L.inNorm, xn);
      L.qkv.run(quant(xn), S, qkv);
      const width = qDim + 2 * kvDim;
      const K = cache.keys[l], Vc = cache.values[l];
      for (let t = 0; t < S; t++) {
        const base = t * width;
        if (L.qNorm) {
          const qs = qkv.subarray(base, base + qDim);
          this.rms(qs, hd, L.qNorm, qs);
          const ks = qkv.subarray(base + qDim, base + qDim + kvDim);
          this.rms(ks, hd, L.kNorm!, ks);
        }
        this.rope(past + t, cos, sin);
        for (let hh = 0; hh < H; hh++) OwnDecoder.applyRope(qkv, base + hh * hd, hd, cos, sin, tmp);
        for (let hh = 0; hh < KV; hh++) OwnDecoder.applyRope(qkv, base + qDim + hh * hd, hd, cos, sin, tmp);
        K.set(qkv.subarray(base + qDim, base + qDim + kvDim), (past + t) * kvDim);
        Vc.set(qkv.subarray(base + qDim + kvDim, base + width), (past + t) * kvDim);
      }
      // attention: query t sees keys 0 .. past + t
      for (let t = 0; t < S; t++) {
        const visible = past + t + 1;
        for (let hh = 0; hh < H; hh++) {
          const qo = t * width + hh * hd;
          const kvo = Math.floor(hh / group) * hd;
          let max = -Infinity;
          for (let u = 0; u < visible; u++) {
            const ko = u * kvDim + kvo;
            let acc = 0;
            for (let i = 0; i < hd; i++) acc += qkv[qo + i] * K[ko + i];
            const s = f(f(acc) * scale);
            scores[u] = s;
            if (s > max) max = s;
          }
          let sum = 0;
          for (let u = 0; u < visible; u++) { const ex = f(Math.exp(f(scores[u] - max))); scores[u] = ex; sum += ex; }
          const inv = f(1 / f(sum));
          const ao = t * qDim + hh * hd;
          acc.fill(0);
          for (let u = 0; u < visible; u++) {
            const p = f(scores[u] * inv);
            const vo = u * kvDim + kvo;
            for (let i = 0; i < hd; i++) acc[i] += p * Vc[vo + i];
          }
          for (let i = 0; i < hd; i++) attn[ao + i] = f(acc[i]);
        }
      }
      L.o.run(quant(attn), S, tmpO);
      for (let i = 0; i < h.length; i++) h[i] = f(h[i] + tmpO[i]); // resid_mid
      this.rms(h, d, L.postNorm, xn);
      L.gateUp.run(quant(xn), S, gu);
      for (let t = 0; t < S; t++) {
        const g0 = t * 2 * I, u0 = g0 + I;
        for (let i = 0; i < I; i++) {
          const g = gu[g0 + i];
          const sig = f(1 / (1 + Math.exp(-g)));
          act[t * I + i] = f(f(g * sig) * gu[u0 + i]);
        }
      }
      L.down.run(quant(act), S, tmpO);
      for (let i = 0; i < h.length; i++) h[i] = f(h[i] + tmpO[i]); // resid_post
      if (iv) this.intervene(h, S, l, iv);
      for (let i = 0; i < h.length; i++) {
        if (!(Math.abs(h[i]) <= 3.4028234663852886e38)) throw new DataError('non-finite', `The residual stream after layer ${l} is not finite (steering too strong?).`);
      }
      if (taps) taps.push(Float32Array.from(h));
    }
    cache.length = T;

    const last = options.logits === 'last';
    const rows = last ? 1 : S;
    const hn = this.rms(last ? h.subarray((S - 1) * d) : h, d, this.finalNorm, new Float32Array(rows * d));
    const logits = this.lmHead.run(quant(hn), rows, new Float32Array(rows * V));
    return { logits, residPost: taps };
  }

  /** Steering, then capping, at resid_post[layer] (float32 ops in the instrumented graph's order). */
  private intervene(h: Float32Array, S: number, layer: number, iv: Interventions): void {
    const d = this.cfg.hiddenSize, o = layer * d;
    const steer = iv.steer.subarray(o, o + d), axis = iv.capAxis.subarray(o, o + d), tau = iv.capTau[layer];
    let steering = false;
    for (let i = 0; i < d; i++) if (steer[i] !== 0) { steering = true; break; }
    const capping = tau !== -Infinity && axis.some((v) => v !== 0);
    for (let t = 0; t < S; t++) {
      const r = t * d;
      if (steering) for (let i = 0; i < d; i++) h[r + i] = f(h[r + i] + steer[i]);
      if (capping) {
        let p = 0;
        for (let i = 0; i < d; i++) p += h[r + i] * axis[i];
        const push = f(tau - f(p));
        if (push > 0) for (let i = 0; i < d; i++) h[r + i] = f(h[r + i] + f(push * axis[i]));
      }
    }
  }

  /** Greedy generation of `n` new tokens after `prompt` (a fresh cache). */
  greedy(prompt: readonly number[], n: number, options: Pick<ForwardOptions, 'interventions'> & { stopIds?: readonly number[] } = {}): GreedyResult {
    const cache = this.newCache();
    const ids: number[] = [];
    const stop = new Set(options.stopIds ?? []);
    const t0 = performance.now();
    let r = this.forward(prompt, cache, { interventions: options.interventions, logits: 'last' });
    const prefillMs = performance.now() - t0;
    let decodeMs = 0;
    for (;;) {
      const id = argmax(r.logits);
      ids.push(id);
      if (ids.length >= n || stop.has(id)) break;
      const t1 = performance.now();
      r = this.forward([id], cache, { interventions: options.interventions, logits: 'last' });
      decodeMs += performance.now() - t1;
    }
    return { ids, prefillMs, decodeMs, decodeTokensPerSecond: decodeMs > 0 ? ((ids.length - 1) * 1000) / decodeMs : 0 };
  }
}

/** Index of the largest value (the first on ties, sampling.ts's argmax), NaN refused. */
export function argmax(x: Float32Array): number {
  if (x.some((v) => v !== v)) throw new DataError('non-finite', 'A logit is not a finite number.');
  return firstArgmax(x);
}
