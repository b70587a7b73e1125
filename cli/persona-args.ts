/**
 * What the persona commands (`inspect`, `pca`, `axis`, `compare`, `convert`) share besides their
 * sources (cli/fs-source.ts): strict flag parsing, the layer a command reads, and output helpers.
 * Commands import these, never each other.
 */
import { parseArgs, UsageError, type ParsedArgs } from './args';
import { defaultLayer } from '../src/core/persona/analysis';
import type { PersonaSet } from '../src/core/persona/types';

/** Parse argv, refusing flags the command does not know (a typo should not be silently ignored). */
export function parseCommand(argv: string[], allowed: readonly string[], command: string, booleans?: readonly string[]): ParsedArgs {
  const args = booleans ? parseArgs(argv, booleans) : parseArgs(argv);
  for (const name of args.flags.keys()) {
    if (!allowed.includes(name)) throw new UsageError(`Unknown option --${name} (${command} takes ${allowed.map((a) => '--' + a).join(', ')}).`);
  }
  return args;
}

export function wantsJson(args: ParsedArgs): boolean {
  return args.flags.get('json') === true;
}

/** Float arrays as plain JSON numbers (non-finite values become null, as JSON.stringify does). */
export function nums(a: ArrayLike<number> | null): number[] | null {
  return a ? Array.from(a) : null;
}

export function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

export function describeSet(set: PersonaSet): string {
  const layers = set.layers === null ? 'one layer' : `${set.layers} layers`;
  return `${set.names.length} vectors, ${layers}, ${set.dim} dims, ${set.dtype} (${set.format})`;
}

/** The layer to analyse from --layer, validated against the set. */
export function chooseLayer(set: PersonaSet, layer: number | undefined, flag = 'layer'): number | null {
  if (layer === undefined) return defaultLayer(set);
  if (set.layers === null) {
    if (layer !== 0) throw new UsageError(`This set holds one vector per member (no layers); --${flag} must be 0 or left out.`);
    return null;
  }
  if (layer < 0 || layer >= set.layers) throw new UsageError(`--${flag} ${layer} is out of range; this set has layers 0 to ${set.layers - 1}.`);
  return layer;
}
