/**
 * From rollout means to vectors: a member's vector is the mean of its rollouts' means (each the
 * mean of resid_post[L] over the answer's content tokens, at every layer); the default vector the
 * mean of the default's rollouts; the axis `default - mean(roles)` per layer (traits when a run
 * has no roles). Sums are float64. A split-half copy at the middle layer feeds the stability meter.
 */
import { DataError } from '../errors';
import { CALIBRATION_LEVELS, type Calibration, type CalibrationGroup } from '../persona/axis-bundle';
import { storedAxisAt } from '../persona/analysis';
import type { PersonaSet } from '../persona/types';
import type { MemberKind } from './presets';

interface Sums {
  kind: MemberKind;
  sum: Float64Array;
  count: number;
  /** Middle layer sums of each half. */
  half: [Float64Array, Float64Array];
  halfCount: [number, number];
}


export class Aggregator {
  private readonly members = new Map<string, Sums>();
  private def: Sums | null = null;
  readonly middle: number;

  constructor(
    readonly numLayers: number,
    readonly dim: number,
  ) {
    this.middle = Math.floor(numLayers / 2);
  }

  private sums(kind: MemberKind, member: string): Sums {
    if (kind === 'default') return (this.def ??= this.fresh(kind));
    const k = `${kind}:${member}`;
    let s = this.members.get(k);
    if (!s) this.members.set(k, (s = this.fresh(kind)));
    return s;
  }

  private fresh(kind: MemberKind): Sums {
    const { numLayers: L, dim: d } = this;
    return { kind, sum: new Float64Array(L * d), count: 0, half: [new Float64Array(d), new Float64Array(d)], halfCount: [0, 0] };
  }

  /** Add one rollout's mean (L x d); a rollout with an empty answer (null) adds nothing. */
  add(kind: MemberKind, member: string, key: string, mean: Float32Array | null): void {
    if (!mean) return;
    const { numLayers: L, dim: d } = this;
    if (mean.length !== L * d) throw new DataError('rollout-shape', `A rollout mean holds ${mean.length} numbers; this model needs ${L * d}.`);
    const s = this.sums(kind, member);
    for (let i = 0; i < L * d; i++) s.sum[i] += mean[i];
    s.count++;
    // Split-half: each member's rollouts alternate between the halves in the order they arrive
    // (the plan's order, which a resumed run replays), so both halves stay balanced.
    void key;
    const h = (s.count - 1) % 2;
    const o = this.middle * d;
    for (let j = 0; j < d; j++) s.half[h][j] += mean[o + j];
    s.halfCount[h]++;
  }

  /** Members with at least one rollout, in the order first seen: roles, then traits. */
  names(kind: 'role' | 'trait'): string[] {
    const out: string[] = [];
    for (const [k, s] of this.members) if (s.kind === kind && s.count > 0) out.push(k.slice(kind.length + 1));
    return out;
  }

  count(kind: MemberKind, member: string): number {
    return kind === 'default' ? (this.def?.count ?? 0) : (this.members.get(`${kind}:${member}`)?.count ?? 0);
  }

  vector(kind: MemberKind, member: string): Float32Array | null {
    const s = kind === 'default' ? this.def : this.members.get(`${kind}:${member}`);
    if (!s || s.count === 0) return null;
    const out = new Float32Array(s.sum.length);
    for (let i = 0; i < out.length; i++) out[i] = s.sum[i] / s.count;
    return out;
  }

  /** Which members the axis averages: the roles, or the traits when there are no roles. */
  axisKind(): 'role' | 'trait' {
    return this.names('role').length > 0 ? 'role' : 'trait';
  }

  /** default - mean(member vectors) at every layer (from the float64 sums), or null before both exist. */
  axis(): Float32Array | null {
    const def = this.vector('default', 'default');
    const names = this.names(this.axisKind());
    if (!def || names.length === 0) return null;
    const kind = this.axisKind();
    const mean = new Float64Array(def.length);
    for (const n of names) {
      const v = this.vector(kind, n)!;
      for (let i = 0; i < v.length; i++) mean[i] += v[i];
    }
    const out = new Float32Array(def.length);
    for (let i = 0; i < out.length; i++) out[i] = def[i] - mean[i] / names.length;
    return out;
  }

