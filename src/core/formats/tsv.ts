/**
 * TensorFlow Embedding Projector files: a vectors TSV (one row of tab-separated numbers per point)
 * and a metadata TSV (one column without a header, or several columns with a header row).
 *
 * Metadata cells are written so that any name survives and no spreadsheet runs it:
 * - a backslash, tab, line feed or carriage return inside a cell is written `\\`, `\t`, `\n`, `\r`
 *   (read back by `readMetadataTsv`; any other backslash pair is kept as it stands);
 * - a cell that would start with = + - @ (OWASP's CSV-injection list) gets a leading apostrophe,
 *   also after any apostrophes it already starts with, so the reader can take exactly one off.
 */
import { FormatError } from '../errors';
import { decodeF32, numel, tensorFromF32, type RawTensor } from '../tensor';

const NUM = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i;

function textLines(bytes: Uint8Array): string[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError('text-encoding', 'The text file is not valid UTF-8.');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function parseNum(s: string): number {
  const t = s.trim();
  if (!NUM.test(t)) return NaN;
  const l = t.toLowerCase().replace(/^\+/, '');
  if (l === 'inf' || l === 'infinity') return Infinity;
  if (l === '-inf' || l === '-infinity') return -Infinity;
  return Number(t);
}

/** True when the first non-empty line is all numbers separated by tabs. */
export function looksLikeVectorsTsv(bytes: Uint8Array): boolean {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 4096));
  const first = head.split(/\r?\n/)[0];
  if (!first || (!first.includes('\t') && !NUM.test(first.trim()))) return false;
  const cells = first.split('\t');
  return cells.length >= 1 && cells.every((c) => NUM.test(c.trim()));
}

/** Vectors TSV -> float32 (N, d). */
export function readVectorsTsv(bytes: Uint8Array): RawTensor {
  const lines = textLines(bytes);
  if (lines.length === 0) throw new FormatError('tsv-empty', 'The vectors TSV is empty.');
  const d = lines[0].split('\t').length;
  const out = new Float32Array(lines.length * d);
  lines.forEach((line, i) => {
    const cells = line.split('\t');
    if (cells.length !== d) {
      throw new FormatError('tsv-ragged', `Row ${i + 1} of the vectors TSV has ${cells.length} values; the first row has ${d}.`, { row: i + 1 });
    }
    for (let j = 0; j < d; j++) {
      const v = parseNum(cells[j]);
      if (Number.isNaN(v) && !/nan/i.test(cells[j])) {
        throw new FormatError('tsv-number', `Row ${i + 1}, column ${j + 1} of the vectors TSV is "${cells[j].slice(0, 30)}", not a number.`, { row: i + 1 });
      }
      out[i * d + j] = v;
    }
  });
  return tensorFromF32(out, [lines.length, d]);
}

export interface ProjectorMetadata {
  /** Column names: the header row, or ['name'] for a single headerless column. */
  columns: string[];
  rows: string[][];
}

/** Metadata TSV: a single column has no header; several columns have one (projector convention). */
export function readMetadataTsv(bytes: Uint8Array): ProjectorMetadata {
  const lines = textLines(bytes);
  if (lines.length === 0) throw new FormatError('tsv-empty', 'The metadata TSV is empty.');
  const first = lines[0].split('\t').map(readMetadataCell);
  if (first.length === 1) return { columns: ['name'], rows: lines.map((l) => [readMetadataCell(l)]) };
  const rows = lines.slice(1).map((l, i) => {
    const cells = l.split('\t').map(readMetadataCell);
    if (cells.length !== first.length) {
      throw new FormatError('tsv-ragged', `Row ${i + 2} of the metadata TSV has ${cells.length} columns; the header has ${first.length}.`);
    }
    return cells;
  });
  return { columns: first, rows };
}

/** The column that names points: `name`, `names`, `role`, `label`, `trait`, else the first. */
export function metadataNames(m: ProjectorMetadata): string[] {
  const pref = ['name', 'names', 'role', 'label', 'trait'];
  let col = m.columns.findIndex((c) => pref.includes(c.trim().toLowerCase()));
  if (col < 0) col = 0;
  return m.rows.map((r) => r[col]);
}

/** Vectors TSV from an (N, d) tensor (any dtype, decoded to float32; shortest round-trip decimals). */
export function writeVectorsTsv(t: RawTensor): Uint8Array {
  if (t.shape.length !== 2) throw new FormatError('tsv-shape', `The projector TSV holds (N, d) arrays, not shape [${t.shape.join(', ')}].`);
  const [n, d] = t.shape;
  const v = decodeF32(t, 0, numel(t.shape));
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const row: string[] = [];
    for (let j = 0; j < d; j++) {
      const x = v[i * d + j];
      row.push(Object.is(x, -0) ? '-0' : String(x));
    }
    lines.push(row.join('\t'));
  }
  return new TextEncoder().encode(lines.join('\n') + '\n');
}

/**
 * A text cell a spreadsheet will not run: one starting with = + - @ tab or CR gets a leading
 * apostrophe (OWASP's CSV-injection advice). Numbers are never written through here.
 */
export function spreadsheetSafe(s: string): string {
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

/** Whether `s`, less any apostrophes it starts with, would be read as a formula. */
function formulaBehindApostrophes(s: string): boolean {
  const rest = s.replace(/^'+/, '');
  return spreadsheetSafe(rest) !== rest;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const UNESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };

/** One metadata cell as written: tab/line breaks/backslash escaped, formulas behind an apostrophe. */
export function metadataCell(s: string): string {
  const t = s.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]);
  return formulaBehindApostrophes(t) ? `'${t}` : t;
}

/** The inverse of `metadataCell` (a cell from another tool without escapes reads as it stands). */
export function readMetadataCell(cell: string): string {
  const t = cell.startsWith("'") && formulaBehindApostrophes(cell.slice(1)) ? cell.slice(1) : cell;
  return t.includes('\\') ? t.replace(/\\([\\tnr])/g, (_, c: string) => UNESCAPES[c]) : t;
}

/** Metadata TSV: names alone (one headerless column) or several columns with a header. */
export function writeMetadataTsv(meta: string[] | ProjectorMetadata): Uint8Array {
  const clean = metadataCell;
  const lines = Array.isArray(meta)
    ? meta.map(clean)
    : meta.columns.length === 1
      ? meta.rows.map((r) => clean(r[0]))
      : [meta.columns.map(clean).join('\t'), ...meta.rows.map((r) => r.map(clean).join('\t'))];
  return new TextEncoder().encode(lines.join('\n') + '\n');
}

export { textLines };
