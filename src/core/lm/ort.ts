/**
 * The one seam between core code and an onnxruntime build. Core never imports onnxruntime
 * itself: the caller passes the module it has (`onnxruntime-web` in a tab or worker, or in Node
 * with WASM; `onnxruntime-node` in the CLI and tests), so the same code runs everywhere.
 */
import type * as OrtCommon from 'onnxruntime-common';
import { CAP_AXIS_INPUT, CAP_TAU_INPUT, RESID_POST_OUTPUT, STEER_INPUT, type InstrumentedModel, type InstrumentInfo } from '../onnx/instrument';
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

/** A session over an instrumented graph; its weights are read from the external-data views. */
export async function createSession(
  ort: Ort,
  model: Pick<InstrumentedModel, 'graph' | 'externalData'>,
  options: SessionOptions = {},
): Promise<OrtSession> {
  const externalData = [...(options.externalData ?? []), ...model.externalData];
  return ort.InferenceSession.create(model.graph, { ...options, externalData: externalData.length ? externalData : undefined });
}

/** The three intervention feeds (`steer`, `cap_axis`, `cap_tau`) from values. */
export function interventionFeeds(ort: Ort, iv: Interventions): Record<string, OrtTensor> {
  const { numLayers: L, hiddenSize: d } = iv;
  if (iv.steer.length !== L * d || iv.capAxis.length !== L * d || iv.capTau.length !== L) {
    throw new DataError('intervention-shape', `Intervention arrays do not match a model of ${L} layers of size ${d}.`);
  }
  return {
    [STEER_INPUT]: new ort.Tensor('float32', iv.steer, [L, d]),
    [CAP_AXIS_INPUT]: new ort.Tensor('float32', iv.capAxis, [L, d]),
    [CAP_TAU_INPUT]: new ort.Tensor('float32', iv.capTau, [L]),
  };
}

/** Feeds that switch every intervention off (zeros, tau = -Infinity). */
export function offFeeds(ort: Ort, dims: ModelDims): Record<string, OrtTensor> {
  return interventionFeeds(ort, noInterventions(dims));
}

/** int64 tensor from plain numbers (token ids, positions, masks). */
export function int64Tensor(ort: Ort, values: ArrayLike<number>, dims: readonly number[]): OrtTensor {
  const a = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]);
  return new ort.Tensor('int64', a, dims);
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
export function residPost(outputs: Record<string, OrtTensor>, dims: ModelDims): { data: Float32Array; dims: readonly number[] } {
  const t = outputs[RESID_POST_OUTPUT];
  if (!t) throw new DataError('no-taps', `The session has no "${RESID_POST_OUTPUT}" output; was the model instrumented with taps?`);
  const shape = t.dims;
  if (shape.length !== 4 || shape[0] !== dims.numLayers || shape[3] !== dims.hiddenSize) {
    throw new DataError('tap-shape', `The resid_post output has shape [${shape.join(', ')}]; expected [${dims.numLayers}, batch, seq, ${dims.hiddenSize}].`);
  }
  return { data: t.data as Float32Array, dims: shape };
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
    if (n === 'input_ids') feeds[n] = int64Tensor(ort, ids.flat(), [B, S]);
    else if (n === 'attention_mask') feeds[n] = int64Tensor(ort, new Array(B * S).fill(1), [B, S]);
    else if (n === 'position_ids') feeds[n] = int64Tensor(ort, Array.from({ length: B * S }, (_, i) => i % S), [B, S]);
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
