/**
 * Flags shared by the commands that run a model (`model run`, `generate`, `chat`): vector files,
 * steering (`--steer FILE --steer-layers a,b --alpha A`) and capping (`--cap FILE --cap-layers a,b`
 * with `--tau T`, `--tau-file FILE`, or `--percentile P --calibration calibration.json`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { flagIntList, flagNumber, flagString, UsageError, type ParsedArgs } from './args';
import { DataError } from '../src/core/errors';
import { readTensorFile } from '../src/core/formats/detect';
import { calibrationPercentile } from '../src/core/chat/axis';
import type { CapTerm, SteerTerm } from '../src/core/lm/interventions';
import type { Calibration } from '../src/core/persona/axis-bundle';
import { decodeF32, isRawTensor, type RawTensor } from '../src/core/tensor';

/** A (d,) or (L, d) tensor from .npy / .safetensors / .pt (one tensor, or a dict with one tensor or one named vector / axis). */
export async function readVectorFile(file: string, what: string): Promise<RawTensor> {
  const { value } = readTensorFile(new Uint8Array(await fs.readFile(file)), path.basename(file));
  if (isRawTensor(value)) return value;
  if (value instanceof Map) {
    const tensors = [...value.entries()].filter(([, v]) => isRawTensor(v)) as [unknown, RawTensor][];
    const named = tensors.find(([k]) => k === 'vector' || k === 'axis');
    if (named) return named[1];
    if (tensors.length === 1) return tensors[0][1];
    throw new DataError('vector-file', `${path.basename(file)} holds ${tensors.length} tensors; the ${what} file must hold one (d,) or (n_layers, d) tensor (or one called "vector" or "axis").`);
  }
  throw new DataError('vector-file', `${path.basename(file)} does not hold a tensor; the ${what} file must hold one (d,) or (n_layers, d) tensor.`);
}

/** `--steer FILE --steer-layers a,b --alpha A` (alpha: length added along the unit vector). */
export async function steerFlags(args: ParsedArgs): Promise<SteerTerm | undefined> {
  const file = flagString(args, 'steer');
  const layers = flagIntList(args, 'steer-layers');
  const alpha = flagNumber(args, 'alpha');
  if (!file) {
    if (layers || alpha !== undefined) throw new UsageError('--steer-layers and --alpha need --steer FILE.');
    return undefined;
  }
  if (!layers?.length) throw new UsageError('--steer needs --steer-layers (0-based layers, e.g. 3,4).');
  if (alpha === undefined) throw new UsageError('--steer needs --alpha (the length added along the unit vector).');
  return { vector: await readVectorFile(file, 'steering'), layers, alpha };
}

/** A calibration.json (per layer percentiles of projections on the unit axis), checked. */
export async function readCalibration(file: string): Promise<Calibration> {
  let v: unknown;
  try {
    v = JSON.parse(await fs.readFile(file, 'utf8'));
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

/**
 * `--cap FILE --cap-layers a,b` with one of `--tau T` (every layer), `--tau-file FILE` (per model
 * layer or per cap layer) or `--percentile P --calibration calibration.json` (the P-th percentile
 * of the calibration at each cap layer; the paper uses 25).
 */
export async function capFlags(args: ParsedArgs): Promise<CapTerm | undefined> {
  const file = flagString(args, 'cap');
  const layers = flagIntList(args, 'cap-layers');
  const tau = flagNumber(args, 'tau');
  const tauFile = flagString(args, 'tau-file');
  const pct = flagNumber(args, 'percentile');
  const calFile = flagString(args, 'calibration');
  if (!file) {
    if (layers || tau !== undefined || tauFile || pct !== undefined || calFile) throw new UsageError('--cap-layers, --tau, --tau-file, --percentile and --calibration need --cap FILE.');
    return undefined;
  }
  if (!layers?.length) throw new UsageError('--cap needs --cap-layers (0-based layers, e.g. 3,4).');
  const given = [tau !== undefined, tauFile !== undefined, pct !== undefined || calFile !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError('--cap needs exactly one of --tau T, --tau-file FILE, or --percentile P --calibration FILE.');
  let taus: number | Float32Array | number[];
  if (tau !== undefined) taus = tau;
  else if (tauFile !== undefined) {
    const { value } = readTensorFile(new Uint8Array(await fs.readFile(tauFile)), tauFile);
    if (isRawTensor(value)) taus = decodeF32(value);
    else if (Array.isArray(value) && value.every((x) => typeof x === 'number')) taus = value as number[];
    else throw new DataError('tau-file', `${tauFile} must hold a list of numbers (one per model layer or per cap layer).`);
  } else {
    if (pct === undefined || !calFile) throw new UsageError('--percentile and --calibration go together.');
    const cal = await readCalibration(calFile);
    taus = layers.map((l) => {
      if (!Number.isInteger(l) || l < 0 || l >= cal.numLayers) throw new DataError('capping-layer', `Layer ${l} does not exist: the calibration covers layers 0 to ${cal.numLayers - 1}.`);
      return calibrationPercentile(cal, l, pct);
    });
  }
  return { vector: await readVectorFile(file, 'capping'), layers, tau: taus };
}
