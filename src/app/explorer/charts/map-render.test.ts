import { describe, expect, it } from 'vitest';
import { EMPH } from '../../../core/view/map-scene';
import { rankByProjection, type LayerAnalysis } from '../../../core/view/types';
import { buildScene, pointRadius } from './map-render';

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
});
