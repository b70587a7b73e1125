/**
 * The one seam between core code and an onnxruntime build. Core never imports onnxruntime
 * itself: the caller passes the module it has (`onnxruntime-web` in a tab or worker, or in Node
 * with WASM; `onnxruntime-node` in the CLI and tests), so the same code runs everywhere.
 */
import type * as OrtCommon from 'onnxruntime-common';
import { CAP_AXIS_INPUT, CAP_LIFT_OUTPUT, CAP_TAU_INPUT, RESID_POST_OUTPUT, STEER_INPUT, type InstrumentedModel, type InstrumentInfo } from '../onnx/instrument';
import { DataError } from '../errors';
import { decodeF32 } from '../tensor';
import { noInterventions, type Interventions, type ModelDims } from './interventions';

/** What we use of an onnxruntime module (onnxruntime-web or onnxruntime-node both fit). */
export interface Ort {
  InferenceSession: { create(model: Uint8Array, options?: OrtCommon.InferenceSession.SessionOptions): Promise<OrtCommon.InferenceSession> };
  Tensor: typeof OrtCommon.Tensor;
}
export type OrtSession = OrtCommon.InferenceSession;
export type OrtTensor = OrtCommon.Tensor;
export type SessionOptions = OrtCommon.InferenceSession.SessionOptions;

/**
 * A session over an instrumented graph; its weights are read from the external-data views.
 * onnxruntime's own (coloured) log lines are off unless asked for: `logSeverityLevel` defaults
 * to 4 (fatal only); failures still arrive as the returned promise's error.
 */
export async function createSession(
  ort: Ort,
  model: Pick<InstrumentedModel, 'graph' | 'externalData'>,
  options: SessionOptions = {},
): Promise<OrtSession> {
  const externalData = [...(options.externalData ?? []), ...model.externalData];
  return ort.InferenceSession.create(model.graph, { logSeverityLevel: 4, ...options, externalData: externalData.length ? externalData : undefined });
}

// ---------------------------------------------------------------------------------------------
// Feed and output names of a decoder graph (transformers.js / onnxruntime-genai exports).

export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const POSITION_IDS = 'position_ids';
export const LOGITS = 'logits';
export const pastName = (layer: number, kv: 'key' | 'value') => `past_key_values.${layer}.${kv}`;
export const presentName = (layer: number, kv: 'key' | 'value') => `present.${layer}.${kv}`;
export { STEER_INPUT, CAP_AXIS_INPUT, CAP_TAU_INPUT, RESID_POST_OUTPUT, CAP_LIFT_OUTPUT };

// ---------------------------------------------------------------------------------------------
// The slice of onnxruntime's API the generation loop uses (onnxruntime-web and -node both fit,
// without casts): tensors, a module with a Tensor constructor, and a session.

export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  readonly location?: string;
  dispose?(): void;
}
export interface OrtModuleLike {
  Tensor: new (type: any, data: any, dims: readonly number[]) => OrtTensorLike;
}
export interface DecoderSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly { name: string; isTensor?: boolean; type?: string }[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  /**
   * `run` with the logits output cut to [n, 1, V]: each batch row's logits at its last real new
   * token (0 for a row with none), the same numbers `run` gives there. Our int8 decoder's session
   * has it (own/session.ts); an onnxruntime session does not, and a prefill then runs `run`.
   */
  runLastLogits?(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release?(): Promise<void>;
}

/**
 * Interventions in graph-input form for one row (missing fields mean "off"):
 * `steer` (L, d) added to resid_post[L]; `capAxis` (L, d) unit rows; `capTau` (L), -Infinity = off.
 */
export interface InterventionFeeds {
  steer?: Float32Array | null;
  capAxis?: Float32Array | null;
  capTau?: Float32Array | null;
}

/**
 * The three intervention feeds (`steer` [R, L, d], `cap_axis` [R, L, d], `cap_tau` [R, L]) for
 * one set of values shared by every batch row (R = 1), or one per batch row (R = rows.length).
 * Missing fields are off (zeros; tau = -Infinity). Arrays are copied.
 */
export function interventionFeeds(ort: OrtModuleLike, dims: ModelDims, rows: InterventionFeeds | readonly (InterventionFeeds | undefined)[]): Record<string, OrtTensor>;
export function interventionFeeds(ort: OrtModuleLike, iv: Interventions): Record<string, OrtTensor>;
export function interventionFeeds(ort: OrtModuleLike, a: ModelDims | Interventions, b?: InterventionFeeds | readonly (InterventionFeeds | undefined)[]): Record<string, OrtTensor> {
  const { numLayers: L, hiddenSize: d } = a;
  const list: readonly (InterventionFeeds | undefined)[] = b === undefined ? [a as Interventions] : Array.isArray(b) ? b : [b as InterventionFeeds];
  const R = Math.max(1, list.length);
  const steer = new Float32Array(R * L * d);
  const capAxis = new Float32Array(R * L * d);
  const capTau = new Float32Array(R * L).fill(-Infinity);
  const check = (x: Float32Array | null | undefined, n: number, name: string) => {
    if (x && x.length !== n) throw new DataError('intervention-shape', `The ${name} feed holds ${x.length} numbers; this model needs ${n} (layers x hidden size).`);
    return x;
  };
  list.forEach((p, r) => {
    const s = check(p?.steer, L * d, 'steering');
    if (s) steer.set(s, r * L * d);
    const c = check(p?.capAxis, L * d, 'capping axis');
    if (c) capAxis.set(c, r * L * d);
    const t = check(p?.capTau, L, 'capping threshold');
    if (t) capTau.set(t, r * L);
  });
  return {
    [STEER_INPUT]: new ort.Tensor('float32', steer, [R, L, d]) as OrtTensor,
    [CAP_AXIS_INPUT]: new ort.Tensor('float32', capAxis, [R, L, d]) as OrtTensor,
    [CAP_TAU_INPUT]: new ort.Tensor('float32', capTau, [R, L]) as OrtTensor,
  };
}

/** Feeds that switch every intervention off (zeros, tau = -Infinity), one row shared by the batch. */
export function offFeeds(ort: OrtModuleLike, dims: ModelDims): Record<string, OrtTensor> {
  return interventionFeeds(ort, noInterventions(dims));
}

/** int64 tensor from plain numbers (token ids, positions, masks). */
export function int64Tensor(ort: OrtModuleLike, values: ArrayLike<number>, dims: readonly number[]): OrtTensor {
  const a = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]);
  return new ort.Tensor('int64', a, dims) as OrtTensor;
}

