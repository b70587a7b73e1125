/**
 * Colour by a value per point on a colour-blind-safe diverging scale (ColorBrewer PuOr):
 * orange for the low (role-play) end, purple for the high (Assistant) end, near-white at the
 * centre. Colours are quantised into a few steps so the canvas draws one batched path per step.
 */
import { interpolatePuOr } from 'd3-scale-chromatic';

export interface DivergingDomain {
  lo: number;
  mid: number;
  hi: number;
}

export const COLOR_STEPS = 33;

/** Symmetric around `mid` (default: the mean), wide enough for every finite value. */
export function divergingDomain(values: ArrayLike<number>, mid?: number): DivergingDomain {
  let sum = 0, n = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) { sum += values[i]; n++; }
  const c = mid ?? (n > 0 ? sum / n : 0);
  let m = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) m = Math.max(m, Math.abs(values[i] - c));
  if (m === 0) m = 1;
  return { lo: c - m, mid: c, hi: c + m };
}

/** Position in [0, 1] on the scale (0 = low end). */
export function scalePosition(v: number, d: DivergingDomain): number {
  if (!Number.isFinite(v)) return 0.5;
  const t = v >= d.mid ? 0.5 + 0.5 * (v - d.mid) / (d.hi - d.mid || 1) : 0.5 - 0.5 * (d.mid - v) / (d.mid - d.lo || 1);
  return Math.min(1, Math.max(0, t));
}

/** Colour at scale position t (0 = low/orange, 1 = high/purple). */
export function colorAt(t: number): string {
  return interpolatePuOr(1 - t);
}

/** The quantised palette, index 0 = low end. */
export const PALETTE: readonly string[] = Array.from({ length: COLOR_STEPS }, (_, i) => colorAt(i / (COLOR_STEPS - 1)));

/** Palette index per value. */
export function colorIndices(values: ArrayLike<number>, d: DivergingDomain): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.round(scalePosition(values[i], d) * (COLOR_STEPS - 1));
  return out;
}

/** Categorical colours (Okabe–Ito, colour-blind safe) for groups: kinds or the person's tags. */
export const GROUP_PALETTE: readonly string[] = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442', '#000000', '#999999'];

/**
 * Group colour index per point: groups numbered in order of first appearance (at most the palette's
 * length; later groups share the last, grey). Returns the indices and the group names in order.
 */
export function groupIndices(groups: readonly string[]): { index: Uint8Array; names: string[] } {
  const order = new Map<string, number>();
  const index = new Uint8Array(groups.length);
  groups.forEach((g, i) => {
    let k = order.get(g);
    if (k === undefined) order.set(g, (k = order.size));
    index[i] = Math.min(k, GROUP_PALETTE.length - 1);
  });
  return { index, names: [...order.keys()] };
}
