import { describe, expect, it } from 'vitest';
import { buildScene, EMPH, pointRadius, sceneToSvg, starRadius } from '../../../core/view/map-scene';
import { rankByProjection, type LayerAnalysis } from '../../../core/view/types';

function analysis(n: number): LayerAnalysis {
  const k = 3;
  const coords = new Float32Array(n * k).map((_, i) => Math.sin(i * 12.9898) * 5);
  const projection = Float32Array.from({ length: n }, (_, i) => coords[i * k]);
  return {
    setId: 'a', layer: 0, k, names: Array.from({ length: n }, (_, i) => `role-${i}`), kinds: Array(n).fill('role'),
    coords, defaultCoords: [6, 0.5, 0], explained: [0.3, 0.2, 0.1], projection, defaultProjection: 7, axisNorm: 7,
    cosAxisPc: [0.8, 0.1, 0.05], rank: rankByProjection(projection),
  };
}

function scene(n: number, emphasis?: Uint8Array) {
  const a = analysis(n);
  return buildScene({
    analysis: a, pcx: 1, pcy: 2, mode: '2d', rotation: { yaw: 0, pitch: 0 }, transform: { k: 1, x: 0, y: 0 }, width: 800, height: 600,
    color: new Uint8Array(n), emphasis: emphasis ?? new Uint8Array(n).fill(EMPH.normal), labelOrder: Uint32Array.from({ length: n }, (_, i) => i),
    hovered: null, defaultLabel: 'Assistant (default)', fontSize: 14, measure: (t) => t.length * 7,
  });
}

describe('map scene', () => {
  it('labels never overlap, the axis arrow and the PC1 title are there', () => {
    const s = scene(300);
    expect(s.labels.length).toBeGreaterThan(10);
    for (let i = 0; i < s.labels.length; i++) {
      for (let j = i + 1; j < s.labels.length; j++) {
        const a = s.labels[i], b = s.labels[j];
        expect(a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height).toBe(false);
      }
    }
    expect(s.arrow).not.toBeNull();
    expect(s.texts.map((t) => t.text)).toContain('PC1 (30.0 %) · Role-play ↔ Assistant');
    expect(s.texts.map((t) => t.text)).toContain('Assistant (default)');
  });

  it('labels every selected point first and none of the hidden ones', () => {
    const n = 300;
    const e = new Uint8Array(n).fill(EMPH.hidden);
    e[5] = EMPH.selected;
    e[7] = EMPH.highlighted;
    const s = scene(n, e);
    expect(s.labels.map((l) => l.id).sort()).toEqual([5, 7]);
  });

  it('shrinks points for dense sets', () => {
    expect(pointRadius(20_000, 1)).toBeLessThan(pointRadius(275, 1));
  });

  it('the exported SVG draws the default star as big as the canvas does (one rule, starRadius, never under 9 px)', () => {
    for (const n of [300, 5000]) {
      const s = scene(n);
      const d = s.proj.defaultPt!;
      const m = /<polygon points="([^"]+)"/.exec(sceneToSvg(s))!;
      const [px, py] = m[1].split(' ')[0].split(',').map(Number);
      expect(Math.hypot(px - d.x, py - d.y)).toBeCloseTo(starRadius(s.radius), 1);
      expect(starRadius(s.radius)).toBeGreaterThanOrEqual(9);
    }
  });
});

