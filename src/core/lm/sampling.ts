/**
 * Next-token choice from a row of logits: greedy, temperature, top-k, top-p (nucleus), with a
 * seeded random number generator so that a seed reproduces a generation exactly.
 *
 * Order of operations follows Hugging Face's logits warpers: temperature, then top-k, then top-p;
 * at least one token always survives. Working on 150k-token vocabularies, the code never sorts the
 * whole vocabulary: top-k uses a bounded heap, top-p sorts only the tokens near its cut (see
 * `nucleus`), and per-vocabulary arrays are module scratch reused across calls. The kept set is
 * exactly HF's; only the walk order inside it differs, which does not change the distribution.
 */
import { DataError } from '../errors';

export interface SamplingParams {
  /** 0 (or below 1e-5) means greedy: always the most likely token. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 = off. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability sums to at least p; 1 = off. */
  topP: number;
}

export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1 };

/**
 * PCG32 (O'Neill's XSH-RR output on a 64-bit LCG). BigInt keeps the 64-bit arithmetic obviously
 * right; it is drawn from once per sampled token, so its speed does not matter.
 */
export class Pcg32 {
  private state = 0n;
  private readonly inc: bigint;
  private static readonly MASK = (1n << 64n) - 1n;
  private static readonly MULT = 6364136223846793005n;

  constructor(seed: number, stream = 54) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new DataError('seed', `A seed must be a whole number, 0 or more, got ${seed}.`);
    this.inc = ((BigInt(stream) << 1n) | 1n) & Pcg32.MASK;
    this.next();
    this.state = (this.state + BigInt(seed)) & Pcg32.MASK;
    this.next();
  }

  /** Next uniformly distributed 32-bit unsigned integer. */
  next(): number {
    const old = this.state;
    this.state = (old * Pcg32.MULT + this.inc) & Pcg32.MASK;
    const xorshifted = Number((((old >> 18n) ^ old) >> 27n) & 0xffffffffn);
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.next() / 4294967296;
  }
}

export function validateSampling(p: SamplingParams): void {
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) throw new DataError('sampling', `Temperature must be 0 or more, got ${p.temperature}.`);
  if (!Number.isInteger(p.topK) || p.topK < 0) throw new DataError('sampling', `top-k must be a whole number, 0 or more, got ${p.topK}.`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new DataError('sampling', `top-p must be in (0, 1], got ${p.topP}.`);
}

