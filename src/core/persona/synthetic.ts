/**
 * A seeded synthetic persona set held in float32: N members around a common mean, spread along a
 * role-play <-> Assistant direction plus a few other directions, with a default at the Assistant
 * end. It lets the app be tried (and benchmarked with 20,000 points) without any file.
 */
import { rng as mulberry32 } from '../math/testing';
import { checkSyntheticParams, SYNTHETIC_BOUNDS, SYNTHETIC_DEFAULT_DIM } from './source';
import type { MemberKind, PersonaSet } from './types';

export interface SyntheticOptions {
  n: number;
  dim?: number;
  layers?: number | null;
  seed?: number;
}

/** Bounds of a synthetic set (a `#src=synthetic:NxLdD` link is typed by anyone): checked before any work. */
export const SYNTHETIC_LIMITS = SYNTHETIC_BOUNDS;

export function syntheticPersonaSet(opts: SyntheticOptions): PersonaSet {
  const n = opts.n, dim = opts.dim ?? SYNTHETIC_DEFAULT_DIM, L = opts.layers ?? null, nl = L ?? 1;
  checkSyntheticParams({ n, dim, layers: L });
  const rand = mulberry32(opts.seed ?? 42);
  const gauss = () => {
    const u = Math.max(rand(), 1e-12), v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const nDirs = 6;
  // Per layer: a mean, a few directions; the axis is direction 0 with a layer-dependent scale.
  const data: Float32Array[] = [];
  const defaults: Float32Array[] = [];
  const latent = Array.from({ length: n }, () => Array.from({ length: nDirs }, (_, j) => gauss() / (1 + j * 0.6)));
  for (let l = 0; l < nl; l++) {
    const mean = Float32Array.from({ length: dim }, () => gauss());
    const dirs = Array.from({ length: nDirs }, () => Float32Array.from({ length: dim }, () => gauss() / Math.sqrt(dim)));
    const depth = L ? 0.4 + Math.sin((Math.PI * (l + 1)) / (nl + 1)) : 1;
    const x = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) {
        let v = mean[j] + 0.15 * gauss() / Math.sqrt(dim) * 4;
        for (let k = 0; k < nDirs; k++) v += latent[i][k] * dirs[k][j] * 3 * (k === 0 ? depth : 1);
        x[i * dim + j] = v;
      }
    }
    const def = new Float32Array(dim);
    for (let j = 0; j < dim; j++) def[j] = mean[j] + 3.2 * dirs[0][j] * 3 * depth + 0.6 * dirs[1][j];
    data.push(x);
    defaults.push(def);
  }
  const pad = String(n).length;
  const names = Array.from({ length: n }, (_, i) => (n <= 400 ? `persona-${i + 1}` : `response-${String(i + 1).padStart(pad, '0')}`));
  const kinds: MemberKind[] = names.map(() => 'role');
  const at = (layer: number) => (L === null ? 0 : Math.max(0, Math.min(nl - 1, layer)));
  return {
    format: 'synthetic',
    names,
    kinds,
    layers: L,
    dim,
    dtype: 'float32',
    defaultLabel: 'default',
    storedAxis: null,
    extras: {},
    layer: (layer) => data[at(layer)].slice(),
    vector: (index, layer) => data[at(layer)].slice(index * dim, index * dim + dim),
    defaultAt: (layer) => defaults[at(layer)].slice(),
    byteSize: n * dim * nl * 4,
  };
}
