/**
 * The view a share link restores, kept in the URL's hash:
 * `#src=<source URL>&layer=16&pcx=1&pcy=2&color=axis&sel=ghost,pirate&mode=2d`.
 * Only what a person chose is stored; anything missing or malformed falls back to the defaults.
 */

export type ColorBy = 'axis' | 'group' | `pc${number}`;
export type MapMode = '2d' | '3d';

export interface ViewState {
  /** URL of the dataset (a file, a hub folder URL, `hf://...` or `release:<modelId>`), or null for local files. */
  src: string | null;
  /** Layer shown, or null for the set's default (the middle layer). */
  layer: number | null;
  /** 1-based components on the horizontal and vertical axes. */
  pcx: number;
  pcy: number;
  color: ColorBy;
  /** Selected member names. */
  sel: string[];
  mode: MapMode;
  /** The map's layout when it is not PCA: UMAP with its seed, or a custom axis with its two queries. */
  layout?: 'umap' | 'custom';
  seed?: number;
  ca?: string;
  cb?: string;
}

export const MAX_PC = 10;

export const DEFAULT_VIEW: ViewState = { src: null, layer: null, pcx: 1, pcy: 2, color: 'axis', sel: [], mode: '2d' };

function isPc(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_PC;
}

export function isColorBy(s: string): s is ColorBy {
  if (s === 'axis' || s === 'group') return true;
  const m = /^pc(\d+)$/.exec(s);
  return m !== null && isPc(Number(m[1]));
}

/** Names may hold commas or ampersands: each is percent-encoded, then joined with commas. */
function encodeSel(sel: readonly string[]): string {
  return sel.map((s) => encodeURIComponent(s)).join(',');
}

/** The hash (without '#') for a view; defaults are written too so a link reads plainly. */
export function encodeView(v: ViewState): string {
  const parts: string[] = [];
  if (v.src) parts.push(`src=${encodeURIComponent(v.src)}`);
  if (v.layer !== null) parts.push(`layer=${v.layer}`);
  parts.push(`pcx=${v.pcx}`, `pcy=${v.pcy}`, `color=${v.color}`);
  if (v.sel.length > 0) parts.push(`sel=${encodeSel(v.sel)}`);
  parts.push(`mode=${v.mode}`);
  if (v.layout === 'umap') parts.push('layout=umap', `seed=${v.seed ?? 42}`);
  if (v.layout === 'custom') parts.push('layout=custom', `ca=${encodeURIComponent(v.ca ?? '')}`, `cb=${encodeURIComponent(v.cb ?? '')}`);
  return parts.join('&');
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** Reads a hash (with or without '#'); unknown keys are ignored, bad values fall back to defaults. */
export function decodeView(hash: string): ViewState {
  const v: ViewState = { ...DEFAULT_VIEW, sel: [] };
  const body = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!body) return v;
  for (const part of body.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const raw = part.slice(eq + 1);
    switch (key) {
      case 'src': {
        const s = safeDecode(raw);
        if (s) v.src = s;
        break;
      }
      case 'layer': {
        const n = Number(raw);
        if (raw !== '' && Number.isInteger(n) && n >= 0) v.layer = n;
        break;
      }
      case 'pcx':
      case 'pcy': {
        const n = Number(raw);
        if (isPc(n)) v[key] = n;
        break;
      }
      case 'color':
        if (isColorBy(raw)) v.color = raw;
        break;
      case 'mode':
        if (raw === '2d' || raw === '3d') v.mode = raw;
        break;
      case 'layout':
        if (raw === 'umap' || raw === 'custom') v.layout = raw;
        break;
      case 'seed': {
        const n = Number(raw);
        if (raw !== '' && Number.isSafeInteger(n) && n >= 0) v.seed = n;
        break;
      }
      case 'ca':
      case 'cb': {
        const q = safeDecode(raw);
        if (q !== null) v[key] = q.slice(0, 500);
        break;
      }
      case 'sel':
        v.sel = raw === '' ? [] : raw.split(',').map(safeDecode).filter((s): s is string => s !== null && s !== '');
        break;
    }
  }
  return v;
}

/** A full link: the page's address without its hash, plus the encoded view. */
export function shareUrl(pageUrl: string, v: ViewState): string {
  const hashAt = pageUrl.indexOf('#');
  const base = hashAt >= 0 ? pageUrl.slice(0, hashAt) : pageUrl;
  return `${base}#${encodeView(v)}`;
}
