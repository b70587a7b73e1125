import { describe, expect, it } from 'vitest';
import { rng } from '../math/testing';
import { customAxis, projectOnCustom, projectOneOnCustom } from './custom-axis';
import { digitsToSeparate, formatCoord } from './format';
import { stepByRank, stepInDirection } from './keyboard';
import { labelPriority } from './labels';
import { nearestByCosine } from './neighbours';

describe('nearest neighbours by cosine', () => {
  it('finds the most similar rows, best first, never the row itself, and skips zero rows', () => {
    // d = 3: row 0 = x axis; row 1 nearly x; row 2 = y; row 3 = -x; row 4 = zero.
    const rows = Float32Array.from([1, 0, 0, 0.9, 0.1, 0, 0, 1, 0, -1, 0, 0, 0, 0, 0]);
    const nb = nearestByCosine(rows, 5, 3, 0, 10);
    expect(nb.map((r) => r.index)).toEqual([1, 2, 3]);
    expect(nb[0].cos).toBeCloseTo(0.9 / Math.hypot(0.9, 0.1), 6);
    expect(nb[1].cos).toBeCloseTo(0, 12);
    expect(nb[2].cos).toBeCloseTo(-1, 12);
    expect(nearestByCosine(rows, 5, 3, 0, 1)).toHaveLength(1);
    expect(nearestByCosine(rows, 5, 3, 4, 3)).toEqual([]);
  });
  it('agrees with a brute-force cosine on random vectors (seed 11)', () => {
    const r = rng(11), n = 30, d = 17;
    const rows = Float32Array.from({ length: n * d }, () => r() - 0.5);
    const cos = (i: number, j: number) => {
      let s = 0, a = 0, b = 0;
      for (let k = 0; k < d; k++) { s += rows[i * d + k] * rows[j * d + k]; a += rows[i * d + k] ** 2; b += rows[j * d + k] ** 2; }
      return s / Math.sqrt(a * b);
    };
    const want = Array.from({ length: n }, (_, j) => j).filter((j) => j !== 7).sort((x, y) => cos(7, y) - cos(7, x)).slice(0, 5);
    expect(nearestByCosine(rows, n, d, 7, 5).map((x) => x.index)).toEqual(want);
  });
});

describe('custom projection', () => {
  it('x = centroid(A) - centroid(B): A lands at +|A-B|/2, B at -|A-B|/2, measured from the midpoint', () => {
    // d = 2: A = {(2,0),(4,0)} centroid (3,0); B = {(-1,0)}; axis = +x, norm 4, midpoint 1.
    const rows = Float32Array.from([2, 0, 4, 0, -1, 0, 1, 5]);
    const ax = customAxis(rows, 2, [0, 1], [2]);
    expect(ax.norm).toBeCloseTo(4, 12);
    expect(Array.from(ax.unit)).toEqual([1, 0]);
    const x = projectOnCustom(rows, 4, 2, ax);
    expect(Array.from(x)).toEqual([1, 3, -2, 0]);
    expect(projectOneOnCustom([3, 7], ax)).toBeCloseTo(2, 12);
  });
  it('takes vectors outside the rows (the default) into a centroid, and says when a group is empty or the centroids coincide', () => {
    const rows = Float32Array.from([0, 0, 2, 0]);
    const ax = customAxis(rows, 2, [], [0, 1], [[0, 3]]);
    // A = the default (0,3); B = mean of roles (1,0): direction (-1,3)/sqrt(10).
    expect(ax.norm).toBeCloseTo(Math.sqrt(10), 12);
    expect(ax.unit[1]).toBeCloseTo(3 / Math.sqrt(10), 12);
    expect(() => customAxis(rows, 2, [], [0])).toThrow(/first query matches no member/);
    expect(() => customAxis(rows, 2, [0], [])).toThrow(/second query/);
    expect(() => customAxis(rows, 2, [0, 1], [0, 1])).toThrow(/same centroid/);
  });
});

