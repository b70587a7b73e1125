/**
 * Vector files on disk, one rule for every command: a (d,) or (n_layers, d) tensor — an axis, a
 * steering or capping direction — in .npy, .safetensors or .pt. Reading checks the file's size
 * before a byte is read and the tensor's rank after; writing uses the same formats, so whatever a
 * command writes reads back with `readVectorFile` (and with `--steer`, `--cap`, `--axis`).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './args';
import { DataError } from '../src/core/errors';
import { readTensorFile } from '../src/core/formats/detect';
import { writeNpy } from '../src/core/formats/npy';
import { writePt } from '../src/core/formats/pt';
import { writeSafetensors } from '../src/core/formats/safetensors';
import { isRawTensor, type RawTensor } from '../src/core/tensor';

/** The formats a vector file is written in (and read from). */
export const VECTOR_EXTS = ['.safetensors', '.npy', '.pt'] as const;

/** A vector file larger than this is refused before it is read (an (80, 8192) float32 axis is 2.6 MB). */
export const MAX_VECTOR_FILE_BYTES = 512 * 2 ** 20;

/** The bytes of a small input file (vector, tau list, calibration), refused past `maxBytes` before reading. */
export async function readBoundedFile(file: string, what: string, maxBytes = MAX_VECTOR_FILE_BYTES): Promise<Uint8Array> {
  const st = await stat(file);
  if (!st.isFile()) throw new DataError('not-a-file', `The ${what} "${file}" is not a file.`);
  if (st.size > maxBytes) {
    throw new DataError('file-too-large', `The ${what} ${path.basename(file)} is ${(st.size / 2 ** 20).toFixed(0)} MiB; a ${what} holds at most ${(maxBytes / 2 ** 20).toFixed(0)} MiB.`);
  }
  const b = await readFile(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A (d,) or (L, d) tensor from .npy / .safetensors / .pt (one tensor, or a dict with one tensor or one named vector / axis). */
export async function readVectorFile(file: string, what: string): Promise<RawTensor> {
  const { value } = readTensorFile(await readBoundedFile(file, `${what} file`), path.basename(file));
  let t: RawTensor | null = null;
  if (isRawTensor(value)) t = value;
  else if (value instanceof Map) {
    const tensors = [...value.entries()].filter(([, v]) => isRawTensor(v)) as [unknown, RawTensor][];
    const named = tensors.find(([k]) => k === 'vector' || k === 'axis');
    if (named) t = named[1];
    else if (tensors.length === 1) t = tensors[0][1];
    else throw new DataError('vector-file', `${path.basename(file)} holds ${tensors.length} tensors; the ${what} file must hold one (d,) or (n_layers, d) tensor (or one called "vector" or "axis").`);
  }
  if (!t) throw new DataError('vector-file', `${path.basename(file)} does not hold a tensor; the ${what} file must hold one (d,) or (n_layers, d) tensor.`);
  if (t.shape.length !== 1 && t.shape.length !== 2) {
    throw new DataError('vector-file', `${path.basename(file)} holds a tensor of shape (${t.shape.join(', ')}); the ${what} file must hold one (d,) or (n_layers, d) tensor.`);
  }
  return t;
}

/** `--out FILE` for a vector: its extension must be one of VECTOR_EXTS (checked before any work). */
export function vectorOutPath(file: string | undefined, flag = 'out'): string | undefined {
  if (file === undefined) return undefined;
  const ext = path.extname(file).toLowerCase();
  if (!(VECTOR_EXTS as readonly string[]).includes(ext)) throw new UsageError(`--${flag} must end in ${VECTOR_EXTS.join(', ')} (got "${path.basename(file)}").`);
  return file;
}

/** The bytes of a vector file: .npy and .pt hold the bare tensor, .safetensors one tensor called `name` (with string metadata). */
export function vectorFileBytes(file: string, t: RawTensor, opts: { name?: string; metadata?: Record<string, string> } = {}): Uint8Array {
  const ext = path.extname(vectorOutPath(file)!).toLowerCase();
  if (ext === '.npy') return writeNpy(t);
  if (ext === '.pt') return writePt(t);
  const meta: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(opts.metadata ?? {})) meta[k] = v;
  return writeSafetensors([[opts.name ?? 'vector', t]], meta);
}

/** Write a vector file that `readVectorFile` reads back as the same tensor. */
export async function writeVectorFile(file: string, t: RawTensor, opts: { name?: string; metadata?: Record<string, string> } = {}): Promise<void> {
  await writeFile(file, vectorFileBytes(file, t, opts));
}
