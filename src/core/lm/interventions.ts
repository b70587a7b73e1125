/**
 * Steering and capping, as the values fed to an instrumented decoder (see core/onnx/instrument.ts):
 *
 *   steer     float32 [L, d]  added to resid_post[L]            (zeros = off)
 *   cap_axis  float32 [L, d]  unit vector a[L]                   (zeros = off)
 *   cap_tau   float32 [L]     h.a[L] is raised to at least tau   (-Infinity = off)
 *
 * Built from user terms in the paper's vocabulary: steering adds `alpha * v / |v|` at chosen
 * layers; capping keeps the projection on `v / |v|` at or above tau. A vector is (d,) — the same
 * direction at every chosen layer — or (numLayers, d), row L used at layer L. Layers are 0-based
 * decoder blocks.
 */
import { DataError } from '../errors';
import { percentile } from '../math/stats';
import { decodeF32, isRawTensor, type RawTensor } from '../tensor';

export interface ModelDims { numLayers: number; hiddenSize: number }

export interface Interventions extends ModelDims {
  /** [numLayers * hiddenSize], row L added at layer L. */
  steer: Float32Array;
  /** [numLayers * hiddenSize], unit rows; zero rows = no cap. */
  capAxis: Float32Array;
  /** [numLayers]; -Infinity = no cap. */
  capTau: Float32Array;
}

/** A direction: a (d,) or (numLayers, d) tensor, or a plain Float32Array of d or numLayers*d values. */
export type VectorSource = RawTensor | Float32Array | Float64Array | readonly number[];

export interface SteerTerm {
  vector: VectorSource;
  layers: readonly number[];
  /**
   * Added length along the unit direction (in residual-stream units): one number, or per layer
   * (indexed by layer, or aligned with `layers`). The paper's "m x mean norm" is alpha[L] =
   * m * meanNorm[L]; the reference code's raw `c * v` is alpha[L] = c * |v[L]|.
   */
  alpha: number | ArrayLike<number>;
}

export interface CapTerm {
  vector: VectorSource;
  layers: readonly number[];
  /**
   * Floor on the projection: one number for every chosen layer, or an array either indexed by layer
   * (length numLayers) or aligned with `layers` (same length as `layers`).
   */
  tau: number | ArrayLike<number>;
}

export function noInterventions(dims: ModelDims): Interventions {
  checkDims(dims);
  const { numLayers: L, hiddenSize: d } = dims;
  return { numLayers: L, hiddenSize: d, steer: new Float32Array(L * d), capAxis: new Float32Array(L * d), capTau: new Float32Array(L).fill(-Infinity) };
}

/** Steering and capping from terms; several steering terms at one layer add up, one cap per layer. */
export function buildInterventions(dims: ModelDims, terms: { steer?: readonly SteerTerm[]; cap?: readonly CapTerm[] } = {}): Interventions {
  const iv = noInterventions(dims);
  for (const t of terms.steer ?? []) addSteering(iv, t);
  for (const t of terms.cap ?? []) addCap(iv, t);
  return iv;
}

/** Adds `alpha * v[L] / |v[L]|` to the steering row of every chosen layer. */
export function addSteering(iv: Interventions, term: SteerTerm): Interventions {
  const rows = vectorRows(term.vector, iv, 'steering vector');
  const layers = checkLayers(term.layers, iv.numLayers, 'steering');
  layers.forEach((layer, k) => {
    const alpha = perLayer(term.alpha, layer, k, layers.length, iv.numLayers, 'steering coefficients');
    if (!Number.isFinite(alpha)) throw new DataError('steer-alpha', `The steering coefficient must be a finite number, got ${alpha}.`);
    const u = unitRow(rows, layer, 'steering vector');
    const off = layer * iv.hiddenSize;
    for (let j = 0; j < iv.hiddenSize; j++) iv.steer[off + j] += alpha * u[j];
  });
  return iv;
}

