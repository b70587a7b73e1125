/**
 * Greedy label placement: candidates are taken in priority order (selected and hovered first,
 * then the extremes of the axis), each label tries a few spots around its point and is kept at
 * the first spot that overlaps no label already placed and stays inside the bounds. Collisions
 * are found through a uniform grid, so thousands of candidates cost little.
 */

export interface LabelCandidate {
  id: number;
  /** Anchor point (the data point) in screen pixels. */
  x: number;
  y: number;
  /** Size of the text box in pixels. */
  width: number;
  height: number;
  /** Higher is placed first. */
  priority: number;
}

export interface PlacedLabel {
  id: number;
  /** Top-left corner of the box. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Where the box sits relative to its point; the renderer aligns text with it. */
  side: 'right' | 'left' | 'above' | 'below';
}

export interface PlacementOptions {
  bounds: { width: number; height: number };
  /** Distance between the point and the box. */
  gap?: number;
  /** Stop after this many labels. */
  maxLabels?: number;
  /** Boxes (for example the default's marker label) that labels must also avoid. */
  obstacles?: { x: number; y: number; width: number; height: number }[];
}

interface Box { x: number; y: number; width: number; height: number }

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

export function placeLabels(candidates: readonly LabelCandidate[], opts: PlacementOptions): PlacedLabel[] {
  const gap = opts.gap ?? 4;
  const maxLabels = opts.maxLabels ?? Infinity;
  const { width: W, height: H } = opts.bounds;
  const cell = 64;
  const cols = Math.max(1, Math.ceil(W / cell));
  const rows = Math.max(1, Math.ceil(H / cell));
  const grid: Box[][] = Array.from({ length: cols * rows }, () => []);
  const cellsOf = (b: Box): number[] => {
    const c0 = Math.max(0, Math.floor(b.x / cell)), c1 = Math.min(cols - 1, Math.floor((b.x + b.width) / cell));
    const r0 = Math.max(0, Math.floor(b.y / cell)), r1 = Math.min(rows - 1, Math.floor((b.y + b.height) / cell));
    const out: number[] = [];
    for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push(r * cols + c);
    return out;
  };
  const free = (b: Box): boolean => {
    for (const ci of cellsOf(b)) for (const o of grid[ci]) if (overlaps(b, o)) return false;
    return true;
  };
  const add = (b: Box) => { for (const ci of cellsOf(b)) grid[ci].push(b); };
  for (const o of opts.obstacles ?? []) add(o);

  const order = candidates
    .map((c, i) => i)
    .filter((i) => Number.isFinite(candidates[i].x) && Number.isFinite(candidates[i].y))
    .sort((a, b) => candidates[b].priority - candidates[a].priority || a - b);
  const placed: PlacedLabel[] = [];
  for (const i of order) {
    if (placed.length >= maxLabels) break;
    const c = candidates[i];
    const spots: [PlacedLabel['side'], number, number][] = [
      ['right', c.x + gap, c.y - c.height / 2],
      ['left', c.x - gap - c.width, c.y - c.height / 2],
      ['above', c.x - c.width / 2, c.y - gap - c.height],
      ['below', c.x - c.width / 2, c.y + gap],
      // The other four of the eight cartographic positions, for crowded clusters.
      ['right', c.x + gap * 0.7, c.y - gap * 0.7 - c.height],
      ['right', c.x + gap * 0.7, c.y + gap * 0.7],
      ['left', c.x - gap * 0.7 - c.width, c.y - gap * 0.7 - c.height],
      ['left', c.x - gap * 0.7 - c.width, c.y + gap * 0.7],
    ];
    for (const [side, x, y] of spots) {
      const box = { x, y, width: c.width, height: c.height };
      if (x < 0 || y < 0 || x + c.width > W || y + c.height > H) continue;
      if (!free(box)) continue;
      add(box);
      placed.push({ id: c.id, ...box, side });
      break;
    }
  }
  return placed;
}

/**
 * The order in which points ask for a label: the two ends of the axis projection taken in turn
 * (the Assistant end first, then the Role-play end, then the next of each …) interleaved with the
 * points farthest from the centre on the shown components, so both ends of the map are labelled
 * even when one end is a dense cluster. Every index appears once.
 */
export function labelPriority(projection: ArrayLike<number>, distance: ArrayLike<number>): Uint32Array {
  const n = projection.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const val = (a: ArrayLike<number>, i: number) => (Number.isFinite(a[i]) ? a[i] : -Infinity);
  const high = [...idx].sort((i, j) => val(projection, j) - val(projection, i) || i - j);
  const far = [...idx].sort((i, j) => val(distance, j) - val(distance, i) || i - j);
  const out = new Uint32Array(n);
  const seen = new Uint8Array(n);
  let m = 0, h = 0, l = n - 1, f = 0;
  const take = (i: number) => { if (!seen[i]) { seen[i] = 1; out[m++] = i; return true; } return false; };
  while (m < n) {
    while (h < n && !take(high[h++]));
    while (l >= 0 && !take(high[l--]));
    while (f < n && !take(far[f++]));
  }
  return out;
}

export interface CalloutLabel extends PlacedLabel {
  /** The leader line from the point to the box. */
  leader: { x1: number; y1: number; x2: number; y2: number };
}

/**
 * Labels for points that must be named but found no room beside them (the ends of the axis in a
 * dense cluster): each box goes a little further out, to the right or left and up or down in
 * steps of its height, at the first spot that overlaps neither `taken` boxes nor each other, and
 * gets a leader line back to its point.
 */
export function calloutLabels(candidates: readonly LabelCandidate[], taken: readonly { x: number; y: number; width: number; height: number }[], bounds: { width: number; height: number }, reach = 8): CalloutLabel[] {
  const boxes: Box[] = [...taken];
  const free = (b: Box) => b.x >= 0 && b.y >= 0 && b.x + b.width <= bounds.width && b.y + b.height <= bounds.height && !boxes.some((o) => overlaps(b, o));
  const out: CalloutLabel[] = [];
  for (const c of [...candidates].sort((a, b) => b.priority - a.priority)) {
    if (!Number.isFinite(c.x) || !Number.isFinite(c.y)) continue;
    let done = false;
    for (const dx of [36, 64, 96]) {
      for (let k = 0; k <= reach && !done; k++) {
        for (const sy of k === 0 ? [0] : [-1, 1]) {
          for (const side of ['right', 'left'] as const) {
            const x = side === 'right' ? c.x + dx : c.x - dx - c.width;
            const y = c.y - c.height / 2 + sy * k * c.height;
            const box = { x, y, width: c.width, height: c.height };
            if (!free(box)) continue;
            boxes.push(box);
            const ex = side === 'right' ? x : x + c.width;
            out.push({ id: c.id, ...box, side, leader: { x1: c.x, y1: c.y, x2: ex, y2: y + c.height / 2 } });
            done = true;
            break;
          }
          if (done) break;
        }
      }
      if (done) break;
    }
  }
  return out;
}