/** Index of the largest value (first one on ties, as torch.argmax). */
export function argmax(x: ArrayLike<number>, start = 0, end = x.length): number {
  let best = start;
  let bv = x[start];
  for (let i = start + 1; i < end; i++) {
    const v = x[i];
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best - start;
}

/**
 * Greedy choice and finiteness check of `x[start .. end)` in one pass: `argmax`'s index (from
 * `start`, the first on ties), or -1 when any value is NaN or +-Infinity (an empty range: 0).
 * `v - v` is 0 for a finite v and NaN otherwise, so the sum stays 0 only if every value is finite;
 * four values are summed per add (unrolled), so the sum's add chain is a quarter as long.
 */
export function argmaxFinite(x: Float32Array, start: number, end: number): number {
  if (end <= start) return 0;
  let best = start;
  let bv = x[start];
  let bad = bv - bv;
  let i = start + 1;
  for (; i + 3 < end; i += 4) {
    const v0 = x[i], v1 = x[i + 1], v2 = x[i + 2], v3 = x[i + 3];
    bad += (v0 - v0) + (v1 - v1) + ((v2 - v2) + (v3 - v3));
    if (v0 > bv) { bv = v0; best = i; }
    if (v1 > bv) { bv = v1; best = i + 1; }
    if (v2 > bv) { bv = v2; best = i + 2; }
    if (v3 > bv) { bv = v3; best = i + 3; }
  }
  for (; i < end; i++) {
    const v = x[i];
    bad += v - v;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return bad === 0 ? best - start : -1;
}

/**
 * Scratch space reused across calls (grown on demand), so that a call on a 150k-token vocabulary
 * allocates nothing of vocabulary size: candidates' indices, weights and top-p buckets, and the
 * bucket sums and counts.
 */
const NB = 2048;
let sIdx = new Uint32Array(0);
let sW = new Float64Array(0);
let sBucket = new Uint16Array(0);
let sKeys = new Float64Array(0);
const bsum = new Float64Array(NB);
const bcount = new Uint32Array(NB);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function scratch(n: number): void {
  if (sIdx.length >= n) return;
  sIdx = new Uint32Array(n);
  sW = new Float64Array(n);
  sBucket = new Uint16Array(n);
}

/** 16 / ln 2: a weight exp(x)'s top-p bucket is floor(-log2(exp(x)) * 16) = floor(-x * this). */
const BUCKETS_PER_NAT = 16 / Math.LN2;
/** Distance from a bucket edge under which the bucket is taken from Math.log2 (see `bucketOf`). */
const EDGE = 1e-9;

/**
 * Top-p bucket of a weight `e` = Math.exp(x) (x <= 0; the largest weight is exactly 1):
 * min(NB - 1, floor(-log2(e) * 16)). `-x * 16 / ln 2` is that number to within ~1e-12, so its
 * floor is the same unless it lies within EDGE of a whole number; only then is Math.log2 called,
 * so the bucket is exactly the one Math.log2 gives. Exported for tests.
 */
export function bucketOf(x: number, e: number): number {
  const y = -x * BUCKETS_PER_NAT;
  if (y >= NB - 1 + EDGE) return NB - 1;
  const f = y | 0; // y >= 0 here (y < 2^31): truncation is floor
  const d = y - f;
  if (d > EDGE && d < 1 - EDGE) return f;
  // `| 0` turns the -0 of the largest weight (log2(1) = 0) into 0, keeping the result a small integer.
  return Math.min(NB - 1, Math.floor(-Math.log2(e) * 16)) | 0;
}

/**
 * Choose the next token from one row of logits (`logits[offset .. offset+vocab)`).
 * `rng` is only drawn from when sampling (temperature > 0), once per call. A row whose largest
 * logit is not finite (all -Infinity or NaN, or a +Infinity) gives its argmax. NaN logits are
 * never sampled.
 */
export function sampleToken(logits: Float32Array, params: SamplingParams, rng: Pcg32, offset = 0, vocab = logits.length - offset): number {
  const c = params.temperature < 1e-5 ? null : keptCandidates(logits, params, offset, vocab);
  if (c === null) return argmax(logits, offset, offset + vocab);
  let r = rng.float() * c.total;
  for (let j = 0; j < c.n; j++) {
    r -= c.w[j];
    if (r < 0) return c.idx[j];
  }
  return c.idx[c.n - 1];
}

/**
 * The tokens sampling may return after temperature, top-k and top-p (for temperature > 0), as
 * `idx[0 .. n)` (indices into the row) with weights `w` = exp((l - max)/T) > 0 (top-k's could be
 * 0 only for -Infinity logits, which are dropped) and their sum `total`, in the order the random
 * draw walks them; null when the row's largest logit is not finite. `idx` and `w` may be module
 * scratch: valid until the next call. Exported for tests.
 */
export function keptCandidates(logits: Float32Array, params: SamplingParams, offset = 0, vocab = logits.length - offset): { idx: Uint32Array; w: Float64Array; n: number; total: number } | null {
  const invT = 1 / params.temperature;
  const maxL = rowMax(logits, offset, offset + vocab);
  if (!Number.isFinite(maxL)) return null;
  if (params.topK > 0 && params.topK < vocab) {
    const { idx, n: k } = topKIndices(logits, offset, vocab, params.topK);
    const w = new Float64Array(k);
    let n = 0;
    let total = 0;
    // In logit order, so -Infinity logits (weight 0) come last and are dropped.
    for (let j = 0; j < k; j++) {
      const e = Math.exp((logits[offset + idx[j]] - maxL) * invT);
      if (!(e > 0)) break;
      total += w[n++] = e;
    }
    if (params.topP < 1) {
      // Candidates are in logit order: the nucleus is a prefix.
      const need = params.topP * total;
      let s = 0;
      let m = 0;
      while (m < n) {
        s += w[m++];
        if (s >= need) break;
      }
      return { idx, w, n: m, total: s };
    }
    return { idx, w, n, total };
  }
  scratch(vocab);
  if (params.topP < 1) {
    const { n, total } = fillBucketed(logits, offset, vocab, maxL, invT);
    const m = nucleus(n, total, params.topP, logits, offset, vocab, maxL, invT);
    return { idx: sIdx, w: sW, n: m.n, total: m.total };
  }
  const { n, total } = fillWeights(logits, offset, vocab, maxL, invT);
  return { idx: sIdx, w: sW, n, total };
}

/*
 * The long loops live in small functions of their own: each is then optimised as a whole after a
 * few calls. Inside one large function V8 optimises them on-stack mid-loop, and that code left the
 * optimised tier again at every call (deoptimisation on paths it had no feedback for yet),
 * running most of each pass in the slower tiers.
 */

/**
 * Largest value of x[start .. end) (-Infinity when empty; NaN values are passed over). Four
 * running maxima, so the compare chain is a quarter as long; the maximum is the same whatever the
 * order (only the sign of a zero maximum may differ, and exp((l - max)/T) and its bucket do not
 * depend on it).
 */
function rowMax(x: Float32Array, start: number, end: number): number {
  let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
  let i = start;
  for (; i + 3 < end; i += 4) {
    if (x[i] > m0) m0 = x[i];
    if (x[i + 1] > m1) m1 = x[i + 1];
    if (x[i + 2] > m2) m2 = x[i + 2];
    if (x[i + 3] > m3) m3 = x[i + 3];
  }
  for (; i < end; i++) if (x[i] > m0) m0 = x[i];
  if (m1 > m0) m0 = m1;
  if (m3 > m2) m2 = m3;
  return m2 > m0 ? m2 : m0;
}

/** Candidates into scratch: tokens with weight exp((l - max)/T) > 0, in index order, and their sum. */
function fillWeights(logits: Float32Array, offset: number, vocab: number, maxL: number, invT: number): { n: number; total: number } {
  const idx = sIdx, w = sW;
  let n = 0;
  let total = 0;
  for (let i = 0; i < vocab; i++) {
    const e = Math.exp((logits[offset + i] - maxL) * invT);
    if (e > 0) {
      idx[n] = i;
      w[n++] = e;
      total += e;
    }
  }
  return { n, total };
}

/** `fillWeights` plus each candidate's top-p bucket (`sBucket`) and the buckets' sums and counts. */
function fillBucketed(logits: Float32Array, offset: number, vocab: number, maxL: number, invT: number): { n: number; total: number } {
  const idx = sIdx, w = sW, bucket = sBucket;
  bsum.fill(0);
  bcount.fill(0);
  let n = 0;
  let total = 0;
  for (let i = 0; i < vocab; i++) {
    const x = (logits[offset + i] - maxL) * invT;
    const e = Math.exp(x);
    if (e > 0) {
      const b = bucketOf(x, e);
      idx[n] = i;
      w[n] = e;
      bucket[n++] = b;
      total += e;
      bsum[b] += e;
      bcount[b]++;
    }
  }
  return { n, total };
}

/** Indices of the k largest logits, ordered by logit descending then index ascending. */
function topKIndices(logits: Float32Array, offset: number, vocab: number, k: number): { idx: Uint32Array; n: number } {
  // A min-heap of size k over (value, index): O(V log k).
  const hv = new Float32Array(k);
  const hi = new Uint32Array(k);
  let size = 0;
  const less = (va: number, ia: number, vb: number, ib: number) => va < vb || (va === vb && ia > ib);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && less(hv[l], hi[l], hv[m], hi[m])) m = l;
      if (r < size && less(hv[r], hi[r], hv[m], hi[m])) m = r;
      if (m === i) return;
      [hv[i], hv[m]] = [hv[m], hv[i]];
      [hi[i], hi[m]] = [hi[m], hi[i]];
      i = m;
    }
  };
  for (let i = 0; i < vocab; i++) {
    const v = logits[offset + i];
    if (size < k) {
      let c = size++;
      hv[c] = v;
      hi[c] = i;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!less(hv[c], hi[c], hv[p], hi[p])) break;
        [hv[c], hv[p]] = [hv[p], hv[c]];
        [hi[c], hi[p]] = [hi[p], hi[c]];
        c = p;
      }
    } else if (less(hv[0], hi[0], v, i)) {
      hv[0] = v;
      hi[0] = i;
      siftDown(0);
    }
  }
  const order = Array.from({ length: size }, (_, j) => j).sort((a, b) => hv[b] - hv[a] || hi[a] - hi[b]);
  const idx = new Uint32Array(size);
  for (let j = 0; j < size; j++) idx[j] = hi[order[j]];
  return { idx, n: size };
}

