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
