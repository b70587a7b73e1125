/**
 * CSV and JSON of exactly what the map shows: every member's coordinates on the computed
 * components, its projection on the Assistant Axis and its rank, plus one row for the default.
 * CSV columns: name,kind,pc1..pcK,axis_projection,rank (the default's rank is empty).
 */
import { spreadsheetSafe } from '../formats/tsv';
import type { LayerAnalysis, SetInfo } from './types';

/** Nine significant digits hold a float32 exactly; trailing zeros are dropped. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return '';
  return String(Number(x.toPrecision(9)));
}

// OWASP's CSV-injection escape lives with the TSV writer (metadata meant for spreadsheets uses it too).
// Numbers are written by formatNumber, never through it.
export { spreadsheetSafe } from '../formats/tsv';

/** RFC 4180 quoting (only when the field holds a comma, quote or line break), after spreadsheetSafe. */
export function csvField(s: string): string {
  const t = spreadsheetSafe(s);
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/**
 * The characters XML 1.0 forbids (C0 controls except tab, LF, CR; lone surrogates; U+FFFE/U+FFFF)
 * replaced by U+FFFD; nothing else changes (for text a DOM serializer escapes itself).
 */
export function xmlChars(s: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/**
 * Text for SVG/XML: & < > " ' escaped, and characters XML 1.0 forbids (C0 controls except tab, LF,
 * CR; lone surrogates; U+FFFE/U+FFFF) shown as U+FFFD, so any member name keeps the file valid XML.
 */
export function xmlText(s: string): string {
  return xmlChars(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export const DEFAULT_ROW_NAME = 'default';

export function buildCsv(a: LayerAnalysis): string {
  const k = a.k;
  const header = ['name', 'kind', ...Array.from({ length: k }, (_, j) => `pc${j + 1}`), 'axis_projection', 'rank'];
  const lines = [header.join(',')];
  for (let i = 0; i < a.names.length; i++) {
    const row = [csvField(a.names[i]), a.kinds[i]];
    for (let j = 0; j < k; j++) row.push(formatNumber(a.coords[i * k + j]));
    row.push(formatNumber(a.projection[i]), String(a.rank[i]));
    lines.push(row.join(','));
  }
  if (a.defaultCoords) {
    const row = [DEFAULT_ROW_NAME, 'default', ...a.defaultCoords.slice(0, k).map(formatNumber)];
    row.push(a.defaultProjection === null ? '' : formatNumber(a.defaultProjection), '');
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

export interface ExportJson {
  source: string;
  layer: number;
  components: number;
  explained_variance_ratio: number[];
  axis_norm: number | null;
  cos_axis_pc: number[];
  default: { label: string | null; coords: number[]; axis_projection: number | null } | null;
  members: { name: string; kind: string; coords: number[]; axis_projection: number; rank: number }[];
}

export function buildJson(a: LayerAnalysis, info: Pick<SetInfo, 'label' | 'defaultLabel'>): ExportJson {
  const k = a.k;
  const round = (x: number) => Number(x.toPrecision(9));
  return {
    source: info.label,
    layer: a.layer,
    components: k,
    explained_variance_ratio: a.explained.map(round),
    axis_norm: a.axisNorm === null ? null : round(a.axisNorm),
    cos_axis_pc: a.cosAxisPc.map(round),
    default: a.defaultCoords
      ? {
        label: info.defaultLabel,
        coords: a.defaultCoords.slice(0, k).map(round),
        axis_projection: a.defaultProjection === null ? null : round(a.defaultProjection),
      }
      : null,
    members: a.names.map((name, i) => ({
      name,
      kind: a.kinds[i],
      coords: Array.from(a.coords.subarray(i * k, i * k + k), round),
      axis_projection: round(a.projection[i]),
      rank: a.rank[i],
    })),
  };
}

/** Minimal CSV reader (RFC 4180 quoting), used by tests and by anyone re-reading an export. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}