/**
 * Top-p over the `n` candidates in scratch (`sIdx`, `sW`, `sBucket`, `bsum`, `bcount`), in place.
 * Tokens are bucketed by log2 of their weight (16 buckets per octave): buckets wholly above the cut
 * are kept in index order without sorting, and only the bucket where the cumulative mass crosses
 * top-p is sorted (by logit, then index) to place the cut exactly. Random-weight models have flat
 * distributions, so a full sort would cost 10x more. Returns the kept count and their mass.
 */
function nucleus(n: number, total: number, topP: number, logits: Float32Array, offset: number, vocab: number, maxL: number, invT: number): { n: number; total: number } {
  const need = topP * total;
  const idx = sIdx, w = sW, bucket = sBucket;
  let cut = 0;
  let above = 0;
  while (cut < NB - 1 && above + bsum[cut] < need) above += bsum[cut++];
  // Keep every token of buckets < cut (their order does not change the distribution), compacted
  // in place (m <= j), then the sorted boundary bucket until the mass reaches top-p (HF keeps the
  // token that crosses it).
  const nb = bcount[cut];
  if (sKeys.length < nb) sKeys = new Float64Array(Math.max(nb, sKeys.length * 2));
  const keys = sKeys.subarray(0, nb);
  const packed = vocabFitsKey(vocab);
  const border: number[] = [];
  let m = 0;
  let k = 0;
  for (let j = 0; j < n; j++) {
    const b = bucket[j];
    if (b < cut) {
      idx[m] = idx[j];
      w[m++] = w[j];
    } else if (b === cut) {
      if (packed) keys[k++] = borderKey(logits[offset + idx[j]], idx[j]);
      else border.push(idx[j]);
    }
  }
  if (packed) {
    keys.sort();
    for (let q = 0; q < nb; q++) border.push(keys[q] % KEY_INDEX);
  } else border.sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
  let s = above;
  for (const i of border) {
    const e = Math.exp((logits[offset + i] - maxL) * invT);
    idx[m] = i;
    w[m++] = e;
    s += e;
    if (s >= need) break;
  }
  return { n: m, total: s };
}

/** Border keys: (logit descending, index ascending) packed into one exactly representable double. */
const KEY_INDEX = 2 ** 21;
const vocabFitsKey = (len: number) => len <= KEY_INDEX;

/**
 * Sort key of a border token: the logit's bits mapped to an order-preserving unsigned integer
 * (-0 made +0, so that it ties with 0 as in a numeric comparison), flipped for descending order,
 * times 2^21, plus the index: 53 bits, exact in a double, ascending = logit desc, then index asc.
 */
function borderKey(l: number, i: number): number {
  f32[0] = l + 0;
  const u = u32[0];
  const ord = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
  return (0xffffffff - ord) * KEY_INDEX + i;
}
