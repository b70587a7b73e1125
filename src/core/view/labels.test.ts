import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { placeLabels, type LabelCandidate } from './labels';
import { props } from '../formats/test-props';

const candArb = fc.array(
  fc.record({
    x: fc.double({ min: -20, max: 420, noNaN: true }),
    y: fc.double({ min: -20, max: 320, noNaN: true }),
    width: fc.double({ min: 1, max: 120, noNaN: true }),
    height: fc.double({ min: 1, max: 30, noNaN: true }),
    priority: fc.integer({ min: 0, max: 5 }),
  }),
  { maxLength: 120 },
).map((cs) => cs.map((c, id): LabelCandidate => ({ ...c, id })));

describe('label placement', () => {
  it('never overlaps two labels and stays inside the bounds', () => {
    fc.assert(fc.property(candArb, (cands) => {
      const placed = placeLabels(cands, { bounds: { width: 400, height: 300 } });
      for (const p of placed) {
        expect(p.x).toBeGreaterThanOrEqual(0);
        expect(p.y).toBeGreaterThanOrEqual(0);
        expect(p.x + p.width).toBeLessThanOrEqual(400);
        expect(p.y + p.height).toBeLessThanOrEqual(300);
      }
      for (let i = 0; i < placed.length; i++) {
        for (let j = i + 1; j < placed.length; j++) {
          const a = placed[i], b = placed[j];
          const hit = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
          expect(hit).toBe(false);
        }
      }
      expect(new Set(placed.map((p) => p.id)).size).toBe(placed.length);
    }), props());
  });

  it('places the highest priority first when two labels compete for one spot', () => {
    const cands: LabelCandidate[] = [
      { id: 0, x: 50, y: 150, width: 200, height: 100, priority: 1 },
      { id: 1, x: 50, y: 150, width: 200, height: 100, priority: 9 },
    ];
    const placed = placeLabels(cands, { bounds: { width: 400, height: 300 } });
    expect(placed.map((p) => p.id)).toEqual([1]);
  });

  it('avoids obstacles and respects maxLabels', () => {
    const cands: LabelCandidate[] = Array.from({ length: 10 }, (_, i) => ({ id: i, x: 20 + i * 50, y: 50, width: 30, height: 10, priority: 0 }));
    expect(placeLabels(cands, { bounds: { width: 600, height: 100 }, maxLabels: 3 }).length).toBe(3);
    const blocked = placeLabels([cands[0]], { bounds: { width: 600, height: 100 }, obstacles: [{ x: 0, y: 0, width: 600, height: 100 }] });
    expect(blocked).toEqual([]);
  });
});
