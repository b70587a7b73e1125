/**
 * Next-token choice from a row of logits: greedy, temperature, top-k, top-p (nucleus), with a
 * seeded random number generator so that a seed reproduces a generation exactly.
 *
 * Order of operations follows Hugging Face's logits warpers: temperature, then top-k, then top-p;
 * at least one token always survives. Working on 150k-token vocabularies, the code never sorts the
 * whole vocabulary: top-k uses a bounded heap, top-p sorts only the tokens near its cut (see
 * `nucleus`). The kept set is exactly HF's; only the walk order inside it differs, which does not
 * change the distribution.
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
 * Choose the next token from one row of logits (`logits[offset .. offset+vocab)`).
 * `rng` is only drawn from when sampling (temperature > 0), once per call.
 */
export function sampleToken(logits: Float32Array, params: SamplingParams, rng: Pcg32, offset = 0, vocab = logits.length - offset): number {
  if (params.temperature < 1e-5) return argmax(logits, offset, offset + vocab);
  const invT = 1 / params.temperature;
  let maxL = -Infinity;
  for (let i = 0; i < vocab; i++) if (logits[offset + i] > maxL) maxL = logits[offset + i];
  // Candidates as (index, weight) with weight = exp((l - max)/T): unnormalised probabilities.
  let idx: Uint32Array;
  let w: Float64Array;
  let n: number;
  if (params.topK > 0 && params.topK < vocab) {
    ({ idx, n } = topKIndices(logits, offset, vocab, params.topK));
    w = new Float64Array(n);
    for (let j = 0; j < n; j++) w[j] = Math.exp((logits[offset + idx[j]] - maxL) * invT);
  } else {
    idx = new Uint32Array(vocab);
    w = new Float64Array(vocab);
    n = 0;
    for (let i = 0; i < vocab; i++) {
      const e = Math.exp((logits[offset + i] - maxL) * invT);
      if (e > 0) {
        idx[n] = i;
        w[n++] = e;
      }
    }
  }
  let total = 0;
  for (let j = 0; j < n; j++) total += w[j];
  if (params.topP < 1) ({ idx, w, n, total } = nucleus(idx, w, n, total, params.topP, logits, offset, params.topK > 0 && params.topK < vocab));
  let r = rng.float() * total;
  for (let j = 0; j < n; j++) {
    r -= w[j];
    if (r < 0) return idx[j];
  }
  return idx[n - 1];
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
 * Top-p over candidates. When `sorted`, candidates are already in logit order (top-k output) and a
 * prefix scan suffices. Otherwise tokens are bucketed by log2 of their weight (16 buckets per
 * octave): buckets wholly above the cut are kept in index order without sorting, and only the
 * bucket where the cumulative mass crosses top-p is sorted (by logit, then index) to place the cut
 * exactly. Random-weight models have flat distributions, so a full sort would cost 10x more.
 */
function nucleus(idx: Uint32Array, w: Float64Array, n: number, total: number, topP: number, logits: Float32Array, offset: number, sorted: boolean) {
  const need = topP * total;
  if (sorted) {
    let s = 0;
    let m = 0;
    while (m < n) {
      s += w[m++];
      if (s >= need) break;
    }
    return { idx: idx.subarray(0, m), w: w.subarray(0, m), n: m, total: s };
  }
  let wmax = 0;
  for (let j = 0; j < n; j++) if (w[j] > wmax) wmax = w[j];
  const NB = 2048;
  const bucket = new Uint16Array(n);
  const bsum = new Float64Array(NB);
  const bcount = new Uint32Array(NB);
  for (let j = 0; j < n; j++) {
    const b = Math.min(NB - 1, Math.floor(-Math.log2(w[j] / wmax) * 16));
    bucket[j] = b;
    bsum[b] += w[j];
    bcount[b]++;
  }
  let cut = 0;
  let above = 0;
  while (cut < NB - 1 && above + bsum[cut] < need) above += bsum[cut++];
  // Keep every token of buckets < cut (their order does not change the distribution), then the
  // sorted boundary bucket until the mass reaches top-p (HF keeps the token that crosses it).
  let keepAbove = 0;
  for (let b = 0; b < cut; b++) keepAbove += bcount[b];
  const border: number[] = [];
  const outIdx = new Uint32Array(keepAbove + bcount[cut]);
  const outW = new Float64Array(keepAbove + bcount[cut]);
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (bucket[j] < cut) {
      outIdx[m] = idx[j];
      outW[m++] = w[j];
    } else if (bucket[j] === cut) border.push(j);
  }
  border.sort((a, b) => logits[offset + idx[b]] - logits[offset + idx[a]] || idx[a] - idx[b]);
  let s = above;
  for (const j of border) {
    outIdx[m] = idx[j];
    outW[m++] = w[j];
    s += w[j];
    if (s >= need) break;
  }
  return { idx: outIdx.subarray(0, m), w: outW.subarray(0, m), n: m, total: s };
}