/**
 * A float32 or float16 output as float32 (float32 data as is, no copy). `what` names the output
 * in the error for any other type.
 */
export function outputF32(t: { readonly type: string; readonly data: unknown; readonly dims: readonly number[] }, what = 'output'): Float32Array {
  if (t.type === 'float32' || t.data instanceof Float32Array) return t.data as Float32Array;
  if (t.type === 'float16') {
    const d = t.data as Uint16Array;
    return decodeF32({ dtype: 'float16', shape: [...t.dims], data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) });
  }
  throw new DataError('output-type', `The model's ${what} has type ${t.type}; expected float32 or float16.`);
}

/** The packed tap as float32 [numLayers, batch, seq, d], checked. */
export function residPost(outputs: Record<string, OrtTensorLike>, dims: ModelDims): { data: Float32Array; dims: readonly number[] } {
  const t = outputs[RESID_POST_OUTPUT];
  if (!t) throw new DataError('no-taps', `The session has no "${RESID_POST_OUTPUT}" output; was the model instrumented with taps?`);
  const shape = t.dims;
  if (shape.length !== 4 || shape[0] !== dims.numLayers || shape[3] !== dims.hiddenSize) {
    throw new DataError('tap-shape', `The resid_post output has shape [${shape.join(', ')}]; expected [${dims.numLayers}, batch, seq, ${dims.hiddenSize}].`);
  }
  return { data: t.data as Float32Array, dims: shape };
}

/** The packed cap lift as float32 [numLayers, batch, seq] (> 0 where the cap raised resid_post), or null without it. */
export function capLift(outputs: Record<string, OrtTensorLike>): { data: Float32Array; dims: readonly number[] } | null {
  const t = outputs[CAP_LIFT_OUTPUT];
  return t ? { data: outputF32(t, `"${CAP_LIFT_OUTPUT}" output`), dims: t.dims } : null;
}

/** Row (layer, batch b, position s) of a packed tap, as a view. */
export function tapRow(tap: { data: Float32Array; dims: readonly number[] }, layer: number, b: number, s: number): Float32Array {
  const [, B, S, d] = tap.dims;
  const off = ((layer * B + b) * S + s) * d;
  return tap.data.subarray(off, off + d);
}

/**
 * Feeds for one forward pass over whole sequences with no KV cache: `input_ids`, an all-ones
 * `attention_mask`, `position_ids` 0..S-1 (when the graph has them) and empty `past_key_values.*`
 * (past length 0). Interventions are not included (add `interventionFeeds` or `offFeeds`).
 */
export function prefillFeeds(ort: Ort, info: Pick<InstrumentInfo, 'inputs'>, ids: readonly (readonly number[])[]): Record<string, OrtTensor> {
  const B = ids.length;
  const S = ids[0]?.length ?? 0;
  if (!B || !S || ids.some((r) => r.length !== S)) throw new DataError('token-ids', 'Give at least one token, and the same number of tokens in every row.');
  const feeds: Record<string, OrtTensor> = {};
  for (const input of info.inputs) {
    const n = input.name;
    if (n === STEER_INPUT || n === CAP_AXIS_INPUT || n === CAP_TAU_INPUT) continue;
    if (n === INPUT_IDS) feeds[n] = int64Tensor(ort, ids.flat(), [B, S]);
    else if (n === ATTENTION_MASK) feeds[n] = int64Tensor(ort, new Array(B * S).fill(1), [B, S]);
    else if (n === POSITION_IDS) feeds[n] = int64Tensor(ort, Array.from({ length: B * S }, (_, i) => i % S), [B, S]);
    else if (n.startsWith('past_key_values.') || n.startsWith('past.')) {
      const dims = input.dims.map((d, k) => (k === 0 ? B : typeof d === 'number' ? d : 0));
      if (input.type === 'float16') feeds[n] = new ort.Tensor('float16', new Uint16Array(0), dims);
      else if (input.type === 'float32') feeds[n] = new ort.Tensor('float32', new Float32Array(0), dims);
      else throw new DataError('past-type', `The model's ${n} is ${input.type}; only float32 and float16 caches are supported.`);
    } else {
      throw new DataError('unknown-input', `The model needs an input "${n}" that this runner does not know how to fill.`);
    }
  }
  return feeds;
}
