/**
 * Builds the map scene for the current view and draws it on a canvas in batched paths (one path
 * per colour and emphasis), so 20,000 points redraw within a frame. The same scene is written as
 * SVG for export (core/view/map-scene.ts).
 */
import { PALETTE } from '../../../core/view/colors';
import { formatPercent } from '../../../core/view/format';
import { calloutLabels, placeLabels, type CalloutLabel, type LabelCandidate, type PlacedLabel } from '../../../core/view/labels';
import { drawOrder, EMPH, projectPoints, starPoints, type MapScene, type Rotation, type SceneText, type ZoomTransform } from '../../../core/view/map-scene';
import type { LayerAnalysis } from '../../../core/view/types';

export const MAP_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
export const MAP_BG = '#fcfcfa';

export interface SceneInput {
  analysis: LayerAnalysis;
  pcx: number;
  pcy: number;
  mode: '2d' | '3d';
  rotation: Rotation;
  transform: ZoomTransform;
  width: number;
  height: number;
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
  const star = Math.max(9, radius * 3.2);
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

/** Draw a scene; `hovered` gets a ring. */
export function drawScene(ctx: CanvasRenderingContext2D, s: MapScene, dpr: number, hovered: number | null, mode: '2d' | '3d'): number {
  const { x, y } = s.proj;
  // Bucket points by emphasis tier and colour, in draw order, then fill each bucket as one path.
  const tiers = [EMPH.dimmed, EMPH.normal, EMPH.highlighted, EMPH.selected];
  const dense = s.order.length > 2000;
  const depthScale = mode === '3d' ? (0.3 * s.proj.baseScale) / (Math.min(s.width, s.height) / 2) : 0;
  const buckets = new Map<number, number[]>();
  let drawn = 0;
  for (const i of s.order) {
    const e = s.emphasis[i];
    if (e === EMPH.hidden) continue;
    drawn++;
    const px = x[i], py = y[i];
    if (px < -20 || py < -20 || px > s.width + 20 || py > s.height + 20) continue;
    const key = e * 256 + s.color[i];
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = []));
    b.push(i);
  }
  const W = Math.round(s.width * dpr), H = Math.round(s.height * dpr);
  if (dense) {
    // Thousands of points: write the plain ones straight into pixels (one putImageData), far
    // cheaper than thousands of arcs; emphasised ones still get vector circles on top.
    rasterizePoints(ctx, s, buckets, dpr, W, H);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (!dense) {
    ctx.fillStyle = s.background;
    ctx.fillRect(0, 0, s.width, s.height);
  }
  // Cross-hair through the roles' mean (the PCA origin).
  ctx.strokeStyle = '#d9d6cf';
  ctx.lineWidth = 1;
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  if (mode === '2d' && s.crosshair !== false) {
    ctx.moveTo(0, s.proj.origin.y); ctx.lineTo(s.width, s.proj.origin.y);
    ctx.moveTo(s.proj.origin.x, 0); ctx.lineTo(s.proj.origin.x, s.height);
  }
  ctx.stroke();
  ctx.setLineDash([]);
  if (mode === '3d' && s.proj.axes3d) {
    const gx = 70, gy = s.height - 70;
    ctx.strokeStyle = '#555';
    ctx.lineWidth = 2;
    for (const d of s.proj.axes3d) {
      ctx.beginPath(); ctx.moveTo(gx, gy); ctx.lineTo(gx + d.x * 40, gy + d.y * 40); ctx.stroke();
    }
  }

  const palette = s.palette ?? PALETTE;
  for (const tier of tiers) {
    if (dense && tier < EMPH.highlighted) continue;
    const r = tier >= EMPH.highlighted ? s.radius * 1.6 : s.radius;
    ctx.globalAlpha = tier === EMPH.dimmed ? 0.16 : 1;
    for (let c = 0; c < palette.length; c++) {
      const b = buckets.get(tier * 256 + c);
      if (!b) continue;
      ctx.beginPath();
      for (const i of b) {
        // In 3D nearer points are drawn a little larger (a depth cue).
        const ri = depthScale ? r * Math.max(0.6, Math.min(1.5, 1 + s.proj.z[i] * depthScale)) : r;
        if (s.shape?.[i] === 1) { ctx.rect(x[i] - ri, y[i] - ri, 2 * ri, 2 * ri); continue; }
        ctx.moveTo(x[i] + ri, y[i]);
        ctx.arc(x[i], y[i], ri, 0, Math.PI * 2);
      }
      ctx.fillStyle = palette[c];
      ctx.fill();
      // Outlines keep pale (mid-scale) points visible; with thousands of points they would turn the crowd black.
      if (tier >= EMPH.highlighted || !dense) {
        ctx.lineWidth = tier >= EMPH.highlighted ? 1.8 : 0.6;
        ctx.strokeStyle = tier >= EMPH.highlighted ? '#111' : 'rgba(0,0,0,0.45)';
        ctx.stroke();
      }
    }
  }
  ctx.globalAlpha = 1;

  if (s.arrow) {
    const a = s.arrow;
    ctx.strokeStyle = '#1b1b1b';
    ctx.fillStyle = '#1b1b1b';
    ctx.lineWidth = 2.5;
    ctx.beginPath(); ctx.moveTo(a.x1, a.y1); ctx.lineTo(a.x2, a.y2); ctx.stroke();
    const ang = Math.atan2(a.y2 - a.y1, a.x2 - a.x1), h = 12;
    ctx.beginPath();
    ctx.moveTo(a.x2, a.y2);
    ctx.lineTo(a.x2 - h * Math.cos(ang - 0.4), a.y2 - h * Math.sin(ang - 0.4));
    ctx.lineTo(a.x2 - h * Math.cos(ang + 0.4), a.y2 - h * Math.sin(ang + 0.4));
    ctx.closePath(); ctx.fill();
  }
  if (s.proj.defaultPt) {
    const pts = starPoints(s.proj.defaultPt.x, s.proj.defaultPt.y, s.radius * 3.2 < 9 ? 9 : s.radius * 3.2);
    ctx.beginPath();
    pts.forEach(([px, py], j) => (j === 0 ? ctx.moveTo(px, py) : ctx.lineTo(px, py)));
    ctx.closePath();
    ctx.fillStyle = '#ffd400';
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = '#111';
    ctx.stroke();
  }
  for (const pl of s.polylines ?? []) {
    ctx.strokeStyle = pl.color;
    ctx.lineWidth = 2.5;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    pl.points.forEach((p, j) => (j === 0 ? ctx.moveTo(p.x, p.y) : ctx.lineTo(p.x, p.y)));
    ctx.stroke();
    ctx.font = `bold 11px ${MAP_FONT}`;
    ctx.textAlign = 'center';
    for (const p of pl.points) {
      ctx.beginPath();
      ctx.arc(p.x, p.y, 8, 0, Math.PI * 2);
      ctx.fillStyle = '#fff';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.fillStyle = '#111';
      ctx.fillText(String(p.n), p.x, p.y + 4);
    }
  }
  if (hovered === -1 && s.proj.defaultPt) {
    ctx.beginPath();
    ctx.arc(s.proj.defaultPt.x, s.proj.defaultPt.y, Math.max(9, s.radius * 3.2) + 4, 0, Math.PI * 2);
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = '#0a58ca';
    ctx.stroke();
  }
  if (hovered !== null && hovered >= 0 && s.emphasis[hovered] !== EMPH.hidden) {
    ctx.beginPath();
    ctx.arc(x[hovered], y[hovered], s.radius * 2 + 3, 0, Math.PI * 2);
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = '#0a58ca';
    ctx.stroke();
  }

  ctx.textBaseline = 'alphabetic';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#555';
  ctx.lineWidth = 1;
  for (const l of s.labels) {
    if (!l.leader) continue;
    ctx.beginPath(); ctx.moveTo(l.leader.x1, l.leader.y1); ctx.lineTo(l.leader.x2, l.leader.y2); ctx.stroke();
  }
  for (const l of s.labels) {
    const bold = l.emphasis >= EMPH.highlighted;
    ctx.font = `${bold ? 'bold ' : ''}${s.fontSize}px ${MAP_FONT}`;
    ctx.textAlign = 'left';
    const ty = l.y + l.height * 0.78;
    ctx.lineWidth = 3.5;
    ctx.strokeStyle = s.background;
    ctx.strokeText(l.text, l.x + 2, ty);
    ctx.fillStyle = '#111';
    ctx.fillText(l.text, l.x + 2, ty);
  }
  for (const t of s.texts) {
    ctx.save();
    ctx.font = `${t.weight === 'bold' ? 'bold ' : ''}${t.size}px ${MAP_FONT}`;
    ctx.textAlign = t.anchor === 'middle' ? 'center' : t.anchor === 'end' ? 'right' : 'left';
    ctx.translate(t.x, t.y);
    if (t.rotate) ctx.rotate((t.rotate * Math.PI) / 180);
    ctx.lineWidth = 3.5;
    ctx.strokeStyle = s.background;
    ctx.strokeText(t.text, 0, 0);
    ctx.fillStyle = t.color ?? '#222';
    ctx.fillText(t.text, 0, 0);
    ctx.restore();
  }
  return drawn;
}

