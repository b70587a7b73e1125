/**
 * An extraction's result as a PersonaSet (the map, the analysis and the chat lab take it like any
 * other set) and as files: the release layout the paper's notebooks read —
 *   role_vectors/<role>.pt, trait_vectors/<trait>.pt   {vector: (n_layers, d), type: "mean", role}
 *   default_vector.pt                                  (n_layers, d)
 *   assistant_axis.pt                                  (n_layers, d)
 * — plus one .safetensors holding every member, `default` and `axis`, and calibration.json.
 */
import { DataError } from '../errors';
import { writePt } from '../formats/pt';
import { writeSafetensors } from '../formats/safetensors';
import type { AxisBundle } from '../persona/axis-bundle';
import { createPersonaSet } from '../persona/persona-set';
import type { MemberKind as SetMemberKind, PersonaSet } from '../persona/types';
import { tensorFromF32, type RawTensor } from '../tensor';
import { axisNorms, projectLayers } from './aggregate';
import type { ExtractionResult } from './pipeline';

function members(r: ExtractionResult): { name: string; kind: SetMemberKind; v: Float32Array }[] {
  return [...r.roles.map((n) => ({ name: n, kind: 'role' as const, v: r.vectors.get(`role:${n}`)! })), ...r.traits.map((n) => ({ name: n, kind: 'trait' as const, v: r.vectors.get(`trait:${n}`)! }))];
}

/** The result as a PersonaSet (members: roles then traits; the default apart; the axis stored). */
export function extractionPersonaSet(r: ExtractionResult, label = 'extraction'): PersonaSet {
  const m = members(r);
  if (m.length === 0) throw new DataError('empty', 'No role or trait has a finished rollout yet.');
  const L = r.numLayers;
  const d = r.hiddenSize;
  const names = m.map((x) => x.name);
  if (new Set(names).size !== names.length) throw new DataError('duplicate-name', 'A role and a trait share a name; export them in separate runs.');
  return createPersonaSet({
    names,
    kinds: m.map((x) => x.kind),
    vectors: m.map((x) => x.v),
    layers: L,
    dim: d,
    default: r.defaultVector,
    defaultLabel: r.defaultVector ? 'default' : undefined,
    storedAxis: r.axis ? tensorFromF32(r.axis, [L, d]) : null,
    format: label,
  });
}

export interface OutFile {
  path: string;
  bytes: Uint8Array;
}

/** The release layout (+ `persona_space.safetensors` and `calibration.json`) as files. */
export function releaseFiles(r: ExtractionResult, opts: { safetensorsName?: string; metadata?: Record<string, string> } = {}): OutFile[] {
  const L = r.numLayers;
  const d = r.hiddenSize;
  const t = (v: Float32Array): RawTensor => tensorFromF32(v, [L, d]);
  const out: OutFile[] = [];
  const st: [string, RawTensor][] = [];
  for (const m of members(r)) {
    const dir = m.kind === 'trait' ? 'trait_vectors' : 'role_vectors';
    out.push({ path: `${dir}/${m.name}.pt`, bytes: writePt({ vector: t(m.v), type: 'mean', role: m.name }) });
    st.push([m.name, t(m.v)]);
  }
  if (r.defaultVector) {
    out.push({ path: 'default_vector.pt', bytes: writePt(t(r.defaultVector)) });
    st.push(['default', t(r.defaultVector)]);
  }
  if (r.axis) {
    out.push({ path: 'assistant_axis.pt', bytes: writePt(t(r.axis)) });
    st.push(['axis', t(r.axis)]);
  }
  if (st.some(([n]) => n === '__metadata__')) throw new DataError('name-clash', 'A member called "__metadata__" cannot be stored in safetensors.');
  const names = st.map(([n]) => n);
  if (new Set(names).size !== names.length) throw new DataError('name-clash', 'A member is called "default" or "axis", or a role and a trait share a name; the .safetensors file cannot hold both.');
  out.push({ path: opts.safetensorsName ?? 'persona_space.safetensors', bytes: writeSafetensors(st, { source: 'persona-space extract', default: r.defaultVector ? 'default' : '', axis: r.axis ? 'axis' : '', ...opts.metadata }) });
  if (r.calibration) out.push({ path: 'calibration.json', bytes: new TextEncoder().encode(JSON.stringify(r.calibration) + '\n') });
  return out;
}

/** What the model worker needs to project, steer and cap with this result's axis. */
export function extractionAxisBundle(r: ExtractionResult, label: string): AxisBundle | null {
  if (!r.axis) return null;
  const L = r.numLayers;
  const d = r.hiddenSize;
  const norms = axisNorms(r.axis, L, d);
  const proj = members(r)
    .filter((m) => m.kind === (r.roles.length ? 'role' : 'trait'))
    .map((m) => projectLayers(m.v, r.axis!, norms, d));
  const mean = new Float64Array(L);
  const sd = new Float64Array(L);
  for (let l = 0; l < L; l++) {
    const xs = proj.map((p) => p[l]);
    const mu = xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
    mean[l] = mu;
    sd[l] = Math.sqrt(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / Math.max(xs.length - 1, 1));
  }
  return {
    label,
    source: 'extraction',
    numLayers: L,
    hiddenSize: d,
    axis: r.axis.slice(),
    roleStats: proj.length ? { mean, sd } : null,
    defaultProjection: r.defaultVector ? Float64Array.from(projectLayers(r.defaultVector, r.axis, norms, d)) : null,
    calibration: r.calibration,
  };
}
