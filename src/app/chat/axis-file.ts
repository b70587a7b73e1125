/**
 * An axis file (`.pt` / `.npy` / `.safetensors`, shape (n_layers, d) or (d,)) made into an AxisBundle
 * for the loaded model. The model worker reads it when it can (`setAxisFile`); this is the
 * fallback the chat store uses otherwise (never a component), with the same readers and checks.
 */
import { axisBundleFromTensor, type ModelShape } from '../../core/chat/axis';
import { DataError } from '../../core/errors';
import { findTensors, readTensorFile } from '../../core/formats';
import { isRawTensor } from '../../core/tensor';
import type { AxisBundle } from '../../core/persona/axis-bundle';

/** Biggest axis file read (an fp32 (n_layers, d) axis of a 70B model is 2.6 MB; contrast files a few). */
export const MAX_AXIS_BYTES = 256 * 1024 * 1024;

export function axisBundleFromFile(name: string, bytes: Uint8Array, model: ModelShape): AxisBundle {
  if (bytes.length > MAX_AXIS_BYTES) throw new DataError('axis-size', `${name} is ${Math.round(bytes.length / 1e6)} MB, far more than an axis; pick the axis file itself.`);
  const r = readTensorFile(bytes, name);
  const v = r.value;
  const tensors = isRawTensor(v) ? [{ path: '', tensor: v }] : findTensors(v);
  if (tensors.length === 0) throw new DataError('axis-empty', `${name} holds no tensor, so it cannot be an axis.`);
  const { numLayers: L, hiddenSize: d } = model;
  const fits = tensors.find(({ tensor: t }) => (t.shape.length === 2 && t.shape[0] === L && t.shape[1] === d) || (t.shape.length === 1 && t.shape[0] === d));
  // None fits: the first one's shape goes in the error sentence.
  return axisBundleFromTensor((fits ?? tensors[0]).tensor, model, name, 'file');
}

/** The axis kept inside a share link (small models only): base64url of float32 little-endian. */
export function encodeAxis(axis: Float32Array): string {
  const b = new Uint8Array(axis.buffer, axis.byteOffset, axis.byteLength);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeAxis(text: string, maxFloats = 1 << 16): Float32Array | null {
  try {
    const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    if (s.length % 4 !== 0 || s.length / 4 > maxFloats) return null;
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    const f = new Float32Array(b.buffer);
    return f.every(Number.isFinite) ? f : null;
  } catch {
    return null;
  }
}
