/**
 * The map as a scene: screen positions of every point, the default marker, the Assistant Axis
 * arrow, axis titles and placed labels. The canvas draws it on screen and `sceneToSvg` writes the
 * same scene as a vector figure, so an exported SVG shows exactly what is on screen.
 */
import { PALETTE } from './colors';
import type { PlacedLabel } from './labels';
import { xmlText } from './export-table';

export interface ZoomTransform { k: number; x: number; y: number }
export interface Rotation { yaw: number; pitch: number }

export interface ProjectionInput {
  /** N x k coordinates, row-major. */
  coords: Float32Array;
  k: number;
  defaultCoords: number[] | null;
  /** 1-based components on screen x and y (2D). */
  pcx: number;
  pcy: number;
  mode: '2d' | '3d';
  rotation: Rotation;
  transform: ZoomTransform;
  width: number;
  height: number;
  /** Margin around the data at zoom 1, in pixels. */
  padding: number;
  /** More rows (m x k, same coordinates) placed with the same transform without changing the fit (overlays). */
  extra?: Float32Array;
  /** Points left out of the fit of the view (hidden ones): 1 = left out. */
  skip?: Uint8Array;
}

export interface Projected {
  x: Float32Array;
  y: Float32Array;
  /** Depth toward the viewer (3D only; 0 in 2D). */
  z: Float32Array;
  defaultPt: { x: number; y: number } | null;
  origin: { x: number; y: number };
  /** 3D: screen directions of the PC1..PC3 unit axes (for the gizmo); 2D: null. */
  axes3d: { x: number; y: number }[] | null;
  /** Data-units-to-pixels scale at zoom 1. */
  baseScale: number;
  /** Screen positions of the `extra` rows. */
  extraX: Float32Array;
  extraY: Float32Array;
}

/** Rotate (a, b, c) by yaw about the vertical axis then pitch about the horizontal one. */
function rotate(a: number, b: number, c: number, r: Rotation): [number, number, number] {
  const cy = Math.cos(r.yaw), sy = Math.sin(r.yaw), cp = Math.cos(r.pitch), sp = Math.sin(r.pitch);
  const x1 = a * cy + c * sy;
  const z1 = -a * sy + c * cy;
  const y2 = b * cp - z1 * sp;
  const z2 = b * sp + z1 * cp;
  return [x1, y2, z2];
}

/**
 * Screen positions. 2D keeps one scale for both axes (distances stay honest); 3D is orthographic
 * around the roles' mean (the PCA origin). Screen y grows downward, data y upward.
 */
