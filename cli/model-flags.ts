/**
 * The flags of the commands that run a model (`model run`, `generate`, `chat`, `extract`), one
 * rule each, so the same flag means the same thing in every command:
 *
 *   --steer FILE --steer-layers W --alpha A       add A * v/|v| to resid_post at the layers W
 *   --cap FILE --cap-layers W (--tau T | --tau-file FILE | --percentile P --calibration FILE)
 *                                                 keep resid_post . v/|v| >= tau at the layers W
 *   --layer L                                     the layer a projection is reported at
 *   --max-tokens N --seed S --temperature T --top-p P --top-k K   sampling
 *
 * A layer window W is 0-based decoder blocks: `3,4`, `10-20` (inclusive) or both (`2,10-12`).
 * Layers are checked against the model once it is known (src/core/lm/interventions.ts).
 */
import path from 'node:path';
import { flagInt, flagList, flagNumber, flagString, UsageError, type ParsedArgs } from './args';
import { readBoundedFile, readVectorFile } from './vector-files';
import { DataError } from '../src/core/errors';
import { readTensorFile } from '../src/core/formats/detect';
import { calibrationPercentile } from '../src/core/chat/axis';
import type { CapTerm, SteerTerm } from '../src/core/lm/interventions';
import type { Calibration } from '../src/core/persona/axis-bundle';
import { decodeF32, isRawTensor } from '../src/core/tensor';

export { readVectorFile };

/** Flags of steering and capping (every model command takes them all). */
export const STEER_CAP_FLAGS = ['steer', 'steer-layers', 'alpha', 'cap', 'cap-layers', 'tau', 'tau-file', 'percentile', 'calibration'] as const;
/** Flags of sampling. */
export const SAMPLING_FLAGS = ['max-tokens', 'seed', 'temperature', 'top-p', 'top-k'] as const;

/** The most layers a window may name (a model has at most a few hundred). */
const MAX_WINDOW = 4096;

/** `3,4`, `10-20` or `2,10-12` -> sorted distinct 0-based layers; undefined when the flag is absent. */
export function layerWindowFlag(args: ParsedArgs, name: string): number[] | undefined {
  const parts = flagList(args, name);
  if (!parts) return undefined;
  const out = new Set<number>();
  const whole = (s: string) => {
    if (!/^\d+$/.test(s)) throw new UsageError(`Option --${name} expects 0-based layers such as 3,4 or 10-20, got "${s}".`);
    return Number(s);
  };
  for (const p of parts) {
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(p);
    if (range) {
      const a = Number(range[1]), b = Number(range[2]);
      if (b < a) throw new UsageError(`Option --${name}: the window ${p} ends before it starts.`);
      if (b - a >= MAX_WINDOW) throw new UsageError(`Option --${name}: the window ${p} is wider than any model.`);
      for (let l = a; l <= b; l++) out.add(l);
    } else out.add(whole(p));
  }
  if (out.size === 0) throw new UsageError(`Option --${name} needs at least one layer.`);
  return [...out].sort((x, y) => x - y);
}

/** `--layer L` for a model of `numLayers` layers (the layer a projection is reported at). */
export function layerFlag(args: ParsedArgs, numLayers: number, required: boolean): number | undefined {
  const layer = flagInt(args, 'layer');
  if (layer === undefined) {
    if (required) throw new UsageError('--layer L is required (the layer whose projection is reported; 0-based).');
    return undefined;
  }
  if (layer < 0 || layer >= numLayers) throw new UsageError(`--layer must be between 0 and ${numLayers - 1}.`);
  return layer;
}

/** `--steer FILE --steer-layers W --alpha A` (alpha: length added along the unit vector). */
export async function steerFlags(args: ParsedArgs): Promise<SteerTerm | undefined> {
  const file = flagString(args, 'steer');
  const layers = layerWindowFlag(args, 'steer-layers');
  const alpha = flagNumber(args, 'alpha');
  if (!file) {
    if (layers || alpha !== undefined) throw new UsageError('--steer-layers and --alpha need --steer FILE.');
    return undefined;
  }
  if (!layers?.length) throw new UsageError('--steer needs --steer-layers (0-based layers, e.g. 3,4 or 10-20).');
  if (alpha === undefined) throw new UsageError('--steer needs --alpha (the length added along the unit vector).');
  return { vector: await readVectorFile(file, 'steering'), layers, alpha };
}

/** A calibration.json (per layer percentiles of projections on the unit axis), checked. */
export async function readCalibration(file: string): Promise<Calibration> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(await readBoundedFile(file, 'calibration file')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e;
    throw new DataError('calibration-file', `${path.basename(file)} is not valid JSON.`);
  }
  const c = v as Partial<Calibration>;
  if (!c || c.format !== 'persona-space-calibration' || !Array.isArray(c.levels) || !c.all || !Array.isArray(c.all.percentiles)) {
    throw new DataError('calibration-file', `${path.basename(file)} is not a persona-space calibration (calibration.json written by extraction).`);
  }
  return c as Calibration;
}

/** How the cap thresholds were chosen (for reports): a fixed tau, a file of them, or a percentile of a calibration. */
export type TauChoice = { kind: 'fixed'; tau: number } | { kind: 'file'; file: string } | { kind: 'percentile'; percentile: number; calibration: string };

