/**
 * Nearest neighbours of one member by cosine similarity over the full d-dimensional vectors at
 * one layer (not the 2 or 3 drawn coordinates: what is near on the map may be far in the model).
 */

export interface Neighbour {
  /** Row index of the neighbour. */
  index: number;
  cos: number;
}

/**
 * The `k` rows of `rows` (n x d, row-major) most similar to row `of` by cosine, best first
 * (ties by index). Rows with zero norm or non-finite values are skipped; `of` itself never counts.
 */
export function nearestByCosine(rows: ArrayLike<number>, n: number, d: number, of: number, k: number): Neighbour[] {
  if (of < 0 || of >= n || d <= 0) return [];
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) s += rows[o + j] * rows[o + j];
    norms[i] = Math.sqrt(s);
  }
  const qn = norms[of];
  if (!(qn > 0) || !Number.isFinite(qn)) return [];
  const out: Neighbour[] = [];
  const q = of * d;
  for (let i = 0; i < n; i++) {
    if (i === of || !(norms[i] > 0) || !Number.isFinite(norms[i])) continue;
    let s = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) s += rows[q + j] * rows[o + j];
    const c = s / (qn * norms[i]);
    if (Number.isFinite(c)) out.push({ index: i, cos: c });
  }
  out.sort((a, b) => b.cos - a.cos || a.index - b.index);
  return out.slice(0, Math.max(0, k));
}