export function projectPoints(p: ProjectionInput): Projected {
  const n = p.coords.length / p.k;
  const x = new Float32Array(n), y = new Float32Array(n), z = new Float32Array(n);
  const { transform: t, width: W, height: H } = p;
  const pad = p.padding;
  const cx = W / 2, cy = H / 2;
  let defaultPt: Projected['defaultPt'] = null;
  if (p.mode === '2d') {
    const jx = Math.min(p.pcx, p.k) - 1, jy = Math.min(p.pcy, p.k) - 1;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const take = (a: number, b: number) => {
      if (!Number.isFinite(a) || !Number.isFinite(b)) return;
      if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
    };
    for (let i = 0; i < n; i++) if (!p.skip?.[i]) take(p.coords[i * p.k + jx], p.coords[i * p.k + jy]);
    if (p.defaultCoords) take(p.defaultCoords[jx], p.defaultCoords[jy]);
    take(0, 0);
    const s = Math.min((W - 2 * pad) / Math.max(x1 - x0, 1e-12), (H - 2 * pad) / Math.max(y1 - y0, 1e-12));
    const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    const sx = (a: number) => t.x + t.k * (cx + (a - mx) * s);
    const sy = (b: number) => t.y + t.k * (cy - (b - my) * s);
    for (let i = 0; i < n; i++) {
      x[i] = sx(p.coords[i * p.k + jx]);
      y[i] = sy(p.coords[i * p.k + jy]);
    }
    if (p.defaultCoords) defaultPt = { x: sx(p.defaultCoords[jx]), y: sy(p.defaultCoords[jy]) };
    const m = p.extra ? p.extra.length / p.k : 0;
    const extraX = new Float32Array(m), extraY = new Float32Array(m);
    for (let i = 0; i < m; i++) { extraX[i] = sx(p.extra![i * p.k + jx]); extraY[i] = sy(p.extra![i * p.k + jy]); }
    return { x, y, z, defaultPt, origin: { x: sx(0), y: sy(0) }, axes3d: null, baseScale: s, extraX, extraY };
  }
  const k3 = Math.min(3, p.k);
  const c3 = (row: ArrayLike<number>, off: number): [number, number, number] =>
    [row[off], k3 > 1 ? row[off + 1] : 0, k3 > 2 ? row[off + 2] : 0];
  // Fit every point drawn, the outliers included: a sphere through the farthest one, so the first
  // view shows everything whichever way it is turned.
  let far = 0;
  for (let i = 0; i < n; i++) {
    if (p.skip?.[i]) continue;
    const [a, b, c] = c3(p.coords, i * p.k);
    const d = Math.hypot(a, b, c);
    if (Number.isFinite(d) && d > far) far = d;
  }
  let r = far > 0 ? far : 1;
  if (p.defaultCoords) r = Math.max(r, Math.hypot(...c3(p.defaultCoords, 0)));
  const s = (Math.min(W, H) / 2 - pad) / Math.max(r, 1e-12);
  const toScreen = (a: number, b: number, c: number): [number, number, number] => {
    const [u, v, w] = rotate(a, b, c, p.rotation);
    return [t.x + t.k * (cx + u * s), t.y + t.k * (cy - v * s), w];
  };
  for (let i = 0; i < n; i++) {
    const [a, b, c] = c3(p.coords, i * p.k);
    const q = toScreen(a, b, c);
    x[i] = q[0]; y[i] = q[1]; z[i] = q[2];
  }
  if (p.defaultCoords) {
    const q = toScreen(...c3(p.defaultCoords, 0));
    defaultPt = { x: q[0], y: q[1] };
  }
  const axes3d = [[1, 0, 0], [0, 1, 0], [0, 0, 1]].map(([a, b, c]) => {
    const [u, v] = rotate(a, b, c, p.rotation);
    return { x: u, y: -v };
  });
  const m = p.extra ? p.extra.length / p.k : 0;
  const extraX = new Float32Array(m), extraY = new Float32Array(m);
  for (let i = 0; i < m; i++) { const q = toScreen(...c3(p.extra!, i * p.k)); extraX[i] = q[0]; extraY[i] = q[1]; }
  return { x, y, z, defaultPt, origin: { x: t.x + t.k * cx, y: t.y + t.k * cy }, axes3d, baseScale: s, extraX, extraY };
}

/** Points in draw order: back to front in 3D; emphasised points last so they stay on top. */
export function drawOrder(z: Float32Array, emphasis: Uint8Array, mode: '2d' | '3d'): Uint32Array {
  const n = z.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  if (mode === '3d') return idx.sort((a, b) => emphasis[a] - emphasis[b] || z[a] - z[b]);
  return idx.sort((a, b) => emphasis[a] - emphasis[b] || a - b);
}

/** Emphasis levels: how a point is drawn. */
export const EMPH = { hidden: 0, dimmed: 1, normal: 2, highlighted: 3, selected: 4 } as const;

export interface SceneText {
  x: number;
  y: number;
  text: string;
  anchor: 'start' | 'middle' | 'end';
  /** Rotation in degrees (vertical axis titles). */
  rotate?: number;
  size: number;
  weight?: 'normal' | 'bold';
  color?: string;
}

export interface MapScene {
  width: number;
  height: number;
  background: string;
  proj: Projected;
  /** Palette index per point (see colors.ts). */
  color: Uint8Array;
  emphasis: Uint8Array;
  order: Uint32Array;
  radius: number;
  arrow: { x1: number; y1: number; x2: number; y2: number } | null;
  labels: (PlacedLabel & { text: string; emphasis: number; leader?: { x1: number; y1: number; x2: number; y2: number } })[];
  texts: SceneText[];
  fontSize: number;
  /** Default marker label, e.g. "Assistant (default)". */
  defaultLabel: string;
  /** Colours `color` indexes into (the diverging scale, or group colours). */
  palette?: readonly string[];
  /** Mark per point: 0 = disc (roles), 1 = square (traits). */
  shape?: Uint8Array;
  /** Whether the PCA cross-hair through the origin is drawn (not for UMAP). */
  crosshair?: boolean;
  /** Numbered polylines (chat trajectories), in screen coordinates. */
  polylines?: ScenePolyline[];
}

export interface ScenePolyline {
  label: string;
  color: string;
  points: { x: number; y: number; n: number }[];
}

/** Every text and attribute value of the SVG goes through the one XML escape (see xmlText). */
const esc = xmlText;

const r2 = (v: number) => Math.round(v * 100) / 100;

