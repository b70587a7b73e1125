/**
 * A custom projection, as in the Embedding Projector but labelled: x = centroid(A) - centroid(B),
 * where A and B are groups of members chosen by a query. The paper's Assistant Axis is the case
 * A = the default, B = every role. Each member's coordinate is its projection on the unit custom
 * axis, measured from the midpoint of the two centroids (so 0 sits halfway between A and B).
 */
import { DataError } from '../errors';

export interface CustomAxis {
  /** Unit direction (d). */
  unit: Float64Array;
  /** |centroid(A) - centroid(B)|. */
  norm: number;
  /** Where the projections are measured from: (centroid(A) + centroid(B)) / 2 projected on the unit axis. */
  offset: number;
}

function centroid(rows: ArrayLike<number>, d: number, members: readonly number[]): Float64Array {
  const c = new Float64Array(d);
  for (const i of members) {
    const o = i * d;
    for (let j = 0; j < d; j++) c[j] += rows[o + j];
  }
  for (let j = 0; j < d; j++) c[j] /= members.length;
  return c;
}

/**
 * The axis from group A to group B's opposite. `extraA` / `extraB` add vectors outside the rows
 * (the default, which is not a member). Throws a DataError with a sentence when a group is empty
 * or both centroids coincide.
 */
export function customAxis(rows: ArrayLike<number>, d: number, a: readonly number[], b: readonly number[], extraA: ArrayLike<number>[] = [], extraB: ArrayLike<number>[] = []): CustomAxis {
  if (a.length + extraA.length === 0) throw new DataError('empty-group', 'The first query matches no member, so it has no centroid.');
  if (b.length + extraB.length === 0) throw new DataError('empty-group', 'The second query matches no member, so it has no centroid.');
  const side = (members: readonly number[], extra: ArrayLike<number>[]) => {
    const c = members.length ? centroid(rows, d, members) : new Float64Array(d);
    const total = members.length + extra.length;
    if (extra.length) {
      for (let j = 0; j < d; j++) c[j] *= members.length / total;
      for (const v of extra) for (let j = 0; j < d; j++) c[j] += v[j] / total;
    }
    return c;
  };
  const ca = side(a, extraA), cb = side(b, extraB);
  const unit = new Float64Array(d);
  let ss = 0;
  for (let j = 0; j < d; j++) { unit[j] = ca[j] - cb[j]; ss += unit[j] * unit[j]; }
  const norm = Math.sqrt(ss);
  if (!(norm > 0) || !Number.isFinite(norm)) throw new DataError('zero-axis', 'The two groups have the same centroid, so they define no direction.');
  let offset = 0;
  for (let j = 0; j < d; j++) { unit[j] /= norm; offset += ((ca[j] + cb[j]) / 2) * unit[j]; }
  return { unit, norm, offset };
}

/** Coordinate of each row (n x d) on the custom axis, measured from the midpoint of the centroids. */
export function projectOnCustom(rows: ArrayLike<number>, n: number, d: number, axis: CustomAxis): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += rows[o + j] * axis.unit[j];
    out[i] = s - axis.offset;
  }
  return out;
}

/** One vector's coordinate on the custom axis. */
export function projectOneOnCustom(v: ArrayLike<number>, axis: CustomAxis): number {
  let s = 0;
  for (let j = 0; j < axis.unit.length; j++) s += v[j] * axis.unit[j];
  return s - axis.offset;
}
