/**
 * The numeric proofs of instrumentation, shared by the toy-model tests and the builder-model
 * tests: run an original decoder and its instrumented twin on the same tokens and compare.
 * (Test-only: imported from *.test.ts files.)
 */
import { expect } from 'vitest';
import { buildInterventions, noInterventions, type Interventions } from '../../lm/interventions';
import { createSession, int64Tensor, interventionFeeds, outputF32, residPost, tapRow, type Ort, type OrtSession, type OrtTensor } from '../../lm/ort';
import { exposeResidualStream, instrumentDecoder, type InstrumentedModel } from '../instrument';
import type { ExternalFile } from './externalize';

export interface ModelCase {
  label: string;
  bytes: Uint8Array;
  externalData?: ExternalFile[];
  /** Inputs besides input_ids the model needs (attention_mask, position_ids, past_key_values...) for a given [batch, seq]. */
  extraFeeds?: (ort: Ort, batch: number, seq: number) => Record<string, OrtTensor>;
  vocabSize: number;
}

export const toF32 = (t: OrtTensor): Float32Array => outputF32(t);

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i] - b[i]);
    if (!(x <= m)) m = x; // NaN propagates as NaN
  }
  return m;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Seeded unit-ish random vector. */
export function randomVector(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

export function unit(v: Float32Array): Float64Array {
  const n = Math.sqrt(dot(v, v));
  return Float64Array.from(v, (x) => x / n);
}

export class Harness {
  readonly inst: InstrumentedModel;
  readonly ref: InstrumentedModel & { residualNames: string[] };
  original!: OrtSession;
  exposed!: OrtSession;
  instrumented!: OrtSession;

  constructor(readonly ort: Ort, readonly c: ModelCase) {
    this.inst = instrumentDecoder(c.bytes, { externalData: c.externalData });
    this.ref = exposeResidualStream(c.bytes, { externalData: c.externalData });
  }

  get dims() {
    return this.inst.info;
  }

  async open(): Promise<this> {
    const opts = { logSeverityLevel: 3 as const };
    this.original = await createSession(this.ort, { graph: this.c.bytes, externalData: this.c.externalData ?? [] }, opts);
    this.exposed = await createSession(this.ort, this.ref, opts);
    this.instrumented = await createSession(this.ort, this.inst, opts);
    return this;
  }

  feeds(ids: number[][]): Record<string, OrtTensor> {
    const B = ids.length, S = ids[0].length;
    return { input_ids: int64Tensor(this.ort, ids.flat(), [B, S]), ...(this.c.extraFeeds?.(this.ort, B, S) ?? {}) };
  }

  async runOriginal(ids: number[][]) {
    const o = await this.exposed.run(this.feeds(ids));
    const plain = await this.original.run(this.feeds(ids));
    return { logits: toF32(plain.logits), exposedLogits: toF32(o.logits), residuals: this.ref.residualNames.map((n) => toF32(o[n])) };
  }

  async run(ids: number[][], iv: Interventions = noInterventions(this.dims)) {
    const o = await this.instrumented.run({ ...this.feeds(ids), ...interventionFeeds(this.ort, iv) });
    return { logits: toF32(o.logits), tap: residPost(o, this.dims) };
  }
}

/**
 * The acceptance checks of the instrumentation on one model: everything off is the original
 * model; steering moves resid_post[L] by alpha v/|v|; capping floors h.a at tau and leaves
 * everything above tau alone. `logitTol` / `tapTol` bound off-vs-original differences.
 */
export async function proveInstrumentation(h: Harness, ids: number[][], o: { logitTol: number; tapRelTol: number }): Promise<void> {
  const { numLayers: L, hiddenSize: d } = h.dims;
  const B = ids.length, S = ids[0].length;
  const orig = await h.runOriginal(ids);
  const off = await h.run(ids);

  // 1. everything off == the original model, logits and every tap.
  expect(maxAbsDiff(off.logits, orig.logits)).toBeLessThanOrEqual(o.logitTol);
  expect(off.tap.dims).toEqual([L, B, S, d]);
  for (let l = 0; l < L; l++) {
    const ref = orig.residuals[l];
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
      const row = tapRow(off.tap, l, b, s);
      const r = ref.subarray((b * S + s) * d, (b * S + s + 1) * d);
      let scale = 0;
      for (let j = 0; j < d; j++) scale = Math.max(scale, Math.abs(r[j]));
      expect(maxAbsDiff(row, r)).toBeLessThanOrEqual(o.tapRelTol * scale + 1e-6);
    }
  }

  // 2. steering at layer Ls moves resid_post[Ls] by exactly alpha v/|v|; earlier layers untouched.
  const Ls = Math.min(1, L - 1);
  const v = randomVector(d, 11);
  const alpha = 2.5;
  const u = unit(v);
  const steered = await h.run(ids, buildInterventions(h.dims, { steer: [{ vector: v, layers: [Ls], alpha }] }));
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
    for (let l = 0; l < Ls; l++) expect(tapRow(steered.tap, l, b, s)).toEqual(tapRow(off.tap, l, b, s));
    const a = tapRow(steered.tap, Ls, b, s), z = tapRow(off.tap, Ls, b, s);
    for (let j = 0; j < d; j++) expect(Math.abs(a[j] - z[j] - alpha * u[j])).toBeLessThanOrEqual(1e-5);
  }
  expect(maxAbsDiff(steered.logits, off.logits)).toBeGreaterThan(1e-4);

  // 3. capping at every layer from Lc on: h.a >= tau everywhere; tau = median of the uncapped projections.
  const axis = randomVector(d, 23);
  const a = unit(axis);
  const capLayers = Array.from({ length: L - Math.min(1, L - 1) }, (_, k) => k + Math.min(1, L - 1));
  const proj = (tap: typeof off.tap, l: number, b: number, s: number) => dot(tapRow(tap, l, b, s), a);
  const taus = capLayers.map((l) => {
    const ps: number[] = [];
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) ps.push(proj(off.tap, l, b, s));
    ps.sort((x, y) => x - y);
    return ps[Math.floor(ps.length / 2)] + 1e-3;
  });
  const capped = await h.run(ids, buildInterventions(h.dims, { cap: [{ vector: axis, layers: capLayers, tau: taus }] }));
  let raised = 0;
  capLayers.forEach((l, k) => {
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
      expect(proj(capped.tap, l, b, s)).toBeGreaterThanOrEqual(taus[k] - 1e-5);
      if (l === capLayers[0] && proj(off.tap, l, b, s) < taus[k]) raised++;
    }
  });
  expect(raised).toBeGreaterThan(0);

  // 4. a single cap changes nothing where the projection was already at or above tau, and
  //    lifts the rest exactly to tau.
  const Lc = capLayers[0];
  const one = await h.run(ids, buildInterventions(h.dims, { cap: [{ vector: axis, layers: [Lc], tau: taus[0] }] }));
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
    const before = proj(off.tap, Lc, b, s);
    // (a projection within float32 rounding of tau may go either way)
    if (before > taus[0] + 1e-4) expect(tapRow(one.tap, Lc, b, s)).toEqual(tapRow(off.tap, Lc, b, s));
    else if (before < taus[0] - 1e-4) expect(Math.abs(proj(one.tap, Lc, b, s) - taus[0])).toBeLessThanOrEqual(1e-5);
  }

  // 5. steering and capping on one layer: steer first, then cap; the tap shows the result.
  const both = await h.run(ids, buildInterventions(h.dims, {
    steer: [{ vector: v, layers: [Lc], alpha: -alpha }],
    cap: [{ vector: axis, layers: [Lc], tau: taus[0] }],
  }));
  for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) {
    const t = tapRow(both.tap, Lc, b, s), z = tapRow(off.tap, Lc, b, s);
    const steeredRow = Float64Array.from(z, (x, j) => x - alpha * u[j]);
    const p = dot(steeredRow, a);
    const lift = Math.max(0, taus[0] - p);
    for (let j = 0; j < d; j++) expect(Math.abs(t[j] - (steeredRow[j] + lift * a[j]))).toBeLessThanOrEqual(1e-4);
    expect(dot(t, a)).toBeGreaterThanOrEqual(taus[0] - 1e-5);
  }

  // 6. an axis with tau = -Infinity is off (no NaN from -inf * 0).
  const ivInf = noInterventions(h.dims);
  ivInf.capAxis.set(a, Lc * d);
  const inf = await h.run(ids, ivInf);
  expect(Array.from(inf.logits)).toEqual(Array.from(off.logits));
  expect(Array.from(inf.tap.data)).toEqual(Array.from(off.tap.data));
}