  /**
   * The stability meter: cosine, at the middle layer, between the axes computed from the two
   * halves of the rollouts (each member and the default split by rollout). Null until both halves
   * have the default and at least two members (a member's 1st, 3rd, ... rollouts go to one half,
 * its 2nd, 4th, ... to the other).
   */
  stability(): number | null {
    const d = this.dim;
    const kind = this.axisKind();
    const axes: Float64Array[] = [];
    for (const h of [0, 1] as const) {
      if (!this.def || this.def.halfCount[h] === 0) return null;
      const mean = new Float64Array(d);
      let n = 0;
      for (const s of this.members.values()) {
        if (s.kind !== kind || s.halfCount[h] === 0) continue;
        for (let j = 0; j < d; j++) mean[j] += s.half[h][j] / s.halfCount[h];
        n++;
      }
      if (n < 2) return null;
      const a = new Float64Array(d);
      for (let j = 0; j < d; j++) a[j] = this.def.half[h][j] / this.def.halfCount[h] - mean[j] / n;
      axes.push(a);
    }
    return cosine(axes[0], axes[1]);
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? s / Math.sqrt(na * nb) : 0;
}

/** Per layer, |axis[L]| (float64). */
export function axisNorms(axis: Float32Array, L: number, d: number): Float64Array {
  const n = new Float64Array(L);
  for (let l = 0; l < L; l++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += axis[l * d + j] ** 2;
    n[l] = Math.sqrt(s);
  }
  return n;
}

/** Per layer, v[L] . axis[L] / |axis[L]|. */
export function projectLayers(v: Float32Array, axis: Float32Array, norms: Float64Array, d: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < norms.length; l++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[l * d + j] * axis[l * d + j];
    out.push(norms[l] > 0 ? s / norms[l] : 0);
  }
  return out;
}

/** The p-th percentile with linear interpolation between order statistics (numpy's default). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const x = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

/** A calibration group from projections[layer][i]. */
export function calibrationGroup(projections: number[][], keep = true): CalibrationGroup {
  const count = projections[0]?.length ?? 0;
  const percentiles = projections.map((row) => {
    const s = [...row].sort((a, b) => a - b);
    return CALIBRATION_LEVELS.map((p) => percentile(s, p));
  });
  return keep ? { count, percentiles, projections } : { count, percentiles };
}

/**
 * Collects per-layer projections of rollout means on the unit axis (the final axis, so this runs
 * after the vectors are known: feed it every stored rollout again).
 */
export class CalibrationBuilder {
  private readonly norms: Float64Array;
  private readonly role: number[][];
  private readonly def: number[][];

  constructor(
    private readonly axis: Float32Array,
    readonly numLayers: number,
    private readonly dim: number,
  ) {
    this.norms = axisNorms(axis, numLayers, dim);
    this.role = Array.from({ length: numLayers }, () => []);
    this.def = Array.from({ length: numLayers }, () => []);
  }

  /** Role and trait rollouts go to `role`, default rollouts to `default`. */
  add(kind: MemberKind, mean: Float32Array | null): void {
    if (!mean) return;
    const p = projectLayers(mean, this.axis, this.norms, this.dim);
    const into = kind === 'default' ? this.def : this.role;
    p.forEach((x, l) => into[l].push(x));
  }

  build(keepProjections = true): Calibration {
    const all = this.role.map((r, l) => [...r, ...this.def[l]]);
    return {
      format: 'persona-space-calibration',
      version: 1,
      basis: 'rollouts',
      numLayers: this.numLayers,
      levels: [...CALIBRATION_LEVELS],
      role: calibrationGroup(this.role, keepProjections),
      default: this.def[0].length > 0 ? calibrationGroup(this.def, keepProjections) : null,
      all: calibrationGroup(all, keepProjections),
    };
  }
}

/**
 * The weaker estimate for sets without rollouts (the official release): the projections of the
 * role vectors themselves (and the default vector) on the unit axis, per layer. The axis is
 * default - mean(members), or the set's stored axis when it has no default (as the analysis does).
 */
export function calibrationFromRoleVectors(set: PersonaSet): Calibration {
  const L = set.layers ?? 1;
  const d = set.dim;
  const N = set.names.length;
  if (set.defaultAt(0) === null && !set.storedAxis) {
    throw new DataError('no-default', 'This set has neither a default vector nor a stored axis, so there is no axis to calibrate on.');
  }
  const role: number[][] = [];
  const def: number[][] = [];
  for (let l = 0; l < L; l++) {
    const X = set.layer(l);
    const dv = set.defaultAt(l);
    let axis: Float64Array;
    const stored = dv ? null : storedAxisAt(set, l);
    if (stored) axis = Float64Array.from(stored);
    else {
      axis = new Float64Array(d);
      for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) axis[j] -= X[i * d + j] / N;
      for (let j = 0; j < d; j++) axis[j] += dv![j];
    }
    let nn = 0;
    for (let j = 0; j < d; j++) nn += axis[j] ** 2;
    const inv = nn > 0 ? 1 / Math.sqrt(nn) : 0;
    const row: number[] = [];
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += X[i * d + j] * axis[j];
      row.push(s * inv);
    }
    role.push(row);
    if (dv) {
      let s = 0;
      for (let j = 0; j < d; j++) s += dv[j] * axis[j];
      def.push([s * inv]);
    }
  }
  const all = role.map((r, l) => [...r, ...(def[l] ?? [])]);
  return {
    format: 'persona-space-calibration',
    version: 1,
    basis: 'role-vectors',
    numLayers: L,
    levels: [...CALIBRATION_LEVELS],
    role: calibrationGroup(role),
    default: def.length ? calibrationGroup(def) : null,
    all: calibrationGroup(all),
  };
}