/** Sets the cap of every chosen layer to axis `v[L] / |v[L]|` and floor tau. */
export function addCap(iv: Interventions, term: CapTerm): Interventions {
  const rows = vectorRows(term.vector, iv, 'capping vector');
  const layers = checkLayers(term.layers, iv.numLayers, 'capping');
  layers.forEach((layer, k) => {
    const tau = perLayer(term.tau, layer, k, layers.length, iv.numLayers, 'capping thresholds');
    if (Number.isNaN(tau) || tau === Infinity) {
      throw new DataError('cap-tau', `The capping threshold at layer ${layer} must be a number or -Infinity (off), got ${tau}.`);
    }
    if (iv.capTau[layer] !== -Infinity) throw new DataError('cap-twice', `Layer ${layer} is capped twice; one cap per layer is supported.`);
    const u = unitRow(rows, layer, 'capping vector');
    iv.capAxis.set(u, layer * iv.hiddenSize);
    iv.capTau[layer] = tau;
  });
  return iv;
}

/** One number for every chosen layer, or an array indexed by layer (numLayers long) or aligned with the chosen layers. */
function perLayer(v: number | ArrayLike<number>, layer: number, k: number, nChosen: number, numLayers: number, what: string): number {
  if (typeof v === 'number') return v;
  if (v.length === numLayers) return v[layer];
  if (v.length === nChosen) return v[k];
  throw new DataError(
    'per-layer-length',
    `The ${what} hold ${v.length} values; expected one per model layer (${numLayers}) or one per chosen layer (${nChosen}).`,
  );
}

/**
 * The paper's calibration: tau[L] = the given percentile (default 25th, numpy's linear
 * interpolation) of the projections observed at layer L (e.g. of role and default responses on
 * the unit axis). Layers with no projections get -Infinity (no cap).
 */
export function calibrateCap(projections: readonly (ArrayLike<number> | null | undefined)[], pct = 25): Float64Array {
  if (!(pct >= 0 && pct <= 100)) throw new DataError('cap-percentile', `The calibration percentile must be between 0 and 100, got ${pct}.`);
  const out = new Float64Array(projections.length).fill(-Infinity);
  projections.forEach((p, L) => {
    if (p && p.length) out[L] = percentile(p, pct);
  });
  return out;
}

/** The official release's capping_config.pt: `{vectors: {name: {vector, layer}}, experiments: [{id, interventions: [{vector, cap}]}]}`. */
export interface CappingConfig {
  vectors: Record<string, { vector: VectorSource; layer: number }>;
  experiments: { id: string; interventions: { vector: string; cap?: number }[] }[];
}

/**
 * Converts one experiment of a release capping config into cap terms. The release stores
 * ceilings along vectors r that point toward role-play (`h <- h - relu(h.r^ - cap) r^`, r^ = r/|r|);
 * that is our floor along a = -r^ with tau = -cap.
 */
export function capTermsFromCappingConfig(config: CappingConfig, experiment: string | number): CapTerm[] {
  const exp = typeof experiment === 'number' ? config.experiments?.[experiment] : config.experiments?.find((e) => e.id === experiment);
  if (!exp) {
    const ids = (config.experiments ?? []).map((e) => e.id).join(', ');
    throw new DataError('cap-experiment', `The capping config has no experiment ${JSON.stringify(experiment)}; it has: ${ids || 'none'}.`);
  }
  const terms: CapTerm[] = [];
  for (const iv of exp.interventions) {
    if (iv.cap === undefined) continue;
    const v = config.vectors?.[iv.vector];
    if (!v) throw new DataError('cap-vector', `The capping experiment ${exp.id} names vector "${iv.vector}", which the config does not hold.`);
    const r = toF32(v.vector);
    const neg = new Float32Array(r.length);
    for (let j = 0; j < r.length; j++) neg[j] = -r[j];
    terms.push({ vector: neg, layers: [Number(v.layer)], tau: -Number(iv.cap) });
  }
  if (!terms.length) throw new DataError('cap-empty', `The capping experiment ${exp.id} holds no caps.`);
  return terms;
}

/**
 * A release capping config as read from `capping_config.pt` (dicts as Maps, e.g. the safe
 * unpickler's PyDict, or plain objects as from JSON), checked into a `CappingConfig`.
 */
