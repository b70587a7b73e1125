/**
 * Recognise a file by its content (never its name) and read it into Python-like values.
 */
import { FormatError } from '../errors';
import { errorNamingFile } from './file-errors';
import { readJson, looksLikeJson } from './json';
import { isNpy, readNpy, readNpz } from './npy';
import { unpickle } from './pickle';
import { PyDict, type PyValue } from './py';
import { isLegacyTorch, readPt } from './pt';
import { isSafetensors, readSafetensors } from './safetensors';
import { looksLikeVectorsTsv, readMetadataTsv, readVectorsTsv } from './tsv';
import { isZip, openZip, type ZipLimits } from './zip';

export type FileFormat = 'pt' | 'npz' | 'npy' | 'safetensors' | 'pickle' | 'json' | 'tsv' | 'text';

export interface ReadFileOptions extends ZipLimits {
  dataOnly?: boolean;
}

/**
 * What the bytes are. Throws a FormatError naming what was found when nothing matches.
 * `text` is any other UTF-8 text (a names list, a metadata TSV).
 */
export function detectFormat(bytes: Uint8Array, path = 'the file'): FileFormat {
  if (bytes.length === 0) throw new FormatError('empty-file', `${quote(path)} is empty.`);
  if (isZip(bytes)) {
    const z = openZip(bytes, { verifyCrc: false });
    const names = [...z.entries.keys()];
    if (names.some((n) => n === 'data.pkl' || n.endsWith('/data.pkl'))) return 'pt';
    if (names.length > 0 && names.every((n) => n.endsWith('.npy') || n.endsWith('/'))) return 'npz';
    throw new FormatError('unknown-zip', `${quote(path)} is a ZIP archive but neither a PyTorch file (no data.pkl) nor an .npz (entries: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}).`);
  }
  if (isNpy(bytes)) return 'npy';
  if (isLegacyTorch(bytes)) return 'pt';
  if (isSafetensors(bytes)) return 'safetensors';
  if (bytes[0] === 0x80 && bytes.length > 1 && bytes[1] <= 5) return 'pickle';
  if (looksLikeJson(bytes)) return 'json';
  if (isText(bytes)) return looksLikeVectorsTsv(bytes) ? 'tsv' : 'text';
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new FormatError(
    'unknown-format',
    `${quote(path)} is not a format this tool reads (it starts with bytes ${head}); accepted: PyTorch .pt, safetensors, NumPy .npy/.npz, JSON, projector TSV.`,
    { head },
  );
}

function quote(path: string): string {
  return path === 'the file' ? 'The file' : `"${path}"`;
}

function isText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 4096);
  if (head.includes(0)) return false;
  try {
    // A cut in the middle of a multi-byte character at the 4 kB boundary is fine.
    new TextDecoder('utf-8', { fatal: true }).decode(head.length === bytes.length ? head : head.subarray(0, head.length - 4));
    return true;
  } catch {
    return false;
  }
}

export interface ReadResult {
  format: FileFormat;
  /**
   * pt/pickle: the unpickled value; npy: a RawTensor; npz/safetensors: a PyDict name -> RawTensor
   * (safetensors `__metadata__` is returned separately); json: see json.ts; tsv: a float32 (N, d)
   * RawTensor; text: the lines (string[]), or for a multi-column TSV a PyDict {columns, rows}.
   */
  value: PyValue;
  metadata?: Record<string, string> | null;
}

/** Detect and read one file. Errors name the file. */
export function readTensorFile(bytes: Uint8Array, path = 'the file', opts: ReadFileOptions = {}): ReadResult {
  try {
    const format = detectFormat(bytes, path);
    switch (format) {
      case 'pt':
        return { format, value: readPt(bytes, opts) };
      case 'npz':
        return { format, value: new PyDict(readNpz(bytes, opts)) };
      case 'npy':
        return { format, value: readNpy(bytes) };
      case 'safetensors': {
        const st = readSafetensors(bytes);
        return { format, value: new PyDict(st.tensors), metadata: st.metadata };
      }
      case 'pickle':
        return { format, value: unpickle(bytes, { dataOnly: opts.dataOnly }) };
      case 'json':
        return { format, value: readJson(bytes) };
      case 'tsv':
        return { format, value: readVectorsTsv(bytes) };
      case 'text': {
        const m = readMetadataTsv(bytes);
        if (m.columns.length === 1 && m.columns[0] === 'name') return { format, value: m.rows.map((r) => r[0]) };
        return { format, value: new PyDict([['columns', m.columns], ['rows', m.rows]]) };
      }
    }
  } catch (e) {
    throw path === 'the file' ? e : errorNamingFile(e, path);
  }
}