/** Five-pointed star path centred at (x, y). */
export function starPoints(x: number, y: number, outer: number, inner = outer * 0.45): [number, number][] {
  const pts: [number, number][] = [];
  for (let i = 0; i < 10; i++) {
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    const rad = i % 2 === 0 ? outer : inner;
    pts.push([x + rad * Math.cos(a), y + rad * Math.sin(a)]);
  }
  return pts;
}

/** The scene as a standalone SVG document (every point drawn, nothing subsampled). */
export function sceneToSvg(s: MapScene): string {
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${s.width}" height="${s.height}" viewBox="0 0 ${s.width} ${s.height}" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">`);
  out.push(`<rect width="100%" height="100%" fill="${s.background}"/>`);
  out.push(`<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1b1b1b"/></marker></defs>`);
  const { x, y } = s.proj;
  // Outlined points, as on screen; thousands of points are drawn without outlines.
  out.push(s.order.length > 2000 ? '<g stroke="none">' : '<g stroke="rgba(0,0,0,0.45)" stroke-width="0.6">');
  for (const i of s.order) {
    const e = s.emphasis[i];
    if (e === EMPH.hidden) continue;
    if (x[i] < -10 || y[i] < -10 || x[i] > s.width + 10 || y[i] > s.height + 10) continue;
    const rad = e >= EMPH.highlighted ? s.radius * 1.6 : s.radius;
    const op = e === EMPH.dimmed ? ' fill-opacity="0.18" stroke-opacity="0.18"' : '';
    const ring = e >= EMPH.highlighted ? ' stroke="#111" stroke-width="1.6"' : '';
    const fill = (s.palette ?? PALETTE)[s.color[i]];
    if (s.shape?.[i] === 1) out.push(`<rect x="${r2(x[i] - rad)}" y="${r2(y[i] - rad)}" width="${r2(2 * rad)}" height="${r2(2 * rad)}" fill="${fill}"${op}${ring}/>`);
    else out.push(`<circle cx="${r2(x[i])}" cy="${r2(y[i])}" r="${r2(rad)}" fill="${fill}"${op}${ring}/>`);
  }
  out.push('</g>');
  if (s.arrow) {
    const a = s.arrow;
    out.push(`<line x1="${r2(a.x1)}" y1="${r2(a.y1)}" x2="${r2(a.x2)}" y2="${r2(a.y2)}" stroke="#1b1b1b" stroke-width="2.5" marker-end="url(#arrowhead)"/>`);
  }
  const d = s.proj.defaultPt;
  if (d) {
    const pts = starPoints(d.x, d.y, s.radius * 3.2).map(([px, py]) => `${r2(px)},${r2(py)}`).join(' ');
    out.push(`<polygon points="${pts}" fill="#ffd400" stroke="#111" stroke-width="1.5"/>`);
  }
  for (const pl of s.polylines ?? []) {
    const pts = pl.points.map((p) => `${r2(p.x)},${r2(p.y)}`).join(' ');
    out.push(`<g class="trajectory"><title>${esc(pl.label)}</title><polyline points="${pts}" fill="none" stroke="${esc(pl.color)}" stroke-width="2.5" stroke-linejoin="round"/>`);
    for (const p of pl.points) {
      out.push(`<circle cx="${r2(p.x)}" cy="${r2(p.y)}" r="8" fill="#fff" stroke="${esc(pl.color)}" stroke-width="2"/><text x="${r2(p.x)}" y="${r2(p.y + 4)}" font-size="11" font-weight="bold" text-anchor="middle" fill="#111">${p.n}</text>`);
    }
    out.push('</g>');
  }
  for (const l of s.labels) {
    if (l.leader) out.push(`<line x1="${r2(l.leader.x1)}" y1="${r2(l.leader.y1)}" x2="${r2(l.leader.x2)}" y2="${r2(l.leader.y2)}" stroke="#555" stroke-width="1"/>`);
  }
  for (const l of s.labels) {
    const w = l.emphasis >= EMPH.highlighted ? 'bold' : 'normal';
    out.push(`<text x="${r2(l.x)}" y="${r2(l.y + l.height * 0.78)}" font-size="${s.fontSize}" font-weight="${w}" fill="#111" stroke="${s.background}" stroke-width="3" paint-order="stroke">${esc(l.text)}</text>`);
  }
  for (const t of s.texts) {
    const tr = t.rotate ? ` transform="rotate(${t.rotate} ${r2(t.x)} ${r2(t.y)})"` : '';
    out.push(`<text x="${r2(t.x)}" y="${r2(t.y)}" font-size="${t.size}" font-weight="${t.weight ?? 'normal'}" text-anchor="${t.anchor}" fill="${t.color ?? '#222'}"${tr}>${esc(t.text)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}
