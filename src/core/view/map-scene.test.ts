import { describe, expect, it } from 'vitest';
import { drawOrder, EMPH, projectPoints, sceneToSvg, type MapScene } from './map-scene';

const coords = new Float32Array([
  -2, 0, 1,
  2, 1, -1,
  0, -1, 0,
]);

function base() {
  return { coords, k: 3, defaultCoords: [4, 0, 0], pcx: 1, pcy: 2, mode: '2d' as const, rotation: { yaw: 0, pitch: 0 }, transform: { k: 1, x: 0, y: 0 }, width: 400, height: 300, padding: 20 };
}

describe('map projection', () => {
  it('keeps every point and the default inside the padded viewport at zoom 1, y upward', () => {
    const p = projectPoints(base());
    for (let i = 0; i < 3; i++) {
      expect(p.x[i]).toBeGreaterThanOrEqual(20 - 1e-3);
      expect(p.x[i]).toBeLessThanOrEqual(380 + 1e-3);
      expect(p.y[i]).toBeGreaterThanOrEqual(20 - 1e-3);
      expect(p.y[i]).toBeLessThanOrEqual(280 + 1e-3);
    }
    expect(p.defaultPt!.x).toBeCloseTo(380, 3);
    expect(p.y[1]).toBeLessThan(p.y[2]);
    // one scale for both axes
    expect((p.x[1] - p.x[0]) / 4).toBeCloseTo((p.y[2] - p.y[1]) / 2, 4);
  });

  it('applies the zoom transform', () => {
    const a = projectPoints(base());
    const b = projectPoints({ ...base(), transform: { k: 2, x: -50, y: 10 } });
    expect(b.x[0]).toBeCloseTo(2 * a.x[0] - 50, 3);
    expect(b.y[2]).toBeCloseTo(2 * a.y[2] + 10, 3);
  });

  it('rotates in 3D without changing distances from the origin', () => {
    const a = projectPoints({ ...base(), mode: '3d' });
    const b = projectPoints({ ...base(), mode: '3d', rotation: { yaw: 0.7, pitch: -0.4 } });
    for (let i = 0; i < 3; i++) {
      const da = Math.hypot(a.x[i] - a.origin.x, a.y[i] - a.origin.y, a.z[i] * a.baseScale);
      const db = Math.hypot(b.x[i] - b.origin.x, b.y[i] - b.origin.y, b.z[i] * b.baseScale);
      expect(db).toBeCloseTo(da, 2);
    }
  });

  it('draws emphasised points last and writes every visible point to SVG', () => {
    const emph = new Uint8Array([EMPH.selected, EMPH.normal, EMPH.hidden]);
    const proj = projectPoints(base());
    const order = drawOrder(proj.z, emph, '2d');
    expect(Array.from(order)).toEqual([2, 1, 0]);
    const scene: MapScene = {
      width: 400, height: 300, background: '#fff', proj, color: new Uint8Array(3), emphasis: emph, order, radius: 4,
      arrow: { x1: 0, y1: 0, x2: 10, y2: 10 }, labels: [{ id: 0, x: 1, y: 1, width: 10, height: 10, side: 'right', text: 'a<b', emphasis: 4 }],
      texts: [{ x: 5, y: 5, text: 'PC1 & PC2', anchor: 'start', size: 12 }], fontSize: 12, defaultLabel: 'default',
    };
    const svg = sceneToSvg(scene);
    expect(svg.match(/<circle /g)?.length).toBe(2);
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('PC1 &amp; PC2');
    expect(svg).toContain('<polygon');
  });
});