let raster: { img: ImageData; u32: Uint32Array; w: number; h: number } | null = null;

function parseRgb(css: string): [number, number, number] {
  const m = /rgb\((\d+),\s*(\d+),\s*(\d+)\)/.exec(css);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  const h = /^#([0-9a-f]{6})$/i.exec(css);
  if (h) { const v = parseInt(h[1], 16); return [v >> 16, (v >> 8) & 255, v & 255]; }
  return [128, 128, 128];
}

/** Opaque little-endian RGBA word of `rgb` blended over `bg` with `alpha`, scaled by `shade`. */
function word(rgb: [number, number, number], alpha: number, bg: [number, number, number], shade = 1): number {
  const c = (j: number) => Math.round((rgb[j] * alpha + bg[j] * (1 - alpha)) * shade);
  return ((255 << 24) | (c(2) << 16) | (c(1) << 8) | c(0)) >>> 0;
}

/** Background plus the dimmed and normal points as hard-edged discs with a slightly darker rim. */
function rasterizePoints(ctx: CanvasRenderingContext2D, s: MapScene, buckets: Map<number, number[]>, dpr: number, W: number, H: number): void {
  if (!raster || raster.w !== W || raster.h !== H) {
    const img = ctx.createImageData(W, H);
    raster = { img, u32: new Uint32Array(img.data.buffer), w: W, h: H };
  }
  const { u32 } = raster;
  const bg = parseRgb(s.background);
  u32.fill(word(bg, 1, bg));
  const R = s.radius * dpr;
  const ri = Math.ceil(R);
  const inner: number[] = [], rim: number[] = [];
  for (let dy = -ri; dy <= ri; dy++) {
    for (let dx = -ri; dx <= ri; dx++) {
      const d2 = dx * dx + dy * dy;
      if (d2 > R * R + 0.5) continue;
      (d2 >= (R - 1) * (R - 1) && R >= 2 ? rim : inner).push(dx, dy);
    }
  }
  const { x, y } = s.proj;
  for (const tier of [EMPH.dimmed, EMPH.normal]) {
    const alpha = tier === EMPH.dimmed ? 0.16 : 1;
    const palette = s.palette ?? PALETTE;
    for (let c = 0; c < palette.length; c++) {
      const b = buckets.get(tier * 256 + c);
      if (!b) continue;
      const rgb = parseRgb(palette[c]);
      const fill = word(rgb, alpha, bg), edge = word(rgb, alpha, bg, tier === EMPH.dimmed ? 0.95 : 0.72);
      for (const i of b) {
        const px = Math.round(x[i] * dpr), py = Math.round(y[i] * dpr);
        if (px < -ri || py < -ri || px >= W + ri || py >= H + ri) continue;
        for (let k = 0; k < inner.length; k += 2) {
          const qx = px + inner[k], qy = py + inner[k + 1];
          if (qx >= 0 && qy >= 0 && qx < W && qy < H) u32[qy * W + qx] = fill;
        }
        for (let k = 0; k < rim.length; k += 2) {
          const qx = px + rim[k], qy = py + rim[k + 1];
          if (qx >= 0 && qy >= 0 && qx < W && qy < H) u32[qy * W + qx] = edge;
        }
      }
    }
  }
  ctx.putImageData(raster.img, 0, 0);
}
