/**
 * `persona-space inspect <source>`: what a file or folder holds. Also home of the helpers the
 * other persona commands share (loading a source with --default/--names/--data-only, flag checks,
 * output).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { flagList, flagString, parseArgs, UsageError, type ParsedArgs } from '../args';
import type { CliIO } from '../main';
import { loadPersonaSetFromPath } from '../fs-source';
import { DataError } from '../../src/core/errors';
import type { LoadOptions, PersonaSet } from '../../src/core/persona/types';
import { AxisOnlyError, axisLayer, describeAxisFile, readAxisFile, type AxisFile } from '../../src/core/persona/axis-file';

const HELP = `usage: persona-space inspect <source> [--default a,b] [--names FILE] [--data-only] [--json]
<source>: a .pt/.safetensors/.npy/.npz/.tsv/.json file or a folder (per-role files, or the release layout).
          An axis file (one unnamed (n_layers, d) or (d,) tensor, e.g. the release's assistant_axis.pt)
          is reported as an axis: format, layers, dim, dtype and |axis| per layer.
--default a,b   members whose mean is the default vector (they leave the members)
--names FILE    row names for an (N, d) / (N, L, d) array: a JSON list or one name per line
--data-only     read pickled objects of unknown classes as inert records (nothing is executed)`;

/** Flags every persona command accepts. */
export const SOURCE_FLAGS = ['default', 'names', 'data-only', 'json', 'help'];

/** Parse argv, refusing flags the command does not know (a typo should not be silently ignored). */
export function parseCommand(argv: string[], allowed: readonly string[], command: string): ParsedArgs {
  const args = parseArgs(argv);
  for (const name of args.flags.keys()) {
    if (!allowed.includes(name)) throw new UsageError(`Unknown option --${name} (${command} takes ${allowed.map((a) => '--' + a).join(', ')}).`);
  }
  return args;
}

/** Names from a JSON list of strings or a text file with one name per line. */
export async function readNamesFile(file: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readFile(file));
  const t = text.trim();
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new DataError('names-file', `"${file}" starts like a JSON list but is not valid JSON.`);
    }
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new DataError('names-file', `"${file}" is not a JSON list of names.`);
    return v as string[];
  }
  const names = t.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new DataError('names-file', `"${file}" holds no names.`);
  return names;
}

/** Load a PersonaSet from a path with the shared options (--default, --names, --data-only). */
export async function loadSource(
  source: string | undefined,
  args: ParsedArgs,
  { defaultFlag = 'default', namesFlag = 'names', what = 'source' }: { defaultFlag?: string; namesFlag?: string; what?: string } = {},
): Promise<PersonaSet> {
  if (!source) throw new UsageError(`Give a ${what}: a file or a folder of vectors.`);
  const opts: LoadOptions = {};
  const def = flagList(args, defaultFlag);
  if (def) {
    if (def.length === 0) throw new UsageError(`Option --${defaultFlag} needs at least one member name.`);
    opts.defaultNames = def;
  }
  const namesFile = flagString(args, namesFlag);
  if (namesFile) opts.names = await readNamesFile(namesFile);
  if (args.flags.get('data-only') === true) opts.dataOnly = true;
  return loadPersonaSetFromPath(source, opts);
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

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, SOURCE_FLAGS, 'inspect');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`inspect takes one source, got ${args.positionals.length}.`);
  let set: PersonaSet;
  try {
    set = await loadSource(args.positionals[0], args);
  } catch (e) {
    if (!(e instanceof AxisOnlyError)) throw e;
    return inspectAxis(args.positionals[0], String(e.details?.path ?? ''), args, io);
  }
  const kinds: Record<string, number> = {};
  for (const k of set.kinds) kinds[k] = (kinds[k] ?? 0) + 1;
  if (wantsJson(args)) {
    io.out(
      JSON.stringify({
        format: set.format,
        count: set.names.length,
        names: set.names,
        layers: set.layers,
        dim: set.dim,
        dtype: set.dtype,
        default: set.defaultLabel,
        kinds,
        bytes: set.byteSize,
        stored_axis: set.storedAxis ? set.storedAxis.shape : null,
        extras: Object.keys(set.extras),
      }),
    );
    return 0;
  }
  const lines = [
    `${args.positionals[0]}: ${describeSet(set)}`,
    `members: ${Object.entries(kinds).map(([k, c]) => `${c} ${k}${c === 1 ? '' : 's'}`).join(', ')}`,
    `default: ${set.defaultLabel ?? 'none (give --default a,b to average members)'}`,
  ];
  if (set.storedAxis) lines.push(`stored axis: shape [${set.storedAxis.shape.join(', ')}]`);
  const extras = Object.keys(set.extras);
  if (extras.length) lines.push(`also found: ${extras.join(', ')}`);
  const shown = set.names.slice(0, 12).join(', ');
  lines.push(`names: ${shown}${set.names.length > 12 ? `, ... (${set.names.length - 12} more; --json lists all)` : ''}`);
  io.out(lines.join('\n'));
  return 0;
}

/** An axis file (the loader refused it as personas): what it holds, and |axis| per layer. */
async function inspectAxis(source: string, inner: string, args: ParsedArgs, io: CliIO): Promise<number> {
  const file = (await stat(source)).isDirectory() ? path.join(source, inner) : source;
  const a = readAxisFile(path.basename(file), new Uint8Array(await readFile(file)), { dataOnly: args.flags.get('data-only') === true });
  const norms = axisNorms(a);
  if (wantsJson(args)) {
    io.out(JSON.stringify({ format: a.format, kind: 'axis', layers: a.layers, dim: a.dim, dtype: a.dtype, key: a.key || null, norms, metadata: a.metadata !== null }));
    return 0;
  }
  let top = 0;
  norms.forEach((v, l) => { if (v > norms[top]) top = l; });
  const lines = [
    `${source}: ${describeAxisFile(a)}`,
    `|axis|: ${a.layers === null ? fmt(norms[0]) : `${fmt(Math.min(...norms))} to ${fmt(Math.max(...norms))} (largest at layer ${top})`}`,
    'an axis, not personas: project a set on it with the explorer\'s "Load as axis", or steer with it in the chat lab',
  ];
  io.out(lines.join('\n'));
  return 0;
}

function axisNorms(a: AxisFile): number[] {
  const out: number[] = [];
  const row = new Float32Array(a.dim);
  for (let l = 0; l < (a.layers ?? 1); l++) {
    axisLayer(a, l, row);
    let s = 0;
    for (let j = 0; j < a.dim; j++) s += row[j] * row[j];
    out.push(Math.sqrt(s));
  }
  return out;
}