/**
 * `--cap FILE --cap-layers W` with exactly one of `--tau T` (every cap layer), `--tau-file FILE`
 * (one per model layer or per cap layer) or `--percentile P --calibration calibration.json` (the
 * P-th percentile, 0..100, of the calibration at each cap layer; the paper uses 25).
 */
export async function capFlags(args: ParsedArgs): Promise<CapTerm | undefined> {
  return (await capFlagsWithChoice(args))?.term;
}

export async function capFlagsWithChoice(args: ParsedArgs): Promise<{ term: CapTerm; tau: TauChoice } | undefined> {
  const file = flagString(args, 'cap');
  const layers = layerWindowFlag(args, 'cap-layers');
  const tau = flagNumber(args, 'tau');
  const tauFile = flagString(args, 'tau-file');
  const pct = flagNumber(args, 'percentile');
  const calFile = flagString(args, 'calibration');
  if (!file) {
    if (layers || tau !== undefined || tauFile || pct !== undefined || calFile) throw new UsageError('--cap-layers, --tau, --tau-file, --percentile and --calibration need --cap FILE.');
    return undefined;
  }
  if (!layers?.length) throw new UsageError('--cap needs --cap-layers (0-based layers, e.g. 3,4 or 10-20).');
  const given = [tau !== undefined, tauFile !== undefined, pct !== undefined || calFile !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError('--cap needs exactly one of --tau T, --tau-file FILE, or --percentile P --calibration FILE.');
  let taus: number | Float32Array | number[];
  let choice: TauChoice;
  if (tau !== undefined) {
    taus = tau;
    choice = { kind: 'fixed', tau };
  } else if (tauFile !== undefined) {
    const { value } = readTensorFile(await readBoundedFile(tauFile, 'tau file'), tauFile);
    if (isRawTensor(value)) taus = decodeF32(value);
    else if (Array.isArray(value) && value.every((x) => typeof x === 'number')) taus = value as number[];
    else throw new DataError('tau-file', `${tauFile} must hold a list of numbers (one per model layer or per cap layer).`);
    choice = { kind: 'file', file: tauFile };
  } else {
    if (pct === undefined || !calFile) throw new UsageError('--percentile and --calibration go together.');
    if (!(pct >= 0 && pct <= 100)) throw new UsageError(`--percentile must be between 0 and 100, got ${pct}.`);
    const cal = await readCalibration(calFile);
    taus = layers.map((l) => {
      if (l >= cal.numLayers) throw new DataError('capping-layer', `Layer ${l} does not exist: the calibration covers layers 0 to ${cal.numLayers - 1}.`);
      return calibrationPercentile(cal, l, pct);
    });
    choice = { kind: 'percentile', percentile: pct, calibration: calFile };
  }
  return { term: { vector: await readVectorFile(file, 'capping'), layers, tau: taus }, tau: choice };
}

/** Sampling settings, with the command's own defaults (generate/chat: greedy; extract: the paper's 0.7 / 0.9). */
export interface SamplingFlags {
  maxTokens: number;
  seed: number;
  temperature: number;
  topP: number;
  topK: number;
}

/** The bounds every command applies to the sampling flags. */
export const SAMPLING_BOUNDS = { maxTokens: 8192, maxSeed: 2 ** 32 - 1, maxTemperature: 5 } as const;

/** `--max-tokens N --seed S --temperature T --top-p P --top-k K`, checked with one rule in every command. */
export function samplingFlags(args: ParsedArgs, defaults: SamplingFlags): SamplingFlags {
  const maxTokens = flagInt(args, 'max-tokens') ?? defaults.maxTokens;
  if (maxTokens < 1 || maxTokens > SAMPLING_BOUNDS.maxTokens) throw new UsageError(`--max-tokens must be between 1 and ${SAMPLING_BOUNDS.maxTokens}.`);
  const seed = flagInt(args, 'seed') ?? defaults.seed;
  if (seed < 0 || seed > SAMPLING_BOUNDS.maxSeed) throw new UsageError(`--seed must be a whole number from 0 to ${SAMPLING_BOUNDS.maxSeed}.`);
  const temperature = flagNumber(args, 'temperature') ?? defaults.temperature;
  if (!(temperature >= 0 && temperature <= SAMPLING_BOUNDS.maxTemperature)) throw new UsageError(`--temperature must be between 0 (greedy) and ${SAMPLING_BOUNDS.maxTemperature}.`);
  const topP = flagNumber(args, 'top-p') ?? defaults.topP;
  if (!(topP > 0 && topP <= 1)) throw new UsageError('--top-p must be above 0 and at most 1.');
  const topK = flagInt(args, 'top-k') ?? defaults.topK;
  if (topK < 0) throw new UsageError('--top-k must be 0 (off) or more.');
  return { maxTokens, seed, temperature, topP, topK };
}

/** Greedy, 128 new tokens: what `generate` and `chat` do without sampling flags. */
export const GREEDY: SamplingFlags = { maxTokens: 128, seed: 0, temperature: 0, topP: 1, topK: 0 };