describe('map scene: overlays, layouts and wording', () => {
  const base = (over: Partial<Parameters<typeof buildScene>[0]> = {}) => {
    const n = 50;
    const a = analysis(n);
    return buildScene({
      analysis: a, pcx: 1, pcy: 2, mode: '2d', rotation: { yaw: 0.3, pitch: 0.2 }, transform: { k: 1, x: 0, y: 0 }, width: 800, height: 600,
      color: new Uint8Array(n), emphasis: new Uint8Array(n).fill(EMPH.normal), labelOrder: Uint32Array.from({ length: n }, (_, i) => i),
      hovered: null, defaultLabel: 'Assistant (default)', fontSize: 14, measure: (t) => t.length * 7, ...over,
    });
  };
  // A chat trajectory of three turns, at a member's coordinates and at the default's.
  const traj = () => {
    const a = analysis(50);
    const coords = new Float32Array(9);
    coords.set(a.coords.subarray(0, 3), 0);
    coords.set(a.coords.subarray(90, 93), 3);
    coords.set([6, 0.5, 0], 6);
    return { a, overlay: { label: 'steered', color: '#d55e00', coords, turns: [1, 2, 3] } };
  };

  it('draws trajectories as numbered polylines where the points are, in 2D and 3D, and writes them into the SVG', () => {
    for (const mode of ['2d', '3d'] as const) {
      const { overlay } = traj();
      const s = base({ mode, overlays: [overlay] });
      expect(s.polylines).toHaveLength(1);
      const pts = s.polylines![0].points;
      expect(pts.map((p) => p.n)).toEqual([1, 2, 3]);
      // turn 1 sits on member 0, turn 2 on member 30, turn 3 on the default's star
      expect(pts[0].x).toBeCloseTo(s.proj.x[0], 3);
      expect(pts[0].y).toBeCloseTo(s.proj.y[0], 3);
      expect(pts[1].x).toBeCloseTo(s.proj.x[30], 3);
      expect(pts[2].x).toBeCloseTo(s.proj.defaultPt!.x, 3);
      const svg = sceneToSvg(s);
      expect(svg).toContain('<polyline');
      expect(svg).toContain('<title>steered</title>');
      expect(svg.match(/>[123]<\/text>/g)).toHaveLength(3);
    }
  });

  it('an overlay never moves the points (the view fits the data only)', () => {
    const { overlay } = traj();
    overlay.coords.set([500, 500, 500], 6);
    const plain = base(), withOverlay = base({ overlays: [overlay] });
    expect(Array.from(withOverlay.proj.x)).toEqual(Array.from(plain.proj.x));
  });

  it('says Role-play and Assistant only with a default, in PCA; other layouts get their own titles and no arrow', () => {
    const texts = (s: ReturnType<typeof base>) => s.texts.map((t) => t.text).join(' | ');
    expect(texts(base())).toContain('Role-play');
    const noDefault = base({ hasDefault: false });
    expect(texts(noDefault)).not.toMatch(/Role-play|Assistant ▶|↔ Assistant/);
    const umap = base({ pcaLayout: false, axisTitles: { x: 'UMAP 1 (seed 42, cosine)', y: 'UMAP 2' } });
    expect(texts(umap)).toContain('UMAP 1 (seed 42, cosine)');
    expect(texts(umap)).not.toMatch(/Role-play|PC1/);
    expect(umap.arrow).toBeNull();
    expect(umap.crosshair).toBe(false);
  });

  it('the first 3D view fits every point, the outliers included', () => {
    const n = 50;
    const a = analysis(n);
    a.coords.set([400, 0, 0], 0); // one far outlier
    const s = buildScene({
      analysis: a, pcx: 1, pcy: 2, mode: '3d', rotation: { yaw: 0, pitch: 0 }, transform: { k: 1, x: 0, y: 0 }, width: 800, height: 600,
      color: new Uint8Array(n), emphasis: new Uint8Array(n).fill(EMPH.normal), labelOrder: Uint32Array.from({ length: n }, (_, i) => i),
      hovered: null, defaultLabel: 'Assistant (default)', fontSize: 14, measure: (t) => t.length * 7,
    });
    for (let i = 0; i < n; i++) {
      expect(s.proj.x[i]).toBeGreaterThanOrEqual(0);
      expect(s.proj.x[i]).toBeLessThanOrEqual(800);
    }
  });

  it('traits are squares in the SVG; control characters in names do not break the XML', () => {
    const n = 50;
    const a = analysis(n);
    a.names[0] = 'bad\u0001name';
    const shape = new Uint8Array(n);
    shape[1] = 1;
    const s = buildScene({
      analysis: a, pcx: 1, pcy: 2, mode: '2d', rotation: { yaw: 0, pitch: 0 }, transform: { k: 1, x: 0, y: 0 }, width: 800, height: 600,
      color: new Uint8Array(n), emphasis: new Uint8Array(n).fill(EMPH.selected), labelOrder: Uint32Array.from({ length: n }, (_, i) => i),
      hovered: null, defaultLabel: 'Assistant (default)', fontSize: 14, measure: (t) => t.length * 7, shape,
    });
    const svg = sceneToSvg(s);
    expect(svg.match(/<rect x=/g)).toHaveLength(1);
    // eslint-disable-next-line no-control-regex
    expect(svg).not.toMatch(/[\u0000-\u0008]/);
  });
});

describe('map scene: both ends named', () => {
  it('the five members at each end of the axis carry a label, in a dense cluster through a callout', () => {
    const n = 300, k = 3;
    const a = analysis(n);
    // crowd the 40 most Assistant-like into one spot
    for (let i = 0; i < 40; i++) { a.coords[i * k] = 6 + (i % 5) * 0.01; a.coords[i * k + 1] = 0.4 + (i % 7) * 0.01; a.projection[i] = 20 + i * 0.01; }
    const s = buildScene({
      analysis: a, pcx: 1, pcy: 2, mode: '2d', rotation: { yaw: 0, pitch: 0 }, transform: { k: 1, x: 0, y: 0 }, width: 900, height: 650,
      color: new Uint8Array(n), emphasis: new Uint8Array(n).fill(EMPH.normal), labelOrder: Uint32Array.from({ length: n }, (_, i) => i),
      hovered: null, defaultLabel: 'Assistant (default)', fontSize: 14, measure: (t) => t.length * 7,
    });
    const named = new Set(s.labels.map((l) => l.id));
    const byProj = Array.from({ length: n }, (_, i) => i).sort((i, j) => a.projection[j] - a.projection[i]);
    for (const i of [...byProj.slice(0, 5), ...byProj.slice(-5)]) expect(named.has(i)).toBe(true);
    expect(s.labels.some((l) => l.leader)).toBe(true);
    for (let i = 0; i < s.labels.length; i++) for (let j = i + 1; j < s.labels.length; j++) {
      const p = s.labels[i], q = s.labels[j];
      expect(p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height).toBe(false);
    }
    expect(sceneToSvg(s)).toContain('stroke="#555" stroke-width="1"');
  });
});
