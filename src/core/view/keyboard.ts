/**
 * Stepping from point to point with the keyboard: the next point in an arrow's direction on
 * screen (within 60° of it, the nearest by distance with a penalty for leaving the direction),
 * and the next or previous one along the axis ranking.
 */

export type Direction = 'left' | 'right' | 'up' | 'down';

const DIRS: Record<Direction, [number, number]> = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] };

/**
 * The visible point to move to from `from` in direction `dir` (screen coordinates, y down), or
 * null when there is none that way. `visible(i)` says whether point i may be chosen.
 * Without a current point, the point nearest the centre of the points is returned.
 */
export function stepInDirection(x: ArrayLike<number>, y: ArrayLike<number>, from: number | null, dir: Direction, visible: (i: number) => boolean = () => true): number | null {
  const n = x.length;
  if (from === null || from < 0 || from >= n) {
    let cx = 0, cy = 0, c = 0;
    for (let i = 0; i < n; i++) if (visible(i) && Number.isFinite(x[i]) && Number.isFinite(y[i])) { cx += x[i]; cy += y[i]; c++; }
    if (!c) return null;
    cx /= c; cy /= c;
    let best: number | null = null, bd = Infinity;
    for (let i = 0; i < n; i++) {
      if (!visible(i)) continue;
      const dd = (x[i] - cx) ** 2 + (y[i] - cy) ** 2;
      if (dd < bd) { bd = dd; best = i; }
    }
    return best;
  }
  const [ux, uy] = DIRS[dir];
  const cos60 = 0.5;
  let best: number | null = null, bestScore = Infinity;
  for (let i = 0; i < n; i++) {
    if (i === from || !visible(i)) continue;
    const dx = x[i] - x[from], dy = y[i] - y[from];
    const dist = Math.hypot(dx, dy);
    if (!(dist > 0)) continue;
    const along = (dx * ux + dy * uy) / dist;
    if (along < cos60) continue;
    // Straight ahead costs its distance; off to the side costs up to twice as much.
    const score = dist * (1 + (1 - along) * 2);
    if (score < bestScore || (score === bestScore && best !== null && i < best)) { bestScore = score; best = i; }
  }
  return best;
}

/** The next (`+1`) or previous (`-1`) point by rank (1 = first), skipping hidden ones; wraps around. */
export function stepByRank(rank: ArrayLike<number>, from: number | null, delta: 1 | -1, visible: (i: number) => boolean = () => true): number | null {
  const n = rank.length;
  const order = Array.from({ length: n }, (_, i) => i).filter(visible).sort((a, b) => rank[a] - rank[b]);
  if (!order.length) return null;
  if (from === null) return delta === 1 ? order[0] : order[order.length - 1];
  const at = order.indexOf(from);
  if (at < 0) return order[0];
  return order[(at + delta + order.length) % order.length];
}
