/**
 * Vectors as JSON: a list of numbers (d,), nested lists (N, d) / (N, L, d), an object
 * {name: [numbers]}, or {names: [...], vectors: [[...]]}. A list of strings is a names file.
 * Numbers become float32 tensors; dicts become PyDict (see py.ts), so JSON reads like a pickle.
 */
import { FormatError } from '../errors';
import { decodeF32, numel, tensorFromF32, type RawTensor } from '../tensor';
import { PyDict, type PyValue } from './py';

/** Deepest nesting read (objects and arrays alike); deeper input gets FormatError `json-depth`. */
export const MAX_JSON_DEPTH = 64;

function tooDeep(): FormatError {
  return new FormatError('json-depth', `The JSON nests more than ${MAX_JSON_DEPTH} levels deep.`);
}

/**
 * Nested arrays of numbers (null = NaN) -> float32 tensor, or null when the value is not a numeric
 * array. The shape comes from the first element at each level, so it is bounded before anything is
 * walked or allocated: at most MAX_JSON_DEPTH - depth levels, and no more numbers than the text could
 * hold (`maxNumbers`, about half its bytes).
 */
function numericArray(v: unknown, depth: number, maxNumbers: number): RawTensor | null {
  const shape: number[] = [];
  let x: unknown = v;
  while (Array.isArray(x)) {
    if (depth + shape.length > MAX_JSON_DEPTH) throw tooDeep();
    shape.push(x.length);
    if (x.length === 0) break;
    x = x[0];
  }
  if (shape.length === 0 || (shape[shape.length - 1] !== 0 && typeof x !== 'number' && x !== null)) return null;
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > maxNumbers) {
    // The first element at each level promises more numbers than the file has room for: not rectangular.
    throw new FormatError('json-ragged', `The JSON array is not rectangular: expected shape [${shape.join(', ')}] throughout.`);
  }
  const out = new Float32Array(numel(shape));
  let k = 0;
  let ragged = false;
  const walk = (a: unknown, depth: number): boolean => {
    if (depth === shape.length) {
      if (typeof a !== 'number' && a !== null) return false;
      out[k++] = a === null ? NaN : a;
      return true;
    }
    if (!Array.isArray(a)) return false;
    if (a.length !== shape[depth]) {
      ragged = true;
      return false;
    }
    for (const y of a) if (!walk(y, depth + 1)) return false;
    return true;
  };
  if (walk(v, 0)) return tensorFromF32(out, shape);
  if (ragged) throw new FormatError('json-ragged', `The JSON array is not rectangular: expected shape [${shape.join(', ')}] throughout.`);
  return null; // mixed content: kept as a plain list
}

function convert(v: unknown, depth: number, maxNumbers: number): PyValue {
  if (depth > MAX_JSON_DEPTH) throw tooDeep();
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
    const t = numericArray(v, depth, maxNumbers);
    if (t) return t;
    return v.map((x) => convert(x, depth + 1, maxNumbers));
  }
  const d = new PyDict();
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) d.set(k, convert(x, depth + 1, maxNumbers));
  return d;
}

export function looksLikeJson(bytes: Uint8Array): boolean {
  for (let i = 0; i < Math.min(bytes.length, 1024); i++) {
    const c = bytes[i];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xef || c === 0xbb || c === 0xbf) continue;
    return c === 0x5b || c === 0x7b; // '[' or '{'
  }
  return false;
}

/** Replace bare NaN / Infinity / -Infinity tokens (outside strings) with null / ±1e999. */
function pythonSpecials(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (text.startsWith('NaN', i)) {
      out += 'null';
      i += 2;
    } else if (text.startsWith('-Infinity', i)) {
      out += '-1e999';
      i += 8;
    } else if (text.startsWith('Infinity', i)) {
      out += '1e999';
      i += 7;
    } else out += c;
  }
  return out;
}

export function readJson(bytes: Uint8Array): PyValue {
  let parsed: unknown;
  try {
    let text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      // Python's json module writes NaN and Infinity, which JSON.parse refuses; accept them.
      const fixed = pythonSpecials(text);
      if (fixed === text) throw e;
      parsed = JSON.parse(fixed);
    }
  } catch (e) {
    throw new FormatError('json-invalid', `The JSON file is not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  // Each number takes at least one character and a separator (`1,`), so no array holds more than this.
  return convert(parsed, 0, Math.floor(bytes.length / 2) + 1);
}

/** {names, vectors} JSON from an (N, d) / (N, L, d) tensor. */
export function writeJsonVectors(names: readonly string[], t: RawTensor): Uint8Array {
  if (t.shape[0] !== names.length) throw new FormatError('json-shape', `${names.length} names for ${t.shape[0]} rows.`);
  const flat = decodeF32(t);
  const build = (off: number, dim: number): unknown => {
    if (dim === t.shape.length - 1) return Array.from(flat.subarray(off, off + t.shape[dim]));
    const stride = t.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: t.shape[dim] }, (_, i) => build(off + i * stride, dim + 1));
  };
  return new TextEncoder().encode(JSON.stringify({ names, vectors: build(0, 0) }));
}