export function cappingConfigFrom(value: unknown): CappingConfig {
  const get = (o: unknown, k: string): unknown => (o instanceof Map ? o.get(k) : o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined);
  const entries = (o: unknown): [string, unknown][] =>
    o instanceof Map ? [...o.entries()].map(([k, v]) => [String(k), v]) : o && typeof o === 'object' ? Object.entries(o) : [];
  const bad = (what: string) => new DataError('capping-config', `This is not a capping config: ${what}.`);
  const vectorsRaw = get(value, 'vectors');
  const experimentsRaw = get(value, 'experiments');
  if (!vectorsRaw || !Array.isArray(experimentsRaw)) throw bad('expected a dict with "vectors" and "experiments"');
  const vectors: CappingConfig['vectors'] = {};
  for (const [name, v] of entries(vectorsRaw)) {
    const vector = get(v, 'vector');
    const layer = Number(get(v, 'layer'));
    if (!(isRawTensor(vector) || Array.isArray(vector) || vector instanceof Float32Array) || !Number.isInteger(layer)) {
      throw bad(`vector "${name}" needs a "vector" tensor and an integer "layer"`);
    }
    vectors[name] = { vector: vector as VectorSource, layer };
  }
  const experiments = experimentsRaw.map((e, k) => {
    const interventions = get(e, 'interventions');
    if (!Array.isArray(interventions)) throw bad(`experiment ${k} has no "interventions" list`);
    return {
      id: String(get(e, 'id') ?? k),
      interventions: interventions.map((iv) => {
        const cap = get(iv, 'cap');
        return { vector: String(get(iv, 'vector')), cap: cap === undefined || cap === null ? undefined : Number(cap) };
      }),
    };
  });
  return { vectors, experiments };
}

// ---------- helpers ----------

function checkDims(d: ModelDims): void {
  if (!Number.isInteger(d.numLayers) || d.numLayers < 1 || !Number.isInteger(d.hiddenSize) || d.hiddenSize < 1) {
    throw new DataError('model-dims', `A model needs at least one layer and a positive hidden size, got ${d.numLayers} layers of size ${d.hiddenSize}.`);
  }
}

function checkLayers(layers: readonly number[], numLayers: number, what: string): number[] {
  if (!layers.length) throw new DataError(`${what}-layers`, `Choose at least one layer for ${what}.`);
  const seen = new Set<number>();
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) {
      throw new DataError(`${what}-layer`, `Layer ${l} does not exist: this model has layers 0 to ${numLayers - 1}.`);
    }
    if (seen.has(l)) throw new DataError(`${what}-layer-twice`, `Layer ${l} is listed twice for ${what}.`);
    seen.add(l);
  }
  return [...layers];
}

function toF32(v: VectorSource): Float32Array {
  if (v instanceof Float32Array) return v;
  if (isRawTensor(v)) return decodeF32(v);
  return Float32Array.from(v as ArrayLike<number>);
}

/** The vector as rows: one row (d,) shared by all layers, or numLayers rows. */
function vectorRows(v: VectorSource, dims: ModelDims, what: string): { data: Float32Array; perLayer: boolean; d: number } {
  const { numLayers: L, hiddenSize: d } = dims;
  const shape = isRawTensor(v) ? v.shape : undefined;
  const data = toF32(v);
  if (shape) {
    if (shape.length === 1 && shape[0] === d) return { data, perLayer: false, d };
    if (shape.length === 2 && shape[0] === L && shape[1] === d) return { data, perLayer: true, d };
    throw new DataError(`${what.replace(' ', '-')}-shape`, `The ${what} has shape [${shape.join(', ')}]; this model needs (${d},) or (${L}, ${d}).`);
  }
  if (data.length === d) return { data, perLayer: false, d };
  if (data.length === L * d) return { data, perLayer: true, d };
  throw new DataError(`${what.replace(' ', '-')}-shape`, `The ${what} holds ${data.length} values; this model needs ${d} or ${L} x ${d}.`);
}

/** Row `layer` divided by its norm (computed in float64). */
function unitRow(rows: { data: Float32Array; perLayer: boolean; d: number }, layer: number, what: string): Float64Array {
  const { d } = rows;
  const row = rows.perLayer ? rows.data.subarray(layer * d, (layer + 1) * d) : rows.data;
  let ss = 0;
  for (let j = 0; j < d; j++) ss += row[j] * row[j];
  const n = Math.sqrt(ss);
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new DataError(`${what.replace(' ', '-')}-norm`, `The ${what}${rows.perLayer ? ` at layer ${layer}` : ''} has ${n === 0 ? 'zero length' : 'non-finite values'}, so it has no direction.`);
  }
  const u = new Float64Array(d);
  for (let j = 0; j < d; j++) u[j] = row[j] / n;
  return u;
}
