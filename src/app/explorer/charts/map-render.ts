/**
 * Draws the map scene (built in core/view/map-scene.ts, which also writes it as SVG for export) on
 * a canvas in batched paths (one path per colour and emphasis), so 20,000 points redraw within a
 * frame.
 */
import { PALETTE } from '../../../core/view/colors';
import { EMPH, starPoints, starRadius, type MapScene } from '../../../core/view/map-scene';

export const MAP_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

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
    const pts = starPoints(s.proj.defaultPt.x, s.proj.defaultPt.y, starRadius(s.radius));
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
    ctx.arc(s.proj.defaultPt.x, s.proj.defaultPt.y, starRadius(s.radius) + 4, 0, Math.PI * 2);
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