describe('significant digits', () => {
  it('keeps four significant digits in plain notation for large-norm values', () => {
    expect(formatCoord(12345.6)).toBe('12346');
    expect(formatCoord(-1234.56)).toBe('-1235');
    expect(formatCoord(1.23456)).toBe('1.235');
    expect(formatCoord(0.0123456)).toBe('0.01235');
    expect(formatCoord(0)).toBe('0');
    expect(formatCoord(NaN)).toBe('–');
    expect(formatCoord(3.2e9)).toMatch(/e\+9$/);
  });
  it('chooses enough digits that distinct values never print as ties', () => {
    // Gemma-like projections: thousands, differing in the fourth or fifth digit.
    const v = [5123.41, 5123.47, 5124.1, 4987.2, 5123.4];
    const sig = digitsToSeparate(v);
    const printed = v.map((x) => formatCoord(x, sig));
    expect(new Set(printed).size).toBe(v.length);
    expect(sig).toBeGreaterThan(4);
    expect(digitsToSeparate([1, 2, 3])).toBe(4);
    // Equal values are allowed to print alike.
    expect(digitsToSeparate([7, 7, 8])).toBe(4);
  });
});

describe('label priority', () => {
  it('takes both ends of the axis in turn, so a dense Assistant end is labelled too', () => {
    const n = 100;
    const r = rng(5);
    // 80 points crowd the Assistant end (high projection), 20 spread at the Role-play end; distance favours the spread ones.
    const proj = Float64Array.from({ length: n }, (_, i) => (i < 80 ? 10 + r() * 0.1 : -10 - i));
    const dist = Float64Array.from({ length: n }, (_, i) => (i < 80 ? 1 : 50 + i));
    const order = Array.from(labelPriority(proj, dist));
    expect(new Set(order).size).toBe(n);
    const first9 = order.slice(0, 9);
    const assistantTop = [...Array(80).keys()].sort((a, b) => proj[b] - proj[a]).slice(0, 3);
    for (const i of assistantTop) expect(first9).toContain(i);
    expect(first9.some((i) => i >= 80)).toBe(true);
    // the first is the Assistant end's most extreme, the second the Role-play end's
    expect(order[0]).toBe(assistantTop[0]);
    expect(order[1]).toBe(99);
  });
});

describe('keyboard stepping', () => {
  // A plus sign of points around the centre 0, and one far right-down.
  const x = [100, 200, 0, 100, 100, 300];
  const y = [100, 100, 100, 0, 200, 160];
  it('steps to the nearest point in the arrow\'s direction, none when there is none', () => {
    expect(stepInDirection(x, y, 0, 'right')).toBe(1);
    expect(stepInDirection(x, y, 0, 'left')).toBe(2);
    expect(stepInDirection(x, y, 0, 'up')).toBe(3);
    expect(stepInDirection(x, y, 0, 'down')).toBe(4);
    expect(stepInDirection(x, y, 1, 'right')).toBe(5);
    expect(stepInDirection(x, y, 2, 'left')).toBeNull();
    // hidden points are skipped
    expect(stepInDirection(x, y, 0, 'right', (i) => i !== 1)).toBe(5);
  });
  it('starts at the point nearest the centre, and walks the ranking with wrap-around', () => {
    expect(stepInDirection(x, y, null, 'right')).toBe(0);
    const rank = [3, 1, 2, 6, 5, 4];
    expect(stepByRank(rank, null, 1)).toBe(1);
    expect(stepByRank(rank, 1, 1)).toBe(2);
    expect(stepByRank(rank, 1, -1)).toBe(3);
    expect(stepByRank(rank, 2, 1, (i) => i !== 0)).toBe(5);
  });
});

describe('callout labels', () => {
  it('names every point of a dense cluster with boxes that overlap nothing, each with a leader to its point', async () => {
    const { calloutLabels } = await import('./labels');
    const cands = Array.from({ length: 6 }, (_, i) => ({ id: i, x: 400 + i, y: 300 + (i % 2), width: 70, height: 16, priority: 10 - i }));
    const taken = [{ x: 380, y: 280, width: 60, height: 40 }];
    const out = calloutLabels(cands, taken, { width: 800, height: 600 });
    expect(out.map((o) => o.id).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const all = [...taken, ...out];
    for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) {
      const a = all[i], b = all[j];
      expect(a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height).toBe(false);
    }
    for (const o of out) {
      expect(o.leader.x1).toBe(cands[o.id].x);
      expect([o.x, o.x + o.width]).toContain(o.leader.x2);
    }
  });
});
