/**
 * The map as a scene: screen positions of every point, the default marker, the Assistant Axis
 * arrow, axis titles and placed labels. The canvas draws it on screen and `sceneToSvg` writes the
 * same scene as a vector figure, so an exported SVG shows exactly what is on screen.
 */
import { PALETTE } from './colors';
import { formatPercent } from './format';
import { calloutLabels, placeLabels, type CalloutLabel, type LabelCandidate, type PlacedLabel } from './labels';
import type { LayerAnalysis } from './types';
import { xmlText } from './export-table';

export interface ZoomTransform { k: number; x: number; y: number }
export interface Rotation { yaw: number; pitch: number }

/** Which components are on screen, how the view is turned and zoomed, and its size in pixels. */
export interface ViewGeometry {
  /** 1-based components on screen x and y (2D). */
  pcx: number;
  pcy: number;
  mode: '2d' | '3d';
  rotation: Rotation;
  transform: ZoomTransform;
  width: number;
  height: number;
}

export interface ProjectionInput extends ViewGeometry {
  /** N x k coordinates, row-major. */
  coords: Float32Array;
  k: number;
  defaultCoords: number[] | null;
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

/** Outer radius of the default's star for points of `radius` (never under 9 px, so it stays findable). */
export function starRadius(radius: number): number {
  return Math.max(9, radius * 3.2);
}

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
    const pts = starPoints(d.x, d.y, starRadius(s.radius)).map(([px, py]) => `${r2(px)},${r2(py)}`).join(' ');
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

// ---- Building the scene of a layer (what the canvas draws and the SVG writes) ----

export const MAP_BG = '#fcfcfa';

/** What the map shows of a layer, and how (the canvas and the SVG export build the same scene). */
export interface SceneInput extends ViewGeometry {
  analysis: LayerAnalysis;
  /** Palette index per point. */
  color: Uint8Array;
  /** Emphasis per point (EMPH). */
  emphasis: Uint8Array;
  /** Point indices by label priority (extremes of the axis first). */
  labelOrder: Uint32Array;
  hovered: number | null;
  defaultLabel: string;
  fontSize: number;
  /** Cached text widths. */
  measure: (text: string, bold: boolean) => number;
  /** Reuse when only the transform changed (2D). */
  cachedOrder?: Uint32Array | null;
  /** Colours `color` indexes into (default: the diverging scale). */
  palette?: readonly string[];
  /** Mark per point: 0 = disc, 1 = square (traits). */
  shape?: Uint8Array;
  /** Axis titles instead of "PC<n> (…%)" (UMAP, a custom axis). */
  axisTitles?: { x: string; y: string; z?: string };
  /** Whether the layout is PCA's (the arrow, the cross-hair and the Role-play/Assistant ends belong to it). */
  pcaLayout?: boolean;
  /** Whether the set has an Assistant Axis (a default): only then do the ends get their names. */
  hasDefault?: boolean;
  /** Numbered polylines in the same coordinates as the points (k per point). */
  overlays?: { label: string; color: string; coords: Float32Array; turns: number[] }[];
}

/** Radius shrinks with the number of points so 20,000 stay readable; grows a little on zoom. */
export function pointRadius(n: number, k: number): number {
  const base = n <= 400 ? 5 : n <= 2000 ? 3.5 : n <= 10000 ? 2.4 : 1.8;
  return Math.min(base * Math.pow(k, 0.25), base * 2.2);
}

function defaultLabelBox(p: { x: number; y: number }, radius: number, textWidth: number, lh: number, W: number) {
  const star = starRadius(radius);
  const width = textWidth + 6;
  const x = Math.max(2, Math.min(W - width - 2, p.x - width / 2));
  const y = p.y - star - 4 - lh >= 2 ? p.y - star - 4 - lh : p.y + star + 4;
  return { x, y, width, height: lh };
}

export function buildScene(inp: SceneInput): MapScene {
  const a = inp.analysis;
  const { width: W, height: H } = inp;
  const fs = inp.fontSize;
  const pad = Math.max(48, fs * 4);
  const pcaLayout = inp.pcaLayout ?? true;
  const overlays = inp.overlays ?? [];
  const extraRows = overlays.reduce((c, o) => c + o.turns.length, 0);
  const extra = new Float32Array(extraRows * a.k);
  let at = 0;
  for (const o of overlays) { extra.set(o.coords.subarray(0, o.turns.length * a.k), at); at += o.turns.length * a.k; }
  const skip = new Uint8Array(inp.emphasis.length);
  for (let i = 0; i < skip.length; i++) skip[i] = inp.emphasis[i] === EMPH.hidden ? 1 : 0;
  const proj = projectPoints({
    coords: a.coords, k: a.k, defaultCoords: a.defaultCoords, pcx: inp.pcx, pcy: inp.pcy, mode: inp.mode,
    rotation: inp.rotation, transform: inp.transform, width: W, height: H, padding: pad, extra, skip,
  });
  const polylines: MapScene['polylines'] = [];
  at = 0;
  for (const o of overlays) {
    polylines.push({ label: o.label, color: o.color, points: o.turns.map((n, j) => ({ x: proj.extraX[at + j], y: proj.extraY[at + j], n })) });
    at += o.turns.length;
  }
  const n = a.names.length;
  const order = inp.mode === '2d' && inp.cachedOrder ? inp.cachedOrder : drawOrder(proj.z, inp.emphasis, inp.mode);
  const radius = pointRadius(n, inp.transform.k);

  // Labels: hovered, selected and highlighted first, then the extremes of the axis.
  const cands: LabelCandidate[] = [];
  const seen = new Set<number>();
  const lh = Math.round(fs * 1.25);
  const push = (i: number, priority: number) => {
    if (seen.has(i) || inp.emphasis[i] === EMPH.hidden) return;
    const x = proj.x[i], y = proj.y[i];
    if (x < 0 || y < 0 || x > W || y > H) return;
    seen.add(i);
    const bold = inp.emphasis[i] >= EMPH.highlighted || i === inp.hovered;
    cands.push({ id: i, x, y, width: inp.measure(a.names[i], bold) + 4, height: lh, priority });
  };
  if (inp.hovered !== null && inp.hovered >= 0) push(inp.hovered, 1e9);
  for (let i = 0; i < n && cands.length < 400; i++) if (inp.emphasis[i] >= EMPH.highlighted) push(i, 1e6 + inp.emphasis[i]);
  const searching = inp.emphasis.some((e) => e === EMPH.dimmed);
  const maxTries = searching ? 0 : n > 2000 ? 120 : 70;
  let tries = 0;
  for (let r = 0; r < inp.labelOrder.length && tries < maxTries; r++) {
    const i = inp.labelOrder[r];
    const before = cands.length;
    push(i, 1000 - r / inp.labelOrder.length);
    if (cands.length > before) tries++;
  }
  const obstacles = [];
  if (proj.defaultPt) {
    obstacles.push({ x: proj.defaultPt.x - radius * 3.5, y: proj.defaultPt.y - radius * 3.5, width: radius * 7, height: radius * 7 });
    obstacles.push(defaultLabelBox(proj.defaultPt, radius, inp.measure(inp.defaultLabel, true), lh, W));
  }
  // Keep the Assistant Axis arrow readable: labels avoid a thin band along it.
  if (proj.defaultPt) {
    const { x: ox, y: oy } = proj.origin, { x: dx, y: dy } = proj.defaultPt;
    const len = Math.hypot(dx - ox, dy - oy);
    for (let t = 0; t <= len; t += 10) {
      const f = len ? t / len : 0;
      obstacles.push({ x: ox + (dx - ox) * f - 3, y: oy + (dy - oy) * f - 3, width: 6, height: 6 });
    }
  }
  // Keep the edges free for the axis titles.
  obstacles.push({ x: 0, y: H - fs * 2.4, width: W, height: fs * 2.4 }, { x: 0, y: 0, width: fs * 2.2, height: H });
  const placed: (PlacedLabel & { leader?: CalloutLabel['leader'] })[] = placeLabels(cands, { bounds: { width: W, height: H }, gap: radius + 3, obstacles, maxLabels: 160 });
  // Both ends of the axis are always named: the five members at each end that found no room
  // beside their point (a dense Assistant cluster) get a callout with a leader line.
  if (!searching) {
    const labelled = new Set(placed.map((p) => p.id));
    const byProj = Array.from({ length: n }, (_, i) => i)
      .filter((i) => inp.emphasis[i] !== EMPH.hidden && Number.isFinite(a.projection[i]) && proj.x[i] >= 0 && proj.y[i] >= 0 && proj.x[i] <= W && proj.y[i] <= H)
      .sort((i, j) => a.projection[j] - a.projection[i]);
    const ends = [...byProj.slice(0, 5), ...byProj.slice(-5)].filter((i, k, arr) => arr.indexOf(i) === k && !labelled.has(i));
    const callCands = ends.map((i, r) => ({ id: i, x: proj.x[i], y: proj.y[i], width: inp.measure(a.names[i], false) + 4, height: lh, priority: -r }));
    placed.push(...calloutLabels(callCands, [...placed, ...obstacles.filter((o) => o.width > 6)], { width: W, height: H }));
  }
  const labels = placed.map((p) => ({ ...p, text: a.names[p.id], emphasis: p.id === inp.hovered ? EMPH.selected : inp.emphasis[p.id] }));

  const texts: SceneText[] = [];
  const ev = (j: number) => (a.explained[j - 1] !== undefined ? ` (${formatPercent(a.explained[j - 1])})` : '');
  // The ends are "Role-play" and "Assistant" only where the axis comes from a default (not a stored axis alone).
  const hasAxis = a.axisNorm !== null && (inp.hasDefault ?? a.defaultCoords !== null) && pcaLayout;
  const defaultOnScreen = proj.defaultPt !== null && proj.defaultPt.x >= 0 && proj.defaultPt.x <= W && proj.defaultPt.y >= 0 && proj.defaultPt.y <= H;
  if (proj.defaultPt && defaultOnScreen) {
    // Above the star (below it near the top edge), clear of the arrow that comes in from the side.
    const dl = defaultLabelBox(proj.defaultPt, radius, inp.measure(inp.defaultLabel, true), lh, W);
    texts.push({ x: dl.x + dl.width / 2, y: dl.y + lh * 0.8, text: inp.defaultLabel, anchor: 'middle', size: fs, weight: 'bold' });
  }
  if (inp.axisTitles) {
    const bottom = H - fs * 0.7;
    if (inp.mode === '2d') {
      texts.push({ x: W / 2, y: bottom, text: inp.axisTitles.x, anchor: 'middle', size: fs, weight: 'bold' });
      texts.push({ x: fs * 1.2, y: H / 2, text: inp.axisTitles.y, anchor: 'middle', size: fs, weight: 'bold', rotate: -90 });
    } else texts.push({ x: W / 2, y: bottom, text: `${inp.axisTitles.x} · ${inp.axisTitles.y}${inp.axisTitles.z ? ` · ${inp.axisTitles.z}` : ''} · drag to rotate`, anchor: 'middle', size: fs, weight: 'bold' });
  } else if (inp.mode === '2d') {
    const bottom = H - fs * 0.7;
    texts.push({ x: W / 2, y: bottom, text: `PC${inp.pcx}${ev(inp.pcx)}${inp.pcx === 1 && hasAxis ? ' · Role-play ↔ Assistant' : ''}`, anchor: 'middle', size: fs, weight: 'bold' });
    if (inp.pcx === 1 && hasAxis) {
      texts.push({ x: 12, y: bottom, text: '◀ Role-play', anchor: 'start', size: fs, color: '#9a4a00' });
      texts.push({ x: W - 12, y: bottom, text: 'Assistant ▶', anchor: 'end', size: fs, color: '#4b2a85' });
    }
    const left = fs * 1.2;
    texts.push({ x: left, y: H / 2, text: `PC${inp.pcy}${ev(inp.pcy)}${inp.pcy === 1 && hasAxis ? ' · Role-play ↔ Assistant' : ''}`, anchor: 'middle', size: fs, weight: 'bold', rotate: -90 });
    if (inp.pcy === 1 && hasAxis) {
      texts.push({ x: left, y: H - fs * 3, text: '◀ Role-play', anchor: 'start', size: fs, rotate: -90, color: '#9a4a00' });
      texts.push({ x: left, y: fs * 1, text: 'Assistant ▶', anchor: 'end', size: fs, rotate: -90, color: '#4b2a85' });
    }
  } else if (proj.axes3d && !inp.axisTitles) {
    const gx = 70, gy = H - 70;
    proj.axes3d.forEach((d, j) => {
      texts.push({ x: gx + d.x * 52, y: gy + d.y * 52 + fs * 0.35, text: `PC${j + 1}`, anchor: 'middle', size: fs * 0.9, weight: 'bold' });
    });
    texts.push({ x: W / 2, y: H - fs * 0.7, text: `PC1–PC3${hasAxis ? ' · PC1 = Role-play ↔ Assistant' : ''} · drag to rotate`, anchor: 'middle', size: fs, weight: 'bold' });
  }
  if (inp.mode === '3d' && proj.axes3d && inp.axisTitles) {
    const gx = 70, gy = H - 70;
    const names = ['1', '2', '3'];
    proj.axes3d.forEach((d, j) => texts.push({ x: gx + d.x * 52, y: gy + d.y * 52 + fs * 0.35, text: names[j], anchor: 'middle', size: fs * 0.9, weight: 'bold' }));
  }
  let arrow: MapScene['arrow'] = null;
  if (proj.defaultPt && pcaLayout) {
    const dx = proj.defaultPt.x - proj.origin.x, dy = proj.defaultPt.y - proj.origin.y;
    const len = Math.hypot(dx, dy);
    // Stop at the star's edge so the head stays visible.
    const cut = Math.max(0, len - radius * 3.4);
    if (len > 8) arrow = { x1: proj.origin.x, y1: proj.origin.y, x2: proj.origin.x + (dx / len) * cut, y2: proj.origin.y + (dy / len) * cut };
  }
  return {
    width: W, height: H, background: MAP_BG, proj, color: inp.color, emphasis: inp.emphasis, order, radius,
    arrow, labels, texts, fontSize: fs, defaultLabel: inp.defaultLabel,
    palette: inp.palette, shape: inp.shape, crosshair: pcaLayout, polylines,
  };
}
